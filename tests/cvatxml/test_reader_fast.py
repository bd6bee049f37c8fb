"""The reader's fast path for a CVAT-written ``<box>`` (``_Body.plain_box``) gives the very
``Shape`` of the general ``_Body.shape`` (line included), with nothing for it to warn about, or
declines (None): Hypothesis boxes with CVAT's eight attributes or others, good and bad values,
children of every sort, stray text and tails."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from annosync.cvatxml.diag import Diagnostics
from annosync.cvatxml.reader import XmlReader, _Body
from annosync.errors import InputError


def _mostly(good: list[str], bad: list[str]) -> st.SearchStrategy[str]:
    """Good values nine times in ten, so that most boxes are ones the fast path takes."""
    return st.integers(0, 9).flatmap(
        lambda n: st.sampled_from(bad if n == 0 else good))


NUMBER = _mostly(["1", "1.5", "-0", "1e3", "12.25", "0.1"],
                 ["nan", "inf", "-inf", "x", "", "1e400", "1_0", " 2 ", "１", "1.5.1"])
FLAG = _mostly(["0", "1"], ["2", "", "true"])
TEXT = _mostly(["", "\n    ", " ", "\t\n"], ["x", " a "])
CANON = ["label", "source", "occluded", "xtl", "ytl", "xbr", "ybr", "z_order"]


def _q(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


@st.composite
def box_xml(draw: st.DrawFn) -> str:
    names = list(CANON)
    if draw(st.integers(0, 3)) == 0:
        others = ["rotation", "group_id", "outside", "keyframe", "frame", "foo"]
        names = draw(st.lists(st.sampled_from([*CANON, *others]), unique=True, max_size=10))
    values = {"label": draw(st.sampled_from(["car", "a&b", "é"])),
              "source": draw(st.sampled_from(["manual", "auto", ""])),
              "occluded": draw(FLAG), "outside": draw(FLAG), "keyframe": draw(FLAG)}
    attrs = " ".join(f'{n}="{_q(values.get(n) or draw(NUMBER))}"' for n in names)
    children = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.integers(0, 20))
        if kind == 0:
            children.append("<foo/>")
        elif kind == 1:
            children.append("<!-- c -->")
        elif kind == 2:
            children.append('<attribute name="a" x="1">v</attribute>')
        elif kind == 3:
            children.append("<attribute>v</attribute>")
        elif kind == 4:
            children.append('<attribute name="a"><b/>v</attribute>')
        else:
            value = _q(draw(st.sampled_from(["red", "", "1", " x ", "a&b"])))
            name = draw(st.sampled_from(["color", "parked", "label_id", ""]))
            children.append(f'<attribute name="{name}">{value}</attribute>')
        children.append(draw(TEXT))
    return f"<box {attrs}>{draw(TEXT)}{''.join(children)}</box>"


def _general(el: Any) -> tuple[Any, list[str]]:
    diag = Diagnostics("f.xml")
    try:
        shape = _Body(diag).shape(el, False, False)
    except InputError as exc:
        return ("error", str(exc)), []
    return shape, [str(w) for w in diag.warnings]


@settings(max_examples=600)
@given(box_xml())
def test_plain_box_equals_the_general_shape(text: str) -> None:
    el = etree.fromstring(f"<image>\n\n{text}</image>")[0]
    fast = _Body(Diagnostics("f.xml")).plain_box(el)
    shape, warnings = _general(el)
    if fast is None:
        return
    assert fast == shape and fast.line == shape.line == 3
    assert warnings == []


def test_plain_box_is_taken_for_cvat_boxes() -> None:
    el = etree.fromstring(
        '<box label="car" source="manual" occluded="1" xtl="1.5" ytl="2" xbr="3.25" ybr="4" '
        'z_order="-1">\n  <attribute name="color">red</attribute>\n</box>')
    fast = _Body(Diagnostics("f.xml")).plain_box(el)
    assert fast is not None and fast.occluded is True and fast.points == [1.5, 2.0, 3.25, 4.0]
    assert fast == _general(el)[0]


def test_a_bad_box_keeps_its_located_error() -> None:
    """A box the fast path declines still fails with the file and line."""
    xml = ('<annotations><version>1.1</version>\n<image id="0" name="a.jpg" width="4" '
           'height="4">\n<box label="car" source="manual" occluded="1" xtl="x" ytl="2" '
           'xbr="3" ybr="4" z_order="0"/></image></annotations>')
    try:
        with XmlReader(xml.encode(), name="f.xml") as reader:
            list(reader.items())
    except InputError as exc:
        assert str(exc).startswith("f.xml:3:") and "'xtl' must be a finite number" in str(exc)
    else:
        raise AssertionError("no error")
