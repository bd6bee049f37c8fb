"""CVAT JSON <-> XML as CVAT's dumper and importer do it: absolute frames, the video layout's
every-frame tracks and two-keyframe standalone shapes, z-order, what the importer keeps."""

from __future__ import annotations

import pytest

from annosync.cvatxml import read_document
from annosync.cvatxml.bridge import (
    LabelIndex,
    TaskFrame,
    TaskFrames,
    label_meta,
    specs_from_meta,
    task_meta,
    to_images,
    to_labeled_data,
    to_tracks,
)
from annosync.cvatxml.diag import Diagnostics
from annosync.cvatxml.model import Attr, Image, Mask
from annosync.cvatxml.model import Shape as XShape
from annosync.cvatxml.model import Track as XTrack
from annosync.errors import InputError
from annosync.model.cvat import (
    AttributeSpec,
    AttributeValue,
    LabeledData,
    LabelSpec,
    Shape,
    Tag,
    Track,
    TrackedShape,
)


def specs() -> list[LabelSpec]:
    return [
        LabelSpec(id=1, name="car", attributes=[
            AttributeSpec(id=10, name="color", mutable=False, input_type="text"),
            AttributeSpec(id=11, name="moving", mutable=True, input_type="checkbox",
                          default_value="false", values=["false"]),
        ]),
        LabelSpec(id=2, name="road"),
        LabelSpec(id=3, name="weather", type="tag"),
        LabelSpec(id=4, name="person", type="skeleton", svg="<svg/>", sublabels=[
            LabelSpec(id=5, name="head", type="points"),
            LabelSpec(id=6, name="foot", type="points"),
        ]),
    ]


LABELS = LabelIndex(specs())


def box(frame: int, x: float, **kw: object) -> Shape:
    return Shape(type="rectangle", frame=frame, label_id=1, points=[x, 0, x + 10, 10], **kw)


def tbox(frame: int, x: float, **kw: object) -> TrackedShape:
    return TrackedShape(type="rectangle", frame=frame, points=[x, 0, x + 10, 10], **kw)


def test_absolute_frames_and_standalone_shapes_in_the_video_layout() -> None:
    """start_frame 10, step 3: frames 10, 13, 16, 19, 22 (stop 22). A standalone shape gets an
    outside copy at frame + step only when that is before stop_frame (CVAT's condition)."""
    frames = TaskFrames.video(5, 100, 100, start_frame=10, step=3, stop_frame=22)
    assert [f.name for f in frames.frames] == [
        "frame_000010", "frame_000013", "frame_000016", "frame_000019", "frame_000022"]
    data = LabeledData(shapes=[box(1, 5, group=2, rotation=30), box(3, 7), box(4, 9)])
    tracks = list(to_tracks(data, LABELS, frames, cvat_stop_quirk=True))
    assert [t.id for t in tracks] == [0, 1, 2]
    assert tracks[0].group_id == 2
    assert [(s.frame, s.keyframe, s.outside) for s in tracks[0].shapes] == [
        (13, True, False), (16, True, True)]
    assert tracks[0].shapes[0].rotation == 30
    assert [(s.frame, s.outside) for s in tracks[1].shapes] == [(19, False)]  # CVAT's quirk
    assert [(s.frame, s.outside) for s in tracks[2].shapes] == [(22, False)]
    # by default the shape on the last frame but one ends where it should (frame 22)
    tracks = list(to_tracks(data, LABELS, frames))
    assert [(s.frame, s.outside) for s in tracks[1].shapes] == [(19, False), (22, True)]
    assert [(s.frame, s.outside) for s in tracks[2].shapes] == [(22, False)]


def test_tracks_list_every_frame_in_the_video_layout() -> None:
    track = Track(frame=0, label_id=1, attributes=[AttributeValue(spec_id=10, value="red")],
                  shapes=[tbox(0, 0, attributes=[AttributeValue(spec_id=11, value="false")]),
                          tbox(2, 20, occluded=True),
                          tbox(4, 40, outside=True),
                          tbox(6, 60)])
    frames = TaskFrames.video(8, 100, 100, start_frame=100)
    (xt,) = to_tracks(LabeledData(tracks=[track]), LABELS, frames)
    got = [(s.frame, s.keyframe, s.outside, s.points[0] if s.points else None)
           for s in xt.shapes]
    assert got == [
        (100, True, False, 0), (101, False, False, 10), (102, True, False, 20),
        (103, False, False, 30), (104, True, True, 40),  # nothing while outside
        (106, True, False, 60), (107, False, False, 60),  # repeated to the end of the task
    ]
    # mutable attributes first (carried to later keyframes), then the track's immutable ones
    assert [s.attributes for s in xt.shapes][2] == [Attr("moving", "false"), Attr("color", "red")]
    assert xt.shapes[1].occluded is False and xt.shapes[3].occluded is True


