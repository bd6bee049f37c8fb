"""CVAT XML shapes, tags and tracks <-> annosync labels, directly and without loss.

Why not through CVAT's JSON (``bridge.py``): the JSON API keeps only keyframes and drops what the
XML says about ``outside`` frames, element attributes and sources; a dataset made from an XML
file must give the *same* file back (``canonical.py``). So each XML shape maps to one label
(a ``Polyline`` with several parts to several shapes), and what the label model has no field for
travels in attributes with the reserved ``cvat.`` prefix:

==========================  ==========================================================
``cvat.source``             ``source`` other than ``manual`` (CVAT's default)
``cvat.occluded``           ``true`` when occluded
``cvat.group_id``           a non-zero ``group_id``
``cvat.rotation``           rotation of a shape kind the label has no ``rotation`` for
``cvat.shape``              ``ellipse`` / ``cuboid`` (a ``Detection``), ``skeleton``
``cvat.cuboid``             the cuboid's 16 relative values
``cvat.elements``           skeleton element labels, ``a;b;c`` in file order
``cvat.occluded_points``    indices of occluded skeleton elements (``1,3``)
``cvat.element_details``    JSON: per element index what the points cannot say (the
                            coordinates of an ``outside`` element, its attributes, a
                            source, group, z_order or keyframe of its own)
``cvat.outside_after``      JSON list of the ``outside`` shapes that follow this label in
                            its track (pixels, as written); ``[]``: the file had none
``cvat.outside_before``     the same for ``outside`` shapes before a track's first label
==========================  ==========================================================

Coordinates go through ``pixels.py``; attribute values come back typed by the label's spec
(``checkbox`` -> bool, ``number`` -> int/float) only when the text is the value's own spelling,
so every value is written back as it was read.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from annosync.cvatxml.model import COORD_ATTRS, Attr, Mask, Shape, Tag, Track
from annosync.cvatxml.pixels import box_px, box_rel, px, rel, snap
from annosync.model.labels import (
    BinaryMask,
    Classification,
    Detection,
    Keypoint,
    Polyline,
    Segmentation,
)

SOURCE = "cvat.source"
OCCLUDED = "cvat.occluded"
GROUP_ID = "cvat.group_id"
ROTATION = "cvat.rotation"
SHAPE = "cvat.shape"
CUBOID = "cvat.cuboid"
ELEMENTS = "cvat.elements"
OCCLUDED_POINTS = "cvat.occluded_points"
ELEMENT_DETAILS = "cvat.element_details"
OUTSIDE_AFTER = "cvat.outside_after"
OUTSIDE_BEFORE = "cvat.outside_before"
PREFIX = "cvat."
LABEL_ID_ATTR = "label_id"
DEFAULT_SOURCE = "manual"

#: input types by label name, then attribute name (from the document's meta)
AttrTypes = dict[str, dict[str, str]]

_INT = re.compile(r"^-?[0-9]+$")


# -- attribute values --------------------------------------------------------------------------
def typed_value(text: str, input_type: str | None) -> Any:
    """The attribute text as the scalar its spec says, when that reads back as the same text."""
    if input_type == "checkbox":
        if text == "true":
            return True
        if text == "false":
            return False
        return text
    if input_type == "number":
        if _INT.match(text):
            value = int(text)
            return value if str(value) == text else text
        try:
            number = float(text)
        except ValueError:
            return text
        return number if math.isfinite(number) and repr(number) == text else text
    return text


def value_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _read_attrs(attributes: Sequence[Attr], types: dict[str, str]
                ) -> tuple[dict[str, Any], str | None]:
    out: dict[str, Any] = {}
    label_id = None
    for a in attributes:
        if a.name == LABEL_ID_ATTR:  # reserved: annosync's provenance key
            label_id = a.value or None
            continue
        out[a.name] = typed_value(a.value, types.get(a.name))
    return out, label_id


def user_attrs(attributes: dict[str, Any]) -> list[Attr]:
    """The label's own attributes (not ``cvat.``), as XML attributes sorted by name."""
    out: list[Attr] = []
    for k in sorted(attributes):
        v = attributes[k]
        if v is None or k.startswith(PREFIX):
            continue
        out.append(Attr(k, v if type(v) is str else value_text(v)))
    return out


