"""The writer's byte layout (CVAT's dumper), number styles, and atomic writes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from annosync.cvatxml import XmlWriter, read_document
from annosync.cvatxml.meta import Meta, Person, TaskMeta
from annosync.cvatxml.model import Attr, Image, Mask, Shape, Tag, Track


def written(*items: Image | Track, meta: Meta | None = None, numbers: str = "exact") -> str:
    buf = io.BytesIO()
    with XmlWriter(buf, meta=meta, numbers=numbers) as w:  # type: ignore[arg-type]
        w.write_all(items)
    return buf.getvalue().decode()


def test_document_frame() -> None:
    assert written() == (
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
        "</annotations>\n")


def test_images_layout_attribute_order_and_indentation() -> None:
    img = Image(id=3, name="a/b.jpg", subset="train", task_id=7, width=10, height=20, shapes=[
        Shape("box", label="car", source="manual", occluded=True, points=[1, 2, 3.456, 4],
              rotation=15, z_order=1, group_id=2, attributes=[Attr("c", "red"), Attr("e", "")]),
        Shape("mask", label="m", source="auto", occluded=False,
              mask=Mask([0, 3, 1], 5, 6, 2, 2), z_order=0),
        Shape("skeleton", label="s", source="manual", z_order=0, elements=[
            Shape("points", label="p", source="manual", outside=False, occluded=True,
                  points=[1, 1]),
        ], attributes=[Attr("pose", "up")]),
    ], tags=[Tag("t", source="manual", group_id=4, attributes=[Attr("k", "v")])])
    assert written(img).split("\n")[3:-2] == [
        '  <image id="3" name="a/b.jpg" subset="train" task_id="7" width="10" height="20">',
        '    <box label="car" source="manual" occluded="1" xtl="1.00" ytl="2.00" xbr="3.456" '
        'ybr="4.00" rotation="15.00" z_order="1" group_id="2">',
        '      <attribute name="c">red</attribute>',
        '      <attribute name="e"></attribute>',
        "    </box>",
        '    <mask label="m" source="auto" occluded="0" rle="0, 3, 1" left="5" top="6" '
        'width="2" height="2" z_order="0">',
        "    </mask>",
        '    <skeleton label="s" source="manual" z_order="0">',
        '      <points label="p" source="manual" outside="0" occluded="1" points="1.00,1.00">',
        "      </points>",
        '      <attribute name="pose">up</attribute>',
        "    </skeleton>",
        '    <tag label="t" source="manual" group_id="4">',
        '      <attribute name="k">v</attribute>',
        "    </tag>",
        "  </image>",
    ]


def test_video_layout_attribute_order() -> None:
    track = Track(label="car", id=0, source="manual", group_id=1, shapes=[
        Shape("box", frame=4, keyframe=True, outside=False, occluded=False,
              points=[1, 2, 3, 4], z_order=0),
        Shape("ellipse", frame=5, keyframe=False, outside=False, occluded=False,
              points=[5, 6, 2, 1], rotation=30, z_order=0),
        Shape("skeleton", frame=6, keyframe=True, z_order=0, elements=[
            Shape("points", label="p", keyframe=True, outside=True, occluded=False,
                  points=[1, 1])]),
    ])
    assert written(track).split("\n")[3:-2] == [
        '  <track id="0" label="car" source="manual" group_id="1">',
        '    <box frame="4" keyframe="1" outside="0" occluded="0" xtl="1.00" ytl="2.00" '
        'xbr="3.00" ybr="4.00" z_order="0">',
        "    </box>",
        '    <ellipse frame="5" keyframe="0" outside="0" occluded="0" cx="5.00" cy="6.00" '
        'rx="2.00" ry="1.00" rotation="30.00" z_order="0">',
        "    </ellipse>",
        '    <skeleton frame="6" keyframe="1" z_order="0">',
        '      <points label="p" keyframe="1" outside="1" occluded="0" points="1.00,1.00">',
        "      </points>",
        "    </skeleton>",
        "  </track>",
    ]


def test_meta_layout() -> None:
    meta = Meta(kind="job", task=TaskMeta(id="5", size="2", segments=[], owner=Person("u", "e"),
                                          assignee="", labels=[]), dumped="now")
    assert written(meta=meta).split("\n")[3:-2] == [
        "  <meta>",
        "    <job>",
        "      <id>5</id>",
        "      <size>2</size>",
        "      <segments>",
        "      </segments>",
        "      <owner>",
        "        <username>u</username>",
        "        <email>e</email>",
        "      </owner>",
        "      <assignee></assignee>",
        "      <labels>",
        "      </labels>",
        "    </job>",
        "    <dumped>now</dumped>",
        "  </meta>",
    ]


@pytest.mark.parametrize(("value", "exact", "cvat"), [
    (1.0, "1.00", "1.00"), (5.5, "5.50", "5.50"), (0.125, "0.125", "0.12"),
    (1.005, "1.005", "1.00"), (123.456789, "123.456789", "123.46"), (-0.0, "-0.00", "-0.00"),
    (1e-7, "1e-07", "0.00"),
])
def test_number_styles(value: float, exact: str, cvat: str) -> None:
    img = Image(id=0, name="a", shapes=[Shape("points", label="p", points=[value, 0])])
    assert f'points="{exact},0.00"' in written(img)
    assert f'points="{cvat},0.00"' in written(img, numbers="cvat")
    back = read_document(written(img).encode()).images[0].shapes[0].points
    assert back == [value, 0]


def test_quotes_and_newlines_survive() -> None:
    img = Image(id=0, name='say "hi"', shapes=[], tags=[
        Tag("a'b\"c", attributes=[Attr("n", "line1\nline2\t<&>")])])
    text = written(img)
    assert 'name="say &quot;hi&quot;"' in text
    assert read_document(text.encode()).images == [img]


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="needs 4 coordinates, got 3"):
        written(Image(id=0, name="a", shapes=[Shape("box", label="c", points=[1, 2, 3])]))
    with pytest.raises(ValueError, match="even number"):
        written(Image(id=0, name="a", shapes=[Shape("polygon", label="c", points=[1, 2, 3])]))
    with pytest.raises(ValueError, match="needs its mask"):
        written(Image(id=0, name="a", shapes=[Shape("mask", label="c")]))
    with pytest.raises(TypeError):
        XmlWriter(io.BytesIO()).write("nope")  # type: ignore[arg-type]


def test_writing_to_a_path_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "out" / "a.xml"
    target.parent.mkdir()
    target.write_text("previous")
    with pytest.raises(RuntimeError), XmlWriter(target) as w:
        w.write(Image(id=0, name="a"))
        raise RuntimeError("boom")
    assert target.read_text() == "previous"
    assert list(target.parent.iterdir()) == [target]
    with XmlWriter(target) as w:
        w.write(Image(id=0, name="a"))
    assert read_document(target).images == [Image(id=0, name="a")]
    assert list(target.parent.iterdir()) == [target]


def test_job_export_meta_keeps_original_size_beside_the_job() -> None:
    """A job export puts <original_size> next to <job>, after <dumped> (FACTS A.1)."""
    data = (
        b'<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
        b"  <meta>\n    <job>\n      <id>7</id>\n      <size>3</size>\n      <mode>interpolation"
        b"</mode>\n      <start_frame>4</start_frame>\n      <stop_frame>8</stop_frame>\n"
        b"      <frame_filter>step=2</frame_filter>\n    </job>\n    <dumped>d</dumped>\n"
        b"    <original_size>\n      <width>320</width>\n      <height>240</height>\n"
        b"    </original_size>\n  </meta>\n</annotations>\n"
    )
    doc = read_document(data)
    assert doc.warnings == [] and doc.meta is not None and doc.meta.kind == "job"
    assert doc.meta.task is not None and doc.meta.task.name is None
    assert (doc.meta.task.start_frame_int, doc.meta.task.frame_step) == (4, 2)
    assert doc.meta.video_size is not None and doc.meta.video_size.width == "320"
    from annosync.cvatxml import document_bytes

    assert document_bytes(doc) == data
