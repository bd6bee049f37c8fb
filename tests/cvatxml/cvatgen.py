"""Hypothesis strategies for documents CVAT 2.73 itself could export: a task's ``<meta>``
(labels of every type with select/radio/checkbox/number/text attributes, mutable or not,
skeletons with sublabels and svg) and its annotations in the images layout (every shape type,
tags, skeletons with elements) or the video layout (tracks with gaps, ``outside`` frames,
interpolated frames, skeleton tracks with element outside flags, standalone shapes written as
two-frame tracks), written as CVAT's dumper writes them (attribute order, ``{:.2f}``)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from hypothesis import strategies as st

SOURCES = ["manual", "auto", "semi-auto", "file"]
KINDS = ["box", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton"]
CUBOID = ("xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1",
          "xtl2", "ytl2", "xbl2", "ybl2", "xtr2", "ytr2", "xbr2", "ybr2")
#: text a person types into a CVAT text attribute (no control characters, no edge spaces)
words = st.text(st.sampled_from("abcxyzÄé漢 -_.,:;'\"&<>/0123456789"), min_size=1,
                max_size=8).map(str.strip).filter(bool)


@dataclass
class Attr:
    name: str
    mutable: bool
    input_type: str
    default: str
    values: list[str]


@dataclass
class Label:
    name: str
    type: str
    attrs: list[Attr]
    color: str
    elements: list[str] = field(default_factory=list)  # skeleton sublabels


@st.composite
def attr_specs(draw: Any, name: str) -> Attr:
    kind = draw(st.sampled_from(["select", "radio", "checkbox", "number", "text"]))
    mutable = draw(st.booleans())
    if kind in ("select", "radio"):
        values = draw(st.lists(words, min_size=1, max_size=3, unique=True))
        return Attr(name, mutable, kind, values[0], values)
    if kind == "checkbox":
        default = draw(st.sampled_from(["false", "true"]))
        return Attr(name, mutable, kind, default, [default])
    if kind == "number":
        return Attr(name, mutable, kind, "0", ["0", "100", "1"])
    return Attr(name, mutable, kind, "", [""])


@st.composite
def label_sets(draw: Any) -> list[Label]:
    names = draw(st.lists(st.sampled_from(["car", "person", "road", "tree", "a b", "ünï"]),
                          min_size=1, max_size=4, unique=True))
    out = []
    for i, name in enumerate(names):
        kind = draw(st.sampled_from(["any", "any", "rectangle", "polygon", "skeleton", "tag"]))
        n_attrs = draw(st.integers(0, 3))
        attrs = [draw(attr_specs(f"{name}_a{j}")) for j in range(n_attrs)]
        label = Label(name, kind, attrs, f"#{(i * 0x3f5a17) % 0xffffff:06x}")
        if kind == "skeleton":
            label.elements = [str(j) for j in range(1, draw(st.integers(1, 3)) + 1)]
        out.append(label)
    return out


def _svg(label: Label) -> str:
    circles = "".join(
        f'<circle r="1.5" stroke="black" fill="#b3b3b3" cx="{10 * i}" cy="{5 * i}" '
        f'stroke-width="0.1" data-type="element node" data-element-id="{i}" '
        f'data-node-id="{i}" data-label-name="{e}"></circle>'
        for i, e in enumerate(label.elements, 1))
    return escape(circles)


def meta_xml(labels: list[Label], *, video: bool, size: int, start: int, step: int,
             width: int, height: int) -> str:
    stop = start + (size - 1) * step
    out = ["  <meta>", "    <task>", "      <id>7</id>", "      <name>generated</name>",
           f"      <size>{size}</size>",
           f"      <mode>{'interpolation' if video else 'annotation'}</mode>",
           "      <overlap>0</overlap>", "      <bugtracker></bugtracker>",
           "      <created>2026-01-02 03:04:05.000000+00:00</created>",
           "      <updated>2026-01-02 03:04:06.000000+00:00</updated>",
           "      <subset>default</subset>", f"      <start_frame>{start}</start_frame>",
           f"      <stop_frame>{stop}</stop_frame>",
           f"      <frame_filter>{f'step={step}' if step > 1 else ''}</frame_filter>",
           "      <segments>", "        <segment>", "          <id>9</id>",
           "          <start>0</start>", f"          <stop>{size - 1}</stop>",
           "          <url>http://localhost:8080/api/jobs/9</url>", "        </segment>",
           "      </segments>", "      <owner>", "        <username>admin</username>",
           "        <email>admin@example.com</email>", "      </owner>",
           "      <assignee></assignee>", "      <labels>"]

    def label_xml(name: str, kind: str, color: str, attrs: list[Attr], parent: str | None,
                  svg: str | None) -> None:
        out.extend(["        <label>", f"          <name>{escape(name)}</name>",
                    f"          <color>{color}</color>", f"          <type>{kind}</type>",
                    "          <attributes>"])
        for a in attrs:
            out.extend(["            <attribute>", f"              <name>{escape(a.name)}</name>",
                        f"              <mutable>{a.mutable}</mutable>",
                        f"              <input_type>{a.input_type}</input_type>",
                        f"              <default_value>{escape(a.default)}</default_value>",
                        f"              <values>{escape(chr(10).join(a.values))}</values>",
                        "            </attribute>"])
        out.append("          </attributes>")
        if parent is not None:
            out.append(f"          <parent>{escape(parent)}</parent>")
        if svg is not None:
            out.append(f"          <svg>{svg}</svg>")
        out.append("        </label>")

    for lab in labels:
        label_xml(lab.name, lab.type, lab.color, lab.attrs, None,
                  _svg(lab) if lab.type == "skeleton" else None)
        for e in lab.elements:
            label_xml(e, "points", "#123456", [], lab.name, None)
    out.append("      </labels>")
    if video:
        out.extend(["      <original_size>", f"        <width>{width}</width>",
                    f"        <height>{height}</height>", "      </original_size>",
                    "      <source>generated.mp4</source>"])
    out.extend(["    </task>", "    <dumped>2026-01-02 03:04:07.000000+00:00</dumped>",
                "  </meta>"])
    return "\n".join(out)


def f2(value: float) -> str:
    return f"{value:.2f}"


def coord(limit: int) -> st.SearchStrategy[float]:
    """Two-decimal pixels, now and then a little outside the image (CVAT keeps those)."""
    return st.integers(-300, (limit + 3) * 100).map(lambda v: v / 100)


@st.composite
def attr_values(draw: Any, attrs: list[Attr]) -> list[tuple[str, str]]:
    out = []
    for a in attrs:
        if a.input_type in ("select", "radio"):
            value = draw(st.sampled_from(a.values))
        elif a.input_type == "checkbox":
            value = draw(st.sampled_from(["true", "false"]))
        elif a.input_type == "number":
            value = str(draw(st.integers(0, 100)))
        else:
            value = draw(st.just("") | words)
        out.append((a.name, value))
    return out


@st.composite
def geometry(draw: Any, kind: str, width: int, height: int) -> list[tuple[str, str]]:
    """The coordinate attributes of one shape, as CVAT writes them."""
    if kind == "box":
        xs = sorted(draw(st.lists(coord(width), min_size=2, max_size=2, unique=True)))
        ys = sorted(draw(st.lists(coord(height), min_size=2, max_size=2, unique=True)))
        return [("xtl", f2(xs[0])), ("ytl", f2(ys[0])), ("xbr", f2(xs[1])), ("ybr", f2(ys[1]))]
    if kind == "ellipse":
        return [("cx", f2(draw(coord(width)))), ("cy", f2(draw(coord(height)))),
                ("rx", f2(draw(st.integers(1, 50 * 100)) / 100)),
                ("ry", f2(draw(st.integers(1, 50 * 100)) / 100))]
    if kind == "cuboid":
        return [(n, f2(draw(coord(width if n.startswith("x") else height)))) for n in CUBOID]
    if kind == "mask":
        w, h = draw(st.integers(1, min(6, width))), draw(st.integers(1, min(6, height)))
        left, top = draw(st.integers(0, width - w)), draw(st.integers(0, height - h))
        cuts = sorted(draw(st.lists(st.integers(0, w * h), max_size=5)))
        bounds = [0, *cuts, w * h]
        runs = [b - a for a, b in itertools.pairwise(bounds)]
        return [("rle", ", ".join(map(str, runs))), ("left", str(left)), ("top", str(top)),
                ("width", str(w)), ("height", str(h))]
    n = draw(st.integers({"polygon": 3, "polyline": 2, "points": 1}[kind], 5))
    pts = [(draw(coord(width)), draw(coord(height))) for _ in range(n)]
    return [("points", ";".join(f"{f2(x)},{f2(y)}" for x, y in pts))]


def _open(tag: str, attrs: list[tuple[str, str]], indent: str) -> str:
    return f"{indent}<{tag}" + "".join(f" {k}={quoteattr(v)}" for k, v in attrs) + ">"


def _attrs_xml(values: list[tuple[str, str]], indent: str) -> list[str]:
    return [f'{indent}<attribute name={quoteattr(n)}>{escape(v)}</attribute>'
            for n, v in values]


def kind_of(label: Label, draw: Any) -> str:
    if label.type == "skeleton":
        return "skeleton"
    if label.type == "rectangle":
        return "box"
    if label.type == "polygon":
        return "polygon"
    return str(draw(st.sampled_from(KINDS[:-1])))


@st.composite
def image_shape(draw: Any, label: Label, width: int, height: int) -> list[str]:
    kind = kind_of(label, draw)
    attrs = [("label", label.name), ("source", draw(st.sampled_from(SOURCES)))]
    group = draw(st.sampled_from([0, 0, 1, 2]))
    if kind == "skeleton":
        attrs.append(("z_order", str(draw(st.integers(-2, 3)))))
        if group:
            attrs.append(("group_id", str(group)))
        lines = [_open("skeleton", attrs, "    ")]
        for e in label.elements:
            x, y = draw(coord(width)), draw(coord(height))
            lines.append(_open("points", [
                ("label", e), ("source", draw(st.sampled_from(SOURCES))),
                ("outside", str(int(draw(st.booleans())))),
                ("occluded", str(int(draw(st.booleans())))), ("points", f"{f2(x)},{f2(y)}")],
                "      "))
            lines.append("      </points>")
        lines += _attrs_xml(draw(attr_values(label.attrs)), "      ")
        return [*lines, "    </skeleton>"]
    attrs.append(("occluded", str(int(draw(st.booleans())))))
    attrs += draw(geometry(kind, width, height))
    attrs.append(("z_order", str(draw(st.integers(-2, 3)))))
    if kind in ("box", "ellipse") and draw(st.booleans()):
        attrs.append(("rotation", f2(draw(st.integers(1, 35999)) / 100)))
    if group:
        attrs.append(("group_id", str(group)))
    return [_open(kind, attrs, "    "), *_attrs_xml(draw(attr_values(label.attrs)), "      "),
            f"    </{kind}>"]


@st.composite
def images_documents(draw: Any) -> str:
    """An image task exported as "CVAT for images 1.1"."""
    labels = draw(label_sets())
    width, height = draw(st.sampled_from([(64, 48), (333, 77), (1600, 1200)]))
    size = draw(st.integers(1, 3))
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>",
             "  <version>1.1</version>",
             meta_xml(labels, video=False, size=size, start=0, step=1, width=width,
                      height=height)]
    shapes = [lab for lab in labels if lab.type != "tag"]
    for i in range(size):
        lines.append(_open("image", [("id", str(i)), ("name", f"dir/img_{i}.jpg"),
                                     ("width", str(width)), ("height", str(height))], "  "))
        if shapes:
            for label in draw(st.lists(st.sampled_from(shapes), max_size=4)):
                lines += draw(image_shape(label, width, height))
        for label in draw(st.lists(st.sampled_from(labels), max_size=2)):
            if label.type in ("skeleton", "rectangle", "polygon"):
                continue
            tattrs = [("label", label.name), ("source", draw(st.sampled_from(SOURCES)))]
            if draw(st.booleans()):
                tattrs.append(("group_id", str(draw(st.integers(1, 3)))))
            lines += [_open("tag", tattrs, "    "),
                      *_attrs_xml(draw(attr_values(label.attrs)), "      "), "    </tag>"]
        lines.append("  </image>")
    lines.append("</annotations>")
    return "\n".join(lines) + "\n"


@st.composite
def track_frames(draw: Any, frames: list[int]) -> list[tuple[int, bool, bool]]:
    """(frame, keyframe, outside) for one track: visible runs with gaps, each run starting on
    a keyframe, interpolated frames in between (keyframe 0), an ``outside`` keyframe closing a
    run (or the task's end closing it)."""
    picked = sorted(draw(st.lists(st.sampled_from(frames), min_size=1, max_size=6,
                                  unique=True)))
    out: list[tuple[int, bool, bool]] = []
    visible = False
    if len(picked) > 1 and draw(st.booleans()):  # a track that starts hidden
        out.append((picked.pop(0), True, True))
    for i, frame in enumerate(picked):
        last = i == len(picked) - 1
        if not visible:
            out.append((frame, True, False))
            visible = True
        elif draw(st.booleans()) or last:
            outside = draw(st.booleans())
            out.append((frame, True, outside))
            visible = not outside
        else:
            out.append((frame, False, False))
    return out


@st.composite
def video_documents(draw: Any) -> str:
    """A video task exported as "CVAT for video 1.1"."""
    labels = [lab for lab in draw(label_sets()) if lab.type != "tag"]
    if not labels:
        labels = [Label("car", "any", [], "#ff0000")]
    width, height = draw(st.sampled_from([(64, 48), (320, 240)]))
    start, step = draw(st.sampled_from([(0, 1), (4, 2), (3, 3)]))
    size = draw(st.integers(2, 8))
    frames = [start + i * step for i in range(size)]
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>",
             "  <version>1.1</version>",
             meta_xml(labels, video=True, size=size, start=start, step=step, width=width,
                      height=height)]
    for n, label in enumerate(draw(st.lists(st.sampled_from(labels), min_size=1,
                                            max_size=3))):
        kind = kind_of(label, draw)
        tattrs = [("id", str(n)), ("label", label.name),
                  ("source", draw(st.sampled_from(SOURCES)))]
        if draw(st.booleans()):
            tattrs.append(("group_id", str(draw(st.integers(1, 3)))))
        lines.append(_open("track", tattrs, "  "))
        fixed = [(a.name, v) for a, (_, v) in zip(label.attrs, draw(attr_values(label.attrs)),
                                                  strict=True) if not a.mutable]
        mutable = [a for a in label.attrs if a.mutable]
        z_order = str(draw(st.integers(-1, 2)))
        for frame, keyframe, outside in draw(track_frames(frames)):
            attrs = [("frame", str(frame)), ("keyframe", str(int(keyframe)))]
            values = draw(attr_values(mutable)) + fixed
            if kind == "skeleton":
                attrs.append(("z_order", z_order))
                lines.append(_open("skeleton", attrs, "    "))
                for e in label.elements:
                    x, y = draw(coord(width)), draw(coord(height))
                    lines += [_open("points", [
                        ("label", e), ("keyframe", str(int(keyframe))),
                        ("outside", str(int(outside or draw(st.booleans())))),
                        ("occluded", str(int(draw(st.booleans())))),
                        ("points", f"{f2(x)},{f2(y)}")], "      "), "      </points>"]
                lines += [*_attrs_xml(values, "      "), "    </skeleton>"]
                continue
            attrs += [("outside", str(int(outside))),
                      ("occluded", str(int(draw(st.booleans()))))]
            attrs += draw(geometry(kind, width, height))
            if kind in ("box", "ellipse") and draw(st.booleans()):
                attrs.append(("rotation", f2(draw(st.integers(1, 35999)) / 100)))
            attrs.append(("z_order", z_order))
            lines += [_open(kind, attrs, "    "), *_attrs_xml(values, "      "),
                      f"    </{kind}>"]
        lines.append("  </track>")
    lines.append("</annotations>")
    return "\n".join(lines) + "\n"
