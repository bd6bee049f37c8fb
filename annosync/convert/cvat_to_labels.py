"""CVAT annotation JSON -> labels (``from_cvat``), the inverse of ``to_cvat``. Pure.

- Tags -> classifications (or scalar values); shapes -> labels of the field their CVAT label
  belongs to (a shared project label: the field whose type takes that shape); tracks ->
  interpolated exactly as CVAT does (``interpolate.py``), one label per visible frame, with
  ``keyframe=True`` on keyframes and ``index`` = the track number.
- Track numbers: the ``index`` the track had when annosync uploaded it (found through the
  ``label_id`` of its keyframes in ``previous``, else the id map), fresh numbers otherwise
  (after the highest known one). Pieces of one track (CVAT cuts tracks at job boundaries) merge
  frame by frame, a keyframe beating an interpolated frame.
- Ids, in order: the ``label_id`` attribute (on keyframes only; rejected when ``previous`` knows
  that id on another frame, or when an earlier object already holds it), the id map (CVAT object
  id / track keyframe), ``previous`` by (field, index, frame) for track frames, else a new id
  derived from the CVAT object (deterministic: pulling twice gives the same ids).
- Attribute strings -> typed values (``attrs.py``); read-only attributes are not loaded;
  ``occluded`` / ``group`` -> the configured attributes (group 0 = no group, omitted).
- Rectangles -> box + rotation; masks -> a ``BinaryMask`` of the box; polygons on a detections
  / instances / segmentation field are rasterised (as the reference does); a segmentation's class
  masks are painted into one ``IndexMask`` of the frame's size.
- Anything that fits no field (a CVAT label not in the schema, e.g. a class created in CVAT; a
  shape its field cannot hold; a second label in a single-label field) is returned in
  ``unexpected`` with its converted labels and raw JSON, never dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import TYPE_CHECKING, Any, Union

from annosync.convert import attrs as attr_codec
from annosync.convert.binding import ACCEPTS, BoundLabel, BoundSchema, Target
from annosync.convert.coords import box_to_rel, points_to_rel
from annosync.convert.frames import FrameMap
from annosync.convert.id_map import TaskIdMap
from annosync.convert.interpolate import TrackFrame, interpolate
from annosync.convert.previous import PreviousLabels
from annosync.convert.results import (
    ObjectKind,
    Pulled,
    PulledSample,
    UnexpectedLabel,
    UnexpectedObject,
)
from annosync.convert.specs import VALUE_ATTR
from annosync.model.cvat import LabeledData, Shape, Tag, Track
from annosync.model.ids import derived_id
from annosync.model.labels import (
    LABEL_ID_PATTERN,
    BinaryMask,
    Classification,
    Classifications,
    Detection,
    Detections,
    IndexMask,
    Keypoint,
    Keypoints,
    Polyline,
    Polylines,
    Segmentation,
)
from annosync.model.schema import ResolvedClass, ResolvedField

if TYPE_CHECKING:  # numpy and the mask codecs load only when a mask is converted
    from annosync.convert.masks import PixelBox

_ID = re.compile(LABEL_ID_PATTERN)
#: a CVAT object's JSON, or the object itself (dumped only when needed)
_Raw = Union[Mapping[str, Any], Tag, Shape, Track]
_NATURAL_TYPE = {
    "rectangle": "detections", "mask": "instances", "polygon": "polygons",
    "polyline": "polylines", "points": "keypoints", "tag": "classifications",
}


@dataclass
class _SegPiece:
    """One class mask of a segmentation, until the frame's pieces are painted together."""

    value: int
    mask: BinaryMask
    box: PixelBox
    id: str | None = None


@dataclass
class _Item:
    """One label (or piece of one) on its way into a field."""

    field: str
    sample: int
    frame: int | None
    obj: Any
    kind: ObjectKind
    cvat_id: int | None
    cvat_label: int
    key: str  # for a derived id
    attr_id: str | None = None
    map_id: str | None = None
    prev_id: str | None = None
    raw: dict[str, Any] = dc_field(default_factory=dict)
    #: the CVAT object, until its JSON is needed (most items never need it: see ``dumped``)
    src: Tag | Shape | None = None

    def dumped(self) -> dict[str, Any]:
        """The CVAT object's JSON (``raw``), dumped on first use: a ``model_dump`` per shape
        cost as much as the rest of its conversion, and only odd objects read it."""
        if self.src is not None:
            self.raw = {**self.src.model_dump(mode="json"), **self.raw}
            self.src = None
        return self.raw


@dataclass
class _Piece:
    """One CVAT track (or piece of one) after interpolation."""

    track: Track
    position: int
    target: Target
    frames: list[TrackFrame]
    index: int | None = None
    part: int = 0