# -- shapes as JSON (outside frames, element details) ------------------------------------------
def _outside_json(s: Shape) -> dict[str, Any]:
    """An ``outside`` frame as stored (without a ``label_id``: ids belong to labels)."""
    data = shape_to_json(s)
    if "attributes" in data:
        data["attributes"] = [a for a in data["attributes"] if a[0] != LABEL_ID_ATTR]
        if not data["attributes"]:
            del data["attributes"]
    return data


def shape_to_json(s: Shape) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": s.kind}
    for name in ("label", "source", "frame", "keyframe", "outside", "occluded", "rotation",
                 "z_order", "group_id"):
        value = getattr(s, name)
        if value is not None:
            out[name] = value
    if s.points is not None:
        out["points"] = s.points
    if s.mask is not None:
        m = s.mask
        out["mask"] = [m.rle, m.left, m.top, m.width, m.height]
    if s.attributes:
        out["attributes"] = [[a.name, a.value] for a in s.attributes]
    if s.elements:
        out["elements"] = [shape_to_json(e) for e in s.elements]
    return out


def shape_from_json(data: Any) -> Shape:
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str) or \
            data["kind"] not in ("box", "polygon", "polyline", "points", "ellipse", "cuboid",
                                 "mask", "skeleton"):
        raise ValueError("not a CVAT shape")
    s = Shape(kind=data["kind"])
    for name, kinds in (("label", str), ("source", str), ("frame", int), ("keyframe", bool),
                        ("outside", bool), ("occluded", bool), ("rotation", (int, float)),
                        ("z_order", int), ("group_id", int)):
        if name in data:
            if not isinstance(data[name], kinds):
                raise ValueError(f"bad {name}")
            setattr(s, name, data[name])
    if "points" in data:
        pts = data["points"]
        if not isinstance(pts, list) or not all(isinstance(v, (int, float)) for v in pts):
            raise ValueError("bad points")
        s.points = [float(v) for v in pts]
    if "mask" in data:
        rle, left, top, width, height = data["mask"]
        s.mask = Mask([int(v) for v in rle], int(left), int(top), int(width), int(height))
    s.attributes = [Attr(str(n), str(v)) for n, v in data.get("attributes", [])]
    s.elements = [shape_from_json(e) for e in data.get("elements", [])]
    return s


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def load_shapes(text: Any, where: str) -> list[Shape]:
    """The shapes of a ``cvat.outside_*`` attribute (``ValueError`` naming ``where``)."""
    try:
        data = json.loads(text) if isinstance(text, str) else None
        if not isinstance(data, list):
            raise ValueError("not a list")
        return [shape_from_json(d) for d in data]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{where}: attribute {text!r:.60} is not a list of CVAT shapes "
                         f"({exc})") from None


# -- XML -> labels -----------------------------------------------------------------------------
@dataclass
class Converted:
    """One label made from one XML shape or tag."""

    kind: str  # detections | polylines | keypoints | classifications
    obj: Any
    label_id: str | None


def _specials(attrs: dict[str, Any], source: str | None, occluded: bool | None,
              group_id: int | None) -> None:
    if occluded:
        attrs[OCCLUDED] = True
    if group_id:
        attrs[GROUP_ID] = group_id
    if source is not None and source != DEFAULT_SOURCE:
        attrs[SOURCE] = source


def _xy(points: list[float], w: int, h: int) -> list[tuple[float, float]]:
    return [(rel(points[i], w), rel(points[i + 1], h)) for i in range(0, len(points) - 1, 2)]


def _element_details(s: Shape, e: Shape, w: int, h: int, in_track: bool) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if e.outside and e.points and len(e.points) >= 2 and (e.points[0], e.points[1]) != (0, 0):
        d["xy"] = [rel(e.points[0], w), rel(e.points[1], h)]  # (0, 0) is what export writes
    if e.attributes:
        d["attributes"] = [[a.name, a.value] for a in e.attributes]
    if (e.source or DEFAULT_SOURCE) != (s.source or DEFAULT_SOURCE) and not in_track:
        d["source"] = e.source or DEFAULT_SOURCE
    if e.group_id:
        d["group_id"] = e.group_id
    if e.z_order is not None:
        d["z_order"] = e.z_order
    if e.rotation:
        d["rotation"] = e.rotation
    if in_track and bool(e.keyframe) != bool(s.keyframe):
        d["keyframe"] = bool(e.keyframe)
    return d


