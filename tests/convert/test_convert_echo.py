"""``from_sent`` (labels converted back from the body of an upload, before CVAT answers) equals
``from_cvat`` of the answer whenever ``echoes`` accepts the answer and ``from_sent`` returns a
value; and for a plain echo both do (the fast path is taken).

The answers are made the way CVAT makes them (recordings/05: ids added, ``score`` 1 on shapes),
then twisted in the ways a server or an annotator racing the upload could: a moved point, a
zero of the other sign, a changed attribute, another order, a missing id, a dropped object.
"""

from __future__ import annotations

from typing import Any

import pytest
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
from annosync.model.labels import Classification, Detection, Detections
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


# -- the same check on the answer's JSON (echoed_ids), and the ids matched before it -----------
#: Changes of one value in an answer's JSON: equal values of other JSON types, values of the
#: wrong type, a key more or less. (name, what it does to a shape/tag dict)
RAW_TWISTS: list[tuple[str, Any]] = [
    ("none", lambda o: None),
    ("frame_float", lambda o: o.update(frame=float(o["frame"]))),
    ("occluded_int", lambda o: o.update(occluded=int(o["occluded"])) if "occluded" in o else None),
    ("z_bool", lambda o: o.update(z_order=bool(o["z_order"])) if "z_order" in o else None),
    ("points_int", lambda o: o.update(points=[int(p) if p == int(p) else p
                                              for p in o["points"]]) if "points" in o else None),
    ("id_float", lambda o: o.update(id=float(o["id"])) if o.get("id") is not None else None),
    ("id_str", lambda o: o.update(id=str(o["id"])) if o.get("id") is not None else None),
    ("id_none", lambda o: o.update(id=None)),
    ("id_bool", lambda o: o.update(id=True)),
    ("no_id", lambda o: o.pop("id")),
    ("source_odd", lambda o: o.update(source="robot")),
    ("source_none", lambda o: o.update(source=None)),
    ("source_int", lambda o: o.update(source=3)),
    ("score_str", lambda o: o.update(score="1")),
    ("score_bad", lambda o: o.update(score="x")),
    ("score_bool", lambda o: o.update(score=True)),
    ("score_none", lambda o: o.update(score=None)),
    ("extra_key", lambda o: o.update(extra=1)),
    ("drop_group", lambda o: o.pop("group")),
    ("group_none", lambda o: o.update(group=None)),
    ("attr_bool", lambda o: o["attributes"][0].update(value=True) if o["attributes"] else None),
    ("attr_extra", lambda o: o["attributes"][0].update(x=1) if o["attributes"] else None),
    ("label_str", lambda o: o.update(label_id=str(o["label_id"]))),
    ("frame_neg", lambda o: o.update(frame=-1)),
    ("not_dict", lambda o: o.clear()),
]
TOP_TWISTS: list[tuple[str, Any]] = [
    ("none", lambda d: None),
    ("version_str", lambda d: d.update(version="0")),
    ("version_float", lambda d: d.update(version=0.0)),
    ("tracks_none", lambda d: d.update(tracks=None)),
    ("tracks_gone", lambda d: d.pop("tracks")),
    ("intervals", lambda d: d.update(intervals=[])),
    ("tags_none", lambda d: d.update(tags=None)),
    ("shape_not_object", lambda d: d["shapes"].__setitem__(0, [1]) if d["shapes"] else None),
    ("not_object", lambda d: d.update(tags=[[]], shapes=[[]])),
]


def _raw_answer(got: LabeledData, twist: str, at: int, top: str) -> bytes:
    """``got`` as CVAT writes it (``score`` on shapes, ``version``, ``tracks``), one value
    changed in the JSON by ``twist`` (at object ``at``) and ``top``."""
    import json

    body = got.model_dump(mode="json")
    for shape in body["shapes"]:
        shape["score"] = shape["score"] if shape["score"] is not None else 1
    objs = [*body["tags"], *body["shapes"]]
    if objs:
        dict(RAW_TWISTS)[twist](objs[at % len(objs)])
    dict(TOP_TWISTS)[top](body)
    return json.dumps(body).encode()


def _often_none(names: list[str]) -> Any:
    return st.one_of(st.just("none"), st.sampled_from(names))


@settings(max_examples=500, deadline=None)
@given(samples(), st.integers(min_value=1, max_value=10**6), _often_none(TWISTS),
       _often_none([n for n, _ in RAW_TWISTS]), _often_none([n for n, _ in TOP_TWISTS]),
       st.integers(min_value=0, max_value=50))
