"""Video: frame labels with an ``index`` <-> CVAT tracks. Keyframes, gaps (``outside`` then a new
keyframe), single-frame tracks, track ends inside and at the end of the task, indexes, ids of
interpolated frames, frame start/step, pieces of a track cut at job boundaries."""

from __future__ import annotations

from typing import Any

import numpy as np
from convert_support import (
    VIDEO_BOUND,
    assert_close,
    dump,
    video_frames,
)
from hypothesis import given
from hypothesis import strategies as st

from annosync.convert import PreviousLabels, build_id_map, from_cvat, to_cvat
from annosync.model.cvat import LabeledData
from annosync.model.labels import (
    BinaryMask,
    Classification,
    Detection,
    Detections,
    Keypoint,
    Keypoints,
    Polyline,
    Polylines,
)
from annosync.model.sample import MediaMetadata, Sample

META = MediaMetadata(media_type="video", width=320, height=240)
box = st.tuples(st.floats(0, 0.9), st.floats(0, 0.9), st.floats(0, 0.1), st.floats(0, 0.1))


@st.composite
def video_case(draw: Any) -> tuple[int, dict[int, list[Detection]]]:
    """(task size, {task frame: detections}) with tracks that have gaps and single frames."""
    size = draw(st.integers(min_value=1, max_value=24))
    per_frame: dict[int, list[Detection]] = {}
    flags = draw(st.sampled_from(["none", "all"]))
    for index in range(1, draw(st.integers(min_value=0, max_value=4)) + 1):
        frames = draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=size, unique=True))
        cls = draw(st.sampled_from(["car", "truck"]))
        kind = draw(st.sampled_from(["suv", "sedan"]))
        for tf in sorted(frames):
            per_frame.setdefault(tf, []).append(Detection(
                label=cls, bounding_box=draw(box), index=index,
                keyframe=True if flags == "all" else None, z_order=draw(st.sampled_from([None, 2])),
                rotation=draw(st.sampled_from([None, 45.0, 300.5])),
                attributes={"kind": kind, "moving": draw(st.booleans()),
                            "occ": draw(st.booleans())},
            ))
    for tf in range(size):  # a few standalone (non-track) objects too
        if draw(st.integers(0, 5)) == 0:
            per_frame.setdefault(tf, []).append(Detection(
                label="car", bounding_box=draw(box),
                attributes={"kind": "suv", "moving": False, "occ": False}))
    return size, per_frame


def _sample(per_frame: dict[int, list[Any]], field: str = "det", start: int = 0,
            step: int = 1, container: Any = Detections) -> Sample:
    key = {Detections: "detections", Polylines: "polylines", Keypoints: "keypoints"}[container]
    frames = {start + tf * step + 1: {field: container(**{key: objs})}
              for tf, objs in per_frame.items()}
    return Sample(media="v.mp4", metadata=META, frames=frames)


def _by_id(value: Any) -> dict[str, Any]:
    objs = getattr(value, "detections", None) or getattr(value, "polylines", None) or \
        getattr(value, "keypoints", None) or []
    return {o.id: dump(o) for o in objs}


def _expected(obj: Any) -> dict[str, Any]:
    want = dump(obj)
    if obj.index is not None:
        want["keyframe"] = True  # every label was a keyframe: it comes back flagged
    return want


@given(video_case())
def test_tracks_round_trip(case: Any) -> None:
    size, per_frame = case
    sample = _sample(per_frame)
    frames = video_frames(size)
    up = to_cvat([sample], ["frames.det"], frames, VIDEO_BOUND)
    assert up.notes == []
    previous = PreviousLabels.from_samples([sample], ["frames.det"])
    pulled = from_cvat(up.data, frames, VIDEO_BOUND, previous=previous)
    assert pulled.unexpected == []
    got_frames = pulled.samples[0].frames
    assert sorted(got_frames) == sorted(tf + 1 for tf in per_frame)
    for tf, objs in per_frame.items():
        got = _by_id(got_frames[tf + 1]["det"])
        assert set(got) == {o.id for o in objs}
        for o in objs:
            assert_close(got[o.id], _expected(o), f"frame {tf + 1} {o.id}")
    # fixed point: uploading what came back gives the same JSON
    again = to_cvat([Sample(media="v.mp4", metadata=META, frames={
        n: dict(f) for n, f in got_frames.items()})], ["frames.det"], frames, VIDEO_BOUND)
    assert again.data.to_api() == up.data.to_api()


