"""``import-xml``'s direct path (``direct.py``: images of boxes into samples without labels,
no label models) gives the bytes of the general path (placer + models + ``jsonfmt``), or leaves
the image to it: Hypothesis files of boxes with every optional attribute, typed attribute values,
``label_id`` attributes (valid, invalid, repeated, taken by the dataset), ``z_order`` ties,
rotations, into new and existing datasets. Fresh ids are random in both paths, so ids the file
did not carry are compared as "new"."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annosync.cvatxml import import_ as imp
from annosync.cvatxml import import_xml
from annosync.cvatxml.direct import new_ids
from annosync.cvatxml.meta import AttributeSpec, LabelMeta, Meta, TaskMeta
from annosync.cvatxml.model import Attr, Image, Shape
from annosync.cvatxml.reader import Document
from annosync.cvatxml.writer import document_bytes
from annosync.errors import InputError
from annosync.model.ids import ID_PATTERN

LABELS = ["car", "person"]
ATTR_TYPES = {"color": "select", "parked": "checkbox", "n": "number", "1st": "text",
              "note": "text"}
VALUES = st.sampled_from(["red", "true", "false", "1", "01", "-2", "1.5", "1e3", "nan", "",
                          "é\"<", "x y"])
IDS = st.sampled_from(["5f1d7c9e0000000000000001", "5f1d7c9e0000000000000002", "my-id.1",
                       "bad id!", "", "x" * 65, "stored00000000000000abcd"])
COORD = st.integers(0, 9000).map(lambda n: n / 100)


@st.composite
def boxes(draw: st.DrawFn) -> Shape:
    x, y = draw(COORD), draw(COORD)
    attrs = [Attr(n, draw(VALUES)) for n in draw(st.lists(
        st.sampled_from([*ATTR_TYPES, "other", "label_id"]), unique=True, max_size=4))]
    attrs = [Attr("label_id", draw(IDS)) if a.name == "label_id" else a for a in attrs]
    return Shape("box", label=draw(st.sampled_from(LABELS)),
                 source=draw(st.sampled_from([None, "manual", "auto", "file"])),
                 occluded=draw(st.sampled_from([None, False, True])),
                 points=[x, y, x + draw(COORD), y + draw(COORD)],
                 rotation=draw(st.sampled_from([None, 0.0, 12.5])),
                 z_order=draw(st.sampled_from([None, 0, 1, -2, 3])),
                 group_id=draw(st.sampled_from([None, 0, 4])),
                 attributes=attrs)


def _meta() -> Meta:
    labels = [LabelMeta(name=n, type="rectangle", attributes=[
        AttributeSpec(name=a, mutable="False", input_type=t, default_value="", values="")
        for a, t in ATTR_TYPES.items()]) for n in LABELS]
    return Meta(kind="task", task=TaskMeta(id="1", name="t", size="3", mode="annotation",
                                           labels=labels))


def _normal(text: str, carried: set[str]) -> str:
    return re.sub(r'"_id": "([^"]*)"',
                  lambda m: m.group(0) if m.group(1) in carried else '"_id": NEW', text)


def _run(xml: Path, ds: Path, direct: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(imp, "_DIRECT", direct)
    try:
        report = import_xml(xml, ds)
    except InputError as exc:
        return ("error", str(exc))
    return report


def _files(ds: Path, carried: set[str]) -> dict[str, str]:
    return {str(p.relative_to(ds)): _normal(p.read_text(encoding="utf-8"), carried)
            for p in sorted((ds / "labels").rglob("*.json"))}


def _compare(tmp: Path, images: list[Image], monkeypatch: pytest.MonkeyPatch,
             existing: Path | None = None) -> None:
    xml = tmp / "in.xml"
    xml.write_bytes(document_bytes(Document(meta=_meta(), items=images), numbers="cvat"))
    carried = {a.value for img in images for s in img.shapes for a in s.attributes
               if a.name == "label_id"} | {"stored00000000000000abcd"}
    results = []
    for direct in (True, False):
        ds = tmp / f"ds_{direct}"
        shutil.rmtree(ds, ignore_errors=True)
        if existing is not None:
            shutil.copytree(existing, ds)
        report = _run(xml, ds, direct, monkeypatch)
        files = _files(ds, carried) if (ds / "labels").is_dir() else {}
        results.append((report, files))
    (fast, fast_files), (slow, slow_files) = results
    assert fast == slow
    assert fast_files == slow_files
    for text in fast_files.values():  # fresh ids: the id format, each used once
        ids = re.findall(r'"_id": "([^"]*)"', text)
        assert len(ids) == len(set(ids))


IMAGES = st.lists(st.lists(boxes(), max_size=6), min_size=1, max_size=3)


def _images(shape_lists: list[list[Shape]]) -> list[Image]:
    return [Image(id=i, name=f"img_{i}.jpg", width=(640, 100, 1920)[i % 3],
                  height=(480, 50, 1080)[i % 3], shapes=s) for i, s in enumerate(shape_lists)]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(IMAGES)
def test_direct_path_writes_the_general_paths_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape_lists: list[list[Shape]]
) -> None:
    _compare(tmp_path, _images(shape_lists), monkeypatch)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(IMAGES)
def test_direct_path_into_an_existing_dataset(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape_lists: list[list[Shape]]
) -> None:
    """Samples already there without labels (the direct path), one with a stored label whose
    id the file may carry (the general path: it merges), a label id taken by the dataset."""
    base = tmp_path / "base"
    if not base.exists():
        seed = [Image(id=0, name="img_0.jpg", width=640, height=480),
                Image(id=1, name="img_1.jpg", width=100, height=50,
                      shapes=[Shape("box", label="car", source="manual", occluded=False,
                                    points=[1.0, 2.0, 3.0, 4.0], z_order=0,
                                    attributes=[Attr("label_id",
                                                     "stored00000000000000abcd")])]),
                Image(id=2, name="img_2.jpg", width=1920, height=1080)]
        seed_xml = tmp_path / "seed.xml"
        seed_xml.write_bytes(document_bytes(Document(meta=_meta(), items=seed)))
        import_xml(seed_xml, base)
    _compare(tmp_path, _images(shape_lists), monkeypatch, existing=base)


def test_direct_path_is_taken_for_plain_boxes(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's kind of file goes the direct way (not only the fallback)."""
    calls: list[int] = []
    real = imp._Images._direct

    def spy(self: Any, *args: Any) -> bool:
        ok = real(self, *args)
        calls.append(ok)
        return ok

    monkeypatch.setattr(imp._Images, "_direct", spy)
    shapes = [Shape("box", label="car", source="manual", occluded=bool(i % 2),
                    points=[1.5, 2.25, 30.0 + i, 40.75], z_order=0,
                    attributes=[Attr("color", "red"), Attr("parked", "true")])
              for i in range(5)]
    _compare(tmp_path, _images([shapes, shapes[:2], []]), monkeypatch)
    assert calls and all(calls)


