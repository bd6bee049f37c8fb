"""Each client method sends what the recordings show and returns CVAT's JSON."""

from __future__ import annotations

import copy
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cvat_fake import FakeCvat, assert_like_recorded, recording, recordings2

from annosync.cvat import Credentials, CvatClient, CvatNotFound
from annosync.cvat.client import encode_json

REC = recordings2()


def _last(fake: FakeCvat, method: str, suffix: str = ""):
    return [x for x in fake.calls if x.method == method and x.path.endswith(suffix)][-1]


def test_create_project_with_labels_matches_sdk_recording(client: CvatClient,
                                                          fake: FakeCvat) -> None:
    [rec] = [e for e in recording("recordings/02_create_project.json") if e["method"] == "POST"]
    body = rec["request_body"]
    p = client.create_project(body["name"], labels=body["labels"])
    assert p["name"] == "harness-project" and p["id"] in fake.projects
    assert_like_recorded(_last(fake, "POST", "/api/projects"), rec)
    labels = client.get_labels(project_id=p["id"])
    assert [lb["name"] for lb in labels] == ["car", "person", "road", "daytime"]
    assert all(isinstance(a["id"], int) for lb in labels for a in lb["attributes"])
    assert_like_recorded(_last(fake, "GET", "/api/labels"), REC[80], extra_query=())


def test_project_patches_match_recording(client: CvatClient, fake: FakeCvat) -> None:
    pid = client.create_project(REC[64]["request_body"]["name"],
                                labels=REC[64]["request_body"]["labels"])["id"]
    assert_like_recorded(_last(fake, "POST", "/api/projects"), REC[64])
    for seq in (81, 82, 83, 87):
        client.update_project(pid, **REC[seq]["request_body"])
        assert_like_recorded(_last(fake, "PATCH"), REC[seq])
    assert client.get_project(pid)["name"] == "rec2 beta renamed"
    assert_like_recorded(_last(fake, "GET", f"/api/projects/{pid}"), REC[79])


def test_list_and_delete_projects(client: CvatClient, fake: FakeCvat) -> None:
    pid = client.create_project("a")["id"]
    assert [p["id"] for p in client.list_projects()] == [pid]
    assert client.delete_project(pid) is True
    assert_like_recorded(_last(fake, "DELETE"), REC[88])
    with pytest.raises(CvatNotFound, match=re.escape("No Project matches the given query.")):
        client.delete_project(pid)
    assert client.delete_project(pid, missing_ok=True) is False
    with pytest.raises(CvatNotFound):
        client.get_project(pid)


def test_create_task_with_labels_matches_recording(client: CvatClient, fake: FakeCvat) -> None:
    body = copy.deepcopy(REC[94]["request_body"])
    t = client.create_task(**body)
    assert t["name"] == "rec2 all label types"
    assert_like_recorded(_last(fake, "POST", "/api/tasks"), REC[94])
    client.update_task(t["id"], **REC[100]["request_body"])
    assert_like_recorded(_last(fake, "PATCH"), REC[100])
    assert client.get_task(t["id"])["bug_tracker"] == "https://bugs.example.com/issues/8"
    assert_like_recorded(_last(fake, "GET", f"/api/tasks/{t['id']}"), REC[95])
    client.get_labels(task_id=t["id"])
    assert_like_recorded(_last(fake, "GET", "/api/labels"), REC[96], extra_query=())


def test_create_task_in_project_matches_sdk_recording(client: CvatClient, fake: FakeCvat) -> None:
    rec = recording("recordings/03_create_image_task.json")[0]
    pid = client.create_project("harness-project")["id"]
    client.create_task("harness-images", project_id=pid, segment_size=2)
    ours = _last(fake, "POST", "/api/tasks")
    assert ours.json() == {**rec["request_body"], "project_id": pid}


