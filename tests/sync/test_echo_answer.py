"""The answer to a new task's labels' PUT, checked for an echo on its decoded JSON (``echoed_ids``)
with the id map matched before it (``EchoIdMap``), leaves the record the models' way leaves:
validating the answer, ``build_id_map`` and ``echoes``."""

from __future__ import annotations

from typing import Any

import pytest

import annosync.sync.create as create_mod

from .conftest import Workspace
from .test_upload_parts import _record_view, _server_view

SCHEMA = {"ground_truth": {}, "scene_tags": {}, "weather": {}, "lanes": {}, "num_cars": {}}


def _ids_view(ws: Workspace) -> list[tuple[Any, ...]]:
    """The id map with each CVAT id as its rank among the task's ids of its kind (CVAT gives
    them in the order sent): which object got which id, comparable across tasks."""
    (task,) = ws.record.tasks
    assert task.id_map is not None
    ranks = {kind: sorted(e.cvat_id for e in task.id_map.entries if e.kind == kind)
             for kind in ("tag", "shape")}
    return [(e.kind, ranks[e.kind].index(e.cvat_id), e.field, e.label_id, e.index, e.part,
             e.frame) for e in task.id_map.entries]


@pytest.mark.parametrize("schema", [SCHEMA, {"ground_truth": {}}], ids=["fields", "boxes"])
def test_an_echo_read_from_json_leaves_the_record_of_the_models_way(
        workspaces: list[Workspace], server: Any, tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch, schema: dict[str, Any]) -> None:
    fast = Workspace(tmp_path / "fast", server)
    slow = Workspace(tmp_path / "slow", server)
    workspaces.extend([fast, slow])
    matched: list[int] = []
    original = create_mod.build_id_map

    def spy(*a: Any, **k: Any) -> Any:
        matched.append(1)
        return original(*a, **k)

    monkeypatch.setattr(create_mod, "build_id_map", spy)
    for ws in (fast, slow):
        (tmp_path / ws.root.name).mkdir()
        ws.copy("street")
        ws.manifest(label_schema=schema)
    fast.run()
    assert matched == []  # the answer was read as an echo: no matching after it
    monkeypatch.setattr(create_mod, "echoed_ids", lambda *a, **k: None)
    slow.run()
    assert matched == [1]
    assert _record_view(fast) == _record_view(slow)
    assert _ids_view(fast) == _ids_view(slow)
    assert _ids_view(fast)  # (something to compare)
    assert _server_view(fast) == _server_view(slow)
    for ws in (fast, slow):
        assert not ws.plan().has_changes
