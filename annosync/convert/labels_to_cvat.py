"""Labels -> CVAT annotation JSON for one task (``to_cvat``). Pure: frame sizes, the binding and,
for masks stored as files, a ``load_mask`` callback come from the caller.

What becomes what (conventions in docs/conversion.md):

- classification(s) -> tags; scalar fields -> one tag (class label, or the field's label with
  the value in its ``value`` attribute);
- detections -> ``rectangle`` ``[xtl, ytl, xbr, ybr]`` with the box's rotation; instances ->
  ``mask`` shapes (RLE + inclusive box, the mask resized to exactly its pixel box), boxes without
  a mask stay rectangles; polylines/polygons -> ``polyline``/``polygon`` (one shape per part);
  keypoints -> ``points`` (present points only; the gaps come back from ``PreviousLabels``);
  segmentation -> one ``mask`` shape per class present;
- video frame labels with an ``index`` -> tracks (one per index, and per part/class change); the
  keyframes are the labels flagged ``keyframe`` when the field uses the flag, else every label;
  the first label of every visible run is a keyframe; a run ending inside the task gets an
  ``outside`` marker on the next task frame, placed so that CVAT's interpolation reproduces the
  run's last labels, or else the run's last label becomes a keyframe: gaps and single-frame
  tracks are exact; immutable attributes go on the track, mutable ones and ``label_id`` on each
  keyframe; labels without an index -> standalone shapes;
- the class's occluded / group id attributes -> the object's ``occluded`` / ``group``; every
  object that has a label id carries it in ``label_id``.

Objects that cannot be sent (a class missing on the server, too few points, a mask off the
frame, a label on a frame the task does not show) are skipped and counted in ``notes``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from annosync.convert import attrs as attr_codec
from annosync.convert.binding import BoundLabel, BoundSchema
from annosync.convert.coords import box_to_abs, point_to_abs
from annosync.convert.frames import FrameMap
from annosync.convert.interpolate import angle_diff, interpolate
from annosync.convert.results import SentObject, Upload
from annosync.convert.specs import VALUE_ATTR
from annosync.model.cvat import AttributeValue, LabeledData, Shape, Tag, Track, TrackedShape
from annosync.model.labels import (
    Classification,
    Detection,
    Keypoint,
    Polyline,
    Segmentation,
    label_objects,
)
from annosync.model.sample import Sample
from annosync.model.schema import ResolvedClass, ResolvedField
from annosync.model.schema_rules import stringify

if TYPE_CHECKING:  # numpy and the mask codecs load only when a mask is converted
    import numpy as np

_M = TypeVar("_M", bound=BaseModel)

#: Reads a mask file (``mask_path``) into a 2-D array; the caller owns the I/O.
MaskLoader = Callable[[str], "np.ndarray"]


@dataclass(frozen=True)
class _BoxClass:
    """What ``_Emitter.box`` sends for every box of one class."""

    rc: ResolvedClass | None
    bl: BoundLabel
    #: the attributes sent as specs, each with its spec id, in ``attributes``' order
    pairs: tuple[tuple[Any, int], ...]
    label_spec: int | None
    #: whether an attribute of the class is wired to CVAT's occluded flag or group
    wires: bool


@dataclass
class _Geometry:
    type: str
    points: list[float]
    rotation: float = 0.0


def _rotation(value: float | None) -> float:
    if not value:
        return 0.0
    r = value % 360.0
    return 0.0 if r >= 360.0 else r


class _Emitter:
    def __init__(self, bound: BoundSchema, frames: FrameMap, load_mask: MaskLoader | None):
        self.bound = bound
        self.schema = bound.resolved
        self.frames = frames
        self.load_mask = load_mask
        self.tags: list[Tag] = []
        self.shapes: list[Shape] = []
        self.tracks: list[Track] = []
        self.sent_tags: list[SentObject] = []
        self.sent_shapes: list[SentObject] = []
        self.sent_tracks: list[SentObject] = []
        self.skipped: Counter[str] = Counter()
        #: by (field, class): what a plain box of that class needs (see ``box``)
        self._boxes: dict[tuple[str, str], _BoxClass] = {}

    # -- helpers -----------------------------------------------------------------------------
    def skip(self, path: str, why: str, n: int = 1) -> None:
        self.skipped[f"{path}: {why}"] += n

    def target(self, rf: ResolvedField, cls_name: str | None) -> tuple[ResolvedClass | None,
                                                                       BoundLabel] | None:
        if cls_name is None:
            bl = self.bound.label_for(rf.path, None)
            if bl is None:
                self.skip(rf.path, f"CVAT label {rf.value_cvat_name!r} missing on the server")
                return None
            return None, bl
        rc = rf.class_by_name(cls_name)
        if rc is None:
            self.skip(rf.path, f"class {cls_name!r} is not in the schema")
            return None
        bl = self.bound.label_for(rf.path, cls_name)
        if bl is None:
            self.skip(rf.path, f"CVAT label {rc.cvat_name!r} missing on the server")
            return None
        return rc, bl

    def attributes(self, rc: ResolvedClass | None, bl: BoundLabel, obj: Any,
                   mutable: bool | None = None, label_id: bool = True) -> list[AttributeValue]:
        out: list[AttributeValue] = []
        values = getattr(obj, "attributes", {}) or {}
        for attr in rc.sent_attributes if rc else []:
            if mutable is not None and attr.mutable != mutable:
                continue
            spec = bl.specs.get(attr.name)
            if spec is not None:
                out.append(_attribute(spec, attr_codec.encode(attr, values.get(attr.name))))
        spec = bl.label_id_spec
        if label_id and spec is not None and mutable is not False:
            out.append(_attribute(spec, obj.id))
        return out

    def wired(self, rc: ResolvedClass | None, obj: Any, path: str) -> tuple[bool, int]:
        values = getattr(obj, "attributes", {}) or {}
        occluded = bool(rc and rc.occluded_attr and values.get(rc.occluded_attr) is True)
        group = 0
        if rc and rc.group_id_attr:
            g = values.get(rc.group_id_attr)
            if isinstance(g, int) and not isinstance(g, bool) and g >= 0:
                group = g
            elif g is not None:
                self.skip(path, f"{rc.group_id_attr} value {g!r} is not a group number (sent 0)")
        return occluded, group

    def mask_array(self, obj: Any, path: str) -> np.ndarray | None:
        if obj.mask is not None:
            return obj.mask.to_array()
        if obj.mask_path and self.load_mask is not None:
            import numpy as np

            return np.asarray(self.load_mask(obj.mask_path))
        if obj.mask_path:
            self.skip(path, "mask file not loaded (no load_mask given)")
        return None

    def geometry(self, rf: ResolvedField, obj: Any, task_frame: int) -> list[_Geometry]:
        size = self.frames.frame_size(task_frame)
        w, h = size.width, size.height
        if isinstance(obj, Detection):
            if rf.type == "instances" and (obj.mask is not None or obj.mask_path):
                arr = self.mask_array(obj, rf.path)
                if arr is not None:
                    from annosync.convert.masks import instance_to_cvat

                    made = instance_to_cvat(arr, obj.bounding_box, w, h)
                    if made is None:
                        self.skip(rf.path, "instance mask outside the frame")
                        return []
                    return [_Geometry("mask", [float(v) for v in made[0]])]
            return [_Geometry("rectangle", box_to_abs(obj.bounding_box, w, h),
                              _rotation(obj.rotation))]
        if isinstance(obj, Polyline):
            out = []
            for part in obj.points:
                flat = [c for p in part for c in point_to_abs(p, w, h)]
                kind = "polygon" if obj.closed else "polyline"
                if len(part) < (3 if obj.closed else 2):
                    self.skip(rf.path, f"{kind} part with too few points")
                    continue
                out.append(_Geometry(kind, flat))
            return out
        if isinstance(obj, Keypoint):
            flat = [c for p in obj.points if p is not None for c in point_to_abs(p, w, h)]
            if not flat:
                self.skip(rf.path, "keypoints with no visible point")
                return []
            return [_Geometry("points", flat)]
        self.skip(rf.path, f"{type(obj).__name__} labels do not fit a {rf.type} field")
        return []

    # -- tags ----------------------------------------------------------------------------------
    def tag_field(self, rf: ResolvedField, value: Any, task_frame: int) -> None:
        if value is None:
            return
        if rf.type == "scalar":
            self.scalar(rf, value, task_frame)
            return
        for obj in label_objects(value):
            if not isinstance(obj, Classification):
                self.skip(rf.path, f"{type(obj).__name__} labels do not fit a {rf.type} field")
                continue
            found = self.target(rf, obj.label)
            if found is None:
                continue
            rc, bl = found
            _, group = self.wired(rc, obj, rf.path)
            self.tags.append(_tag(task_frame, bl.id, group, self.attributes(rc, bl, obj)))
            self.sent_tags.append(_sent("tag", rf.path, bl.id, obj.id, task_frame))

    def scalar(self, rf: ResolvedField, value: Any, task_frame: int) -> None:
        if isinstance(value, (list, dict)) or hasattr(value, "type"):
            self.skip(rf.path, "a label where a scalar was expected")
            return
        if rf.scalar_as_value:
            found = self.target(rf, None)
            if found is None:
                return
            bl = found[1]
            spec = bl.specs.get(VALUE_ATTR)
            attrs = [] if spec is None else [AttributeValue(spec_id=spec, value=stringify(value))]
        else:
            name = stringify(value)
            if rf.class_by_name(name) is None:
                self.skip(rf.path, f"value {value!r} is not one of its classes")
                return
            found = self.target(rf, name)
            if found is None:
                return
            bl = found[1]
            attrs = []
        self.tags.append(Tag(frame=task_frame, label_id=bl.id, source="manual", attributes=attrs))
        self.sent_tags.append(SentObject(kind="tag", field=rf.path, cvat_label=bl.id,
                                         frames=[task_frame]))

    # -- shapes --------------------------------------------------------------------------------
    def shape(self, rf: ResolvedField, obj: Any, task_frame: int) -> None:
        if type(obj) is Detection and self.box(rf, obj, task_frame):
            return
        found = self.target(rf, getattr(obj, "label", None))
        if found is None:
            return
        rc, bl = found
        occluded, group = self.wired(rc, obj, rf.path)
        for part, geo in enumerate(self.geometry(rf, obj, task_frame)):
            self.shapes.append(_shape(task_frame, bl.id, group, geo, occluded, obj.z_order or 0,
                                      self.attributes(rc, bl, obj)))
            self.sent_shapes.append(_sent("shape", rf.path, bl.id, obj.id, task_frame,
                                          obj.index, part))

    def box(self, rf: ResolvedField, obj: Detection, task_frame: int) -> bool:
        """``shape`` of a detection that is a rectangle (not an instance with a mask), with
        its class's target, attribute specs and wiring looked up once per task (the common
        object: 10,000 of them in a 500-image task). False: not such a box, or its class not
        sent (``shape`` then does it, skips included)."""
        if rf.type == "instances" and (obj.mask is not None or obj.mask_path):
            return False
        how = self._boxes.get((rf.path, obj.label))
        if how is None:
            how = self._box_class(rf, obj.label)
            if how is None:
                return False
        bl = how.bl
        occluded, group = self.wired(how.rc, obj, rf.path) if how.wires else (False, 0)
        values = obj.attributes or {}
        attributes = [_attribute(spec, attr_codec.encode(attr, values.get(attr.name)))
                      for attr, spec in how.pairs]
        if how.label_spec is not None:
            attributes.append(_attribute(how.label_spec, obj.id))
        size = self.frames.frame_size(task_frame)
        self.shapes.append(_shape(task_frame, bl.id, group, _Geometry(
            "rectangle", box_to_abs(obj.bounding_box, size.width, size.height),
            _rotation(obj.rotation)), occluded, obj.z_order or 0, attributes))
        self.sent_shapes.append(_sent("shape", rf.path, bl.id, obj.id, task_frame, obj.index, 0))
        return True

    def _box_class(self, rf: ResolvedField, label: Any) -> _BoxClass | None:
        if type(label) is not str or rf.class_by_name(label) is None:
            return None
        bl = self.bound.label_for(rf.path, label)
        if bl is None:
            return None
        rc = rf.class_by_name(label)
        pairs = tuple((attr, bl.specs[attr.name]) for attr in (rc.sent_attributes if rc else [])
                      if attr.name in bl.specs)
        wires = rc is not None and (rc.occluded_attr is not None or rc.group_id_attr is not None)
        how = self._boxes[(rf.path, label)] = _BoxClass(rc, bl, pairs, bl.label_id_spec, wires)
        return how

    def segmentation(self, rf: ResolvedField, obj: Segmentation, task_frame: int) -> None:
        from annosync.convert.masks import segmentation_to_cvat

        arr = self.mask_array(obj, rf.path)
        if arr is None:
            return
        size = self.frames.frame_size(task_frame)
        targets = rf.mask_targets or {}
        for value, points in segmentation_to_cvat(arr, targets, size.width, size.height):
            found = self.target(rf, targets[value])
            if found is None:
                continue
            rc, bl = found
            self.shapes.append(Shape(
                frame=task_frame, label_id=bl.id, source="manual", type="mask",
                points=[float(p) for p in points], attributes=self.attributes(rc, bl, obj),
            ))
            self.sent_shapes.append(SentObject(kind="shape", field=rf.path, cvat_label=bl.id,
                                               label_ids=[obj.id], frames=[task_frame],
                                               part=value))
        present = {v for v, _ in obj.mask.runs} if obj.mask is not None else set()
        unknown = sorted(v for v in present if v and v not in targets)
        if unknown:
            self.skip(rf.path, f"mask pixel values without a target {unknown[:5]}")

    def spatial(self, rf: ResolvedField, value: Any, task_frame: int) -> None:
        if value is None:
            return
        if rf.type == "segmentation":
            if isinstance(value, Segmentation):
                self.segmentation(rf, value, task_frame)
            else:
                self.skip(rf.path, "not a segmentation")
            return
        for obj in label_objects(value):
            self.shape(rf, obj, task_frame)

    # -- tracks --------------------------------------------------------------------------------
    def video_field(self, rf: ResolvedField, sample: Sample) -> None:
        name = rf.name
        per_frame: list[tuple[int, Any]] = []
        outside_task = 0
        for number, frame in sorted(sample.frames.items()):
            value = frame.get(name)
            if value is None:
                continue
            tf = self.frames.task_frame(number)
            if tf is None or self.frames.is_deleted(tf):
                outside_task += 1
                continue
            per_frame.append((tf, value))
        if outside_task:
            self.skip(rf.path, "labels on frames the task does not show", outside_task)
        if rf.is_tag_type or rf.type == "segmentation":
            for tf, value in per_frame:
                (self.tag_field if rf.is_tag_type else self.spatial)(rf, value, tf)
            return
        uses_keyframes = any(
            getattr(o, "keyframe", None) is True
            for frame in sample.frames.values() for o in label_objects(frame.get(name))
        )
        tracks: dict[int, list[tuple[int, Any]]] = {}
        for tf, value in per_frame:
            for obj in label_objects(value):
                if obj.index is None:
                    self.shape(rf, obj, tf)
                else:
                    tracks.setdefault(obj.index, []).append((tf, obj))
        for index in sorted(tracks):
            self.track(rf, index, tracks[index], uses_keyframes)

    def track(self, rf: ResolvedField, index: int, entries: list[tuple[int, Any]],
              uses_keyframes: bool) -> None:
        seen: set[int] = set()
        unique: list[tuple[int, Any]] = []
        for tf, obj in entries:
            if tf in seen:
                self.skip(rf.path, f"track {index}: two labels on one frame (the second is sent "
                                   "as a standalone shape)")
                self.shape(rf, obj, tf)
                continue
            seen.add(tf)
            unique.append((tf, obj))
        # one CVAT track per (class, shape type, part); a change of class or type starts another
        pieces: dict[tuple[str, str, int], list[tuple[int, Any, _Geometry]]] = {}
        order: list[tuple[str, str, int]] = []
        for tf, obj in unique:
            for part, geo in enumerate(self.geometry(rf, obj, tf)):
                key = (obj.label, geo.type, part)
                if key not in pieces:
                    pieces[key] = []
                    order.append(key)
                pieces[key].append((tf, obj, geo))
        for key in order:
            self.emit_track(rf, index, key[2], pieces[key], uses_keyframes)

    def _next(self, tf: int) -> int:
        nxt = tf + 1
        while nxt < self.frames.size and self.frames.is_deleted(nxt):
            nxt += 1
        return nxt

    def emit_track(self, rf: ResolvedField, index: int, part: int,
                   entries: list[tuple[int, Any, _Geometry]], uses_keyframes: bool) -> None:
        found = self.target(rf, entries[0][1].label)
        if found is None:
            return
        rc, bl = found
        runs: list[list[tuple[int, Any, _Geometry]]] = []
        for entry in entries:
            if runs and self._next(runs[-1][-1][0]) == entry[0]:
                runs[-1].append(entry)
            else:
                runs.append([entry])
        shapes: list[TrackedShape] = []
        sent = SentObject(kind="track", field=rf.path, cvat_label=bl.id, index=index, part=part)
        for run in runs:
            end = self._next(run[-1][0])
            keys = [i for i, (_, obj, _) in enumerate(run)
                    if not uses_keyframes or obj.keyframe is True or i == 0]
            marker: TrackedShape | None = None
            if end < self.frames.size:
                if keys[-1] != len(run) - 1:
                    marker = self._extrapolated_marker(rc, bl, run, keys[-1], end)
                    if marker is None:
                        keys.append(len(run) - 1)  # pin the run's end before the marker
                if marker is None:
                    geo = run[-1][2]
                    marker = TrackedShape(type=geo.type, frame=end, outside=True,
                                          rotation=geo.rotation, points=list(geo.points))
            for i in keys:
                tf, obj, geo = run[i]
                occluded, _ = self.wired(rc, obj, rf.path)
                shapes.append(TrackedShape(
                    type=geo.type, frame=tf, occluded=occluded, z_order=obj.z_order or 0,
                    rotation=geo.rotation, points=geo.points,
                    attributes=self.attributes(rc, bl, obj, mutable=True),
                ))
                sent.label_ids.append(obj.id)
                sent.frames.append(tf)
            if marker is not None:
                shapes.append(marker)
        first = entries[0][1]
        immutable = self.attributes(rc, bl, first, mutable=False, label_id=False)
        for _, obj, _ in entries[1:]:
            if self.attributes(rc, bl, obj, mutable=False, label_id=False) != immutable:
                self.skip(rf.path, f"track {index}: immutable attributes differ between frames "
                                   "(the first frame's values are sent)")
                break
        _, group = self.wired(rc, first, rf.path)
        self.tracks.append(Track(frame=shapes[0].frame, label_id=bl.id, group=group,
                                 source="manual", attributes=immutable, shapes=shapes))
        self.sent_tracks.append(sent)

    def _extrapolated_marker(self, rc: ResolvedClass | None, bl: BoundLabel,
                             run: list[tuple[int, Any, _Geometry]], k: int,
                             end: int) -> TrackedShape | None:
        """An ``outside`` marker placed so that CVAT's interpolation from the last keyframe
        reproduces the run's remaining (non-key) labels exactly, or None if none does (then the
        run's last label becomes a keyframe). Only linear types can be extrapolated; this keeps
        a pulled track's keyframes as the annotator made them."""
        tf_k, obj_k, g_k = run[k]
        tf_l, _, g_l = run[-1]
        linear = g_k.type in ("rectangle", "ellipse") or (
            g_k.type == "points" and len(g_k.points) == 2)
        if not linear or g_l.type != g_k.type or len(g_l.points) != len(g_k.points):
            return None
        ratio = (end - tf_k) / (tf_l - tf_k)
        later = [(tf, geo) for tf, _, geo in run[k + 1:]]
        offsets = [(tf - tf_k) / (end - tf_k) for tf, _ in later]
        points = []
        for i, (a, b) in enumerate(zip(g_k.points, g_l.points, strict=True)):
            wanted = [geo.points[i] for _, geo in later]
            def trail(v: float, a: float = a) -> list[float]:
                return [a + (v - a) * o for o in offsets]

            value = _solve_marker(a + (b - a) * ratio, trail, wanted)
            if value is None:
                return None
            points.append(value)
        r0 = g_k.rotation
        guess = (r0 + angle_diff(g_l.rotation, r0) * ratio + 360) % 360
        rotation = _solve_marker(
            0.0 if guess >= 360 else guess,
            lambda v: [(r0 + angle_diff(v, r0) * o + 360) % 360 for o in offsets],
            [geo.rotation for _, geo in later])
        if rotation is None:
            return None
        marker = TrackedShape(type=g_k.type, frame=end, outside=True, points=points,
                              rotation=rotation)
        key = TrackedShape(type=g_k.type, frame=tf_k, points=g_k.points, rotation=g_k.rotation)
        cvat = {f.frame: f for f in interpolate([key, marker], tf_k, end + 1)}
        same = (*self.wired(rc, obj_k, ""), obj_k.z_order or 0,
                self.attributes(rc, bl, obj_k, True, False))
        for tf, obj, geo in run[k + 1:]:
            f = cvat.get(tf)
            if f is None or not _close([*f.points, f.rotation], [*geo.points, geo.rotation]):
                return None
            if (*self.wired(rc, obj, ""), obj.z_order or 0,
                    self.attributes(rc, bl, obj, True, False)) != same:
                return None
        return marker

    def result(self) -> Upload:
        notes = [f"{why} ({n} skipped)" if n > 1 else why
                 for why, n in sorted(self.skipped.items())]
        return Upload(
            data=LabeledData(tags=self.tags, shapes=self.shapes, tracks=self.tracks),
            tags=self.sent_tags, shapes=self.sent_shapes, tracks=self.sent_tracks, notes=notes,
        )


