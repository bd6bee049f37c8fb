"""CVAT's answer to the labels' PUT is validated straight from its bytes (pydantic's JSON
parser, ``LabeledData.model_validate_json``) instead of ``json.loads`` then validating the
objects; an answer the JSON parser refuses is validated as before (``CvatClient`` ``parse``).
Either way the upload must see exactly the model the old path gave, or the old path's error."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.model.cvat import LabeledData
from annosync.sync.create import parse_answer

ODD = st.one_of(
    st.integers(min_value=-3, max_value=2**70), st.booleans(), st.none(),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e308, 5e-324]),
    st.sampled_from(["1", "1.5", "-0", "true", "no", "", "NaN", "rectangle", "manual", "x"]),
)


def _value(key: str) -> Any:
    typical = {
        "id": st.integers(min_value=1, max_value=10**9),
        "frame": st.integers(min_value=0, max_value=500),
        "label_id": st.integers(min_value=1, max_value=9),
        "type": st.sampled_from(["rectangle", "polygon", "points"]),
        "points": st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                                     st.integers(-5, 5)), max_size=6),
        "attributes": st.lists(st.fixed_dictionaries(
            {"spec_id": st.integers(1, 9), "value": st.one_of(st.text(max_size=3), ODD)}),
            max_size=2),
        "rotation": st.sampled_from([0, 0.0, -0.0, 30.0]),
        "score": st.sampled_from([1, 1.0, 0.5]),
    }
    return st.one_of(typical.get(key, ODD), ODD, st.lists(ODD, max_size=3))


KEYS = ["id", "frame", "label_id", "type", "points", "attributes", "occluded", "outside",
        "z_order", "rotation", "score", "group", "source", "elements", "extra"]


@st.composite
def answers(draw: Any) -> bytes:
    def obj() -> dict[str, Any]:
        keys = draw(st.lists(st.sampled_from(KEYS), unique=True, min_size=3))
        return {k: draw(_value(k)) for k in keys}

    body: dict[str, Any] = {"version": draw(st.sampled_from([0, 0.0, "0", True]))}
    for kind in ("tags", "shapes"):
        if draw(st.booleans()):
            body[kind] = [obj() for _ in range(draw(st.integers(0, 3)))]
    if draw(st.integers(0, 9)) == 0:
        body["shapes"] = draw(ODD)  # not even a list
    return json.dumps(body).encode()  # NaN and Infinity as Python's json writes them


def _old(raw: bytes) -> Any:
    try:
        return repr(LabeledData.model_validate(json.loads(raw)).model_dump())
    except ValueError as exc:
        return type(exc)


def _new(raw: bytes) -> Any:
    try:
        got = parse_answer(raw)
    except ValueError:  # left to the old path, and its errors
        return _old(raw)
    return repr(got.model_dump())  # repr: tells -0.0 from 0.0, nan from None, 1 from 1.0


@settings(max_examples=400, deadline=None)
@given(answers())
def test_validating_the_bytes_gives_what_decoding_then_validating_gives(raw: bytes) -> None:
    assert _new(raw) == _old(raw)


def test_a_typical_answer_goes_through_the_json_parser() -> None:
    raw = json.dumps({"version": 0, "tags": [], "tracks": [], "shapes": [
        {"id": 5, "type": "rectangle", "frame": 0, "label_id": 1, "points": [0, 1.5, -0.0, 3],
         "rotation": 0, "score": 1, "source": "manual", "occluded": False, "outside": False,
         "z_order": 0, "group": 0, "elements": [],
         "attributes": [{"spec_id": 3, "value": "000000000001"}]}]}).encode()
    got = parse_answer(raw)
    assert repr(got.model_dump()) == _old(raw)
    assert repr(got.shapes[0].points) == "[0.0, 1.5, -0.0, 3.0]"