def test_images_layout_orders_by_z_and_drops_outside_frames() -> None:
    data = LabeledData(
        shapes=[box(0, 1, z_order=2), box(0, 2, z_order=0), box(1, 3)],
        tracks=[Track(frame=0, label_id=1, source="auto",
                      shapes=[tbox(0, 50, z_order=1), tbox(1, 60, outside=True)])],
        tags=[Tag(frame=2, label_id=3, source="manual")],
    )
    frames = TaskFrames([TaskFrame(f"img{i}.png", 64, 48) for i in range(3)], start_frame=5)
    images = list(to_images(data, LABELS, frames))
    assert [(i.id, i.name, i.width) for i in images] == [
        (5, "img0.png", 64), (6, "img1.png", 64), (7, "img2.png", 64)]
    assert [s.points[0] for s in images[0].shapes if s.points] == [2, 50, 1]
    assert images[0].shapes[1].source == "auto"  # the track's source
    assert [s.points[0] for s in images[1].shapes if s.points] == [3]  # outside: dropped
    assert images[2].shapes == [] and images[2].tags[0].label == "weather"


def test_video_layout_has_no_tags() -> None:
    data = LabeledData(tags=[Tag(frame=0, label_id=3)])
    assert list(to_tracks(data, LABELS, TaskFrames.video(2, 10, 10))) == []


def test_rotation_and_group_only_when_non_zero_and_for_boxes_and_ellipses() -> None:
    data = LabeledData(shapes=[
        box(0, 1, rotation=0.0, group=0),
        Shape(type="polygon", frame=0, label_id=2, points=[0, 0, 1, 0, 1, 1], rotation=45,
              group=3),
        Shape(type="ellipse", frame=0, label_id=2, points=[10, 10, 15, 7], rotation=10),
    ])
    (img,) = to_images(data, LABELS, TaskFrames([TaskFrame("a.jpg", 20, 20)]))
    assert (img.shapes[0].rotation, img.shapes[0].group_id) == (None, None)
    assert (img.shapes[1].rotation, img.shapes[1].group_id) == (None, 3)
    assert img.shapes[2].points == [10, 10, 5, 3] and img.shapes[2].rotation == 10


def test_skeletons_in_both_layouts() -> None:
    skeleton = Shape(type="skeleton", frame=0, label_id=4, points=[], elements=[
        Shape(type="points", frame=0, label_id=5, points=[1, 2]),
        Shape(type="points", frame=0, label_id=6, points=[3, 4], outside=True),
    ])
    frames = TaskFrames.video(3, 10, 10)
    (img, *_) = to_images(LabeledData(shapes=[skeleton]), LABELS, frames)
    sk = img.shapes[0]
    assert (sk.kind, sk.occluded, sk.z_order) == ("skeleton", None, 0)
    assert [(e.label, e.outside, e.occluded, e.z_order) for e in sk.elements] == [
        ("head", False, False, None), ("foot", True, False, None)]
    (xt,) = to_tracks(LabeledData(shapes=[skeleton]), LABELS, frames)
    assert [(s.frame, s.keyframe, s.outside) for s in xt.shapes] == [(0, True, None),
                                                                     (1, True, None)]
    assert [(e.label, e.outside) for e in xt.shapes[1].elements] == [("head", True),
                                                                     ("foot", True)]


def test_import_keeps_keyframes_and_moves_immutable_attributes_to_the_track() -> None:
    xt = XTrack(label="car", id=7, source="manual", shapes=[
        XShape("box", frame=0, keyframe=True, outside=False, occluded=False,
               points=[0, 0, 1, 1], attributes=[Attr("moving", "true"), Attr("color", "red")]),
        XShape("box", frame=1, keyframe=False, outside=False, occluded=False,
               points=[1, 0, 2, 1], attributes=[Attr("moving", "true"), Attr("color", "red")]),
        XShape("box", frame=2, keyframe=True, outside=True, occluded=False,
               points=[2, 0, 3, 1], attributes=[Attr("moving", "false"), Attr("color", "blue")]),
    ])
    data = to_labeled_data([xt], LABELS, TaskFrames.video(3, 10, 10), source="file")
    (track,) = data.tracks
    assert [s.frame for s in track.shapes] == [0, 2]
    assert track.attributes == [AttributeValue(spec_id=10, value="blue")]  # the last one wins
    assert track.shapes[0].attributes == [AttributeValue(spec_id=11, value="true")]
    assert track.source == "file"
    every = to_labeled_data([xt], LABELS, TaskFrames.video(3, 10, 10), all_frames=True)
    assert [(s.frame, s.keyframe) for s in every.tracks[0].shapes] == [
        (0, True), (1, False), (2, True)]


