"""annosync labels <-> CVAT annotations (JSON form) for the XML export/import, pure.

A small stand-in for ``annosync.convert`` (being written alongside): enough mapping for files,
without a manifest's label schema. Coordinates go through ``pixels.py`` (``annosync.convert``'s
drift-free conversion plus snapping of float noise), so XML -> dataset -> XML gives back CVAT's
numbers and dataset -> XML -> dataset the stored ones (the XML is written with
``numbers="exact"``).

Mapping (FiftyOne's conventions where it has one):

=========================  ===================================================================
label                      CVAT
=========================  ===================================================================
Classification(s)          tag (one per classification)
Detection                  rectangle (``rotation``); with a ``mask``: mask shape over the box
Detection, ``cvat.shape``  ``ellipse``: the box is the ellipse's; ``cuboid``: the box is the
                           hull and ``cvat.cuboid`` holds the 16 relative values
Polyline                   one polygon (``closed`` and ``filled``) or polyline per point list
Keypoint                   points shape; with ``cvat.shape = "skeleton"``: a skeleton whose
                           elements are named by ``cvat.elements`` (``a;b;c``), ``None`` points
                           are ``outside`` elements, ``cvat.occluded_points`` lists occluded ones
Segmentation               not exported (reported)
=========================  ===================================================================

What the label model has no field for is kept as label attributes with the reserved ``cvat.``
prefix, written back on export and never sent as CVAT attributes: ``cvat.occluded`` (true when
occluded), ``cvat.group_id`` (non-zero group), ``cvat.source`` (``auto``, ``semi-auto``
or ``consensus``; ``manual`` and ``file``, which CVAT gives everything it imports, are dropped),
``cvat.rotation`` (rotation of a shape kind the label has no ``rotation`` for), plus the shape
details above. The label's id travels as the ``label_id`` attribute (mutable text), the
provenance key the importer matches on. Other attributes become CVAT attributes typed from
their values (all booleans -> checkbox, all numbers -> number, else text) and are parsed back by
that type.

Videos: labels with an ``index`` form tracks (one per field and index); ``keyframe`` flags pick
the keyframes (none set: every frame is one); a run of frames that stops before the end of the
task gets an ``outside`` keyframe after it. On import every visible frame of a track becomes a
label with ``index`` (tracks numbered from 1 in file order) and ``keyframe``; a track visible
on one frame only (how the video layout writes a standalone shape) becomes a plain label.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Union

from annosync.cvatxml.interpolate import track_frames
from annosync.cvatxml.pixels import box_px, box_rel, px, rel
from annosync.model.cvat import (
    AttributeSpec,
    AttributeValue,
    LabeledData,
    LabelSpec,
    Shape,
    Tag,
    Track,
    TrackedShape,
)
from annosync.model.labels import (
    BinaryMask,
    Classification,
    Detection,
    Keypoint,
    Polyline,
    Segmentation,
)

PREFIX = "cvat."
#: Sources not worth keeping: ``manual``, and ``file``, which CVAT stamps on everything it
#: imports (keeping it would change every label on every round trip through CVAT).
_PLAIN_SOURCES = frozenset({"manual", "file"})
LABEL_ID_ATTR = "label_id"
OCCLUDED = "cvat.occluded"
GROUP_ID = "cvat.group_id"
SOURCE = "cvat.source"
ROTATION = "cvat.rotation"
SHAPE = "cvat.shape"
CUBOID = "cvat.cuboid"
ELEMENTS = "cvat.elements"
OCCLUDED_POINTS = "cvat.occluded_points"

LabelObject = Union[Classification, Detection, Polyline, Keypoint, Segmentation]
#: Field kind of each imported object type (plural label type names).
KIND_OF = {Classification: "classifications", Detection: "detections",
           Polyline: "polylines", Keypoint: "keypoints"}


@dataclass
class FrameLabels:
    """The labels on one task frame (an image sample, or one frame of a video sample)."""

    index: int
    width: int
    height: int
    labels: list[tuple[str, Any]] = field(default_factory=list)  # (field path, label object)


@dataclass
class Imported:
    """One label read from CVAT, not yet placed in a field."""

    frame: int
    kind: str
    obj: Any
    label_id: str | None = None
    track: int | None = None
    line_hint: str = ""


# -- attribute values --------------------------------------------------------------------------
def _value_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


_INT = re.compile(r"^[+-]?\d+$")


def parse_value(text: str, input_type: str) -> Any:
    """A CVAT attribute string back as the scalar its spec says (checkbox, number, else text)."""
    if input_type == "checkbox":
        return text.strip().lower() == "true"
    if input_type == "number":
        if _INT.match(text.strip()):
            return int(text)
        try:
            value = float(text)
        except ValueError:
            return text
        return value if math.isfinite(value) else text
    return text


class _SpecBuilder:
    """Label specs from the labels being exported (ids numbered from 1)."""

    def __init__(self) -> None:
        self._next = 1
        self.labels: dict[str, LabelSpec] = {}
        self._values: dict[tuple[str, str], list[Any]] = {}

    def _id(self) -> int:
        self._next += 1
        return self._next - 1

    def label(self, name: str, ltype: str = "any") -> LabelSpec:
        spec = self.labels.get(name)
        if spec is None:
            spec = LabelSpec(id=self._id(), name=name, type="any")
            spec.attributes.append(AttributeSpec(
                id=self._id(), name=LABEL_ID_ATTR, mutable=True, input_type="text",
                default_value="", values=[""]))
            self.labels[name] = spec
        if ltype == "skeleton" and spec.type != "skeleton":
            spec.type = "skeleton"
            spec.svg = ""
        return spec

    def sublabel(self, parent: LabelSpec, name: str) -> LabelSpec:
        for sub in parent.sublabels:
            if sub.name == name:
                return sub
        sub = LabelSpec(id=self._id(), name=name, type="points", parent_id=parent.id)
        parent.sublabels.append(sub)
        return sub

    def attribute(self, spec: LabelSpec, name: str, value: Any) -> AttributeSpec:
        for a in spec.attributes:
            if a.name == name:
                break
        else:
            a = AttributeSpec(id=self._id(), name=name, mutable=True, input_type="text",
                              default_value="", values=[""])
            spec.attributes.append(a)
        self._values.setdefault((spec.name, name), []).append(value)
        return a

    def finish(self) -> list[LabelSpec]:
        for spec in self.labels.values():
            for a in spec.attributes:
                values = self._values.get((spec.name, a.name))
                if not values:
                    continue
                if all(isinstance(v, bool) for v in values):
                    a.input_type, a.default_value, a.values = "checkbox", "false", ["false"]
                elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                    lo, hi = min(values), max(values)
                    a.input_type = "number"
                    a.values = [str(math.floor(lo)), str(math.ceil(hi)), "1"]
                    a.default_value = str(math.floor(lo))
        return list(self.labels.values())


# -- labels -> CVAT ----------------------------------------------------------------------------
class _Exporter:
    def __init__(self) -> None:
        self.specs = _SpecBuilder()
        self.warnings: list[str] = []

    def attributes(self, spec: LabelSpec, obj: Any) -> list[AttributeValue]:
        out = [AttributeValue(
            spec_id=self.specs.attribute(spec, LABEL_ID_ATTR, obj.id).id or 0, value=obj.id)]
        for name, value in sorted(obj.attributes.items()):
            if name.startswith(PREFIX) or name == LABEL_ID_ATTR or value is None:
                continue
            a = self.specs.attribute(spec, name, value)
            out.append(AttributeValue(spec_id=a.id or 0, value=_value_text(value)))
        return out

    def common(self, obj: Any) -> dict[str, Any]:
        attrs = obj.attributes
        group = attrs.get(GROUP_ID)
        source = attrs.get(SOURCE)
        return {
            "occluded": attrs.get(OCCLUDED) is True,
            "group": group if isinstance(group, int) and not isinstance(group, bool) else 0,
            "source": source if isinstance(source, str) else "manual",
            "z_order": getattr(obj, "z_order", None) or 0,
        }

    def shapes(self, obj: Any, frame: int, w: int, h: int) -> list[Shape]:
        """The shapes one label object becomes (a polyline may become several)."""
        if isinstance(obj, Segmentation):
            self.warnings.append("segmentation labels have no CVAT XML form; not exported")
            return []
        if isinstance(obj, Classification):
            return []
        common = self.common(obj)
        kind = obj.attributes.get(SHAPE)
        label = obj.label
        if isinstance(obj, Keypoint) and kind == "skeleton":
            return [self.skeleton(obj, frame, w, h, common)]
        spec = self.specs.label(label)
        attrs = self.attributes(spec, obj)
        rotation = obj.attributes.get(ROTATION)
        rotation = float(rotation) if isinstance(rotation, (int, float)) else 0.0
        if isinstance(obj, Detection):
            rotation = obj.rotation or 0.0
            if kind == "ellipse":
                x, y, bw, bh = obj.bounding_box
                cx, cy = px(x + bw / 2, w), px(y + bh / 2, h)
                rx, ry = px(bw / 2, w), px(bh / 2, h)
                points = [cx, cy, cx + rx, cy - ry]
                return [Shape(type="ellipse", frame=frame, label_id=spec.id or 0,
                              rotation=rotation, points=points, attributes=attrs, **common)]
            if kind == "cuboid" and isinstance(obj.attributes.get(CUBOID), str):
                values = [float(v) for v in str(obj.attributes[CUBOID]).split(",")]
                points = [px(v, w if i % 2 == 0 else h) for i, v in enumerate(values)]
                return [Shape(type="cuboid", frame=frame, label_id=spec.id or 0,
                              points=points, attributes=attrs, **common)]
            if obj.mask is not None:
                return [self.mask(obj, frame, w, h, spec, attrs, common)]
            return [Shape(type="rectangle", frame=frame, label_id=spec.id or 0,
                          rotation=rotation, points=box_px(obj.bounding_box, w, h),
                          attributes=attrs, **common)]
        if isinstance(obj, Polyline):
            ptype = "polygon" if obj.closed and obj.filled else "polyline"
            out = []
            for line in obj.points:
                pts = [c for x, y in line for c in (px(x, w), px(y, h))]
                out.append(Shape(type=ptype, frame=frame, label_id=spec.id or 0,
                                 rotation=rotation, points=pts, attributes=attrs, **common))
            return out
        if isinstance(obj, Keypoint):
            present = [p for p in obj.points if p is not None]
            if len(present) != len(obj.points):
                self.warnings.append(
                    f"keypoints {obj.id}: missing (null) points are not exported")
            pts = [c for x, y in present for c in (px(x, w), px(y, h))]
            return [Shape(type="points", frame=frame, label_id=spec.id or 0,
                          rotation=rotation, points=pts, attributes=attrs, **common)]
        raise TypeError(f"cannot export {type(obj).__name__}")

    def mask(self, obj: Detection, frame: int, w: int, h: int, spec: LabelSpec,
             attrs: list[AttributeValue], common: dict[str, Any]) -> Shape:
        assert obj.mask is not None
        x, y, bw, bh = obj.bounding_box
        left, top = round(px(x, w)), round(px(y, h))
        mh, mw = obj.mask.size
        width = max(round(px(bw, w)), 1)
        height = max(round(px(bh, h)), 1)
        counts = list(obj.mask.counts)
        if (mh, mw) != (height, width):
            import numpy as np

            arr = obj.mask.to_array()
            rows = (np.arange(height) * mh // height).clip(0, max(mh - 1, 0))
            cols = (np.arange(width) * mw // width).clip(0, max(mw - 1, 0))
            resized = arr[rows][:, cols] if mh and mw else np.zeros((height, width), bool)
            counts = BinaryMask.from_array(resized).counts
        if not counts:
            counts = [width * height]
        points = [float(c) for c in counts] + [
            float(left), float(top), float(left + width - 1), float(top + height - 1)]
        return Shape(type="mask", frame=frame, label_id=spec.id or 0, points=points,
                     attributes=attrs, **common)

    def skeleton(self, obj: Keypoint, frame: int, w: int, h: int,
                 common: dict[str, Any]) -> Shape:
        spec = self.specs.label(obj.label, "skeleton")
        names_attr = obj.attributes.get(ELEMENTS)
        names = str(names_attr).split(";") if isinstance(names_attr, str) and names_attr \
            else [str(i + 1) for i in range(len(obj.points))]
        occluded = _index_set(obj.attributes.get(OCCLUDED_POINTS))
        elements = []
        for i, (name, p) in enumerate(zip(names, obj.points, strict=False)):
            sub = self.specs.sublabel(spec, name)
            pt = p if p is not None else (0.0, 0.0)
            elements.append(Shape(
                type="points", frame=frame, label_id=sub.id or 0, source=common["source"],
                outside=p is None, occluded=i in occluded,
                points=[px(pt[0], w), px(pt[1], h)],
            ))
        return Shape(type="skeleton", frame=frame, label_id=spec.id or 0, points=[],
                     attributes=self.attributes(spec, obj), elements=elements, **common)

    def tag(self, obj: Classification, frame: int) -> Tag:
        spec = self.specs.label(obj.label)
        source = obj.attributes.get(SOURCE)
        group = obj.attributes.get(GROUP_ID)
        return Tag(frame=frame, label_id=spec.id or 0,
                   group=group if isinstance(group, int) and not isinstance(group, bool) else 0,
                   source=source if isinstance(source, str) else "manual",
                   attributes=self.attributes(spec, obj))


def _index_set(value: Any) -> set[int]:
    if not isinstance(value, str) or not value:
        return set()
    return {int(v) for v in value.split(",") if v.strip().lstrip("-").isdigit()}


def to_cvat(frames: list[FrameLabels], *, size: int | None = None
            ) -> tuple[list[LabelSpec], LabeledData, list[str]]:
    """Label specs and annotations (task-relative frames) for the labels of a task's frames.

    Labels with an ``index`` (video) become tracks; everything else shapes and tags.
    Returns the warnings too (what could not be exported).
    """
    ex = _Exporter()
    data = LabeledData()
    size = size if size is not None else (max((f.index for f in frames), default=-1) + 1)
    tracks: dict[tuple[str, int], list[tuple[FrameLabels, Any]]] = {}
    for fl in frames:
        for path, obj in fl.labels:
            if isinstance(obj, Classification):
                data.tags.append(ex.tag(obj, fl.index))
            elif getattr(obj, "index", None) is not None and not isinstance(obj, Segmentation):
                tracks.setdefault((path, obj.index), []).append((fl, obj))
            else:
                data.shapes.extend(ex.shapes(obj, fl.index, fl.width, fl.height))
    for (path, index), entries in sorted(tracks.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        data.tracks.extend(_tracks(ex, path, index, entries, size))
    return ex.specs.finish(), data, ex.warnings


def _tracks(ex: _Exporter, path: str, index: int, entries: list[tuple[FrameLabels, Any]],
            size: int) -> list[Track]:
    """The CVAT track(s) of one labelled object (``index``) of a field.

    Every frame is listed (``keyframe`` True/False), so the stored geometry of in-between
    frames is written as it is; CVAT keeps the keyframes and interpolates the rest itself.
    """
    entries = sorted(entries, key=lambda e: e[0].index)
    explicit = any(obj.keyframe is not None for _, obj in entries)
    out: list[Track] = []
    current: Track | None = None
    run: list[TrackedShape] = []
    prev_frame = -2
    for fl, obj in entries:
        shapes = ex.shapes(obj, fl.index, fl.width, fl.height)
        if len(shapes) != 1:
            ex.warnings.append(
                f"{path} track {index}: a label with {len(shapes)} shapes cannot be tracked "
                f"(frame {fl.index}); exported as standalone shapes")
            continue
        shape = shapes[0]
        new_run = fl.index != prev_frame + 1
        if current is not None and (shape.label_id != current.label_id
                                    or shape.type != current.shapes[0].type):
            ex.warnings.append(f"{path} track {index} changes label or shape type at task "
                               f"frame {fl.index}; continued as another CVAT track")
            _close_run(current, run, size)
            current = None
        if current is None:
            current = Track(frame=fl.index, label_id=shape.label_id, group=shape.group,
                            source=shape.source)
            out.append(current)
            new_run = True
        elif new_run:
            _close_run(current, run, size)
        if new_run:
            run = []
        key = new_run or not explicit or bool(obj.keyframe)
        tracked = _tracked(shape, fl.index, keyframe=key)
        current.shapes.append(tracked)
        run.append(tracked)
        for e_i, element in enumerate(shape.elements):
            if len(current.elements) <= e_i:
                current.elements.append(Track(frame=fl.index, label_id=element.label_id,
                                              group=0, source=element.source))
            current.elements[e_i].shapes.append(_tracked(element, fl.index, keyframe=key))
        prev_frame = fl.index
    if current is not None:
        _close_run(current, run, size)
    return out


def _tracked(shape: Shape, frame: int, *, keyframe: bool = True,
             outside: bool | None = None) -> TrackedShape:
    return TrackedShape(type=shape.type, frame=frame, occluded=shape.occluded,
                        outside=shape.outside if outside is None else outside,
                        z_order=shape.z_order, rotation=shape.rotation,
                        points=list(shape.points), attributes=list(shape.attributes),
                        keyframe=keyframe)


def _extrapolate(run: list[TrackedShape], frame: int) -> TrackedShape:
    """The ``outside`` keyframe ending a run at ``frame``: placed so that interpolating from
    the run's last keyframe to it passes through the last frame (CVAT interpolates towards an
    ``outside`` keyframe), i.e. on the line from that keyframe through the last frame."""
    last = run[-1]
    key = next((s for s in reversed(run) if s.keyframe), run[0])
    points = list(last.points)
    rotation = last.rotation
    if key is not last and len(key.points) == len(last.points) and last.type != "mask":
        t = (frame - key.frame) / (last.frame - key.frame)
        points = [k + (v - k) * t for k, v in zip(key.points, last.points, strict=True)]
    return last.model_copy(update={"frame": frame, "keyframe": True, "outside": True,
                                   "points": points, "rotation": rotation})


def _close_run(track: Track, run: list[TrackedShape], size: int) -> None:
    """End a run of visible frames with an ``outside`` keyframe (unless the task ends)."""
    if not run or run[-1].frame + 1 >= size:
        return
    frame = run[-1].frame + 1
    track.shapes.append(_extrapolate(run, frame))
    for element in track.elements:
        mine = [s for s in element.shapes if run[0].frame <= s.frame <= run[-1].frame]
        if mine:
            element.shapes.append(_extrapolate(mine, frame))


# -- CVAT -> labels ----------------------------------------------------------------------------
class _Importer:
    def __init__(self, specs: Iterable[LabelSpec]) -> None:
        self.by_id: dict[int, LabelSpec] = {}
        self.parent: dict[int, LabelSpec] = {}
        self.attr: dict[int, AttributeSpec] = {}
        for spec in specs:
            self._add(spec)
        self.warnings: list[str] = []

    def _add(self, spec: LabelSpec) -> None:
        if spec.id is not None:
            self.by_id[spec.id] = spec
        for a in spec.attributes:
            if a.id is not None:
                self.attr[a.id] = a
        for sub in spec.sublabels:
            self.parent[sub.id or -1] = spec
            self._add(sub)

    def attributes(self, values: Iterable[AttributeValue]) -> tuple[dict[str, Any], str | None]:
        out: dict[str, Any] = {}
        label_id = None
        for v in values:
            spec = self.attr.get(v.spec_id)
            if spec is None:
                continue
            if spec.name == LABEL_ID_ATTR:
                label_id = v.value or None
                continue
            out[spec.name] = parse_value(v.value, spec.input_type)
        return out, label_id

    @staticmethod
    def specials(attrs: dict[str, Any], occluded: bool, group: int, source: str | None,
                 ) -> None:
        if occluded:
            attrs[OCCLUDED] = True
        if group:
            attrs[GROUP_ID] = group
        if source and source not in _PLAIN_SOURCES:
            attrs[SOURCE] = source

    def objects(self, stype: str, label_id: int, points: list[float], rotation: float,
                z_order: int, attrs: dict[str, Any], w: int, h: int,
                elements: list[Shape | TrackedShape] | None = None,
                element_labels: list[int] | None = None) -> tuple[str, Any] | None:
        name = self.by_id[label_id].name
        z = z_order or None
        if stype == "rectangle":
            return "detections", Detection(label=name, bounding_box=box_rel(points, w, h),
                                           rotation=rotation or None, z_order=z,
                                           attributes=attrs)
        if stype == "ellipse":
            cx, cy, x2, y2 = points
            rx, ry = x2 - cx, cy - y2
            box = box_rel([cx - rx, cy - ry, cx + rx, cy + ry], w, h)
            attrs[SHAPE] = "ellipse"
            return "detections", Detection(label=name, bounding_box=box,
                                           rotation=rotation or None, z_order=z,
                                           attributes=attrs)
        if stype == "cuboid":
            xs, ys = points[0::2], points[1::2]
            box = box_rel([min(xs), min(ys), max(xs), max(ys)], w, h)
            attrs[SHAPE] = "cuboid"
            attrs[CUBOID] = ",".join(
                repr(rel(v, w if i % 2 == 0 else h)) for i, v in enumerate(points))
            return "detections", Detection(label=name, bounding_box=box, z_order=z,
                                           attributes=attrs)
        if stype == "mask":
            left, top, right, bottom = (int(v) for v in points[-4:])
            mw, mh = right - left + 1, bottom - top + 1
            counts = [int(v) for v in points[:-4]]
            box = box_rel([left, top, right + 1, bottom + 1], w, h)
            return "detections", Detection(label=name, bounding_box=box, z_order=z,
                                           mask=BinaryMask(size=(mh, mw), counts=counts),
                                           attributes=attrs)
        if rotation:
            attrs[ROTATION] = rotation
        if stype in ("polygon", "polyline"):
            pts = [(rel(points[i], w), rel(points[i + 1], h))
                   for i in range(0, len(points) - 1, 2)]
            closed = stype == "polygon"
            return "polylines", Polyline(label=name, points=[pts], closed=closed,
                                         filled=closed, z_order=z, attributes=attrs)
        if stype == "points":
            pts = [(rel(points[i], w), rel(points[i + 1], h))
                   for i in range(0, len(points) - 1, 2)]
            return "keypoints", Keypoint(label=name, points=pts, z_order=z, attributes=attrs)
        if stype == "skeleton":
            spec = self.by_id[label_id]
            order = [s.id for s in spec.sublabels]
            by_label = dict(zip(element_labels or [], elements or [], strict=False))
            if not order:
                order = list(by_label)
            kp: list[tuple[float, float] | None] = []
            names: list[str] = []
            occluded: list[str] = []
            for i, sub_id in enumerate(order):
                e = by_label.get(sub_id) if sub_id is not None else None
                names.append(self.by_id[sub_id].name if sub_id is not None and sub_id in self.by_id
                             else str(i + 1))
                if e is None or e.outside or len(e.points) < 2:
                    kp.append(None)
                else:
                    kp.append((rel(e.points[0], w), rel(e.points[1], h)))
                if e is not None and e.occluded:
                    occluded.append(str(i))
                if e is not None and e.attributes:
                    self.warnings.append(
                        f"attributes of skeleton element {names[-1]!r} are not kept")
            attrs[SHAPE] = "skeleton"
            attrs[ELEMENTS] = ";".join(names)
            if occluded:
                attrs[OCCLUDED_POINTS] = ",".join(occluded)
            return "keypoints", Keypoint(label=name, points=kp, z_order=z, attributes=attrs)
        self.warnings.append(f"CVAT shape type {stype!r} is not supported; skipped")
        return None


def from_cvat(data: LabeledData, specs: Iterable[LabelSpec],
              sizes: list[tuple[int, int]]) -> tuple[list[Imported], list[str]]:
    """The labels of a task's annotations, per task-relative frame (``sizes[frame]`` is the
    frame's ``(width, height)``); tracks expanded to every visible frame."""
    imp = _Importer(specs)
    out: list[Imported] = []
    n = len(sizes)
    for tag in data.tags:
        if not 0 <= tag.frame < n:
            continue
        attrs, lid = imp.attributes(tag.attributes)
        imp.specials(attrs, False, tag.group or 0, tag.source)
        out.append(Imported(tag.frame, "classifications",
                            Classification(label=imp.by_id[tag.label_id].name, attributes=attrs),
                            lid))
    for shape in data.shapes:
        if not 0 <= shape.frame < n:
            continue
        w, h = sizes[shape.frame]
        attrs, lid = imp.attributes(shape.attributes)
        imp.specials(attrs, shape.occluded, shape.group or 0, shape.source)
        made = imp.objects(shape.type, shape.label_id, shape.points, shape.rotation,
                           shape.z_order, attrs, w, h, list(shape.elements),
                           [e.label_id for e in shape.elements])
        if made is not None:
            out.append(Imported(shape.frame, made[0], made[1], lid))
    for number, track in enumerate(data.tracks, start=1):
        element_frames: list[tuple[int, dict[int, TrackedShape]]] = [
            (el.label_id, {s.frame: s for s in track_frames(el, n, include_outside=True)})
            for el in track.elements
        ]
        visible = []
        for ts in track_frames(track, n):
            elements = [(lab, frames[ts.frame]) for lab, frames in element_frames
                        if ts.frame in frames]
            if ts.outside or (elements and all(e.outside for _, e in elements)):
                continue  # a skeleton is hidden when all its elements are (CVAT's rule)
            visible.append((ts, elements))
        single = len(visible) == 1  # CVAT's form of a standalone shape: not a track for us
        for ts, elements in visible:
            w, h = sizes[ts.frame]
            attrs, lid = imp.attributes(list(ts.attributes) + list(track.attributes))
            imp.specials(attrs, ts.occluded, track.group or 0, track.source)
            made = imp.objects(ts.type, track.label_id, ts.points, ts.rotation, ts.z_order,
                               attrs, w, h, [e for _, e in elements], [lab for lab, _ in elements])
            if made is None:
                continue
            obj = made[1]
            if single:
                out.append(Imported(ts.frame, made[0], obj, lid))
                continue
            obj.index = number
            obj.keyframe = bool(ts.keyframe)
            out.append(Imported(ts.frame, made[0], obj, lid, number))
    return _merge_polylines(out), imp.warnings