def test_task_lifecycle_and_meta(client: CvatClient, fake: FakeCvat) -> None:
    tid = client.create_task("t", segment_size=2)["id"]
    client.upload_task_data(tid, [("a.jpg", b"a"), ("b.jpg", b"b"), ("c.jpg", b"c")])
    meta = client.get_data_meta(tid)
    assert [f["name"] for f in meta["frames"]] == ["a.jpg", "b.jpg", "c.jpg"]
    assert_like_recorded(_last(fake, "GET", "/data/meta"), REC[108])
    jobs = client.list_jobs(tid)
    assert len(jobs) == 2 and all("updated_date" in j for j in jobs)
    assert_like_recorded(_last(fake, "GET", "/api/jobs"), REC[209])
    assert client.delete_task(tid) is True
    assert_like_recorded(_last(fake, "DELETE"), REC[323])
    assert client.delete_task(tid, missing_ok=True) is False


def test_jobs_match_recording(make_client, fake: FakeCvat) -> None:
    c = make_client(page_size=2)
    tid = c.create_task("t", segment_size=2)["id"]
    c.upload_task_data(tid, [(f"{i}.jpg", b"x") for i in range(6)])
    jobs = c.list_jobs(tid)
    assert len(jobs) == 3
    listing = [x for x in fake.calls if x.path == "/api/jobs"]
    assert_like_recorded(listing[0], REC[155], extra_query=())
    assert_like_recorded(listing[1], REC[156], extra_query=())
    jid = min(j["id"] for j in jobs)
    assert c.get_job(jid)["id"] == jid
    assert_like_recorded(_last(fake, "GET", f"/api/jobs/{jid}"), REC[157])
    for seq in (158, 159, 160, 161, 162, 165):
        out = c.update_job(jid, **REC[seq]["request_body"])
        assert_like_recorded(_last(fake, "PATCH"), REC[seq])
    assert out["assignee"] is None and out["stage"] == "annotation"
    c.get_data_meta(job_id=jid)
    assert_like_recorded(_last(fake, "GET", "/data/meta"), REC[167])
    with pytest.raises(ValueError, match="assignee, stage and state"):
        c.update_job(jid, assignee_id=1)
    fake.adapter.validator = None  # deliberately invalid, to see CVAT's answer
    with pytest.raises(Exception, match=re.escape('"bogus" is not a valid choice.')):
        c.update_job(jid, stage="bogus")


def test_annotations_match_recording(client: CvatClient, fake: FakeCvat) -> None:
    tid = client.create_task("t", segment_size=2)["id"]
    client.upload_task_data(tid, [(f"{i}.jpg", b"x") for i in range(4)])
    jid = min(client.list_jobs(tid), key=lambda j: j["id"])["id"]
    put = client.put_annotations(copy.deepcopy(REC[169]["request_body"]), task_id=tid)
    assert all("id" in s for s in put["shapes"])
    assert_like_recorded(_last(fake, "PUT"), {**REC[169], "path": REC[169]["path"] + "/"})
    got = client.get_annotations(tid)
    assert len(got["shapes"]) == len(REC[169]["request_body"]["shapes"])
    assert_like_recorded(_last(fake, "GET", "/annotations/"), REC[170])
    client.get_annotations(job_id=jid)
    assert_like_recorded(_last(fake, "GET", "/annotations/"), REC[171])
    for seq in (172, 174, 176):
        action = REC[seq]["query"].split("=")[1]
        client.patch_annotations(action, copy.deepcopy(REC[seq]["request_body"]), job_id=jid)
        assert_like_recorded(_last(fake, "PATCH"), REC[seq])
    client.delete_annotations(tid)
    assert_like_recorded(_last(fake, "DELETE"), REC[199])
    assert client.get_annotations(task_id=tid)["shapes"] == []
    with pytest.raises(ValueError):
        client.patch_annotations("upsert", {}, task_id=tid)
    with pytest.raises(ValueError):
        client.get_annotations(tid, job_id=jid)


def test_sdk_style_annotation_paths(client: CvatClient, fake: FakeCvat) -> None:
    """cvat-sdk writes annotations at ``/api/tasks/{id}/annotations/`` (recordings/05)."""
    [rec] = recording("recordings/05_upload_annotations_json.json")
    tid = client.create_task("t")["id"]
    client.put_annotations(copy.deepcopy(rec["request_body"]), task_id=tid)
    ours = _last(fake, "PUT")
    assert ours.path == f"/api/tasks/{tid}/annotations/"
    assert ours.json() == rec["request_body"]
    assert ours.timeout[1] >= 600  # big bodies get the long read timeout


