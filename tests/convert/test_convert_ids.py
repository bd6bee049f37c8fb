"""Provenance (label_id attribute, id maps, duplicates), unexpected objects, partial pulls, and
what ``to_cvat`` refuses to send."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
from convert_support import IMAGE_BOUND, IMAGE_SCHEMA, image_frames, serve
from hypothesis import given
from hypothesis import strategies as st

from annosync.convert import (
    RunIdMap,
    TaskIdMap,
    bind,
    build_id_map,
    derived_id,
    from_cvat,
    to_cvat,
    to_specs,
)
from annosync.model.cvat import LabeledData, Shape, Tag
from annosync.model.labels import (
    BinaryMask,
    Classification,
    Classifications,
    Detection,
    Detections,
    IndexMask,
    Keypoint,
    Keypoints,
    Polyline,
    Polylines,
    Segmentation,
    label_objects,
)
from annosync.model.sample import Sample

ATTRS = {"color": "red", "n": 1, "note": "x", "parked": False, "occ": False, "size": 1}


def _samples() -> list[Sample]:
    return [
        Sample(media="0.jpg", fields={
            "det": Detections(detections=[
                Detection(label="car", bounding_box=(0.1, 0.1, 0.2, 0.2), attributes=ATTRS),
                Detection(label="car", bounding_box=(0.5, 0.1, 0.2, 0.2), attributes=ATTRS)]),
            "lines": Polylines(polylines=[Polyline(label="road", points=[
                [(0.1, 0.1), (0.2, 0.2)], [(0.3, 0.3), (0.4, 0.4)]])]),
            "tags": Classifications(classifications=[Classification(label="a")]),
            "seg": Segmentation(mask=IndexMask.from_array(np.array([[1, 2], [5, 0]]))),
        }),
        Sample(media="1.jpg", fields={
            "det": Detections(detections=[
                Detection(label="truck", bounding_box=(0.3, 0.3, 0.1, 0.1),
                          attributes={**ATTRS, "axles": 2})]),
            "cls": Classification(label="day", attributes={"conf": 2, "ok": True}),
        }),
    ]


FIELDS = ["det", "lines", "tags", "seg", "cls"]


def _answer(up: Any, seed: int, drop_ids: bool = True) -> LabeledData:
    """What the server answers: the objects with ids, some label_id attributes lost, shuffled
    within each list (the id map must not depend on order for objects that kept label_id)."""
    data = up.data.model_copy(deep=True)
    rng = random.Random(seed)
    next_id = 1000
    for group in (data.tags, data.shapes, data.tracks):
        for obj in group:
            obj.id = next_id
            next_id += 1
    if drop_ids:
        for obj in data.shapes[::3]:
            obj.attributes = [a for a in obj.attributes if a.value not in up.label_ids()]
    rng.shuffle(data.tags)
    return data


@given(st.integers(0, 10_000))
def test_id_map_pairs_sent_and_returned_objects(seed: int) -> None:
    frames = image_frames([(100, 100), (100, 100)])
    samples = _samples()
    up = to_cvat(samples, FIELDS, frames, IMAGE_BOUND)
    answer = _answer(up, seed)
    id_map = build_id_map(7, up, answer, IMAGE_BOUND)
    for sent, got in zip(up.shapes, answer.shapes, strict=True):  # shapes kept their order
        assert id_map.label_for("shape", got.id) == sent.label_ids[0]
    for tag in answer.tags:
        assert id_map.label_for("tag", tag.id) is not None
    # a pull where CVAT lost the label_id attributes still finds every label
    stripped = answer.model_copy(deep=True)
    for obj in [*stripped.tags, *stripped.shapes]:
        obj.attributes = [a for a in obj.attributes if a.value not in up.label_ids()]
    pulled = from_cvat(stripped, frames, IMAGE_BOUND, id_map=id_map)
    want = {o.id for s in samples for v in s.fields.values() for o in label_objects(v)}
    got = {o.id for s in pulled.samples.values() for v in s.fields.values()
           for o in label_objects(v)}
    assert got == want
    # the multi-part polyline is one label again
    assert len(pulled.samples[0].fields["lines"].polylines[0].points) == 2


def test_id_maps_survive_many_tasks_and_serialize() -> None:
    run = RunIdMap()
    frames = image_frames([(100, 100), (100, 100)])
    up = to_cvat(_samples(), FIELDS, frames, IMAGE_BOUND)
    for task in (3, 4):
        run.update(build_id_map(task, up, _answer(up, task, drop_ids=False), IMAGE_BOUND))
    assert sorted(run.tasks) == [3, 4]
    again = RunIdMap.model_validate_json(run.model_dump_json())
    assert again.for_task(3).label_for("shape", 1002) == run.for_task(3).label_for("shape", 1002)
    assert again.for_task(99).entries == []
    # a later PATCH create adds entries; the newer entry wins for the same CVAT object
    extra = TaskIdMap(task_id=3, entries=[{"kind": "shape", "cvat_id": 1002, "field": "det",
                                           "label_id": "f" * 24}])
    run.update(extra)
    assert run.for_task(3).label_for("shape", 1002) == "f" * 24
    assert run.for_task(3).label_for("shape", 1003) is not None


def test_duplicate_label_ids_keep_their_first_holder() -> None:
    frames = image_frames([(100, 100)])
    det = Detection(label="car", bounding_box=(0.1, 0.1, 0.2, 0.2), attributes=ATTRS)
    up = to_cvat([Sample(media="0.jpg", fields={"det": Detections(detections=[det])})], ["det"],
                 frames, IMAGE_BOUND)
    data = up.data.model_copy(deep=True)
    copy = data.shapes[0].model_copy(deep=True)  # an annotator copy-pasted the box
    copy.points = [50.0, 50.0, 60.0, 60.0]
    data.shapes.append(copy)
    for i, s in enumerate(data.shapes):
        s.id = 70 + i
    got = from_cvat(data, frames, IMAGE_BOUND, scope="t1").samples[0].fields["det"].detections
    assert got[0].id == det.id
    assert got[1].id == derived_id("t1|shape|71") != det.id


def test_unexpected_objects_are_returned_never_dropped() -> None:
    frames = image_frames([(100, 100)])
    served = serve(to_specs(IMAGE_SCHEMA))
    served.append(served[0].model_copy(update={"id": 777, "name": "scooter", "attributes": []}))
    bound = bind(IMAGE_SCHEMA, served)
    kp_label = bound.label_for("kp", "person")
    cls_label = bound.label_for("cls", "day")
    assert kp_label is not None and cls_label is not None
    data = LabeledData(
        shapes=[
            Shape(id=1, frame=0, label_id=777, type="rectangle", points=[10, 10, 20, 20]),
            Shape(id=2, frame=0, label_id=kp_label.id, type="rectangle", points=[1, 1, 5, 5]),
            Shape(id=3, frame=0, label_id=kp_label.id, type="ellipse", points=[50, 50, 60, 40]),
        ],
        tags=[Tag(id=4, frame=0, label_id=cls_label.id), Tag(id=5, frame=0, label_id=cls_label.id)],
    )
    pulled = from_cvat(data, frames, bound)
    by_id = {u.cvat_id: u for u in pulled.unexpected}
    assert set(by_id) == {1, 2, 3, 5}
    new_class = by_id[1]
    assert new_class.cvat_label == "scooter" and new_class.field is None
    assert new_class.label_type == "detections"
    assert new_class.labels[0].label["label"] == "scooter"
    assert new_class.labels[0].label["bounding_box"] == [0.1, 0.1, 0.1, 0.1]
    wrong_shape = by_id[2]
    assert wrong_shape.field == "kp" and "does not fit field 'kp' (keypoints)" in wrong_shape.reason
    assert wrong_shape.labels[0].label["_type"] == "detection"
    assert by_id[3].label_type is None and by_id[3].raw["type"] == "ellipse"
    assert "holds one label" in by_id[5].reason and by_id[5].labels[0].label["label"] == "day"
    assert pulled.samples[0].fields["cls"].label == "day"  # the first one stays


def test_partial_pulls() -> None:
    frames = image_frames([(100, 100), (100, 100)])
    up = to_cvat(_samples(), FIELDS, frames, IMAGE_BOUND)
    # a job covering frame 1 only: frame 0 is not reported at all
    job = from_cvat(up.data, frames, IMAGE_BOUND, covered=[1])
    assert sorted(job.samples) == [1]
    # asking for one field ignores the others' objects (they are not unexpected)
    one = from_cvat(up.data, frames, IMAGE_BOUND, fields=["cls"])
    assert one.unexpected == [] and set(one.samples[0].fields) == {"cls"}
    assert one.samples[1].fields["cls"].label == "day"


def test_what_cannot_be_sent_is_noted() -> None:
    frames = image_frames([(100, 100)])
    sample = Sample(media="0.jpg", fields={
        "det": Detections(detections=[Detection(label="plane", bounding_box=(0, 0, 1, 1))]),
        "kp": Keypoints(keypoints=[Keypoint(label="person", points=[None, None])]),
        "lines": Polylines(polylines=[Polyline(label="road", points=[[(0.1, 0.1)]])]),
        "inst": Detections(detections=[Detection(label="car", bounding_box=(2, 2, 0.1, 0.1),
                                                 mask=BinaryMask(size=(1, 1), counts=[0, 1]))]),
        "weather": "hail",
    })
    up = to_cvat([sample], ["det", "kp", "lines", "inst", "weather"], frames, IMAGE_BOUND)
    assert up.data.shapes == [] and up.data.tags == []
    assert up.notes == [
        "det: class 'plane' is not in the schema",
        "inst: instance mask outside the frame",
        "kp: keypoints with no visible point",
        "lines: polyline part with too few points",
        "weather: value 'hail' is not one of its classes",
    ]
    bound = bind(IMAGE_SCHEMA, serve(to_specs(IMAGE_SCHEMA))[:1])
    assert "missing on the server" in to_cvat(
        [Sample(media="0.jpg", fields={"cls": Classification(label="day")})], ["cls"], frames,
        bound).notes[0]


def test_mask_files_are_read_through_the_callback() -> None:
    frames = image_frames([(4, 4)])
    det = Detection(label="car", bounding_box=(0, 0, 0.5, 0.5), mask_path="masks/a.png")
    sample = Sample(media="0.jpg", fields={"inst": Detections(detections=[det])})
    asked: list[str] = []

    def load(path: str) -> np.ndarray:
        asked.append(path)
        return np.array([[1, 0], [0, 1]], dtype=bool)

    up = to_cvat([sample], ["inst"], frames, IMAGE_BOUND, load_mask=load)
    assert asked == ["masks/a.png"] and up.data.shapes[0].type == "mask"
    assert up.data.shapes[0].points == [0.0, 1.0, 2.0, 1.0, 0.0, 0.0, 1.0, 1.0]
    without = to_cvat([sample], ["inst"], frames, IMAGE_BOUND)
    assert without.data.shapes[0].type == "rectangle"
    assert without.notes == ["inst: mask file not loaded (no load_mask given)"]


def test_index_of_a_standalone_shape_is_kept() -> None:
    from annosync.convert import PreviousLabels

    frames = image_frames([(100, 100)])
    det = Detection(label="car", bounding_box=(0.1, 0.1, 0.2, 0.2), index=4, attributes=ATTRS)
    sample = Sample(media="0.jpg", fields={"det": Detections(detections=[det])})
    up = to_cvat([sample], ["det"], frames, IMAGE_BOUND)
    assert up.data.tracks == []  # image tasks get shapes
    bare = from_cvat(up.data, frames, IMAGE_BOUND).samples[0].fields["det"].detections[0]
    assert bare.index is None
    known = from_cvat(up.data, frames, IMAGE_BOUND,
                      previous=PreviousLabels.from_samples([sample], ["det"]))
    assert known.samples[0].fields["det"].detections[0].index == 4


def test_results_serialize() -> None:
    from annosync.convert import Pulled, Upload

    frames = image_frames([(100, 100), (100, 100)])
    up = to_cvat(_samples(), FIELDS, frames, IMAGE_BOUND)
    assert Upload.model_validate_json(up.model_dump_json()) == up
    pulled = from_cvat(up.data, frames, IMAGE_BOUND)
    assert Pulled.model_validate_json(pulled.model_dump_json(by_alias=True)) == pulled
