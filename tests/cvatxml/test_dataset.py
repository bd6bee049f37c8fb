"""The dataset layer: import -> export -> import gives identical labels; dataset -> XML ->
dataset is exact; label ids merge by provenance; matching, data maps, policies, videos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from xmlcases import IMAGE_XML, SAMPLES, VIDEO_XML, repaired

from annosync.cvatxml import export_xml, import_xml, read_document, write_document
from annosync.cvatxml.model import Attr, Shape
from annosync.cvatxml.pixels import box_px
from annosync.dataset.folder import DatasetFolder
from annosync.errors import InputError
from annosync.model.labels import (
    BinaryMask,
    Classification,
    Classifications,
    Detection,
    Detections,
    Keypoint,
    Keypoints,
    Polyline,
    Polylines,
)
from annosync.model.sample import MediaMetadata, Sample


def labels_of(root: Path) -> dict[str, Any]:
    """Every sample's label fields and frames (what an import writes), by key."""
    folder = DatasetFolder.open(root)
    out = {}
    for key in sorted(folder.keys()):
        raw = folder.read_raw(key)
        out[key] = {"fields": raw.get("fields", {}), "frames": raw.get("frames", {})}
    return out


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def layout_of(path: Path) -> str:
    return "video" if read_document(path).tracks else "images"


# -- import -> export -> import ------------------------------------------------------------------
def _runs_start_with_keyframes(labels: dict[str, Any]) -> dict[str, Any]:
    """The one normalisation an export applies: the first frame of each visible run of a track
    is a keyframe (CVAT's importer would drop the run otherwise). Only the docs' hand-written
    video example has a run starting with keyframe="0"."""
    for sample in labels.values():
        last: dict[tuple[str, int], int] = {}
        for number in sorted(sample["frames"], key=int):
            for fname, value in sample["frames"][number].items():
                for obj in value.get(value["_type"], []):
                    if obj.get("index") is None:
                        continue
                    key = (fname, obj["index"])
                    if last.get(key) != int(number) - 1:
                        obj["keyframe"] = True
                    last[key] = int(number)
    return labels


def test_real_image_export_imports_as_expected(tmp_path: Path) -> None:
    import_xml(IMAGE_XML, tmp_path)
    got = labels_of(tmp_path)
    assert sorted(got) == ["image_0", "image_1", "image_2"]
    box = got["image_0"]["fields"]["ground_truth_detections"]["detections"][0]
    assert box_px(box["bounding_box"], 320, 240) == [20, 20, 120, 100]
    assert box["attributes"] == {"color": "blue", "parked": True, "plate": "AB-123",
                                 "cvat.occluded": True, "cvat.group_id": 1}
    assert box["z_order"] == 1
    rotated = got["image_2"]["fields"]["ground_truth_detections"]["detections"][0]
    assert rotated["rotation"] == 30.0 and rotated["attributes"]["parked"] is False
    tag = got["image_1"]["fields"]["ground_truth_classifications"]["classifications"][0]
    assert tag["label"] == "daytime"
    sample = DatasetFolder.open(tmp_path).read("image_0")
    assert sample.media == "media/image_0.jpg" and sample.metadata is not None
    assert (sample.metadata.width, sample.metadata.height) == (320, 240)


def test_real_video_export_imports_every_visible_frame(tmp_path: Path) -> None:
    import_xml(VIDEO_XML, tmp_path)
    folder = DatasetFolder.open(tmp_path)
    assert list(folder.keys()) == ["tiny"]
    sample = folder.read("tiny")
    assert sample.media == "media/tiny.mp4" and sample.is_video
    assert sorted(sample.frames) == list(range(1, 10))  # frames 0..8 visible, 9 is outside
    dets = [sample.frames[n]["ground_truth_detections"].detections[0] for n in range(1, 10)]
    assert [d.keyframe for d in dets] == [True, False, False, False, False, True, False, False,
                                          False]
    assert {d.index for d in dets} == {1}
    assert [round(d.bounding_box[0] * 160) for d in dets] == [10, 18, 26, 34, 42, 50, 58, 66, 74]
    assert len({d.id for d in dets}) == 9


