"""Real CVAT 2.73 bodies (tests/data/cvat/recordings*): recorded answers parse into the labels we
expect, and converting those labels back reproduces the recorded shapes, tags and tracks.

The recorded tasks were made by hand, not by annosync, so their labels have no ``label_id``
attribute: the schema is taken from the task's labels (``schema_from_project``), as for an
existing project, with ``occluded_attr`` / ``group_id_attr`` wiring the flags."""

from __future__ import annotations

import json
from typing import Any

import pytest
from convert_support import SHARED, exchanges

from annosync.convert import (
    FrameMap,
    bind,
    from_cvat,
    schema_from_project,
    to_cvat,
)
from annosync.model.cvat import LabeledData, LabelSpec
from annosync.model.manifest import FieldSchema
from annosync.model.sample import MediaMetadata, Sample

FIELDS = {
    "det": FieldSchema(type="instances"),
    "lines": FieldSchema(type="polylines"),
    "kp": FieldSchema(type="keypoints"),
    "tags": FieldSchema(type="classifications"),
}
VIDEO_FIELDS = {
    "frames.det": FieldSchema(type="instances"),
    "frames.lines": FieldSchema(type="polylines"),
    "frames.kp": FieldSchema(type="keypoints"),
    "frames.tags": FieldSchema(type="classifications"),
}


def _seq(n: int) -> dict[str, Any]:
    with (SHARED / "recordings2" / "all.jsonl").open() as fh:
        for line in fh:
            e = json.loads(line)
            if e["seq"] == n:
                out: dict[str, Any] = e
                return out
    raise KeyError(n)


def _bound(labels: list[dict[str, Any]], fields: dict[str, FieldSchema]) -> Any:
    specs = [LabelSpec.model_validate(x) for x in labels]
    schema = schema_from_project(specs, fields, occluded_attr="occ", group_id_attr="grp")
    return bind(schema, specs)


def _norm_shape(shape: Any) -> dict[str, Any]:
    d = shape.model_dump(mode="json")
    d["attributes"] = sorted((a["spec_id"], a["value"]) for a in d["attributes"])
    d["points"] = [float(p) for p in d["points"]]
    for key in ("id", "source", "score", "elements", "keyframe"):
        d.pop(key, None)
    return d


def _samples_from(pulled: Any, n: int) -> list[Sample]:
    return [Sample(media=f"{i}.jpg", fields={k: v for k, v in pulled.samples[i].fields.items()
                                             if v is not None}) for i in range(n)]


# -- recordings/ (project 6, image task 11, video task 12) --------------------------------------
def _project_labels() -> list[dict[str, Any]]:
    ex = next(e for e in exchanges("recordings/02_create_project.json")
              if e["path"] == "/api/labels")
    labels: list[dict[str, Any]] = ex["response_body"]["results"]
    return labels


def test_image_task_read_back() -> None:
    bound = _bound(_project_labels(), FIELDS)
    got = next(e for e in exchanges("recordings/06_read_task_annotations.json")
               if e["method"] == "GET")["response_body"]
    frames = FrameMap(media_type="image", size=3, sizes=[{"width": 320, "height": 240}] * 3)
    pulled = from_cvat(got, frames, bound, scope="task11")
    assert pulled.unexpected == []
    car = pulled.samples[0].fields["det"].detections[0]
    assert car.label == "car" and car.z_order == 1
    assert car.bounding_box == pytest.approx((20 / 320, 20 / 240, 100 / 320, 80 / 240),
                                             abs=1e-15)
    assert car.attributes == {"color": "blue", "parked": True, "plate": "AB-123", "occ": True,
                              "grp": 1}
    road = pulled.samples[0].fields["lines"].polylines[0]
    assert road.closed and not road.filled and len(road.points[0]) == 4
    assert pulled.samples[1].fields["lines"].polylines[0].closed is False
    assert pulled.samples[1].fields["tags"].classifications[0].label == "daytime"
    assert len(pulled.samples[2].fields["kp"].keypoints[0].points) == 3
    rotated = pulled.samples[2].fields["det"].detections[0]
    assert rotated.rotation == 30.0 and rotated.bounding_box[0] == 5.5 / 320
    assert rotated.attributes == {"color": "green", "parked": False, "occ": False}  # "" -> unset
    # pulling twice gives the same ids (derived from CVAT's ids)
    again = from_cvat(got, frames, bound, scope="task11")
    assert again.model_dump() == pulled.model_dump()
    # and the labels convert back to exactly what CVAT holds
    up = to_cvat(_samples_from(pulled, 3), list(FIELDS), frames, bound)
    want = LabeledData.model_validate(got)
    assert sorted(map(json.dumps, map(_norm_shape, up.data.shapes))) == \
        sorted(map(json.dumps, map(_norm_shape, want.shapes)))
    assert [(t.frame, t.label_id, t.group) for t in up.data.tags] == \
        [(t.frame, t.label_id, t.group) for t in want.tags]


