"""``XmlWriter.write_image``'s fast path (``image_text``: strings instead of lxml's incremental
writer) writes exactly the bytes of the lxml path, or leaves the image to it: Hypothesis images
with every shape kind, tags, attributes, optional fields, both number styles and awkward text
(markup characters, newlines, tabs, non-ASCII, characters XML 1.0 does not allow)."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.cvatxml.encoding import number_formatter
from annosync.cvatxml.model import COORD_ATTRS, Attr, Image, Mask, Shape, Tag
from annosync.cvatxml.writer import XmlWriter, image_text

TEXT = st.one_of(st.sampled_from(["car", "", "a&b", "<x>", 'say "hi"', "l\nm", "t\tu", "r\rs",
                                  "é", "]]>", "\x7f", "\x00", "\ufffe", "x\x0by"]),
                 st.text(max_size=6))
NUM = st.one_of(st.integers(-5000, 5000).map(lambda n: n / 100),
                st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
KINDS = ["box", "ellipse", "cuboid", "polygon", "polyline", "points", "mask", "skeleton"]


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    kind = draw(st.sampled_from(KINDS))
    n = len(COORD_ATTRS.get(kind, ())) or 2 * draw(st.integers(1, 4))
    if draw(st.integers(0, 20)) == 0:
        n += 1  # a wrong number of coordinates: lxml's path refuses it
    s = Shape(kind, label=draw(st.one_of(st.none(), TEXT)),
              source=draw(st.one_of(st.none(), st.sampled_from(["manual", "auto", "a&b"]))),
              outside=draw(st.one_of(st.none(), st.booleans())),
              occluded=draw(st.one_of(st.none(), st.booleans())),
              points=None if draw(st.integers(0, 15)) == 0 else [draw(NUM) for _ in range(n)],
              rotation=draw(st.one_of(st.none(), NUM)),
              z_order=draw(st.one_of(st.none(), st.integers(-3, 3))),
              group_id=draw(st.one_of(st.none(), st.integers(0, 9))),
              frame=draw(st.one_of(st.none(), st.integers(0, 9))),
              keyframe=draw(st.one_of(st.none(), st.booleans())),
              attributes=[Attr(draw(TEXT), draw(TEXT))
                          for _ in range(draw(st.integers(0, 3)))])
    if kind == "mask":
        s.mask = Mask([1, 2], 0, 0, 3, 1)
    if draw(st.integers(0, 10)) == 0:
        s.extra = {"extra": draw(TEXT)}
    if kind == "skeleton" and draw(st.booleans()):
        s.elements = [Shape("points", label="1", outside=False, occluded=False,
                            points=[1.0, 2.0])]
    return s


@st.composite
def images(draw: st.DrawFn) -> Image:
    img = Image(id=draw(st.integers(0, 10**6)), name=draw(TEXT),
                subset=draw(st.one_of(st.none(), TEXT)),
                task_id=draw(st.one_of(st.none(), st.integers(1, 99))),
                width=draw(st.one_of(st.none(), st.integers(1, 4000))),
                height=draw(st.one_of(st.none(), st.integers(1, 4000))),
                shapes=draw(st.lists(shapes(), max_size=4)),
                tags=[Tag(label=draw(TEXT), source=draw(st.one_of(st.none(), TEXT)),
                          group_id=draw(st.one_of(st.none(), st.integers(0, 5))),
                          attributes=[Attr(draw(TEXT), draw(TEXT))])
                      for _ in range(draw(st.integers(0, 2)))])
    if draw(st.integers(0, 10)) == 0:
        img.extra = {"foo": "bar"}
    return img


def _written(img: Image, numbers: str, fast: bool) -> bytes | str:
    buf = io.BytesIO()
    try:
        with XmlWriter(buf, numbers=numbers) as w:  # type: ignore[arg-type]
            (w.write_image if fast else w._write_image)(img)
    except Exception as exc:
        return type(exc).__name__
    return buf.getvalue()


@settings(max_examples=600)
@given(images(), st.sampled_from(["exact", "cvat"]))
def test_fast_image_bytes_equal_lxml(img: Image, numbers: str) -> None:
    assert _written(img, numbers, True) == _written(img, numbers, False)


def test_fast_path_is_taken_for_plain_images() -> None:
    img = Image(id=3, name='a&"b".jpg', width=10, height=20, shapes=[
        Shape("box", label="car", source="manual", occluded=False, points=[1.0, 2.5, 3.0, 4.0],
              z_order=0, attributes=[Attr("color", "red <dark>"), Attr("n", "")]),
        Shape("polygon", label="p", points=[1.0, 2.0, 3.0, 4.0, 5.0, 6.123])],
        tags=[Tag(label="t", source="manual", attributes=[Attr("a", "1")])])
    for numbers in ("exact", "cvat"):
        text = image_text(img, number_formatter(numbers))  # type: ignore[arg-type]
        assert text is not None and '<box label="car"' in text
        assert _written(img, numbers, True) == _written(img, numbers, False)


@pytest.mark.parametrize("bad", ["\x00", "\x0b", "\ufffe"])
def test_text_lxml_refuses_is_left_to_lxml(bad: str) -> None:
    img = Image(id=1, name="a.jpg", shapes=[Shape("box", label="a", points=[1.0, 2.0, 3.0, 4.0],
                                                  attributes=[Attr("x", bad)])])
    assert image_text(img, number_formatter("exact")) is None
    assert _written(img, "exact", True) == "ValueError"
