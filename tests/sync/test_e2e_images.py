"""End to end (emulator or real CVAT): the reference's image workflows, two-way sync, conflicts."""

from __future__ import annotations

from typing import Any

import pytest

from annosync.errors import ConflictError, StateError
from annosync.model.labels import Classification, Detection, Detections

from .conftest import Workspace


def shape_of(ws: Workspace, label_id: str) -> dict[str, Any]:
    """The CVAT shape carrying a label id (its ``label_id`` attribute)."""
    for task_id in ws.task_ids():
        for shape in ws.annotator.shapes(task_id):
            if any(a["value"] == label_id for a in shape["attributes"]):
                return shape
    raise AssertionError(f"no CVAT shape carries label {label_id}")


def label_name(ws: Workspace, shape: dict[str, Any]) -> str:
    return str(ws.api.get_label(shape["label_id"])["name"])


def attribute_names(ws: Workspace) -> set[str]:
    return {a["name"] for label in ws.labels(ws.task_ids()[0]) for a in label["attributes"]}


def boxes(ws: Workspace, key: str, field: str = "ground_truth") -> dict[str, Detection]:
    value = ws.sample(key).fields.get(field)
    return {d.id: d for d in value.detections} if value else {}


def test_basic_recipe_round_trip(ws: Workspace) -> None:
    """Select by query, upload existing labels, an annotator edits, plan shows it, pull merges."""
    ws.copy("street")
    ws.manifest(
        samples={
            "where": "length(fields.predictions.detections[?confidence > `0.8` && "
                     "attributes.eval == 'fp']) > `0`",
            "sort_by": "length(fields.predictions.detections[?attributes.eval == 'fp'])",
            "reverse": True, "limit": 1,
        },
        label_field="ground_truth", attributes=["iscrowd"],
    )
    plan, result = ws.run()
    assert plan.is_new and len(plan.create_tasks) == 1 and plan.create_tasks[0].samples == 1
    (key,) = ws.record.samples
    before = boxes(ws, key)
    assert len(result.created_tasks) == 1

    again = ws.plan()
    assert not again.has_changes and not again.jobs_changed  # nothing downloaded

    edited, deleted = list(before)[:2]
    a = ws.annotator
    task_id = ws.task_ids()[0]
    a.update_shape(shape_of(ws, edited)["id"], points=[10, 20, 60, 80])
    a.delete(shape_of(ws, deleted)["id"])
    cls = before[edited].label
    a.add_shape(task_id, frame=0, label=cls, type="rectangle", points=[5, 5, 25, 45],
                attributes={"iscrowd": True})

    plan = ws.plan()
    (change,) = plan.samples
    assert (change.pull.add, change.pull.edit, change.pull.delete) == (1, 1, 1)
    assert not change.push.total and not plan.conflicts

    ws.run()
    after = boxes(ws, key)
    assert deleted not in after
    width, height = ws.sample(key).metadata.width, ws.sample(key).metadata.height
    x, y, w, h = after[edited].bounding_box
    assert (x * width, y * height, (x + w) * width, (y + h) * height) == pytest.approx((10, 20, 60, 80))
    new = [d for i, d in after.items() if i not in before]
    assert [(d.label, d.attributes.get("iscrowd")) for d in new] == [(cls, True)]
    # attributes that were not uploaded survive the merge
    assert after[edited].attributes.get("make") == before[edited].attributes.get("make")
    assert not ws.plan().has_changes