# -- dataset -> XML -> dataset -----------------------------------------------------------------
def make_dataset(root: Path) -> DatasetFolder:
    folder = DatasetFolder.init(root)
    img = MediaMetadata(media_type="image", width=640, height=480)
    mask = BinaryMask(size=(48, 64), counts=[10, 100, 2962])
    folder.write("cats/one", Sample(media="media/cats/one.jpg", metadata=img, fields={
        "gt": Detections(detections=[
            Detection(label="cat", bounding_box=(0.1, 0.2, 0.3, 0.4),
                      attributes={"age": 3, "cute": True, "name": 'Tom "the" <cat>',
                                  "weight": 4.25, "cvat.occluded": True, "cvat.group_id": 2}),
            Detection(label="dog", bounding_box=(0.5, 0.5, 0.1, 0.1), mask=mask),
            Detection(label="ball", bounding_box=(0.6, 0.1, 0.2, 0.1), rotation=30.0,
                      attributes={"cvat.shape": "ellipse", "cvat.source": "auto"}),
            # last: a new dataset gets each field's labels in z order, as CVAT writes them
            Detection(label="cat", bounding_box=(0.123456789, 0.2, 0.05, 0.05), rotation=12.5,
                      z_order=3),
        ]),
        "lines": Polylines(polylines=[
            Polyline(label="road", points=[[(0.0, 0.9), (1.0, 0.9), (1.0, 1.0)],
                                           [(0.2, 0.2), (0.3, 0.2), (0.3, 0.3)]],
                     closed=True, filled=True),
            Polyline(label="lane", points=[[(0.1, 0.1), (0.9, 0.8)]]),
        ]),
        "kp": Keypoints(keypoints=[Keypoint(label="pose", points=[(0.1, 0.1), (0.2, 0.3)])]),
        "weather": Classifications(classifications=[
            Classification(label="sunny", attributes={"confidence_text": "high"})]),
    }))
    folder.write("cats/two", Sample(media="media/cats/two.jpg", metadata=img, fields={
        "gt": Detections(detections=[]),
        "skeleton": Keypoints(keypoints=[Keypoint(
            label="person", points=[(0.5, 0.1), None, (0.5, 0.6)],
            attributes={"cvat.shape": "skeleton", "cvat.elements": "head;hand;foot",
                        "cvat.occluded_points": "2"})]),
    }))
    folder.write("empty", Sample(media="media/empty.png", metadata=img))
    return folder


def test_dataset_to_xml_to_dataset_is_exact(tmp_path: Path) -> None:
    make_dataset(tmp_path / "src")
    for suffix in (".xml", ".zip"):
        out = tmp_path / f"all{suffix}"
        report = export_xml(tmp_path / "src", out)
        assert report.warnings == [] and report.frames == 3
        dest = tmp_path / f"dest{suffix}"
        import_xml(out, dest, fields={"detections": "gt", "polylines": "lines",
                                      "keypoints": "kp", "classifications": "weather"})
        src, got = labels_of(tmp_path / "src"), labels_of(dest)
        # the skeleton went to the keypoints field (it is a CVAT shape like any other)
        got["cats/two"]["fields"]["skeleton"] = got["cats/two"]["fields"].pop("kp")
        assert got["cats/two"]["fields"].pop("gt", None) is None
        src["cats/two"]["fields"].pop("gt")
        assert got == src


