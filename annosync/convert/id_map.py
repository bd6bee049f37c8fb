"""label id <-> CVAT id, per task: the second source of provenance after the ``label_id`` attribute.

Why: annotators (and CVAT itself, when a class changes to one with other attributes, or a track
is split or merged) clear or duplicate ``label_id``. The reference keeps a map from CVAT's ids to
label ids, but overwrites it per batch, so all tasks but the last lose it; here the map is one
``TaskIdMap`` per task, gathered in a ``RunIdMap`` that survives any number of tasks.

``build_id_map`` pairs what was sent (``Upload``) with what the server answered to the
PUT/PATCH: first by the ``label_id`` attribute each answered object carries, then, for objects
that lost it, by position among the unmatched objects of the same CVAT label and frame. Tracks
match when any of their keyframes carries a sent keyframe's label id on the same frame (a track
cut at job boundaries comes back as several pieces; each piece is recorded), else by position.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from annosync.convert.binding import BoundSchema
from annosync.convert.results import ObjectKind, SentObject, Upload
from annosync.model.cvat import LabeledData, Shape, Tag, Track


class IdEntry(BaseModel):
    """One CVAT object (or one keyframe of a track) and the label it holds."""

    model_config = ConfigDict(extra="forbid")

    kind: ObjectKind
    cvat_id: int
    field: str
    label_id: str | None = None
    index: int | None = None
    part: int = 0
    frame: int | None = Field(default=None, description="tracks: the keyframe's task frame")


class TaskIdMap(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: int
    entries: list[IdEntry] = Field(default_factory=list)
    _objects: dict[tuple[str, int], IdEntry] = PrivateAttr(default_factory=dict)
    _keys: dict[tuple[int, int], str] = PrivateAttr(default_factory=dict)
    _tracks: dict[int, IdEntry] = PrivateAttr(default_factory=dict)

    def model_post_init(self, __context: Any) -> None:
        self._index()

    def _index(self) -> None:
        self._objects.clear()
        self._keys.clear()
        self._tracks.clear()
        for e in self.entries:
            if e.kind == "track":
                if e.frame is None:
                    self._tracks[e.cvat_id] = e
                elif e.label_id is not None:
                    self._keys[(e.cvat_id, e.frame)] = e.label_id
            else:
                self._objects[(e.kind, e.cvat_id)] = e

    def label_for(self, kind: ObjectKind, cvat_id: int | None) -> str | None:
        """The label id of a tag or shape."""
        if cvat_id is None:
            return None
        entry = self._objects.get((kind, cvat_id))
        return entry.label_id if entry else None

    def track(self, cvat_id: int | None) -> IdEntry | None:
        """(field, index, part) of a track."""
        return self._tracks.get(cvat_id) if cvat_id is not None else None

    def keyframe_label(self, track_id: int | None, frame: int) -> str | None:
        """The label id of a track's keyframe on a task frame."""
        return self._keys.get((track_id, frame)) if track_id is not None else None

    def merged(self, newer: TaskIdMap) -> TaskIdMap:
        """This map updated with ``newer``'s entries (same CVAT object: the newer entry wins)."""
        def key(e: IdEntry) -> tuple[str, int, int | None]:
            return (e.kind, e.cvat_id, e.frame)

        table = {key(e): e for e in self.entries}
        table.update({key(e): e for e in newer.entries})
        return TaskIdMap(task_id=self.task_id, entries=[table[k] for k in sorted(
            table, key=lambda k: (k[0], k[1], -1 if k[2] is None else k[2]))])


class RunIdMap(BaseModel):
    """One ``TaskIdMap`` per task of a run."""

    model_config = ConfigDict(extra="forbid")

    tasks: dict[int, TaskIdMap] = Field(default_factory=dict)

    def for_task(self, task_id: int) -> TaskIdMap:
        return self.tasks.get(task_id) or TaskIdMap(task_id=task_id)

    def update(self, task_map: TaskIdMap) -> None:
        old = self.tasks.get(task_map.task_id)
        self.tasks[task_map.task_id] = old.merged(task_map) if old else task_map