class _Reader:
    def __init__(self, frames: FrameMap, bound: BoundSchema, fields: Sequence[str] | None,
                 id_map: TaskIdMap | None, previous: PreviousLabels | None,
                 covered: set[int], scope: str) -> None:
        self.frames = frames
        self.bound = bound
        self.schema = bound.resolved
        self.fields = list(fields) if fields is not None else list(self.schema.fields)
        self.id_map = id_map
        self.previous = previous
        self.covered = covered
        self.scope = scope
        self.items: list[_Item] = []
        self.unexpected: list[UnexpectedObject] = []
        self.notes: list[str] = []
        self.odd_frames: dict[tuple[int, str], UnexpectedObject] = {}

    # -- places ----------------------------------------------------------------------------------
    def place(self, task_frame: int) -> tuple[int, int | None]:
        if self.frames.is_video:
            return 0, self.frames.sample_frame(task_frame)
        return task_frame, None

    def route(self, kind: str, label_id: int, obj_kind: ObjectKind, raw: _Raw,
              cvat_id: int | None, frame: int) -> tuple[BoundLabel, Target] | None:
        bl = self.bound.label(label_id)
        if bl is None or not bl.targets:
            name = bl.name if bl else None
            self.unexpected_object(
                f"CVAT label {name or label_id!r} is not in the run's schema (a class created "
                "in CVAT?)", obj_kind, raw, cvat_id, label_id, name, kind, None, frame)
            return None
        if not any(t.field in self.fields for t in bl.targets):
            return None  # a field this pull does not ask for
        target = self.bound.route(bl, kind, self.fields)
        if target is None:
            field_names = ", ".join(f"'{t.field}' ({self.schema.fields[t.field].type})"
                                    for t in bl.targets if t.field in self.fields)
            self.unexpected_object(
                f"a {kind} of CVAT label {bl.name!r} does not fit field {field_names}",
                obj_kind, raw, cvat_id, label_id, bl.name, kind, bl.targets[0].field, frame)
            return None
        return bl, target

    # -- attributes ------------------------------------------------------------------------------
    def attributes(self, rc: ResolvedClass | None, bl: BoundLabel, values: Mapping[int, str],
                   occluded: bool | None, group: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if rc is None:
            return out
        for attr in rc.attributes:
            if attr.read_only:
                continue
            if attr.type == "occluded":
                if occluded is not None:
                    out[attr.name] = bool(occluded)
                continue
            if attr.type == "group_id":
                if group:
                    out[attr.name] = int(group)
                continue
            spec = bl.specs.get(attr.name)
            if spec is None or spec not in values:
                continue
            value = attr_codec.decode(attr, values[spec])
            if value is not None:
                out[attr.name] = value
        return out

    def carried_id(self, bl: BoundLabel, values: Mapping[int, str]) -> str | None:
        spec = bl.label_id_spec
        text = values.get(spec) if spec is not None else None
        return text if text and _ID.match(text) else None

    # -- geometry --------------------------------------------------------------------------------
    def convert(self, rf_type: str, cls: str, shape_type: str, points: Sequence[float],
                rotation: float, z_order: int, task_frame: int) -> Any:
        """A label object for a shape (None if its points are unusable)."""
        size = self.frames.frame_size(task_frame)
        w, h = size.width, size.height
        z = z_order or None
        if shape_type == "rectangle" and len(points) >= 4:
            return Detection(label=cls, bounding_box=box_to_rel(points[:4], w, h),
                             rotation=rotation or None, z_order=z)
        if shape_type == "mask" or (shape_type == "polygon" and rf_type in (
                "detections", "instances", "segmentation")):
            from annosync.convert.masks import mask_from_cvat, polygon_to_mask

            made = mask_from_cvat(points) if shape_type == "mask" else polygon_to_mask(points)
            if made is None:
                return None
            mask, box = made[0], made[1]
            if rf_type == "segmentation":
                return _SegPiece(0, mask, box)
            rel = box_to_rel([box.left, box.top, box.right + 1, box.bottom + 1], w, h)
            return Detection(label=cls, bounding_box=rel, mask=mask, z_order=z)
        if shape_type in ("polygon", "polyline"):
            pts = points_to_rel(points, w, h)
            closed = shape_type == "polygon"
            if len(pts) < (3 if closed else 2):
                return None
            return Polyline(label=cls, points=[pts], closed=closed,
                            filled=closed and rf_type != "polylines", z_order=z)
        if shape_type == "points" and len(points) >= 2:
            return Keypoint(label=cls, points=list(points_to_rel(points, w, h)), z_order=z)
        return None

    # -- unexpected ------------------------------------------------------------------------------
    def unexpected_object(self, reason: str, kind: ObjectKind, raw: _Raw,
                          cvat_id: int | None, label_id: int, name: str | None, shape_type: str,
                          field_guess: str | None, frame: int,
                          labels: list[UnexpectedLabel] | None = None) -> None:
        if not isinstance(raw, Mapping):
            raw = raw.model_dump(mode="json")
        if labels is None:
            labels = []
            if kind == "track":
                track = Track.model_validate(raw)
                for tf in interpolate(track.shapes, track.frame, self.frames.size,
                                      self.frames.deleted):
                    if tf.outside or tf.frame not in self.covered:
                        continue
                    labels.extend(self.natural(name or str(label_id), tf.type, tf.points,
                                               tf.rotation, tf.z_order, tf.frame))
            elif frame in self.covered:
                if kind == "tag":
                    labels = [UnexpectedLabel(frame=self.place(frame)[1], label=Classification(
                        label=name or str(label_id)).model_dump(by_alias=True, mode="json"))]
                else:
                    labels = self.natural(name or str(label_id), shape_type,
                                          list(raw.get("points", [])),
                                          float(raw.get("rotation") or 0.0),
                                          int(raw.get("z_order") or 0), frame)
        self.unexpected.append(UnexpectedObject(
            reason=reason, kind=kind, cvat_id=cvat_id, cvat_label_id=label_id, cvat_label=name,
            shape_type=None if kind == "tag" else shape_type,
            label_type=_NATURAL_TYPE.get("tag" if kind == "tag" else shape_type),
            field=field_guess, sample=self.place(frame)[0], labels=labels, raw=dict(raw),
        ))

    def natural(self, name: str, shape_type: str, points: Sequence[float], rotation: float,
                z_order: int, task_frame: int) -> list[UnexpectedLabel]:
        natural = _NATURAL_TYPE.get(shape_type)
        if natural is None:
            return []
        obj = self.convert(natural, name, shape_type, points, rotation, z_order, task_frame)
        if obj is None:
            return []
        return [UnexpectedLabel(frame=self.place(task_frame)[1],
                                label=obj.model_dump(by_alias=True, mode="json"))]

    # -- tags and shapes ---------------------------------------------------------------------------
    def tag(self, position: int, tag: Tag) -> None:
        if tag.frame not in self.covered:
            return
        routed = self.route("tag", tag.label_id, "tag", tag, tag.id, tag.frame)
        if routed is None:
            return
        bl, target = routed
        rf = self.schema.fields[target.field]
        values = {a.spec_id: a.value for a in tag.attributes}
        sample, frame = self.place(tag.frame)
        key = f"{self.scope}|tag|{tag.id if tag.id is not None else f'@{position}'}"
        if rf.type == "scalar":
            if target.cls is None:
                spec = bl.specs.get(VALUE_ATTR)
                value = attr_codec.parse_scalar(values.get(spec, "") if spec is not None else "",
                                                rf.scalar_type)
            else:
                value = attr_codec.parse_scalar(target.cls, rf.scalar_type)
            self.items.append(_Item(rf.path, sample, frame, value, "tag", tag.id, tag.label_id,
                                    key, src=tag))
            return
        rc = rf.class_by_name(target.cls or "")
        obj = Classification(label=target.cls or bl.name,
                             attributes=self.attributes(rc, bl, values, None, tag.group))
        self.items.append(_Item(
            rf.path, sample, frame, obj, "tag", tag.id, tag.label_id, key,
            attr_id=self.carried_id(bl, values),
            map_id=self.id_map.label_for("tag", tag.id) if self.id_map else None, src=tag))

    def shape(self, position: int, shape: Shape) -> None:
        if shape.frame not in self.covered:
            return
        routed = self.route(shape.type, shape.label_id, "shape", shape, shape.id, shape.frame)
        if routed is None:
            return
        bl, target = routed
        rf = self.schema.fields[target.field]
        rc = rf.class_by_name(target.cls or "")
        obj = self.convert(rf.type, target.cls or bl.name, shape.type, shape.points,
                           shape.rotation, shape.z_order, shape.frame)
        if obj is None:
            self.unexpected_object(f"a {shape.type} with unusable points", "shape", shape,
                                   shape.id, shape.label_id, bl.name, shape.type, rf.path,
                                   shape.frame, labels=[])
            return
        values = {a.spec_id: a.value for a in shape.attributes}
        if isinstance(obj, _SegPiece):
            obj.value = _target_value(rf, target.cls)
        else:
            obj.attributes = self.attributes(rc, bl, values, shape.occluded, shape.group)
        sample, frame = self.place(shape.frame)
        key = f"{self.scope}|shape|{shape.id if shape.id is not None else f'@{position}'}"
        self.items.append(_Item(
            rf.path, sample, frame, obj, "shape", shape.id, shape.label_id, key,
            attr_id=self.carried_id(bl, values),
            map_id=self.id_map.label_for("shape", shape.id) if self.id_map else None,
            src=shape if _reads_raw(rf) else None))

    # -- tracks --------------------------------------------------------------------------------
    def track(self, position: int, track: Track) -> _Piece | None:
        if not track.shapes:
            return None
        raw = track.model_dump(mode="json")
        kind = sorted(track.shapes, key=lambda s: s.frame)[0].type
        routed = self.route(kind, track.label_id, "track", raw, track.id, track.frame)
        if routed is None:
            return None
        bl, target = routed
        if self.schema.fields[target.field].type == "segmentation":
            self.unexpected_object("a track on a segmentation field (masks of a segmentation "
                                   "are per frame)", "track", raw, track.id, track.label_id,
                                   bl.name, kind, target.field, track.frame)
            return None
        if not self.frames.is_video:
            self.notes.append(f"track {track.id} in an image task: read as per-frame shapes")
        frames = interpolate(track.shapes, track.frame, self.frames.size, self.frames.deleted)
        return _Piece(track, position, target, frames)

    def index_pieces(self, pieces: list[_Piece]) -> None:
        """Give every piece its track number: from provenance (the keyframes' ``label_id`` in
        ``previous``, then the id map), else by continuity (a piece that starts exactly where
        an earlier piece of the same label is, geometry and all, is that track cut at a job
        boundary: CVAT starts each piece with the track's interpolated state), else fresh."""
        ordered = sorted(pieces, key=lambda p: (p.track.frame, p.position))
        for piece in ordered:
            path = piece.target.field
            bl = self.bound.label(piece.track.label_id)
            assert bl is not None
            if self.previous is not None:
                for tf in piece.frames:
                    lid = self.carried_id(bl, tf.attributes) if tf.keyframe else None
                    info = self.previous.info(lid) if lid else None
                    if info is not None and info.field == path and info.index is not None:
                        piece.index = info.index
                        break
            entry = self.id_map.track(piece.track.id) if self.id_map else None
            if entry is not None and entry.field == path:
                if piece.index is None:
                    piece.index = entry.index
                piece.part = entry.part
        parent: dict[int, int] = {}
        for i, piece in enumerate(ordered):
            if not piece.frames:
                continue
            first = piece.frames[0]
            for j in range(i):
                other = ordered[j]
                if (other.track.label_id != piece.track.label_id
                        or other.target != piece.target or other.part != piece.part
                        or (None not in (other.index, piece.index)
                            and other.index != piece.index)):
                    continue
                if not other.frames or other.frames[0].frame >= first.frame:
                    continue
                state = next((f for f in other.frames if f.frame == first.frame), None)
                if (state is not None and not state.outside and state.type == first.type
                        and state.points == first.points and state.rotation == first.rotation):
                    first.keyframe = False  # a cut, not a keyframe an annotator made
                    parent[i] = j
                    break
        fresh: dict[str, int] = {}
        for piece in pieces:
            if piece.index is not None:
                path = piece.target.field
                fresh[path] = max(fresh.get(path, piece.index), piece.index)
        for path in {p.target.field for p in pieces}:
            known = self.previous.max_index(path) if self.previous else None
            if known is not None:
                fresh[path] = max(fresh.get(path, known), known)
        for i, piece in enumerate(ordered):
            if piece.index is None and i in parent:
                piece.index = ordered[parent[i]].index
            if piece.index is None:
                path = piece.target.field
                fresh[path] = fresh.get(path, 0) + 1
                piece.index = fresh[path]

    def merge_pieces(self, pieces: list[_Piece]) -> None:
        """One label per visible frame of each track: per frame, a keyframe beats an
        interpolated state, then the earlier piece wins; after an ``outside`` keyframe the
        object stays hidden until the next keyframe (as in the uncut track), even where
        another piece still interpolates it."""
        groups: dict[tuple[str, int], list[_Piece]] = {}
        for piece in sorted(pieces, key=lambda p: (p.track.frame, p.position)):
            assert piece.index is not None
            groups.setdefault((piece.target.field, piece.index), []).append(piece)
        for (path, index), group in groups.items():
            rf = self.schema.fields[path]
            best: dict[tuple[int, int], tuple[TrackFrame, _Piece]] = {}
            for piece in group:
                for tf in piece.frames:
                    slot = (tf.frame, piece.part)
                    if slot not in best or (tf.keyframe and not best[slot][0].keyframe):
                        best[slot] = (tf, piece)
            by_frame: dict[int, list[tuple[TrackFrame, _Piece]]] = {}
            hidden: dict[int, bool] = {}
            for (frame, part), pick in sorted(best.items(), key=lambda kv: (kv[0][1], kv[0][0])):
                tf = pick[0]
                if tf.keyframe:
                    hidden[part] = tf.outside
                if hidden.get(part) or tf.outside or frame not in self.covered:
                    continue
                by_frame.setdefault(frame, []).append(pick)
            for frame in sorted(by_frame):
                self.track_frame(rf, index, frame, by_frame[frame])

    def odd_frame(self, piece: _Piece, bl: BoundLabel, rf: ResolvedField, tf: TrackFrame,
                  task_frame: int) -> None:
        """Frames of a track whose shape type its field cannot hold: one unexpected object per
        (track, type), with a label per such frame."""
        key = (piece.position, tf.type)
        found = self.odd_frames.get(key)
        if found is None:
            found = UnexpectedObject(
                reason=f"track {piece.track.id} of CVAT label {bl.name!r} has {tf.type} "
                       f"keyframes, which field '{rf.path}' ({rf.type}) cannot hold",
                kind="track", cvat_id=piece.track.id, cvat_label_id=piece.track.label_id,
                cvat_label=bl.name, shape_type=tf.type, label_type=_NATURAL_TYPE.get(tf.type),
                field=rf.path, sample=self.place(task_frame)[0],
                raw=piece.track.model_dump(mode="json"))
            self.odd_frames[key] = found
            self.unexpected.append(found)
        found.labels.extend(self.natural(bl.name, tf.type, tf.points, tf.rotation, tf.z_order,
                                         task_frame))

    def track_frame(self, rf: ResolvedField, index: int, task_frame: int,
                    chosen: list[tuple[TrackFrame, _Piece]]) -> None:
        tf, piece = chosen[0]
        track = piece.track
        bl = self.bound.label(track.label_id)
        assert bl is not None
        cls = piece.target.cls or bl.name
        rc = rf.class_by_name(cls)
        if tf.type not in ACCEPTS[rf.type]:  # a keyframe of another type inside the track
            self.odd_frame(piece, bl, rf, tf, task_frame)
            return
        obj = self.convert(rf.type, cls, tf.type, tf.points, tf.rotation, tf.z_order, task_frame)
        if obj is None or isinstance(obj, _SegPiece):
            self.notes.append(f"track {track.id}: unusable {tf.type} points on task frame "
                              f"{task_frame} (skipped)")
            return
        for other, _ in chosen[1:]:  # further parts of a multi-part polyline
            more = self.convert(rf.type, cls, other.type, other.points, other.rotation,
                                other.z_order, task_frame)
            if isinstance(obj, Polyline) and isinstance(more, Polyline):
                obj.points.extend(more.points)
        values = dict(tf.attributes)
        values.update({a.spec_id: a.value for a in track.attributes})
        obj.attributes = self.attributes(rc, bl, values, tf.occluded, track.group)
        obj.index = index
        obj.keyframe = True if tf.keyframe else None
        sample, frame = self.place(task_frame)
        assert frame is not None or not self.frames.is_video
        map_id = self.id_map.keyframe_label(track.id, task_frame) if (
            self.id_map and tf.keyframe) else None
        prev_id = None
        if self.previous is not None and frame is not None:
            prev_id = self.previous.id_at(rf.path, index, frame)
        attr_id = self.carried_id(bl, tf.attributes) if tf.keyframe else None
        if attr_id and self.previous is not None and frame is not None:
            info = self.previous.info(attr_id)
            if info is not None and info.frame is not None and info.frame != frame:
                attr_id = None  # a keyframe added in CVAT carries its predecessor's id
        tid = track.id if track.id is not None else f"@{piece.position}"
        self.items.append(_Item(
            rf.path, sample, frame, obj, "track", track.id, track.label_id,
            f"{self.scope}|track|{tid}|{task_frame}", attr_id=attr_id, map_id=map_id,
            prev_id=prev_id,
        ))


def _reads_raw(rf: ResolvedField) -> bool:
    """Whether an item of ``rf`` may need its CVAT object's JSON (``_Item.dumped``): the
    pieces of a segmentation, a second label of a single-label field. An item of a list field
    does not keep its ``Shape``, so each is let go of once converted (``_envelope``)."""
    return rf.single or rf.type in ("segmentation", "scalar", "classification")


def _target_value(rf: ResolvedField, cls: str | None) -> int:
    for value, name in (rf.mask_targets or {}).items():
        if name == cls:
            return value
    return 0


def _restore_keypoints(obj: Keypoint, label_id: str, previous: PreviousLabels | None) -> None:
    info = previous.info(label_id) if previous else None
    if info is None or not info.missing:
        return
    if len(obj.points) + len(info.missing) != info.points:
        return
    present = iter(obj.points)
    missing = set(info.missing)
    obj.points = [None if i in missing else next(present) for i in range(info.points)]


_CONTAINER: dict[str, tuple[type[Any], str]] = {
    "classifications": (Classifications, "classifications"),
    "detections": (Detections, "detections"),
    "instances": (Detections, "detections"),
    "polylines": (Polylines, "polylines"),
    "polygons": (Polylines, "polylines"),
    "keypoints": (Keypoints, "keypoints"),
}


def _empty(rf: ResolvedField) -> Any:
    if rf.single or rf.type in ("classification", "segmentation", "scalar"):
        return None
    cls, attr = _CONTAINER[rf.type]
    return cls(**{attr: []})


def _assign_ids(reader: _Reader, items: list[_Item]) -> bool:
    """Give every label its id; True when each one is the ``label_id`` its object carried
    (then no id depends on the CVAT object ids, the id map or the derived keys)."""
    claimed: set[str] = set()
    carried = True
    for item in items:
        if not hasattr(item.obj, "id"):
            continue
        chosen = None
        for candidate in (item.attr_id, item.map_id, item.prev_id):
            if candidate and candidate not in claimed:
                chosen = candidate
                break
        if chosen is None or chosen != item.attr_id:
            carried = False
        if chosen is None:
            chosen = derived_id(item.key)
            n = 1
            while chosen in claimed:
                chosen = derived_id(f"{item.key}#{n}")
                n += 1
        claimed.add(chosen)
        item.obj.id = chosen
        if isinstance(item.obj, Keypoint):
            _restore_keypoints(item.obj, chosen, reader.previous)
        if item.kind == "shape" and hasattr(item.obj, "index") and reader.previous is not None:
            # a standalone shape has no track number in CVAT: keep the one the label had
            info = reader.previous.info(chosen)
            if info is not None and info.field == item.field and info.index is not None:
                item.obj.index = info.index
    return carried


def _merge_parts(items: list[_Item]) -> list[_Item]:
    """Shapes carrying the same label id on one frame are one label: polyline parts, or the
    class masks of a segmentation."""
    out: list[_Item] = []
    groups: dict[tuple[str, int, int | None, str], _Item] = {}
    for item in items:
        merge_key = item.attr_id or item.map_id
        is_part = item.kind == "shape" and isinstance(item.obj, (Polyline, _SegPiece))
        if is_part and merge_key:
            key = (item.field, item.sample, item.frame, merge_key)
            first = groups.get(key)
            if first is not None and type(first.obj) is type(item.obj):
                if isinstance(first.obj, Polyline):
                    first.obj.points.extend(item.obj.points)
                else:
                    first.raw.setdefault("_pieces", []).append(item.obj)
                continue
            groups[key] = item
        out.append(item)
    return out


def _segmentation(reader: _Reader, rf: ResolvedField, items: list[_Item],
                  task_frame: int) -> _Item:
    import numpy as np

    from annosync.convert.masks import paint

    size = reader.frames.frame_size(task_frame)
    canvas = np.zeros((size.height, size.width), dtype=np.int32)
    pieces: list[tuple[int, int, _SegPiece]] = []
    for n, item in enumerate(items):
        raw = item.dumped()
        for piece in [item.obj, *raw.get("_pieces", [])]:
            z = int(raw.get("z_order") or 0)
            pieces.append((z, n, piece))
    for _, _, piece in sorted(pieces, key=lambda p: (p[0], p[1])):
        if piece.value:
            paint(canvas, piece.mask, piece.box, piece.value)
    first = items[0]
    first.obj = Segmentation(id=first.obj.id, mask=IndexMask.from_array(canvas))
    return first


def from_cvat(
    data: LabeledData | Mapping[str, Any],
    frames: FrameMap,
    bound: BoundSchema,
    *,
    fields: Sequence[str] | None = None,
    id_map: TaskIdMap | None = None,
    previous: PreviousLabels | None = None,
    covered: Sequence[int] | range | None = None,
    scope: str = "",
) -> Pulled:
    """The labels CVAT holds for one task (or one job: pass its frames as ``covered``).

    ``fields``: the field paths to read (default: every field of the schema); ``id_map``: the
    task's ``TaskIdMap``; ``previous``: the labels as they were (ids of interpolated frames,
    track indexes, missing keypoints); ``scope``: a prefix that makes derived ids unique across
    tasks (e.g. ``"task12"``).
    """
    if isinstance(data, LabeledData):
        return _read(data, frames, bound, fields, id_map, previous, covered, scope)[0]
    got, shapes = _envelope(data)
    try:
        return _read(got, frames, bound, fields, id_map, previous, covered, scope, shapes)[0]
    except Exception:
        if shapes is not None:  # validated at once, a bad shape raised before anything else
            LabeledData.model_validate(data)
        raise


def _envelope(data: Mapping[str, Any]) -> tuple[LabeledData, list[Any] | None]:
    """``data`` validated but for its shapes, and their JSON (None: validated with the rest).

    Why: a job of 10,000 boxes validated at once held 10,000 ``Shape`` models (~4 KB each,
    ~40 MB) until every label was made, the peak of a pull; validated one at a time as they
    are read (``_read``), each goes once converted (``_reads_raw``). Same models, same labels;
    on any error the whole is validated first, so an invalid answer raises as before."""
    shapes = data.get("shapes") if isinstance(data, Mapping) else None
    if not isinstance(shapes, list) or not shapes:
        return LabeledData.model_validate(data), None
    return LabeledData.model_validate({k: v for k, v in data.items() if k != "shapes"}), shapes


def from_sent(
    sent: LabeledData,
    frames: FrameMap,
    bound: BoundSchema,
    *,
    fields: Sequence[str] | None = None,
    previous: PreviousLabels | None = None,
    scope: str = "",
) -> Pulled | None:
    """``from_cvat`` of CVAT's answer to a PUT of ``sent``, computed from ``sent`` before the
    answer arrives: equal to it whenever the answer echoes ``sent`` (``convert.echo``) and
    this returns a value. None when the result could depend on what only the answer holds:
    tracks, an object that did not carry its label's id (its id would come from the CVAT id,
    the id map or a derived key), or an unexpected object (it records the CVAT id)."""
    if sent.tracks:
        return None
    pulled, carried = _read(sent, frames, bound, fields, None, previous, None, scope)
    return pulled if carried and not pulled.unexpected else None


def _read(got: LabeledData, frames: FrameMap, bound: BoundSchema, fields: Sequence[str] | None,
          id_map: TaskIdMap | None, previous: PreviousLabels | None,
          covered: Sequence[int] | range | None, scope: str,
          shapes: list[Any] | None = None) -> tuple[Pulled, bool]:
    """``from_cvat``, and whether every label's id is the ``label_id`` its object carried.
    ``shapes``: the shapes' JSON when ``got`` was validated without them (``_envelope``)."""
    task_frames = set(range(frames.size)) if covered is None else set(covered)
    task_frames -= set(frames.deleted)
    reader = _Reader(frames, bound, fields, id_map, previous, task_frames, scope)
    for i, tag in enumerate(got.tags):
        reader.tag(i, tag)
    validate = Shape.model_validate
    for i, shape in enumerate(got.shapes if shapes is None else map(validate, shapes)):
        reader.shape(i, shape)
    pieces = [p for i, t in enumerate(got.tracks) if (p := reader.track(i, t)) is not None]
    reader.index_pieces(pieces)
    reader.merge_pieces(pieces)

    # before parts merge: a part merged away by its map id would not show below
    carried = all(item.attr_id for item in reader.items if hasattr(item.obj, "id"))
    items = _merge_parts(reader.items)
    carried = _assign_ids(reader, items) and carried

    # assemble: one value per (sample, frame, field)
    slots: dict[tuple[int, int | None, str], list[_Item]] = {}
    for item in items:
        slots.setdefault((item.sample, item.frame, item.field), []).append(item)
    pulled = Pulled()
    if frames.is_video:
        pulled.samples[0] = PulledSample(
            covered=sorted(frames.sample_frame(f) for f in task_frames))
    else:
        for tf in sorted(task_frames):
            pulled.samples[tf] = PulledSample(
                fields={p: _empty(reader.schema.fields[p]) for p in reader.fields
                        if not reader.schema.fields[p].is_frame_field})
    for (sample, frame, path), group in sorted(
            slots.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0, kv[0][2])):
        rf = reader.schema.fields[path]
        task_frame = sample if frame is None else frames.task_frame(frame) or 0
        value = _field_value(reader, rf, group, task_frame)
        target = pulled.samples.setdefault(sample, PulledSample())
        if frame is None:
            target.fields[path] = value
        else:
            target.frames.setdefault(frame, {})[rf.name] = value
    pulled.unexpected = reader.unexpected
    pulled.notes = reader.notes
    return pulled, carried


