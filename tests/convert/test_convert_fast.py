"""``to_cvat`` builds its tags, shapes, attribute values and sent objects without pydantic
validation (``labels_to_cvat._built``): the upload must be the one validation builds, model for
model (values, types, which fields were given), and encode to the same request body, byte for
byte. Checked against the same conversion with every such object validated from the fields it
was given, on samples of every image label type (boxes with every attribute type, rotations,
z orders, instances with and without masks, tags with groups, polylines, keypoints, scalars).
"""

from __future__ import annotations

from typing import Any

import pytest
from convert_support import (
    FIELDS,
    IMAGE_BOUND,
    classifications,
    detections,
    image_frames,
    keypoints,
    polylines,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.convert import labels_to_cvat, to_cvat
from annosync.convert.labels_to_cvat import upload_json
from annosync.cvat.client import encode_json
from annosync.model.labels import Detection, Detections
from annosync.model.sample import Sample

ALL = list(FIELDS)
SHAPE_GIVEN = {"frame", "label_id", "group", "source", "type", "occluded", "z_order", "rotation",
               "points", "attributes"}


def _validated(cls: type, values: dict[str, Any], given: frozenset[str]) -> Any:
    """What ``_built`` stands for: the model validated from the fields given."""
    return cls(**{k: values[k] for k in given})


@st.composite
def batches(draw: Any) -> list[Sample]:
    out = []
    for i in range(draw(st.integers(min_value=1, max_value=4))):
        fields: dict[str, Any] = {"det": draw(detections())}
        if draw(st.booleans()):
            fields["tags"] = draw(classifications())
        if draw(st.integers(0, 3)) == 0:
            fields["lines"] = draw(polylines(closed=False))
        if draw(st.integers(0, 3)) == 0:
            fields["kp"] = draw(keypoints())
        if draw(st.integers(0, 3)) == 0:
            fields["s_int"] = draw(st.integers(-5, 5))
        out.append(Sample(media=f"{i}.jpg", fields=fields))
    return out


def _both(batch: list[Sample], frames: Any) -> tuple[Any, Any]:
    fast = to_cvat(batch, ALL, frames, IMAGE_BOUND)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(labels_to_cvat, "_built", _validated)
        slow = to_cvat(batch, ALL, frames, IMAGE_BOUND)
    return fast, slow


@settings(max_examples=300, deadline=None)
@given(batches(), st.lists(st.tuples(st.integers(1, 700), st.integers(1, 700)), min_size=4,
                           max_size=4))
def test_the_upload_built_without_validation_is_the_validated_one(batch: list[Sample],
                                                                  sizes: list[Any]) -> None:
    fast, slow = _both(batch, image_frames(sizes[: len(batch)]))
    assert fast == slow  # models and values
    objects = [(a, b) for group in ("tags", "shapes") for a, b in zip(
        getattr(fast.data, group) + getattr(fast, group),
        getattr(slow.data, group) + getattr(slow, group), strict=True)]
    objects += [(a, b) for x, y in objects[:] if hasattr(x, "attributes")
                for a, b in zip(x.attributes, y.attributes, strict=True)]
    for a, b in objects:  # the same types, in the same order, the same fields given
        assert [(k, type(v)) for k, v in a.__dict__.items()] == [
            (k, type(v)) for k, v in b.__dict__.items()]
        assert a.model_fields_set == b.model_fields_set
    for shape in fast.data.shapes:  # the keywords ``Shape(...)`` was called with before
        assert shape.model_fields_set == SHAPE_GIVEN
    assert encode_json(fast.data.to_api()) == encode_json(slow.data.to_api())
    assert encode_json(upload_json(fast.data)) == encode_json(slow.data.to_api())


def test_a_value_validation_would_refuse_is_refused_as_before() -> None:
    """A label without an id (made by ``model_construct``) still fails where it did."""
    box = Detection.model_construct(label="car", bounding_box=(0.1, 0.1, 0.2, 0.2), id=None,
                                    attributes={}, rotation=None, z_order=None, index=None,
                                    mask=None, mask_path=None, confidence=None)
    sample = Sample(media="0.jpg", fields={"det": Detections.model_construct(detections=[box])})
    with pytest.raises(ValueError, match="string_type"):
        to_cvat([sample], ["det"], image_frames([(10, 10)]), IMAGE_BOUND)


@settings(max_examples=200, deadline=None)
@given(batches(), st.lists(st.tuples(st.integers(1, 700), st.integers(1, 700)), min_size=4,
                           max_size=4))
def test_boxes_made_with_their_class_looked_up_once_are_the_general_ones(
        batch: list[Sample], sizes: list[Any]) -> None:
    """``_Emitter.box`` (a class's target, specs and wiring kept per task) makes what
    ``shape``'s general way makes, notes (skipped objects) included."""
    frames = image_frames(sizes[: len(batch)])
    lean = to_cvat(batch, ALL, frames, IMAGE_BOUND)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(labels_to_cvat._Emitter, "box", lambda *a: False)
        general = to_cvat(batch, ALL, frames, IMAGE_BOUND)
    assert lean == general
    assert encode_json(upload_json(lean.data)) == encode_json(general.data.to_api())