def _merge_polylines(items: list[Imported]) -> list[Imported]:
    """Polygons exported from one multi-part Polyline share its label id: join them again."""
    merged: list[Imported] = []
    seen: dict[tuple[int, str, str], Imported] = {}
    for item in items:
        key = (item.frame, item.kind, item.label_id or "")
        if item.kind == "polylines" and item.label_id and key in seen:
            first = seen[key].obj
            if (first.label == item.obj.label and first.closed == item.obj.closed
                    and first.attributes == item.obj.attributes):
                first.points.extend(item.obj.points)
                continue
        if item.label_id:
            seen.setdefault(key, item)
        merged.append(item)
    return merged


def _geometry(obj: Any, w: int, h: int) -> list[tuple[str, list[float], float]]:
    ex = _Exporter()
    return [(s.type, s.points, s.rotation) for s in ex.shapes(obj, 0, w, h)]


def same_geometry(a: Any, b: Any, w: int, h: int) -> bool:
    """``a`` and ``b`` are written to XML with the same shapes and pixels."""
    if type(a) is not type(b) or isinstance(a, (Classification, Segmentation)):
        return False
    try:
        return _geometry(a, w, h) == _geometry(b, w, h)
    except (TypeError, ValueError):
        return False


def keep_geometry(stored: Any, imported: Any, w: int, h: int) -> None:
    """Give ``imported`` the stored coordinates of ``stored`` when both give the same pixels,
    so re-importing an unchanged label leaves its file untouched."""
    if w <= 0 or h <= 0 or not same_geometry(stored, imported, w, h):
        return
    if getattr(stored, "keyframe", False) is None and hasattr(imported, "keyframe"):
        imported.keyframe = None  # "unspecified" stays so for an unchanged label
    for name in ("bounding_box", "points", "mask"):
        if hasattr(stored, name):
            setattr(imported, name, getattr(stored, name))
    cuboid = stored.attributes.get(CUBOID)
    if cuboid is not None and CUBOID in imported.attributes:
        imported.attributes[CUBOID] = cuboid


#: Label fields CVAT XML has no place for: a merged label keeps its stored values.
NOT_IN_XML = ("confidence", "tags", "mask_path")


def carry_over(stored: Any, imported: Any) -> None:
    """Copy into ``imported`` what the XML could not carry from the ``stored`` label it
    merges into (confidence, label tags, a mask file path; the track ``index`` and ``keyframe``
    when the file had no track for it, as in the images layout of a video)."""
    for name in NOT_IN_XML:
        if hasattr(stored, name) and hasattr(imported, name) and not getattr(imported, name):
            setattr(imported, name, getattr(stored, name))
    if getattr(imported, "index", None) is None and getattr(stored, "index", None) is not None:
        imported.index = stored.index
        imported.keyframe = stored.keyframe
