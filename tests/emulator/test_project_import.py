"""Project dataset import (``POST /api/projects/{id}/dataset/``, CVAT 1.1) as CVAT 2.73 does it:
datumaro's CvatExtractor + ``load_dataset_data`` + ``import_dm_annotations`` (bindings.py), one
new task per subset from the zip's images, with that path's known losses; all or nothing."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from PIL import Image

from .conftest import Api

META = """<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version><meta><project><id>1</id><name>p</name>
<tasks><task><id>1</id><name>t</name><mode>annotation</mode></task></tasks>
<subsets>train
val</subsets>
<labels><label><name>car</name><attributes>
<attribute><name>num</name><input_type>number</input_type><default_value>0</default_value></attribute>
<attribute><name>txt</name><input_type>text</input_type><default_value></default_value></attribute>
<attribute><name>chk</name><input_type>checkbox</input_type><default_value>false</default_value></attribute>
</attributes></label><label><name>dog</name></label></labels></project></meta>
"""

LABELS = [{"name": "car", "attributes": [
    {"name": "num", "input_type": "number", "mutable": False, "default_value": "0",
     "values": ["0", "10", "1"]},
    {"name": "txt", "input_type": "text", "mutable": False, "default_value": "", "values": []},
    {"name": "chk", "input_type": "checkbox", "mutable": False, "default_value": "false",
     "values": ["false", "true"]}]}, {"name": "dog"}]


def _jpeg(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h)).save(buf, "JPEG")
    return buf.getvalue()


def _zip(body: str, images: dict[str, tuple[int, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("annotations.xml", META + body + "</annotations>")
        for name, (w, h) in images.items():
            zf.writestr(name, _jpeg(w, h))
    return buf.getvalue()


def _import(api: Api, project_id: int, blob: bytes) -> dict[str, Any]:
    resp = api.call("POST", f"/api/projects/{project_id}/dataset/",
                    params={"format": "CVAT 1.1"}, files={"dataset_file": ("d.zip", blob)})
    assert resp.status_code == 202, resp.text
    return api.wait(resp.json()["rq_id"])


def _project(api: Api) -> int:
    return int(api.post("/api/projects", json={"name": "p", "labels": LABELS})["id"])


def _tasks(api: Api, project_id: int) -> list[dict[str, Any]]:
    return list(api.get("/api/tasks", params={"project_id": project_id})["results"])


def test_one_task_per_subset_from_the_zips_images_with_the_documented_losses(api: Api) -> None:
    body = """
<image id="0" name="b.jpg" subset="train" width="8" height="6">
  <box label="car" source="auto" occluded="1" xtl="0.1" ytl="0" xbr="0.7" ybr="2" group_id="5">
    <attribute name="num">0</attribute><attribute name="txt">true</attribute>
    <attribute name="chk">true</attribute></box>
  <polygon label="dog" points="0,0;1,1;2,0" group_id="7"/>
  <polyline label="dog" points="0,0;1,1" group_id="7"/>
  <points label="dog" occluded="1" points="1,1"/>
  <ellipse label="dog" cx="3" cy="3" rx="1" ry="1"/>
</image>
<image id="1" name="a.jpg" subset="val" width="4" height="4"/>
"""
    pid = _project(api)
    status = _import(api, pid, _zip(body, {"images/train/b.jpg": (8, 6),
                                           "images/train/a.jpg": (5, 5),
                                           "images/val/a.jpg": (4, 4)}))
    assert status["status"] == "finished", status["message"]
    tasks = {t["subset"]: t for t in _tasks(api, pid)}
    assert set(tasks) == {"train", "val"}, "no default task: its item has no image"
    assert tasks["train"]["name"] == "train" and tasks["train"]["size"] == 2
    frames = api.get(f"/api/tasks/{tasks['train']['id']}/data/meta")["frames"]
    assert [f["name"] for f in frames] == ["a.jpg", "b.jpg"]  # sorted, as CVAT's task creation
    ann = api.get(f"/api/tasks/{tasks['train']['id']}/annotations")
    labels = {lb["id"]: lb for lb in api.get("/api/labels", params={"project_id": pid})["results"]}
    specs = {a["id"]: a["name"] for lb in labels.values() for a in lb["attributes"]}
    shapes = {s["type"]: s for s in ann["shapes"]}
    assert set(shapes) == {"rectangle", "polygon", "polyline", "points"}  # ellipse skipped
    box = shapes["rectangle"]
    assert box["frame"] == 1 and box["source"] == "manual" and box["occluded"] is True
    assert box["group"] == 0  # a one-member group is dropped
    assert box["points"] == [0.1, 0.0, 0.1 + (0.7 - 0.1), 2.0]  # Bbox(x, y, w, h).points
    values = {specs[a["spec_id"]]: a["value"] for a in box["attributes"]}
    assert values == {"num": "0.0", "txt": "True", "chk": "true"}
    assert shapes["polygon"]["group"] == shapes["polyline"]["group"] == 1  # 7 renumbered
    assert shapes["points"]["occluded"] is False  # occluded <points> become visibility only


def test_a_bare_xml_or_an_unknown_label_fails_and_leaves_nothing(api: Api) -> None:
    pid = _project(api)
    bare = _import(api, pid, (META + "</annotations>").encode())
    assert bare["status"] == "failed"
    assert "NoMediaInAnnotationFileError" in bare["message"]
    body = '<image id="0" name="a.jpg" subset="train" width="4" height="4">' \
           '<box label="cat" xtl="0" ytl="0" xbr="1" ybr="1"/></image>'
    failed = _import(api, pid, _zip(body, {"images/train/a.jpg": (4, 4)}))
    assert failed["status"] == "failed"
    assert failed["message"].startswith(
        "cvat.apps.dataset_manager.bindings.CvatImportError: Image a: can't import "
        "annotation #0 (bbox): annotation has no label")
    assert _tasks(api, pid) == []
    other = int(api.post("/api/projects", json={"name": "q", "labels": [{"name": "car"}]})["id"])
    missing = _import(api, other, _zip("", {"images/train/a.jpg": (4, 4)}))
    assert missing["status"] == "failed"
    assert 'Target project does not have label with name "dog"' in missing["message"]
    assert _tasks(api, other) == []


def test_a_tag_loses_its_image_subset_and_the_import_fails(api: Api) -> None:
    """CvatExtractor sets the subset from each ``<tag>``'s own (absent) ``subset`` attribute:
    the image's description lands in subset ``default``, whose item has no image in the zip,
    so the task of that subset cannot be created and nothing is imported."""
    pid = _project(api)
    body = '<image id="0" name="a.jpg" subset="train" width="4" height="4"><tag label="dog"/>' \
           '</image>'
    failed = _import(api, pid, _zip(body, {"images/train/a.jpg": (4, 4)}))
    assert failed["status"] == "failed"
    assert _tasks(api, pid) == []