def test_an_echo_read_from_json_is_one_the_models_accept_with_the_same_ids(
        batch: list[Sample], first_id: int, twist: str, raw_twist: str, top: str,
        at: int) -> None:
    """Whatever ``echoed_ids`` accepts, ``model_validate_json`` accepts, ``echoes`` holds for,
    and the ids it reads are the answer's; ``EchoIdMap`` given them is ``build_id_map`` of the
    answer. A plain echo of a body without negative zeros is accepted."""
    import copy

    from annosync.convert.echo import echo_form, echoed_ids
    from annosync.convert.id_match import EchoIdMap

    frames = image_frames([(320, 240)] * len(batch))
    up = to_cvat(batch, FIELDS, frames, IMAGE_BOUND)
    form = echo_form(copy.deepcopy(up.data.to_api()))
    if up.data.tracks:
        assert form is None
        return
    raw = _raw_answer(answer(up.data, first_id, twist, at), raw_twist, at, top)
    if form is None:  # a zero of negative sign was sent
        assert any(_negative(s) for s in up.data.shapes)
        return
    ids = echoed_ids(raw, form)
    plain = twist == "none" and raw_twist in ("none", "id_none") and top in (
        "none", "tracks_gone", "intervals")
    if plain and (raw_twist == "none" or not (up.data.tags or up.data.shapes)):
        assert ids is not None
    if ids is None:
        return
    got = LabeledData.model_validate_json(raw)
    assert echoes(up.data, got)
    assert ids == ([t.id for t in got.tags], [s.id for s in got.shapes])
    assert EchoIdMap(7, up, IMAGE_BOUND).given(*ids) == build_id_map(7, up, got, IMAGE_BOUND)


def _negative(shape: Shape) -> bool:
    import math

    return any(v == 0 and math.copysign(1.0, v) < 0 for v in [shape.rotation, *shape.points])


REFUSED = ["id_float", "id_str", "id_none", "id_bool", "no_id", "source_odd", "source_int",
           "score_str", "score_bad", "score_bool", "extra_key", "drop_group", "group_none",
           "attr_bool", "attr_extra", "label_str", "frame_neg", "not_dict"]


@pytest.mark.parametrize("raw_twist", REFUSED)
def test_an_answer_other_than_the_body_sent_is_not_read_as_an_echo(raw_twist: str) -> None:
    """Each change of one value of a shape in a plain echo sends the answer to the models'
    way (those pydantic would refuse, and those it would accept but that are not the JSON
    sent, e.g. an id as a string); an answer that is the body sent, ids and score added,
    is read as an echo, also with CVAT's ``source`` values and an integer score."""
    from annosync.convert.echo import echo_form, echoed_ids

    frames = image_frames([(100, 100)])
    batch = [Sample(media="0.jpg", fields={
        "det": Detections(detections=[Detection(label="car", bounding_box=(0.1, 0.1, 0.2, 0.2))]),
        "cls": Classification(label="day")})]
    up = to_cvat(batch, FIELDS, frames, IMAGE_BOUND)
    assert up.data.shapes and up.data.shapes[0].attributes
    got = answer(up.data, 5, "none", 0)
    form = echo_form(up.data.to_api())
    assert form is not None
    at = len(got.tags)  # the shape
    assert echoed_ids(_raw_answer(got, "none", at, "none"), form) is not None
    for source in ("manual", "file", "auto"):
        for shape in got.shapes:
            shape.source = source  # type: ignore[assignment]
        assert echoed_ids(_raw_answer(got, "none", at, "none"), form) is not None
    assert echoed_ids(_raw_answer(got, raw_twist, at, "none"), form) is None


@pytest.mark.parametrize("top", ["version_str", "tracks_none", "tags_none", "shape_not_object",
                                 "not_object"])
def test_an_answer_of_another_form_is_not_read_as_an_echo(top: str) -> None:
    from annosync.convert.echo import echo_form, echoed_ids

    frames = image_frames([(100, 100)])
    batch = [Sample(media="0.jpg", fields={"det": Detections(detections=[
        Detection(label="car", bounding_box=(0.1, 0.1, 0.2, 0.2))]),
        "cls": Classification(label="day")})]
    up = to_cvat(batch, FIELDS, frames, IMAGE_BOUND)
    form = echo_form(up.data.to_api())
    assert form is not None
    got = answer(up.data, 5, "none", 0)
    assert echoed_ids(_raw_answer(got, "none", 0, "none"), form) is not None
    assert echoed_ids(_raw_answer(got, "none", 0, top), form) is None