# -- objects built without validation ---------------------------------------------------------
# A task's upload holds tens of thousands of these (10,000 boxes: 40,000 objects), and pydantic
# validating each one was half of ``to_cvat``'s time, on the critical path of a first upload.
# What goes in is already what validation would make of it (ints from the binding and the
# task's frames, floats computed from validated labels, strings): the instances are the ones
# validation builds, field for field (tests/convert/test_convert_fast.py compares both ways,
# and the JSON they encode to). A value of another type is validated as before (and refused
# as before, e.g. a label without an id).
_setattr = object.__setattr__


def _built(cls: type[_M], values: dict[str, Any], given: frozenset[str]) -> _M:
    """An instance of ``cls`` holding ``values`` (every field, in the model's order), as if
    validated from the fields ``given``."""
    obj = cls.__new__(cls)
    _setattr(obj, "__dict__", values)
    _setattr(obj, "__pydantic_fields_set__", set(given))
    _setattr(obj, "__pydantic_extra__", None)
    _setattr(obj, "__pydantic_private__", None)
    return obj


_ATTRIBUTE_SET = frozenset({"spec_id", "value"})


def _attribute(spec: int, value: Any) -> AttributeValue:
    if type(value) is not str or type(spec) is not int:
        return AttributeValue(spec_id=spec, value=value)
    return _built(AttributeValue, {"spec_id": spec, "value": value}, _ATTRIBUTE_SET)


