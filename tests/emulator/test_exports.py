"""Dataset export (CVAT for images/video 1.1 zips) and annotation import, with round trips."""

from __future__ import annotations

import base64
import io
import re
import zipfile
from typing import Any

from lxml import etree

from annosync.emulator import Emulator

from . import media_factory
from .conftest import CAR, PERSON, Api
from .replay import SHARED, Replayer, replay_emulator

IMAGES_FMT = "CVAT for images 1.1"
VIDEO_FMT = "CVAT for video 1.1"


def _normalise(xml: str) -> str:
    xml = re.sub(r"<(id|created|updated|dumped)>[^<]*</\1>", r"<\1>_</\1>", xml)
    return re.sub(r"http://127\.0\.0\.1:\d+/api/tasks/\d+/dataset/export/api/jobs/\d+", "URL", xml)


def test_exports_match_the_real_servers_bytes() -> None:
    """The recorded flows export the same annotations as ``shared/cvat/exports/*.xml``."""
    with replay_emulator("recordings") as emu:
        replayer = Replayer(emu, "recordings")
        replayer.run()
    references = {"08": "image_task_cvat_for_images_1.1__annotations.xml",
                  "12": "video_task_cvat_for_video_1.1__annotations.xml"}
    compared = 0
    for fname, blob in replayer.downloads:
        ref = references.get(fname[:2])
        if ref is None:
            continue
        ours = zipfile.ZipFile(io.BytesIO(blob)).read("annotations.xml").decode()
        theirs = (SHARED / "exports" / ref).read_text()
        assert _normalise(ours) == _normalise(theirs)
        compared += 1
    assert compared == 2


def _export(api: Api, kind: str, ident: int, fmt: str) -> bytes:
    rq = api.post(f"/api/{kind}/{ident}/dataset/export", expect=202,
                  params={"format": fmt, "save_images": "false"})
    done = api.wait(rq["rq_id"])
    assert done["status"] == "finished", done
    resp = api.call("GET", done["result_url"][len(api.url):])
    assert resp.status_code == 200
    return zipfile.ZipFile(io.BytesIO(resp.content)).read("annotations.xml")


def _import(api: Api, task_id: int, xml: bytes, name: str = "a.xml") -> dict[str, Any]:
    rq = api.post(f"/api/tasks/{task_id}/annotations", expect=202,
                  params={"format": "CVAT 1.1", "filename": name},
                  files={"annotation_file": (name, xml, "application/xml")})
    return api.wait(rq["rq_id"])


def _strip(data: dict[str, Any]) -> dict[str, Any]:
    """Annotations without server ids and ``source`` (an import sets ``file``)."""
    def clean(obj: Any) -> Any:
        if isinstance(obj, list):
            return [clean(o) for o in obj]
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items() if k not in ("id", "source")}
        return obj
    return {key: sorted(clean(data[key]), key=repr) for key in ("tags", "shapes", "tracks")}


