"""``agrees(obj, known, attrs)`` is ``digests(obj, attrs) == known`` (a cold merge asks it of
every local label instead of building its digests): on any label Hypothesis finds, against the
label's own digests, a variant's, and its own with one aspect dropped, added or changed."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.model.labels import Detection
from annosync.sync.digest import (
    ScalarItem,
    agrees,
    clear_caches,
    digests,
    reference_digests,
    same_aspects,
    same_run,
    synced,
    synced_run,
)

from .test_merge_fast import ATTRS, SCALARS, _twin, labels, variants

ATTRIBUTE_SETS = st.sampled_from([ATTRS, ("iscrowd",), (), list(ATTRS), ("make", "make")])
ODD_COORDS = (st.floats(allow_nan=True, allow_infinity=True)
              | st.floats(-2, 2) | st.sampled_from([0, 1, True, 0.0, -0.0, 1e-4, 1e6, 1.0, 0.5,
                                                 -2.0, 999999.0, 0.1]))


@st.composite
def boxes(draw: Any) -> Detection:
    """Plain boxes with any coordinates (unvalidated: ints, NaN, huge and tiny floats)."""
    return Detection.model_construct(
        id="a" * 24, label=draw(st.sampled_from(["car", "bus", "1", ""])),
        bounding_box=draw(st.tuples(ODD_COORDS, ODD_COORDS, ODD_COORDS, ODD_COORDS)),
        rotation=draw(st.sampled_from([None, 0.0, -0.0, 12.5, 1e-5, 10, float("nan"),
                                       float("inf")])), mask=None,
        mask_path=None, z_order=draw(st.sampled_from([None, 0, 3, True])),
        index=draw(st.sampled_from([None, 1, True, 0.0])),
        attributes=draw(st.dictionaries(st.sampled_from(ATTRS), SCALARS, max_size=3)))


@st.composite
def maps(draw: Any, obj: Any, attrs: Any) -> dict[str, str]:
    """A digest map to compare ``obj`` with: its own, a variant's, or its own changed."""
    own = reference_digests(obj, attrs)
    how = draw(st.sampled_from(["own", "own", "variant", "drop", "add", "change"]))
    if how == "variant":
        return reference_digests(draw(variants(obj)), attrs)
    out = dict(own)
    if how == "drop" and out:
        del out[draw(st.sampled_from(sorted(out)))]
    elif how == "add":
        out[draw(st.sampled_from(["label", "spatial", "index", "attr:other", "value"]))] = \
            "0" * 16
    elif how == "change" and out:
        out[draw(st.sampled_from(sorted(out)))] = "f" * 16
    return out


@settings(max_examples=1500, deadline=None)
@given(data=st.data())
def test_agrees_is_comparing_the_digests(data: st.DataObject) -> None:
    obj = data.draw(st.one_of(labels("a" * 24), boxes(), SCALARS.map(ScalarItem)))
    attrs = data.draw(ATTRIBUTE_SETS)
    known = data.draw(maps(obj, attrs))
    if data.draw(st.booleans()):
        clear_caches()
    want = reference_digests(obj, attrs) == known
    assert agrees(obj, known, attrs) == want
    assert agrees(obj, known, attrs) == want  # again, from the caches
    assert (digests(obj, attrs) == known) == want


def test_agrees_sees_each_aspect() -> None:
    box = Detection(_id="a" * 24, label="car", bounding_box=(0.25, 0.5, 0.125, 0.0625),
                    attributes={"iscrowd": False, "make": "vw"})
    known = digests(box, ATTRS)
    assert agrees(box, known, ATTRS)
    for update in ({"label": "bus"}, {"index": 3}, {"bounding_box": (0.25, 0.5, 0.125, 0.06)},
                   {"rotation": 10.0}, {"z_order": 1}, {"attributes": {"iscrowd": True}},
                   {"attributes": {"iscrowd": 0, "make": "vw"}}):
        assert not agrees(box.model_copy(update=update), known, ATTRS), update
    assert not agrees(box, {**known, "attr:other": known["label"]}, ATTRS)
    assert not agrees(box, {k: v for k, v in known.items() if k != "index"}, ATTRS)


@settings(max_examples=1500, deadline=None)
@given(data=st.data())
def test_synced_is_same_aspects_and_agrees(data: st.DataObject) -> None:
    """``synced(a, b, known)``, one pass over a local and a remote label, is the two calls."""
    a = data.draw(st.one_of(labels("a" * 24), boxes(), boxes(), SCALARS.map(ScalarItem)))
    how = data.draw(st.sampled_from(["copy", "copy", "same", "variant", "other"]))
    if how == "copy" and not isinstance(a, ScalarItem):
        b = a.model_copy(deep=True)
    elif how == "variant":
        b = data.draw(variants(a))
    elif how == "other":
        b = data.draw(st.one_of(labels("a" * 24), boxes()))
    else:
        b = a
    attrs = data.draw(ATTRIBUTE_SETS)
    known = data.draw(maps(a, attrs))
    if data.draw(st.booleans()):
        clear_caches()
    want = same_aspects(a, b, attrs) and agrees(a, known, attrs)
    assert synced(a, b, known, attrs) == want
    assert synced(a, b, known, attrs) == want  # again, from the caches