def _field_value(reader: _Reader, rf: ResolvedField, group: list[_Item], task_frame: int) -> Any:
    if rf.type == "segmentation":
        return _segmentation(reader, rf, group, task_frame).obj
    if rf.type == "scalar" or rf.single or rf.type == "classification":
        first, extra = group[0], group[1:]
        for item in extra:
            reader.unexpected_object(
                f"field '{rf.path}' holds one label; CVAT has several on this "
                f"{'frame' if item.frame is not None else 'sample'}", item.kind,
                item.dumped() or {"label_id": item.cvat_label}, item.cvat_id,
                item.cvat_label, None, item.dumped().get("type", "tag"), rf.path, task_frame,
                labels=[UnexpectedLabel(frame=item.frame, label=_dump(item.obj))])
        return first.obj
    cls, attr = _CONTAINER[rf.type]
    return cls(**{attr: [item.obj for item in group]})


def _dump(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "model_dump"):
        out: dict[str, Any] = obj.model_dump(by_alias=True, mode="json")
        return out
    return {"_type": "scalar", "value": obj}



# -- boxes of an echoed upload, as plain values -------------------------------------------------

#: Field types whose value is a list of ``Detection``s (``_CONTAINER``) and take a rectangle as
#: a box without a mask.
_BOX_FIELDS = frozenset({"detections", "instances"})
_finite = math.isfinite


