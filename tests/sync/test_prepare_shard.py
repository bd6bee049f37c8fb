"""A task's shard serialized ahead of the save that records its bases (``prepare_shard``, while
CVAT stores a new task's labels): the save writes the bytes of a record serialized from
scratch, and copies the prepared samples' bytes instead of serializing them again."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.convert.id_map import IdEntry, TaskIdMap
from annosync.sync import record as record_mod
from annosync.sync.merge import BaseEntry
from annosync.sync.record import RunRecord, SampleRef, TaskRecord, prepare_shard

from .test_record_shards import assert_saved_as_from_scratch, base_fields, run_records


@settings(max_examples=80, deadline=None)
@given(record=run_records(), data=st.data())
def test_a_shard_prepared_ahead_saves_as_from_scratch(record: RunRecord, data: Any) -> None:
    """Prepared with the bases the task then holds, or with others (a guess the answer did not
    confirm), before or after a save: what a save writes is what nothing remembered writes."""
    if not record.tasks:
        return
    if data.draw(st.booleans()):
        record_mod._serialize(record)
    part = data.draw(st.integers(0, len(record.tasks) - 1))
    held = {k: v for k, v in record.base.items()
            if k in record.samples and record.samples[k].task == part}
    ahead = held if data.draw(st.booleans()) else data.draw(st.dictionaries(
        st.sampled_from(record.tasks[part].samples), base_fields))
    prepare_shard(record, part, ahead)
    assert_saved_as_from_scratch(record)


def test_the_save_copies_the_prepared_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    record = RunRecord(anno_key="run")
    keys = [f"k{n}" for n in range(3)]
    record.tasks.append(TaskRecord(index=0, name="t0", id=1, samples=keys))
    for frame, key in enumerate(keys):
        record.samples[key] = SampleRef(task=0, frame=frame)
    bases = {k: {"ground_truth": {f"l{k}": BaseEntry.of({"label": "abcd"}, {"label": "abcd"})}} for k in keys}
    record_mod._serialize(record)  # the task created: nothing to write yet
    prepare_shard(record, 0, bases)
    serialized: list[Any] = []
    real = record_mod._fields_text

    def spy(fields: Any) -> str:
        serialized.append(fields)
        return real(fields)

    monkeypatch.setattr(record_mod, "_fields_text", spy)
    record.base.update(bases)
    record.tasks[0].id_map = TaskIdMap(task_id=1, entries=[IdEntry("shape", 5, "ground_truth",
                                                                   "lk0")])
    record_mod._serialize(record)
    assert serialized == []  # each sample's bytes copied from the prepared shard
    assert_saved_as_from_scratch(record)
