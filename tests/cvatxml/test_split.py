"""``import-xml`` of a file read by several processes (``split.py``) gives exactly what one
process gives: the same label files (fresh ids compared as "new"), record, report, warnings
and errors; and where a part meets what the split cannot vouch for (a sample key or label id
an earlier part also made, a cut that is not between two items, a warning, an error, a track,
a process that dies), the whole file is read again in one process. Hypothesis files with
colliding image names, kept and repeated ``label_id``s, bad boxes and odd items, cut at random
shares into 2-3 parts."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_direct import _meta, boxes

from annosync.cvatxml import import_ as imp
from annosync.cvatxml import import_xml, split
from annosync.cvatxml.model import Attr, Image, Shape
from annosync.cvatxml.reader import Document
from annosync.cvatxml.writer import document_bytes
from annosync.errors import InputError

NAMES = st.sampled_from(["a.jpg", "b.jpg", "a_2.jpg", "a.png", "sub/a.jpg", "c.jpg", "d.jpg"])


def _snapshot(ds: Path, carried: set[str]) -> dict[str, str]:
    out = {}
    for p in sorted(ds.rglob("*")):
        if p.is_file():
            text = p.read_text(encoding="utf-8")
            out[str(p.relative_to(ds))] = re.sub(
                r'"_id": "([^"]*)"',
                lambda m: m.group(0) if m.group(1) in carried else '"_id": NEW', text)
    return out


def _import(xml: Path, ds: Path, on: bool, monkeypatch: pytest.MonkeyPatch, jobs: int = 2,
            share: float = 0.5, carried: set[str] | None = None) -> tuple[Any, dict[str, str]]:
    monkeypatch.setattr(imp, "_SPLIT", on)
    monkeypatch.setattr(split, "MIN_BYTES", 0)
    monkeypatch.setattr(split, "FIRST_SHARE", share)
    shutil.rmtree(ds, ignore_errors=True)
    try:
        report = import_xml(xml, ds, jobs=jobs)
    except InputError as exc:
        return ("error", str(exc)), {}
    return report, _snapshot(ds, carried or set())


def _outcomes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What each split attempt of the test returns (True: merged; False: read again)."""
    seen: list[bool] = []
    real = imp._import_split

    def spy(*args: Any) -> bool:
        got = real(*args)
        seen.append(got)
        return got

    monkeypatch.setattr(imp, "_import_split", spy)
    return seen


def _both(tmp: Path, xml: Path, monkeypatch: pytest.MonkeyPatch, jobs: int = 2,
          share: float = 0.5, carried: set[str] | None = None) -> tuple[Any, Any]:
    # the same folder name for both (the dataset's name is its folder's)
    one = _import(xml, tmp / "one" / "ds", False, monkeypatch, jobs, share, carried)
    two = _import(xml, tmp / "two" / "ds", True, monkeypatch, jobs, share, carried)
    assert two[0] == one[0]
    assert two[1] == one[1]
    return one, two


def _box(x: float, label: str = "car", attrs: list[Attr] | None = None) -> Shape:
    return Shape("box", label=label, source="manual", occluded=False,
                 points=[x, 1.0, x + 5.5, 9.25], z_order=0, attributes=attrs or [])


def _write(tmp: Path, images: list[Image]) -> Path:
    xml = tmp / "in.xml"
    xml.write_bytes(document_bytes(Document(meta=_meta(), items=images), numbers="cvat"))
    return xml


def _plain(n: int) -> list[Image]:
    return [Image(id=i, name=f"img_{i:03d}.jpg", width=640, height=480,
                  shapes=[_box(float(i + j), ("car", "person")[j % 2],
                               [Attr("color", "red"), Attr("parked", "true")])
                          for j in range(3)]) for i in range(n)]


@pytest.mark.parametrize("jobs", [2, 3])
def test_a_split_import_equals_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           jobs: int) -> None:
    seen = _outcomes(monkeypatch)
    (report, files), _ = _both(tmp_path, _write(tmp_path, _plain(40)), monkeypatch, jobs)
    assert seen == [True]  # merged, not read again
    assert len(report.created) == 40 and report.labels == 120
    assert sum(1 for k in files if k.startswith("labels/")) == 40
    assert any(k.startswith(".annosync/") for k in files)  # the record, frames in file order


def test_a_collision_of_new_keys_or_kept_ids_reads_the_file_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = _plain(20)
    images[15].name = images[2].name  # the second gets key img_002_2 in one process
    images[17].shapes[0].attributes.append(Attr("label_id", "5f1d7c9e0000000000000001"))
    images[3].shapes[1].attributes.append(Attr("label_id", "5f1d7c9e0000000000000001"))
    seen = _outcomes(monkeypatch)
    (_report, files), _ = _both(tmp_path, _write(tmp_path, images), monkeypatch,
                               carried={"5f1d7c9e0000000000000001"})
    assert seen == [False]
    assert "labels/img_002_2.json" in files
    assert sum(text.count("5f1d7c9e0000000000000001") for text in files.values()) == 1


