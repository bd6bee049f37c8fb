"""End to end (emulator or real CVAT): scalars, media_field, occluded and group id widgets, dest_field,
several fields at once, unexpected labels, provenance when CVAT clears ``label_id``."""

from __future__ import annotations

import hashlib
import json

import pytest

from annosync.errors import StateError
from annosync.model.labels import Detections

from .conftest import Workspace
from .test_e2e_images import boxes, shape_of


def test_scalar_fields_with_and_without_classes(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(samples={"keys": ["0001"]}, label_schema={
        "scalar1": {"type": "scalar"},
        "scalar2": {"type": "scalar", "classes": ["class1", "class2"]},
    })
    ws.run()
    (task_id,) = ws.task_ids()
    ws.annotator.add_tag(task_id, frame=0, label="scalar1", attributes={"value": "hello"})
    ws.annotator.add_tag(task_id, frame=0, label="class2")
    ws.run()
    fields = ws.sample("0001").fields
    assert fields["scalar1"] == "hello" and fields["scalar2"] == "class2"
    assert not ws.plan().has_changes


def test_existing_scalar_edits_round_trip(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(samples={"keys": ["0001"]}, label_schema={"num_cars": {}, "reviewed": {}})
    before = ws.sample("0001").fields
    ws.run()
    assert not ws.plan().has_changes
    sample = ws.sample("0001")
    sample.fields["num_cars"] = int(before["num_cars"]) + 1
    ws.save("0001", sample)
    _, result = ws.run()
    assert result.pushed.created + result.pushed.updated == 1
    assert not ws.plan().has_changes
    assert ws.sample("0001").fields["reviewed"] == before["reviewed"]


def test_media_field_uploads_the_alternate_media(ws: Workspace) -> None:
    dataset = ws.copy("street")
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001"]},
                media_field="alt_filepath")
    ws.run()
    (task_id,) = ws.task_ids()
    alt = ws.sample("0001").fields["alt_filepath"]
    blurred = (dataset / alt).read_bytes()
    original = (dataset / ws.sample("0001").media).read_bytes()
    # the frames CVAT serves in original quality are the uploaded files, byte for byte
    size = int(ws.api.get_task(task_id)["size"])
    stored = {hashlib.sha256(ws.frame(task_id, n)).hexdigest() for n in range(size)}
    assert hashlib.sha256(blurred).hexdigest() in stored
    assert hashlib.sha256(original).hexdigest() not in stored


def test_occluded_widget_round_trip(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(samples={"keys": ["0001"]}, label_schema={
        "ground_truth": {"attributes": {"occluded": {"type": "occluded"}}}})
    ws.run()
    label_id = next(iter(boxes(ws, "0001")))
    shape = shape_of(ws, label_id)
    assert shape["occluded"] is False
    ws.annotator.update_shape(shape["id"], occluded=True)
    ws.run()
    assert boxes(ws, "0001")[label_id].attributes["occluded"] is True


def test_occluded_attr_and_group_id_attr_options(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(samples={"keys": ["0001"]}, label_field="ground_truth",
                cvat={"occluded_attr": "is_occluded", "group_id_attr": "group_value"})
    ws.run()
    ids = list(boxes(ws, "0001"))
    ws.annotator.update_shape(shape_of(ws, ids[0])["id"], occluded=True, group=3)
    ws.annotator.update_shape(shape_of(ws, ids[1])["id"], group=3)
    ws.run()
    after = boxes(ws, "0001")
    assert after[ids[0]].attributes["is_occluded"] is True
    assert after[ids[0]].attributes["group_value"] == after[ids[1]].attributes["group_value"] == 3


def test_group_id_attribute_type(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(samples={"keys": ["0001"]}, label_schema={
        "ground_truth": {"attributes": {"group_id": {"type": "group_id"}}}})
    ws.run()
    ids = list(boxes(ws, "0001"))
    for label_id in ids[:2]:
        ws.annotator.update_shape(shape_of(ws, label_id)["id"], group=7)
    ws.run()
    after = boxes(ws, "0001")
    assert [after[i].attributes["group_id"] for i in ids[:2]] == [7, 7]


def test_dest_field_keeps_the_source_for_comparison(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001"]},
                load={"dest_field": "reviewed_gt"})
    before = ws.sample("0001").fields["ground_truth"]
    ws.run()
    label_id = next(iter(boxes(ws, "0001")))
    ws.annotator.update_shape(shape_of(ws, label_id)["id"], points=[1, 1, 40, 40])
    ws.run()
    fields = ws.sample("0001").fields
    assert fields["ground_truth"] == before
    dest = fields["reviewed_gt"]
    assert isinstance(dest, Detections)
    moved = {d.id: d for d in dest.detections}[label_id]
    assert moved.bounding_box != {d.id: d for d in before.detections}[label_id].bounding_box


def test_multiple_fields_in_one_task(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(samples={"keys": ["0001"]}, label_schema={
        "ground_truth": {},
        "new_keypoints": {"type": "keypoints", "classes": ["person", "car"]},
    })
    ws.run()
    (task_id,) = ws.task_ids()
    names = {lb["name"] for lb in ws.labels(task_id)}
    # classes in both fields are disambiguated with the field name, as the reference does
    assert {"car_ground_truth", "car_new_keypoints", "person_new_keypoints"} <= names
    ws.annotator.add_shape(task_id, frame=0, label="person_new_keypoints", type="points",
                           points=[10, 10, 20, 20])
    ws.run()
    kps = ws.sample("0001").fields["new_keypoints"]
    assert [k.label for k in kps.keypoints] == ["person"]
    assert len(kps.keypoints[0].points) == 2


def test_unexpected_labels_are_kept_returned_or_ignored(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001"]},
                load={"unexpected": "keep"})
    ws.run()
    (task_id,) = ws.task_ids()
    cls = next(iter(boxes(ws, "0001").values())).label
    # a polyline where the field holds detections: the wrong type
    ws.annotator.add_shape(task_id, frame=0, label=cls, type="polyline",
                           points=[1, 1, 20, 20, 40, 5])
    plan, result = ws.run()
    assert plan.unexpected == 1 and len(result.unexpected) == 1
    kept = ws.sample("0001").fields.get("polylines")
    assert kept is not None and [p.label for p in kept.polylines] == [cls]
    # seen again after another change in the job: still stored once
    ws.annotator.add_shape(task_id, frame=0, label=cls, type="rectangle", points=[2, 2, 9, 9])
    ws.run()
    assert len(ws.sample("0001").fields["polylines"].polylines) == 1


def test_unexpected_return_writes_a_report(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001"]},
                load={"unexpected": "prompt"})  # no terminal in tests: behaves as "return"
    ws.run()
    (task_id,) = ws.task_ids()
    cls = next(iter(boxes(ws, "0001").values())).label
    ws.annotator.add_shape(task_id, frame=0, label=cls, type="points", points=[3, 3])
    _, result = ws.run()
    report = ws.folder.state_dir / "unexpected" / f"{ws.anno_key}.json"
    assert report.is_file() and len(json.loads(report.read_text())) == len(result.unexpected) == 1
    assert "points" not in ws.sample("0001").fields


def test_class_change_that_clears_label_id_falls_back_to_the_id_map(ws: Workspace) -> None:
    """CVAT clears attributes (label_id included) on a class change to a label with another
    attribute schema; the run's id map still knows which label the shape is."""
    ws.copy("street")
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001"]}, attributes=False,
                classes=[{"classes": ["car"], "attributes": {"make": {"type": "text"}}},
                         "person", "truck"])
    ws.run()
    cars = [i for i, d in boxes(ws, "0001").items() if d.label == "car"]
    shape = shape_of(ws, cars[0])
    changed = ws.annotator.change_label(shape["id"], "person")
    assert not any(a["value"] == cars[0] for a in changed["attributes"])  # label_id is gone
    plan, _ = ws.run()
    after = boxes(ws, "0001")
    assert after[cars[0]].label == "person"  # same label, same id: provenance kept
    assert plan.pull_counts.add == 0 and plan.pull_counts.delete == 0




def test_dest_field_never_overwrites_another_kind_of_value(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001"]},
                load={"dest_field": "reviewed"})  # a boolean field in the fixture
    before = ws.sample("0001").fields["reviewed"]
    ws.run()
    label_id = next(iter(boxes(ws, "0001")))
    ws.annotator.update_shape(shape_of(ws, label_id)["id"], points=[1, 1, 40, 40])
    plan = ws.plan()
    assert plan.error and "dest_field 'reviewed' already holds" in plan.error
    with pytest.raises(StateError, match="dest_field"):
        ws.run()
    assert ws.sample("0001").fields["reviewed"] == before
