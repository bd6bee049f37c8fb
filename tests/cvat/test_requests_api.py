"""Waits on CVAT's asynchronous requests are bounded and report CVAT's own words."""

from __future__ import annotations

import re

import pytest
from cvat_fake import FakeCvat, Reply, assert_like_recorded, recording, recordings2

from annosync.cvat import CvatClient, CvatNotFound, CvatRequestFailed, CvatTimeout
from annosync.cvat.requests_api import request_path


@pytest.mark.parametrize("rq_id", [
    "action=create&target=task&target_id=11",
    "action=export&target=task&target_id=11&user_id=1&format=CVAT_for_images_1~1"
    "&subresource=annotations",
    "action=import&target=task&target_id=79&subresource=annotations",
])
def test_rq_id_is_one_encoded_path_segment(rq_id: str) -> None:
    recorded = {e["path"] for e in recordings2() if e["path"].startswith("/api/requests/")}
    recorded |= {e["path"] for f in ("recordings/03_create_image_task.json",
                                     "recordings/08_export_image_task_cvat_for_images.json")
                 for e in recording(f) if e["path"].startswith("/api/requests/")}
    path = request_path(rq_id)
    assert path.count("/") == 3 and "&" not in path and "=" not in path
    if "target_id=79" in rq_id or "target_id=11" in rq_id:
        assert path in recorded


def test_wait_is_bounded_and_names_the_request(client: CvatClient, fake: FakeCvat,
                                               clock) -> None:
    tid = client.create_task("slow")["id"]
    fake.rq_steps = ["started"]  # never finishes
    start = clock.now
    with pytest.raises(CvatTimeout) as info:
        client.upload_task_data(tid, [("a.jpg", b"a")], timeout=30)
    assert f"action=create&target=task&target_id={tid}" in str(info.value)
    assert "within 30s" in str(info.value) and "last status: started" in str(info.value)
    assert 30 <= clock.now - start <= 31
    polls = [x for x in fake.calls if x.path.startswith("/api/requests/")]
    assert 5 <= len(polls) <= 15  # the interval grew: 0.5, 1, 2, 4, 5, 5...
    assert max(clock.sleeps) <= 5.0


def test_wait_for_request_directly(client: CvatClient, fake: FakeCvat) -> None:
    tid = client.create_task("t")["id"]
    rq = client.upload_task_data(tid, [("a.jpg", b"a")], wait=False)["rq_id"]
    status = client.wait_for_request(rq, timeout=60)
    assert status["status"] == "finished" and status["id"] == rq
    assert client.get_request(rq)["status"] == "finished"


def test_failed_request_message(client: CvatClient, fake: FakeCvat) -> None:
    tid = client.create_task("t")["id"]
    fake.fail_next["action=create"] = "ValueError: No media data found\n"
    rq = client.upload_task_data(tid, [("a.jpg", b"a")], wait=False)["rq_id"]
    with pytest.raises(CvatRequestFailed) as info:
        client.wait_for_request(rq)
    assert info.value.detail == "ValueError: No media data found"
    assert info.value.rq_id == rq


def test_unknown_request_id(client: CvatClient, fake: FakeCvat) -> None:
    with pytest.raises(CvatNotFound) as info:
        client.wait_for_request("action=export&target=task&target_id=999999")
    assert "There is no request with specified id" in str(info.value)
    assert_like_recorded(fake.calls[-1], recordings2()[321])


def test_transient_errors_while_polling_are_retried(client: CvatClient, fake: FakeCvat) -> None:
    tid = client.create_task("t")["id"]
    rq = client.upload_task_data(tid, [("a.jpg", b"a")], wait=False)["rq_id"]
    fake.fault(r"^/api/requests/", times=2, status=502)
    assert client.wait_for_request(rq)["status"] == "finished"


def test_export_flow_matches_recording(client: CvatClient, fake: FakeCvat, tmp_path) -> None:
    tid = client.create_task("t")["id"]
    client.upload_task_data(tid, [("a.jpg", b"a")])
    seen = []
    out = client.export_dataset(tmp_path / "sub" / "export.zip", "CVAT for images 1.1",
                                task_id=tid, save_images=True,
                                progress=lambda d, t: seen.append((d, t)))
    assert out.read_bytes() == fake.export_bytes()
    assert seen[-1] == (len(fake.export_bytes()), len(fake.export_bytes()))
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind
    rec = recordings2()
    post = next(x for x in fake.calls if x.path.endswith("/dataset/export"))
    assert_like_recorded(post, rec[256])
    poll = next(x for x in fake.calls if x.path.startswith("/api/requests/action%3Dexport"))
    assert_like_recorded(poll, rec[257])
    download = next(x for x in fake.calls if x.path.endswith("/dataset/download"))
    assert_like_recorded(download, rec[260])
    assert download.header("Accept") == "*/*"


