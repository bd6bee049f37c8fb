"""The expat reader (``fastread.py``, ``reader.FAST``) reads every document as the lxml reader
does: the same items, lines, warnings and passthrough, or the same error. Hypothesis writes
documents mostly as CVAT does, with everything the fast path must hand to lxml mixed in: other
shapes, tags, tracks, unknown attributes and elements, stray text, comments, CDATA, character
references, tags over several lines, CRLF and lone CR line ends, self-closing images, values
holding ``>``, bad values, unknown top-level elements and text between items, ``<image>``
nested in items, end-tag bytes in comments and CDATA, end tags with blanks; read whole or in
chunks of a few bytes (so that items and the pieces of strict mode cross chunk ends)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.cvatxml import reader as reader_mod
from annosync.cvatxml.reader import XmlReader
from annosync.errors import InputError

HEADER = ('<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
          "  <meta>\n    <task>\n      <id>1</id>\n      <labels>\n        <label>\n"
          "          <name>car</name>\n        </label>\n      </labels>\n    </task>\n"
          "  </meta>\n")


def _rare(draw: st.DrawFn, k: int, one_in: int = 30) -> int:
    """Which of ``k`` rare cases (0..k-1), each about once in ``one_in`` draws, or -1 (the
    values Hypothesis favours, the ends of a range, are the common case here)."""
    n = draw(st.integers(0, one_in * k + 10))
    return n - 5 if 5 <= n < 5 + k else -1


def _mostly(good: list[str], bad: list[str]) -> st.SearchStrategy[str]:
    """Good values nearly always, so that most items are ones the fast path takes."""
    return st.integers(0, 60).flatmap(
        lambda n: st.sampled_from(bad if n == 30 else good))


NUMBER = _mostly(["1", "12.25", "0.5", "-3", "1e2"], ["nan", "x", "", " 2 "])
INT = _mostly(["0", "1", "-3"], ["1.0", "x", ""])
FLAG = _mostly(["0", "1"], ["2", ""])
NAME = _mostly(["car", "a&amp;b", "é", "x y"], ["a&gt;b", "a>b", "a&#10;b", "a\nb"])
TEXT = _mostly(["red", "", "1", " x ", "false", "&amp;"],
               ["a&gt;b", "a>b", "&#32;", "<![CDATA[c]]>", "x<!-- c -->y", "&#x78;", "\u00a0"])
SEP = _mostly(["\n      "], ["", " ", "x", "<!-- c -->", "\n\t", "&#120;", "<![CDATA[ ]]>"])


@st.composite
def box(draw: st.DrawFn, nl: str) -> str:
    attrs = [("label", draw(NAME)), ("source", draw(st.sampled_from(["manual", "auto"]))),
             ("occluded", draw(FLAG)), ("xtl", draw(NUMBER)), ("ytl", draw(NUMBER)),
             ("xbr", draw(NUMBER)), ("ybr", draw(NUMBER)), ("z_order", draw(INT))]
    roll = _rare(draw, 3)
    if roll == 0:
        attrs.append(("rotation", "10"))
    elif roll == 1:
        attrs = attrs[1:] + attrs[:1]  # another order
    elif roll == 2:
        attrs = attrs[:-1]  # one missing
    space = nl + "   " if _rare(draw, 1) == 0 else " "  # a tag over two lines
    head = f"<box{space}" + " ".join(f'{k}="{v}"' for k, v in attrs)
    kids = []
    for _ in range(draw(st.integers(0, 3))):
        which = _rare(draw, 5)
        if which == 0:
            kids.append('<attribute name="a" x="1">v</attribute>')
        elif which == 1:
            kids.append("<foo/>")
        elif which == 2:
            kids.append('<attribute name="a>b">v</attribute>')
        elif which == 3:
            kids.append('<image id="8" name="m.jpg"/>')
        elif which == 4:
            kids.append('<attribute name="a">x<b/>y</attribute>')
        else:
            name = draw(st.sampled_from(["color", "parked", "label_id", ""]))
            kids.append(f'<attribute name="{name}">{draw(TEXT)}</attribute>')
    if not kids and draw(st.booleans()):
        return head + "/>"
    inner = "".join(draw(SEP) + k for k in kids)
    return f"{head}>{inner}{draw(SEP)}</box>"


@st.composite
def image(draw: st.DrawFn, n: int, nl: str) -> str:
    attrs = [("id", str(n)), ("name", draw(st.sampled_from(
        [f"img_{n}.jpg", f"d/i{n}.png", "a&gt;b.jpg", "x&amp;y.jpg", "a>b.jpg"])))]
    roll = _rare(draw, 5)
    if roll == 0:
        attrs.append(("subset", "train"))
    if roll != 1:
        attrs += [("width", "640"), ("height", draw(_mostly(["480"], ["x", "-1"])))]
    if roll == 2:
        attrs.append(("foo", "bar"))
    if roll == 3:
        attrs = attrs[1:]  # no id
    if roll == 4:
        attrs.append(("task_id", "3"))
    head = "<image " + " ".join(f'{k}="{v}"' for k, v in attrs)
    children = []
    for _ in range(draw(st.integers(0, 4))):
        which = _rare(draw, 7)
        if which == 0:
            children.append('<polygon label="car" source="manual" occluded="0" '
                            'points="1,2;3,4;5,6" z_order="0"></polygon>')
        elif which == 1:
            children.append('<tag label="car" source="manual"></tag>')
        elif which == 2:
            children.append("<unknown a='1'>x</unknown>")
        elif which == 3:  # an <image> nested in the item: which end tag is the item's?
            children.append('<image id="7" name="n.jpg"/>')
        elif which == 4:
            children.append('<image id="7" name="n.jpg"><box label="car" source="manual" '
                            'occluded="0" xtl="1" ytl="2" xbr="3" ybr="4" z_order="0"/>'
                            "</image>")
        elif which == 5:  # the bytes of an end tag where it is none
            children.append("<!-- </image> -->")
        elif which == 6:
            children.append("<![CDATA[</image>]]>")
        else:
            children.append(draw(box(nl)))
    if not children and draw(st.booleans()):
        return head + "/>"
    inner = "".join(f"{nl}    {draw(SEP) if _rare(draw, 1, 5) == 0 else ''}{c}"
                    for c in children)
    close = draw(_mostly(["</image>"], ["</image >", f"</image{nl}  >"]))
    return f"{head}>{inner}{nl}  {close}"


@st.composite
def document(draw: st.DrawFn) -> str:
    nl = draw(_mostly(["\n"], ["\r\n", "\r"]))
    items = []
    for n in range(draw(st.integers(0, 5))):
        which = _rare(draw, 3, 10)
        if which == 0:
            items.append('<track id="0" label="car" source="manual"><box frame="0" '
                         'keyframe="1" outside="0" occluded="0" xtl="1" ytl="2" xbr="3" '
                         'ybr="4" z_order="0"></box></track>')
        elif which == 1:
            items.append("<stray k='v'><x/></stray>")
        elif which == 2:
            items.append("<version>1.1</version>")
        else:
            items.append(draw(image(n, nl)))
    between = [draw(_mostly([nl + "  "], [" tail ", "<!-- c -->", nl + "&#65;"]))
               for _ in items]
    body = "".join(f"{b}{i}" for b, i in zip(between, items, strict=True))
    end = draw(_mostly([nl], ["", " end ", nl + "<!--x-->"]))
    broken = _rare(draw, 1, 15) == 0
    text = HEADER.replace("\n", nl) + body.lstrip() + end + "</annotations>\n"
    if broken:  # a syntax error somewhere after the header
        cut = draw(st.integers(len(HEADER), len(text) - 1))
        text = text[:cut] + "<" + text[cut:]
    return text


def _lines(items: list[Any]) -> Iterator[tuple[str, int | None]]:
    for item in items:
        yield type(item).__name__, item.line
        for s in item.shapes:
            yield "shape", s.line
            for e in s.elements:
                yield "element", e.line
        for t in getattr(item, "tags", ()):
            yield "tag", t.line


def _read(data: bytes, fast: bool, monkeypatch: Any, chunk: int | None = None) -> Any:
    """What the reader gives; ``chunk``: bytes read at a time (both parsers), small ones so
    that the items are read after the header (a fast-path file is declined only before)
    and pieces and items cross chunk ends."""
    with monkeypatch.context() as m:
        m.setattr(reader_mod, "FAST", fast)
        if chunk is not None:
            m.setattr(reader_mod, "CHUNK_BYTES", chunk)
            m.setattr(reader_mod, "FAST_CHUNK_BYTES", chunk)
        try:
            with XmlReader(data, name="f.xml") as r:
                items = list(r.items())
                return ("ok", r.version, r.meta, items, list(_lines(items)),
                        [str(w) for w in r.warnings], r.passthrough)
        except InputError as exc:
            return ("error", str(exc))


TOP_TEXT = "text in <annotations> is ignored"


def _line(message: str) -> int:
    return int(message.split(":")[1])


def _unlined(result: Any) -> Any:
    """``result`` without line numbers: a lone carriage return is a line break to expat (and
    the XML spec), not to libxml2's line counter."""
    if result[0] == "error":
        return ("error", re.sub(r"^f\.xml:\d+:", "f.xml:", result[1]))
    return (*result[:4], [k for k, _ in result[4]],
            [re.sub(r"^f\.xml:\d+:", "f.xml:", w) for w in result[5]], result[6])


