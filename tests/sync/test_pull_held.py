"""What a pull holds once a task is merged (issue 11: pull memory flat in the tasks it touches).

Counted as live objects at the moment each task's shard is released (``RunRecord.release``,
right after the task is merged), on a run of several tasks whose jobs all changed: no task's
downloaded labels (``PulledSample``), no parsed sample beyond the changed ones apply writes, no
``os.stat_result`` or index entry per file read, and run-record shards loaded one at a time, in
the plan's thread (not RSS, not time). The outcome is the same: the changed files written, the
next plan has nothing to do.
"""

from __future__ import annotations

import gc
import os
import threading
from typing import Any

import pytest

from annosync.convert.results import PulledSample
from annosync.model.sample import Sample
from annosync.sync import index as index_mod
from annosync.sync import record as record_mod
from annosync.sync import shards as shards_mod

from .conftest import Workspace
from .test_flat_memory import (
    FIRSTS,
    KEYS,
    PER_TASK,
    TASKS,
    assert_nothing_to_do,
    make_run,
    move_one_box_per_task,
)


def live(kind: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is kind)


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """No write counts as racy: the index rows written by the run's creation are trusted, as
    they are for files older than two seconds (a pull reads files written long before)."""
    monkeypatch.setattr(index_mod, "RACY_NS", 0)


def test_a_merged_tasks_downloads_reads_and_stats_are_let_go_of(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch, settled: None) -> None:
    make_run(ws)
    ws.plan()  # the index and the clean memo as a user's earlier plan left them
    before = {k: ws.folder.label_path(k).read_bytes() for k in KEYS}
    move_one_box_per_task(ws)
    base = {kind: live(kind) for kind in (PulledSample, Sample, os.stat_result,
                                          index_mod.Entry)}
    seen: list[dict[type, int]] = []
    original = record_mod.RunRecord.release

    def counting(self: Any, part: Any, keep: Any) -> bool:
        out = original(self, part, keep)
        seen.append({kind: live(kind) - n for kind, n in base.items()})
        return out

    monkeypatch.setattr(record_mod.RunRecord, "release", counting)
    rp, result = ws.run(mode="pull")
    monkeypatch.undo()
    assert rp.pull_counts.total == TASKS and sorted(result.written) == FIRSTS
    assert len(seen) == TASKS
    for merged, counts in enumerate(seen, 1):
        # no task's downloaded labels once it is merged (before pu13: every task's)
        assert counts[PulledSample] == 0
        # the changed samples apply writes (merged and original: 2 each), not the files
        # read (before: the session's parsed cache kept every file the pull read)
        assert counts[Sample] <= 2 * merged < PER_TASK
        # no stat and no index entry per file read (before: one stat each, pinned until
        # the index is saved, and an entry each where the loaded row said the same)
        assert counts[os.stat_result] < PER_TASK
        assert counts[index_mod.Entry] < PER_TASK
    for key in KEYS:
        assert (ws.folder.label_path(key).read_bytes() != before[key]) == (key in FIRSTS)
    assert_nothing_to_do(ws)


def test_shards_load_one_at_a_time_in_the_plans_thread(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    make_run(ws)
    move_one_box_per_task(ws)
    loads: list[tuple[Any, int, bool]] = []
    original = shards_mod.ShardStore._load
    plan_thread: list[threading.Thread] = []

    def loading(self: Any, part: Any) -> None:
        original(self, part)
        loads.append((part, len(self.loaded), threading.current_thread() in plan_thread))

    monkeypatch.setattr(shards_mod.ShardStore, "_load", loading)
    plan_thread.append(threading.current_thread())
    rp, _ = ws.run(mode="pull")
    monkeypatch.undo()
    assert rp.pull_counts.total == TASKS
    assert sorted(p for p, _, _ in loads) == list(range(TASKS))  # each read once
    # one shard in memory at a time, loaded when its task's turn comes (before: each
    # task's shard loaded in a download thread while it waited, up to concurrency + 1)
    assert all(n == 1 and here for _, n, here in loads), loads
    assert_nothing_to_do(ws)