def test_an_encoded_body_sends_the_bytes_json_would(client: CvatClient, fake: FakeCvat) -> None:
    """A PUT body encoded ahead (``encode_json``) goes out byte for byte as ``json=`` sends it,
    with the same content type, and gets the same answer."""
    [rec] = recording("recordings/05_upload_annotations_json.json")
    body = copy.deepcopy(rec["request_body"])
    body["shapes"][0]["points"][0] = -0.0  # and non-ASCII text, escaped as json= escapes it
    body["shapes"][0]["attributes"][2]["value"] = "Zürich \u2603"
    tid = client.create_task("t")["id"]
    plain = client.put_annotations(copy.deepcopy(body), task_id=tid)
    sent = _last(fake, "PUT")
    encoded = client.put_annotations(encode_json(body), task_id=tid)
    again = _last(fake, "PUT")
    assert again.body == sent.body
    assert again.headers["Content-Type"] == sent.headers["Content-Type"] == "application/json"
    assert again.path == sent.path and again.timeout == sent.timeout
    assert [s["points"] for s in encoded["shapes"]] == [s["points"] for s in plain["shapes"]]
    with pytest.raises(ValueError):
        encode_json({"points": [float("nan")]})  # as json= refuses it


def test_an_answer_read_by_parse_or_as_json_when_parse_refuses_it(client: CvatClient,
                                                                    fake: FakeCvat) -> None:
    [rec] = recording("recordings/05_upload_annotations_json.json")
    tid = client.create_task("t")["id"]
    seen: list[bytes] = []

    def parse(raw: bytes) -> Any:
        seen.append(raw)
        return ("parsed", len(raw))

    def refuse(raw: bytes) -> Any:
        raise ValueError("not for me")

    got = client.put_annotations(copy.deepcopy(rec["request_body"]), task_id=tid, parse=parse)
    assert got == ("parsed", len(seen[0])) and json.loads(seen[0])["shapes"]
    plain = client.put_annotations(copy.deepcopy(rec["request_body"]), task_id=tid,
                                   parse=refuse)
    assert isinstance(plain, dict) and len(plain["shapes"]) == len(rec["request_body"]["shapes"])


def test_users_and_server(client: CvatClient, fake: FakeCvat) -> None:
    assert client.get_self()["username"] == "admin"
    assert_like_recorded(_last(fake, "GET", "/api/users/self"), REC[61])
    assert client.get_user(1)["id"] == 1
    assert_like_recorded(_last(fake, "GET", "/api/users/1"), REC[62])
    assert [u["username"] for u in client.list_users()] == ["admin", "alice", "bob"]
    formats = client.annotation_formats()
    assert any(f["name"] == "CVAT 1.1" for f in formats["importers"])
    assert_like_recorded(_last(fake, "GET", "/formats"), REC[227])
    assert client.list_cloud_storages()[0]["id"] == 1
    assert client.exists("tasks", 424242) is False


def test_ids_are_checked_before_building_paths(client: CvatClient) -> None:
    for bad in ("1/../2", "abc", -1, 1.5):
        with pytest.raises(ValueError):
            client.get_task(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one"):
        client.get_labels()
    with pytest.raises(ValueError, match="exactly one"):
        client.get_labels(project_id=1, task_id=2)


def test_login_once_from_many_threads(make_client, fake: FakeCvat) -> None:
    c = make_client(credentials=Credentials(username="admin", password="secret"), pool_size=8)
    for i in range(5):
        c.transport  # noqa: B018
        fake.projects[i + 1] = {"id": i + 1, "name": f"p{i}"}
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: len(c.list_projects()), range(32)))
    assert results == [5] * 32
    assert len([x for x in fake.calls if x.path == "/api/auth/login"]) == 1


def test_context_manager_and_url_handling(fake: FakeCvat, clock) -> None:
    creds = Credentials(url="cvat.example.com/", token=FakeCvat.KEY)
    with CvatClient(credentials=creds, adapter=fake.adapter, sleep=clock.sleep,
                    clock=clock) as c:
        assert c.url == "https://cvat.example.com"
        c.login()
    assert fake.calls[0].url == "https://cvat.example.com/api/server/about"