def test_import_turns_a_mask_track_into_a_shape() -> None:
    mask = Mask(rle=[1, 2, 1], left=3, top=4, width=2, height=2)
    xt = XTrack(label="road", shapes=[
        XShape("mask", frame=1, keyframe=True, outside=False, mask=mask),
        XShape("mask", frame=2, keyframe=True, outside=True, mask=mask),
    ])
    data = to_labeled_data([xt], LABELS, TaskFrames.video(3, 10, 10))
    assert data.tracks == []
    (shape,) = data.shapes
    assert (shape.type, shape.frame, shape.points) == ("mask", 1, [1, 2, 1, 3, 4, 4, 5])


def test_image_matching_like_cvat() -> None:
    frames = TaskFrames([TaskFrame("dir/a.jpg", 10, 10), TaskFrame("b.png", 10, 10)])
    items = [Image(id=9, name="dir/a.png"), Image(id=1, name="other.jpg")]
    data = to_labeled_data(
        [Image(id=i.id, name=i.name, tags=[_tag()]) for i in items], LABELS, frames)
    assert [t.frame for t in data.tags] == [0, 1]  # by name without extension, then by id
    with pytest.raises(InputError, match=r"x\.xml:3: could not match image 'zzz.jpg' \(id 7\)"):
        to_labeled_data([Image(id=7, name="zzz.jpg", line=3)], LABELS, frames,
                        diag=Diagnostics("x.xml"))


def _tag() -> object:
    from annosync.cvatxml.model import Tag as XTag

    return XTag(label="weather")


def test_unknown_labels_fail_and_unknown_attributes_are_dropped_with_a_warning() -> None:
    frames = TaskFrames([TaskFrame("a.jpg", 10, 10)])
    diag = Diagnostics("x.xml")
    bad = Image(id=0, name="a.jpg", shapes=[XShape("box", label="cat", points=[0, 0, 1, 1],
                                                   line=4)])
    with pytest.raises(InputError, match=r"x\.xml:4: label 'cat' is not defined"):
        to_labeled_data([bad], LABELS, frames, diag=diag)
    odd = Image(id=0, name="a.jpg", shapes=[XShape("box", label="car", points=[0, 0, 1, 1],
                                                   attributes=[Attr("age", "3")], line=5)])
    data = to_labeled_data([odd], LABELS, frames, diag=diag)
    assert data.shapes[0].attributes == []
    assert [str(w) for w in diag.warnings] == [
        "x.xml:5: warning: attribute 'age' is not defined for label 'car'; dropped (as CVAT "
        "does)"]


def test_frames_outside_the_task_are_refused() -> None:
    xt = XTrack(label="car", shapes=[XShape("box", frame=4, keyframe=True, points=[0, 0, 1, 1],
                                            line=9)])
    with pytest.raises(InputError, match=r"x\.xml:9: frame 4 is not a frame of this task"):
        to_labeled_data([xt], LABELS, TaskFrames.video(2, 10, 10, start_frame=0, step=3),
                        diag=Diagnostics("x.xml"))


def test_label_meta_and_specs_round_trip() -> None:
    frames = TaskFrames.video(4, 320, 240, start_frame=2, step=2)
    meta = task_meta(LABELS, frames, name="t", mode="interpolation", source="v.mp4")
    assert meta.task is not None
    assert (meta.task.start_frame, meta.task.stop_frame, meta.task.frame_filter) == (
        "2", "8", "step=2")
    assert meta.task.original_size is not None and meta.task.source == "v.mp4"
    names = [(m.name, m.parent) for m in label_meta(LABELS)]
    assert names == [("car", None), ("road", None), ("weather", None), ("person", None),
                     ("head", "person"), ("foot", "person")]
    again = LabelIndex(specs_from_meta(meta))
    assert [s.name for s in specs_from_meta(meta)] == ["car", "road", "weather", "person"]
    assert [s.name for s in again.specs] == ["car", "road", "weather", "person", "head", "foot"]
    person = again.label("person")
    assert person is not None and [s.name for s in person.sublabels] == ["head", "foot"]
    car = again.label("car")
    assert car is not None and [(a.name, a.mutable) for a in car.attributes] == [
        ("color", False), ("moving", True)]


def test_cvat_skeleton_track_export_matches_the_documented_layout() -> None:
    """The docs' video example: a skeleton track written with its element points."""
    from xmlcases import SAMPLES

    doc = read_document(SAMPLES / "cvat_docs__format-cvat__video_example.xml")
    skeleton_track = doc.tracks[1]
    assert [s.frame for s in skeleton_track.shapes] == [0, 1, 6, 7, 13, 14]
    assert [e.label for e in skeleton_track.shapes[0].elements] == ["1", "2", "3"]
