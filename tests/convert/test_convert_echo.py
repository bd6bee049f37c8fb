"""``from_sent`` (labels converted back from the body of an upload, before CVAT answers) equals
``from_cvat`` of the answer whenever ``echoes`` accepts the answer and ``from_sent`` returns a
value; and for a plain echo both do (the fast path is taken).

The answers are made the way CVAT makes them (recordings/05: ids added, ``score`` 1 on shapes),
then twisted in the ways a server or an annotator racing the upload could: a moved point, a
zero of the other sign, a changed attribute, another order, a missing id, a dropped object.
"""

from __future__ import annotations

from typing import Any

from convert_support import (
    IMAGE_BOUND,
    classification,
    classifications,
    detections,
    image_frames,
    keypoints,
    polylines,
    scalar_values,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.convert import PreviousLabels, build_id_map, from_cvat, from_sent, to_cvat
from annosync.convert.echo import echoes
from annosync.convert.id_match import _in_place, _match_flat, _match_tracks
from annosync.convert.results import SentObject
from annosync.model.cvat import AttributeValue, LabeledData, Shape, Track
from annosync.model.labels import Detection, Detections
from annosync.model.sample import Sample

FIELDS = ["det", "lines", "polys", "kp", "cls", "tags", "s_int", "weather"]
TWISTS = ["none", "none", "point", "zero_sign", "rotation", "attribute", "order", "no_id",
          "drop", "label", "frame"]


@st.composite
def samples(draw: Any) -> list[Sample]:
    out = []
    for i in range(draw(st.integers(min_value=1, max_value=3))):
        fields: dict[str, Any] = {}
        for name, strategy in (("det", detections()), ("lines", polylines(closed=False)),
                               ("polys", polylines(closed=True)), ("kp", keypoints()),
                               ("cls", st.one_of(st.none(), classification())),
                               ("tags", classifications()), ("s_int", scalar_values["s_int"]),
                               ("weather", scalar_values["weather"])):
            if draw(st.booleans()):
                value = draw(strategy)
                if value is not None:
                    fields[name] = value
        if draw(st.integers(min_value=0, max_value=5)) == 0:  # zeros, and their signs
            fields["det"] = Detections(detections=[Detection(
                label="car", bounding_box=(draw(st.sampled_from([0.0, -0.0, 0.5])), 0.0,
                                           0.25, draw(st.sampled_from([0.0, 0.5]))))])
        out.append(Sample(media=f"{i}.jpg", fields=fields))
    if len(out) > 1 and draw(st.booleans()):  # a label id used twice: not carried the 2nd time
        first = next((d for s in out for d in _dets(s)), None)
        last = next((d for s in reversed(out) for d in reversed(_dets(s))), None)
        if first is not None and last is not None and first is not last:
            last.id = first.id
    return out


def _dets(sample: Sample) -> list[Detection]:
    value = sample.fields.get("det")
    return list(value.detections) if isinstance(value, Detections) else []


def answer(sent: LabeledData, first_id: int, twist: str, at: int) -> LabeledData:
    """What CVAT answers to a PUT of ``sent`` (ids from ``first_id``), twisted."""
    got = LabeledData.model_validate(sent.to_api())
    for n, obj in enumerate([*got.tags, *got.shapes]):
        obj.id = first_id + n
    for shape in got.shapes:
        shape.score = 1.0
    shapes, tags = got.shapes, got.tags
    if twist == "point" and shapes:
        s = shapes[at % len(shapes)]
        s.points[0] += 1.0
    elif twist == "zero_sign" and shapes:
        for s in shapes:
            s.points = [-v if v == 0.0 else v for v in s.points]
    elif twist == "rotation" and shapes:
        shapes[at % len(shapes)].rotation = -0.0
    elif twist == "attribute":
        objs = [o for o in [*tags, *shapes] if o.attributes]
        if objs:
            o = objs[at % len(objs)]
            o.attributes[0] = AttributeValue(spec_id=o.attributes[0].spec_id, value="changed")
    elif twist == "order" and len(shapes) > 1:
        shapes.reverse()
    elif twist == "no_id" and shapes:
        shapes[at % len(shapes)].id = None
    elif twist == "drop" and (shapes or tags):
        (shapes or tags).pop()
    elif twist == "label" and shapes:
        shapes[at % len(shapes)].label_id = tags[0].label_id if tags else 99999
    elif twist == "frame" and shapes:
        shapes[at % len(shapes)].frame = (shapes[at % len(shapes)].frame + 1) % 3
    return got


@settings(max_examples=300, deadline=None)
@given(samples(), st.lists(st.tuples(st.integers(1, 500), st.integers(1, 500)), min_size=3,
                           max_size=3),
       st.integers(min_value=1, max_value=10**6), st.sampled_from(TWISTS),
       st.integers(min_value=0, max_value=50))
def test_from_sent_equals_from_cvat_of_an_echo(batch: list[Sample], sizes: list[Any],
                                               first_id: int, twist: str, at: int) -> None:
    frames = image_frames(sizes[: len(batch)])
    up = to_cvat(batch, FIELDS, frames, IMAGE_BOUND)
    previous = PreviousLabels.from_samples(batch, FIELDS)
    got = answer(up.data, first_id, twist, at)
    fast = from_sent(up.data, frames, IMAGE_BOUND, previous=previous, scope="task7")
    if fast is None or not echoes(up.data, got):
        return
    id_map = build_id_map(7, up, got, IMAGE_BOUND)
    full = from_cvat(got, frames, IMAGE_BOUND, id_map=id_map, previous=previous, scope="task7")
    # JSON text: tells 0.0 from -0.0, and 1 from 1.0 from True
    assert fast.model_dump_json(by_alias=True) == full.model_dump_json(by_alias=True)


@settings(max_examples=100, deadline=None)
@given(samples(), st.integers(min_value=1, max_value=10**6))
def test_a_plain_echo_takes_the_fast_path(batch: list[Sample], first_id: int) -> None:
    frames = image_frames([(320, 240)] * len(batch))
    up = to_cvat(batch, FIELDS, frames, IMAGE_BOUND)
    got = answer(up.data, first_id, "none", 0)
    assert echoes(up.data, got)
    ids = [d.id for s in batch for d in _dets(s)]
    fast = from_sent(up.data, frames, IMAGE_BOUND,
                     previous=PreviousLabels.from_samples(batch, FIELDS), scope="t")
    if len(ids) == len(set(ids)):  # every label carries its own id
        assert fast is not None


def test_echoes_refuses_tracks_and_zero_signs() -> None:
    frames = image_frames([(100, 100)])
    batch = [Sample(media="0.jpg", fields={"det": Detections(detections=[
        Detection(label="car", bounding_box=(0.0, 0.1, 0.2, 0.2))])})]
    up = to_cvat(batch, ["det"], frames, IMAGE_BOUND)
    got = answer(up.data, 1, "none", 0)
    assert echoes(up.data, got)
    assert not echoes(up.data, answer(up.data, 1, "zero_sign", 0))
    assert not echoes(up.data, answer(up.data, 1, "no_id", 0))
    with_track = got.model_copy(update={"tracks": [Track(label_id=1, frame=0)]})
    assert not echoes(up.data, with_track)


@settings(max_examples=300, deadline=None)
@given(samples(), st.integers(min_value=1, max_value=10**6),
       st.sampled_from([*TWISTS, "swap_label", "swap_label"]), st.integers(min_value=0, max_value=50))
def test_ids_read_in_place_are_those_the_full_matching_finds(batch: list[Sample], first_id: int,
                                                             twist: str, at: int) -> None:
    """An answer whose objects are where they were sent gives its ids by position
    (``_in_place``), the same entries as matching by carried label id then by position
    (``_match_flat``); any other answer (reordered, relabelled, an id missing, one dropped)
    is left to the full matching. In a plain echo of labels that carry their own ids, every
    shape is read in place."""
    frames = image_frames([(320, 240)] * len(batch))
    up = to_cvat(batch, FIELDS, frames, IMAGE_BOUND)
    got = answer(up.data, first_id, "none" if twist == "swap_label" else twist, at)
    if twist == "swap_label" and len(got.shapes) > 1:  # the same label id on another class
        a, b = got.shapes[at % len(got.shapes)], got.shapes[(at + 1) % len(got.shapes)]
        a.label_id, b.label_id = b.label_id, a.label_id
    for kind, sent, objs in (("tag", up.tags, got.tags), ("shape", up.shapes, got.shapes)):
        fast = _in_place(kind, sent, objs, IMAGE_BOUND)  # type: ignore[arg-type]
        if fast is not None:
            assert fast == _match_flat(kind, sent, objs, IMAGE_BOUND)  # type: ignore[arg-type]
    ids = [d.id for s in batch for d in _dets(s)]
    if twist == "none" and len(ids) == len(set(ids)) and up.shapes:
        assert _in_place("shape", up.shapes, got.shapes, IMAGE_BOUND) is not None
    assert build_id_map(7, up, got, IMAGE_BOUND).entries == (
        _match_flat("tag", up.tags, got.tags, IMAGE_BOUND)
        + _match_flat("shape", up.shapes, got.shapes, IMAGE_BOUND)
        + _match_tracks(up.tracks, got.tracks, IMAGE_BOUND))


def test_ids_in_place_keep_to_the_class_each_object_was_sent_with() -> None:
    """Two objects sent with one label id (car, then truck), answered with their classes
    swapped: the full matching pairs each answered object with the one of its class, so the
    ids are not read by position."""
    car, truck = IMAGE_BOUND.labels[0], IMAGE_BOUND.labels[1]
    sent = [SentObject(kind="shape", field="det", cvat_label=bl.id, label_ids=["x"], frames=[0],
                       index=n) for n, bl in enumerate((car, truck))]
    got = [Shape(id=10 + n, type="rectangle", frame=0, label_id=bl.id, points=[0, 0, 1, 1],
                 attributes=[AttributeValue(spec_id=bl.label_id_spec, value="x")])
           for n, bl in enumerate((truck, car))]
    assert [(e.index, e.cvat_id) for e in _match_flat("shape", sent, got, IMAGE_BOUND)] == [
        (1, 10), (0, 11)]
    assert _in_place("shape", sent, got, IMAGE_BOUND) is None
    in_order = [got[1].model_copy(update={"id": 10}), got[0].model_copy(update={"id": 11})]
    assert _in_place("shape", sent, in_order, IMAGE_BOUND) == _match_flat(
        "shape", sent, in_order, IMAGE_BOUND)