def shape_to_label(s: Shape, label: str, w: int, h: int, types: dict[str, str], *,
                   in_track: bool = False,
                   box: tuple[float, float, float, float] | None = None) -> Converted:
    """One XML shape as a label (relative coordinates over a ``w`` x ``h`` frame). ``box``: a
    box's ``box_rel(points, w, h)`` when the caller has it already (``pixvec.image_boxes``)."""
    attrs, label_id = _read_attrs(s.attributes, types)
    _specials(attrs, s.source, s.occluded, s.group_id)
    z = s.z_order or None
    kind = s.kind
    pts = s.points or []
    if kind == "box":
        return Converted("detections", Detection(
            label=label, bounding_box=box or box_rel(pts, w, h), rotation=s.rotation or None,
            z_order=z, attributes=attrs), label_id)
    if kind == "ellipse":
        cx, cy, rx, ry = pts
        attrs[SHAPE] = "ellipse"
        box = box_rel([snap(cx - rx), snap(cy - ry), snap(cx + rx), snap(cy + ry)], w, h)
        return Converted("detections", Detection(
            label=label, bounding_box=box, rotation=s.rotation or None, z_order=z,
            attributes=attrs), label_id)
    if kind == "cuboid":
        xs, ys = pts[0::2], pts[1::2]
        attrs[SHAPE] = "cuboid"
        attrs[CUBOID] = ",".join(repr(rel(v, w if i % 2 == 0 else h)) for i, v in enumerate(pts))
        if s.rotation:
            attrs[ROTATION] = s.rotation
        return Converted("detections", Detection(
            label=label, bounding_box=box_rel([min(xs), min(ys), max(xs), max(ys)], w, h),
            z_order=z, attributes=attrs), label_id)
    if kind == "mask":
        m = s.mask
        assert m is not None
        if s.rotation:
            attrs[ROTATION] = s.rotation
        box = box_rel([m.left, m.top, m.left + m.width, m.top + m.height], w, h)
        return Converted("detections", Detection(
            label=label, bounding_box=box, z_order=z, attributes=attrs,
            mask=BinaryMask(size=(m.height, m.width), counts=list(m.rle))), label_id)
    if s.rotation:
        attrs[ROTATION] = s.rotation
    if kind in ("polygon", "polyline"):
        closed = kind == "polygon"
        return Converted("polylines", Polyline(
            label=label, points=[_xy(pts, w, h)], closed=closed, filled=closed, z_order=z,
            attributes=attrs), label_id)
    if kind == "points":
        return Converted("keypoints", Keypoint(
            label=label, points=_xy(pts, w, h), z_order=z, attributes=attrs), label_id)
    # skeleton
    names: list[str] = []
    points: list[tuple[float, float] | None] = []
    occluded: list[str] = []
    details: dict[str, Any] = {}
    for i, e in enumerate(s.elements):
        names.append(e.label or "")
        if e.outside or not e.points or len(e.points) < 2:
            points.append(None)
        else:
            points.append((rel(e.points[0], w), rel(e.points[1], h)))
        if e.occluded:
            occluded.append(str(i))
        d = _element_details(s, e, w, h, in_track)
        if d:
            details[str(i)] = d
    attrs[SHAPE] = "skeleton"
    attrs[ELEMENTS] = ";".join(names)
    if occluded:
        attrs[OCCLUDED_POINTS] = ",".join(occluded)
    if details:
        attrs[ELEMENT_DETAILS] = _dumps(details)
    return Converted("keypoints", Keypoint(label=label, points=points, z_order=z,
                                           attributes=attrs), label_id)


def tag_to_label(t: Tag, types: dict[str, str]) -> Converted:
    attrs, label_id = _read_attrs(t.attributes, types)
    _specials(attrs, t.source, None, t.group_id)
    return Converted("classifications", Classification(label=t.label, attributes=attrs),
                     label_id)


