"""Placing imported labels into the fields of a dataset's samples, with the id rules.

Why a module: whatever the file's layout, an import ends the same way. Each label read from the
file is merged into the stored label it is (same ``label_id``; same track ``index`` on the same
frame; or, for files without ids, an identical stored label), keeping that one's id, field and
position; everything else is new. ``replace`` replaces the receiving fields, ``merge`` keeps the
stored labels nothing matched. See import_.py for the whole import.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from annosync.cvatxml.xmlmap import (
    OUTSIDE_AFTER,
    SOURCE,
    Unexportable,
    label_to_shapes,
    load_shapes,
)
from annosync.errors import InputError
from annosync.model.ids import new_id
from annosync.model.labels import (
    LABEL_ID_PATTERN,
    Classification,
    Classifications,
    Detection,
    Detections,
    Keypoint,
    Keypoints,
    Polyline,
    Polylines,
    Segmentation,
    label_objects,
)
from annosync.model.sample import Sample

Mode = Literal["replace", "merge"]

CONTAINERS: dict[str, tuple[type, type, str]] = {
    "detections": (Detections, Detection, "detections"),
    "polylines": (Polylines, Polyline, "polylines"),
    "keypoints": (Keypoints, Keypoint, "keypoints"),
    "classifications": (Classifications, Classification, "classifications"),
}
#: The kinds of label an import places, each in ``<label_field>_<kind>`` unless mapped.
KINDS = ("detections", "polylines", "keypoints", "classifications")
_LABEL_ID = re.compile(LABEL_ID_PATTERN)


@dataclass
class Imported:
    """One label read from a file, not yet placed in a field."""

    kind: str
    obj: Any
    label_id: str | None = None
    track: int | None = None  # the file's track number (video layout)


@dataclass
class Counts:
    labels: int = 0
    merged: int = 0


def _geometry(obj: Any, w: int, h: int) -> list[tuple[Any, ...]]:
    out = []
    for s in label_to_shapes(obj, w, h):
        m = s.mask
        out.append((s.kind, s.points, s.rotation,
                    None if m is None else (tuple(m.rle), m.left, m.top, m.width, m.height),
                    [(e.points, e.outside) for e in s.elements]))
    return out


def same_geometry(a: Any, b: Any, w: int, h: int) -> bool:
    """``a`` and ``b`` are written to XML with the same shapes and pixels."""
    if type(a) is not type(b) or isinstance(a, (Classification, Segmentation)):
        return False
    try:
        return _geometry(a, w, h) == _geometry(b, w, h)
    except (TypeError, ValueError, Unexportable):
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
    for name in ("cvat.cuboid", "cvat.element_details"):
        value = stored.attributes.get(name)
        if value is not None and name in imported.attributes:
            imported.attributes[name] = value


#: Label fields CVAT XML has no place for: a merged label keeps its stored values.
NOT_IN_XML = ("confidence", "tags", "mask_path")


def carry_over(stored: Any, imported: Any) -> None:
    """Copy into ``imported`` what the XML could not carry from the ``stored`` label it merges
    into (confidence, label tags, a mask file path; the track ``index`` and ``keyframe`` when
    the file had no track for it, as in the images layout of a video)."""
    for name in NOT_IN_XML:
        if hasattr(stored, name) and hasattr(imported, name) and not getattr(imported, name):
            setattr(imported, name, getattr(stored, name))
    if getattr(imported, "index", None) is None and getattr(stored, "index", None) is not None:
        imported.index = stored.index
        imported.keyframe = stored.keyframe
    if imported.attributes.get(SOURCE) == "file" and SOURCE not in stored.attributes:
        del imported.attributes[SOURCE]  # CVAT's stamp on whatever it imported: no edit
    _settle_outside(stored, imported)


def _settle_outside(stored: Any, imported: Any) -> None:
    """A stored track label without recorded ``outside`` frames stays so when the file's only
    ``outside`` frame is the one the export writes for it (the next frame, a keyframe):
    re-importing an export changes nothing."""
    if OUTSIDE_AFTER in stored.attributes or OUTSIDE_AFTER not in imported.attributes:
        return
    try:
        after = load_shapes(imported.attributes[OUTSIDE_AFTER], "")
    except ValueError:
        return
    if len(after) == 1 and after[0].keyframe and after[0].outside is not False:
        del imported.attributes[OUTSIDE_AFTER]


class Placer:
    """Puts imported labels into fields of staged samples, applying the id rules."""

    def __init__(self, label_field: str, fields: dict[str, str], mode: Mode,
                 counts: Counts, dataset_ids: set[str]) -> None:
        self.label_field = label_field
        self.fields = fields
        self.mode = mode
        self.counts = counts
        self.dataset_ids = dataset_ids  # ids anywhere in the dataset
        self.taken: set[str] = set()  # ids given to labels by this import (all samples)
        self.receiving: set[str] = set()  # every field written
        self.last_receiving: set[str] = set()  # the fields of the last place()
        self._good_fields: set[str] = set()

    def field_for(self, kind: str) -> str:
        name = self.fields.get(kind) or f"{self.label_field}_{kind}"
        return name[len("frames."):] if name.startswith("frames.") else name

    def place(self, sample: Sample, items: Sequence[tuple[int | None, Imported]], video: bool,
              task_frames: set[int] | None, size: tuple[int, int]) -> Sample:
        """A new ``Sample`` with ``items`` (frame numbers or None) placed into it.

        A label merged into an existing one keeps that one's position in its field (and its
        stored coordinates if they give the same pixels); new labels follow, by ``z_order``.
        """
        data = sample.model_copy(deep=True)
        existing: dict[str, tuple[int | None, str, Any]] = {}  # id -> (frame, field, obj)
        for fname, value in data.fields.items():
            for obj in label_objects(value):
                existing[obj.id] = (None, fname, obj)
        for number, frame in data.frames.items():
            for fname, value in frame.items():
                for obj in label_objects(value):
                    existing[obj.id] = (number, fname, obj)
        used: set[str] = set()
        # tracks continued by provenance: imported track number -> (field, index)
        track_map: dict[int, tuple[str, int]] = {}
        for _, imp in items:
            if imp.track is not None and imp.label_id in existing and imp.track not in track_map:
                _, fname, obj = existing[imp.label_id]
                if getattr(obj, "index", None) is not None:
                    track_map[imp.track] = (fname, obj.index)
        # files without ids: a track continues its stored twin, each stored track at most one
        # file track (two identical tracks stay two)
        stored_tracks: dict[tuple[str, int], list[str]] = {}
        for oid, (_, fname, obj) in existing.items():
            if getattr(obj, "index", None) is not None:
                stored_tracks.setdefault((fname, obj.index), []).append(oid)
        claimed = {oid for key in track_map.values() for oid in stored_tracks.get(key, [])}
        for frame_no, imp in items:
            if imp.track is None or imp.track in track_map or imp.label_id or not existing:
                continue
            twin = _twin(existing, frame_no, self.field_for(imp.kind), imp.obj, claimed, size)
            if twin is not None and getattr(existing[twin][2], "index", None) is not None:
                key = (existing[twin][1], existing[twin][2].index)
                track_map[imp.track] = key
                claimed.update(stored_tracks.get(key, []))
        max_index: dict[str, int] = {}
        for _, fname, obj in existing.values():
            idx = getattr(obj, "index", None)
            if idx is not None:
                max_index[fname] = max(max_index.get(fname, 0), idx)
        by_frame_index: dict[tuple[int | None, str, int], str] = {
            (frame_no, fname, obj.index): oid for oid, (frame_no, fname, obj) in existing.items()
            if getattr(obj, "index", None) is not None
        }
        placed: dict[tuple[int | None, str], list[tuple[tuple[int, int, int], Any]]] = {}
        receiving: set[str] = set()
        new_tracks: dict[int, int] = {}
        for seq, (frame_no, imp) in enumerate(items):
            obj = imp.obj
            fname = self.field_for(imp.kind)
            position = (1, getattr(obj, "z_order", None) or 0, seq)
            if imp.track is not None:
                if imp.track in track_map:
                    fname, obj.index = track_map[imp.track]
                else:
                    if imp.track not in new_tracks:
                        max_index[fname] = max_index.get(fname, 0) + 1
                        new_tracks[imp.track] = max_index[fname]
                    obj.index = new_tracks[imp.track]
            chosen: str | None = None
            hit = existing.get(imp.label_id or "")
            if hit is not None and hit[0] == frame_no and imp.label_id not in used:
                chosen = imp.label_id
                fname = hit[1]
                position = (0, _position(data, hit), 0)
                keep_geometry(hit[2], obj, *size)
                carry_over(hit[2], obj)
                self.counts.merged += 1
            elif imp.track is not None and obj.index is not None:
                prior = by_frame_index.get((frame_no, fname, obj.index))
                if prior is not None and prior not in used:
                    chosen = prior
                    position = (0, _position(data, existing[prior]), 0)
                    keep_geometry(existing[prior][2], obj, *size)
                    carry_over(existing[prior][2], obj)
                    self.counts.merged += 1
            if chosen is None and imp.label_id and _LABEL_ID.match(imp.label_id) \
                    and imp.label_id not in self.taken and imp.label_id not in self.dataset_ids:
                chosen = imp.label_id  # a new label keeps the id it carries, if still free
            if chosen is None and not imp.label_id and existing:
                # no provenance (a file made in CVAT): an identical stored label keeps its id
                twin = _twin(existing, frame_no, fname, obj, used, size)
                if twin is not None:
                    chosen = twin
                    position = (0, _position(data, existing[twin]), 0)
                    keep_geometry(existing[twin][2], obj, *size)
                    carry_over(existing[twin][2], obj)
                    self.counts.merged += 1
            if chosen is None or chosen in self.taken:
                chosen = new_id()  # random: not kept in ``taken`` (a million ids would be)
            else:
                self.taken.add(chosen)
            obj.id = chosen
            used.add(chosen)
            receiving.add(fname)
            placed.setdefault((frame_no, fname), []).append((position, obj))
            self.counts.labels += 1
        self.receiving |= receiving
        self.last_receiving = receiving
        frames_scope: list[int | None] = [None]
        if video:
            frames_scope = list(sorted(task_frames or {f for f, _ in placed if f is not None}))
        for frame_no in frames_scope:
            for fname in sorted(receiving):
                new_objs = [o for _, o in sorted(placed.get((frame_no, fname), []),
                                                 key=lambda po: po[0])]
                target = data.fields if frame_no is None else data.frames.setdefault(frame_no, {})
                old = target.get(fname)
                if self.mode == "merge" and old is not None:
                    # existing labels stay where they are (updated if matched); new ones follow
                    incoming = {o.id: o for o in new_objs}
                    merged = [incoming.pop(o.id, o) for o in label_objects(old)
                              if o.id in incoming or o.id not in used]
                    new_objs = merged + list(incoming.values())
                _assign(target, fname, old, new_objs)
            if frame_no is not None and not data.frames.get(frame_no):
                data.frames.pop(frame_no, None)
        if not video and not sample.fields and not sample.frames:
            # a new sample of validated labels: only the field names are left to check (the
            # whole sample dumped and validated again would cost as much as making the labels)
            for fname in receiving:
                self._check_field(fname)
            return data
        try:
            return Sample.model_validate(data.model_dump(mode="json", by_alias=True))
        except ValidationError as exc:
            raise InputError.at(f"the imported labels do not make a valid sample: {exc}") from None

    def placed_direct(self, fname: str | None, n: int) -> None:
        """What ``place`` records when ``n`` new labels went to field ``fname`` (None: no
        label) of a sample without labels by another way (``direct.py``)."""
        receiving = set() if fname is None else {fname}
        if fname is not None:
            self._check_field(fname)
        self.counts.labels += n
        self.receiving |= receiving
        self.last_receiving = receiving

    def _check_field(self, fname: str) -> None:
        """The sample model's own rule for field names (each name checked once)."""
        if fname in self._good_fields:
            return
        try:
            Sample.model_validate({"media": "m", "fields": {fname: None}})
        except ValidationError as exc:
            raise InputError.at(f"the imported labels do not make a valid sample: {exc}") from None
        self._good_fields.add(fname)


