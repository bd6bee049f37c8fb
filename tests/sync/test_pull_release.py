"""A pull holds one task's run-record shard at a time, not every task it touches (issue 11:
pull memory flat). Counted as base entries and id maps in memory when apply starts and after
its save (not RSS, not time), on a run of several tasks whose jobs all changed; the outcome is
the same as before: the files written, the record saved, the next plan has nothing to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from annosync.sync import apply as apply_mod
from annosync.sync import shards as shards_mod

from .conftest import Workspace
from .test_flat_memory import (
    FIRSTS,
    KEYS,
    TASKS,
    assert_nothing_to_do,
    make_run,
    move_one_box_per_task,
)


def test_pull_lets_go_of_each_tasks_shard_but_the_changed_samples(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    make_run(ws)
    before = {k: ws.folder.label_path(k).read_bytes() for k in KEYS}
    move_one_box_per_task(ws)
    seen: dict[str, Any] = {}
    original = apply_mod.sync_labels

    def counting(session: Any, work: Any, *a: Any, **k: Any) -> Any:
        record = session.record
        store = record._store

        def held() -> tuple[list[str], int, set[Any]]:
            return (sorted(dict.keys(record.base)),
                    sum(1 for t in record.tasks if t.__dict__.get("id_map") is not None),
                    set(store.loaded))

        seen["apply"] = held()
        out = original(session, work, *a, **k)
        seen["saved"] = held()
        return out

    reads: list[Path] = []
    real_read = shards_mod.read_shard_bytes
    monkeypatch.setattr(shards_mod, "read_shard_bytes",
                        lambda path: reads.append(path) or real_read(path))
    monkeypatch.setattr(apply_mod, "sync_labels", counting)
    rp, result = ws.run(mode="pull")
    assert len(rp.jobs_changed) == TASKS and rp.pull_counts.total == TASKS
    assert sorted(result.written) == FIRSTS
    # when apply starts and after its save: the changed samples' entries, no id map, no
    # whole shard (before: every sample's entries and the id map of every task touched)
    assert seen["apply"] == (FIRSTS, 0, set())
    assert seen["saved"] == (FIRSTS, 0, set())
    assert len(reads) == TASKS  # each shard read once (the save reads its bytes again)
    for key in KEYS:
        changed = ws.folder.label_path(key).read_bytes() != before[key]
        assert changed == (key in FIRSTS)
    monkeypatch.undo()
    assert_nothing_to_do(ws)