_TAG_SET = frozenset({"frame", "label_id", "group", "source", "attributes"})


def _tag(frame: int, label_id: int, group: int, attributes: list[AttributeValue]) -> Tag:
    if type(label_id) is not int or type(group) is not int:
        return Tag(frame=frame, label_id=label_id, group=group, source="manual",
                   attributes=attributes)
    return _built(Tag, {"id": None, "frame": frame, "label_id": label_id, "group": group,
                        "source": "manual", "attributes": attributes}, _TAG_SET)


_SHAPE_SET = frozenset({"frame", "label_id", "group", "source", "type", "occluded", "z_order",
                        "rotation", "points", "attributes"})


def _shape(frame: int, label_id: int, group: int, geo: _Geometry, occluded: bool,
           z_order: int, attributes: list[AttributeValue]) -> Shape:
    if (type(z_order) is not int or type(geo.rotation) is not float
            or type(label_id) is not int or type(group) is not int):
        return Shape(frame=frame, label_id=label_id, group=group, source="manual",
                     type=geo.type, occluded=occluded, z_order=z_order, rotation=geo.rotation,
                     points=geo.points, attributes=attributes)
    return _built(Shape, {
        "id": None, "frame": frame, "label_id": label_id, "group": group, "source": "manual",
        "attributes": attributes, "type": geo.type, "occluded": occluded, "outside": False,
        "z_order": z_order, "rotation": geo.rotation, "score": None, "points": list(geo.points),
        "elements": []}, _SHAPE_SET)


