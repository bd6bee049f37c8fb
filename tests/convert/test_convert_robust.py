"""Whatever CVAT sends, ``from_cvat`` returns valid labels or unexpected objects, never an
exception; single-label fields."""

from __future__ import annotations

from typing import Any

from convert_support import (
    IMAGE_BOUND,
    VIDEO_BOUND,
    bound_of,
    image_frames,
    schema_of,
    video_frames,
)
from hypothesis import given
from hypothesis import strategies as st

from annosync.convert import from_cvat, to_cvat
from annosync.model.cvat import AttributeValue, LabeledData, Shape, Tag, Track, TrackedShape
from annosync.model.labels import Detection, Keypoint, Polyline
from annosync.model.sample import Sample

SHAPES = ["rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton"]


@st.composite
def anything(draw: Any, bound: Any, size: int) -> LabeledData:
    label_ids = [label.id for label in bound.labels] + [4242]
    spec_ids = [*sorted({s for label in bound.labels for s in label.specs.values()}), 9999]
    number = st.floats(-50, 400, allow_nan=False)
    attrs = st.lists(st.builds(AttributeValue, spec_id=st.sampled_from(spec_ids),
                               value=st.one_of(st.text(max_size=8), st.sampled_from(
                                   ["true", "false", "", "3", "2.5", "red", "x" * 30]))),
                     max_size=4)
    frame = st.integers(0, size - 1)

    def shape_kw() -> dict[str, Any]:
        return {"type": draw(st.sampled_from(SHAPES)),
                "points": draw(st.lists(number, max_size=14)),
                "rotation": draw(st.floats(0, 359)), "occluded": draw(st.booleans()),
                "z_order": draw(st.integers(-3, 3)), "attributes": draw(attrs)}

    tags = [Tag(id=i, frame=draw(frame), label_id=draw(st.sampled_from(label_ids)),
                group=draw(st.integers(0, 3)), attributes=draw(attrs))
            for i in range(draw(st.integers(0, 3)))]
    shapes = [Shape(id=100 + i, frame=draw(frame), label_id=draw(st.sampled_from(label_ids)),
                    **shape_kw()) for i in range(draw(st.integers(0, 5)))]
    tracks = []
    for i in range(draw(st.integers(0, 3))):
        keys = [TrackedShape(frame=f, outside=draw(st.booleans()), **shape_kw())
                for f in sorted(draw(st.lists(frame, min_size=1, max_size=4, unique=True)))]
        tracks.append(Track(id=200 + i, frame=keys[0].frame, shapes=keys,
                            label_id=draw(st.sampled_from(label_ids)), attributes=draw(attrs)))
    return LabeledData(tags=tags, shapes=shapes, tracks=tracks)


@given(anything(IMAGE_BOUND, 3))
def test_any_image_answer_converts(data: LabeledData) -> None:
    frames = image_frames([(320, 240)] * 3)
    pulled = from_cvat(data, frames, IMAGE_BOUND)
    assert sorted(pulled.samples) == [0, 1, 2]
    for u in pulled.unexpected:
        assert u.reason and u.cvat_label_id
    # whatever came back can be sent again
    samples = [Sample(media=f"{i}.jpg", fields={k: v for k, v in s.fields.items()
                                                if v is not None})
               for i, s in sorted(pulled.samples.items())]
    to_cvat(samples, list(IMAGE_BOUND.resolved.fields), frames, IMAGE_BOUND)


@given(anything(VIDEO_BOUND, 6))
def test_any_video_answer_converts(data: LabeledData) -> None:
    frames = video_frames(6)
    pulled = from_cvat(data, frames, VIDEO_BOUND)
    video = pulled.samples[0]
    assert set(video.frames) <= set(video.covered)


def test_single_label_fields() -> None:
    schema = schema_of({"box": {"type": "detection", "classes": ["car"]},
                        "line": {"type": "polyline", "classes": ["lane"]},
                        "kp": {"type": "keypoint", "classes": ["j"]}})
    bound = bound_of(schema)
    sample = Sample(media="0.jpg", fields={
        "box": Detection(label="car", bounding_box=(0.1, 0.2, 0.3, 0.4)),
        "line": Polyline(label="lane", points=[[(0.1, 0.1), (0.2, 0.2)]]),
        "kp": Keypoint(label="j", points=[(0.5, 0.5)])})
    frames = image_frames([(100, 100)])
    up = to_cvat([sample], ["box", "line", "kp"], frames, bound)
    got = from_cvat(up.data, frames, bound).samples[0].fields
    for name in ("box", "line", "kp"):
        assert got[name].model_dump() == sample.fields[name].model_dump()