def test_export_already_running_waits_then_exports_again(client: CvatClient, fake: FakeCvat,
                                                          tmp_path) -> None:
    """409 "Export request is being processed" (a bare string, cvat/apps/engine/
    background.py): the client finds the running export in /api/requests, waits for it, then
    asks again so the file reflects the current annotations."""
    pid = client.create_project("p")["id"]
    client.login()
    _post_export(fake, pid)  # another client's export, still queued
    before = len(fake.calls)
    out = client.export_dataset(tmp_path / "p.zip", "CVAT for images 1.1", project_id=pid)
    assert out.read_bytes() == fake.export_bytes()
    ours = fake.calls[before:]
    posts = [x for x in ours if x.path.endswith("/dataset/export")]
    assert len(posts) == 2
    listing = [x for x in ours if x.path == "/api/requests"]
    assert listing[0].params == {"action": "export", "target": "project",
                                 "project_id": str(pid), "format": "CVAT for images 1.1",
                                 "page_size": "100"}


def test_export_conflict_is_bounded(client: CvatClient, fake: FakeCvat, tmp_path) -> None:
    from annosync.cvat import CvatConflict, CvatTimeout

    pid = client.create_project("p")["id"]
    client.login()
    fake.rq_steps = ["started"]  # the other export never ends
    _post_export(fake, pid)
    with pytest.raises((CvatConflict, CvatTimeout)):
        client.export_dataset(tmp_path / "p.zip", "CVAT for images 1.1", project_id=pid,
                              timeout=20)
    assert not (tmp_path / "p.zip").exists()


def _post_export(fake: FakeCvat, pid: int) -> None:
    from cvat_fake import Call

    query = [("format", "CVAT for images 1.1"), ("save_images", "false")]
    reply = fake.handle(Call("POST", "", f"/api/projects/{pid}/dataset/export", "", query,
                             {"Authorization": f"Token {FakeCvat.KEY}"}, b"", None))
    assert reply.status == 202  # type: ignore[union-attr]


def test_export_post_retried_on_503(client: CvatClient, fake: FakeCvat, tmp_path) -> None:
    """Starting an export is repeatable: CVAT dedups it by its deterministic rq id."""
    tid = client.create_task("t")["id"]
    fake.fault(r"/dataset/export$", times=1, status=503)
    client.export_dataset(tmp_path / "e.zip", "CVAT for video 1.1", task_id=tid)
    assert len([x for x in fake.calls if x.path.endswith("/dataset/export")]) == 2


def test_download_restarts_after_a_drop(client: CvatClient, fake: FakeCvat, tmp_path) -> None:
    from cvat_fake import connection_dropped

    tid = client.create_task("t")["id"]
    fake.fault(r"/dataset/download$", times=1, exc=connection_dropped)
    out = client.export_dataset(tmp_path / "e.zip", "CVAT for images 1.1", job_id=None,
                                task_id=tid)
    assert out.read_bytes() == fake.export_bytes()


def test_truncated_download_is_an_error(client: CvatClient, fake: FakeCvat, tmp_path) -> None:
    from annosync.cvat import CvatConnectionError

    tid = client.create_task("t")["id"]
    fake.fault(r"/dataset/download$", times=100, reply=Reply(
        200, body=b"PK\x03\x04", headers={"Content-Type": "application/zip",
                                          "Content-Length": "100"}))
    with pytest.raises(CvatConnectionError):
        client.export_dataset(tmp_path / "e.zip", "CVAT for images 1.1", task_id=tid)
    assert not (tmp_path / "e.zip").exists()
    assert list(tmp_path.iterdir()) == []


def test_export_errors_are_cvat_errors(client: CvatClient, fake: FakeCvat, tmp_path) -> None:
    with pytest.raises(CvatNotFound, match=re.escape("No Task matches the given query.")):
        client.export_dataset(tmp_path / "x.zip", "CVAT for images 1.1", task_id=999999)
    tid = client.create_task("t")["id"]
    with pytest.raises(Exception, match="Unknown format specified for the request"):
        client.export_dataset(tmp_path / "x.zip", "No Such Format 9.9", task_id=tid)


def test_export_replaced_before_download_is_exported_again(client: CvatClient, fake: FakeCvat,
                                                           tmp_path) -> None:
    tid = client.create_task("t")["id"]
    fake.fault(r"/dataset/download$", times=1,
               reply=Reply(404, json={"detail": "Unknown export request id."}))
    out = client.export_dataset(tmp_path / "e.zip", "CVAT for images 1.1", task_id=tid)
    assert out.read_bytes() == fake.export_bytes()
    assert len([x for x in fake.calls if x.path.endswith("/dataset/export")]) == 2


def test_the_media_wait_polls_sooner_first(client: CvatClient, fake: FakeCvat,
                                           clock) -> None:
    """A task's media is waited for with a first interval of a quarter of the poll interval,
    doubling from there; other requests keep the poll interval."""
    from annosync.cvat.client import MEDIA_FIRST_POLL

    initial = client._poller.initial
    fake.rq_steps = ["queued", "started", "started", "started", "finished"]
    tid = client.create_task("t")["id"]
    client.upload_task_data(tid, [("a.jpg", b"a")])
    first = initial * MEDIA_FIRST_POLL
    assert clock.sleeps == [first, 2 * first, 4 * first, 8 * first]
    clock.sleeps.clear()
    rq = client.upload_task_data(client.create_task("u")["id"], [("a.jpg", b"a")],
                                 wait=False)["rq_id"]
    client.wait_for_request(rq)
    assert clock.sleeps[0] == initial