def is_outside(s: Shape) -> bool:
    """A track frame that shows nothing: ``outside``, or a skeleton whose elements all are."""
    if s.kind == "skeleton":
        return bool(s.elements) and all(e.outside for e in s.elements)
    return bool(s.outside)


@dataclass
class TrackFrame:
    """One visible frame of an XML track, as a label (``frame``: absolute XML frame)."""

    frame: int
    converted: Converted


def track_to_labels(t: Track, size_of: Callable[[int], tuple[int, int]],
                    types: dict[str, str], next_frame: Callable[[int], int | None]
                    ) -> list[TrackFrame]:
    """Every visible frame of a track as a label (with ``keyframe``); its ``outside`` frames
    ride along in ``cvat.outside_after`` / ``cvat.outside_before`` (see the module docstring).
    ``next_frame(f)``: the task frame after absolute frame ``f``, None at the end."""
    shapes = sorted(t.shapes, key=lambda s: s.frame or 0)
    out: list[TrackFrame] = []
    pending: list[Shape] = []
    # a skeleton track whose elements are outside on every frame is still a track for CVAT
    # (its importer reads no ``outside`` on <skeleton>): its first frame stays a label
    keep = shapes[0] if shapes and shapes[0].kind == "skeleton" and \
        all(is_outside(s) for s in shapes) else None
    for s in shapes:
        if is_outside(s) and s is not keep:
            pending.append(s)
            continue
        frame = s.frame or 0
        w, h = size_of(frame)
        shape = Shape(kind=s.kind, source=t.source, occluded=s.occluded, points=s.points,
                      mask=s.mask, rotation=s.rotation, z_order=s.z_order, group_id=t.group_id,
                      keyframe=s.keyframe, attributes=s.attributes, elements=s.elements)
        c = shape_to_label(shape, t.label, w, h, types, in_track=True)
        c.obj.keyframe = bool(s.keyframe)
        if pending:
            key = OUTSIDE_AFTER if out else OUTSIDE_BEFORE
            target = out[-1].converted.obj if out else c.obj
            target.attributes[key] = _dumps([_outside_json(p) for p in pending])
            pending = []
        elif out and next_frame(out[-1].frame) != frame:
            out[-1].converted.obj.attributes[OUTSIDE_AFTER] = "[]"  # a gap the file left open
        out.append(TrackFrame(frame, c))
    if out:
        last = out[-1]
        if pending:
            last.converted.obj.attributes[OUTSIDE_AFTER] = _dumps(
                [_outside_json(p) for p in pending])
        elif next_frame(last.frame) is not None:
            last.converted.obj.attributes[OUTSIDE_AFTER] = "[]"
    return out


# -- labels -> XML -----------------------------------------------------------------------------
def _int_attr(attrs: dict[str, Any], name: str) -> int | None:
    v = attrs.get(name)
    return v if isinstance(v, int) and not isinstance(v, bool) and v else None


def _source(attrs: dict[str, Any]) -> str:
    v = attrs.get(SOURCE)
    return v if isinstance(v, str) and v else DEFAULT_SOURCE


def _float_attr(attrs: dict[str, Any], name: str) -> float | None:
    v = attrs.get(name)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v else None


def _index_set(value: Any) -> set[int]:
    if not isinstance(value, str) or not value:
        return set()
    return {int(v) for v in value.split(",") if v.strip().isdigit()}


class Unexportable(ValueError):
    """A label with no CVAT XML form (reported as a warning, not written)."""