def _by_name(api: Api, task_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """``_strip``ped annotations with label and attribute ids replaced by names."""
    labels = api.labels(task_id)
    label_names = {label["id"]: name for name, label in labels.items()}
    spec_names = {a["id"]: a["name"] for label in labels.values() for a in label["attributes"]}

    def rename(obj: Any) -> Any:
        if isinstance(obj, list):
            return [rename(o) for o in obj]
        if isinstance(obj, dict):
            out = {k: rename(v) for k, v in obj.items()}
            if "label_id" in out:
                out["label_id"] = label_names[out["label_id"]]
            if "spec_id" in out:
                out["spec_id"] = spec_names[out["spec_id"]]
            return out
        return obj
    return _strip(rename(data))


def _attr(api: Api, task_id: int, label: str, name: str) -> int:
    attrs = api.labels(task_id)[label]["attributes"]
    return int(next(a["id"] for a in attrs if a["name"] == name))


def test_image_task_round_trip(emu: Emulator, api: Api) -> None:
    task = api.task([CAR, PERSON], images=3, segment_size=2)
    labels = api.labels(task["id"])
    car, person = labels["car"]["id"], labels["person"]["id"]
    color = _attr(api, task["id"], "car", "color")
    written = api.put(f"/api/tasks/{task['id']}/annotations", json={
        "shapes": [
            {"type": "rectangle", "frame": 0, "label_id": car, "points": [1, 2.5, 30, 40],
             "attributes": [{"spec_id": color, "value": "blue"}], "occluded": True,
             "z_order": 2, "rotation": 15, "group": 3},
            {"type": "polygon", "frame": 2, "label_id": person,
             "points": [0, 0, 10, 0, 10, 10.25]},
            {"type": "points", "frame": 1, "label_id": car, "points": [3, 4]},
            {"type": "ellipse", "frame": 1, "label_id": person, "points": [20, 20, 30, 15]},
        ],
        "tags": [{"frame": 2, "label_id": person, "attributes": []}],
        "tracks": [],
    })
    assert written["shapes"][0]["points"] == [1, 2.5, 30, 40]  # writes echo the request
    before = api.get(f"/api/tasks/{task['id']}/annotations")
    assert before["shapes"][0]["points"] == [1.0, 2.5, 30.0, 40.0]

    xml = _export(api, "tasks", task["id"], IMAGES_FMT)
    root = etree.fromstring(xml)
    assert [i.get("name") for i in root.iter("image")] == ["img_000.jpg", "img_001.jpg",
                                                           "img_002.jpg"]
    box = root.find("image/box")
    assert box is not None
    assert (box.get("xtl"), box.get("ytl"), box.get("occluded"), box.get("rotation")) == (
        "1.00", "2.50", "1", "15.00")
    assert box.findtext("attribute[@name='color']") == "blue"
    assert root.findtext("meta/task/size") == "3"

    other = api.task([CAR, PERSON], images=3)
    assert _import(api, other["id"], xml)["status"] == "finished"
    after = api.get(f"/api/tasks/{other['id']}/annotations")
    assert {s["source"] for s in after["shapes"]} == {"file"}
    assert _by_name(api, task["id"], before) == _by_name(api, other["id"], after)


def test_video_task_round_trip_keeps_tracks(emu: Emulator, api: Api) -> None:
    task = api.task([CAR], name="v")
    rq = api.post(f"/api/tasks/{task['id']}/data", expect=202, data={"image_quality": "70"},
                  files={"client_files[0]": ("clip.mp4", media_factory.mp4(12, 64, 48),
                                             "video/mp4")})
    assert api.wait(rq["rq_id"], timeout=60)["status"] == "finished"
    car = api.labels(task["id"])["car"]["id"]
    moving = _attr(api, task["id"], "car", "moving")
    api.put(f"/api/tasks/{task['id']}/annotations", json={"tracks": [{
        "frame": 0, "label_id": car, "attributes": [], "shapes": [
            {"type": "rectangle", "frame": 0, "points": [0, 0, 10, 10],
             "attributes": [{"spec_id": moving, "value": "true"}]},
            {"type": "rectangle", "frame": 5, "points": [5, 5, 15, 15], "outside": True},
            {"type": "rectangle", "frame": 8, "points": [8, 8, 18, 18]},
        ]}]})
    before = api.get(f"/api/tasks/{task['id']}/annotations")
    xml = _export(api, "tasks", task["id"], VIDEO_FMT)
    root = etree.fromstring(xml)
    (track,) = root.findall("track")
    frames = [(b.get("frame"), b.get("keyframe"), b.get("outside")) for b in track.findall("box")]
    assert frames[0] == ("0", "1", "0") and ("5", "1", "1") in frames
    assert len(frames) == 12 - 3 + 1  # interpolated frames 0-5 and 8-11 (outside ends at 5)

    assert api.call("DELETE", f"/api/tasks/{task['id']}/annotations").status_code == 204
    assert api.get(f"/api/tasks/{task['id']}/annotations")["tracks"] == []
    assert _import(api, task["id"], xml, "v.xml")["status"] == "finished"
    after = api.get(f"/api/tasks/{task['id']}/annotations")
    assert _strip(after)["tracks"] == _strip(before)["tracks"]


def test_export_conflicts_and_retired_endpoints(emu: Emulator, api: Api) -> None:
    task = api.task([CAR], images=1)
    path = f"/api/tasks/{task['id']}/dataset/export"
    params = {"format": IMAGES_FMT, "save_images": "false"}
    rq = api.post(path, expect=202, params=params)
    busy = api.call("POST", path, params=params)
    assert (busy.status_code, busy.json()) == (409, "Export request is being processed")
    assert api.wait(rq["rq_id"])["status"] == "finished"

    retired = api.call("GET", f"/api/tasks/{task['id']}/dataset", params={"format": IMAGES_FMT})
    assert retired.status_code == 410
    unknown = api.call("POST", path, params={"format": "No Such 1.0"})
    assert unknown.status_code == 400

    (job,) = api.jobs(task["id"])
    xml = _export(api, "jobs", job["id"], IMAGES_FMT)
    assert etree.fromstring(xml).find("meta/job") is not None


def test_import_errors_and_tus_import(emu: Emulator, api: Api) -> None:
    task = api.task([CAR], images=1)
    failed = _import(api, task["id"], b"<annotations><image")
    assert failed["status"] == "failed" and "ParseError" in failed["message"]
    unknown = api.call("POST", f"/api/tasks/{task['id']}/annotations",
                       params={"format": "No Such Format 9.9"},
                       files={"annotation_file": ("a.xml", b"<x/>", "application/xml")})
    assert (unknown.status_code, unknown.json()) == (400, ["Unknown input format 'No Such Format 9.9'"])

    xml = (b'<?xml version="1.0"?><annotations><version>1.1</version>'
           b'<image id="0" name="img_000.jpg" width="64" height="48">'
           b'<box label="car" xtl="1" ytl="2" xbr="3" ybr="4" occluded="0"/>'
           b'<box label="bus" xtl="1" ytl="2" xbr="3" ybr="4" occluded="0"/></image></annotations>')
    bad_label = _import(api, task["id"], xml)
    assert bad_label["status"] == "failed" and "bus" in bad_label["message"]

    good = xml.replace(b"bus", b"car")
    base = f"/api/tasks/{task['id']}/annotations/"
    query = {"format": "CVAT 1.1", "filename": "a.xml"}
    assert api.call("POST", base, params=query, headers={"Upload-Start": ""}).status_code == 202
    created = api.call("POST", base, headers={
        "Tus-Resumable": "1.0.0", "Upload-Length": str(len(good)),
        "Upload-Metadata": "filename " + base64.b64encode(b"a.xml").decode()})
    assert created.status_code == 201
    file_id = created.headers["upload-filename"]
    patched = api.call("PATCH", created.headers["location"][len(api.url):], data=good,
                       headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                                "Content-Type": "application/offset+octet-stream"})
    assert patched.status_code == 204
    rq = api.post(base, expect=202, params={**query, "filename": file_id},
                  headers={"Upload-Finish": ""})
    assert api.wait(rq["rq_id"])["status"] == "finished"
    shapes = api.get(f"/api/tasks/{task['id']}/annotations")["shapes"]
    assert [s["points"] for s in shapes] == [[1.0, 2.0, 3.0, 4.0]] * 2


def test_xml_loader_refuses_entities(emu: Emulator, api: Api) -> None:
    task = api.task([CAR], images=1)
    evil = (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b'<annotations><image id="0" name="img_000.jpg" width="64" height="48">'
            b'<tag label="car"><attribute name="note">&e;</attribute></tag></image></annotations>')
    done = _import(api, task["id"], evil)
    tags = api.get(f"/api/tasks/{task['id']}/annotations")["tags"]
    assert all("root:" not in a["value"] for t in tags for a in t["attributes"])
    assert done["status"] in ("finished", "failed")
