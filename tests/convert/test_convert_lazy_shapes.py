"""``from_cvat`` of decoded JSON (what a pull downloads) validates the shapes one at a time
and lets each go once converted, instead of holding every ``Shape`` model of the job until
all labels are made (the peak of a pull: ~4 KB a shape, ~40 MB for a job of 10,000 boxes).
The labels, unexpected objects, notes and errors must be those of validating the whole answer
first (``from_cvat`` of a ``LabeledData``)."""

from __future__ import annotations

import itertools
import types
import weakref
from typing import Any
from unittest import mock

import pytest
from convert_support import (
    IMAGE_BOUND,
    VIDEO_BOUND,
    bound_of,
    image_frames,
    schema_of,
    video_frames,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from test_convert_robust import anything

from annosync.convert import cvat_to_labels, from_cvat
from annosync.model import ids
from annosync.model.cvat import LabeledData, Shape

BAD = st.sampled_from([None, "x", -1, [1, "a"], {"a": 1}, 2.5, True, "rectangle", []])


def _outcome(data: Any, frames: Any, bound: Any) -> str:
    """The result (or error) as text; fresh ids (an unexpected label's) counted from 0."""
    numbers = itertools.count()
    with mock.patch.object(ids, "_random8", lambda: next(numbers).to_bytes(8, "big")), \
            mock.patch.object(ids, "time", types.SimpleNamespace(time=lambda: 0)):
        try:
            pulled = from_cvat(data, frames, bound, scope="t1")
        except ValueError as exc:  # pydantic's ValidationError included
            return f"{type(exc).__name__}: {exc}"
    samples = {k: repr(s.model_dump()) if hasattr(s, "model_dump") else repr(s)
               for k, s in pulled.samples.items()}
    return repr((samples, [u.model_dump() for u in pulled.unexpected], pulled.notes))


def _expected(data: dict[str, Any], frames: Any, bound: Any) -> str:
    """What validating the whole answer, then converting the model, gives (or raises)."""
    try:
        model = LabeledData.model_validate(data)
    except ValueError as exc:
        return f"{type(exc).__name__}: {exc}"
    return _outcome(model, frames, bound)


@st.composite
def broken(draw: Any, bound: Any, size: int) -> dict[str, Any]:
    """An answer as JSON, sometimes with one value of a shape, tag or the body made invalid."""
    data = draw(anything(bound, size)).model_dump(mode="json")
    where = draw(st.sampled_from(["none", "shape", "shape", "tag", "body"]))
    if where == "shape" and data["shapes"]:
        shape = draw(st.sampled_from(data["shapes"]))
        shape[draw(st.sampled_from(["points", "frame", "type", "label_id", "attributes",
                                    "z_order", "rotation"]))] = draw(BAD)
    elif where == "tag" and data["tags"]:
        data["tags"][0][draw(st.sampled_from(["frame", "label_id", "group"]))] = draw(BAD)
    elif where == "body":
        data[draw(st.sampled_from(["shapes", "tags", "version"]))] = draw(BAD)
    return data


@settings(max_examples=150, deadline=None)
@given(broken(IMAGE_BOUND, 3))
def test_an_image_answer_as_json_converts_as_its_validated_model(data: dict[str, Any]) -> None:
    assert _outcome(data, image_frames([(320, 240)] * 3), IMAGE_BOUND) == _expected(
        data, image_frames([(320, 240)] * 3), IMAGE_BOUND)


@settings(max_examples=60, deadline=None)
@given(broken(VIDEO_BOUND, 6))
def test_a_video_answer_as_json_converts_as_its_validated_model(data: dict[str, Any]) -> None:
    assert _outcome(data, video_frames(6), VIDEO_BOUND) == _expected(
        data, video_frames(6), VIDEO_BOUND)


def _boxes(n: int, field_label: int) -> dict[str, Any]:
    return {"version": 0, "tags": [], "tracks": [], "shapes": [
        {"id": i + 1, "type": "rectangle", "frame": i % 3, "label_id": field_label,
         "points": [1.0 + i, 2.0, 30.0 + i, 40.0], "attributes": []} for i in range(n)]}


@pytest.mark.parametrize("lazy", [True, False])
def test_boxes_of_a_list_field_are_let_go_of_once_converted(
        lazy: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted when every shape is read (``_merge_parts`` runs next): of 50 boxes of the
    ``det`` field, the ``Shape`` models still alive; at most the one the loop last held."""
    det = next(bl.id for bl in IMAGE_BOUND.labels
               if [(t.field, t.cls) for t in bl.targets] == [("det", "car")])
    data = _boxes(50, det)
    seen: list[weakref.ref[Shape]] = []
    shape, merge_parts = cvat_to_labels._Reader.shape, cvat_to_labels._merge_parts
    alive: list[int] = []

    def reading(self: Any, position: int, s: Shape) -> None:
        seen.append(weakref.ref(s))
        shape(self, position, s)

    def merging(items: Any) -> Any:
        alive.append(sum(1 for r in seen if r() is not None))
        return merge_parts(items)

    monkeypatch.setattr(cvat_to_labels._Reader, "shape", reading)
    monkeypatch.setattr(cvat_to_labels, "_merge_parts", merging)
    pulled = from_cvat(data if lazy else LabeledData.model_validate(data),
                       image_frames([(320, 240)] * 3), IMAGE_BOUND)
    assert len(seen) == 50 and sum(len(s.fields["det"].detections)
                                   for s in pulled.samples.values()) == 50
    if lazy:
        assert alive == [1] or alive == [0]
    else:  # the model given holds them all (the path of an upload's answer)
        assert alive == [50]


def _label(bound: Any, field: str, cls: str) -> int:
    return next(bl.id for bl in bound.labels if (field, cls) in [(t.field, t.cls)
                                                                 for t in bl.targets])


def _polygon(i: int, label: int, z: int, points: list[float]) -> dict[str, Any]:
    return {"id": i, "type": "polygon", "frame": 0, "label_id": label, "z_order": z,
            "points": points, "attributes": []}


def test_overlapping_segmentation_pieces_keep_their_z_order() -> None:
    """A segmentation's pieces are painted in their shapes' ``z_order``, which the item reads
    from its shape's JSON: the second polygon (z 1) lies over the first (z 0) where they meet,
    and the first (z 1) over the second (z 0) when the two are swapped."""
    road, sky = _label(IMAGE_BOUND, "seg", "road"), _label(IMAGE_BOUND, "seg", "sky")
    frames = image_frames([(40, 40)])
    for z_road, top in ((0, 2), (1, 1)):  # the mask value on top where they overlap
        data = {"version": 0, "tags": [], "tracks": [], "shapes": [
            _polygon(1, road, z_road, [0.0, 0.0, 20.0, 0.0, 20.0, 20.0, 0.0, 20.0]),
            _polygon(2, sky, 1 - z_road, [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0])]}
        assert _outcome(data, frames, IMAGE_BOUND) == _expected(data, frames, IMAGE_BOUND)
        pulled = from_cvat(data, frames, IMAGE_BOUND, scope="t1")
        mask = next(iter(pulled.samples.values())).fields["seg"].mask.to_array()
        assert (mask[15, 15], mask[5, 5], mask[25, 25]) == (top, 1, 2)


def test_a_second_box_of_a_single_label_field_is_reported_with_its_shape() -> None:
    """A field holding one label gets two boxes on a frame: the second is an unexpected object
    carrying its shape's JSON, as when the whole answer is validated first."""
    schema = schema_of({"one": {"type": "detection", "classes": ["car"]}})
    bound = bound_of(schema)
    car = _label(bound, "one", "car")
    data = _boxes(2, car)
    for shape in data["shapes"]:
        shape["frame"] = 0
    frames = image_frames([(320, 240)])
    assert _outcome(data, frames, bound) == _expected(data, frames, bound)
    unexpected = from_cvat(data, frames, bound, scope="t1").unexpected
    assert [(u.raw.get("points"), u.shape_type) for u in unexpected] == [
        ([2.0, 2.0, 31.0, 40.0], "rectangle")]
