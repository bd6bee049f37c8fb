"""A pull gives the heap pages a converted task freed back to the system, once per task CVAT
changed (``refresh.give_back_freed_memory``): the peak of a pull touching many tasks stays near
one task's conversion. Memory itself is measured by benchmarks/bench_memory.py, not here."""

from __future__ import annotations

import pytest

from annosync.sync import refresh
from tests.cli.conftest import Workspace


def test_a_pull_gives_freed_memory_back_after_each_changed_task(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = ws.manifest()
    assert ws.invoke("sync", str(manifest), "-q").exit_code == 0
    calls: list[int] = []
    monkeypatch.setattr(refresh, "give_back_freed_memory", lambda: calls.append(1))
    assert ws.invoke("pull", str(manifest), "-q").exit_code == 0
    assert calls == []  # nothing changed in CVAT: nothing converted
    shape = ws.annotator.shapes(ws.task_id())[0]
    ws.annotator.update_shape(shape["id"], points=[p + 5 for p in shape["points"]])
    assert ws.invoke("pull", str(manifest), "-q").exit_code == 0
    assert calls == [1]  # the one task CVAT changed


def test_giving_memory_back_is_harmless_where_it_runs() -> None:
    refresh.give_back_freed_memory()
    refresh.give_back_freed_memory()  # looked up once, called again
    assert refresh._trim is False or callable(refresh._trim)
