"""A push parses only the objects of an image task it can touch (``push._relevant``): for any
annotations, id map and wanted label ids, the objects found under each wanted id, and the tags
of the frames pushed to, are exactly those found in the whole task (the reference)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.convert.id_map import IdEntry, TaskIdMap
from annosync.model.cvat import LabeledData
from annosync.sync.push import Wanted, _relevant, index_objects

IDS = ["a", "b", "c", "d", "e"]
FRAMES = 4
#: CVAT label id -> the spec id of its ``label_id`` attribute (label 3 has none, 4 is unknown)
SPECS = {1: 10, 2: 11, 3: None}


class Bound:
    def label(self, label_id: int) -> Any:
        return SimpleNamespace(label_id_spec=SPECS[label_id]) if label_id in SPECS else None


attributes = st.lists(st.fixed_dictionaries({
    "spec_id": st.sampled_from([10, 11, 12]), "value": st.sampled_from([*IDS, "", "x"])}),
    max_size=2)


def objects(kind: str) -> Any:
    base = {"frame": st.integers(0, FRAMES - 1), "label_id": st.sampled_from([1, 2, 3, 4]),
            "attributes": attributes}
    if kind == "shape":
        base.update(type=st.just("rectangle"), points=st.just([0.0, 0.0, 1.0, 1.0]))
    return st.lists(st.fixed_dictionaries(base), max_size=8)


@st.composite
def cases(draw: Any) -> tuple[dict[str, Any], TaskIdMap | None, list[Wanted]]:
    tags, shapes = draw(objects("tag")), draw(objects("shape"))
    for n, obj in enumerate(tags + shapes):
        obj["id"] = n + 1
    entries = [IdEntry(kind=kind, cvat_id=o["id"], field="f", label_id=draw(st.sampled_from(IDS)))
               for kind, group in (("tag", tags), ("shape", shapes)) for o in group
               if draw(st.booleans())]
    id_map = TaskIdMap(task_id=1, entries=entries) if draw(st.booleans()) else None
    wanted = []
    for _ in range(FRAMES):
        want = Wanted()
        for lid in draw(st.lists(st.sampled_from(IDS), max_size=2)):
            (want.send if draw(st.booleans()) else want.delete)["f"].add(lid)
        wanted.append(want)
    return {"version": 0, "tags": tags, "shapes": shapes, "tracks": []}, id_map, wanted


def found(data: LabeledData, id_map: TaskIdMap | None, wanted: list[Wanted]) -> Any:
    index = index_objects(data, Bound(), id_map)  # type: ignore[arg-type]
    ids = {lid for w in wanted for g in (w.send, w.delete) for s in g.values() for lid in s}
    frames = {p for p, w in enumerate(wanted) if w}
    by_id = {lid: sorted((k, o.id) for k, o in index.get(lid, [])) for lid in ids}
    return by_id, sorted(t.id for t in data.tags if t.frame in frames)


@settings(max_examples=300, deadline=None)
@given(cases())
def test_relevant_objects_are_all_a_push_can_touch(case: Any) -> None:
    raw, id_map, wanted = case
    whole = LabeledData.model_validate(raw)
    kept = LabeledData.model_validate(_relevant(raw, wanted, id_map))
    assert found(kept, id_map, wanted) == found(whole, id_map, wanted)
    assert len(kept.shapes) <= len(whole.shapes)


def test_objects_of_other_labels_are_not_parsed() -> None:
    raw = {"version": 0, "tracks": [], "tags": [],
           "shapes": [{"id": n, "frame": 0, "label_id": 1, "type": "rectangle",
                       "points": [0, 0, 1, 1], "attributes": [{"spec_id": 10, "value": v}]}
                      for n, v in enumerate(["a", "b", "c"], 1)]}
    want = Wanted()
    want.send["f"].add("b")
    assert [o["id"] for o in _relevant(raw, [want], None)["shapes"]] == [2]