_SENT_TAG_SET = frozenset({"kind", "field", "cvat_label", "label_ids", "frames"})
_SENT_SET = _SENT_TAG_SET | {"index", "part"}


def _sent(kind: str, field: str, cvat_label: int, label_id: Any, frame: int,
          index: int | None = None, part: int | None = None) -> SentObject:
    """A tag's (no ``index``, ``part``) or a shape's ``SentObject``."""
    more = {} if part is None else {"index": index, "part": part}
    if type(label_id) is not str or type(index) not in (int, type(None)):
        return SentObject(kind=kind, field=field, cvat_label=cvat_label, label_ids=[label_id],
                          frames=[frame], **more)
    return _built(SentObject, {
        "kind": kind, "field": field, "cvat_label": cvat_label, "label_ids": [label_id],
        "frames": [frame], "index": index, "part": 0 if part is None else part},
        _SENT_TAG_SET if part is None else _SENT_SET)


def upload_json(data: LabeledData) -> dict[str, Any]:
    """``data.to_api()`` (the same dict, keys in the same order), ~3x faster for tags and
    shapes: their fields read as they are held, not serialized by pydantic. Tracks, elements
    and a coordinate that is not finite (``to_api`` writes it as null) go through ``to_api``."""
    if data.tracks:
        return data.to_api()
    out: dict[str, Any] = {"version": data.version, "tags": [], "shapes": [], "tracks": []}
    for key, objects in (("tags", data.tags), ("shapes", data.shapes)):
        made = out[key]
        for obj in objects:
            got = _object_json(obj.__dict__)
            if got is None:
                return data.to_api()
            made.append(got)
    return out


