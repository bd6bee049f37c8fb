"""``IdEntry`` is a plain slotted class (a run holds one per label): for any input it accepts
and refuses what the pydantic model it replaced did, gives the same values and the same JSON,
in a task's id map read from JSON or from Python objects."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from annosync.convert.id_map import IdEntry, TaskIdMap


class ModelEntry(BaseModel):  # the reference: IdEntry as it was
    model_config = ConfigDict(extra="forbid")

    kind: Literal["tag", "shape", "track"]
    cvat_id: int
    field: str
    label_id: str | None = None
    index: int | None = None
    part: int = 0
    frame: int | None = Field(default=None)


class ModelMap(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: int
    entries: list[ModelEntry] = Field(default_factory=list)


values = st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=3), st.booleans(),
                   st.floats(allow_nan=False, width=32), st.sampled_from(["tag", "shape", "7"]))
keys = st.sampled_from(["kind", "cvat_id", "field", "label_id", "index", "part", "frame", "x"])
entries = st.one_of(
    st.dictionaries(keys, values, max_size=8),
    st.fixed_dictionaries(
        {"kind": st.sampled_from(["tag", "shape", "track"]), "cvat_id": st.integers(0, 9),
         "field": st.text(max_size=2)},
        optional={"label_id": st.one_of(st.none(), st.text(max_size=2)),
                  "index": st.one_of(st.none(), st.integers(0, 3)), "part": st.integers(0, 2),
                  "frame": st.one_of(st.none(), st.integers(0, 3))}),
)


def outcome(cls: type[BaseModel], data: Any, as_json: bool) -> Any:
    try:
        model = cls.model_validate_json(json.dumps(data)) if as_json else cls.model_validate(data)
    except ValidationError as exc:
        return ("error", sorted(str(e["loc"][-1]) for e in exc.errors()))
    return model.model_dump(mode="json", exclude_none=True)


@settings(max_examples=400, deadline=None)
@given(st.lists(entries, max_size=3), st.booleans())
def test_same_as_the_model(items: list[Any], as_json: bool) -> None:
    data = {"task_id": 1, "entries": items}
    assert outcome(TaskIdMap, data, as_json) == outcome(ModelMap, data, as_json)


def test_lookups_and_equality() -> None:
    m = TaskIdMap(task_id=1, entries=[
        IdEntry(kind="shape", cvat_id=4, field="f", label_id="x"),
        IdEntry(kind="track", cvat_id=5, field="f", index=2),
        IdEntry(kind="track", cvat_id=5, field="f", label_id="k", index=2, frame=3)])
    assert m.label_for("shape", 4) == "x" and m.label_for("tag", 4) is None
    assert m.track(5) == IdEntry(kind="track", cvat_id=5, field="f", index=2)
    assert m.keyframe_label(5, 3) == "k" and m.keyframe_label(5, 4) is None
    again = TaskIdMap.model_validate_json(m.model_dump_json())
    assert again == m and again.entries == m.entries
    with pytest.raises(AttributeError):
        m.entries[0].other = 1  # type: ignore[attr-defined]