def label_to_shapes(obj: Any, w: int, h: int, *, label_id: bool = False,
                    in_track: bool = False, box: list[float] | None = None) -> list[Shape]:
    """The XML shape(s) of one spatial label (images-layout fields set: label, source,
    occluded, coordinates, rotation, z_order, group_id, attributes, skeleton elements).
    ``box``: a ``Detection``'s ``box_px(bounding_box, w, h)`` when the caller has it already
    (``pixvec.boxes_px``)."""
    attrs = obj.attributes
    xml_attrs = user_attrs(attrs)
    if label_id:
        xml_attrs.insert(0, Attr(LABEL_ID_ATTR, obj.id))
    base = {"label": obj.label, "source": _source(attrs), "occluded": attrs.get(OCCLUDED) is True,
            "z_order": getattr(obj, "z_order", None) or 0, "group_id": _int_attr(attrs, GROUP_ID),
            "attributes": xml_attrs}
    shape_kind = attrs.get(SHAPE)
    if isinstance(obj, Segmentation):
        raise Unexportable("segmentation")
    if isinstance(obj, Detection):
        _x, _y, _bw, _bh = obj.bounding_box
        if shape_kind == "ellipse":
            xtl, ytl, xbr, ybr = box_px(obj.bounding_box, w, h)
            pts = [snap((xtl + xbr) / 2), snap((ytl + ybr) / 2), snap((xbr - xtl) / 2),
                   snap((ybr - ytl) / 2)]
            return [Shape("ellipse", points=pts, rotation=obj.rotation or None, **base)]
        if shape_kind == "cuboid" and isinstance(attrs.get(CUBOID), str):
            values = [float(v) for v in str(attrs[CUBOID]).split(",")]
            if len(values) != 16:
                raise Unexportable("cuboid without 16 values")
            pts = [px(v, w if i % 2 == 0 else h) for i, v in enumerate(values)]
            return [Shape("cuboid", points=pts, rotation=_float_attr(attrs, ROTATION), **base)]
        if obj.mask is not None:
            return [Shape("mask", mask=_mask(obj, w, h), rotation=_float_attr(attrs, ROTATION),
                          **base)]
        return [Shape("box", points=box or box_px(obj.bounding_box, w, h),
                      rotation=obj.rotation or None, **base)]
    rotation = _float_attr(attrs, ROTATION)
    if isinstance(obj, Polyline):
        kind = "polygon" if obj.closed and obj.filled else "polyline"
        return [Shape(kind, points=[c for x, y in line for c in (px(x, w), px(y, h))],
                      rotation=rotation, **base) for line in obj.points]
    if isinstance(obj, Keypoint):
        if shape_kind == "skeleton":
            return [_skeleton(obj, w, h, base, rotation, in_track)]
        present = [p for p in obj.points if p is not None]
        if not present:
            raise Unexportable("keypoints without points")
        return [Shape("points", points=[c for x, y in present for c in (px(x, w), px(y, h))],
                      rotation=rotation, **base)]
    raise Unexportable(type(obj).__name__)


def _mask(obj: Detection, w: int, h: int) -> Mask:
    assert obj.mask is not None
    x, y, bw, bh = obj.bounding_box
    left, top = round(px(x, w)), round(px(y, h))
    mh, mw = obj.mask.size
    width = max(round(px(x + bw, w)) - left, 1)
    height = max(round(px(y + bh, h)) - top, 1)
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
    return Mask(counts, left, top, width, height)


def _skeleton(obj: Keypoint, w: int, h: int, base: dict[str, Any], rotation: float | None,
              in_track: bool) -> Shape:
    attrs = obj.attributes
    names_attr = attrs.get(ELEMENTS)
    names = str(names_attr).split(";") if isinstance(names_attr, str) and names_attr \
        else [str(i + 1) for i in range(len(obj.points))]
    occluded = _index_set(attrs.get(OCCLUDED_POINTS))
    details: dict[str, Any] = {}
    if isinstance(attrs.get(ELEMENT_DETAILS), str):
        try:
            loaded = json.loads(str(attrs[ELEMENT_DETAILS]))
            details = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            details = {}
    elements = []
    for i, name in enumerate(names):
        p = obj.points[i] if i < len(obj.points) else None
        d = details.get(str(i), {})
        d = d if isinstance(d, dict) else {}
        if p is None:
            xy = d.get("xy") or [0.0, 0.0]
            p = (float(xy[0]), float(xy[1]))
            outside = True
        else:
            outside = False
        e = Shape("points", label=name, outside=outside, occluded=i in occluded,
                  points=[px(p[0], w), px(p[1], h)],
                  attributes=[Attr(str(n), str(v)) for n, v in d.get("attributes", [])])
        if not in_track:
            e.source = str(d.get("source") or base["source"])
        if isinstance(d.get("group_id"), int) and d["group_id"]:
            e.group_id = d["group_id"]
        if isinstance(d.get("z_order"), int):
            e.z_order = d["z_order"]
        if isinstance(d.get("rotation"), (int, float)) and d["rotation"]:
            e.rotation = float(d["rotation"])
        if isinstance(d.get("keyframe"), bool):
            e.keyframe = d["keyframe"]
        elements.append(e)
    base = dict(base)
    base.pop("occluded")
    return Shape("skeleton", rotation=rotation, elements=elements, **base)