def test_exported_xml_looks_like_cvat(tmp_path: Path) -> None:
    make_dataset(tmp_path / "src")
    export_xml(tmp_path / "src", tmp_path / "a.xml", numbers="cvat")
    doc = read_document(tmp_path / "a.xml")
    assert doc.warnings == []
    assert [i.name for i in doc.images] == ["cats/one.jpg", "cats/two.jpg", "empty.png"]
    one = doc.images[0]
    kinds = [s.kind for s in one.shapes]
    assert sorted(kinds) == ["box", "box", "ellipse", "mask", "points", "polygon", "polygon",
                             "polyline"]
    first = one.shapes[0]
    assert first.attributes[0] == Attr("label_id", DatasetFolder.open(
        tmp_path / "src").read("cats/one").fields["gt"].detections[0].id)  # type: ignore[union-attr]
    assert first.occluded is True and first.group_id == 2
    ellipse = next(s for s in one.shapes if s.kind == "ellipse")
    assert ellipse.source == "auto" and ellipse.rotation == 30.0
    assert ellipse.points == [448.0, 72.0, 64.0, 24.0]
    mask = next(s for s in one.shapes if s.kind == "mask")
    assert mask.mask is not None and (mask.mask.left, mask.mask.top, mask.mask.width,
                                      mask.mask.height) == (320, 240, 64, 48)
    assert doc.meta is not None and doc.meta.task is not None
    cat = next(lab for lab in doc.meta.task.labels or [] if lab.name == "cat")
    types = {a.name: a.input_type for a in cat.attributes or []}
    assert types == {"label_id": "text", "age": "number", "cute": "checkbox", "name": "text",
                     "weight": "number"}
    person = next(lab for lab in doc.meta.task.labels or [] if lab.name == "person")
    assert person.type == "skeleton"
    assert [lab.name for lab in doc.meta.task.labels or [] if lab.parent == "person"] == [
        "head", "hand", "foot"]


def test_missing_keypoints_are_reported(tmp_path: Path) -> None:
    folder = DatasetFolder.init(tmp_path / "ds")
    folder.write("a", Sample(media="media/a.jpg", metadata=MediaMetadata(width=10, height=10),
                             fields={"kp": Keypoints(keypoints=[
                                 Keypoint(label="p", points=[(0.1, 0.1), None])])}))
    report = export_xml(folder, tmp_path / "a.xml")
    assert any("missing (null) points are not exported" in w for w in report.warnings)


# -- provenance ----------------------------------------------------------------------------------
def test_edits_in_cvat_merge_by_label_id(tmp_path: Path) -> None:
    folder = make_dataset(tmp_path / "ds")
    before = folder.read("cats/one")
    export_xml(folder, tmp_path / "a.xml")
    doc = read_document(tmp_path / "a.xml")
    one = doc.images[0]
    moved = next(s for s in one.shapes if s.kind == "box" and s.occluded)
    assert moved.points is not None
    moved.points = [1.0, 2.0, 3.0, 4.0]  # an annotator moved the first cat
    one.shapes = [s for s in one.shapes if s.kind != "mask"]  # ... deleted the dog (old[1])
    one.shapes.append(Shape("box", label="cat", source="manual", occluded=False,
                            points=[10, 10, 20, 20], z_order=0))  # ... and drew a new cat
    write_document(doc, tmp_path / "b.xml")
    report = import_xml(tmp_path / "b.xml", folder.root,
                        fields={"detections": "gt", "polylines": "lines", "keypoints": "kp",
                                "classifications": "weather"})
    assert report.updated == ["cats/one"] and sorted(report.unchanged) == ["cats/two", "empty"]
    after = folder.read("cats/one")
    old = before.fields["gt"].detections  # type: ignore[union-attr]
    new = after.fields["gt"].detections  # type: ignore[union-attr]
    assert [d.id for d in new[:3]] == [old[0].id, old[2].id, old[3].id]
    assert box_px(new[0].bounding_box, 640, 480) == [1, 2, 3, 4]
    assert new[0].attributes == old[0].attributes
    assert new[1] == old[2] and new[2] == old[3]
    assert new[3].id not in {d.id for d in old} and new[3].label == "cat"
    assert after.fields["lines"] == before.fields["lines"]
    assert after.fields["kp"] == before.fields["kp"]


def test_merge_mode_keeps_unmatched_labels(tmp_path: Path) -> None:
    folder = make_dataset(tmp_path / "ds")
    export_xml(folder, tmp_path / "a.xml", fields=["gt"])
    doc = read_document(tmp_path / "a.xml")
    doc.images[0].shapes = doc.images[0].shapes[:1]
    write_document(doc, tmp_path / "b.xml")
    before = folder.read("cats/one").fields["gt"]
    import_xml(tmp_path / "b.xml", folder.root, fields={"detections": "gt"}, mode="merge")
    assert folder.read("cats/one").fields["gt"] == before
    import_xml(tmp_path / "b.xml", folder.root, fields={"detections": "gt"})  # replace
    assert len(folder.read("cats/one").fields["gt"].detections) == 1  # type: ignore[union-attr]


