"""Task data: multipart, Upload-Multiple and TUS uploads, media probing, video, cloud storage."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from urllib.parse import quote

from PIL import Image

from annosync.emulator import Emulator

from . import media_factory
from .conftest import CAR, Api

TUS = {"Tus-Resumable": "1.0.0"}


def _meta(api: Api, task_id: int) -> dict:
    return dict(api.get(f"/api/tasks/{task_id}/data/meta"))


def test_multipart_upload_probes_sizes_and_keeps_order(emu: Emulator, api: Api) -> None:
    task = api.task([CAR], name="imgs")
    assert "size" not in task and task["data"] is None and task["jobs"]["count"] == 0
    files = {
        "client_files[0]": ("z.jpg", media_factory.jpeg(40, 30, 1), "image/jpeg"),
        "client_files[1]": ("a.png", media_factory.png(17, 9), "image/png"),
        "client_files[2]": ("m.jpg", media_factory.jpeg(8, 64, 2), "image/jpeg"),
    }
    rq = api.post(f"/api/tasks/{task['id']}/data", expect=202, files=files,
                  data={"image_quality": "80", "sorting_method": "predefined"})
    assert rq == {"rq_id": f"action=create&target=task&target_id={task['id']}"}
    assert api.wait(rq["rq_id"])["status"] == "finished"
    meta = _meta(api, task["id"])
    assert [(f["name"], f["width"], f["height"]) for f in meta["frames"]] == [
        ("z.jpg", 40, 30), ("a.png", 17, 9), ("m.jpg", 8, 64)]
    assert (meta["size"], meta["start_frame"], meta["stop_frame"]) == (3, 0, 2)
    got = api.get(f"/api/tasks/{task['id']}")
    assert (got["size"], got["mode"], got["jobs"]["count"]) == (3, "annotation", 1)

    frame = api.call("GET", f"/api/tasks/{task['id']}/data",
                     params={"type": "frame", "number": 1, "quality": "compressed"})
    assert frame.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(frame.content)).size == (17, 9)
    again = api.call("POST", f"/api/tasks/{task['id']}/data", files=files,
                     data={"image_quality": "80"})
    assert (again.status_code, again.json()) == (400, ["Adding more data is not supported"])


def test_broken_media_fails_the_request(emu: Emulator, api: Api) -> None:
    task = api.task([CAR])
    rq = api.post(f"/api/tasks/{task['id']}/data", expect=202, data={"image_quality": "70"},
                  files={"client_files[0]": ("x.jpg", b"not an image", "image/jpeg")})
    done = api.wait(rq["rq_id"])
    assert done["status"] == "failed"
    assert done["message"].startswith("PIL.UnidentifiedImageError")
    missing = api.call("POST", f"/api/tasks/{task['id']}/data", files={
        "client_files[0]": ("y.jpg", media_factory.jpeg(), "image/jpeg")})
    assert missing.status_code == 400 and "image_quality" in missing.json()


def test_upload_multiple_then_finish(emu: Emulator, api: Api) -> None:
    task = api.task([CAR], segment_size=2)
    base = f"/api/tasks/{task['id']}/data/"
    assert api.call("POST", base, headers={"Upload-Start": ""}).status_code == 202
    for i in range(3):
        resp = api.call("POST", base, headers={"Upload-Multiple": ""}, files={
            f"client_files[{i}]": (f"f{i}.jpg", media_factory.jpeg(20, 10, i), "image/jpeg")})
        assert resp.status_code == 200
    rq = api.post(base, expect=202, headers={"Upload-Finish": ""},
                  files={"image_quality": (None, "70")})
    assert api.wait(rq["rq_id"])["status"] == "finished"
    assert [f["name"] for f in _meta(api, task["id"])["frames"]] == ["f0.jpg", "f1.jpg", "f2.jpg"]
    assert [(j["start_frame"], j["stop_frame"]) for j in api.jobs(task["id"])] == [(2, 2), (0, 1)]


def test_tus_upload(emu: Emulator, api: Api) -> None:
    task = api.task([CAR])
    base = f"/api/tasks/{task['id']}/data/"
    blob = media_factory.padded_png(30, 20, 150_000)
    opts = api.call("OPTIONS", base, headers=TUS)
    assert opts.status_code == 204 and opts.headers["tus-version"] == "1.0.0"
    assert api.call("POST", base, headers={"Upload-Start": ""}).status_code == 202

    nometa = api.call("POST", base, headers={**TUS, "Upload-Length": str(len(blob))})
    assert nometa.status_code == 400
    name = base64.b64encode(b"big.png").decode()
    created = api.call("POST", base, headers={
        **TUS, "Upload-Length": str(len(blob)), "Upload-Metadata": f"filename {name}"})
    assert created.status_code == 201 and created.headers["upload-filename"] == "big.png"
    location = created.headers["location"]
    path = location[len(emu.url):]
    assert path.startswith(base)

    head = api.call("HEAD", path, headers=TUS)
    assert (head.status_code, head.headers["upload-offset"]) == (200, "0")
    octets = {**TUS, "Content-Type": "application/offset+octet-stream"}
    part = api.call("PATCH", path, data=blob[:100_000], headers={**octets, "Upload-Offset": "0"})
    assert (part.status_code, part.headers["upload-offset"]) == (204, "100000")
    stale = api.call("PATCH", path, data=blob[:100_000], headers={**octets, "Upload-Offset": "0"})
    assert stale.status_code == 409
    assert api.call("HEAD", path, headers=TUS).headers["upload-offset"] == "100000"
    rest = api.call("PATCH", path, data=blob[100_000:],
                    headers={**octets, "Upload-Offset": "100000"})
    assert (rest.status_code, rest.headers["upload-offset"]) == (204, str(len(blob)))
    assert api.call("HEAD", path, headers=TUS).status_code == 404  # completed uploads vanish

    rq = api.post(base, expect=202, headers={"Upload-Finish": ""}, json={"image_quality": 70})
    assert api.wait(rq["rq_id"])["status"] == "finished"
    (frame,) = _meta(api, task["id"])["frames"]
    assert (frame["name"], frame["width"], frame["height"]) == ("big.png", 30, 20)


def test_video_task_start_stop_step(emu: Emulator, api: Api) -> None:
    video = media_factory.mp4(frames=40, width=320, height=240)
    task = api.task([CAR], name="video", segment_size=8)
    rq = api.post(f"/api/tasks/{task['id']}/data", expect=202,
                  files={"client_files[0]": ("clip.mp4", video, "video/mp4")},
                  data={"image_quality": "70", "start_frame": "4", "stop_frame": "33",
                        "frame_filter": "step=2"})
    assert api.wait(rq["rq_id"], timeout=60)["status"] == "finished"
    meta = _meta(api, task["id"])
    assert (meta["size"], meta["start_frame"], meta["stop_frame"], meta["frame_filter"]) == (
        15, 4, 32, "step=2")
    assert meta["frames"] == [{"width": 320, "height": 240, "name": "clip.mp4",
                               "related_files": 0, "has_related_context": False}]
    got = api.get(f"/api/tasks/{task['id']}")
    assert (got["size"], got["mode"], got["overlap"], got["segment_size"]) == (
        15, "interpolation", 4, 8)
    jobs = sorted((j["start_frame"], j["stop_frame"]) for j in api.jobs(task["id"]))
    assert jobs == [(0, 7), (4, 11), (8, 14)]
    frame = api.call("GET", f"/api/tasks/{task['id']}/data",
                     params={"type": "frame", "number": 14, "quality": "compressed"})
    assert frame.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(frame.content)).size == (320, 240)
    bad = api.call("GET", f"/api/tasks/{task['id']}/data",
                   params={"type": "frame", "number": 15, "quality": "compressed"})
    assert (bad.status_code, bad.json()) == (  # sic: CVAT prints [0, size]
        400, "Invalid frame '15'. The frame number should be in the [0, 15] range")


def test_task_from_cloud_storage(emu: Emulator, api: Api, tmp_path: Path) -> None:
    emu.add_bucket("mem-bucket", {"imgs/b.jpg": media_factory.jpeg(12, 34, 3),
                                  "imgs/a.jpg": media_factory.jpeg(56, 78, 4)})
    storage = api.post("/api/cloudstorages", json={
        "provider_type": "AWS_S3_BUCKET", "resource": "mem-bucket", "display_name": "mem",
        "credentials_type": "ANONYMOUS_ACCESS"})
    assert api.get(f"/api/cloudstorages/{storage['id']}")["resource"] == "mem-bucket"
    assert api.get("/api/cloudstorages")["count"] == 1

    task = api.task([CAR])
    rq = api.post(f"/api/tasks/{task['id']}/data", expect=202, json={
        "image_quality": 70, "cloud_storage_id": storage["id"],
        "server_files": ["imgs/b.jpg", "imgs/a.jpg"], "sorting_method": "lexicographical"})
    assert api.wait(rq["rq_id"])["status"] == "finished"
    meta = _meta(api, task["id"])
    assert [(f["name"], f["width"]) for f in meta["frames"]] == [("imgs/a.jpg", 56), ("imgs/b.jpg", 12)]
    assert meta["storage"] == "cloud_storage" and meta["cloud_storage_id"] == storage["id"]

    # a local directory works as a bucket too
    (tmp_path / "c.jpg").write_bytes(media_factory.jpeg(9, 9, 5))
    emu.add_bucket("dir-bucket", tmp_path)
    dir_storage = api.post("/api/cloudstorages", json={
        "provider_type": "AWS_S3_BUCKET", "resource": "dir-bucket", "display_name": "dir",
        "credentials_type": "ANONYMOUS_ACCESS"})
    task2 = api.task([CAR])
    rq = api.post(f"/api/tasks/{task2['id']}/data", expect=202, json={
        "image_quality": 70, "cloud_storage_id": dir_storage["id"], "server_files": ["c.jpg"]})
    assert api.wait(rq["rq_id"])["status"] == "finished"
    assert _meta(api, task2["id"])["frames"][0]["name"] == "c.jpg"


def _three_images() -> dict:
    return {f"client_files[{i}]": (f"f{i}.jpg", media_factory.jpeg(20, 10, i), "image/jpeg")
            for i in range(3)}


def test_jobs_exist_only_once_the_creation_request_finished(emu: Emulator, api: Api) -> None:
    """CVAT makes a task's segments and jobs at the end of ``_create_thread``, which runs in one
    database transaction: until the request is finished (recordings/03_create_image_task.json:
    202, a poll "started", a poll "finished") no request sees a job of the task. FiftyOne's
    ``upload_data`` waits for a new task by listing its jobs until there are some."""
    task = api.task([CAR], segment_size=2)
    rq = api.post(f"/api/tasks/{task['id']}/data", expect=202, files=_three_images(),
                  data={"image_quality": "70"})
    hidden = [j.id for j in emu.state.task_jobs(task["id"])]  # made at once, not yet shown
    assert len(hidden) == 2

    def seen() -> tuple[int, list[int], int, list[int]]:
        listed = api.get("/api/jobs", params={"task_id": task["id"]})
        codes = [api.call("GET", f"/api/jobs/{jid}").status_code for jid in hidden]
        return (listed["count"], [j["id"] for j in listed["results"]],
                api.get(f"/api/tasks/{task['id']}")["jobs"]["count"], codes)

    assert seen() == (0, [], 0, [404, 404])
    first = api.get(f"/api/requests/{quote(rq['rq_id'], safe='')}")
    assert first["status"] == "started"
    assert seen() == (0, [], 0, [404, 404])
    assert api.wait(rq["rq_id"])["status"] == "finished"
    assert seen() == (2, sorted(hidden, reverse=True), 2, [200, 200])


def test_jobs_of_an_unpolled_creation_appear_when_it_is_revealed() -> None:
    """A client that never polls the request (FiftyOne) sees the jobs once the emulator's
    worker is shown as done, ``REVEAL_AFTER`` after the upload (the server's clock decides)."""
    from datetime import datetime, timedelta, timezone

    from annosync.emulator.rq import REVEAL_AFTER

    now = [datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)]
    with Emulator(clock=lambda: now[0]) as emu:
        api = Api(emu.url, emu.admin_username, emu.admin_password)
        task = api.task([CAR])
        api.post(f"/api/tasks/{task['id']}/data", expect=202, files=_three_images(),
                 data={"image_quality": "70"})
        assert api.get("/api/jobs", params={"task_id": task["id"]})["count"] == 0
        now[0] += REVEAL_AFTER - timedelta(milliseconds=100)
        assert api.get("/api/jobs", params={"task_id": task["id"]})["count"] == 0
        now[0] += timedelta(milliseconds=200)
        listed = api.get("/api/jobs", params={"task_id": task["id"]})
        assert listed["count"] == 1 and listed["results"][0]["stop_frame"] == 2
        rq_id = quote(f"action=create&target=task&target_id={task['id']}", safe="")
        assert api.get(f"/api/requests/{rq_id}")["status"] == "finished"
