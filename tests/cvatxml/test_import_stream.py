"""The streaming import (issue 11): samples placed one image at a time and staged on disk, with
the all-or-nothing rule kept and the same results as holding the whole file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from annosync.cvatxml import import_xml
from annosync.dataset.folder import DatasetFolder
from annosync.errors import InputError

HEAD = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
"""


def _image(i: int, name: str, shapes: str) -> str:
    return f'  <image id="{i}" name="{name}" width="100" height="50">\n{shapes}  </image>\n'


def _box(label: str, x: float) -> str:
    return (f'    <box label="{label}" source="manual" occluded="0" xtl="{x}" ytl="1.5" '
            f'xbr="{x + 10}" ybr="20.25" z_order="0">\n    </box>\n')


def _labels(folder: DatasetFolder, key: str) -> list[tuple[str, list[float]]]:
    sample = folder.read(key)
    field = sample.fields["ground_truth_detections"]
    return [(d.label, list(d.bounding_box)) for d in field.detections]  # type: ignore[union-attr]


def _leftovers(where: Path) -> list[str]:
    return [p.name for p in where.rglob(".annosync-import-*")]


def test_images_of_one_file_for_one_sample_are_placed_together(tmp_path: Path) -> None:
    """Two <image> elements matching one sample go to it together (as when the whole file was
    held): the import starts again holding that sample, and both images' boxes are kept."""
    first = tmp_path / "first.xml"
    first.write_text(HEAD + _image(0, "a.jpg", "") + _image(1, "b.jpg", "")
                     + _image(2, "c.jpg", "") + "</annotations>\n")
    import_xml(first, tmp_path / "ds")
    xml = tmp_path / "a.xml"
    xml.write_text(HEAD + _image(0, "a.jpg", _box("car", 1)) + _image(1, "b.jpg", _box("cat", 2))
                   + _image(2, "a.jpg", _box("dog", 3)) + _image(3, "c.jpg", "")
                   + "</annotations>\n")
    report = import_xml(xml, tmp_path / "ds")
    assert report.updated == ["a", "b"] and report.unchanged == ["c"]
    folder = DatasetFolder.open(tmp_path / "ds")
    assert [lab for lab, _ in _labels(folder, "a")] == ["car", "dog"]
    assert [lab for lab, _ in _labels(folder, "b")] == ["cat"]
    assert report.labels == 3
    assert _leftovers(tmp_path) == []


