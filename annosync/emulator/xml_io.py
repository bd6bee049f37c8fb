"""The emulator's own "CVAT for images/video 1.1" writer and "CVAT 1.1" reader.

Why a module: exports must look like CVAT's (same ``XMLGenerator`` output, element and
attribute order, ``{:.2f}`` coordinates, ``dumped`` date; compare ``shared/cvat/exports``),
and imports must accept what CVAT's ``load_anno`` accepts and fail like it does. It does not
share code with ``annosync.cvatxml``: the emulator stands in for the server. Parsing uses lxml
with entities, network access and huge trees disabled.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import XMLGenerator
from xml.sax.xmlreader import AttributesImpl

Meta = list[tuple[str, Any]]  # value: str, or a nested Meta (one element per pair)
Obj = dict[str, Any]


class XmlWriter:
    """``XmlAnnotationWriter`` of CVAT's dumper: two-space indentation via XMLGenerator."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.gen = XMLGenerator(self.buf, "utf-8")
        self.level = 0

    def _indent(self) -> None:
        self.gen.ignorableWhitespace("\n" + "  " * self.level)

    def open_root(self) -> None:
        self.gen.startDocument()
        self.gen.startElement("annotations", AttributesImpl({}))
        self.level += 1
        self._indent()
        self.gen.startElement("version", AttributesImpl({}))
        self.gen.characters("1.1")
        self.gen.endElement("version")

    def _meta(self, meta: Meta) -> None:
        self.level += 1
        for key, value in meta:
            self._indent()
            self.gen.startElement(key, AttributesImpl({}))
            if isinstance(value, list):
                self._meta(value)
                self._indent()
            else:
                self.gen.characters(str(value))
            self.gen.endElement(key)
        self.level -= 1

    def add_meta(self, meta: Meta) -> None:
        self._indent()
        self.gen.startElement("meta", AttributesImpl({}))
        self._meta(meta)
        self._indent()
        self.gen.endElement("meta")

    def open(self, name: str, attrs: list[tuple[str, str]]) -> None:
        self._indent()
        self.gen.startElement(name, AttributesImpl(dict(attrs)))
        self.level += 1

    def close(self, name: str) -> None:
        self.level -= 1
        self._indent()
        self.gen.endElement(name)

    def attribute(self, name: str, value: str) -> None:
        self._indent()
        self.gen.startElement("attribute", AttributesImpl({"name": name}))
        self.gen.characters(value)
        self.gen.endElement("attribute")

    def close_root(self) -> bytes:
        self.level -= 1
        self._indent()
        self.gen.endElement("annotations")
        self.gen.endDocument()
        self.gen.ignorableWhitespace("\n")
        return self.buf.getvalue()


def f2(value: Any) -> str:
    return f"{float(value):.2f}"


@dataclass
class LabelInfo:
    """What the dumper needs from labels: names and attribute spec names."""

    names: dict[int, str]
    spec_names: dict[int, str]
    parents: dict[int, int | None] = field(default_factory=dict)


@dataclass
class FrameInfo:
    rel: int
    abs: int
    name: str
    width: int
    height: int
    image_id: int
    task_id: int | None = None
    subset: str | None = None


@dataclass
class Source:
    """One task (or job) worth of data to write."""

    frames: list[FrameInfo]
    annotations: Obj  # task/job read form: tags, shapes, tracks
    labels: LabelInfo
    start_frame: int
    step: int
    size: int
    task_id: int | None = None
    subset: str | None = None


def _attrs(writer: XmlWriter, labels: LabelInfo, values: Sequence[Obj]) -> None:
    for attr in values:
        name = labels.spec_names.get(attr["spec_id"])
        if name is not None:
            writer.attribute(name, str(attr["value"]))