def _object_json(values: dict[str, Any]) -> dict[str, Any] | None:
    """A tag's or shape's JSON from its fields (None: one ``to_api`` must write)."""
    out = {k: v for k, v in values.items() if v is not None}
    out["attributes"] = [{"spec_id": a.spec_id, "value": a.value} for a in out["attributes"]]
    if "points" in out:
        if out["elements"] or not math.isfinite(sum(out["points"]) + out["rotation"]):
            return None
        out["points"] = list(out["points"])
        out["elements"] = []
    return out


def _close(got: Sequence[float], wanted: Sequence[float]) -> bool:
    return len(got) == len(wanted) and all(
        abs(g - w) <= 1e-9 * max(1.0, abs(w)) for g, w in zip(got, wanted, strict=True))


def _solve_marker(guess: float, trail: Callable[[float], list[float]],
                  wanted: list[float]) -> float | None:
    """A marker coordinate near ``guess`` whose interpolation ``trail`` gives ``wanted``.

    The plain extrapolation is only close (float rounding, and pulled coordinates are CVAT's
    within an ulp), so: first the shortest decimal near ``guess`` that reproduces the trail
    within 1e-9 (relative) — what an annotator's marker usually was, and the same choice on
    every round, so the JSON stays a fixed point — else a float next to ``guess`` giving the
    trail exactly, else None."""
    window = 1e-9 * max(1.0, abs(guess))
    for digits in range(0, max(0, math.floor(-math.log10(2 * window))) + 1):
        v = round(guess, digits)
        if abs(v - guess) <= window and _close(trail(v), wanted):
            return v + 0.0
    if trail(guess) == wanted:
        return guess
    up = down = guess
    for _ in range(64):
        up, down = math.nextafter(up, math.inf), math.nextafter(down, -math.inf)
        for v in (up, down):
            if trail(v) == wanted:
                return v
    return None


