"""import-xml -> export-xml gives back every real CVAT file (canonical comparison), re-importing
the export changes nothing, and hostile or malformed input is refused with a located message
and nothing written (issue 15)."""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from pathlib import Path

import pytest
from xmlcases import ALL_XML, ALL_ZIPS, SAMPLES, VIDEO_XML, repaired

from annosync.cvatxml import export_xml, import_xml, read_document
from annosync.cvatxml.canonical import diff, same
from annosync.cvatxml.zipio import ZipLimits
from annosync.dataset.folder import DatasetFolder
from annosync.errors import InputError
from annosync.model.sample import MediaMetadata, Sample

#: Samples CVAT itself would refuse, and why (the round trip runs on a repaired copy).
REFUSED = {
    "cvat_docs__format-cvat__images_example.xml": "label 'good_frame' is not in the file's",
    "cvatai_datumaro__for_images__train.xml": "empty label name",
    "ovtk_datumaro__for_images__export_task__train.xml": "empty label name",
    "ovtk_datumaro__for_video__annotations.xml": r"a <track> \(label '1'\) inside track",
}


def _xml_of(source: Path, tmp: Path) -> Path:
    if source.suffix != ".zip":
        return source
    out = tmp / "in.xml"
    with zipfile.ZipFile(source) as zf:
        out.write_bytes(zf.read("annotations.xml"))
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("source", ALL_XML + ALL_ZIPS, ids=lambda p: p.name)
def test_every_real_file_comes_back_the_same(tmp_path: Path, source: Path) -> None:
    if source.name in REFUSED:
        with pytest.raises(InputError, match=REFUSED[source.name]) as info:
            import_xml(source, tmp_path / "refused")
        assert str(source) in str(info.value) and ":" in str(info.value)
        assert not (tmp_path / "refused").exists()
        source = repaired(source, tmp_path / source.name)
    ds = tmp_path / "ds"
    report = import_xml(source, ds)
    assert report.created and report.records
    for suffix in (".xml", ".zip"):
        out = tmp_path / f"out{suffix}"
        export_xml(ds, out)
        got = read_document(_xml_of(out, tmp_path / "o") if suffix == ".zip" else out) \
            if suffix == ".xml" else None
        if suffix == ".zip":
            (tmp_path / "o").mkdir(exist_ok=True)
            got = read_document(_xml_of(out, tmp_path / "o"))
        want = read_document(_xml_of(source, tmp_path))
        assert got is not None
        assert same(want, got), "\n".join(diff(want, got))
    # the export imported again into the same dataset changes nothing
    before = _files(ds)
    again = import_xml(tmp_path / "out.xml", ds)
    assert again.created == [] and again.updated == []
    assert _files(ds) == before


def test_a_video_task_written_in_the_images_layout_names_frames_by_source_frame(
        tmp_path: Path) -> None:
    import_xml(VIDEO_XML, tmp_path / "ds")
    export_xml(tmp_path / "ds", tmp_path / "img.xml", layout="images")
    doc = read_document(tmp_path / "img.xml")
    want = read_document(VIDEO_XML)
    assert want.meta is not None and want.meta.task is not None
    start, stop = want.meta.task.start_frame_int, want.meta.task.stop_frame_int
    step = want.meta.task.frame_step
    assert [i.name for i in doc.images] == [f"frame_{f:06d}"
                                            for f in range(start, (stop or 0) + 1, step)]
    assert [i.id for i in doc.images] == list(range(start, (stop or 0) + 1, step))