def _geometry(shape: Obj) -> list[tuple[str, str]]:
    kind, pts = shape["type"], shape["points"]
    if kind == "rectangle":
        out = [("xtl", f2(pts[0])), ("ytl", f2(pts[1])), ("xbr", f2(pts[2])), ("ybr", f2(pts[3]))]
    elif kind == "ellipse":
        cx, cy = pts[0], pts[1]
        out = [("cx", f2(cx)), ("cy", f2(cy)), ("rx", f2(pts[2] - cx)), ("ry", f2(cy - pts[3]))]
    elif kind == "cuboid":
        names = ("xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1",
                 "xtl2", "ytl2", "xbl2", "ybl2", "xtr2", "ytr2", "xbr2", "ybr2")
        out = [(n, f2(v)) for n, v in zip(names, pts, strict=False)]
    elif kind == "mask":
        left, top, right, bottom = (round(float(v)) for v in pts[-4:])
        rle = ", ".join(str(round(float(v))) for v in pts[:-4])
        out = [("rle", rle), ("left", str(left)), ("top", str(top)),
               ("width", str(right - left + 1)), ("height", str(bottom - top + 1))]
    else:
        out = [("points", ";".join(f"{f2(pts[i])},{f2(pts[i + 1])}"
                                   for i in range(0, len(pts) - 1, 2)))]
    if kind in ("rectangle", "ellipse") and float(shape.get("rotation", 0) or 0):
        out.append(("rotation", f2(shape["rotation"])))
    return out


TAG_NAMES = {"rectangle": "box", "polygon": "polygon", "polyline": "polyline", "points": "points",
             "ellipse": "ellipse", "cuboid": "cuboid", "mask": "mask", "skeleton": "skeleton"}


def _write_image_shape(writer: XmlWriter, labels: LabelInfo, shape: Obj) -> None:
    kind = shape["type"]
    label = labels.names.get(shape["label_id"], "")
    attrs: list[tuple[str, str]] = [("label", label), ("source", shape.get("source", "manual"))]
    if kind == "skeleton":
        attrs.append(("z_order", str(shape.get("z_order", 0))))
        if shape.get("group"):
            attrs.append(("group_id", str(shape["group"])))
        writer.open("skeleton", attrs)
        for element in shape.get("elements", []):
            eattrs = [("label", labels.names.get(element["label_id"], "")),
                      ("source", element.get("source", "manual")),
                      ("outside", str(int(bool(element.get("outside"))))),
                      ("occluded", str(int(bool(element.get("occluded"))))),
                      ("points", _geometry(element)[0][1])]
            if element.get("group"):
                eattrs.append(("group_id", str(element["group"])))
            writer.open("points", eattrs)
            _attrs(writer, labels, element["attributes"])
            writer.close("points")
        _attrs(writer, labels, shape["attributes"])
        writer.close("skeleton")
        return
    attrs.append(("occluded", str(int(bool(shape.get("occluded"))))))
    attrs.extend(_geometry(shape))
    attrs.append(("z_order", str(shape.get("z_order", 0))))
    if shape.get("group"):
        attrs.append(("group_id", str(shape["group"])))
    tag = TAG_NAMES[kind]
    writer.open(tag, attrs)
    _attrs(writer, labels, shape["attributes"])
    writer.close(tag)


def dump_images(meta: Meta, sources: list[Source], *, project: bool,
                to_shapes: Callable[[Obj, int], list[Obj]]) -> bytes:
    """"CVAT for images 1.1": one ``<image>`` per frame, track frames flattened."""
    writer = XmlWriter()
    writer.open_root()
    writer.add_meta(meta)
    for src in sources:
        by_frame: dict[int, list[Obj]] = {}
        for shape in src.annotations["shapes"]:
            by_frame.setdefault(shape["frame"], []).append(shape)
        for track in src.annotations["tracks"]:
            for shape in to_shapes(track, src.size):
                if not shape["outside"]:
                    by_frame.setdefault(shape["frame"], []).append(shape)
        tags: dict[int, list[Obj]] = {}
        for tag in src.annotations["tags"]:
            tags.setdefault(tag["frame"], []).append(tag)
        for frame in src.frames:
            attrs = [("id", str(frame.image_id)), ("name", frame.name)]
            if project:
                attrs += [("subset", frame.subset or "default"), ("task_id", str(frame.task_id))]
            attrs += [("width", str(frame.width)), ("height", str(frame.height))]
            writer.open("image", attrs)
            for shape in sorted(by_frame.get(frame.rel, []), key=lambda s: s.get("z_order", 0)):
                _write_image_shape(writer, src.labels, shape)
            for tag in tags.get(frame.rel, []):
                tattrs = [("label", src.labels.names.get(tag["label_id"], "")),
                          ("source", tag.get("source", "manual"))]
                if tag.get("group"):
                    tattrs.append(("group_id", str(tag["group"])))
                writer.open("tag", tattrs)
                _attrs(writer, src.labels, tag["attributes"])
                writer.close("tag")
            writer.close("image")
    return writer.close_root()