def test_video_track_read_back() -> None:
    bound = _bound(_project_labels(), VIDEO_FIELDS)
    ex = [e for e in exchanges("recordings/11_upload_video_track.json")]
    got = ex[-1]["response_body"]
    frames = FrameMap(media_type="video", size=12, sizes=[{"width": 160, "height": 120}])
    pulled = from_cvat(got, frames, bound)
    video = pulled.samples[0].frames
    assert sorted(video) == list(range(1, 10))  # visible 0-8, outside from task frame 9
    dets = [video[n]["det"].detections[0] for n in range(1, 10)]
    assert {d.index for d in dets} == {1}
    assert [d.keyframe for d in dets] == [True, None, None, None, None, True, None, None, None]
    assert dets[5].attributes["occ"] is True and dets[5].attributes["parked"] is True
    assert dets[0].attributes == {"color": "red", "parked": False, "plate": "XY-999",
                                  "occ": False}
    # frames 1-4 move linearly from x=10 to x=50 px
    assert [round(d.bounding_box[0] * 160, 9) for d in dets[:6]] == [10, 18, 26, 34, 42, 50]
    sample = Sample(media="v.mp4", metadata=MediaMetadata(media_type="video", width=160,
                                                           height=120), frames=video)
    up = to_cvat([sample], list(VIDEO_FIELDS), frames, bound)
    (track,) = up.data.tracks
    (want,) = LabeledData.model_validate(got).tracks
    assert [(s.frame, s.outside, s.points, s.occluded) for s in track.shapes] == \
        [(s.frame, s.outside, s.points, s.occluded) for s in want.shapes]
    assert sorted((a.spec_id, a.value) for a in track.attributes) == \
        sorted((a.spec_id, a.value) for a in want.attributes)


# -- recordings2/08: every shape type ---------------------------------------------------------
def test_every_shape_type() -> None:
    bound = _bound(_seq(96)["response_body"]["results"], FIELDS)
    frames = FrameMap.from_data_meta(_seq(108)["response_body"], "image")
    got = _seq(170)["response_body"]
    pulled = from_cvat(got, frames, bound)
    kinds = sorted((u.shape_type, u.cvat_label, u.label_type) for u in pulled.unexpected)
    assert kinds == [("cuboid", "box3d", None), ("ellipse", "wheel", None),
                     ("skeleton", "person", None)]
    for u in pulled.unexpected:
        assert u.raw["points"] == next(s for s in got["shapes"] if s["id"] == u.cvat_id)["points"]
        assert "does not fit" in u.reason
    car = pulled.samples[0].fields["det"].detections[0]
    assert car.attributes == {"model": "suv", "direction": "left", "parked": True,
                              "passengers": 3, "plate": "AB 123", "occ": True, "grp": 1}
    assert car.rotation == 30.0 and car.z_order == 2
    blob = pulled.samples[2].fields["det"].detections[0]
    assert blob.mask is not None and blob.mask.size == (15, 20)
    assert blob.bounding_box == pytest.approx((200 / 640, 150 / 480, 20 / 640, 15 / 480),
                                              abs=1e-15)
    road = pulled.samples[0].fields["lines"].polylines[0]
    assert road.attributes["note"] == 'lanes "A" & <B>, one closed' and road.attributes["width_m"] == 9
    # the track on frames 3-4 (outside at 5)
    assert [d.index for d in pulled.samples[3].fields["det"].detections if d.index] == [1]
    weather = [c.attributes for c in pulled.samples[4].fields["tags"].classifications]
    assert weather == [{"kind": "snow", "grp": 3}]
    # back to CVAT: the supported shapes are reproduced exactly (the track's frames are left
    # out: in an image task annosync sends per-image shapes, not tracks)
    for sample in pulled.samples.values():
        det = sample.fields["det"]
        det.detections = [d for d in det.detections if d.index is None]
    up = to_cvat(_samples_from(pulled, 6), list(FIELDS), frames, bound)
    supported = [s for s in LabeledData.model_validate(got).shapes
                 if s.type in ("rectangle", "polygon", "polyline", "points", "mask")]
    assert sorted(map(json.dumps, map(_norm_shape, up.data.shapes))) == \
        sorted(map(json.dumps, map(_norm_shape, supported)))