def test_unchanged_run_downloads_nothing_and_is_byte_stable(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth")
    ws.run()
    keys = list(ws.folder.keys())
    files = {k: ws.folder.read_bytes(k) for k in keys}
    record = (ws.folder.state_dir / "runs" / f"{ws.anno_key}.json").read_bytes()
    for _ in range(2):
        plan, result = ws.run()
        assert not plan.has_changes and not plan.jobs_changed and not result.written
    assert {k: ws.folder.read_bytes(k) for k in keys} == files
    assert (ws.folder.state_dir / "runs" / f"{ws.anno_key}.json").read_bytes() == record


def test_two_way_sync_pushes_local_edits(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001"]})
    ws.run()
    sample = ws.sample("0001")
    gt = sample.fields["ground_truth"]
    first = gt.detections[0]
    gt.detections[0] = first.model_copy(update={"label": "truck"})
    added = Detection(label="person", bounding_box=(0.5, 0.5, 0.1, 0.2))
    gt.detections.append(added)
    removed = gt.detections.pop(1) if len(gt.detections) > 2 else None
    ws.save("0001", sample)

    plan = ws.plan()
    (change,) = plan.samples
    assert change.push.add == 1 and change.push.edit == 1 and change.pull.total == 0
    _, result = ws.run()
    assert result.pushed.created == 1 and result.pushed.updated == 1
    # CVAT now holds the local version
    assert label_name(ws, shape_of(ws, first.id)) == "truck"
    assert label_name(ws, shape_of(ws, added.id)) == "person"
    if removed is not None:
        with pytest.raises(AssertionError):
            shape_of(ws, removed.id)
    assert not ws.plan().has_changes


def test_pull_only_leaves_local_edits_pending(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001"]})
    ws.run()
    sample = ws.sample("0001")
    sample.fields["ground_truth"].detections.pop()
    ws.save("0001", sample)
    _, result = ws.run(mode="pull")
    assert not result.pushed.deleted
    assert ws.plan().push_counts.delete == 1  # still pending for the next sync
    ws.run()
    assert not ws.plan().has_changes


def test_new_classification_field(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(label_field="scene", label_type="classification",
                classes=["sunny", "rain"], samples={"keys": ["0001", "0002"]})
    ws.run()
    task_id = ws.task_ids()[0]
    ws.annotator.add_tag(task_id, frame=1, label="rain")
    ws.run()
    assert ws.sample("0001").fields.get("scene") is None
    weather = ws.sample("0002").fields["scene"]
    assert isinstance(weather, Classification) and weather.label == "rain"


def test_restrictions_are_enforced_on_load(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001"]}, allow_additions=False,
                allow_deletions=False, allow_label_edits=False, allow_spatial_edits=False,
                attributes={"iscrowd": {}})
    ws.run()
    before = boxes(ws, "0001")
    ids = list(before)
    a = ws.annotator
    a.update_shape(shape_of(ws, ids[0])["id"], points=[1, 1, 30, 30])
    a.delete(shape_of(ws, ids[1])["id"])
    a.add_shape(ws.task_ids()[0], frame=0, label="car", type="rectangle", points=[5, 5, 9, 9])
    plan, _ = ws.run()
    assert {r.reason.split(":")[0] for r in plan.rejections} >= {"spatial", "delete", "add"}
    assert boxes(ws, "0001") == before


def test_read_only_attributes_are_never_loaded(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001"]},
                attributes={"make": {"type": "text", "read_only": True},
                            "model": {"type": "text"}})
    ws.run()
    label_id, det = next(iter(boxes(ws, "0001").items()))
    shape = shape_of(ws, label_id)
    assert {"make", "model", "label_id"} <= attribute_names(ws)  # read-only is still sent
    ws.annotator.update_shape(shape["id"], attributes={"make": "changed", "model": "golf"})
    ws.run()
    after = boxes(ws, "0001")[label_id]
    assert after.attributes["make"] == det.attributes["make"]
    assert after.attributes["model"] == "golf"


def test_conflicts_fail_by_default_and_resolve_by_policy(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001"]})
    ws.run()
    label_id = next(iter(boxes(ws, "0001")))
    sample = ws.sample("0001")
    dets = sample.fields["ground_truth"].detections
    sample.fields["ground_truth"] = Detections(detections=[
        d.model_copy(update={"label": "truck"}) if d.id == label_id else d for d in dets])
    ws.save("0001", sample)
    ws.annotator.change_label(shape_of(ws, label_id)["id"], "person")

    plan = ws.plan()
    assert [(c.kind, c.aspects, c.resolution) for c in plan.conflicts] == [
        ("edit/edit", ["label"], "unresolved")]
    with pytest.raises(ConflictError):
        ws.run()
    assert boxes(ws, "0001")[label_id].label == "truck"  # nothing was written

    ws.run(conflicts="prefer-remote")
    assert boxes(ws, "0001")[label_id].label == "person"
    assert not ws.plan().has_changes


def test_max_delete_stops_a_wipe(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001"]})
    ws.run()
    for shape in ws.annotator.shapes(ws.task_ids()[0]):
        ws.annotator.delete(shape["id"])
    plan = ws.plan()
    assert plan.blocked and "max_delete" in plan.blocked[0]
    with pytest.raises(StateError):
        ws.run()
    assert boxes(ws, "0001")
    ws.run(force=True)
    assert not boxes(ws, "0001")


def test_cleanup_deletes_tasks_and_marks_the_run(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001"]},
                cvat={"project_name": f"p-{ws.anno_key}"})
    ws.run()
    task_ids = ws.task_ids()
    project_id = ws.record.project.id
    _, result = ws.run(mode="cleanup")
    assert result.cleaned == task_ids
    assert not any(ws.api.exists("tasks", t) for t in task_ids)
    assert project_id is not None and not ws.api.exists("projects", project_id)
    plan = ws.plan()
    assert not plan.has_changes and "cleaned up" in plan.warnings[0]