def to_cvat(
    samples: Sequence[Sample],
    fields: Sequence[str],
    frames: FrameMap,
    bound: BoundSchema,
    *,
    load_mask: MaskLoader | None = None,
) -> Upload:
    """The annotations of one task.

    ``samples``: images: the task's samples in task frame order (``len == frames.size``);
    video: the one sample. ``fields``: the paths to upload (``frames.x`` for video frame
    fields). Frame sizes come from ``frames`` (``data/meta``), never from sample metadata.
    """
    em = _Emitter(bound, frames, load_mask)
    schema = bound.resolved
    if frames.is_video:
        if len(samples) != 1:
            raise ValueError(f"a video task holds one sample, got {len(samples)}")
        for path in fields:
            rf = schema.fields[path]
            if not rf.is_frame_field:
                em.skip(path, "sample-level labels of a video cannot be annotated in CVAT "
                              "(use a frames. field)")
                continue
            em.video_field(rf, samples[0])
    else:
        if len(samples) != frames.size:
            raise ValueError(f"{len(samples)} samples for an image task of {frames.size} frames")
        for path in fields:
            rf = schema.fields[path]
            if rf.is_frame_field:
                em.skip(path, "frame fields need a video task")
                continue
            for tf, sample in enumerate(samples):
                if frames.is_deleted(tf):
                    continue
                value = sample.fields.get(rf.name)
                if rf.is_tag_type:
                    em.tag_field(rf, value, tf)
                else:
                    em.spatial(rf, value, tf)
    return em.result()