def segmentation_to_shapes(obj: Segmentation, w: int, h: int, targets: dict[int, str],
                           mask: Any = None) -> list[Shape]:
    """A semantic segmentation as CVAT ``mask`` shapes: one per non-zero pixel value that
    ``targets`` names (value -> label), RLE over the value's tight box. The index mask is
    scaled to the frame (nearest pixel) when its size differs."""
    import numpy as np

    arr = mask if mask is not None else (obj.mask.to_array() if obj.mask is not None else None)
    if arr is None:
        raise Unexportable("segmentation without a mask")
    arr = np.asarray(arr)
    mh, mw = arr.shape[:2]
    if (mh, mw) != (h, w) and mh and mw:
        rows = (np.arange(h) * mh // h).clip(0, mh - 1)
        cols = (np.arange(w) * mw // w).clip(0, mw - 1)
        arr = arr[rows][:, cols]
    out: list[Shape] = []
    attrs = obj.attributes
    for value in sorted(int(v) for v in np.unique(arr) if int(v) != 0):
        label = targets.get(value)
        if label is None:
            continue
        ys, xs = np.nonzero(arr == value)
        top, bottom, left, right = int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
        box = arr[top:bottom + 1, left:right + 1] == value
        counts = BinaryMask.from_array(box).counts
        out.append(Shape("mask", label=label, source=_source(attrs),
                         occluded=attrs.get(OCCLUDED) is True, z_order=0,
                         group_id=_int_attr(attrs, GROUP_ID), attributes=user_attrs(attrs),
                         mask=Mask(counts, left, top, right - left + 1, bottom - top + 1)))
    return out


def label_to_tag(obj: Classification, *, label_id: bool = False) -> Tag:
    attrs = user_attrs(obj.attributes)
    if label_id:
        attrs.insert(0, Attr(LABEL_ID_ATTR, obj.id))
    return Tag(label=obj.label, source=_source(obj.attributes),
               group_id=_int_attr(obj.attributes, GROUP_ID), attributes=attrs)


def image_shape(s: Shape) -> Shape:
    """A shape in the images layout's form (what the dumper writes for it)."""
    s.frame = s.keyframe = None
    if s.kind == "skeleton":
        s.occluded = None
        for e in s.elements:
            e.keyframe = None
            e.z_order = e.z_order if e.z_order is not None else None
    else:
        s.outside = None
    return s


def track_shape(s: Shape, frame: int, keyframe: bool, outside: bool = False) -> Shape:
    """A shape as one frame of a ``<track>`` (label, source, group move to the track)."""
    s.label = s.source = s.group_id = None
    s.frame = frame
    s.keyframe = keyframe
    if s.kind == "skeleton":
        s.outside = s.occluded = None
        for e in s.elements:
            e.source = None
            if e.keyframe is None:
                e.keyframe = keyframe
            if outside:
                e.outside = True
    else:
        s.outside = outside
    return s


def extrapolated_outside(run: Sequence[tuple[int, Shape]], frame: int) -> Shape:
    """The ``outside`` keyframe ending a run at ``frame``: on the line from the run's last
    keyframe through its last frame (CVAT interpolates towards an ``outside`` keyframe)."""
    last_frame, last = run[-1]
    key_frame, key = next(((f, s) for f, s in reversed(run) if s.keyframe), run[0])
    points = list(last.points) if last.points is not None else None
    if key is not last and points is not None and key.points is not None \
            and len(key.points) == len(points) and last.kind not in ("mask", "skeleton") \
            and last_frame != key_frame:
        t = (frame - key_frame) / (last_frame - key_frame)
        points = [snap(k + (v - k) * t) for k, v in zip(key.points, points, strict=True)]
    elements = [Shape(e.kind, label=e.label, keyframe=True, outside=True, occluded=e.occluded,
                      points=list(e.points or []), attributes=list(e.attributes))
                for e in last.elements]
    return Shape(last.kind, frame=frame, keyframe=True, outside=None if last.kind == "skeleton"
                 else True, occluded=last.occluded, points=points, mask=last.mask,
                 rotation=last.rotation, z_order=last.z_order, attributes=list(last.attributes),
                 elements=elements)


def labels_to_track(entries: Sequence[tuple[int, Any, int, int]], *, next_frame:
                    Callable[[int], int | None], label_id: bool = False,
                    warn: Callable[[str], None] = lambda _m: None) -> Track | None:
    """One ``<track>`` from the labels of one object (``entries``: absolute frame, label,
    frame width, height; labels share ``index``), with its ``outside`` frames."""
    entries = sorted(entries, key=lambda e: e[0])
    first = entries[0][1]
    track = Track(label=first.label, source=_source(first.attributes),
                  group_id=_int_attr(first.attributes, GROUP_ID))
    recorded = any(OUTSIDE_AFTER in o.attributes or OUTSIDE_BEFORE in o.attributes
                   for _, o, _, _ in entries)
    shapes: list[Shape] = []
    run: list[tuple[int, Shape]] = []
    before = first.attributes.get(OUTSIDE_BEFORE)
    if before is not None:
        for s in load_shapes(before, f"label {first.id}"):
            shapes.append(s)
    for i, (frame, obj, w, h) in enumerate(entries):
        made = label_to_shapes(obj, w, h, label_id=label_id, in_track=True)
        if len(made) != 1:
            warn(f"track label {obj.id}: a polyline with {len(made)} parts cannot be one track "
                 "frame; its first part is written")
        new_run = not run or next_frame(run[-1][0]) != frame
        if obj.keyframe is None or (new_run and not recorded):
            keyframe = True
        else:
            keyframe = bool(obj.keyframe)
        shape = track_shape(made[0], frame, keyframe)
        shapes.append(shape)
        run = [*run, (frame, shape)] if not new_run else [(frame, shape)]
        nxt = entries[i + 1][0] if i + 1 < len(entries) else None
        if nxt is not None and next_frame(frame) == nxt:
            continue  # the run goes on
        after = obj.attributes.get(OUTSIDE_AFTER)
        if after is not None:
            for s in load_shapes(after, f"label {obj.id}"):
                if (s.frame or 0) > frame and (nxt is None or (s.frame or 0) < nxt):
                    shapes.append(s)
        else:
            end = next_frame(frame)
            if end is not None and (nxt is None or end < nxt):
                shapes.append(extrapolated_outside(run, end))
    track.shapes = shapes
    return track


def single_shape_track(shape: Shape, frame: int, next_frame: int | None) -> Track:
    """A standalone shape in the video layout: the shape, then an ``outside`` copy on the next
    task frame if there is one (CVAT's dumper wraps shapes the same way)."""
    track = Track(label=shape.label or "", source=shape.source, group_id=shape.group_id)
    first = _copy(shape)
    track.shapes.append(track_shape(first, frame, True))
    if next_frame is not None:
        track.shapes.append(track_shape(_copy(shape), next_frame, True, outside=True))
    return track


def _copy(s: Shape) -> Shape:
    return Shape(s.kind, label=s.label, source=s.source, frame=s.frame, keyframe=s.keyframe,
                 outside=s.outside, occluded=s.occluded,
                 points=list(s.points) if s.points is not None else None, mask=s.mask,
                 rotation=s.rotation, z_order=s.z_order, group_id=s.group_id,
                 attributes=list(s.attributes), elements=[_copy(e) for e in s.elements])


def copy_shape(s: Shape) -> Shape:
    return _copy(s)


def iter_attrs(items: Iterable[Any]) -> Iterable[tuple[str, str, Any]]:
    """(label, attribute name, value) of the labels' own attributes (for meta specs)."""
    for obj in items:
        for k, v in obj.attributes.items():
            if not k.startswith(PREFIX) and v is not None:
                yield obj.label, k, v


__all__ = [
    "COORD_ATTRS",
    "Converted",
    "TrackFrame",
    "Unexportable",
    "label_to_shapes",
    "label_to_tag",
    "labels_to_track",
    "shape_to_label",
    "single_shape_track",
    "tag_to_label",
    "track_to_labels",
    "typed_value",
    "value_text",
]