def _label_id(bound: BoundSchema, label_id: int, attributes: list[Any]) -> str | None:
    bl = bound.label(label_id)
    spec = bl.label_id_spec if bl else None
    if spec is None:
        return None
    for a in attributes:
        if a.spec_id == spec and a.value:
            return str(a.value)
    return None


def _match_flat(kind: ObjectKind, sent: list[SentObject], got: list[Tag] | list[Shape],
                bound: BoundSchema) -> list[IdEntry]:
    out: list[IdEntry] = []
    claimed: set[int] = set()
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sent):
        for lid in s.label_ids:
            by_label[lid].append(i)
    unmatched: list[int] = []
    for j, obj in enumerate(got):
        if obj.id is None:
            continue
        found = _label_id(bound, obj.label_id, obj.attributes)
        candidates = [i for i in by_label.get(found or "", []) if i not in claimed]
        candidates = [i for i in candidates if sent[i].cvat_label == obj.label_id] or candidates
        if candidates:
            i = candidates[0]
            claimed.add(i)
            s = sent[i]
            out.append(IdEntry(kind=kind, cvat_id=obj.id, field=s.field, label_id=found,
                               index=s.index, part=s.part))
        else:
            unmatched.append(j)
    # by position, among the unmatched objects of the same CVAT label and frame
    pending: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, s in enumerate(sent):
        if i not in claimed:
            pending[(s.cvat_label, s.frames[0] if s.frames else -1)].append(i)
    for j in unmatched:
        obj = got[j]
        queue = pending.get((obj.label_id, obj.frame))
        if queue and obj.id is not None:
            s = sent[queue.pop(0)]
            out.append(IdEntry(kind=kind, cvat_id=obj.id, field=s.field,
                               label_id=s.label_ids[0] if s.label_ids else None,
                               index=s.index, part=s.part))
    return out


def _match_tracks(sent: list[SentObject], got: list[Track], bound: BoundSchema) -> list[IdEntry]:
    out: list[IdEntry] = []
    keys: dict[tuple[int, str], int] = {}
    for i, s in enumerate(sent):
        for frame, lid in zip(s.frames, s.label_ids, strict=False):
            keys.setdefault((frame, lid), i)
    used: set[int] = set()
    unmatched: list[Track] = []
    for track in got:
        if track.id is None:
            continue
        hits = []
        for shape in track.shapes:
            carried = _label_id(bound, track.label_id, shape.attributes)
            if carried is not None and (shape.frame, carried) in keys:
                hits.append(keys[(shape.frame, carried)])
        if not hits:
            unmatched.append(track)
            continue
        i = hits[0]
        used.add(i)
        out.extend(_track_entries(sent[i], track))
    rest = [i for i in range(len(sent)) if i not in used]
    for track in unmatched:
        same = [i for i in rest if sent[i].cvat_label == track.label_id]
        if same:
            i = same[0]
            rest.remove(i)
            out.extend(_track_entries(sent[i], track))
    return out


def _track_entries(s: SentObject, track: Track) -> list[IdEntry]:
    assert track.id is not None
    out = [IdEntry(kind="track", cvat_id=track.id, field=s.field, index=s.index, part=s.part)]
    by_frame = dict(zip(s.frames, s.label_ids, strict=False))
    for shape in track.shapes:
        lid = by_frame.get(shape.frame)
        if lid is not None and not shape.outside:
            out.append(IdEntry(kind="track", cvat_id=track.id, field=s.field, label_id=lid,
                               index=s.index, part=s.part, frame=shape.frame))
    return out


def build_id_map(task_id: int, upload: Upload, response: LabeledData | Mapping[str, Any],
                 bound: BoundSchema) -> TaskIdMap:
    """The ids the server gave to what ``upload`` sent (PUT, or PATCH ``action=create``)."""
    got = response if isinstance(response, LabeledData) else LabeledData.model_validate(response)
    entries = (
        _match_flat("tag", upload.tags, got.tags, bound)
        + _match_flat("shape", upload.shapes, got.shapes, bound)
        + _match_tracks(upload.tracks, got.tracks, bound)
    )
    return TaskIdMap(task_id=task_id, entries=entries)