def test_new_video_tasks_respect_start_stop_and_step(tmp_path: Path) -> None:
    from annosync.model.labels import Detection, Detections

    folder = DatasetFolder.init(tmp_path / "v")
    det = Detections(detections=[Detection(label="car", bounding_box=(0.1, 0.1, 0.2, 0.2))])
    folder.write("clip", Sample(media="media/clip.mp4", metadata=MediaMetadata(
        media_type="video", width=100, height=50, frame_count=40),
        frames={n: {"gt": det} for n in range(1, 41)}))
    export_xml(folder, tmp_path / "a.xml", layout="images", start_frame=4, frame_step=2,
               stop_frame=33)
    doc = read_document(tmp_path / "a.xml")
    assert doc.images[0].name == "frame_000004" and doc.images[1].name == "frame_000006"
    assert doc.images[-1].name == "frame_000032"  # 33 is off the grid: CVAT stops at 32
    assert doc.meta is not None and doc.meta.task is not None
    assert (doc.meta.task.start_frame, doc.meta.task.stop_frame,
            doc.meta.task.frame_filter) == ("4", "32", "step=2")
    export_xml(folder, tmp_path / "v.xml", layout="video", start_frame=4, frame_step=2,
               stop_frame=33)
    frames = {s.frame for t in read_document(tmp_path / "v.xml").tracks for s in t.shapes}
    assert max(frames) <= 32 and min(frames) >= 4


def test_label_ids_default_and_flag(tmp_path: Path) -> None:
    import_xml(SAMPLES / "ovtk_datumaro__for_images__export_project__annotations.xml",
               tmp_path / "ds")
    export_xml(tmp_path / "ds", tmp_path / "clean.xml")
    assert "label_id" not in (tmp_path / "clean.xml").read_text()
    export_xml(tmp_path / "ds", tmp_path / "ids.xml", label_ids=True)
    doc = read_document(tmp_path / "ids.xml")
    assert all(s.attributes[0].name == "label_id" for i in doc.images for s in i.shapes)
    export_xml(tmp_path / "ds", tmp_path / "new.xml", record="none")
    assert '<attribute name="label_id">' in (tmp_path / "new.xml").read_text()


# -- hostile and malformed input -----------------------------------------------------------------
META = """<meta><task><mode>annotation</mode><labels>
<label><name>car</name><attributes></attributes></label></labels></task></meta>"""


def _doc(body: str, meta: str = META) -> str:
    return f'<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version>' \
           f"{meta}{body}</annotations>"


@pytest.mark.parametrize(("body", "message"), [
    ('<image id="0" name="a.jpg" width="10" height="10"><box label="bus" xtl="1" ytl="1" '
     'xbr="2" ybr="2"/></image>', "label 'bus' is not in the file's <meta> labels"),
    ('<image id="0" name="a.jpg" width="10" height="10"><box label="" xtl="1" ytl="1" '
     'xbr="2" ybr="2"/></image>', "empty label name"),
    ('<image id="0" name="a.jpg" width="10" height="10"><box label="car" xtl="5" ytl="1" '
     'xbr="2" ybr="2"/></image>', "inverted box"),
])
def test_bad_shapes_are_refused_with_their_line(tmp_path: Path, body: str,
                                                message: str) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(_doc("\n" + body))
    with pytest.raises(InputError, match=message) as info:
        import_xml(bad, tmp_path / "ds")
    assert str(info.value).startswith(f"{bad}:4: ") and "\n" not in str(info.value)
    assert not (tmp_path / "ds").exists()


def test_a_track_past_the_real_video_is_refused(tmp_path: Path) -> None:
    folder = DatasetFolder.init(tmp_path / "ds")
    folder.write("clip", Sample(media="media/clip.mp4", metadata=MediaMetadata(
        media_type="video", width=100, height=50, frame_count=10)))
    before = _files(folder.root)
    meta = ("<meta><task><mode>interpolation</mode><start_frame>0</start_frame>"
            "<stop_frame>99</stop_frame><labels><label><name>car</name></label></labels>"
            "<original_size><width>100</width><height>50</height></original_size>"
            "</task></meta>")
    bad = tmp_path / "bad.xml"
    bad.write_text(_doc('\n<track id="0" label="car">\n<box frame="50" keyframe="1" '
                        'outside="0" xtl="1" ytl="1" xbr="2" ybr="2"/></track>', meta))
    with pytest.raises(InputError, match="past the end of the video of sample 'clip'"):
        import_xml(bad, folder.root)
    assert _files(folder.root) == before