def test_a_label_id_from_elsewhere_is_not_reused(tmp_path: Path) -> None:
    folder = make_dataset(tmp_path / "ds")
    other = folder.read("cats/one").fields["gt"].detections[1].id  # type: ignore[union-attr]
    xml = (f'<annotations><image id="0" name="cats/two.jpg"><box label="cat" xtl="1" ytl="1" '
           f'xbr="2" ybr="2"><attribute name="label_id">{other}</attribute></box></image>'
           "</annotations>")
    (tmp_path / "x.xml").write_text(xml)
    import_xml(tmp_path / "x.xml", folder.root, fields={"detections": "gt"})
    dets = folder.read("cats/two").fields["gt"].detections  # type: ignore[union-attr]
    assert len(dets) == 1 and dets[0].id != other


# -- matching ------------------------------------------------------------------------------------
def test_matching_by_basename_data_map_and_policies(tmp_path: Path) -> None:
    folder = make_dataset(tmp_path / "ds")
    base = '<annotations><image id="0" name="{}" width="640" height="480"><tag label="t"/>' \
           "</image></annotations>"
    for name, key in [("one.jpg", "cats/one"), ("cats/two.png", "cats/two"),
                      ("elsewhere/empty.jpg", "empty")]:
        (tmp_path / "x.xml").write_text(base.format(name))
        report = import_xml(tmp_path / "x.xml", folder.root)
        assert report.updated == [key], name
    (tmp_path / "x.xml").write_text(base.format("IMG_0001.JPG"))
    before = files_of(folder.root)
    with pytest.raises(InputError, match=r"could not match image 'IMG_0001\.JPG'"):
        import_xml(tmp_path / "x.xml", folder.root)
    assert files_of(folder.root) == before
    report = import_xml(tmp_path / "x.xml", folder.root, unmatched="skip")
    assert report.skipped_images == ["IMG_0001.JPG"] and report.labels == 0
    (tmp_path / "map.yaml").write_text("IMG_0001: cats/one\n")
    report = import_xml(tmp_path / "x.xml", folder.root, data_map=tmp_path / "map.yaml")
    assert report.unchanged == ["cats/one"]  # its tag "t" is already there (same label)
    report = import_xml(tmp_path / "x.xml", folder.root, unmatched="create")
    assert report.created == ["IMG_0001"]
    assert folder.read("IMG_0001").media == "media/IMG_0001.JPG"
    (tmp_path / "map.json").write_text(json.dumps({"IMG_0001.JPG": "nope"}))
    with pytest.raises(InputError, match="the data map names sample 'nope'"):
        import_xml(tmp_path / "x.xml", folder.root, data_map=tmp_path / "map.json")