@pytest.mark.parametrize("where", ["comment", "cdata", "nested"])
def test_a_cut_that_is_not_between_items_reads_the_file_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    xml = _write(tmp_path, _plain(10))
    data = xml.read_bytes()
    at = data.index(b"<image", data.index(b"</image>", len(data) // 2))
    fake = b'<image id="99" name="x.jpg" width="10" height="10"></image>'
    if where == "comment":
        data = data[:at] + b"<!-- " + fake + b" -->\n  " + data[at:]
    elif where == "cdata":
        data = data[:at] + b"<version><![CDATA[" + fake + b"]]></version>\n  " + data[at:]
    else:  # an <image> inside an item: CVAT's importer would read it as one more image
        end = data.index(b"</image>", at)
        data = data[:end] + fake + data[end:]
    xml.write_bytes(data)
    cut = data.index(b"<image", data.index(fake) - 1) if where != "nested" else \
        data.index(fake)
    monkeypatch.setattr(split, "points", lambda *a, **k: [cut])
    seen = _outcomes(monkeypatch)
    _both(tmp_path, xml, monkeypatch)
    assert seen == [False]


@pytest.mark.parametrize("where", [2, 8])
def test_errors_and_warnings_are_those_of_one_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: int) -> None:
    images = _plain(10)
    images[where].shapes[0].points = [50.0, 1.0, 10.0, 9.0]  # inverted
    (one, _), _ = _both(tmp_path, _write(tmp_path, images), monkeypatch)
    assert one[0] == "error" and "inverted box" in one[1] and "in.xml:" in one[1]

    images = _plain(10)
    xml = _write(tmp_path, images)
    data = xml.read_bytes()
    seventh = data.index(b'<image id="7"')
    xml.write_bytes(data[:seventh] + b"<extra/>\n  " + data[seventh:])  # a warning, part 2
    seen = _outcomes(monkeypatch)
    (report, _), _ = _both(tmp_path, xml, monkeypatch)
    assert seen == [False]
    assert any("unknown element <extra>" in w for w in report.warnings)


def test_a_part_whose_process_dies_is_read_again(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imp, "_part", lambda *a: os._exit(3))
    seen = _outcomes(monkeypatch)
    (report, _), _ = _both(tmp_path, _write(tmp_path, _plain(12)), monkeypatch)
    assert seen == [False] and len(report.created) == 12


def test_tracks_in_a_later_part_give_one_process_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xml = _write(tmp_path, _plain(10))
    data = xml.read_bytes()
    end = data.rindex(b"</annotations>")
    track = b'<track id="0" label="car" source="manual">' \
        b'<box frame="0" keyframe="1" outside="0" occluded="0" xtl="1" ytl="1" xbr="5" ' \
        b'ybr="5" z_order="0"></box></track>\n'
    xml.write_bytes(data[:end] + track + data[end:])
    (one, _), _ = _both(tmp_path, xml, monkeypatch)
    assert one[0] == "error" and "mixes" in one[1]


def test_points_cut_at_image_tags(tmp_path: Path) -> None:
    xml = _write(tmp_path, _plain(30))
    data = xml.read_bytes()
    header = data.index(b"<image")
    cuts = split.points(xml, header, len(data), 3)
    assert len(cuts) == 2 and header < cuts[0] < cuts[1]
    assert all(data.startswith(b'<image id="', c) for c in cuts)
    pieces = split.windows(xml, header, cuts, len(data))
    got = b""
    for p in pieces:
        w = split.Window(xml, p)
        text = b""
        while chunk := w.read(7):
            text += chunk
        w.close()
        assert text.startswith(data[:header])
        got += text[header:].removesuffix(b"</annotations>")
    assert got == data[header:].removesuffix(b"</annotations>\n") or \
        got == data[header:]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.tuples(NAMES, st.lists(boxes(), max_size=4)), min_size=2, max_size=10),
       st.sampled_from([2, 3]), st.floats(0.05, 0.95))
def test_split_imports_equal_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         items: list[tuple[str, list[Shape]]], jobs: int,
                                         share: float) -> None:
    images = [Image(id=i, name=name, width=(640, 100)[i % 2], height=(480, 50)[i % 2],
                    shapes=shapes) for i, (name, shapes) in enumerate(items)]
    carried = {a.value for img in images for s in img.shapes for a in s.attributes
               if a.name == "label_id"}
    _both(tmp_path, _write(tmp_path, images), monkeypatch, jobs, share, carried)


def test_no_child_process_reads_it_in_one(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Any, fn: Any) -> None:
        raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(split.Part, "__init__", refuse)
    seen = _outcomes(monkeypatch)
    (report, _), _ = _both(tmp_path, _write(tmp_path, _plain(12)), monkeypatch)
    assert seen == [False] and len(report.created) == 12


def test_the_first_part_is_smaller_by_what_its_process_does_after_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The calling process reads less than an equal share (it merges and commits after its
    part), the others equal shares; a set ``FIRST_SHARE`` is used as it is."""
    xml = _write(tmp_path, _plain(400))
    data = xml.read_bytes()
    header = data.index(b"<image")
    span = len(data) - header
    for parts in (2, 4):
        cuts = split.points(xml, header, len(data), parts)
        sizes = [b - a for a, b in zip([header, *cuts], [*cuts, len(data)], strict=True)]
        want = (1 - split.AFTER * (parts - 1)) / parts
        assert abs(sizes[0] / span - want) < 0.01, (parts, sizes)
        for other in sizes[1:]:
            assert abs(other / span - (1 - want) / (parts - 1)) < 0.01, (parts, sizes)
        assert sizes[0] < min(sizes[1:])
    monkeypatch.setattr(split, "FIRST_SHARE", 0.8)
    cuts = split.points(xml, header, len(data), 2)
    assert abs((cuts[0] - header) / span - 0.8) < 0.01