@pytest.mark.parametrize("answer_seq", [211, 221])
def test_video_task_with_frame_step(answer_seq: int) -> None:
    """recordings2/09: start 4, step 2, 15 task frames; 221 is the same data in a task cut
    into overlapping jobs (tracks come back in pieces)."""
    labels_seq = 208 if answer_seq == 211 else 219
    bound = _bound(_seq(labels_seq)["response_body"]["results"], VIDEO_FIELDS)
    frames = FrameMap.from_data_meta(_seq(207)["response_body"], "video")
    assert (frames.start, frames.step, frames.size) == (4, 2, 15)
    got = _seq(answer_seq)["response_body"]
    pulled = from_cvat(got, frames, bound)
    unexpected = sorted({(u.kind, u.shape_type) for u in pulled.unexpected})
    assert unexpected == [("track", "cuboid"), ("track", "ellipse"), ("track", "skeleton")]
    video = pulled.samples[0].frames
    car_frames = sorted(n for n, f in video.items() if "det" in f
                        and any(d.index for d in f["det"].detections))
    # car track: task frames 0-4 and 8-12 -> sample frames 5 + 2i
    assert car_frames == [5 + 2 * i for i in (0, 1, 2, 3, 4, 8, 9, 10, 11, 12)]
    indexes = {d.index for n in car_frames for d in video[n]["det"].detections if d.index}
    assert indexes == {1}  # the pieces of 221 merge back into one track
    road = video[5 + 2 * 6]["lines"].polylines[0]
    assert road.index is not None and road.keyframe and road.attributes["width_m"] == 12
    # the standalone rotated box on task frame 7 and the mask on task frame 1
    box = next(d for d in video[19]["det"].detections if d.index is None)
    assert box.rotation == 45.0 and box.attributes["occ"] is True
    assert video[7]["det"].detections[0].mask is not None
    if answer_seq == 211:  # the single-job task: converting back reproduces its tracks
        sample = Sample(media="v.mp4", metadata=MediaMetadata(media_type="video", width=320,
                                                               height=240), frames=video)
        up = to_cvat([sample], list(VIDEO_FIELDS), frames, bound)
        want = [t for t in LabeledData.model_validate(got).tracks
                if t.shapes[0].type in ("rectangle", "polygon", "points")]
        assert len(up.data.tracks) == len(want)
        for mine, theirs in zip(sorted(up.data.tracks, key=lambda t: t.frame),
                                sorted(want, key=lambda t: t.frame), strict=True):
            assert [(s.frame, s.outside, s.points, s.rotation) for s in mine.shapes] == \
                [(s.frame, s.outside, s.points, s.rotation) for s in theirs.shapes]
            for a, b in zip(mine.shapes, theirs.shapes, strict=True):
                if not a.outside:
                    assert (a.occluded, a.z_order) == (b.occluded, b.z_order)
                    assert sorted((x.spec_id, x.value) for x in a.attributes) == \
                        sorted((x.spec_id, x.value) for x in b.attributes)