def _same(fast: Any, ref: Any, lone_cr: bool = False) -> None:
    if lone_cr:
        fast, ref = _unlined(fast), _unlined(ref)
    if ref[0] == "error" and "malformed XML" in ref[1]:
        # after the first item a syntax error is worded by expat (same file, both refuse);
        # and a problem of an item before it is reported first (lxml's pull parser raises
        # the syntax error of a chunk before the items of that chunk are read)
        assert fast[0] == "error", (fast, ref)
        if "malformed XML" not in fast[1] and not lone_cr:
            assert _line(fast[1]) <= _line(ref[1]), (fast, ref)
    elif ref[0] == "ok" and fast[0] == "ok":
        # text after a top-level element: lxml's pull parser has it only when the next
        # element came in the same chunk (so not after the last item); expat always does
        assert fast[:5] == ref[:5] and fast[6:] == ref[6:]
        assert [w for w in fast[5] if TOP_TEXT not in w] == \
            [w for w in ref[5] if TOP_TEXT not in w]
        assert set(w for w in ref[5] if TOP_TEXT in w) <= set(fast[5])
    else:
        assert fast == ref


@settings(max_examples=400, deadline=None)
@given(document(), st.sampled_from([None, 7, 150]))
def test_fast_reader_equals_the_lxml_reader(text: str, chunk: int | None) -> None:
    data = text.encode("utf-8")
    mp = pytest.MonkeyPatch()
    try:
        lone_cr = text.count("\r") != text.count("\r\n")
        fast = _read(data, True, mp, chunk)
        _same(fast, _read(data, False, mp, chunk), lone_cr)
        if fast[0] == "ok":
            for item in fast[3]:
                assert not getattr(item, "plain", False) or _plain_boxes(item.shapes), item
    finally:
        mp.undo()


