"""``_plain_shape``, the validation of a shape whose fields are all of their plain JSON types,
builds what ``_shape(raw, "create")`` builds (the same keys in the same order, the same values
and types), or leaves the shape to it; plain shapes take it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.emulator.annotations import _plain_shape, _shape
from annosync.emulator.wire import dumps

odd = st.one_of(st.none(), st.booleans(), st.integers(-2, 400), st.sampled_from(
    [0.0, -0.0, 0.5, 1.0, 1.5, 360.0, 360.5, float("nan"), float("inf"), "", " ", "1", "x", [],
     {}, [1], "rectangle"]))
#: points per shape type, as CVAT wants them
COUNTS = {"rectangle": 4, "ellipse": 4, "polygon": 6, "polyline": 4, "points": 2,
          "cuboid": 16, "mask": 9}
PLAIN = {
    "occluded": st.booleans(),
    "outside": st.booleans(),
    "z_order": st.integers(-3, 3),
    "rotation": st.one_of(st.floats(0, 360), st.integers(0, 360)),
    "id": st.none(),
    "label_id": st.integers(0, 20),
    "group": st.one_of(st.none(), st.integers(0, 3)),
    "source": st.sampled_from(["manual", "auto", "file"]),
    "frame": st.integers(0, 9),
    "score": st.one_of(st.floats(0, 1), st.integers(0, 1)),
    "attributes": st.one_of(st.none(), st.lists(st.fixed_dictionaries(
        {"spec_id": st.integers(0, 9), "value": st.text(max_size=5)}), max_size=3)),
    "elements": st.one_of(st.just([]), st.none()),
}
#: one field made odd: every way the validators could have something to say
ODD = {
    "type": st.one_of(st.sampled_from(["skeleton", "circle", "Rectangle"]), odd),
    "occluded": odd,
    "outside": odd,
    "z_order": st.one_of(st.sampled_from([1.0, "1", True, None]), odd),
    "rotation": st.one_of(st.sampled_from([-0.5, -1, 360.5, 361, float("nan"),
                                           float("inf"), True, "5", None]), odd),
    "points": st.one_of(st.lists(st.one_of(st.booleans(), st.text(max_size=1), st.none(),
                                           st.floats(allow_nan=True, allow_infinity=True)),
                                 min_size=1, max_size=5).map(lambda extra: [1.0, 2, *extra]),
                        st.lists(st.integers(0, 9), max_size=20), odd),
    "id": st.one_of(st.integers(0, 5), odd),
    "label_id": st.one_of(st.sampled_from([-1, True, 1.0, "3"]), odd),
    "group": st.one_of(st.sampled_from([-1, True, 1.0, "3"]), odd),
    "source": st.one_of(st.sampled_from(["", "  ", "\t", 5, None]), odd),
    "frame": st.one_of(st.sampled_from([-1, True, 1.0, "3", None]), odd),
    "score": st.one_of(st.sampled_from([-0.1, 1.5, 2, float("nan"), True, "1", None]), odd),
    "attributes": st.one_of(st.lists(st.one_of(
        st.fixed_dictionaries({"spec_id": st.one_of(st.integers(0, 9), odd),
                               "value": st.one_of(st.text(max_size=5), odd,
                                                  st.just("v" * 4097), st.just("v" * 4096))}),
        st.fixed_dictionaries({"value": st.text(max_size=2)}),
        st.fixed_dictionaries({"spec_id": st.integers(0, 9)}), odd), min_size=1, max_size=3),
        odd),
    "elements": st.one_of(st.just([{}]), odd),
}


@st.composite
def raw_shapes(draw: Any) -> Any:
    """A shape as a client sends it (every field of its plain type, some left out), then, in
    most examples, one field made odd."""
    if draw(st.integers(0, 30)) == 0:
        return draw(odd)
    kind = draw(st.sampled_from(sorted(COUNTS)))
    out: dict[str, Any] = {"type": kind, "points": draw(st.lists(
        st.one_of(st.floats(-10, 500), st.integers(-10, 500)), min_size=COUNTS[kind],
        max_size=COUNTS[kind]))}
    for key in sorted(PLAIN):
        if key in ("label_id", "frame") or draw(st.integers(0, 5)):
            out[key] = draw(PLAIN[key])
    if draw(st.integers(0, 3)):
        key = draw(st.sampled_from(sorted(ODD)))
        if draw(st.integers(0, 9)) == 0:
            out.pop(key, None)
        elif key == "points" and draw(st.booleans()):  # one odd number, the count right
            at = draw(st.integers(0, len(out["points"]) - 1))
            out["points"][at] = draw(st.sampled_from(
                [True, False, None, "1", float("nan"), float("inf"), [1]]))
        elif key == "attributes" and draw(st.booleans()):  # one odd attribute among plain ones
            out["attributes"] = [{"spec_id": 1, "value": "a"}, draw(st.one_of(
                st.fixed_dictionaries({"spec_id": st.integers(0, 9), "value": st.sampled_from(
                    ["v" * 4097, "v" * 4096, True, None, 3, 1.5])}),
                st.fixed_dictionaries({"spec_id": st.sampled_from([True, None, "2", 2.0]),
                                       "value": st.just("x")})))]
        else:
            out[key] = draw(ODD[key])
    return out


def _typed(value: Any) -> Any:
    """``value`` with every scalar's type beside it (``0 == 0.0 == False`` otherwise)."""
    if isinstance(value, dict):
        return [(k, _typed(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, repr(value))


@settings(max_examples=3000, deadline=None)
@given(raw_shapes())
def test_a_plain_shape_is_validated_as_shape_does(raw: Any) -> None:
    fast = _plain_shape(raw)
    if fast is None:
        return
    slow = _shape(raw, "create")
    assert fast[1] == slow[1] == {}
    assert _typed(fast[0]) == _typed(slow[0])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["rectangle", "polygon", "points", "ellipse"]), st.integers(0, 99),
       st.integers(0, 50), st.lists(st.floats(0, 1000), min_size=8, max_size=8),
       st.booleans(), st.lists(st.text(max_size=4), max_size=3), st.booleans())
def test_what_a_client_sends_takes_it(kind: str, label: int, frame: int, coords: list[float],
                                      occluded: bool, values: list[str], full: bool) -> None:
    points = coords[:4] if kind in ("rectangle", "ellipse") else coords
    raw: dict[str, Any] = {"type": kind, "frame": frame, "label_id": label, "points": points,
                           "attributes": [{"spec_id": i, "value": v}
                                          for i, v in enumerate(values)]}
    if full:
        raw.update(occluded=occluded, outside=False, z_order=0, rotation=0.0, group=0,
                   source="manual", elements=[])
    fast = _plain_shape(raw)
    assert fast is not None
    assert dumps(fast[0]) == dumps(_shape(raw, "create")[0])
