"""labels -> CVAT -> labels is the identity for every label type of an image task, and the JSON
is a fixed point (converting the result again gives the same bytes).

Bound (see annosync/convert/coords.py): coordinates come back within ``COORD_TOLERANCE``
(1e-12, relative units; measured worst case ~7e-16), masks bit for bit, attribute values with
their types. Fields not carried by CVAT (confidence, tags) are not generated here.
"""

from __future__ import annotations

from typing import Any

from convert_support import (
    IMAGE_BOUND,
    assert_close,
    classification,
    classifications,
    detections,
    dump,
    image_frames,
    instances,
    keypoints,
    polylines,
    scalar_values,
    segmentation,
    sizes,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.convert import PreviousLabels, from_cvat, to_cvat
from annosync.model.sample import Sample


def _round_trip(field: str, values: list[Any], frame_sizes: list[tuple[int, int]],
                bound: Any = IMAGE_BOUND) -> None:
    samples = [Sample(media=f"{i}.jpg", fields={} if v is None else {field: v})
               for i, v in enumerate(values)]
    frames = image_frames(frame_sizes)
    up = to_cvat(samples, [field], frames, bound)
    assert up.notes == []
    previous = PreviousLabels.from_samples(samples, [field])
    pulled = from_cvat(up.data, frames, bound, previous=previous)
    assert pulled.unexpected == []
    back = []
    for i, value in enumerate(values):
        got = pulled.samples[i].fields[field]
        want = dump(value)
        if want is not None and isinstance(want, dict):
            for key in ("detections", "polylines", "keypoints", "classifications"):
                if key in want and not want[key]:
                    want[key] = []
        assert_close(dump(got), want, f"sample {i}")
        back.append(got)
    again = to_cvat([Sample(media=f"{i}.jpg", fields={} if v is None else {field: v})
                     for i, v in enumerate(back)], [field], frames, IMAGE_BOUND)
    assert again.data.to_api() == up.data.to_api()


@given(st.lists(st.tuples(detections(), sizes, sizes), min_size=1, max_size=3))
def test_detections_round_trip(cases: list[Any]) -> None:
    _round_trip("det", [d for d, _, _ in cases], [(w, h) for _, w, h in cases])


@st.composite
def _instances_cases(draw: Any) -> tuple[Any, int, int]:
    w = draw(st.integers(min_value=1, max_value=300))
    h = draw(st.integers(min_value=1, max_value=300))
    return draw(instances(w, h)), w, h


@given(st.lists(_instances_cases(), min_size=1, max_size=3))
def test_instances_round_trip_bit_exact(cases: list[Any]) -> None:
    _round_trip("inst", [d for d, _, _ in cases], [(w, h) for _, w, h in cases])


@given(st.lists(st.tuples(polylines(closed=False), sizes, sizes), min_size=1, max_size=3))
def test_polylines_round_trip(cases: list[Any]) -> None:
    _round_trip("lines", [d for d, _, _ in cases], [(w, h) for _, w, h in cases])


@given(st.lists(st.tuples(polylines(closed=True), sizes, sizes), min_size=1, max_size=3))
def test_polygons_round_trip(cases: list[Any]) -> None:
    _round_trip("polys", [d for d, _, _ in cases], [(w, h) for _, w, h in cases])


@given(st.lists(st.tuples(keypoints(), sizes, sizes), min_size=1, max_size=3))
def test_keypoints_round_trip_with_missing_points(cases: list[Any]) -> None:
    _round_trip("kp", [d for d, _, _ in cases], [(w, h) for _, w, h in cases])


@given(st.lists(st.one_of(st.none(), classification()), min_size=1, max_size=4))
def test_classification_round_trip(values: list[Any]) -> None:
    _round_trip("cls", values, [(10, 10)] * len(values))


@given(st.lists(classifications(), min_size=1, max_size=4))
def test_classifications_round_trip(values: list[Any]) -> None:
    _round_trip("tags", values, [(10, 10)] * len(values))


@st.composite
def _seg_cases(draw: Any) -> tuple[Any, int, int]:
    w = draw(st.integers(min_value=1, max_value=64))
    h = draw(st.integers(min_value=1, max_value=64))
    return draw(segmentation(w, h)), w, h


@settings(max_examples=30)
@given(st.lists(_seg_cases(), min_size=1, max_size=2))
def test_segmentation_round_trip_via_mask_targets(cases: list[Any]) -> None:
    values = []
    for seg, _, _ in cases:
        has_class = any(v for v, _ in seg.mask.runs)
        values.append(seg if has_class else None)  # an all-background mask sends nothing
    _round_trip("seg", values, [(w, h) for _, w, h in cases])


@given(st.sampled_from(sorted(scalar_values)).flatmap(
    lambda f: st.tuples(st.just(f), st.lists(st.one_of(st.none(), scalar_values[f]),
                                             min_size=1, max_size=4))))
def test_scalars_round_trip_with_their_types(case: tuple[str, list[Any]]) -> None:
    field, values = case
    if field == "s_str":  # "" is CVAT's blank, it reads back as None
        values = [None if v == "" else v for v in values]
    _round_trip(field, values, [(10, 10)] * len(values))