def dump_video(meta: Meta, sources: list[Source], *, project: bool,
               interpolate: Callable[[Obj, int, bool], list[Obj]]) -> bytes:
    """"CVAT for video 1.1": tracks with every interpolated frame; shapes as 2-frame tracks."""
    writer = XmlWriter()
    writer.open_root()
    writer.add_meta(meta)
    counter = 0
    for src in sources:
        def absf(rel: int, src: Source = src) -> int:
            return src.start_frame + rel * src.step

        def open_track(label_id: int, source: str, group: int, src: Source = src) -> None:
            nonlocal counter
            attrs = [("id", str(counter)), ("label", src.labels.names.get(label_id, "")),
                     ("source", source)]
            if project:
                attrs += [("task_id", str(src.task_id)), ("subset", src.subset or "default")]
            if group:
                attrs.append(("group_id", str(group)))
            writer.open("track", attrs)
            counter += 1

        def write_tracked(shape: Obj, extra_attrs: Sequence[Obj], elements: list[list[Obj]],
                          src: Source = src) -> None:
            kind = shape["type"]
            attrs = [("frame", str(absf(shape["frame"]))),
                     ("keyframe", str(int(bool(shape.get("keyframe", True)))))]
            if kind == "skeleton":
                attrs.append(("z_order", str(shape.get("z_order", 0))))
                writer.open("skeleton", attrs)
                for element_shapes in elements:
                    for eshape in element_shapes:
                        if eshape["frame"] != shape["frame"]:
                            continue
                        writer.open("points", [
                            ("label", src.labels.names.get(eshape["label_id"], "")),
                            ("keyframe", str(int(bool(eshape.get("keyframe", True))))),
                            ("outside", str(int(bool(eshape.get("outside"))))),
                            ("occluded", str(int(bool(eshape.get("occluded"))))),
                            ("points", _geometry(eshape)[0][1])])
                        _attrs(writer, src.labels, eshape["attributes"])
                        writer.close("points")
                _attrs(writer, src.labels, list(shape["attributes"]) + list(extra_attrs))
                writer.close("skeleton")
                return
            attrs += [("outside", str(int(bool(shape.get("outside"))))),
                      ("occluded", str(int(bool(shape.get("occluded")))))]
            attrs.extend(_geometry(shape))
            attrs.append(("z_order", str(shape.get("z_order", 0))))
            tag = TAG_NAMES[kind]
            writer.open(tag, attrs)
            _attrs(writer, src.labels, list(shape["attributes"]) + list(extra_attrs))
            writer.close(tag)

        for track in src.annotations["tracks"]:
            shapes = interpolate(track, src.size, False)
            if not shapes:
                continue
            element_shapes = []
            for element in track.get("elements", []):
                eshapes = interpolate(element, src.size, True)
                for e in eshapes:
                    e["label_id"] = element["label_id"]
                element_shapes.append(eshapes)
            open_track(track["label_id"], track.get("source", "manual"), track.get("group", 0))
            for shape in shapes:
                write_tracked(shape, track.get("attributes", []), element_shapes)
            writer.close("track")
        for shape in src.annotations["shapes"]:
            open_track(shape["label_id"], shape.get("source", "manual"), shape.get("group", 0))
            first = dict(shape, keyframe=True, outside=False)
            elements = [[dict(e, keyframe=True, frame=shape["frame"])] for e in shape.get("elements", [])]
            write_tracked(first, [], elements)
            if shape["frame"] + 1 < src.size:
                last = dict(shape, keyframe=True, outside=True, frame=shape["frame"] + 1)
                elements = [[dict(e, keyframe=True, outside=True, frame=shape["frame"] + 1)]
                            for e in shape.get("elements", [])]
                write_tracked(last, [], elements)
            writer.close("track")
    return writer.close_root()


