"""The reader: every malformed input is an InputError naming file and line; unknown things are
kept and reported; memory stays flat while streaming."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from annosync.cvatxml import XmlReader, document_bytes, read_document
from annosync.errors import InputError

HEAD = '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n<version>1.1</version>\n'


def doc(body: str) -> bytes:
    return (HEAD + body + "\n</annotations>\n").encode()


def image(inner: str, attrs: str = 'id="0" name="a.jpg" width="10" height="10"') -> bytes:
    return doc(f"<image {attrs}>\n{inner}\n</image>")


def track(inner: str, attrs: str = 'id="0" label="car"') -> bytes:
    return doc(f"<track {attrs}>\n{inner}\n</track>")


def error_of(data: bytes, name: str = "bad.xml") -> str:
    with pytest.raises(InputError) as info:
        read_document(data, name=name)
    return str(info.value)


@pytest.mark.parametrize(("data", "line", "message"), [
    (image("", 'name="a.jpg"'), 4, "<image> is missing the required attribute 'id'"),
    (image("", 'id="0"'), 4, "<image> is missing the required attribute 'name'"),
    (image('<box xtl="1" ytl="1" xbr="2" ybr="2"/>'), 5,
     "<box> is missing the required attribute 'label'"),
    (image('<box label="car" xtl="1" ytl="1" xbr="2"/>'), 5,
     "<box> is missing the required attribute 'ybr'"),
    (image('<ellipse label="c" cx="1" cy="1" rx="2"/>'), 5, "attribute 'ry'"),
    (image('<polygon label="c"/>'), 5, "<polygon> is missing the required attribute 'points'"),
    (image('<tag/>'), 5, "<tag> is missing the required attribute 'label'"),
    (track('<box keyframe="1" xtl="1" ytl="1" xbr="2" ybr="2"/>'), 5,
     "<box> in a <track> is missing the required attribute 'frame'"),
    (track('<box frame="0" xtl="1" ytl="1" xbr="2" ybr="2"/>'), 5,
     "<box> is missing the required attribute 'keyframe'"),
    (doc('<track id="0"><box frame="0" keyframe="1" xtl="1" ytl="1" xbr="2" ybr="2"/></track>'),
     4, "<track> is missing the required attribute 'label'"),
    (image('<skeleton label="s"><points label="a" outside="0" points="1,1"/></skeleton>'), 5,
     "<points> is missing the required attribute 'occluded'"),
    (image('<skeleton label="s"><points label="a" occluded="0" points="1,1"/></skeleton>'), 5,
     "<points> is missing the required attribute 'outside'"),
    (image('<attribute/>'), 5, None),  # unknown child of image: a warning, not an error
])
def test_missing_required_attributes(data: bytes, line: int, message: str | None) -> None:
    if message is None:
        read_document(data)
        return
    text = error_of(data)
    assert text.startswith(f"bad.xml:{line}: ")
    assert message in text


@pytest.mark.parametrize(("inner", "message"), [
    ('<box label="c" xtl="x" ytl="1" xbr="2" ybr="2"/>',
     "<box> attribute 'xtl' must be a finite number, got 'x'"),
    ('<box label="c" xtl="nan" ytl="1" xbr="2" ybr="2"/>', "'xtl' must be a finite number"),
    ('<box label="c" xtl="inf" ytl="1" xbr="2" ybr="2"/>', "'xtl' must be a finite number"),
    ('<box label="c" occluded="yes" xtl="1" ytl="1" xbr="2" ybr="2"/>',
     "<box> attribute 'occluded' must be 0 or 1, got 'yes'"),
    ('<box label="c" xtl="1" ytl="1" xbr="2" ybr="2" z_order="1.5"/>',
     "'z_order' must be an integer, got '1.5'"),
    ('<box label="c" xtl="1" ytl="1" xbr="2" ybr="2" group_id="g"/>',
     "'group_id' must be an integer"),
    ('<box label="c" xtl="1" ytl="1" xbr="2" ybr="2" rotation="NaN"/>',
     "'rotation' must be a finite number"),
    ('<polygon label="c" points="1,2;3"/>', "'points' must be 'x,y;x,y;...'"),
    ('<polygon label="c" points="1,2,3;4,5"/>', "'points' must be 'x,y;x,y;...'"),
    ('<polygon label="c" points="1,2;3,4;a,b"/>', "not a finite number"),
    ('<polygon label="c" points="1,2;3,4"/>', "<polygon> needs at least 3 point(s), got 2"),
    ('<polyline label="c" points="1,2"/>', "<polyline> needs at least 2 point(s), got 1"),
    ('<points label="c" points=""/>', "<points> needs at least 1 point(s), got 0"),
    ('<mask label="c" rle="1, 2, 3" left="0" top="0" width="2" height="2"/>',
     "<mask> run lengths sum to 6, but width*height = 4"),
    ('<mask label="c" rle="5, -1" left="0" top="0" width="2" height="2"/>',
     "run lengths must not be negative"),
    ('<mask label="c" rle="1, x" left="0" top="0" width="2" height="2"/>',
     "'rle' must be comma-separated integers"),
    ('<mask label="c" rle="4" left="0" top="0" width="0" height="2"/>',
     "width and height must be positive"),
    ('<mask label="c" rle="4" left="a" top="0" width="2" height="2"/>',
     "'left' must be an integer"),
])
def test_bad_values(inner: str, message: str) -> None:
    text = error_of(image(inner))
    assert text.startswith("bad.xml:5: ")
    assert message in text


def test_bad_ids_and_frames() -> None:
    assert "'id' must be an integer, got 'x'" in error_of(image("", 'id="x" name="a"'))
    assert "'frame' must be an integer" in error_of(
        track('<box frame="f" keyframe="1" xtl="1" ytl="1" xbr="2" ybr="2"/>'))


@pytest.mark.parametrize(("data", "message", "line"), [
    (b"", "empty file", 1),
    (b"<annotations><image", "malformed XML", 1),
    (b"<annotations>\n<image id='0' name='a'>\n</annotations>", "malformed XML", 3),
    (b"<foo/>", "the root element is <foo>, expected <annotations>", 1),
    (b"<image id='0' name='a'/>", "the root element is <image>", 1),
    (b"<annotations>&undefined;</annotations>", "an undefined entity reference", None),
])
def test_not_a_document(data: bytes, message: str, line: int | None) -> None:
    text = error_of(data)
    assert message in text
    assert text.startswith(f"bad.xml:{line}:" if line else "bad.xml: malformed XML")


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read XML file"):
        read_document(tmp_path / "nope.xml")


def test_unknown_things_are_kept_and_reported() -> None:
    data = doc(
        '<meta><task><id>1</id><colour>red</colour></task><extra>1</extra></meta>\n'
        '<image id="0" name="a.jpg" speed="fast">\n'
        '  <box label="c" xtl="1" ytl="1" xbr="2" ybr="2" confidence="0.5">\n'
        '    <note kind="x">hello</note>\n'
        '  </box>\n'
        '  <sparkle/>\n'
        '  <tag label="t" when="now"/>\n'
        '</image>\n'
        '<comment>top level</comment>'
    )
    first = read_document(data, name="odd.xml")
    messages = [str(w) for w in first.warnings]
    assert messages == [
        "odd.xml:4: warning: unknown element <colour> in <task> kept as-is",
        "odd.xml:4: warning: unknown element <extra> in <meta> kept as-is",
        "odd.xml:5: warning: unknown attribute(s) of <image> kept as-is: speed",
        "odd.xml:6: warning: unknown attribute(s) of <box> kept as-is: confidence",
        "odd.xml:7: warning: unknown element <note> in <box> kept as-is",
        "odd.xml:9: warning: unknown element <sparkle> in <image> kept as-is",
        "odd.xml:10: warning: unknown attribute(s) of <tag> kept as-is: when",
        "odd.xml:12: warning: unknown element <comment> in <annotations> kept as-is",
    ]
    img = first.images[0]
    assert img.extra == {"speed": "fast"}
    assert img.shapes[0].extra == {"confidence": "0.5"}
    assert img.shapes[0].passthrough == ['<note kind="x">hello</note>']
    assert img.passthrough == ["<sparkle/>"]
    assert first.passthrough == ["<comment>top level</comment>"]
    assert first.meta is not None and first.meta.task is not None
    assert first.meta.task.extra == ["<colour>red</colour>"]
    written = document_bytes(first)
    assert b'<box label="c" xtl="1.00" ytl="1.00" xbr="2.00" ybr="2.00" confidence="0.5">' \
        in written
    again = read_document(written)
    assert again == first and again.meta == first.meta
    assert len(again.warnings) == len(first.warnings)


def test_text_where_none_belongs_is_reported() -> None:
    data = image('stray <box label="c" xtl="1" ytl="1" xbr="2" ybr="2">words</box> tail')
    messages = [w.message for w in read_document(data).warnings]
    assert "text inside <box> is ignored: 'words'" in messages
    assert "text inside <image> is ignored: 'stray'" in messages
    assert "text inside <image> is ignored: 'tail'" in messages


def test_no_meta_no_version_is_fine() -> None:
    document = read_document(b'<annotations><image id="3" name="x.png"/></annotations>')
    assert document.version is None and document.meta is None
    assert document.images[0].id == 3 and document.images[0].width is None
    assert read_document(document_bytes(document)) == document


def test_entities_and_escapes_round_trip() -> None:
    data = image('<box label="a&amp;b &quot;c&quot; &lt;d&gt;" xtl="1" ytl="1" xbr="2" ybr="2">'
                 '<attribute name="note">x &lt; y &amp; "z" \'w\'\n2nd line</attribute></box>')
    first = read_document(data)
    box = first.images[0].shapes[0]
    assert box.label == 'a&b "c" <d>'
    assert box.attributes[0].value == "x < y & \"z\" 'w'\n2nd line"
    assert read_document(document_bytes(first)) == first


def test_streaming_keeps_memory_flat() -> None:
    """Items are produced one by one and removed from the tree as they go."""
    n = 20_000  # about 2 MB: several read chunks
    body = "".join(
        f'<image id="{i}" name="f{i}.jpg"><box label="c" xtl="1" ytl="1" xbr="2" ybr="2"/>'
        "</image>\n" for i in range(n))
    reader = XmlReader(io.BytesIO(doc(body)))
    seen = 0
    most = 0
    for item in reader.items():
        seen += 1
        root = reader._root  # the parser's tree: at most one read chunk of items
        most = max(most, len(root) if root is not None else 0)
        assert item.id == seen - 1  # type: ignore[union-attr]
    assert seen == n
    assert most <= 3000  # a 256 KiB chunk holds ~2,500 of these images, the file 20,000


def test_reader_is_lazy_and_reports_late_errors_late() -> None:
    body = (image('<box label="c" xtl="1" ytl="1" xbr="2" ybr="2"/>').decode()
            .replace("</annotations>", '<image id="1" name="b"><box label="c"/></image>'
                     "</annotations>"))
    reader = XmlReader(body.encode(), name="late.xml")
    items = reader.items()
    assert next(items).name == "a.jpg"  # type: ignore[union-attr]
    with pytest.raises(InputError, match=r"^late.xml:\d+: <box> is missing"):
        next(items)


def test_reader_closes_the_file_it_opened(tmp_path: Path) -> None:
    path = tmp_path / "a.xml"
    path.write_bytes(image(""))
    with XmlReader(path) as reader:
        list(reader.items())
        handle = reader._owned
    assert handle is not None and handle.closed and reader._owned is None
