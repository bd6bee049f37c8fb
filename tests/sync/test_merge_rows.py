"""The rows' fast paths for a label taking remote aspects: ``deep_update`` is pydantic's deep
``model_copy`` with an update (the same copy, sharing the same objects), and
``_Merger.merged_digests`` is ``digests`` of the merged label, on any labels Hypothesis finds."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.model.labels import BinaryMask, Detection
from annosync.sync import merge as fast
from annosync.sync.digest import ScalarItem, digests

from .test_merge_fast import ATTRS, SCALARS, labels, variants

ASPECTS = ["label", "index", "spatial", "value", *(f"attr:{n}" for n in (*ATTRS, "other"))]


@st.composite
def pairs(draw: Any) -> tuple[Any, Any]:
    """A local label and a remote version of it (an edit, an equal copy, a twin), or a
    remote label of the same kind; sometimes with a mask, tags or an extra field set."""
    a = draw(st.one_of(labels("a" * 24), SCALARS.map(ScalarItem)))
    if isinstance(a, ScalarItem):
        return a, ScalarItem(draw(SCALARS))
    if isinstance(a, Detection) and draw(st.booleans()):
        a = a.model_copy(update={"mask": BinaryMask(size=(1, 2), counts=[1, 1]),
                                 "tags": ["x"]})
    kind = {"Detection": "det", "Classification": "cls", "Polyline": "poly",
            "Keypoint": "kp"}[type(a).__name__]
    b = draw(st.one_of(variants(a), labels("a" * 24, kind)))
    return a, b


@settings(max_examples=1000, deadline=None)
@given(pair=pairs(), names=st.lists(st.sampled_from(ASPECTS), unique=True, max_size=4),
       attrs=st.sampled_from([ATTRS, ("iscrowd",), ()]))
def test_merged_digests_are_the_merged_labels(pair: Any, names: list[str],
                                              attrs: tuple[str, ...]) -> None:
    a, b = pair
    # what a merge takes: aspects the labels have (attributes: also some the field no longer
    # lists, from an older base)
    names = [n for n in names if (n.startswith("attr:") and not isinstance(a, ScalarItem))
             or n in digests(a, attrs)]
    merged = fast.take_aspects(a, b, names)
    m = fast._Merger(fast.FieldRules(attributes=attrs), "fail")
    got = m.merged_digests(fast.Item("a" * 24, a), fast.Item("a" * 24, b),
                           fast.Item("a" * 24, merged), digests(a, attrs), digests(b, attrs))
    assert got == digests(merged, attrs)


def _shape(copy: Any, obj: Any, update: dict[str, Any]) -> list[tuple[str, bool, bool]]:
    """Which field values of ``copy`` are ``obj``'s own objects, which the update's."""
    return [(k, v is obj.__dict__.get(k), k in update and v is update[k])
            for k, v in copy.__dict__.items()]


@settings(max_examples=800, deadline=None)
@given(pair=pairs(), names=st.lists(st.sampled_from(["label", "index", "spatial", "tags",
                                                     "attributes", "confidence"]),
                                    unique=True, max_size=4))
def test_deep_update_is_pydantics_deep_copy(pair: Any, names: list[str]) -> None:
    a, b = pair
    if isinstance(a, ScalarItem):
        return
    fields = {"spatial": "bounding_box" if isinstance(a, Detection) else "z_order"}
    update = {fields.get(n, n): getattr(b, fields.get(n, n), None) for n in names}
    update = {k: v for k, v in update.items() if k in a.__dict__}
    got = fast.deep_update(a, update)
    want = a.model_copy(update=update, deep=True)
    assert got == want and type(got) is type(want)
    assert got.model_fields_set == want.model_fields_set
    assert _shape(got, a, update) == _shape(want, a, update)
    if isinstance(a, Detection) and a.mask is not None and "mask" not in update:
        assert got.mask is not a.mask and got.mask == a.mask


def test_deep_update_shares_nothing_mutable_with_the_label() -> None:
    box = Detection(_id="a" * 24, label="car", bounding_box=(0.1, 0.2, 0.3, 0.4),
                    attributes={"iscrowd": False}, tags=["t"],
                    mask=BinaryMask(size=(1, 2), counts=[1, 1]))
    copy = fast.deep_update(box, {"label": "bus"})
    assert copy.label == "bus" and box.label == "car"
    copy.attributes["iscrowd"] = True
    copy.tags.append("u")
    copy.mask.counts.append(0)  # type: ignore[union-attr]
    assert box.attributes == {"iscrowd": False} and box.tags == ["t"]
    assert box.mask is not None and box.mask.counts == [1, 1]