def test_a_bad_image_late_in_the_file_writes_nothing(tmp_path: Path) -> None:
    """Many samples are staged before the bad image is read: none reaches the dataset and the
    staging folder is gone (new dataset: no folder at all)."""
    body = "".join(_image(i, f"img{i}.jpg", _box("car", i % 50)) for i in range(300))
    bad = '  <image id="300" name="x.jpg" width="100" height="50">\n' \
          '    <box label="car" xtl="9" ytl="1" xbr="2" ybr="5" occluded="0">\n    </box>\n' \
          '  </image>\n'
    xml = tmp_path / "bad.xml"
    xml.write_text(HEAD + body + bad + "</annotations>\n")
    with pytest.raises(InputError, match="inverted box"):
        import_xml(xml, tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert _leftovers(tmp_path) == []
    # an existing dataset is left exactly as it was
    good = tmp_path / "good.xml"
    good.write_text(HEAD + body + "</annotations>\n")
    import_xml(good, tmp_path / "ds")
    before = {p: p.read_bytes() for p in (tmp_path / "ds").rglob("*") if p.is_file()}
    with pytest.raises(InputError, match="inverted box"):
        import_xml(xml, tmp_path / "ds", unmatched="create")
    after = {p: p.read_bytes() for p in (tmp_path / "ds").rglob("*") if p.is_file()}
    assert after == before
    assert _leftovers(tmp_path) == []


def test_an_inverted_box_in_cvats_own_form_is_refused(tmp_path: Path) -> None:
    """A box exactly as CVAT writes it (the reader's strict mode, whose images the import does
    not check box by box) but inverted is still refused with its file and line."""
    body = "".join(_image(i, f"img{i}.jpg", _box("car", i % 50)) for i in range(200))
    bad = _image(200, "x.jpg", _box("car", 5) + _box("car", 9).replace('xbr="19"', 'xbr="2"'))
    xml = tmp_path / "bad.xml"
    xml.write_text(HEAD + body + bad + "</annotations>\n")
    line = (HEAD + body).count("\n") + 4
    with pytest.raises(InputError, match=rf"bad\.xml:{line}: inverted box"):
        import_xml(xml, tmp_path / "new", jobs=1)
    assert not (tmp_path / "new").exists()


def test_reimport_reports_unchanged_and_rewrites_nothing(tmp_path: Path) -> None:
    body = "".join(_image(i, f"img{i}.jpg", _box("car", i)) for i in range(20))
    xml = tmp_path / "a.xml"
    xml.write_text(HEAD + body + "</annotations>\n")
    import_xml(xml, tmp_path / "ds")
    labels = tmp_path / "ds" / "labels"
    stamps = {p.name: p.stat().st_mtime_ns for p in labels.iterdir()}
    inodes = {p.name: p.stat().st_ino for p in labels.iterdir()}
    report = import_xml(xml, tmp_path / "ds")
    assert report.created == [] and report.updated == []
    assert len(report.unchanged) == 20
    assert {p.name: p.stat().st_mtime_ns for p in labels.iterdir()} == stamps
    assert {p.name: p.stat().st_ino for p in labels.iterdir()} == inodes


def test_new_label_files_get_the_umask_mode(tmp_path: Path) -> None:
    xml = tmp_path / "a.xml"
    xml.write_text(HEAD + _image(0, "a.jpg", _box("car", 1)) + "</annotations>\n")
    old = os.umask(0o027)
    try:
        import_xml(xml, tmp_path / "ds")
    finally:
        os.umask(old)
    mode = (tmp_path / "ds" / "labels" / "a.json").stat().st_mode & 0o777
    assert mode == 0o640


def _tree_renames(monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> list[str]:
    """The renames out of a staging folder during an import (``fail``: a folder's is refused,
    as on Windows)."""
    moved: list[str] = []
    real = os.replace

    def spy(src: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
        if ".annosync-import-" in str(src):
            if fail and os.path.isdir(src):
                raise OSError(39, "Directory not empty")
            moved.append(str(src))
        real(src, dest)

    monkeypatch.setattr(os, "replace", spy)
    return moved


def test_a_new_dataset_gets_its_label_files_by_one_rename(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """Into a new dataset the staged ``labels`` folder is renamed into place whole (one
    rename, not one a file: all of the files or none after a crash), nested keys included;
    the files and folders get the usual modes."""
    body = "".join(_image(i, f"img{i}.jpg", _box("car", i)) for i in range(30))
    xml = tmp_path / "a.xml"
    xml.write_text(HEAD + body + _image(30, "sub/deep/x.jpg", _box("dog", 3))
                   + "</annotations>\n")
    moved = _tree_renames(monkeypatch)
    report = import_xml(xml, tmp_path / "ds")
    assert len(report.created) == 31
    assert len(moved) == 1 and moved[0].endswith("labels")
    folder = DatasetFolder.open(tmp_path / "ds")
    assert [lab for lab, _ in _labels(folder, "img7")] == ["car"]
    assert [lab for lab, _ in _labels(folder, "sub/deep/x")] == ["dog"]
    labels = tmp_path / "ds" / "labels"
    assert (labels.stat().st_mode & 0o777) == (labels.parent.stat().st_mode & 0o777)
    assert sorted(p.name for p in labels.iterdir()) == sorted(
        [f"img{i}.json" for i in range(30)] + ["sub"])
    assert _leftovers(tmp_path) == []
    # an existing dataset: file by file (its other label files stay)
    moved.clear()
    more = tmp_path / "b.xml"
    more.write_text(HEAD + _image(0, "new.jpg", _box("cat", 1)) + "</annotations>\n")
    import_xml(more, tmp_path / "ds", unmatched="create")
    assert len(moved) == 1 and moved[0].endswith(".json")
    assert len(list(labels.glob("*.json"))) == 31


def test_the_label_files_arrive_one_by_one_where_a_folder_cannot_be_renamed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the staged folder cannot replace the new dataset's (empty) ``labels`` folder,
    each file is renamed into it instead: the same files."""
    body = "".join(_image(i, f"img{i}.jpg", _box("car", i)) for i in range(5))
    xml = tmp_path / "a.xml"
    xml.write_text(HEAD + body + _image(5, "sub/x.jpg", _box("dog", 3)) + "</annotations>\n")
    import_xml(xml, tmp_path / "plain")
    moved = _tree_renames(monkeypatch, fail=True)
    import_xml(xml, tmp_path / "ds")
    assert len(moved) == 6
    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes()
                for p in (root / "labels").rglob("*.json")}
    got, want = files(tmp_path / "ds"), files(tmp_path / "plain")
    assert got.keys() == want.keys() and len(got) == 6
    for key in got:  # the same but for the fresh label ids
        assert len(got[key]) == len(want[key])
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["image_task_cvat_for_images_1.1__annotations.xml",
                                  "video_task_cvat_for_video_1.1__annotations.xml"])
def test_spilled_items_give_the_same_bytes_as_writing_them(name: str, tmp_path: Path) -> None:
    """export-xml spills items to a temporary file before the meta is known (ItemSpill): the
    result is byte for byte what writing the items after the meta gives."""
    from xmlcases import EXPORTS

    from annosync.cvatxml.reader import read_document
    from annosync.cvatxml.writer import ItemSpill, XmlWriter, document_bytes

    doc = read_document(EXPORTS / name)
    for numbers in ("exact", "cvat"):
        with ItemSpill(numbers, tmp_path) as spill:
            for item in doc.items:
                spill.write(item)
            out = tmp_path / f"{numbers}.xml"
            with XmlWriter(out, meta=doc.meta, version=doc.version, numbers=numbers) as w:
                w.write_spilled(spill)
        assert out.read_bytes() == document_bytes(doc, numbers=numbers)
        assert out.read_bytes() == (EXPORTS / name).read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cvat.xml", "exact.xml"]


def test_the_collector_runs_rarely_during_an_import_and_its_thresholds_come_back(
        tmp_path: Path) -> None:
    """An import raises the cyclic collector's first threshold while it reads (each image's
    boxes are many tracked objects freed by reference counting: collecting them every 700
    allocations cost ~10% of a big import) and gives the previous thresholds back, also after
    an error."""
    import gc

    xml = tmp_path / "a.xml"
    boxes = "".join(_box("car", float(x)) for x in range(40))
    xml.write_text(HEAD + "".join(_image(i, f"i{i}.jpg", boxes) for i in range(60))
                   + "</annotations>\n")
    runs = [0, 0, 0]

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            runs[info["generation"]] += 1

    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    gc.callbacks.append(count)
    try:
        report = import_xml(xml, tmp_path / "ds", jobs=1)
        seen = gc.get_threshold()
        bad = tmp_path / "bad.xml"
        bad.write_text(HEAD + _image(0, "z.jpg", "    <box/>\n") + "</annotations>\n")
        with pytest.raises(InputError):
            import_xml(bad, tmp_path / "ds2", jobs=1)
        after_error = gc.get_threshold()
    finally:
        gc.callbacks.remove(count)
        gc.set_threshold(*before)
    assert report.labels == 2400
    assert seen == (700, 10, 10) and after_error == (700, 10, 10)
    assert runs[0] <= 3, runs  # 2,400 boxes: ~40 runs at a threshold of 700