def test_synced_sees_a_remote_twin_and_odd_values() -> None:
    """Equal fields that JSON writes differently (``True``/``1``) are not "the same"; NaN
    rotations are never the same (``same_aspects``), even as one object on both sides."""
    a = Detection(_id="a" * 24, label="car", bounding_box=(0.25, 0.5, 0.125, 0.0625),
                  attributes={"iscrowd": True}, z_order=2, rotation=15.0, index=4)
    known = digests(a, ("iscrowd",))
    assert synced(a, a.model_copy(deep=True), known, ("iscrowd",))
    assert not synced(a, a.model_copy(update={"attributes": {"iscrowd": 1}}), known,
                      ("iscrowd",))
    odd = a.model_copy(update={"rotation": float("nan")})
    assert not synced(odd, odd.model_copy(), digests(odd, ("iscrowd",)), ("iscrowd",))


@st.composite
def plain_boxes(draw: Any) -> Detection:
    """The boxes of most files (the inline case of ``synced_run``): no index, rotation or
    mask, coordinates within the frame (often on 7 decimals' edge), odd attributes."""
    coord = st.floats(0, 1) | st.sampled_from([0.0, 0.1, 0.5, 1.0, 1e-4, 0.12345675, 1 / 256])
    return Detection.model_construct(
        id="a" * 24, label=draw(st.sampled_from(["car", "bus"])),
        bounding_box=draw(st.tuples(coord, coord, coord, coord)), rotation=None, mask=None,
        mask_path=None, z_order=draw(st.sampled_from([None, 0, 2])), index=None,
        attributes=draw(st.dictionaries(st.sampled_from(ATTRS), SCALARS, max_size=3)))


@st.composite
def runs(draw: Any) -> tuple[list[Any], list[Any], list[dict[str, str]], tuple[str, ...]]:
    """A field's local labels, remote labels (mostly equal copies) and digest maps (mostly the
    local labels' own): what the cold short cut asks ``synced_run`` of."""
    attrs = tuple(draw(ATTRIBUTE_SETS))
    local = draw(st.lists(st.one_of(plain_boxes(), plain_boxes(), boxes(), labels("a" * 24),
                                    SCALARS.map(ScalarItem)), max_size=5))
    remote, knowns = [], []
    for a in local:
        how = draw(st.sampled_from(["copy", "copy", "copy", "same", "variant", "other",
                                    "twin"]))
        if how == "copy" and not isinstance(a, ScalarItem):
            remote.append(a.model_copy(deep=True))
        elif how == "twin" and not isinstance(a, ScalarItem):  # equal attributes, other JSON
            remote.append(a.model_copy(update={"attributes": {
                k: _twin(v) for k, v in a.attributes.items()}}))
        elif how == "variant":
            remote.append(draw(variants(a)))
        elif how == "other":
            remote.append(draw(st.one_of(labels("a" * 24), boxes())))
        else:
            remote.append(a)
        knowns.append(reference_digests(a, attrs) if draw(st.integers(0, 3))
                      else draw(maps(a, attrs)))
    return local, remote, knowns, attrs


@settings(max_examples=1500, deadline=None)
@given(run=runs(), cold=st.booleans())
def test_synced_run_is_synced_label_by_label(run: Any, cold: bool) -> None:
    """``synced_run`` counts the labels, from the first, that ``synced`` finds synced."""
    local, remote, knowns, attrs = run
    if cold:
        clear_caches()
    want = next((i for i, (a, b, k) in enumerate(zip(local, remote, knowns, strict=True))
                 if not (same_aspects(a, b, attrs) and agrees(a, k, attrs))), len(local))
    assert synced_run(local, remote, knowns, attrs) == want


@settings(max_examples=1000, deadline=None)
@given(run=runs())
def test_same_run_is_same_aspects_label_by_label(run: Any) -> None:
    local, remote, _, attrs = run
    want = all(same_aspects(a, b, attrs) for a, b in zip(local, remote, strict=True))
    assert same_run(local, remote, attrs) == want
    assert same_run(local, remote, list(attrs)) == want


def test_synced_run_sees_each_aspect_of_a_plain_box() -> None:
    """The inline case (plain boxes, equal copies) stops at the first label whose base or
    remote twin differs in any aspect, and counts every label otherwise."""
    attrs = ("iscrowd", "make")
    made = [Detection(_id=f"{i:024x}", label="car", bounding_box=(0.25 + i / 8, 0.5, 0.125,
                                                                  0.0625 * (i + 1)),
                      attributes={"iscrowd": False, "make": "vw"}) for i in range(3)]
    knowns = [digests(a, attrs) for a in made]
    copies = [a.model_copy(deep=True) for a in made]
    assert synced_run(made, copies, knowns, attrs) == 3
    assert same_run(made, copies, attrs)
    for update in ({"label": "bus"}, {"index": 3}, {"bounding_box": (0.25, 0.5, 0.125, 0.06)},
                   {"rotation": 10.0}, {"z_order": 1}, {"attributes": {"iscrowd": True}},
                   {"attributes": {"iscrowd": 0, "make": "vw"}}, {"mask_path": "m.png"}):
        edited = [made[0], made[1].model_copy(update=update), made[2]]
        assert synced_run(edited, copies, knowns, attrs) == 1, update  # the base differs
        assert synced_run(made, edited, knowns, attrs) == 1, update  # the remote differs
        assert not same_run(made, edited, attrs), update
    twin = made[1].model_copy(update={"attributes": {"iscrowd": 0, "make": "vw"}})
    assert synced_run([made[1]], [twin], [knowns[1]], attrs) == 0  # False and 0: not the same
    assert not same_run([made[1]], [twin], attrs)
    assert synced_run(made, copies, [knowns[0], {**knowns[1], "spatial": "0" * 16},
                                     knowns[2]], attrs) == 1