class SentBox:
    """One rectangle of an upload as ``from_sent`` reads it back, in plain values: what the
    ``Detection`` it makes holds (``detection`` makes that very object when it is needed)."""

    __slots__ = ("attributes", "box", "field", "id", "index", "label", "rotation", "sample",
                 "z_order")

    def __init__(self, sample: int, field: str, id: str, label: str,
                 box: tuple[float, float, float, float], rotation: float | None,
                 z_order: int | None, index: int | None, attributes: dict[str, Any]) -> None:
        self.sample = sample
        self.field = field
        self.id = id
        self.label = label
        self.box = box
        self.rotation = rotation
        self.z_order = z_order
        self.index = index
        self.attributes = attributes

    def detection(self) -> Detection:
        """The label ``from_sent`` makes of this rectangle, made the way it makes it."""
        obj = Detection(label=self.label, bounding_box=self.box, rotation=self.rotation,
                        z_order=self.z_order)
        obj.attributes = self.attributes
        obj.id = self.id
        if self.index is not None:
            obj.index = self.index
        return obj


def boxes_from_sent(sent: LabeledData, frames: FrameMap, bound: BoundSchema, *,
                    previous: PreviousLabels | None = None) -> list[SentBox] | None:
    """``from_sent`` for the common upload of an image task, without building its labels: when
    every object is a rectangle that becomes a box of a list-of-detections field on an image
    of the task and carries its own label's id (each id once), the labels ``from_sent`` would
    return, one ``SentBox`` each, in order. None for anything else (tags, tracks, another
    shape type or field, a deleted frame, an id carried twice or not at all, a label the
    schema does not know, a value ``Detection`` would refuse): the caller takes ``from_sent``.

    Why: the record of a new task needs only the base digests of what CVAT will hold; building
    10,000 ``Detection``s (and their ``_Item``s, a ``Pulled``, a random id each that is then
    replaced) for that cost half the conversion back (tests/convert/test_sent_bases.py: the bases
    made from these equal those made from ``from_sent``'s labels)."""
    if sent.tracks or sent.tags or frames.is_video or frames.deleted:
        return None
    size = frames.size
    reader = _Reader(frames, bound, None, None, previous, set(range(size)), "")
    schema = reader.schema
    #: CVAT label id -> (BoundLabel, field, class name, ResolvedClass, label id spec)
    routes: dict[int, tuple[BoundLabel, ResolvedField, str, ResolvedClass | None]] = {}
    claimed: set[str] = set()
    out: list[SentBox] = []
    decode = reader.attributes
    for shape in sent.shapes:
        frame = shape.frame
        points = shape.points
        if shape.type != "rectangle" or len(points) < 4 or not 0 <= frame < size:
            return None
        route = routes.get(shape.label_id)
        if route is None:
            routed = reader.route("rectangle", shape.label_id, "shape", shape, shape.id, frame)
            if routed is None:
                return None
            bl, target = routed
            rf = schema.fields[target.field]
            if rf.type not in _BOX_FIELDS or rf.single or rf.is_frame_field:
                return None
            cls = target.cls or bl.name
            route = routes[shape.label_id] = (bl, rf, cls, rf.class_by_name(target.cls or ""))
        bl, rf, cls, rc = route
        values = {a.spec_id: a.value for a in shape.attributes}
        carried = reader.carried_id(bl, values)
        if carried is None or carried in claimed:
            return None
        claimed.add(carried)
        fs = frames.frame_size(frame)
        box = box_to_rel(points[:4], fs.width, fs.height)
        rotation = shape.rotation or None
        # what Detection refuses (from_sent raises): a negative extent, a float not finite
        if not (box[2] >= 0 and box[3] >= 0 and _finite(box[0]) and _finite(box[1])
                and _finite(box[2]) and _finite(box[3])
                and (rotation is None or _finite(rotation))):
            return None
        attributes = decode(rc, bl, values, shape.occluded, shape.group)
        index = None
        if previous is not None:
            info = previous.info(carried)
            if info is not None and info.field == rf.path and info.index is not None:
                index = info.index
        out.append(SentBox(frame, rf.path, carried, cls, box, rotation, shape.z_order or None,
                           index, attributes))
    return out
