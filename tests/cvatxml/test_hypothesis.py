"""Generated documents and datasets round-trip (Hypothesis)."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from annosync.cvatxml import document_bytes, export_xml, import_xml, read_document
from annosync.cvatxml.meta import AttributeSpec, LabelMeta, Meta, Person, Segment, TaskMeta
from annosync.cvatxml.model import COORD_ATTRS, Attr, Image, Mask, Shape, Tag, Track
from annosync.cvatxml.pixels import box_px, box_rel, px, rel
from annosync.cvatxml.reader import Document
from annosync.dataset.folder import DatasetFolder
from annosync.model.labels import (
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

# -- documents ---------------------------------------------------------------------------------
_BAD = "".join(chr(c) for c in range(32) if chr(c) not in "\t\n\r") + "\ufffe\uffff"
text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters=_BAD), max_size=12)
num = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)
small = st.integers(min_value=-5, max_value=1000)
flag = st.booleans()
attrs = st.lists(st.builds(Attr, text, text), max_size=3)
extra = st.dictionaries(st.sampled_from(["confidence", "x-note", "track_id"]), text, max_size=2)


def opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def masks(draw: Any) -> Mask:
    w, h = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    cuts = sorted(draw(st.lists(st.integers(0, w * h), max_size=6)))
    bounds = [0, *cuts, w * h]
    return Mask([b - a for a, b in itertools.pairwise(bounds)],
                draw(small), draw(small), w, h)


@st.composite
def shapes(draw: Any, in_track: bool, element: bool = False) -> Shape:
    kinds = ["box", "polygon", "polyline", "points", "ellipse", "cuboid", "mask"]
    if not element:
        kinds.append("skeleton")
    kind = draw(st.sampled_from(["points"] if element else kinds))
    s = Shape(kind=kind)
    s.label = draw(text) if (element or not in_track) else draw(opt(text))
    s.source = draw(opt(st.sampled_from(["manual", "auto", "file", "semi-auto"])))
    s.frame = draw(st.integers(0, 10_000)) if in_track and not element else None
    s.keyframe = draw(flag) if in_track else draw(opt(flag))
    s.outside = draw(flag) if element else draw(opt(flag))
    s.occluded = draw(flag) if element else draw(opt(flag))
    if kind in COORD_ATTRS:
        s.points = draw(st.lists(num, min_size=len(COORD_ATTRS[kind]),
                                 max_size=len(COORD_ATTRS[kind])))
    elif kind == "mask":
        s.mask = draw(masks())
    elif kind == "skeleton":
        s.points = draw(opt(st.just([])))
        s.elements = draw(st.lists(shapes(in_track, True), max_size=3))
    else:
        n = {"polygon": 3, "polyline": 2, "points": 1}[kind]
        pairs = draw(st.integers(n, 5))
        s.points = draw(st.lists(num, min_size=2 * pairs, max_size=2 * pairs))
    s.rotation = draw(opt(st.floats(0, 360)))
    s.z_order = draw(opt(small))
    s.group_id = draw(opt(st.integers(0, 100)))
    s.attributes = draw(attrs)
    s.extra = draw(extra)
    return s


images = st.builds(
    Image, id=st.integers(0, 10**6), name=text, width=opt(st.integers(1, 10**4)),
    height=opt(st.integers(1, 10**4)), subset=opt(text), task_id=opt(st.integers(0, 99)),
    shapes=st.lists(shapes(False), max_size=4),
    tags=st.lists(st.builds(Tag, text, source=opt(text), group_id=opt(small), attributes=attrs),
                  max_size=2),
)
tracks = st.builds(
    Track, label=text, id=opt(st.integers(0, 99)), source=opt(text), task_id=opt(small),
    subset=opt(text), group_id=opt(small), shapes=st.lists(shapes(True), max_size=4),
)
metas = st.builds(
    Meta,
    kind=st.sampled_from(["task", "job"]),
    task=st.builds(
        TaskMeta, id=opt(text), name=opt(text), size=opt(text), mode=opt(text),
        start_frame=opt(text), frame_filter=opt(text), flipped=opt(text),
        segments=opt(st.lists(st.builds(Segment, id=opt(text), url=opt(text)), max_size=2)),
        owner=st.none() | st.just("") | st.builds(Person, opt(text), opt(text)),
        labels=opt(st.lists(st.builds(
            LabelMeta, name=opt(text), color=opt(text), type=opt(text), parent=opt(text),
            svg=opt(text), attributes=opt(st.lists(st.builds(
                AttributeSpec, name=opt(text), mutable=opt(st.sampled_from(["True", "False"])),
                input_type=opt(text), default_value=opt(text), values=opt(text)),
                max_size=2))), max_size=3)),
        source=opt(text),
    ),
    dumped=opt(text),
)


@given(st.builds(Document, version=opt(text), meta=opt(metas),
                 items=st.lists(images | tracks, max_size=4)),
       st.sampled_from(["exact", "cvat"]))
def test_generated_documents_round_trip(doc: Document, numbers: str) -> None:
    if numbers == "cvat":  # {:.2f} keeps two decimals: use values that have at most two
        for item in doc.items:
            for s in item.shapes:
                for x in [s, *s.elements]:
                    if x.points is not None:
                        x.points = [round(v, 2) for v in x.points]
                    if x.rotation is not None:
                        x.rotation = round(x.rotation, 2)
    data = document_bytes(doc, numbers=numbers)  # type: ignore[arg-type]
    again = read_document(data)
    assert again.items == doc.items
    assert again.meta == doc.meta
    assert again.version == (doc.version if doc.version else ("" if doc.version == "" else None))
    assert document_bytes(again, numbers=numbers) == data  # type: ignore[arg-type]


# -- coordinates -------------------------------------------------------------------------------
sizes = st.integers(1, 8000)


@given(st.integers(-10**6, 10**6), sizes)
def test_two_decimal_pixels_come_back(cents: int, size: int) -> None:
    """What CVAT writes (two decimals) survives pixels -> relative -> pixels."""
    a = cents / 100
    assert px(rel(a, size), size) == a


@given(st.integers(0, 10**6), st.integers(0, 10**6), sizes)
def test_two_decimal_boxes_come_back(lo: int, extent: int, size: int) -> None:
    box = [lo / 100, lo / 100, (lo + extent) / 100, (lo + extent) / 100]
    assert box_px(box_rel(box, size, size), size, size) == box


@given(st.integers(0, 10**6), sizes)
def test_typed_decimals_come_back(micro: int, size: int) -> None:
    """A relative coordinate a person typed (six decimals) survives relative -> pixels -> relative."""
    x = micro / 10**6
    assert rel(px(x, size), size) == x


@given(st.floats(0, 1), sizes)
def test_any_coordinate_is_stable_after_one_trip(x: float, size: int) -> None:
    once = rel(px(x, size), size)
    assert px(once, size) == px(x, size)
    assert rel(px(once, size), size) == once


# -- datasets ----------------------------------------------------------------------------------
coord = st.integers(0, 10**4).map(lambda v: v / 10**4)
point = st.tuples(coord, coord)
label_attrs = st.dictionaries(
    st.sampled_from(["kind", "count", "ok", "score", "cvat.occluded", "cvat.group_id"]),
    st.booleans() | st.integers(-50, 50) | st.sampled_from([0.5, 2.25]) | text,
    max_size=3,
).map(lambda d: {k: v for k, v in d.items()
                 if not (k == "cvat.occluded" and v is not True)
                 and not (k == "cvat.group_id" and (not isinstance(v, int) or isinstance(v, bool)
                                                    or v <= 0))})
labels = st.sampled_from(["cat", "dog", "a b", "ünï"])


@st.composite
def boxes(draw: Any) -> Detection:
    x, y = draw(coord), draw(coord)
    w, h = draw(coord), draw(coord)
    return Detection(label=draw(labels), bounding_box=(x, y, w, h), attributes=draw(label_attrs),
                     rotation=draw(st.none() | st.sampled_from([15.0, 90.0, 359.5])))


@st.composite
def samples(draw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if draw(flag):
        fields["ground_truth_detections"] = Detections(detections=draw(st.lists(boxes(),
                                                                                max_size=3)))
    if draw(flag):
        fields["ground_truth_polylines"] = Polylines(polylines=draw(st.lists(st.builds(
            Polyline, label=labels, points=st.lists(st.lists(point, min_size=3, max_size=4),
                                                    min_size=1, max_size=2),
            closed=st.just(True), filled=st.just(True), attributes=label_attrs), max_size=2)))
    if draw(flag):
        fields["ground_truth_keypoints"] = Keypoints(keypoints=draw(st.lists(st.builds(
            Keypoint, label=labels, points=st.lists(point, min_size=1, max_size=3),
            attributes=label_attrs), max_size=2)))
    if draw(flag):
        fields["ground_truth_classifications"] = Classifications(classifications=draw(
            st.lists(st.builds(Classification, label=labels, attributes=label_attrs.map(
                lambda d: {k: v for k, v in d.items() if k != "cvat.occluded"})),  # tags: none
                max_size=2)))
    return fields


def _attr_types_consistent(all_fields: list[dict[str, Any]]) -> bool:
    """One attribute name keeps one kind of value per label (as a CVAT spec must)."""
    seen: dict[tuple[str, str], set[str]] = {}
    for fields in all_fields:
        for value in fields.values():
            for obj in getattr(value, value.type):
                for name, v in obj.attributes.items():
                    kind = "bool" if isinstance(v, bool) else (
                        "num" if isinstance(v, (int, float)) else "str")
                    seen.setdefault((obj.label, name), set()).add(kind)
    return all(len(kinds) == 1 for kinds in seen.values())


@given(st.lists(samples(), min_size=1, max_size=3), st.sampled_from([(640, 480), (1600, 1200),
                                                                     (333, 77)]))
def test_generated_datasets_round_trip(fields: list[dict[str, Any]], size: tuple[int, int]
                                       ) -> None:
    if not _attr_types_consistent(fields):
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = DatasetFolder.init(root / "src")
        for i, f in enumerate(fields):
            src.write(f"s{i}", Sample(media=f"media/s{i}.jpg", fields=f,
                                      metadata=MediaMetadata(width=size[0], height=size[1])))
        export_xml(src, root / "a.xml")
        import_xml(root / "a.xml", root / "dest")
        dest = DatasetFolder.open(root / "dest")
        for i, f in enumerate(fields):
            got = dest.read(f"s{i}").fields
            want = {k: v for k, v in f.items() if getattr(v, v.type)}
            for value in want.values():  # a new dataset holds each field in z order
                objs = getattr(value, value.type)
                objs.sort(key=lambda o: getattr(o, "z_order", None) or 0)
            assert {k: v.model_dump() for k, v in got.items()} == \
                {k: v.model_dump() for k, v in want.items()}
        shutil.rmtree(root / "dest")