# -- reading ------------------------------------------------------------------------------------
#
# A port of the *behaviour* of CVAT 2.73's ``load_anno`` (cvat/apps/dataset_manager/formats/
# cvat.py) and of what it calls in bindings.py (``match_dm_item``, ``CommonData._import_shape/
# _import_track/_import_tag/_import_attribute``, ``rel_frame_id``): the same streaming
# start/end state machine, the same required attributes (read with ``[]``: a missing one is a
# ``KeyError``), the same Python conversions (``int("1.0")`` fails, ``float`` accepts ``1e3``),
# the same checks in the same order, so the first problem in the file gives CVAT's message.

class ImportFailure(Exception):
    """An import failure with the message CVAT's worker reports."""


#: attribute spec as the importer needs it: (spec id, mutable, input type, default value)
Spec = tuple[int, bool, str, str]


@dataclass
class Target:
    """What the importer needs to know about the task (or job) it imports into."""

    frame_names: list[str]  # per task frame (relative numbering)
    start_frame: int
    step: int
    size: int
    is_video: bool
    labels: dict[tuple[str, int | None], int]  # (name, parent id) -> label id
    attrs: dict[int, dict[str, Spec]]  # label id -> attribute name -> spec
    frame_range: tuple[int, int] | None = None  # a job's frames (task-relative, inclusive)


CVAT_IMPORT_ERROR = "cvat.apps.dataset_manager.bindings.CvatImportError"
SHAPE_TAGS = ("box", "ellipse", "polygon", "polyline", "points", "cuboid", "skeleton", "mask")
CUBOID = ("xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1",
          "xtl2", "ytl2", "xbl2", "ybl2", "xtr2", "ytr2", "xbr2", "ybr2")
_ENTITY = re.compile(rb"<!ENTITY\s+(%\s+)?([^\s>]+)")


def _refuse_entities(data: bytes) -> None:
    """defusedxml (CVAT's parser) refuses entity declarations; external DTDs stay unread."""
    match = _ENTITY.search(data)
    if match and b"<!DOCTYPE" in data[:match.start()]:
        name = match.group(2).decode("utf-8", "replace")
        raise ImportFailure("defusedxml.common.EntitiesForbidden: "
                            f"EntitiesForbidden(name='{name}', system_id=None, public_id=None)")


def _events(data: bytes) -> Iterator[tuple[str, Any]]:
    """``ElementTree.iterparse`` events, fed 16 KiB at a time as CVAT's parser is: events
    before a syntax error are seen before the error."""
    from xml.etree import ElementTree

    _refuse_entities(data)
    parser: Any = ElementTree.XMLPullParser(events=("start", "end"))
    try:
        for at in range(0, len(data), 16 * 1024):
            parser.feed(data[at:at + 16 * 1024])
            yield from parser.read_events()
        parser.close()
        yield from parser.read_events()
    except ElementTree.ParseError as exc:
        raise ImportFailure(f"xml.etree.ElementTree.ParseError: {exc}") from None


def read_xml_payloads(blob: bytes) -> list[bytes]:
    """The XML documents of an import file: the file itself, or every ``*.xml`` of a zip (CVAT
    extracts the zip and runs ``load_anno`` on ``glob('**/*.xml')``)."""
    import zipfile

    if not zipfile.is_zipfile(io.BytesIO(blob)):
        return [blob]
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return [zf.read(n) for n in sorted(zf.namelist()) if n.endswith(".xml")]


