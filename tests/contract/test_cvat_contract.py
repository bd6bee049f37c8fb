"""One client contract suite, run against the annosync emulator or a real CVAT 2.x.

Every test drives :class:`annosync.cvat.CvatClient` over real sockets and checks what a CVAT
server does in answer (``shared/cvat/recordings*`` show the real one). Fault tests (emulator
only) check that the client survives injected 5xx, latency and dropped connections where
retrying is safe, fails clearly where it is not, and never hangs.
"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from annosync.cvat import (
    Credentials,
    CvatAuthError,
    CvatBadRequest,
    CvatClient,
    CvatConnectionError,
    CvatError,
    CvatNotFound,
    CvatRequestFailed,
    CvatServerError,
    CvatTimeout,
    RetryPolicy,
)
from annosync.cvat.uploads import UploadLimits

LABELS = [
    {"name": "car", "color": "#ff0000", "type": "rectangle", "attributes": [
        {"name": "model", "input_type": "select", "mutable": False,
         "values": ["sedan", "suv"], "default_value": "sedan"},
        {"name": "parked", "input_type": "checkbox", "mutable": True, "values": ["false"],
         "default_value": "false"},
    ]},
    {"name": "person", "type": "any", "attributes": []},
    {"name": "weather", "type": "tag", "attributes": []},
]


def jpeg(i: int, size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, ((i * 40) % 256, 100, 150)).save(buf, format="JPEG")
    return buf.getvalue()


def images(n: int, prefix: str = "img") -> list[tuple[str, bytes]]:
    return [(f"{prefix}_{i}.jpg", jpeg(i)) for i in range(n)]


def new_project(client: CvatClient, created: dict[str, list[int]], name: str) -> dict[str, Any]:
    p = client.create_project(name, labels=LABELS)
    created["projects"].append(p["id"])
    return p


def new_task(client: CvatClient, created: dict[str, list[int]], name: str, n: int = 3,
             **kw: Any) -> dict[str, Any]:
    segment_size = kw.pop("segment_size", 2)
    t = client.create_task(name, labels=LABELS, segment_size=segment_size)
    created["tasks"].append(t["id"])
    client.upload_task_data(t["id"], images(n), **kw)
    return client.get_task(t["id"])


def label_ids(client: CvatClient, **which: int) -> dict[str, dict[str, Any]]:
    return {lb["name"]: lb for lb in client.get_labels(**which)}


# ------------------------------------------------------------------------------ server, auth


def test_login_version_and_self(client: CvatClient, cvat_server) -> None:
    user = client.login()
    assert user["username"] == cvat_server.username
    assert client.server_version.major == 2
    assert client.server_about()["version"]
    assert client.get_self()["id"] == user["id"]
    formats = client.annotation_formats()
    assert "CVAT 1.1" in {f["name"] for f in formats["importers"]}
    assert "CVAT for images 1.1" in {f["name"] for f in formats["exporters"]}


def test_wrong_password_is_an_auth_error(connect, cvat_server) -> None:
    c = connect(credentials=Credentials(username=cvat_server.username, password="wrong-pw-x"))
    with pytest.raises(CvatAuthError) as info:
        c.login()
    assert info.value.detail  # CVAT's own words


def test_find_user_exactly(client: CvatClient, cvat_server) -> None:
    me = client.login()
    found = client.find_user(me["username"])
    assert found is not None and found["id"] == me["id"]
    assert client.find_user(me["username"] + "-no-such-user") is None


# ------------------------------------------------------------------------------ projects


@pytest.mark.parametrize("suffix", ["plain", "with space & ampersand", "ünïcødé 検査"])
def test_project_exact_lookup(client: CvatClient, created, name, suffix: str) -> None:
    target = new_project(client, created, name(suffix))
    new_project(client, created, name(suffix + " copy"))
    found = client.find_projects(name(suffix))
    assert [p["id"] for p in found] == [target["id"]]
    assert client.get_project(target["id"])["name"] == name(suffix)


def test_project_labels_patch_and_delete(client: CvatClient, created, name) -> None:
    p = new_project(client, created, name())
    labels = label_ids(client, project_id=p["id"])
    assert set(labels) == {"car", "person", "weather"}
    assert {a["name"] for a in labels["car"]["attributes"]} == {"model", "parked"}
    assert all(isinstance(a["id"], int) for a in labels["car"]["attributes"])
    client.update_project(p["id"], labels=[{"name": "bicycle", "type": "rectangle",
                                            "attributes": []}])
    client.update_project(p["id"], labels=[{"id": labels["person"]["id"], "name": "person",
                                            "deleted": True}])
    assert set(label_ids(client, project_id=p["id"])) == {"car", "weather", "bicycle"}
    with pytest.raises(CvatBadRequest):
        client.update_project(p["id"], labels=[{"name": "car", "type": "rectangle"}])
    client.update_project(p["id"], name=name("renamed"))
    assert client.find_projects(name("renamed"))[0]["id"] == p["id"]
    assert client.delete_project(p["id"]) is True
    assert client.delete_project(p["id"], missing_ok=True) is False
    with pytest.raises(CvatNotFound):
        client.get_project(p["id"])


def test_pagination_reads_every_page(connect, created, name) -> None:
    c = connect(page_size=2)
    ids = {new_project(c, created, name(f"p{i}"))["id"] for i in range(5)}
    listed = {p["id"] for p in c.list_projects(search=name())}
    assert ids <= listed


# ------------------------------------------------------------------------------ tasks, data


def test_task_in_project_with_single_request_upload(client: CvatClient, created, name) -> None:
    p = new_project(client, created, name("project"))
    t = client.create_task(name("task"), project_id=p["id"], segment_size=2,
                           bug_tracker="https://bugs.example.com/1")
    created["tasks"].append(t["id"])
    status = client.upload_task_data(t["id"], images(3), image_quality=75, use_cache=True,
                                     sorting_method="predefined")
    assert status["status"] == "finished"
    task = client.get_task(t["id"])
    assert task["size"] == 3 and task["project_id"] == p["id"]
    meta = client.get_data_meta(t["id"])
    assert [f["name"] for f in meta["frames"]] == ["img_0.jpg", "img_1.jpg", "img_2.jpg"]
    assert (meta["frames"][0]["width"], meta["frames"][0]["height"]) == (64, 48)
    jobs = sorted(client.list_jobs(t["id"]), key=lambda j: j["start_frame"])
    assert [(j["start_frame"], j["stop_frame"]) for j in jobs] == [(0, 1), (2, 2)]
    assert all(j["task_id"] == t["id"] and "updated_date" in j for j in jobs)
    assert client.find_tasks(name("task"), project_id=p["id"])[0]["id"] == t["id"]
    assert set(label_ids(client, task_id=t["id"])) == {"car", "person", "weather"}


def test_chunked_and_tus_upload_keep_the_predefined_order(connect, created, name) -> None:
    c = connect(upload_limits=UploadLimits(bundle_size=2000, tus_threshold=1500,
                                           chunk_size=700))
    t = c.create_task(name(), labels=LABELS, segment_size=10)
    created["tasks"].append(t["id"])
    files = [("c_big.jpg", jpeg(1, (400, 300))), ("a.jpg", jpeg(2)), ("b.jpg", jpeg(3)),
             ("d.jpg", jpeg(4))]
    assert len(files[0][1]) > 1500 and all(len(f[1]) < 1500 for f in files[1:])
    seen: list[int] = []
    c.upload_task_data(t["id"], files, sorting_method="predefined",
                       progress=lambda done, total: seen.append(done))
    assert seen[-1] == sum(len(f[1]) for f in files)
    meta = c.get_data_meta(t["id"])
    assert [f["name"] for f in meta["frames"]] == [n for n, _ in files]


def test_failed_data_surfaces_cvat_message(client: CvatClient, created, name) -> None:
    t = client.create_task(name(), labels=LABELS)
    created["tasks"].append(t["id"])
    with pytest.raises(CvatRequestFailed) as info:
        client.upload_task_data(t["id"], [("not_an_image.jpg", b"this is not a jpeg")])
    assert info.value.rq_id and info.value.detail


def test_task_update_and_delete(client: CvatClient, created, name) -> None:
    me = client.login()
    t = client.create_task(name(), labels=LABELS)
    created["tasks"].append(t["id"])
    out = client.update_task(t["id"], bug_tracker="https://bugs.example.com/2",
                             assignee_id=me["id"])
    assert out["bug_tracker"] == "https://bugs.example.com/2"
    assert out["assignee"]["id"] == me["id"]
    assert client.delete_task(t["id"]) is True
    with pytest.raises(CvatNotFound):
        client.get_task(t["id"])


def test_jobs_assignee_stage_state(client: CvatClient, created, name) -> None:
    me = client.login()
    t = new_task(client, created, name(), n=2)
    job = client.list_jobs(t["id"])[0]
    out = client.update_job(job["id"], assignee=me["id"])
    assert out["assignee"]["id"] == me["id"]
    out = client.update_job(job["id"], stage="validation", state="in progress")
    assert (out["stage"], out["state"]) == ("validation", "in progress")
    out = client.update_job(job["id"], assignee=None, stage="annotation")
    assert out["assignee"] is None
    assert client.get_job(job["id"])["stage"] == "annotation"


# ------------------------------------------------------------------------------ annotations


def test_annotations_write_read_patch_delete(client: CvatClient, created, name) -> None:
    t = new_task(client, created, name(), n=3)
    labels = label_ids(client, task_id=t["id"])
    car = labels["car"]
    spec = {a["name"]: a["id"] for a in car["attributes"]}
    data = {
        "version": 0,
        "shapes": [{"type": "rectangle", "frame": 0, "label_id": car["id"],
                    "points": [1, 2, 30, 40], "occluded": False, "z_order": 0, "group": 0,
                    "source": "manual",
                    "attributes": [{"spec_id": spec["model"], "value": "suv"},
                                   {"spec_id": spec["parked"], "value": "true"}]}],
        "tags": [{"frame": 1, "label_id": labels["weather"]["id"], "group": 0,
                  "source": "manual", "attributes": []}],
        "tracks": [],
    }
    client.put_annotations(data, task_id=t["id"])
    got = client.get_annotations(t["id"])
    assert len(got["shapes"]) == 1 and len(got["tags"]) == 1
    assert [float(v) for v in got["shapes"][0]["points"]] == [1.0, 2.0, 30.0, 40.0]
    job = min(client.list_jobs(t["id"]), key=lambda j: j["start_frame"])
    new = {"shapes": [{"type": "points", "frame": 1, "label_id": labels["person"]["id"],
                       "points": [5, 5], "attributes": []}], "tags": [], "tracks": []}
    made = client.patch_annotations("create", new, job_id=job["id"])
    shape = made["shapes"][0]
    shape["points"] = [6, 6]
    client.patch_annotations("update", {"shapes": [shape], "tags": [], "tracks": []},
                             job_id=job["id"])
    pts = [s for s in client.get_annotations(job_id=job["id"])["shapes"] if s["type"] == "points"]
    assert [float(v) for v in pts[0]["points"]] == [6.0, 6.0]
    client.patch_annotations("delete", {"shapes": [shape], "tags": [], "tracks": []},
                             job_id=job["id"])
    assert len(client.get_annotations(t["id"])["shapes"]) == 1
    client.delete_annotations(t["id"])
    assert client.get_annotations(t["id"])["shapes"] == []
    bad = {"shapes": [{"type": "rectangle", "frame": 0, "label_id": car["id"],
                       "points": [1, 2, 3], "attributes": []}], "tags": [], "tracks": []}
    with pytest.raises(CvatBadRequest) as info:
        client.patch_annotations("create", bad, task_id=t["id"])
    assert "points" in str(info.value)


# ------------------------------------------------------------------------------ import / export


def _cvat_xml(names: list[str], label: str = "car") -> bytes:
    imgs = "".join(
        f'<image id="{i}" name="{n}" width="64" height="48">'
        f'<box label="{label}" source="manual" occluded="0" xtl="1" ytl="2" xbr="30" ybr="40" '
        f'z_order="0"/></image>' for i, n in enumerate(names))
    return (f'<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1</version>{imgs}'
            f"</annotations>").encode()


@pytest.mark.parametrize("tus", [False, True], ids=["multipart", "tus"])
def test_import_cvat_xml(connect, created, name, tus: bool) -> None:
    limits = UploadLimits(tus_threshold=100, chunk_size=200) if tus else None
    c = connect(upload_limits=limits)
    t = new_task(c, created, name(), n=2)
    status = c.import_annotations(("import.xml", _cvat_xml(["img_0.jpg", "img_1.jpg"])),
                                  task_id=t["id"], format="CVAT 1.1")
    assert status["status"] == "finished"
    shapes = c.get_annotations(t["id"])["shapes"]
    assert sorted(s["frame"] for s in shapes) == [0, 1]
    assert all(s["source"] == "file" for s in shapes)


def test_import_failure_message(client: CvatClient, created, name) -> None:
    t = new_task(client, created, name(), n=2)
    xml = _cvat_xml(["img_0.jpg"]).replace(b'id="0" name="img_0.jpg"',
                                            b'id="99" name="no_such_image"')
    with pytest.raises(CvatRequestFailed, match="Could not match item id"):
        client.import_annotations(("bad.xml", xml), task_id=t["id"])
    with pytest.raises(CvatBadRequest):
        client.import_annotations(("a.xml", _cvat_xml(["img_0.jpg"])), task_id=t["id"],
                                  format="No Such Format 9.9")


@pytest.mark.parametrize("fmt", ["CVAT for images 1.1", "CVAT for video 1.1"])
def test_export(client: CvatClient, created, name, tmp_path: Path, fmt: str) -> None:
    t = new_task(client, created, name(), n=2)
    car = label_ids(client, task_id=t["id"])["car"]
    client.put_annotations({"shapes": [{"type": "rectangle", "frame": 0, "label_id": car["id"],
                                        "points": [1, 2, 30, 40], "attributes": []}],
                            "tags": [], "tracks": []}, task_id=t["id"])
    seen: list[int] = []
    out = client.export_dataset(tmp_path / "export.zip", fmt, task_id=t["id"],
                                progress=lambda d, total: seen.append(d))
    with zipfile.ZipFile(out) as zf:
        xml = zf.read("annotations.xml")
    assert b"<annotations>" in xml and b'label="car"' in xml
    assert seen and seen[-1] == out.stat().st_size
    job = client.list_jobs(t["id"])[0]
    job_out = client.export_dataset(tmp_path / "job.zip", fmt, job_id=job["id"])
    assert zipfile.is_zipfile(job_out)


def test_export_missing_task(client: CvatClient, tmp_path: Path) -> None:
    with pytest.raises(CvatNotFound):
        client.export_dataset(tmp_path / "x.zip", "CVAT for images 1.1", task_id=2_000_000_000)
    assert not (tmp_path / "x.zip").exists()


def test_not_found_errors_carry_cvat_text(client: CvatClient) -> None:
    with pytest.raises(CvatNotFound) as info:
        client.get_task(2_000_000_000)
    assert info.value.status == 404 and info.value.detail
    with pytest.raises(CvatNotFound):
        client.wait_for_request("action=export&target=task&target_id=2000000000", timeout=5)


# ------------------------------------------------------------------------------ faults (emulator)


def test_fault_5xx_on_reads_is_retried(emulator, client: CvatClient, created, name) -> None:
    t = new_task(client, created, name(), n=2)
    emulator.faults.add(method="GET", path=r"^/api/jobs", status=503, times=2)
    assert len(client.list_jobs(t["id"])) == 1


def test_fault_5xx_on_create_is_not_repeated(emulator, client: CvatClient, name) -> None:
    client.login()
    emulator.faults.add(method="POST", path=r"^/api/projects$", status=503, times=1)
    with pytest.raises(CvatServerError):
        client.create_project(name())
    assert client.find_projects(name()) == []


def test_fault_persistent_5xx_gives_up(emulator, client: CvatClient) -> None:
    client.login()
    emulator.faults.add(method="GET", path=r"^/api/projects$", status=502, times=50)
    start = time.monotonic()
    with pytest.raises(CvatServerError):
        client.list_projects()
    assert time.monotonic() - start < 10


def test_fault_latency_beyond_read_timeout(emulator, connect) -> None:
    c = connect(timeout=(5, 0.3), retries=RetryPolicy(retries=1, backoff=0.05))
    c.login()
    emulator.faults.add(method="GET", path=r"^/api/tasks$", latency=1.0, times=1)
    assert isinstance(c.list_tasks(), list)  # first answer too slow, the retry is fast
    emulator.faults.add(method="GET", path=r"^/api/tasks$", latency=1.0, times=10)
    with pytest.raises(CvatTimeout):
        c.list_tasks()
    emulator.faults.clear()
    emulator.faults.add(method="POST", path=r"^/api/projects$", latency=1.0, times=1)
    start = time.monotonic()
    with pytest.raises((CvatTimeout, CvatConnectionError)):
        c.create_project("slow-create")
    assert time.monotonic() - start < 5  # never hangs; and a create is not repeated
    emulator.faults.clear()
    time.sleep(1.2)  # let the slow create finish on the server, then clean it up
    for p in c.find_projects("slow-create"):
        c.delete_project(p["id"], missing_ok=True)


def test_fault_latency_within_timeout_is_fine(emulator, client: CvatClient) -> None:
    client.login()
    emulator.faults.add(path=r"^/api/users/self$", latency=0.3, times=1)
    assert client.get_self()["username"]


def test_fault_dropped_connection_on_read_is_retried(emulator, client: CvatClient) -> None:
    client.login()
    emulator.faults.add(method="GET", path=r"^/api/projects$", drop=True, times=2)
    assert isinstance(client.list_projects(), list)


def test_fault_dropped_connection_on_create_fails_clearly(emulator, client: CvatClient,
                                                          name) -> None:
    client.login()
    emulator.faults.add(method="POST", path=r"^/api/tasks$", drop=True, times=1)
    with pytest.raises(CvatConnectionError) as info:
        client.create_task(name(), labels=LABELS)
    assert "may have been processed" in str(info.value)
    for t in client.find_tasks(name()):
        client.delete_task(t["id"], missing_ok=True)


def test_fault_dropped_tus_chunk_resumes(emulator, connect, created, name) -> None:
    c = connect(upload_limits=UploadLimits(bundle_size=100, tus_threshold=100, chunk_size=600))
    t = c.create_task(name(), labels=LABELS)
    created["tasks"].append(t["id"])
    emulator.faults.add(method="PATCH", path=r"^/api/tasks/\d+/data/.+", drop=True, times=1)
    big = jpeg(7, (300, 200))
    assert len(big) > 1200
    c.upload_task_data(t["id"], [("big.jpg", big)])
    assert [f["name"] for f in c.get_data_meta(t["id"])["frames"]] == ["big.jpg"]


def test_fault_polling_survives_errors(emulator, client: CvatClient, created, name) -> None:
    t = client.create_task(name(), labels=LABELS)
    created["tasks"].append(t["id"])
    emulator.faults.add(method="GET", path=r"^/api/requests/", status=502, times=2)
    assert client.upload_task_data(t["id"], images(1))["status"] == "finished"


def test_fault_unreachable_server_is_quick(emulator) -> None:
    c = CvatClient("http://127.0.0.1:9", Credentials(token="x"), timeout=(0.5, 0.5),
                   retries=RetryPolicy(retries=1, backoff=0.01))
    start = time.monotonic()
    with pytest.raises(CvatError):
        c.login()
    assert time.monotonic() - start < 5
    c.close()


# ------------------------------------------------------------------------------ concurrency


def test_login_key_used_directly_as_token(connect, cvat_server) -> None:
    password_client = connect()
    password_client.login()
    auth = password_client.transport.session.headers["Authorization"]
    scheme, key = str(auth).split(" ", 1)
    assert scheme == "Token"
    token_client = connect(credentials=Credentials(token=key))
    assert token_client.login()["username"] == cvat_server.username
    password_client.close()  # closing never logs out: the shared key keeps working
    assert token_client.get_self()["username"] == cvat_server.username


def test_parallel_use_from_a_thread_pool(connect, created, name) -> None:
    from concurrent.futures import ThreadPoolExecutor

    c = connect(pool_size=8)
    t = new_task(c, created, name(), n=6, segment_size=1)
    jobs = c.list_jobs(t["id"])
    assert len(jobs) == 6
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda j: c.get_annotations(job_id=j["id"]), jobs * 3))
    assert all(r["shapes"] == [] for r in results)


def test_concurrent_identical_exports(connect, created, name, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    c = connect()
    t = new_task(c, created, name(), n=2)
    with ThreadPoolExecutor(3) as pool:
        outs = list(pool.map(
            lambda i: c.export_dataset(tmp_path / f"e{i}.zip", "CVAT for images 1.1",
                                       task_id=t["id"]), range(3)))
    assert all(zipfile.is_zipfile(o) for o in outs)


def test_server_fixture_is_the_documented_tuple(cvat_server) -> None:
    url, username, password, emulator = cvat_server
    assert url.startswith("http") and username and password
    assert cvat_server[3] is emulator and len(cvat_server) == 4