def test_bad_data_maps(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("a: [1, 2]\n")
    (tmp_path / "x.xml").write_bytes(IMAGE_XML.read_bytes())
    with pytest.raises(InputError, match="a data map is a mapping"):
        import_xml(tmp_path / "x.xml", tmp_path / "ds", data_map=tmp_path / "m.yaml")
    (tmp_path / "m.yaml").write_text("a: b: c\n")
    with pytest.raises(InputError, match=r"m\.yaml:1: invalid data map"):
        import_xml(tmp_path / "x.xml", tmp_path / "ds", data_map=tmp_path / "m.yaml")
    assert not (tmp_path / "ds").exists()


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    report = import_xml(IMAGE_XML, tmp_path / "ds", dry_run=True)
    assert report.created == ["image_0", "image_1", "image_2"] and report.labels == 6
    assert not (tmp_path / "ds").exists()


# -- videos --------------------------------------------------------------------------------------
def make_video(root: Path, frames: int = 20) -> DatasetFolder:
    folder = DatasetFolder.init(root)
    meta = MediaMetadata(media_type="video", width=200, height=100, frame_count=frames)

    def det(x: float, **kw: Any) -> Detections:
        return Detections(detections=[Detection(label="car", bounding_box=(x, 0.1, 0.2, 0.2),
                                                index=1, **kw)])

    folder.write("clips/a", Sample(media="media/clips/a.mp4", metadata=meta, frames={
        1: {"gt": det(0.0, keyframe=True)},
        3: {"gt": det(0.1, keyframe=False)},
        5: {"gt": det(0.2, keyframe=True)},
        7: {"gt": det(0.3, keyframe=False),
            "tags": Classifications(classifications=[Classification(label="busy")])},
        # a gap: frames 9 and 11 have no car, then it comes back
        13: {"gt": det(0.5, keyframe=True)},
        15: {"gt": Detections(detections=[
            Detection(label="car", bounding_box=(0.55, 0.1, 0.2, 0.2), index=1, keyframe=False),
            Detection(label="sign", bounding_box=(0.9, 0.0, 0.05, 0.05))])},
        2: {"gt": det(0.05, keyframe=False)},  # off the task's frame grid (step 2)
    }))
    return folder


def test_video_frames_map_through_start_and_step(tmp_path: Path) -> None:
    folder = make_video(tmp_path / "v")
    report = export_xml(folder, tmp_path / "v.xml", layout="video", start_frame=0,
                        frame_step=2)
    assert any("labels on 1 frame(s) outside the task" in w for w in report.warnings)
    assert any("1 tag(s) not written" in w for w in report.warnings)
    doc = read_document(tmp_path / "v.xml")
    assert doc.meta is not None and doc.meta.task is not None
    assert (doc.meta.task.size, doc.meta.task.frame_filter, doc.meta.task.source) == (
        "10", "step=2", "a.mp4")
    car = doc.tracks[0]
    got = [(s.frame, s.keyframe, s.outside) for s in car.shapes]
    assert got == [(0, True, False), (2, False, False), (4, True, False), (6, False, False),
                   (8, True, True), (12, True, False), (14, False, False), (16, True, True)]
    sign = doc.tracks[1]
    assert [(s.frame, s.outside) for s in sign.shapes] == [(14, False), (16, True)]
    # back into a copy of the dataset: same labels on the task's frames
    copy = tmp_path / "copy"
    shutil.copytree(folder.root, copy)
    before = DatasetFolder.open(copy).read("clips/a")
    report = import_xml(tmp_path / "v.xml", copy, fields={"detections": "gt"})
    assert report.merged == report.labels == 7  # frame 2 is off the task's grid
    after = DatasetFolder.open(copy).read("clips/a")
    assert after == before


def test_video_in_the_images_layout_goes_back_to_the_video(tmp_path: Path) -> None:
    folder = make_video(tmp_path / "v")
    export_xml(folder, tmp_path / "v.xml", layout="images")
    doc = read_document(tmp_path / "v.xml")
    assert [i.name for i in doc.images[:3]] == ["frame_000000", "frame_000001", "frame_000002"]
    assert len(doc.images) == 20
    copy = tmp_path / "copy"
    shutil.copytree(folder.root, copy)
    import_xml(tmp_path / "v.xml", copy, fields={"detections": "gt",
                                                 "classifications": "tags"})
    after = DatasetFolder.open(copy).read("clips/a")
    before = folder.read("clips/a")
    assert sorted(after.frames) == sorted(before.frames)
    for number, fields in before.frames.items():
        got = [(d.id, d.bounding_box) for d in after.frames[number]["gt"].detections]  # type: ignore[union-attr]
        want = [(d.id, d.bounding_box) for d in fields["gt"].detections]  # type: ignore[union-attr]
        assert got == want
    assert after.frames[7]["tags"] == before.frames[7]["tags"]


def test_several_videos_need_a_folder(tmp_path: Path) -> None:
    folder = make_video(tmp_path / "v")
    meta = MediaMetadata(media_type="video", width=10, height=10, frame_count=3)
    folder.write("clips/b", Sample(media="media/clips/b.mp4", metadata=meta))
    with pytest.raises(InputError, match="2 video samples selected"):
        export_xml(folder, tmp_path / "out.xml", layout="video")
    report = export_xml(folder, tmp_path / "out", layout="video")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in report.files) == [
        "out/clips/a.xml", "out/clips/b.xml"]
    folder.write("img", Sample(media="media/i.jpg",
                               metadata=MediaMetadata(width=10, height=10)))
    with pytest.raises(InputError, match="images or one video, not both"):
        export_xml(folder, tmp_path / "x.xml")