@given(video_case())
def test_track_structure(case: Any) -> None:
    """Every visible run starts with a keyframe, ends with an outside marker when the next frame
    is inside the task, and immutable attributes sit on the track."""
    size, per_frame = case
    up = to_cvat([_sample(per_frame)], ["frames.det"], video_frames(size), VIDEO_BOUND)
    indexed = {(o.index, tf) for tf, objs in per_frame.items() for o in objs if o.index}
    assert sum(len(t.shapes) - sum(s.outside for s in t.shapes) for t in up.data.tracks) == \
        len(indexed)
    for track in up.data.tracks:
        bound = VIDEO_BOUND.label(track.label_id)
        assert bound is not None
        spec = bound.specs
        assert [a.spec_id for a in track.attributes] == [spec["kind"]]
        frames = [s.frame for s in track.shapes]
        assert frames == sorted(frames) and track.frame == frames[0]
        assert not track.shapes[0].outside
        for a, b in zip(track.shapes, track.shapes[1:], strict=False):
            if a.outside:
                assert not b.outside  # an outside marker is followed by a new keyframe
            elif b.frame != a.frame + 1:
                raise AssertionError("a gap without an outside marker")
        last = track.shapes[-1]
        assert last.outside or last.frame == size - 1 or last.frame + 1 >= size
        for s in track.shapes:
            if not s.outside:
                assert {a.spec_id for a in s.attributes} == {spec["moving"], spec["label_id"]}


def test_single_frame_tracks_and_track_end() -> None:
    car = {"kind": "suv", "moving": True, "occ": False}
    per_frame = {
        2: [Detection(label="car", bounding_box=(0.1, 0.1, 0.1, 0.1), index=1, attributes=car)],
        4: [Detection(label="car", bounding_box=(0.2, 0.1, 0.1, 0.1), index=2, attributes=car)],
    }
    up = to_cvat([_sample(per_frame)], ["frames.det"], video_frames(5), VIDEO_BOUND)
    one, two = up.data.tracks
    assert [(s.frame, s.outside) for s in one.shapes] == [(2, False), (3, True)]
    assert [(s.frame, s.outside) for s in two.shapes] == [(4, False)]  # last task frame
    pulled = from_cvat(up.data, video_frames(5), VIDEO_BOUND)
    assert sorted(pulled.samples[0].frames) == [3, 5]


def test_sparse_keyframes_are_interpolated_as_cvat_does() -> None:
    # a track visible on every frame, keyframes at task frames 0 and 4 only (the field uses
    # keyframe flags): only those are sent; CVAT interpolates frames 1-3 linearly and repeats
    # the last keyframe to the end of the task
    attrs = {"kind": "suv", "moving": False, "occ": False}
    per_frame = {tf: [Detection(label="car", bounding_box=({0: 0.1, 4: 0.5}.get(tf, 0.9), 0.2,
                                                           0.1, 0.1),
                                index=7, keyframe=True if tf in (0, 4) else None,
                                attributes=attrs)] for tf in range(8)}
    sample = _sample(per_frame)
    frames = video_frames(8)
    up = to_cvat([sample], ["frames.det"], frames, VIDEO_BOUND)
    assert [(s.frame, s.outside) for s in up.data.tracks[0].shapes] == [(0, False), (4, False)]
    previous = PreviousLabels.from_samples([sample], ["frames.det"])
    pulled = from_cvat(up.data, frames, VIDEO_BOUND, previous=previous)
    got = pulled.samples[0].frames
    assert sorted(got) == list(range(1, 9))
    xs = [got[n]["det"].detections[0].bounding_box[0] for n in range(1, 9)]
    assert np.allclose(xs, [0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5, 0.5])
    flags = [got[n]["det"].detections[0].keyframe for n in range(1, 9)]
    assert flags == [True, None, None, None, True, None, None, None]
    # every frame keeps its id: keyframes through label_id, the others through the previous
    # labels at the same (field, index, frame)
    ids = {n: got[n]["det"].detections[0].id for n in got}
    assert ids == {tf + 1: per_frame[tf][0].id for tf in range(8)}
    # without previous labels, interpolated frames get ids derived from the CVAT object:
    # the same on every pull
    bare = from_cvat(up.data, frames, VIDEO_BOUND)
    again = from_cvat(up.data, frames, VIDEO_BOUND)
    assert [f["det"].detections[0].id for f in bare.samples[0].frames.values()] == \
        [f["det"].detections[0].id for f in again.samples[0].frames.values()]
    # and what came back uploads to the same JSON (only keyframes are sent)
    pulled_sample = Sample(media="v.mp4", metadata=META,
                           frames={n: dict(f) for n, f in got.items()})
    up2 = to_cvat([pulled_sample], ["frames.det"], frames, VIDEO_BOUND)
    assert up2.data.to_api() == up.data.to_api()


