"""A create's shapes validated in one loop (``_plain_items``), a write's shapes checked in one
loop (``LabelIndex.shapes``) and given ids in one loop (``save_into_job``) answer as the
per-item path did: the same objects (types included), or the same first error (status and
body), whatever mix of plain and odd shapes, unknown labels or attribute specs, and skeleton
elements a request holds; the same ids, whatever ids the job holds already."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.emulator.annotations import (
    LabelIndex,
    _fresh_id,
    _items,
    _plain_shape,
    _shape,
    _tag,
    _track,
    check_data,
    save_into_job,
    validate_payload,
)
from annosync.emulator.errors import ApiError, bad_request
from annosync.emulator.state import AttrSpec, Job, Label, State

from .test_plain_shape import _typed, raw_shapes


def validate_before(raw: Any, action: str | None) -> Any:
    """``validate_payload`` as it was (main at 369f8a9): every shape through ``_items``."""
    if not isinstance(raw, dict):
        return validate_payload(raw, action)  # raises; unchanged
    errors: dict[str, Any] = {}
    out: dict[str, Any] = {"version": 0, "tags": [], "shapes": [], "tracks": []}
    if "version" in raw:
        return validate_payload(raw, action)  # not generated here
    parsers = {
        "tags": lambda item: _tag(item, action),
        "shapes": ((lambda item: _plain_shape(item) or _shape(item, action))
                   if action == "create" else (lambda item: _shape(item, action))),
        "tracks": lambda item: _track(item, action),
    }
    for key, parse in parsers.items():
        items = raw.get(key, [])
        if items is None:
            errors[key] = ["This field may not be null."]
            continue
        out[key] = _items(items, parse, errors, key)
    if errors:
        raise bad_request(errors)
    return out


def check_before(index: LabelIndex, data: dict[str, Any]) -> None:
    """``check_data``'s shape part as it was: ``label`` then ``specs`` per shape and element."""
    for shape in data["shapes"]:
        index.label(shape["label_id"])
        index.specs(shape["attributes"], shape["label_id"], "all")
        for element in shape.get("elements", []):
            index.label(element["label_id"])
            index.specs(element["attributes"], element["label_id"], "all")


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return "ok", _typed(fn(*args))
    except ApiError as err:
        return "error", err.status, _typed(err.body)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.lists(raw_shapes(), max_size=6), st.none(), st.just({})),
       st.sampled_from(["create", "update", "delete", None]))
def test_shapes_are_validated_as_before(shapes: Any, action: str | None) -> None:
    raw = {"shapes": shapes, "tags": [], "tracks": []}
    assert outcome(validate_payload, raw, action) == outcome(validate_before, raw, action)


INDEX = LabelIndex([
    Label(1, "car", "#fff", "any", [AttrSpec(1, "a", True, "text", "", []),
                                    AttrSpec(2, "b", False, "text", "", [])]),
    Label(2, "dot", "#fff", "points", []),
    Label(3, "person", "#fff", "skeleton", [AttrSpec(3, "c", True, "text", "", [])]),
])
label_ids = st.sampled_from([1, 2, 3, 4, 0])
attributes = st.lists(st.fixed_dictionaries(
    {"spec_id": st.sampled_from([1, 2, 3, 9]), "value": st.just("v")}), max_size=3)
elements = st.lists(st.fixed_dictionaries({"label_id": label_ids, "attributes": attributes}),
                    max_size=3)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(
    st.fixed_dictionaries({"label_id": label_ids, "attributes": attributes}),
    st.fixed_dictionaries({"label_id": label_ids, "attributes": attributes,
                           "elements": elements})), max_size=6))
def test_shapes_are_checked_as_before(shapes: list[dict[str, Any]]) -> None:
    data = {"tags": [], "shapes": shapes, "tracks": []}
    assert outcome(lambda: check_data(INDEX, data)) == outcome(lambda: check_before(INDEX, data))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 12), max_size=8, unique=True),
       st.lists(st.one_of(st.none(), st.integers(1, 12)), max_size=8), st.integers(0, 6))
def test_fresh_shape_ids_are_given_as_before(held: list[int], wanted: list[int | None],
                                             counter: int) -> None:
    """Ids the job holds (an update keeps the client's) are skipped by the counter; a wanted
    id not taken is kept: what ``_fresh_id`` gives each shape in turn."""
    state = State()
    for _ in range(counter):
        state.next_id("labeled_shape")
    job = Job(1, 1, 0, 9, state.now(), state.now(),
              shapes=[{"id": i, "frame": 0, "elements": []} for i in held])
    shapes = [{"id": w, "frame": 0, "group": None, "elements": []} for w in wanted]
    got = [s["id"] for s in save_into_job(state, job, {"tags": [], "shapes": shapes,
                                                       "tracks": []})["shapes"]]
    reference, used = State(), set(held)
    for _ in range(counter):
        reference.next_id("labeled_shape")
    assert got == [_fresh_id(reference, "labeled_shape", w, used) for w in wanted]