def _plain_boxes(shapes: list[Any]) -> bool:
    """What ``Image.plain`` vouches for (the import then skips these checks)."""
    return all(s.kind == "box" and not s.elements and s.points is not None
               and len(s.points) == 4 and all(math.isfinite(v) for v in s.points)
               and s.points[0] <= s.points[2] and s.points[1] <= s.points[3] for s in shapes)


def test_cvat_written_images_take_the_fast_path() -> None:
    """The benchmark's kind of file is read by expat, none of it by lxml."""
    body = "".join(
        f'  <image id="{i}" name="i{i}.jpg" width="640" height="480">\n'
        '    <box label="car" source="manual" occluded="0" xtl="1.00" ytl="2.00" '
        'xbr="3.00" ybr="4.00" z_order="0">\n'
        '      <attribute name="color">red</attribute>\n    </box>\n  </image>\n'
        for i in range(300))
    with XmlReader((HEADER + body + "</annotations>\n").encode()) as r:
        assert r._fast is not None
        entries = list(r._fast.entries())
    assert len(entries) == 300 and {e[0] for e in entries} == {0}
    assert all(e[1].plain for e in entries)  # the import trusts these boxes (Image.plain)


def test_lines_past_chunks_and_a_late_error() -> None:
    """Items across many expat chunks keep their lines; an error in a late item names its
    line, after the items before it were read."""
    body = "".join(f'  <image id="{i}" name="i{i}.jpg" width="640" height="480">\n'
                   '    <box label="car" source="manual" occluded="0" xtl="1" ytl="2" '
                   'xbr="3" ybr="4" z_order="0">\n    </box>\n  </image>\n'
                   for i in range(2000))
    bad = '  <image id="x" name="bad.jpg"/>\n'
    text = HEADER + body + bad + "</annotations>\n"
    seen = []
    with XmlReader(text.encode(), name="big.xml") as r, pytest.raises(InputError) as exc:
        for item in r.items():
            seen.append(item)
    assert len(seen) == 2000
    assert seen[-1].line == HEADER.count("\n") + 1 + 4 * 1999
    assert seen[-1].shapes[0].line == seen[-1].line + 1
    line = HEADER.count("\n") + 1 + 4 * 2000
    assert str(exc.value).startswith(f"big.xml:{line}:")


def test_a_header_longer_than_the_first_chunk() -> None:
    """A task with many labels: the header spans several chunks and is kept whole for lxml
    (the bytes before the first item were dropped as soon as it started: "malformed XML")."""
    labels = "".join(f"        <label>\n          <name>label{i}</name>\n        </label>\n"
                     for i in range(1500))
    head = HEADER.replace("        <label>\n          <name>car</name>\n        </label>\n",
                          labels)
    assert len(head) > reader_mod.CHUNK_BYTES + 2 * reader_mod.FAST_CHUNK_BYTES
    body = "".join(f'  <image id="{i}" name="i{i}.jpg" width="640" height="480">\n'
                   '    <box label="car" source="manual" occluded="0" xtl="1" ytl="2" '
                   'xbr="3" ybr="4" z_order="0">\n    </box>\n  </image>\n' for i in range(9))
    with XmlReader((head + body + "</annotations>\n").encode()) as r:
        items = list(r.items())
        assert r.meta is not None and len(r.meta.task.labels) == 1500  # type: ignore[union-attr]
    assert [i.name for i in items] == [f"i{i}.jpg" for i in range(9)]
    assert items[8].shapes[0].line == head.count("\n") + 1 + 4 * 8 + 1