def test_outside_marker_keeps_the_annotators_keyframes() -> None:
    # a pulled track: keyframes 0 and 2, visible up to 5, outside at 6, frames 3-5 moving on
    # linearly (CVAT interpolated them toward the outside marker's geometry): the marker is
    # placed where CVAT's interpolation reproduces 3-5 exactly, no keyframe is added
    attrs = {"kind": "suv", "moving": False, "occ": False}
    xs = {0: 0.0, 1: 0.05, 2: 0.1, 3: 0.125, 4: 0.15, 5: 0.175}
    per_frame = {tf: [Detection(label="car", bounding_box=(x, 0.25, 0.125, 0.125), index=1,
                                keyframe=True if tf in (0, 2) else None, attributes=attrs)]
                 for tf, x in xs.items()}
    frames = video_frames(10)
    sample = _sample(per_frame)
    up = to_cvat([sample], ["frames.det"], frames, VIDEO_BOUND)
    shapes = up.data.tracks[0].shapes
    assert [(s.frame, s.outside) for s in shapes] == [(0, False), (2, False), (6, True)]
    assert shapes[-1].points[0] == 0.2 * 320
    got = from_cvat(up.data, frames, VIDEO_BOUND,
                    previous=PreviousLabels.from_samples([sample], ["frames.det"]))
    for tf, x in xs.items():
        assert got.samples[0].frames[tf + 1]["det"].detections[0].bounding_box[0] == x


def test_run_end_becomes_a_keyframe_when_cvat_cannot_reproduce_it() -> None:
    # frames 3 and 4 are not on one line from the last keyframe: the run's end is pinned
    attrs = {"kind": "suv", "moving": False, "occ": False}
    xs = {0: 0.0, 1: 0.05, 2: 0.1, 3: 0.3, 4: 0.31}
    per_frame = {tf: [Detection(label="car", bounding_box=(x, 0.25, 0.125, 0.125), index=1,
                                keyframe=True if tf in (0, 2) else None, attributes=attrs)]
                 for tf, x in xs.items()}
    up = to_cvat([_sample(per_frame)], ["frames.det"], video_frames(10), VIDEO_BOUND)
    assert [(s.frame, s.outside) for s in up.data.tracks[0].shapes] == \
        [(0, False), (2, False), (4, False), (5, True)]
    assert up.tracks[0].frames == [0, 2, 4]


def test_frame_start_and_step() -> None:
    # like recordings2/09: start_frame 4, step 2 -> task frame i is source frame 4 + 2i, which
    # is sample frame 5 + 2i
    frames = video_frames(15, start=4, step=2)
    assert [frames.sample_frame(i) for i in (0, 1, 14)] == [5, 7, 33]
    assert frames.task_frame(5) == 0 and frames.task_frame(6) is None
    attrs = {"kind": "suv", "moving": False, "occ": False}
    sample = Sample(media="v.mp4", metadata=META, frames={
        n: {"det": Detections(detections=[Detection(
            label="car", bounding_box=(0.1, 0.1, 0.1, 0.1), index=1, attributes=attrs)])}
        for n in (5, 6, 7, 9)})
    up = to_cvat([sample], ["frames.det"], frames, VIDEO_BOUND)
    assert any("does not show" in n for n in up.notes)  # frame 6 is not in the task
    shapes = up.data.tracks[0].shapes
    assert [(s.frame, s.outside) for s in shapes] == [(0, False), (1, False), (2, False),
                                                      (3, True)]
    pulled = from_cvat(up.data, frames, VIDEO_BOUND,
                       previous=PreviousLabels.from_samples([sample], ["frames.det"]))
    assert sorted(pulled.samples[0].frames) == [5, 7, 9]
    assert pulled.samples[0].covered[:3] == [5, 7, 9]