def test_a_zip_past_the_total_size_is_refused_at_any_ratio(tmp_path: Path) -> None:
    z = tmp_path / "big.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("annotations.xml", _doc(""))
        zf.writestr("images/a.jpg", os.urandom(300_000))  # stored: ratio 1:1
    with pytest.raises(InputError, match="would expand to"):
        import_xml(z, tmp_path / "ds", limits=ZipLimits(max_total_bytes=200_000))
    assert not (tmp_path / "ds").exists()


def test_a_decompression_bomb_image_is_refused(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    img = tmp_path / "bomb.png"
    PILImage.new("1", (12000, 12000)).save(img)  # 144 Mpx, a few KiB
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("annotations.xml", _doc(
            '<image id="0" name="bomb.png" width="12000" height="12000"></image>'))
        zf.write(img, "images/bomb.png")
    limit = PILImage.MAX_IMAGE_PIXELS
    PILImage.MAX_IMAGE_PIXELS = 10_000_000
    try:
        with pytest.raises(InputError, match="decompression"):
            import_xml(z, tmp_path / "ds")
    finally:
        PILImage.MAX_IMAGE_PIXELS = limit
    assert not (tmp_path / "ds").exists()


def test_exports_get_the_users_umask(tmp_path: Path) -> None:
    import_xml(VIDEO_XML, tmp_path / "ds")
    old = os.umask(0o022)
    try:
        export_xml(tmp_path / "ds", tmp_path / "a.xml")
        export_xml(tmp_path / "ds", tmp_path / "a.zip")
    finally:
        os.umask(old)
    for name in ("a.xml", "a.zip"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_negative_and_out_of_image_coordinates_are_kept_as_cvat_keeps_them(
        tmp_path: Path) -> None:
    src = tmp_path / "neg.xml"
    src.write_text(_doc('\n<image id="0" name="a.jpg" width="10" height="10"><box label="car" '
                        'source="manual" occluded="0" xtl="-3.50" ytl="-1.00" xbr="12.25" '
                        'ybr="11.00" z_order="0"></box></image>'))
    import_xml(src, tmp_path / "ds")
    export_xml(tmp_path / "ds", tmp_path / "out.xml")
    assert same(read_document(src), read_document(tmp_path / "out.xml"))


def test_bare_xml_into_a_new_folder_binds_media_or_says_so(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    media = tmp_path / "photos"
    media.mkdir()
    src = tmp_path / "a.xml"
    src.write_text(_doc('\n<image id="0" name="a.jpg" width="10" height="10"></image>'
                        '<image id="1" name="b.jpg" width="10" height="10"></image>'))
    PILImage.new("RGB", (10, 10)).save(media / "a.jpg")
    report = import_xml(src, tmp_path / "ds", media=media)
    assert report.media == ["media/a.jpg"] and report.missing_media == ["media/b.jpg"]
    assert (tmp_path / "ds" / "media" / "a.jpg").is_file()
    shutil.rmtree(tmp_path / "ds")


def test_missing_media_of_a_new_dataset_are_the_files_not_there(tmp_path: Path) -> None:
    """The report's ``missing_media``: each created sample whose media file is not in the
    dataset, whether its folder is there or not (``_finish`` asks once per missing folder;
    asking the folder alone, or nothing, would miss ``b`` or report ``a``)."""
    ds = tmp_path / "ds"
    (ds / "media" / "x").mkdir(parents=True)
    (ds / "media" / "x" / "a.jpg").write_bytes(b"")
    (ds / "media" / "e.jpg").write_bytes(b"")
    src = tmp_path / "a.xml"
    src.write_text(_doc("".join(
        f'\n<image id="{i}" name="{n}" width="10" height="10"></image>'
        for i, n in enumerate(["x/a.jpg", "x/b.jpg", "y/c.jpg", "d.jpg", "e.jpg"]))))
    report = import_xml(src, ds)
    assert len(report.created) == 5
    assert sorted(report.missing_media) == ["media/d.jpg", "media/x/b.jpg", "media/y/c.jpg"]