@pytest.mark.parametrize("body", [
    # an <image> nested in an item, self-closing or not: which end tag is the item's?
    '<image id="7" name="n.jpg"/>\n    {box}',
    '<image id="7" name="n.jpg">{box}</image>\n    {box}',
    # the bytes of an end tag inside a comment or CDATA; an end tag with a blank
    "{box}<!-- </image> -->",
    "{box}<![CDATA[</image>]]>",
    "{box}\n  </image >\n  <image id=\"1\" name=\"b.jpg\">{box}",
    # a line break in a value (XML makes it a space; lines move), an element in a text
    "{box}\n    " + '<box label="c\nar" source="manual" occluded="0" xtl="1" ytl="2" xbr="3" '
    'ybr="4" z_order="0">\n    </box>',
    '<box label="car" source="manual" occluded="0" xtl="1" ytl="2" xbr="3" ybr="4" '
    'z_order="0"><attribute name="a">r<b/>ed</attribute></box>',
])
@pytest.mark.parametrize("chunk", [None, 7, 50])
def test_items_the_strict_mode_must_leave_to_lxml(body: str, chunk: int | None) -> None:
    """Items that look like CVAT's plain images of boxes but are not, read in chunks that end
    anywhere: the same as the lxml reader, then a plain item after them too."""
    box = ('<box label="car" source="manual" occluded="0" xtl="1" ytl="2" xbr="3" ybr="4" '
           'z_order="0">\n      <attribute name="color">red</attribute>\n    </box>')
    text = (HEADER + '  <image id="0" name="a.jpg" width="640" height="480">\n    '
            + body.format(box=box) + f'\n  </image>\n  <image id="2" name="c.jpg">\n    {box}\n'
            "  </image>\n</annotations>\n")
    mp = pytest.MonkeyPatch()
    try:
        fast = _read(text.encode(), True, mp, chunk)
        assert fast == _read(text.encode(), False, mp, chunk)
        assert fast[0] == "ok" and fast[3][-1].name == "c.jpg"
    finally:
        mp.undo()


_ODD = ["<!-- c -->", "<!-- ? -->", "<?pi x?>", "<![CDATA[x]]>", "&amp;", "&#65;", "\t",
        "<!-- ! -->", "!", "?", " "]


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(["car", "a b"]), st.sampled_from(["red", "x y", ""])),
                min_size=1, max_size=4),
       st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(_ODD)), max_size=3),
       st.booleans())
def test_strict_shapes_read_what_lxml_reads_or_decline(
        boxes: list[tuple[str, str]], odd: list[tuple[int, str]], crlf: bool) -> None:
    """``fastread._strict_shapes`` on an item's bytes with comments, processing
    instructions, CDATA, references, tabs, ``!``/``?`` put between elements or in a text:
    None, or the shapes lxml reads from the same bytes (label, source, occluded, points,
    z_order, attributes). Dropping its reference check reads ``&amp;`` as text and fails."""
    from lxml import etree

    from annosync.cvatxml.fastread import _strict_shapes

    pieces = ["\n    "]
    for k, (label, value) in enumerate(boxes):
        pieces += [f'<box label="{label}" source="manual" occluded="{k % 2}" xtl="1.5" '
                   f'ytl="2" xbr="{3 + k}" ybr="4" z_order="{k}">', "\n      ",
                   '<attribute name="color">', value, "</attribute>", "\n    ", "</box>",
                   "\n    "]
    for at, what in odd:  # between two pieces (a boundary or inside a text)
        pieces.insert(at % (len(pieces) + 1), what)
    body = "".join(pieces).replace("\n", "\r\n" if crlf else "\n")
    got = _strict_shapes(body.encode(), 1)
    if got is None:
        return
    try:
        root = etree.fromstring(('<image id="0" name="a">' + body + "</image>").encode())
    except etree.XMLSyntaxError:
        raise AssertionError("strict mode read bytes that are not XML") from None
    want = [(b.get("label"), b.get("source"), b.get("occluded") == "1",
             [float(b.get(n)) for n in ("xtl", "ytl", "xbr", "ybr")], int(b.get("z_order")),
             [(a.get("name"), a.text or "") for a in b]) for b in root]
    assert [(s.label, s.source, s.occluded, s.points, s.z_order,
             [(a.name, a.value) for a in s.attributes]) for s in got[0]] == want