def test_indexes_without_previous_labels() -> None:
    attrs = {"kind": "suv", "moving": False, "occ": False}
    per_frame = {0: [Detection(label="car", bounding_box=(0.1, 0.1, 0.1, 0.1), index=40,
                               attributes=attrs)],
                 1: [Detection(label="car", bounding_box=(0.3, 0.1, 0.1, 0.1), index=12,
                               attributes=attrs)]}
    frames = video_frames(3)
    sample = _sample(per_frame)
    up = to_cvat([sample], ["frames.det"], frames, VIDEO_BOUND)
    # fresh numbers in order of appearance when nothing is known
    fresh = from_cvat(up.data, frames, VIDEO_BOUND).samples[0].frames
    assert fresh[1]["det"].detections[0].index == 1 and fresh[2]["det"].detections[0].index == 2
    # the id map (from the server's answer to the upload) restores the uploaded indexes
    answer = up.data.model_copy(deep=True)
    for i, t in enumerate(answer.tracks):
        t.id = 500 + i
    id_map = build_id_map(9, up, answer, VIDEO_BOUND)
    mapped = from_cvat(answer, frames, VIDEO_BOUND, id_map=id_map).samples[0].frames
    assert mapped[1]["det"].detections[0].index == 40
    assert mapped[2]["det"].detections[0].index == 12
    # previous labels do too, and fresh numbers continue after the highest known one
    previous = PreviousLabels.from_samples([sample], ["frames.det"])
    extra = answer.model_copy(deep=True)
    new_track = extra.tracks[0].model_copy(deep=True)
    new_track.id = 999
    for s in new_track.shapes:
        s.attributes = []
    extra.tracks.append(new_track)
    got = from_cvat(extra, frames, VIDEO_BOUND, previous=previous).samples[0].frames
    assert [d.index for d in got[1]["det"].detections] == [40]
    assert sorted(d.index for d in got[2]["det"].detections) == [12, 41]


def test_pieces_of_a_track_merge_back() -> None:
    """CVAT cuts tracks at job boundaries (recordings2/09): each piece carries the keyframes'
    label ids, so the pieces resolve to one index and merge frame by frame."""
    attrs = {"kind": "suv", "moving": False, "occ": False}
    per_frame = {tf: [Detection(label="car", bounding_box=(0.05 * tf, 0.1, 0.1, 0.1), index=3,
                                attributes=attrs)] for tf in range(10)}
    sample = _sample(per_frame)
    frames = video_frames(10)
    up = to_cvat([sample], ["frames.det"], frames, VIDEO_BOUND)
    whole = up.data.tracks[0]
    cut = LabeledData(tracks=[
        whole.model_copy(update={"id": 1, "shapes": whole.shapes[:6]}),   # frames 0-5
        whole.model_copy(update={"id": 2, "frame": 4, "shapes": whole.shapes[4:]}),  # 4-9
    ])
    previous = PreviousLabels.from_samples([sample], ["frames.det"])
    got = from_cvat(cut, frames, VIDEO_BOUND, previous=previous).samples[0].frames
    assert sorted(got) == list(range(1, 11))
    for tf in range(10):
        (det,) = got[tf + 1]["det"].detections
        assert det.index == 3 and det.id == per_frame[tf][0].id


def test_standalone_shapes_and_frame_tags() -> None:
    per_frame = {0: [Detection(label="truck", bounding_box=(0.1, 0.1, 0.2, 0.2),
                               attributes={"kind": "sedan", "moving": True, "occ": True})]}
    sample = _sample(per_frame)
    sample.frames[1]["cls"] = Classification(label="night")
    sample.frames[3] = {"cls": Classification(label="day")}
    frames = video_frames(4)
    up = to_cvat([sample], ["frames.det", "frames.cls"], frames, VIDEO_BOUND)
    assert len(up.data.shapes) == 1 and up.data.shapes[0].occluded
    assert [(t.frame) for t in up.data.tags] == [0, 2]
    pulled = from_cvat(up.data, frames, VIDEO_BOUND).samples[0].frames
    assert pulled[1]["cls"].label == "night" and pulled[3]["cls"].label == "day"
    assert pulled[1]["det"].detections[0].attributes == {"kind": "sedan", "moving": True,
                                                         "occ": True}