def test_video_task_into_a_new_dataset_and_by_source_name(tmp_path: Path) -> None:
    import_xml(SAMPLES / "cvat_docs__format-cvat__video_example.xml", tmp_path / "n")
    folder = DatasetFolder.open(tmp_path / "n")
    assert list(folder.keys()) == ["task_5"]  # no <source>: named after the task
    sample = folder.read("task_5")
    assert sample.metadata is not None and (sample.metadata.width, sample.metadata.height) == (
        640, 480)
    # an existing dataset with two videos: the <source> name picks the right one
    make_video(tmp_path / "two")
    two = DatasetFolder.open(tmp_path / "two")
    two.write("other", Sample(media="media/tiny.mp4", metadata=MediaMetadata(
        media_type="video", width=160, height=120, frame_count=12)))
    report = import_xml(VIDEO_XML, two.root)
    assert report.updated == ["other"]
    with pytest.raises(InputError, match="cannot tell which video sample"):
        import_xml(SAMPLES / "cvat_docs__format-cvat__video_example.xml", two.root)
    report = import_xml(SAMPLES / "cvat_docs__format-cvat__video_example.xml", two.root,
                        sample="clips/a", dry_run=True)
    assert report.updated == ["clips/a"]


# -- selection and media --------------------------------------------------------------------------
def test_selection_of_samples_and_fields(tmp_path: Path) -> None:
    folder = make_dataset(tmp_path / "ds")
    report = export_xml(folder, tmp_path / "a.xml", samples=["cats/*"], fields=["kp"])
    assert report.samples == 2 and report.shapes == 1
    with pytest.raises(InputError, match="no sample matches 'dogs/\\*'"):
        export_xml(folder, tmp_path / "a.xml", samples=["dogs/*"])


def test_zip_with_media_round_trips_the_images(tmp_path: Path) -> None:
    folder = make_dataset(tmp_path / "ds")
    for key in sorted(folder.keys()):
        path = folder.root / folder.read(key).media
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"image {key}".encode())
    export_xml(folder, tmp_path / "a.zip", include_media=True)
    report = import_xml(tmp_path / "a.zip", tmp_path / "new")
    assert sorted(report.media) == ["media/cats/one.jpg", "media/cats/two.jpg",
                                    "media/empty.png"]
    assert (tmp_path / "new" / "media" / "cats" / "one.jpg").read_bytes() == b"image cats/one"
    assert sorted(report.created) == ["cats/one", "cats/two", "empty"]


def test_files_without_label_ids_keep_ids_of_unchanged_labels(tmp_path: Path) -> None:
    """A file made in CVAT has no label_id: importing it again changes nothing, and after an
    edit only the edited label gets a new id."""
    source = repaired(SAMPLES / "cvat_docs__format-cvat__images_example.xml",
                      tmp_path / "docs.xml")
    import_xml(source, tmp_path / "ds")
    before = labels_of(tmp_path / "ds")
    again = import_xml(source, tmp_path / "ds")
    assert again.unchanged == ["filename000"] and again.merged == again.labels == 8
    doc = read_document(source)
    box = next(s for s in doc.images[0].shapes if s.kind == "box")
    assert box.points is not None
    box.points = [p + 1 for p in box.points]
    write_document(doc, tmp_path / "edited.xml")
    report = import_xml(tmp_path / "edited.xml", tmp_path / "ds")
    assert report.updated == ["filename000"] and report.merged == 7
    after = labels_of(tmp_path / "ds")
    old_ids = {o["_id"] for f in before["filename000"]["fields"].values()
               for o in f[f["_type"]]}
    new_ids = {o["_id"] for f in after["filename000"]["fields"].values() for o in f[f["_type"]]}
    assert len(old_ids - new_ids) == 1 and len(new_ids - old_ids) == 1
