"""Push local edits into an existing task: two-way sync.

What to send comes from the merges (changes on the ``push`` side). The task's current objects
are fetched once and indexed by label id (the ``label_id`` attribute first, the id map second);
each re-sent label replaces its old object in place with ``PATCH ?action=update`` (CVAT keeps the
id) when it maps to exactly one object of the same kind, otherwise the old objects are deleted and
the new ones created. On video a label is one frame of a track: the whole track is re-sent.
A push is idempotent: a re-plan after an interrupted push sees what arrived as agreement.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from annosync.convert import BoundSchema, FrameMap, Upload, build_id_map, to_cvat
from annosync.convert.results import SentObject
from annosync.cvat import CvatClient
from annosync.model.cvat import LabeledData
from annosync.model.sample import Sample
from annosync.model.schema import ResolvedSchema
from annosync.sync.digest import ScalarItem
from annosync.sync.fields import field_items, with_field
from annosync.sync.record import TaskRecord

Kind = str  # "tag" | "shape" | "track"


@dataclass
class Wanted:
    """What one task needs pushed: label ids to (re)send and to delete, per field."""

    send: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    delete: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def __bool__(self) -> bool:
        return any(self.send.values()) or any(self.delete.values())


@dataclass
class PushResult:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    id_map: Any = None


def _label_id_of(obj: Any, kind: Kind, bound: BoundSchema, id_map: Any,
                 frame: int | None = None, track_id: int | None = None) -> str | None:
    label = bound.label(int(obj.label_id)) if hasattr(obj, "label_id") else None
    spec = label.label_id_spec if label else None
    if spec is not None:
        for attr in obj.attributes:
            if attr.spec_id == spec and attr.value:
                return str(attr.value)
    if id_map is None:
        return None
    if kind == "track" and track_id is not None and frame is not None:
        return id_map.keyframe_label(track_id, frame)
    return id_map.label_for(kind, getattr(obj, "id", None))


def index_objects(current: LabeledData, bound: BoundSchema, id_map: Any
                  ) -> dict[str, list[tuple[Kind, Any]]]:
    """Label id -> the CVAT objects carrying it (a track is listed under each keyframe's id)."""
    out: dict[str, list[tuple[Kind, Any]]] = defaultdict(list)
    for tag in current.tags:
        lid = _label_id_of(tag, "tag", bound, id_map)
        if lid:
            out[lid].append(("tag", tag))
    for shape in current.shapes:
        lid = _label_id_of(shape, "shape", bound, id_map)
        if lid:
            out[lid].append(("shape", shape))
    for track in current.tracks:
        seen: set[str] = set()
        spec = None
        label = bound.label(track.label_id)
        if label is not None:
            spec = label.label_id_spec
        for keyframe in track.shapes:
            lid = None
            if spec is not None:
                lid = next(
                    (a.value for a in keyframe.attributes if a.spec_id == spec and a.value), None
                )
            if lid is None and id_map is not None:
                lid = id_map.keyframe_label(track.id, keyframe.frame)
            if lid and lid not in seen:
                seen.add(lid)
                out[lid].append(("track", track))
    return out


def _only(sample: Sample, schema: ResolvedSchema, keep: dict[str, set[str]]) -> Sample:
    """A copy of ``sample`` holding only the labels (by id) in ``keep``, per field."""
    out = sample.model_copy(update={"fields": {}, "frames": {}})
    for path, rf in schema.fields.items():
        wanted = keep.get(path)
        if not wanted:
            continue
        items = [i for i in field_items(sample, rf) if i.id in wanted]
        out = with_field(out, rf, items)
    return out


def _track_closure(sample: Sample, schema: ResolvedSchema, send: dict[str, set[str]],
                   delete: dict[str, set[str]], old_index: dict[str, int | None]
                   ) -> dict[str, set[str]]:
    """Video: a frame label stands for its whole track, so send every label of its index."""
    out: dict[str, set[str]] = defaultdict(set)
    for path, rf in schema.fields.items():
        if not rf.is_frame_field:
            out[path] |= send.get(path, set())
            continue
        items = field_items(sample, rf)
        indexes = {getattr(i.obj, "index", None) for i in items if i.id in send.get(path, ())}
        indexes |= {old_index.get(lid) for lid in delete.get(path, ())}
        indexes.discard(None)
        for item in items:
            idx = getattr(item.obj, "index", None)
            if item.id in send.get(path, ()) or (idx is not None and idx in indexes):
                out[path].add(item.id)
    return out


def _partition(upload: Upload, ids_for: dict[tuple[Kind, int], int | None]) -> tuple[Upload, Upload]:
    """Split an upload into (objects to update in place, objects to create)."""
    update, create = Upload(), Upload()
    for kind, data_attr, sent_attr in (("tag", "tags", "tags"), ("shape", "shapes", "shapes"),
                                       ("track", "tracks", "tracks")):
        objects = getattr(upload.data, data_attr)
        sent: list[SentObject] = getattr(upload, sent_attr)
        for i, obj in enumerate(objects):
            target = ids_for.get((kind, i))
            dest = update if target is not None else create
            if target is not None:
                obj = obj.model_copy(update={"id": target})
            getattr(dest.data, data_attr).append(obj)
            getattr(dest, sent_attr).append(sent[i])
    return update, create


def push_task(
    client: CvatClient,
    task: TaskRecord,
    samples: list[Sample],
    wanted: list[Wanted],
    schema: ResolvedSchema,
    frames: FrameMap,
    bound: BoundSchema,
) -> PushResult:
    """Send one task's local changes. ``samples`` and ``wanted`` are in task order."""
    assert task.id is not None
    is_video = task.media_type == "video"
    raw = client.get_annotations(task_id=task.id)
    if not is_video:
        raw = _relevant(raw, wanted, task.id_map)
    current = LabeledData.model_validate(raw)
    del raw
    index = index_objects(current, bound, task.id_map)
    sends: list[dict[str, set[str]]] = []
    for sample, want in zip(samples, wanted, strict=True):
        if is_video:
            old_index = {lid: _old_track_index(objs, task) for lid, objs in index.items()}
            sends.append(_track_closure(sample, schema, want.send, want.delete, old_index))
        else:
            sends.append({p: set(ids) for p, ids in want.send.items()})
    filtered = [_only(s, schema, keep) for s, keep in zip(samples, sends, strict=True)]
    upload = to_cvat(filtered, list(schema.fields), frames, bound)

    replace: dict[tuple[Kind, int], int | None] = {}
    to_delete: dict[tuple[Kind, int], Any] = {}
    used: set[tuple[Kind, int]] = set()
    for kind, sent_list in (("tag", upload.tags), ("shape", upload.shapes),
                            ("track", upload.tracks)):
        for i, sent in enumerate(sent_list):
            olds = {(k, o.id): o for lid in sent.label_ids for k, o in index.get(lid, [])}
            same = [key for key in olds if key[0] == kind and key not in used]
            if len(olds) == 1 and same:
                replace[(kind, i)] = same[0][1]
                used.add(same[0])
            else:
                to_delete.update(olds)
    for want in wanted:
        for ids in want.delete.values():
            for lid in ids:
                for k, o in index.get(lid, []):
                    if (k, o.id) not in used and not (k == "track" and _still_sent(o, upload)):
                        to_delete[(k, o.id)] = o
    # scalar fields have no label id on CVAT's side: replace the field's tags on that frame
    for position, want in enumerate(wanted):
        for path in set(want.send) | set(want.delete):
            rf = schema.fields[path]
            ids = want.send.get(path, set()) | want.delete.get(path, set())
            if rf.type != "scalar" or ScalarItem.ID not in ids or is_video:
                continue
            for tag in current.tags:
                label = bound.label(tag.label_id)
                if tag.frame == position and label and any(t.field == path for t in label.targets):
                    to_delete[("tag", int(tag.id or 0))] = tag
    for key in used:
        to_delete.pop(key, None)

    result = PushResult()
    id_map = task.id_map
    if to_delete:
        body = LabeledData(
            tags=[o for (k, _), o in to_delete.items() if k == "tag"],
            shapes=[o for (k, _), o in to_delete.items() if k == "shape"],
            tracks=[o for (k, _), o in to_delete.items() if k == "track"],
        )
        client.patch_annotations("delete", body.model_dump(mode="json", exclude_none=True),
                                 task_id=task.id)
        result.deleted = len(to_delete)
    update, create = _partition(upload, replace)
    for action, part in (("update", update), ("create", create)):
        data = part.data
        if not (data.tags or data.shapes or data.tracks):
            continue
        response = client.patch_annotations(action, data.to_api(), task_id=task.id)
        fresh = build_id_map(task.id, part, response, bound)
        id_map = id_map.merged(fresh) if id_map is not None else fresh
        count = len(data.tags) + len(data.shapes) + len(data.tracks)
        if action == "update":
            result.updated += count
        else:
            result.created += count
    result.id_map = id_map
    return result


def _relevant(raw: Any, wanted: list[Wanted], id_map: Any) -> Any:
    """Of an image task's annotations (CVAT's JSON), the objects a push can touch; only those
    are parsed into models (a task's worth of models took ~4 KB per shape).

    ``push_task`` looks objects up by the label ids it sends or deletes, and reads the tags of
    the frames it sends a scalar to. An object is kept when one of its attribute values or its
    id map entry is such an id (its label id is one of these two, so none it could look up is
    left out; keeping more changes nothing), a tag when it is on a frame being pushed to.
    Tracks and anything not shaped as expected are kept as they are (parsing reports them)."""
    if not isinstance(raw, dict):
        return raw
    ids: set[str] = set()
    frames: set[int] = set()
    for position, want in enumerate(wanted):
        if want:
            frames.add(position)
        for group in (want.send, want.delete):
            for some in group.values():
                ids.update(some)

    def carries(obj: Any, kind: Kind) -> bool:
        if not isinstance(obj, dict) or not isinstance(obj.get("attributes", []), list):
            return True
        if any(not isinstance(a, dict) or str(a.get("value")) in ids
               for a in obj.get("attributes", [])):
            return True
        cvat_id = obj.get("id")
        return id_map is not None and isinstance(cvat_id, int) and \
            id_map.label_for(kind, cvat_id) in ids

    out = dict(raw)
    tags, shapes = raw.get("tags"), raw.get("shapes")
    if isinstance(tags, list):
        out["tags"] = [t for t in tags if carries(t, "tag") or t.get("frame") in frames]
    if isinstance(shapes, list):
        out["shapes"] = [o for o in shapes if carries(o, "shape")]
    return out


def _old_track_index(objects: list[tuple[Kind, Any]], task: TaskRecord) -> int | None:
    for kind, obj in objects:
        if kind == "track" and task.id_map is not None:
            entry = task.id_map.track(obj.id)
            if entry is not None:
                return entry.index
    return None


def _still_sent(track: Any, upload: Upload) -> bool:
    """True when a track being deleted is in fact re-sent (one of its frames was removed)."""
    return any(t.id == track.id for t in upload.data.tracks)
