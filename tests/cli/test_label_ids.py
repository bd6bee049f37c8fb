"""Labels without ``_id`` (written by hand or a converter) get ids saved before any upload.

The defect (issue 12): the ids given at upload were never saved, so every later plan read fresh
ids and showed each such label as deleted + added; one id-less label in a big dataset was
deleted and re-uploaded in CVAT on every sync, and once an annotator edited it, every sync
stopped on a conflict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .conftest import Workspace


def strip_ids(path: Path, field: str = "ground_truth") -> int:
    """Remove ``_id`` from every label of ``field``; returns how many."""
    raw = json.loads(path.read_text())
    labels = raw["fields"][field]["detections"]
    for label in labels:
        label.pop("_id", None)
    path.write_text(json.dumps(raw, indent=1))
    return len(labels)


def ids_of(path: Path, field: str = "ground_truth") -> list[str | None]:
    raw = json.loads(path.read_text())
    return [d.get("_id") for d in raw["fields"][field]["detections"]]


def shape_count(ws: Workspace) -> int:
    return len(ws.annotator.shapes(ws.task_id()))


def cvat_label_ids(ws: Workspace) -> set[str]:
    """The ``label_id`` attribute of every CVAT shape of the run's task."""
    specs = {attr.id: attr.name for label in ws.emu.state.labels.values()
             for attr in label.attributes}
    out: set[str] = set()
    for shape in ws.annotator.shapes(ws.task_id()):
        for a in shape["attributes"]:
            if specs.get(a["spec_id"]) == "label_id":
                out.add(a["value"])
    return out


def test_idless_labels_get_saved_ids_and_are_never_pushed_again(ws: Workspace) -> None:
    ws.manifest()
    files = [ws.folder.label_path(k) for k in ("0001", "0003")]
    stripped = sum(strip_ids(p) for p in files)
    assert stripped == 6

    res = ws.invoke("sync")
    assert res.exit_code == 0, res.output
    saved = [i for p in files for i in ids_of(p)]
    assert None not in saved and len(set(saved)) == stripped
    assert cvat_label_ids(ws) == set(saved)  # CVAT holds exactly the ids the files hold

    res = ws.invoke("plan")
    assert res.exit_code == 0, res.output  # before the fix: 6 deleted + 6 added
    before = shape_count(ws)
    res = ws.invoke("sync")
    assert res.exit_code == 0 and "pushed" not in res.output, res.output
    assert shape_count(ws) == before


def test_one_idless_label_added_later_is_pushed_once(ws: Workspace) -> None:
    ws.manifest()
    assert ws.invoke("sync").exit_code == 0
    path = ws.folder.label_path("0001")
    raw: dict[str, Any] = json.loads(path.read_text())
    raw["fields"]["ground_truth"]["detections"].append(
        {"_type": "detection", "label": "car", "bounding_box": [0.1, 0.1, 0.2, 0.2]})
    path.write_text(json.dumps(raw))
    before = shape_count(ws)

    res = ws.invoke("sync")
    assert res.exit_code == 0, res.output
    assert "pushed 1 new, 0 updated, 0 deleted" in res.output
    assert None not in ids_of(path)
    for _ in range(2):  # never deleted and re-uploaded again
        res = ws.invoke("sync")
        assert res.exit_code == 0 and "pushed" not in res.output, res.output
    assert shape_count(ws) == before + 1

    # an annotator edits it in CVAT: the next sync takes the edit, no conflict
    new = max(ws.annotator.shapes(ws.task_id()), key=lambda s: s["id"])
    x1, y1, x2, y2 = new["points"]
    ws.annotator.update_shape(new["id"], points=[x1 + 4, y1, x2 + 4, y2])
    res = ws.invoke("sync")
    assert res.exit_code == 0, res.output
    assert "0 conflicts" in res.output and "wrote 1 label file(s)" in res.output
    assert ws.invoke("plan").exit_code == 0


def test_ids_lost_by_an_older_version_are_taken_back(ws: Workspace) -> None:
    """A dataset synced by a version that never saved the ids: the labels take back the ids
    CVAT knows them by (matched by content against the run record), nothing is re-uploaded."""
    ws.manifest()
    assert ws.invoke("sync").exit_code == 0
    path = ws.folder.label_path("0003")
    original = ids_of(path)
    strip_ids(path)
    before = shape_count(ws)

    res = ws.invoke("sync")
    assert res.exit_code == 0, res.output
    assert ids_of(path) == original
    assert "pushed" not in res.output and shape_count(ws) == before
    assert ws.invoke("plan").exit_code == 0


def test_plan_warns_and_a_saved_plan_is_refused(ws: Workspace) -> None:
    ws.manifest()
    path = ws.folder.label_path("0001")
    strip_ids(path)
    res = ws.invoke("plan", "-o", "plan.json")
    assert res.exit_code == 2
    assert "have no `_id`" in res.output and "annosync fmt" in res.output
    assert None in ids_of(path)  # plan writes nothing

    res = ws.invoke("apply", "plan.json")
    assert res.exit_code == 1
    assert "without `_id`" in res.output and "annosync fmt" in res.output
    assert "Traceback" not in res.output
    assert ws.emu.state.tasks == {} or all(
        ws.anno_key not in t.name for t in ws.emu.state.tasks.values())