def read_xml_payload(blob: bytes) -> bytes:
    """The first XML document of an import file (``annotations.xml`` in a CVAT zip)."""
    payloads = read_xml_payloads(blob)
    if not payloads:
        raise ImportFailure("datumaro.components.errors.DatasetImportError: "
                            "Failed to import dataset 'cvat' at '<ABS_PATH>'.")
    return payloads[0]


def _int_or_none(value: Any) -> int | None:
    """``datumaro.util.cast(value, int)``: None when ``int()`` fails."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _coords(el: Any, tag: str) -> list[float]:
    """A shape's coordinates as ``load_anno`` reads them (ellipse corners at 2 decimals)."""
    a = el.attrib
    if tag == "box":
        return [float(a["xtl"]), float(a["ytl"]), float(a["xbr"]), float(a["ybr"])]
    if tag == "ellipse":
        cx, cy = float(a["cx"]), float(a["cy"])
        return [cx, cy, float(f"{cx + float(a['rx']):.2f}"), float(f"{cy - float(a['ry']):.2f}")]
    if tag == "cuboid":
        return [float(a[n]) for n in CUBOID]
    if tag == "skeleton":
        return []
    points: list[float] = []
    for pair in a["points"].split(";"):
        points.extend(map(float, pair.split(",")))
    return points


def _mask(el: Any) -> list[float]:
    a = el.attrib
    points: list[float] = [float(v) for v in map(int, a["rle"].split(","))]
    left, top = int(a["left"]), int(a["top"])
    return [*points, float(left), float(top), float(left + int(a["width"]) - 1),
            float(top + int(a["height"]) - 1)]