def test_polyline_keypoint_and_mask_tracks_round_trip() -> None:
    frames = video_frames(4)
    lines = {tf: [Polyline(label="lane", index=1, points=[[(0.1 * tf, 0.1), (0.5, 0.5)]])]
             for tf in (0, 1, 3)}
    polys = {tf: [Polyline(label="zone", index=2, closed=True, filled=True,
                           points=[[(0.1, 0.1), (0.2 + 0.1 * tf, 0.1), (0.2, 0.4)]])]
             for tf in (1, 2)}
    kps = {tf: [Keypoint(label="joint", index=1, points=[(0.1, 0.2), None, (0.3 + tf / 10, 0.4)])]
           for tf in (0, 2)}
    mask = BinaryMask.from_array(np.eye(3, 4, dtype=bool))
    blobs = {tf: [Detection(label="blob", index=1, mask=mask,
                            bounding_box=(tf / 320, 0, 4 / 320, 3 / 240))] for tf in (0, 1)}
    sample = Sample(media="v.mp4", metadata=META, frames={})
    for name, data, cont in (("lines", lines, Polylines), ("polys", polys, Polylines),
                             ("kp", kps, Keypoints), ("inst", blobs, Detections)):
        key = {Polylines: "polylines", Keypoints: "keypoints", Detections: "detections"}[cont]
        for tf, objs in data.items():
            sample.frames.setdefault(tf + 1, {})[name] = cont(**{key: objs})
    paths = ["frames.lines", "frames.polys", "frames.kp", "frames.inst"]
    up = to_cvat([sample], paths, frames, VIDEO_BOUND)
    assert up.notes == []
    assert {t.shapes[0].type for t in up.data.tracks} == {"polyline", "polygon", "points", "mask"}
    pulled = from_cvat(up.data, frames, VIDEO_BOUND,
                       previous=PreviousLabels.from_samples([sample], paths))
    got = pulled.samples[0].frames
    for name, data in (("lines", lines), ("polys", polys), ("kp", kps), ("inst", blobs)):
        for tf, objs in data.items():
            assert_close(_by_id(got[tf + 1][name]), {o.id: _expected(o) for o in objs})


@st.composite
def cvat_track(draw: Any) -> tuple[int, list[Any]]:
    """A rectangle track as an annotator makes it in CVAT: keyframes with 2-decimal coordinates,
    some ``outside``, rotations."""
    from annosync.model.cvat import TrackedShape

    size = draw(st.integers(min_value=2, max_value=30))
    frames = sorted(draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=6,
                                  unique=True)))
    coord2 = st.integers(0, 30000).map(lambda v: v / 100)
    shapes = []
    for i, f in enumerate(frames):
        x, y = draw(coord2), draw(coord2)
        shapes.append(TrackedShape(
            type="rectangle", frame=f, outside=i > 0 and draw(st.booleans()),
            points=[x, y, x + draw(st.integers(1, 5000)) / 100, y + draw(st.integers(1, 5000)) / 100],
            rotation=draw(st.sampled_from([0.0, 10.0, 180.0, 350.5])),
            occluded=draw(st.booleans())))
    return size, shapes


@given(cvat_track())
def test_tracks_made_in_cvat_keep_their_keyframes(case: Any) -> None:
    from annosync.model.cvat import Track

    size, shapes = case
    car = VIDEO_BOUND.label_for("frames.det", "car")
    assert car is not None
    data = LabeledData(tracks=[Track(id=1, frame=shapes[0].frame, label_id=car.id,
                                     shapes=shapes)])
    frames = video_frames(size)
    first = from_cvat(data, frames, VIDEO_BOUND).samples[0].frames
    sample = Sample(media="v.mp4", metadata=META, frames={n: dict(f) for n, f in first.items()})
    up = to_cvat([sample], ["frames.det"], frames, VIDEO_BOUND)
    keys = [s.frame for s in shapes if not s.outside]
    assert [s.frame for t in up.data.tracks for s in t.shapes if not s.outside] == keys
    second = from_cvat(up.data, frames, VIDEO_BOUND,
                       previous=PreviousLabels.from_samples([sample], ["frames.det"]))
    got = second.samples[0].frames
    assert sorted(got) == sorted(first)
    for n, f in first.items():
        a, b = f["det"].detections[0], got[n]["det"].detections[0]
        assert (a.id, a.keyframe, a.index) == (b.id, b.keyframe, b.index)
        assert np.allclose(a.bounding_box, b.bounding_box, rtol=0, atol=1e-12)
    again = to_cvat([Sample(media="v.mp4", metadata=META,
                            frames={n: dict(f) for n, f in got.items()})],
                    ["frames.det"], frames, VIDEO_BOUND)
    assert again.data.to_api() == up.data.to_api()
