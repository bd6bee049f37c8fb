"""The base digests of a new task made from the boxes it sent (``boxes_from_sent`` +
``bases_from_boxes``) equal those made from ``from_sent``'s labels (``task_bases``), whenever the
lean way takes the upload; and it takes the common upload (boxes carrying their own ids).

The labels come with what makes a twin differ from its local label: boxes whose coordinates do
not come back bit for bit (any float), rotations that go up normalized (negative, 360 and more,
0.0 against None), z orders of 0, track numbers restored from ``previous``, attribute values of
every type, an id used twice, labels of other fields (tags, polylines: the full way then).
"""

from __future__ import annotations

from typing import Any

from convert_support import (
    FIELDS,
    IMAGE_BOUND,
    IMAGE_SCHEMA,
    classifications,
    det_attributes,
    image_frames,
    polylines,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.convert import PreviousLabels, from_sent, to_cvat
from annosync.convert.cvat_to_labels import boxes_from_sent
from annosync.model.labels import Classification, Classifications, Detection, Detections
from annosync.model.sample import Sample
from annosync.sync.create import task_bases
from annosync.sync.record import TaskRecord
from annosync.sync.sent_bases import bases_from_boxes

ALL = list(FIELDS)
coord = st.one_of(st.floats(min_value=-0.25, max_value=1.25, allow_nan=False,
                            allow_infinity=False),
                  st.integers(0, 640).map(lambda n: n / 320), st.sampled_from([0.0, -0.0]))
extent = st.one_of(st.floats(min_value=0.0, max_value=1.0, allow_nan=False,
                             allow_infinity=False),
                   st.integers(0, 320).map(lambda n: n / 240), st.sampled_from([0.0, -0.0]))
rotation = st.one_of(st.none(), st.sampled_from([0.0, -0.0, 360.0, 720.5, -30.0]),
                     st.floats(min_value=-720, max_value=720, allow_nan=False))
z_order = st.one_of(st.none(), st.integers(min_value=-3, max_value=3))


@st.composite
def boxes(draw: Any, inst: bool = False) -> Detections:
    items = []
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        cls = draw(st.sampled_from(["car", "person"] if inst else ["car", "truck"]))
        attrs = ({"occ": draw(st.booleans())} if inst and draw(st.booleans())
                 else {} if inst else draw(det_attributes(cls)))
        det = Detection(label=cls, bounding_box=(draw(coord), draw(coord), draw(extent),
                                                 draw(extent)),
                        rotation=draw(rotation), z_order=draw(z_order), attributes=attrs,
                        index=draw(st.one_of(st.none(), st.integers(0, 3))),
                        confidence=draw(st.one_of(st.none(), st.just(0.5))))
        items.append(det)
    return Detections(detections=items)


@st.composite
def batches(draw: Any, others: bool = True) -> list[Sample]:
    out = []
    for i in range(draw(st.integers(min_value=1, max_value=4))):
        fields: dict[str, Any] = {}
        if draw(st.booleans()) or not others:
            fields["det"] = draw(boxes())
        if draw(st.booleans()):
            fields["inst"] = draw(boxes(inst=True))
        if others and draw(st.integers(0, 4)) == 0:
            fields["tags"] = draw(classifications())
        if others and draw(st.integers(0, 4)) == 0:
            fields["lines"] = draw(polylines(closed=False))
        out.append(Sample(media=f"{i}.jpg", fields=fields))
    dets = [d for s in out for v in s.fields.values() if isinstance(v, Detections)
            for d in v.detections]
    if others and len(dets) > 1 and draw(st.integers(0, 3)) == 0:  # one id on two labels
        dets[-1].id = dets[0].id
    return out


def _json(bases: list[Any]) -> list[Any]:
    return [None if b is None else {p: {k: e.to_json() for k, e in f.items()}
                                    for p, f in b.items()} for b in bases]


def _task(batch: list[Sample]) -> TaskRecord:
    return TaskRecord(index=0, name="t", samples=[str(i) for i in range(len(batch))])


def _full(batch: list[Sample], up: Any, frames: Any, previous: Any) -> list[Any] | None:
    """What ``create._guess`` made before: ``task_bases`` of ``from_sent``'s labels."""
    try:
        pulled = from_sent(up.data, frames, IMAGE_BOUND, previous=previous, scope="task7")
    except ValueError:
        return None
    return None if pulled is None else task_bases(_task(batch), batch, IMAGE_SCHEMA, pulled)


@settings(max_examples=400, deadline=None)
@given(batches(), st.lists(st.tuples(st.integers(1, 700), st.integers(1, 700)), min_size=4,
                           max_size=4))
def test_the_bases_from_the_boxes_equal_those_from_the_labels(batch: list[Sample],
                                                              sizes: list[Any]) -> None:
    frames = image_frames(sizes[: len(batch)])
    up = to_cvat(batch, ALL, frames, IMAGE_BOUND)
    previous = PreviousLabels.from_samples(batch, ALL)
    sent = boxes_from_sent(up.data, frames, IMAGE_BOUND, previous=previous)
    if sent is None:
        return
    full = _full(batch, up, frames, previous)
    assert full is not None  # the lean way takes only what from_sent takes
    assert _json(bases_from_boxes(batch, IMAGE_SCHEMA, sent)) == _json(full)


@settings(max_examples=150, deadline=None)
@given(batches(others=False), st.integers(1, 700), st.integers(1, 700))
def test_boxes_carrying_their_own_ids_take_the_lean_way(batch: list[Sample], width: int,
                                                        height: int) -> None:
    frames = image_frames([(width, height)] * len(batch))
    up = to_cvat(batch, ALL, frames, IMAGE_BOUND)
    boxes_back = boxes_from_sent(up.data, frames, IMAGE_BOUND,
                                 previous=PreviousLabels.from_samples(batch, ALL))
    assert boxes_back is not None
    assert [b.id for b in boxes_back] == [s.label_ids[0] for s in up.shapes]


def test_tags_and_twice_used_ids_take_the_full_way() -> None:
    frames = image_frames([(320, 240)] * 2)
    car = Detection(label="car", bounding_box=(0.1, 0.2, 0.3, 0.4))
    twin = Detection(id=car.id, label="car", bounding_box=(0.5, 0.2, 0.3, 0.4))
    batch = [Sample(media="0.jpg", fields={"det": Detections(detections=[car])}),
             Sample(media="1.jpg", fields={"det": Detections(detections=[twin])})]
    up = to_cvat(batch, ALL, frames, IMAGE_BOUND)
    assert boxes_from_sent(up.data, frames, IMAGE_BOUND) is None  # one id, twice
    batch[1] = Sample(media="1.jpg", fields={"det": Detections(detections=[
        Detection(label="car", bounding_box=(0.5, 0.2, 0.3, 0.4))])})
    up = to_cvat(batch, ALL, frames, IMAGE_BOUND)
    assert boxes_from_sent(up.data, frames, IMAGE_BOUND) is not None
    batch[1].fields["tags"] = Classifications(classifications=[Classification(label="a")])
    up = to_cvat(batch, ALL, frames, IMAGE_BOUND)
    assert up.data.tags and boxes_from_sent(up.data, frames, IMAGE_BOUND) is None


def test_a_box_whose_digest_changes_on_the_way_back() -> None:
    """Coordinates next to a 7-decimal tie: the box comes back an ulp off and digests
    otherwise, so the base keeps both sides (``r``), as from_sent's labels say."""
    found = [(1000, (0.7260626500000001, 0.1, 0.00353335, 0.2)),
             (640, (0.49726054999999986, 0.1, 0.55816985, 0.2)),
             (320, (0.38188245, 0.1, 0.53916965, 0.2)),
             (333, (0.8619937499999999, 0.1, 0.25, 0.2))]
    attrs = {"color": "red", "n": 3, "note": "x", "parked": False, "occ": True, "size": 2.5}
    batch = [Sample(media=f"{i}.jpg", fields={"det": Detections(detections=[
        Detection(label="car", bounding_box=box, attributes=attrs)])})
        for i, (_, box) in enumerate(found)]
    frames = image_frames([(w, 240) for w, _ in found])
    up = to_cvat(batch, ALL, frames, IMAGE_BOUND)
    previous = PreviousLabels.from_samples(batch, ALL)
    sent = boxes_from_sent(up.data, frames, IMAGE_BOUND, previous=previous)
    assert sent is not None
    lean = _json(bases_from_boxes(batch, IMAGE_SCHEMA, sent))
    assert lean == _json(_full(batch, up, frames, previous) or [])
    assert all("r" in next(iter(b["det"].values())) for b in lean)


@settings(max_examples=300, deadline=None)
@given(st.tuples(coord, coord, extent, extent), st.tuples(coord, coord, extent, extent),
       rotation, z_order, st.booleans())
def test_a_moved_box_digests_as_the_label_with_that_box(box: Any, moved: Any, turn: Any,
                                                        z: Any, near: bool) -> None:
    """``sent_bases._moved`` (the digests of a label whose box came back elsewhere, from its
    own) equals digesting the label with that box; ``near``: the box an ulp or a rounding
    away, as it comes back (the common case), else anywhere."""
    import math

    from annosync.sync.digest import digests
    from annosync.sync.sent_bases import _moved

    if near:
        moved = tuple(math.nextafter(v, 2.0) if i % 2 else v + 5e-8 for i, v in enumerate(box))
    local = Detection(label="car", bounding_box=box, rotation=turn, z_order=z)
    names = ("iscrowd",)
    ld = digests(local, names)
    assert _moved(local, ld, moved, names) == digests(
        local.model_copy(update={"bounding_box": moved}), names)