class _Loader:
    """``load_anno`` into a task or job, producing the write form of the annotations."""

    def __init__(self, target: Target) -> None:
        self.t = target
        lo, hi = target.frame_range if target.frame_range is not None else (0, target.size - 1)
        self.rel_range = range(lo, hi + 1)
        self.names = {os.path.splitext(n)[0]: i for i, n in enumerate(target.frame_names)
                      if i in self.rel_range}
        self.label_names = {lid: name for (name, _), lid in target.labels.items()}
        self.data: Obj = {"version": 0, "tags": [], "shapes": [], "tracks": []}

    # -- bindings.py -------------------------------------------------------------------------
    def label_id(self, name: str, parent: int | None = None) -> int:
        lid = self.t.labels.get((name, parent))
        if lid is None:
            raise ValueError(f"Label {name!r} is not registered for this task")
        return lid

    def rel_frame(self, absolute: int) -> int:
        rel, rem = divmod(absolute - self.t.start_frame, self.t.step)
        if rem or rel not in self.rel_range:
            raise ValueError(f"Unknown frame {absolute}")
        return rel

    def match_image(self, el: Any) -> int:
        """``match_dm_item``: the name without extension, else ``id`` as a task-relative frame
        index, else (video) the number in ``frame_NNNNNN``; the absolute frame number."""
        item_id = os.path.splitext(el.attrib["name"])[0]
        ident = el.attrib["id"]
        frame = self.names.get(item_id)
        if frame is None:
            frame = _int_or_none(ident)
        if frame is None and self.t.is_video:
            frame = _int_or_none(os.path.basename(item_id)[len("frame_"):])
        if frame is None or frame not in self.rel_range:
            raise ImportFailure(f"{CVAT_IMPORT_ERROR}: Could not match item id: "
                                f"'{item_id}' with any task frame")
        return frame * self.t.step + self.t.start_frame

    def spec(self, label_id: int, name: str, mutable: bool | None = None) -> Spec | None:
        spec = self.t.attrs.get(label_id, {}).get(name)
        if spec is None or (mutable is not None and spec[1] != mutable):
            return None
        return spec

    def attributes(self, label_id: int, attrs: list[tuple[str, str]],
                   mutable: bool | None = None) -> list[Obj]:
        out = []
        for name, value in attrs:
            spec = self.spec(label_id, name, mutable)
            if spec is None:
                continue  # CVAT drops attributes the label does not have
            if spec[2] == "checkbox" and value != spec[3]:
                value = value.lower()
                if value not in ("true", "false"):
                    raise ImportFailure(f"Exception: Failed to convert attribute "
                                        f"'{self.label_names[label_id]}'='{value}': ")
            out.append({"spec_id": spec[0], "value": value})
        return out

    def import_shape(self, shape: Obj, parent: int | None = None) -> Obj:
        label_id = self.label_id(shape["label"], parent)
        frame = self.rel_frame(int(shape["frame"]))
        return {
            "type": shape["type"], "occluded": shape["occluded"], "outside": shape["outside"],
            "z_order": shape.get("z_order", 0), "rotation": shape.get("rotation", 0.0),
            "points": [float(p) for p in shape["points"]], "id": None, "label_id": label_id,
            "group": shape.get("group", 0), "source": shape.get("source", "manual"),
            "frame": frame, "score": 1.0,
            "attributes": self.attributes(label_id, shape["attributes"]),
            "elements": [self.import_shape(e, label_id) for e in shape.get("elements", [])],
        }

    def import_track(self, track: Obj, parent: int | None = None) -> Obj:
        label_id = self.label_id(track["label"], parent)
        frame = self.rel_frame(min(int(s["frame"]) for s in track["shapes"]))
        elements = [self.import_track(e, label_id) for e in track.get("elements", [])]
        attributes: list[Obj] = []
        shapes = []
        for s in track["shapes"]:
            rel = self.rel_frame(int(s["frame"]))
            attributes = self.attributes(label_id, s["attributes"], mutable=False)  # last wins
            shapes.append({
                "type": s["type"], "occluded": s["occluded"], "outside": s["outside"],
                "z_order": s.get("z_order", 0), "rotation": s.get("rotation", 0.0),
                "points": [float(p) for p in s["points"]], "id": None, "frame": rel,
                "attributes": self.attributes(label_id, s["attributes"], mutable=True),
            })
        return {"id": None, "label_id": label_id, "group": track["group"], "source": "file",
                "frame": frame, "attributes": attributes,
                "shapes": sorted(shapes, key=lambda s: s["frame"]), "elements": elements}

    def add_tag(self, tag: Obj) -> None:
        label_id = self.label_id(tag["label"])
        self.data["tags"].append({
            "id": None, "label_id": label_id, "group": tag["group"], "source": "file",
            "frame": self.rel_frame(int(tag["frame"])),
            "attributes": self.attributes(label_id, tag["attributes"])})

    # -- cvat.py load_anno -------------------------------------------------------------------
    def run(self, events: Iterator[tuple[str, Any]]) -> None:
        track: Obj | None = None
        shape: Obj | None = None
        element: Obj | None = None
        tag: Obj | None = None
        image_open = False
        frame_id = 0
        attributes: list[tuple[str, str]] | None = None
        elem_attributes: list[tuple[str, str]] | None = None
        track_elements: dict[str, Obj] | None = None
        next(events, None)  # the root, whatever its name
        for ev, el in events:
            name = el.tag
            if ev == "start":
                if name == "track":
                    track = {"label": el.attrib["label"],
                             "group": int(el.attrib.get("group_id", 0)),
                             "shapes": [], "elements": []}
                elif name == "image":
                    image_open = True
                    frame_id = self.match_image(el)
                elif name in SHAPE_TAGS and (track is not None or image_open):
                    kind = "rectangle" if name == "box" else name
                    if shape is not None and shape["type"] == "skeleton":
                        elem_attributes = []
                        element = {"attributes": elem_attributes, "points": [], "type": kind}
                        if track is not None and track_elements is not None and \
                                el.attrib["label"] not in track_elements:
                            track_elements[el.attrib["label"]] = {
                                "label": el.attrib["label"], "group": 0, "shapes": [],
                                "elements": []}
                    else:
                        attributes = []
                        shape = {"attributes": attributes, "points": [], "type": kind}
                        if track is None:
                            shape["elements"] = []
                        elif kind == "skeleton":
                            shape["frame"] = el.attrib["frame"]
                            if track_elements is None:
                                track_elements = {}
                elif name == "tag" and image_open:
                    attributes = []
                    tag = {"frame": frame_id, "label": el.attrib["label"],
                           "group": int(el.attrib.get("group_id", 0)),
                           "attributes": attributes}
                continue
            if name == "attribute" and elem_attributes is not None and element is not None:
                elem_attributes.append((el.attrib["name"], el.text or ""))
            if name == "attribute" and attributes is not None and element is None:
                attributes.append((el.attrib["name"], el.text or ""))
            if name in SHAPE_TAGS and shape["type"] == "skeleton" and name != "skeleton":  # type: ignore[index]
                assert element is not None and shape is not None
                element["label"] = el.attrib["label"]
                element["occluded"] = el.attrib["occluded"] == "1"
                element["outside"] = el.attrib["outside"] == "1"
                element["elements"] = []
                element["points"] = _coords(el, "points" if name == "mask" else name)
                if track is None:
                    element["frame"] = frame_id
                    element["source"] = "file"
                    shape["elements"].append(element)
                else:
                    element["frame"] = shape["frame"]
                    element["keyframe"] = el.attrib["keyframe"] == "1"
                    if element["keyframe"]:
                        assert track_elements is not None
                        track_elements[el.attrib["label"]]["shapes"].append(element)
                element = None
            elif name in SHAPE_TAGS:
                assert shape is not None
                if track is not None:
                    shape["frame"] = el.attrib["frame"]
                    shape["outside"] = el.attrib.get("outside", "0") == "1"
                    shape["keyframe"] = el.attrib["keyframe"] == "1"
                else:
                    shape["frame"] = frame_id
                    shape["label"] = el.attrib["label"]
                    shape["group"] = int(el.attrib.get("group_id", 0))
                    shape["source"] = "file"
                    shape["outside"] = False
                shape["occluded"] = el.attrib.get("occluded", "0") == "1"
                shape["z_order"] = int(el.attrib.get("z_order", 0))
                shape["rotation"] = float(el.attrib.get("rotation", 0))
                shape["points"] = _mask(el) if name == "mask" else _coords(el, name)
                if track is not None:
                    if shape["keyframe"]:
                        track["shapes"].append(shape)
                else:
                    self.data["shapes"].append(self.import_shape(shape))
                shape = None
            elif name == "track":
                assert track is not None
                first = track["shapes"][0]  # IndexError when the track has no keyframe
                if first["type"] == "mask":
                    # "convert mask tracks to shapes because mask track are not supported":
                    # the first keyframe, with TrackedShape's defaults (source manual, group 0)
                    self.data["shapes"].append(self.import_shape({
                        **first, "label": track["label"], "source": "manual", "group": 0,
                        "outside": False}))
                else:
                    if track_elements is not None:
                        track["elements"] = list(track_elements.values())
                        track_elements = None
                    self.data["tracks"].append(self.import_track(track))
                track = None
            elif name == "image":
                image_open = False
            elif name == "tag":
                if tag is None:
                    raise TypeError("Tag() argument after ** must be a mapping, not NoneType")
                self.add_tag(tag)
                tag = None
            el.clear()


def load_cvat(blob: bytes, target: Target) -> Obj:
    """Parse a "CVAT 1.1" file (XML or zip) into annotations (write form, ``source`` = file),
    or raise ``ImportFailure`` with the message CVAT's worker gives for the first problem."""
    loader = _Loader(target)
    for payload in read_xml_payloads(blob):
        try:
            loader.run(iter(_events(payload)))
        except ImportFailure:
            raise
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            raise ImportFailure(f"{type(exc).__name__}: {exc}") from None
    return loader.data
