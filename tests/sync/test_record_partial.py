"""Shards held in part (``RunRecord.release``): a pull lets go of each task's shard but for the
samples it will write, so that its memory is one task's shard, not every task it touched. What
is let go of is on disk only: every save must still write what a save from scratch writes, and
anything read again must be what it was."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annosync.convert.id_map import TaskIdMap
from annosync.sync import record as record_mod
from annosync.sync.merge import BaseEntry
from annosync.sync.record import (
    RunRecord,
    load_record,
    record_path,
    save_record,
    shard_dir,
)

from .test_record_shards import _big_record, base_fields, id_entries, run_records

ops = st.lists(st.tuples(
    st.sampled_from(["load", "read", "release", "set", "del", "id_map", "id_map_none", "save"]),
    st.integers(0, 10**6), st.integers(0, 2**8)), min_size=1, max_size=12)


def scratch_files(model: RunRecord, updated_at: str) -> tuple[bytes, dict[str, bytes]]:
    """The head and shards a record with ``model``'s content serializes to, remembering
    nothing of earlier saves."""
    model.updated_at = updated_at
    remembered, model._written = model._written, {}
    try:
        head, blobs, _ = record_mod._serialize(model, everything=True)
        return head, dict(blobs)
    finally:
        model._written = remembered


def on_disk(state: Path) -> tuple[bytes, dict[str, bytes]]:
    head = record_path(state, "run").read_bytes()
    folder = shard_dir(state, "run")
    return head, {p.name: p.read_bytes() for p in folder.glob("*.json")}


def step(loaded: RunRecord, model: RunRecord, kind: str, n: int, bits: int, draw: Any) -> None:
    """One operation, on the lazily loaded record and (what it means) on the plain model."""
    keys = [*sorted(model.samples), "stray"]
    key = keys[n % len(keys)]
    parts = [t.index for t in model.tasks]
    part = parts[n % len(parts)] if parts else None
    store = loaded._store
    assert store is not None
    if kind == "load" and part is not None:
        store.ensure(part)
    elif kind == "read":
        assert loaded.base.get(key) == model.base.get(key)
    elif kind == "release" and part is not None:
        task = model.tasks[part]
        keep = [k for i, k in enumerate(task.samples) if bits >> (i % 8) & 1]
        loaded.release(part, keep)
    elif kind == "set":
        fields = draw(base_fields)
        loaded.base[key] = fields
        model.base[key] = copy.deepcopy(fields)
    elif kind == "del":
        assert loaded.base.pop(key, None) == model.base.pop(key, None)
    elif kind in ("id_map", "id_map_none") and part is not None:
        id_map = None if kind == "id_map_none" else draw(st.builds(
            TaskIdMap, task_id=st.integers(1, 99), entries=st.lists(id_entries, max_size=3)))
        loaded.tasks[part].id_map = id_map
        model.tasks[part].id_map = copy.deepcopy(id_map)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=run_records(), steps=st.lists(ops, min_size=1, max_size=3), data=st.data())
def test_a_record_held_in_part_saves_as_from_scratch(tmp_path: Path, record: RunRecord,
                                                     steps: list[Any], data: Any) -> None:
    """After any sequence of shards loaded, read a key at a time, let go of but for some keys,
    entries set and deleted, id maps replaced, saved (or not) in between: each save writes
    byte for byte the head and shards of a record with that content serialized from scratch,
    and the record loaded again from disk equals it."""
    state = tmp_path / f"s{data.draw(st.integers(0, 10**9))}"
    save_record(state, record)
    model = copy.deepcopy(record)
    loaded = load_record(state, "run")
    assert loaded is not None
    for batch in steps:
        for kind, n, bits in batch:
            if kind == "save":
                save_record(state, loaded)
                assert on_disk(state) == scratch_files(model, loaded.updated_at)
            else:
                step(loaded, model, kind, n, bits, data.draw)
        save_record(state, loaded)
        assert on_disk(state) == scratch_files(model, loaded.updated_at)
        assert load_record(state, "run") == model
    assert loaded == model  # what it let go of comes back as it was


def test_a_released_shard_holds_only_the_kept_entries(tmp_path: Path) -> None:
    """Let go of a loaded 40-sample shard but for 3 keys: 3 entries stay in memory, the id map
    goes; a save writes the 3 changed samples from their entries, the other 37 and the id map
    from the old bytes, and reading a let-go key loads the shard again."""
    model = _big_record()
    save_record(tmp_path, copy.deepcopy(model))
    loaded = load_record(tmp_path, "run")
    assert loaded is not None and loaded._store is not None
    kept = ["000003", "000017", "000039"]
    for key in kept:
        assert loaded.base[key]
    assert loaded.release(0, kept)
    assert sorted(dict.keys(loaded.base)) == kept
    assert "id_map" not in loaded.tasks[0].__dict__
    assert loaded._store.partial == {0: set(kept)}
    for key in kept:  # what a pull does
        loaded.base[key] = {"gt": {"x": BaseEntry({"label": "ffff"})}}
    assert save_record(tmp_path, loaded)
    assert sorted(dict.keys(loaded.base)) == kept  # still held in part after the save
    for key in kept:
        model.base[key] = {"gt": {"x": BaseEntry({"label": "ffff"})}}
    assert on_disk(tmp_path) == scratch_files(model, loaded.updated_at)
    assert loaded.base["000000"] == model.base["000000"]  # let go of: loaded again
    assert 0 in loaded._store.loaded and loaded == model


def test_a_shard_held_in_part_changed_on_disk_is_an_error(tmp_path: Path) -> None:
    """The entries let go of are on disk only: a shard changed there is an error naming it,
    never a record written from what was in memory."""
    save_record(tmp_path, _big_record(5))
    loaded = load_record(tmp_path, "run")
    assert loaded is not None
    loaded.base["000001"] = {"gt": {"x": BaseEntry({"label": "ffff"})}}
    assert loaded.release(0, ["000001"])
    (path,) = shard_dir(tmp_path, "run").glob("*.json")
    path.write_bytes(path.read_bytes().replace(b"00aa", b"00ab"))
    head = record_path(tmp_path, "run").read_bytes()
    with pytest.raises(Exception, match="changed on disk"):
        save_record(tmp_path, loaded)
    assert record_path(tmp_path, "run").read_bytes() == head


def two_tasks() -> RunRecord:
    """Two tasks of 6 samples each, with id maps."""
    record = _big_record(12)
    first = record.tasks[0]
    second = copy.deepcopy(first)
    second.index, second.id, second.name, second.samples = 1, 8, "t1", first.samples[6:]
    first.samples = first.samples[:6]
    second.id_map = TaskIdMap(task_id=8, entries=first.id_map.entries[6:])  # type: ignore[union-attr]
    record.tasks.append(second)
    for frame, key in enumerate(second.samples):
        record.samples[key].task, record.samples[key].frame = 1, frame
    return record


def test_a_save_of_a_record_held_in_part_killed_anywhere_leaves_old_or_new(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Crash safety as before: a save stopped at any file leaves the old record or the new."""
    from .test_record_shards import dump, saved_or_crashed

    seen = set()
    for k in range(8):
        state = tmp_path / f"k{k}"
        model = two_tasks()
        save_record(state, copy.deepcopy(model))
        old = dump(load_record(state, "run"))  # type: ignore[arg-type]
        new = load_record(state, "run")
        assert new is not None
        for part, key in ((0, "000002"), (1, "000010")):
            assert new.base[key]
            new.base[key] = {"gt": {"x": BaseEntry({"label": "ffff"})}}
            model.base[key] = {"gt": {"x": BaseEntry({"label": "ffff"})}}
            assert new.release(part, [key])
        expected = dump(model)
        done = saved_or_crashed(monkeypatch, state, new, k)
        now = dump(load_record(state, "run"))  # type: ignore[arg-type]
        assert now in (old, expected)
        seen.add("new" if now == expected else "old")
        if done:
            break
    assert seen == {"old", "new"}
    assert not [p for p in tmp_path.rglob(".*.tmp")]
    assert os.path.exists(state)


def test_an_id_map_given_to_a_task_with_no_shard_is_saved(tmp_path: Path) -> None:
    """A record read from disk whose task had no shard (no entries, no id map), then given an
    id map alone: the save writes it (the lazy save used to drop it; found by the test above)."""
    from annosync.convert.id_map import IdEntry
    from annosync.sync.record import SampleRef, TaskRecord

    record = RunRecord(anno_key="run")
    record.tasks.append(TaskRecord(index=0, name="t", id=1, samples=["a"]))
    record.samples["a"] = SampleRef(task=0)
    save_record(tmp_path, record)
    loaded = load_record(tmp_path, "run")
    assert loaded is not None
    id_map = TaskIdMap(task_id=1, entries=[IdEntry("shape", 5, "gt", "x")])
    loaded.tasks[0].id_map = id_map
    save_record(tmp_path, loaded)
    again = load_record(tmp_path, "run")
    assert again is not None and again.tasks[0].id_map == id_map