def test_one_pass_text_is_taken_and_keeps_a_repeated_id_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The common image's detections are written in one pass (``box_body``, not only its
    fallback), with the general path's bytes; a valid ``label_id`` carried by two boxes of one
    image is kept by the first only (the second gets a fresh id), one taken by an earlier
    image is not kept again."""
    calls: list[bool] = []
    real = imp._Images._body

    def spy(self: Any, *args: Any) -> bool:
        ok = real(self, *args)
        calls.append(ok)
        return ok

    monkeypatch.setattr(imp._Images, "_body", spy)
    same = "5f1d7c9e0000000000000001"
    shapes = [Shape("box", label="car", source="manual", occluded=False,
                    points=[1.5, 2.25, 30.0 + i, 40.75], z_order=0,
                    attributes=[Attr("color", "red"), Attr("label_id", same)])
              for i in range(3)]  # (pixvec leaves the third box to the scalar code)
    _compare(tmp_path, _images([shapes, shapes[:1]]), monkeypatch)
    assert calls[:2] == [True, True]
    texts = [(tmp_path / "ds_True" / "labels" / f"img_{i}.json").read_text() for i in (0, 1)]
    assert texts[0].count(same) == 1 and same not in texts[1]


def test_new_ids_have_the_id_format() -> None:
    ids = new_ids(1000)
    assert len(set(ids)) == 1000 and all(ID_PATTERN.match(i) for i in ids)
    assert new_ids(0) == []


def test_attribute_memo_follows_each_documents_types(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The attribute sets the direct path memoizes are typed by the meta of the document
    being read: the same box under a number spec, then a text spec, in one process."""
    shapes = [Shape("box", label="car", source="manual", occluded=False,
                    points=[1.0, 2.0, 3.0 + i, 4.0], z_order=0, attributes=[Attr("n", "7")])
              for i in range(3)]
    for where, kind in (("a", "number"), ("b", "text"), ("c", "number")):
        monkeypatch.setitem(ATTR_TYPES, "n", kind)
        (tmp_path / where).mkdir()
        _compare(tmp_path / where, _images([shapes, shapes]), monkeypatch)
        text = (tmp_path / where / "ds_True" / "labels" / "img_0.json").read_text()
        assert ('"n": 7' in text) == (kind == "number")


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
       .filter(lambda t: "\\" not in t and not t.startswith("/") and ".." not in t.split("/")),
       st.integers(1, 3), st.integers(1, 3))
def test_new_image_head_is_the_samples_own_text(name: str, width: int, height: int) -> None:
    """``direct.new_image_head`` (a new image sample's text from a template per size) equals
    the sample's own dump, for any media path (escapes, non-ASCII) and sizes that repeat
    across examples (the templates are kept: one keyed by the width alone, or a media path
    spliced in without JSON escapes, fails)."""
    from annosync.cvatxml.direct import new_image_head, sample_head
    from annosync.model.sample import MediaMetadata, Sample

    media = "media/" + name
    sample = Sample(media=media, metadata=MediaMetadata(media_type="image", width=width,
                                                        height=height))
    assert new_image_head(media, width, height) == \
        sample_head(sample.model_dump(mode="json", by_alias=True))
