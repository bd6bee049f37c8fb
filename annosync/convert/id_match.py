"""Building a task's id map from an upload and the server's answer to it.

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

from annosync.convert.binding import BoundSchema
from annosync.convert.id_map import IdEntry, ObjectKind, TaskIdMap
from annosync.convert.results import SentObject, Upload
from annosync.model.cvat import LabeledData, Shape, Tag, Track


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


def _in_place(kind: ObjectKind, sent: list[SentObject], got: list[Tag] | list[Shape],
              bound: BoundSchema) -> list[IdEntry] | None:
    """``_match_flat``'s answer when every answered object is where it was sent: same count,
    each with an id, the CVAT label of the object sent at its position, and carrying one of
    that object's label ids (then ``_match_flat``, going in order, claims exactly that object
    each time: every earlier one is claimed, and the label filter keeps it). None otherwise.
    CVAT answers a PUT or PATCH ``action=create`` in the order sent (recordings/05), so this
    is the usual case, and it skips the candidate lists."""
    if len(sent) != len(got):
        return None
    out: list[IdEntry] = []
    append = out.append
    for s, obj in zip(sent, got, strict=True):
        if obj.id is None or obj.label_id != s.cvat_label:
            return None
        found = _label_id(bound, obj.label_id, obj.attributes)
        if found is None or found not in s.label_ids:
            return None
        append(IdEntry(kind=kind, cvat_id=obj.id, field=s.field, label_id=found,
                       index=s.index, part=s.part))
    return out


def build_id_map(task_id: int, upload: Upload, response: LabeledData | Mapping[str, Any],
                 bound: BoundSchema) -> TaskIdMap:
    """The ids the server gave to what ``upload`` sent (PUT, or PATCH ``action=create``)."""
    got = response if isinstance(response, LabeledData) else LabeledData.model_validate(response)
    tags = _in_place("tag", upload.tags, got.tags, bound)
    shapes = _in_place("shape", upload.shapes, got.shapes, bound)
    entries = (
        (_match_flat("tag", upload.tags, got.tags, bound) if tags is None else tags)
        + (_match_flat("shape", upload.shapes, got.shapes, bound) if shapes is None else shapes)
        + _match_tracks(upload.tracks, got.tracks, bound)
    )
    return TaskIdMap(task_id=task_id, entries=entries)


class _Placed:
    """A sent tag or shape as an echoing answer holds it, its id its position (``EchoIdMap``):
    what the matching reads of an answered object, nothing more."""

    __slots__ = ("attributes", "frame", "id", "label_id")

    def __init__(self, position: int, obj: Tag | Shape) -> None:
        self.id = position
        self.label_id = obj.label_id
        self.attributes = obj.attributes
        self.frame = obj.frame


class EchoIdMap:
    """``build_id_map``'s entries for an answer that echoes ``upload`` (``convert.echo``: the
    objects sent, in order, each with an id), made before the answer: the matching reads of
    an answered object only its label, attributes, frame and whether it has an id, which an
    echo shares with what was sent; so the entries are those of the sent objects, each id
    its object's position, and ``given`` puts the answer's ids in their place."""

    def __init__(self, task_id: int, upload: Upload, bound: BoundSchema) -> None:
        data = upload.data
        tags: Any = [_Placed(i, o) for i, o in enumerate(data.tags)]
        shapes: Any = [_Placed(i, o) for i, o in enumerate(data.shapes)]
        placed = LabeledData.model_construct(version=0, tracks=[], tags=tags, shapes=shapes)
        self.task_id = task_id
        #: as ``build_id_map`` gives them, each ``cvat_id`` the object's position in its kind
        self.entries = [] if data.tracks else build_id_map(task_id, upload, placed,
                                                            bound).entries

    def given(self, tag_ids: list[int], shape_ids: list[int]) -> TaskIdMap:
        """The map once the answer gave these ids (tags', shapes', each in the order sent)."""
        ids = {"tag": tag_ids, "shape": shape_ids}
        return TaskIdMap(task_id=self.task_id, entries=[
            IdEntry(e.kind, ids[e.kind][e.cvat_id], e.field, e.label_id, e.index, e.part, e.frame)
            for e in self.entries])