def _twin(existing: dict[str, tuple[int | None, str, Any]], frame_no: int | None, fname: str,
          obj: Any, used: set[str], size: tuple[int, int]) -> str | None:
    """The id of an unclaimed stored label on the same frame and field that is the same as
    ``obj`` (class, geometry, attributes), if any; one with the same ``z_order`` first (two
    labels that differ only there are two labels)."""
    fallback = None
    for oid, (f, name, stored) in existing.items():
        if (f != frame_no or name != fname or oid in used or type(stored) is not type(obj)
                or getattr(stored, "label", None) != getattr(obj, "label", None)
                or stored.attributes != obj.attributes):
            continue
        if isinstance(obj, Classification) or same_geometry(stored, obj, *size):
            if getattr(stored, "z_order", None) == getattr(obj, "z_order", None):
                return oid
            fallback = fallback or oid
    return fallback


def _position(sample: Sample, hit: tuple[int | None, str, Any]) -> int:
    frame_no, fname, obj = hit
    container = sample.fields if frame_no is None else sample.frames.get(frame_no, {})
    objs = label_objects(container.get(fname))
    for i, o in enumerate(objs):
        if o.id == obj.id:
            return i
    return 10**8


def _assign(target: dict[str, Any], fname: str, old: Any, objs: list[Any]) -> None:
    """Set a field to ``objs``, keeping a single-label field single and an emptied container
    an (empty) container of its type."""
    if old is not None and not isinstance(old, tuple(
            t for c in CONTAINERS.values() for t in c[:2])):
        raise InputError.at(f"field {fname!r} holds a value that is not a label of a kind the "
                            "import writes; choose another field with `fields=` / --field")
    if not objs:
        if old is None:
            return
        for container, _single, attr in CONTAINERS.values():
            if isinstance(old, container):
                target[fname] = container(**{attr: []})
                return
        del target[fname]
        return
    kinds = {type(o) for o in objs}
    for container, single, attr in CONTAINERS.values():
        if kinds == {single}:
            if isinstance(old, single) and len(objs) == 1:
                target[fname] = objs[0]
            else:
                target[fname] = container(**{attr: objs})
            return
    names = sorted(t.__name__ for t in kinds)
    raise InputError.at(f"field {fname!r} would mix label types {names}; map the kinds to "
                        "different fields")
