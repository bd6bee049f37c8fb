"""The answer to an annotations write serializes a stored shape itself when ``shape_write``
would copy it as it is (``_in_written_form``): the same bytes as copying every shape."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.emulator import annotations as ann
from annosync.emulator.annotations import _WRITTEN_SHAPE, shape_write, write_answer
from annosync.emulator.wire import dumps

odd = st.one_of(st.none(), st.booleans(), st.integers(-2, 5), st.sampled_from(
    [0.0, -0.0, 1.0, "", "0", "x", [], {}, (), [1], {"spec_id": 1, "value": "v"}]))
VALUES: dict[str, Any] = {
    "type": st.sampled_from(["rectangle", "polygon"]),
    "occluded": st.booleans(), "outside": st.booleans(), "z_order": st.integers(-2, 2),
    "rotation": st.sampled_from([0, 0.0, 30.0]),
    "points": st.lists(st.floats(0, 100), min_size=4, max_size=4),
    "id": st.integers(1, 10**6), "label_id": st.integers(1, 9), "group": st.integers(0, 3),
    "source": st.sampled_from(["manual", "file"]), "frame": st.integers(0, 9),
    "score": st.sampled_from([1, 1.0, 0.5]),
    "attributes": st.lists(st.fixed_dictionaries(
        {"spec_id": st.integers(1, 9), "value": st.text(max_size=3)}), max_size=2),
    "elements": st.just([]),
}


@st.composite
def stored_shapes(draw: Any) -> dict[str, Any]:
    """A shape as stored: mostly the write form, sometimes with keys reordered, left out or
    added, a value of another type, attributes or elements of another form."""
    keys = list(_WRITTEN_SHAPE)
    if draw(st.integers(0, 3)) == 0:
        keys = draw(st.permutations(keys))
    if draw(st.integers(0, 4)) == 0:
        keys.remove(draw(st.sampled_from([k for k in keys if k not in ("type", "label_id",
                                                                      "frame", "attributes")])))
    shape = {k: draw(VALUES[k]) for k in keys}
    if draw(st.integers(0, 2)) == 0:
        key = draw(st.sampled_from([k for k in keys if k not in ("type", "label_id", "frame")]))
        shape[key] = draw(odd)
    if draw(st.integers(0, 4)) == 0:
        shape["attributes"] = [{"value": "v", "spec_id": 1}, {"spec_id": 2, "value": "w", "x": 1}]
    if draw(st.integers(0, 5)) == 0:
        shape["elements"] = [{**{k: draw(VALUES[k]) for k in _WRITTEN_SHAPE if k != "elements"}}]
    if draw(st.integers(0, 6)) == 0:
        shape["extra"] = 1
    return shape


def _old_answer(data: dict[str, Any], delete: bool) -> bytes:
    """The answer as written before: every shape through ``shape_write``."""
    return dumps({"version": 0, "tags": [ann.tag_write(t) for t in data["tags"]],
                  "shapes": [shape_write(s, delete=delete) for s in data["shapes"]],
                  "tracks": [ann.track_write(t) for t in data["tracks"]], "intervals": []})


@settings(max_examples=400, deadline=None)
@given(st.lists(stored_shapes(), max_size=4), st.booleans())
def test_the_answer_is_the_bytes_of_writing_every_shape(shapes: list[dict[str, Any]],
                                                        delete: bool) -> None:
    data = {"tags": [], "shapes": shapes, "tracks": []}
    try:
        old = _old_answer(data, delete)
    except (KeyError, TypeError, AttributeError, ValueError):
        return  # a shape no write stores (shape_write itself fails on it)
    assert dumps(write_answer(data, delete=delete)) == old


PLAIN = {"type": "rectangle", "occluded": False, "outside": False, "z_order": 0,
         "rotation": 0.0, "points": [1.0, 2.0, 3.0, 4.0], "id": 7, "label_id": 1, "group": 0,
         "source": "manual", "frame": 0, "score": 1, "attributes": [{"spec_id": 3, "value": "x"}],
         "elements": []}


def test_a_plain_stored_shape_is_written_as_it_is() -> None:
    shape = dict(PLAIN)
    assert write_answer({"tags": [], "shapes": [shape], "tracks": []})["shapes"][0] is shape
    assert write_answer({"tags": [], "shapes": [shape], "tracks": []},
                        delete=True)["shapes"][0] is not shape


@pytest.mark.parametrize(("key", "value"), [
    ("group", None), ("group", False), ("group", 0.0), ("elements", ""), ("elements", {}),
    ("attributes", ""), ("attributes", {})])
def test_a_falsy_value_of_another_type_is_written_as_shape_write_writes_it(key: str,
                                                                           value: Any) -> None:
    """``shape_write`` turns these into 0 or []: such a shape is not written as it is (None
    attributes or elements: it fails, and no write stores them)."""
    shape = {**PLAIN, key: value}
    data = {"tags": [], "shapes": [shape], "tracks": []}
    assert dumps(write_answer(data)) == _old_answer(data, False)
    assert write_answer(data)["shapes"][0] is not shape
