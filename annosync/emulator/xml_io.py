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
from collections.abc import Callable, Sequence
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

class ImportFailure(Exception):
    """An import failure with the message CVAT's worker reports."""


@dataclass
class Target:
    """What the importer needs to know about the task it imports into."""

    frame_names: list[str]  # per task frame (relative numbering)
    start_frame: int
    step: int
    size: int
    is_video: bool
    labels: dict[tuple[str, int | None], int]  # (name, parent id) -> label id
    attrs: dict[int, dict[str, tuple[int, bool, str]]]  # label id -> name -> (spec, mutable, type)
    frame_range: tuple[int, int] | None = None  # limit to a job's frames


def _parse(data: bytes) -> Any:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                             remove_blank_text=False)
    try:
        return etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError:
        import xml.parsers.expat

        expat = xml.parsers.expat.ParserCreate()
        try:
            expat.Parse(data, True)
        except xml.parsers.expat.ExpatError as exc:
            raise ImportFailure(f"xml.etree.ElementTree.ParseError: {exc}") from None
        raise ImportFailure("xml.etree.ElementTree.ParseError: syntax error") from None


def read_xml_payload(blob: bytes) -> bytes:
    """The XML of an import file: the file itself or the first ``.xml`` member of a zip."""
    import zipfile

    if blob[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            names = sorted(n for n in zf.namelist() if n.lower().endswith(".xml"))
            if not names:
                raise ImportFailure("datumaro.components.errors.DatasetImportError: "
                                    "Failed to import dataset 'cvat' at '<ABS_PATH>'.")
            preferred = [n for n in names if os.path.basename(n) == "annotations.xml"]
            return zf.read(preferred[0] if preferred else names[0])
    return blob


def _num(el: Any, name: str) -> float:
    value = el.get(name)
    if value is None:
        raise ImportFailure(f"KeyError: '{name}'")
    try:
        return float(value)
    except ValueError:
        raise ImportFailure(f"ValueError: could not convert string to float: '{value}'") from None


def _shape_points(el: Any) -> tuple[str, list[float]]:
    tag = el.tag
    if tag == "box":
        return "rectangle", [_num(el, n) for n in ("xtl", "ytl", "xbr", "ybr")]
    if tag == "ellipse":
        cx, cy, rx, ry = (_num(el, n) for n in ("cx", "cy", "rx", "ry"))
        return "ellipse", [cx, cy, cx + rx, cy - ry]
    if tag == "cuboid":
        names = ("xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1",
                 "xtl2", "ytl2", "xbl2", "ybl2", "xtr2", "ytr2", "xbr2", "ybr2")
        return "cuboid", [_num(el, n) for n in names]
    if tag == "mask":
        rle = [float(v) for v in (el.get("rle") or "").split(",") if v.strip()]
        left, top = int(_num(el, "left")), int(_num(el, "top"))
        width, height = int(_num(el, "width")), int(_num(el, "height"))
        return "mask", [*rle, float(left), float(top), float(left + width - 1), float(top + height - 1)]
    raw = el.get("points")
    if raw is None:
        raise ImportFailure("KeyError: 'points'")
    points: list[float] = []
    for pair in raw.split(";"):
        if pair.strip():
            x, _, y = pair.partition(",")
            points.extend([float(x), float(y)])
    return {"polygon": "polygon", "polyline": "polyline", "points": "points"}[tag], points


SHAPE_TAGS = ("box", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton")


class _Importer:
    def __init__(self, target: Target) -> None:
        self.t = target
        self.names = {os.path.splitext(n)[0]: i for i, n in enumerate(target.frame_names)}

    def label(self, name: str | None, parent: int | None = None) -> int:
        if name is None:
            raise ImportFailure("KeyError: 'label'")
        lid = self.t.labels.get((name, parent))
        if lid is None:
            raise ImportFailure(f"ValueError: Label '{name}' is not registered for this task")
        return lid

    def attributes(self, el: Any, label_id: int, *, mutable: bool | None = None) -> list[Obj]:
        specs = self.t.attrs.get(label_id, {})
        out = []
        for attr in el.findall("attribute"):
            name = attr.get("name")
            spec = specs.get(name or "")
            if spec is None or (mutable is not None and spec[1] != mutable):
                continue
            value = attr.text or ""
            if spec[2] == "checkbox":
                low = value.lower()
                if low not in ("true", "false"):
                    raise ImportFailure(f"Exception: Failed to convert attribute '{name}'='{value}': ")
                value = low
            out.append({"spec_id": spec[0], "value": value})
        return out

    def frame_of_image(self, el: Any) -> int:
        name = el.get("name")
        if name is not None:
            key = os.path.splitext(name)[0]
            if key in self.names:
                return self.names[key]
            match = re.fullmatch(r"frame_(\d+)", os.path.basename(key))
            if match and self.t.is_video:
                return self._rel(int(match.group(1)), name)
        ident = el.get("id")
        if ident is not None:
            try:
                return self._rel(int(ident), os.path.splitext(name or "")[0])
            except ImportFailure:
                pass
        raise ImportFailure("cvat.apps.dataset_manager.bindings.CvatImportError: Could not match "
                            f"item id: '{os.path.splitext(name or '')[0]}' with any task frame")

    def _rel(self, absolute: int, name: str) -> int:
        rel, rem = divmod(absolute - self.t.start_frame, self.t.step)
        if rem or not 0 <= rel < self.t.size:
            raise ImportFailure("cvat.apps.dataset_manager.bindings.CvatImportError: Could not "
                                f"match item id: '{name}' with any task frame")
        return rel

    def shape(self, el: Any, frame: int, *, label_id: int | None = None) -> Obj:
        from_track = label_id is not None
        if label_id is None:
            label_id = self.label(el.get("label"))
        kind, points = ("skeleton", []) if el.tag == "skeleton" else _shape_points(el)
        shape: Obj = {
            "type": kind,
            "occluded": el.get("occluded", "0") == "1",
            "outside": False,
            "z_order": int(float(el.get("z_order", "0"))),
            "rotation": float(el.get("rotation", "0")),
            "points": points,
            "id": None,
            "label_id": label_id,
            # a mask track's first keyframe becomes a shape with TrackedShape's defaults
            "group": 0 if from_track else int(el.get("group_id", "0")),
            "source": "manual" if from_track else "file",
            "frame": frame,
            "score": 1.0,
            "attributes": self.attributes(el, label_id),
            "elements": [],
        }
        if kind == "skeleton":
            for child in el.findall("points"):
                if child.get("outside") is None or child.get("occluded") is None:
                    raise ImportFailure("KeyError: 'occluded'" if child.get("occluded") is None
                                        else "KeyError: 'outside'")
                sub_id = self.label(child.get("label"), label_id)
                _, pts = _shape_points(child)
                shape["elements"].append({
                    "type": "points", "occluded": child.get("occluded") == "1",
                    "outside": child.get("outside") == "1", "z_order": 0, "rotation": 0.0,
                    "points": pts, "id": None, "label_id": sub_id, "group": 0, "source": "file",
                    "frame": frame, "score": 1.0, "attributes": self.attributes(child, sub_id),
                })
        return shape

    def track(self, el: Any) -> Obj | None:
        label_id = self.label(el.get("label"))
        track_attrs: list[Obj] = []
        shapes: list[Obj] = []
        elements: dict[int, Obj] = {}
        for child in el:
            if not isinstance(child.tag, str) or child.tag not in SHAPE_TAGS:
                continue
            if child.get("keyframe") is None:
                raise ImportFailure("KeyError: 'keyframe'")
            if child.get("frame") is None:
                raise ImportFailure("KeyError: 'frame'")
            if child.get("keyframe") != "1":
                continue
            frame = self._rel(int(child.get("frame")), f"frame_{int(child.get('frame')):06d}")
            kind, points = ("skeleton", []) if child.tag == "skeleton" else _shape_points(child)
            if not track_attrs:
                track_attrs = self.attributes(child, label_id, mutable=False)
            shapes.append({
                "type": kind, "occluded": child.get("occluded", "0") == "1",
                "outside": child.get("outside", "0") == "1",
                "z_order": int(float(child.get("z_order", "0"))),
                "rotation": float(child.get("rotation", "0")), "points": points, "id": None,
                "frame": frame, "attributes": self.attributes(child, label_id, mutable=True),
            })
            if kind == "skeleton":
                for sub in child.findall("points"):
                    if sub.get("keyframe") is None:
                        raise ImportFailure("KeyError: 'keyframe'")
                    if sub.get("keyframe") != "1":
                        continue
                    sub_id = self.label(sub.get("label"), label_id)
                    _, pts = _shape_points(sub)
                    etrack = elements.setdefault(sub_id, {
                        "id": None, "label_id": sub_id, "group": 0, "source": "file",
                        "frame": frame, "attributes": [], "shapes": []})
                    etrack["shapes"].append({
                        "type": "points", "occluded": sub.get("occluded") == "1",
                        "outside": sub.get("outside") == "1", "z_order": 0, "rotation": 0.0,
                        "points": pts, "id": None, "frame": frame,
                        "attributes": self.attributes(sub, sub_id, mutable=True)})
        if not shapes:
            raise ImportFailure("IndexError: list index out of range")  # track.shapes[0]
        if shapes[0]["type"] == "mask":
            return None  # CVAT turns mask tracks into a single shape; handled by the caller
        return {
            "id": None, "label_id": label_id, "group": int(el.get("group_id", "0")),
            "source": "file", "frame": min(s["frame"] for s in shapes),
            "attributes": track_attrs, "shapes": sorted(shapes, key=lambda s: s["frame"]),
            "elements": list(elements.values()),
        }


def load_cvat(blob: bytes, target: Target) -> Obj:
    """Parse a "CVAT 1.1" file into annotations (write form, ``source`` = ``file``)."""
    root = _parse(read_xml_payload(blob))
    imp = _Importer(target)
    data: Obj = {"version": 0, "tags": [], "shapes": [], "tracks": []}
    for el in root:
        if not isinstance(el.tag, str):
            continue
        if el.tag == "image":
            frame = imp.frame_of_image(el)
            for child in el:
                if not isinstance(child.tag, str):
                    continue
                if child.tag in SHAPE_TAGS:
                    data["shapes"].append(imp.shape(child, frame))
                elif child.tag == "tag":
                    label_id = imp.label(child.get("label"))
                    data["tags"].append({"id": None, "label_id": label_id,
                                         "group": int(child.get("group_id", "0")),
                                         "source": "file", "frame": frame,
                                         "attributes": imp.attributes(child, label_id)})
        elif el.tag == "track":
            track = imp.track(el)
            if track is not None:
                data["tracks"].append(track)
            else:
                # CVAT's load_anno: "convert mask tracks to shapes because mask track are not
                # supported" -- the first keyframe (outside or not), with the track's label
                for child in el:
                    if isinstance(child.tag, str) and child.tag == "mask" and child.get("keyframe") == "1":
                        frame = imp._rel(int(child.get("frame")), "mask")
                        data["shapes"].append(imp.shape(child, frame, label_id=imp.label(el.get("label"))))
                        break
    if target.frame_range is not None:
        lo, hi = target.frame_range
        data["tags"] = [t for t in data["tags"] if lo <= t["frame"] <= hi]
        data["shapes"] = [s for s in data["shapes"] if lo <= s["frame"] <= hi]
    return data
