"""Import CVAT tasks made outside annosync, and optionally adopt them as an annotation run.

The reference's ``import_annotations(dataset, task_ids=|project_name=, data_path=,
download_media=)``: read each task (labels, data meta, jobs, annotations), tie its frames to
samples (``adopt_media.py``: a data map, CVAT's name rules, or downloaded media), and write the
task's labels into the samples' label fields. With an ``anno_key`` the tasks become a run, as if
annosync had uploaded them: ``pull`` / ``sync`` / ``status`` / ``cleanup`` then work on them.

How the labels are made, and why that makes adoption exact: the task's labels become a resolved
schema the way an existing project's do (``convert.schema_from_project``, one field per label
kind: ``<label_field>_detections`` / ``_polylines`` / ``_keypoints`` / ``_classifications``, or
the fields a ``{kind: field}`` map names; ``frames.`` fields for video tasks), and the
annotations are converted by the very ``convert.from_cvat`` a pull runs, with the pull's scope
(``task<id>``). So the labels written locally are exactly what a pull of the unchanged task
would produce, ids included (an object's ``label_id`` attribute if it carries one, else an id
derived from its CVAT id). The run record then holds:

- the schema (``label_schema``) and a manifest config selecting exactly the adopted samples;
- each task in state ``labels_uploaded`` with its jobs and their current ``updated_date`` (the
  jobs are listed *before* the annotations are read, so an edit made meanwhile shows up in the
  next plan instead of being lost);
- ``samples``: key -> (task index, task frame);
- an id map per task built from the objects the labels came from (tags and shapes by CVAT id,
  tracks by id and by keyframe frame), the second source of provenance when an annotator (or
  CVAT) drops the ``label_id`` attribute, and the only one for tasks that never had it;
- base digests (``create.record_base``) of the labels on both sides, which are equal, so the very
  next plan sees no change and downloads nothing, and the first edit on either side is a plain
  one-sided change.

Cleanup of an adopted run deletes its tasks from CVAT, as the reference's ``results.cleanup()``
deletes a run's tasks; a project is never deleted (``ProjectRecord.created`` is False).

Nothing is half-written: everything is read, matched, converted and validated first; then media
files, label files and the run record are written, each atomically.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from annosync.convert import (
    BoundSchema,
    FrameMap,
    IdEntry,
    PreviousLabels,
    TaskIdMap,
    bind,
    derived_id,
    from_cvat,
    schema_from_project,
)
from annosync.convert.attrs import encode
from annosync.convert.results import Pulled, PulledSample
from annosync.cvat import CvatClient
from annosync.cvatxml.import_ import KINDS, load_data_map
from annosync.dataset.folder import (
    INFO_FILE,
    LABELS_DIR,
    DatasetFolder,
    DatasetInfo,
    sample_to_bytes,
)
from annosync.dataset.media import media_kind
from annosync.errors import InputError, StateError
from annosync.model.cvat import AttributeValue, LabeledData
from annosync.model.ids import new_id
from annosync.model.labels import (
    LABEL_ID_PATTERN,
    NAME_PATTERN,
    Classifications,
    Detections,
    Keypoints,
    Polylines,
    label_objects,
)
from annosync.model.manifest import ANNO_KEY_PATTERN, FieldSchema, Manifest
from annosync.model.sample import Sample
from annosync.model.schema import ResolvedField, ResolvedSchema
from annosync.progress import NULL, Progress
from annosync.sync.adopt_media import Matcher, fetch_images
from annosync.sync.create import record_base
from annosync.sync.digest import digests
from annosync.sync.fields import field_items, pulled_items, rules_for, with_field
from annosync.sync.lock import dataset_lock
from annosync.sync.merge import Item
from annosync.sync.record import (
    ProjectRecord,
    RunRecord,
    SampleRef,
    ServerInfo,
    TaskRecord,
    list_records,
    load_record,
    now_iso,
    save_record,
)
from annosync.sync.remote import job_records

MediaType = Literal["image", "video"]
#: The label kinds an import writes, and the field type each kind's field gets. Polygons and
#: polylines share a field typed ``polygons``, so a CVAT polygon comes back closed and filled
#: and a polyline open, as the reference loads them.
FIELD_TYPES = {"detections": "detections", "polylines": "polygons", "keypoints": "keypoints",
               "classifications": "classifications"}
_CONTAINERS: dict[str, type] = {"detections": Detections, "polygons": Polylines,
                                "keypoints": Keypoints, "classifications": Classifications}
_ID = re.compile(LABEL_ID_PATTERN)
_NAME = re.compile(NAME_PATTERN)
#: Where ``annotate()`` keeps the manifests of the runs it creates (``annosync/api.py``).
_API_MANIFESTS = "manifests"

Report = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class TaskImport:
    """What one task gave."""

    task_id: int
    name: str
    media_type: MediaType
    frames: int
    samples: list[str]
    labels: int = 0
    unexpected: int = 0


@dataclass
class ImportCvatReport:
    """What ``import_cvat`` did (or, with ``dry_run``, would do)."""

    dataset: str
    tasks: list[TaskImport] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    media: list[str] = field(default_factory=list)
    labels: int = 0
    unexpected: int = 0
    fields: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    anno_key: str | None = None
    dry_run: bool = False


@dataclass
class _Task:
    """One task as the server has it, and what the import makes of it."""

    json: dict[str, Any]
    media_type: MediaType
    labels: list[dict[str, Any]]
    meta: dict[str, Any]
    jobs: list[dict[str, Any]]
    annotations: LabeledData
    frames: FrameMap
    keys: list[str] = field(default_factory=list)
    bound: BoundSchema | None = None
    pulled: Pulled | None = None
    id_map: TaskIdMap | None = None

    @property
    def id(self) -> int:
        return int(self.json["id"])

    @property
    def name(self) -> str:
        return str(self.json.get("name") or f"task {self.id}")

    @property
    def frame_names(self) -> list[str]:
        return [str(f.get("name") or "") for f in self.meta.get("frames") or []]

    def pulled_sample(self, position: int) -> PulledSample:
        """What CVAT holds for the task's ``position``-th sample (nothing, for an image
        deleted in CVAT: as a pull sees it)."""
        assert self.pulled is not None
        return self.pulled.samples.get(0 if self.media_type == "video" else position,
                                       PulledSample())


# -- arguments -----------------------------------------------------------------------------------
def label_fields(label_field: str | dict[str, str], media_type: MediaType) -> dict[str, str]:
    """{kind: field path} for a task of ``media_type``: ``<label_field>_<kind>`` for every kind,
    or the kinds a ``{kind: field}`` map names (only those are imported)."""
    if isinstance(label_field, str):
        base = label_field[len("frames."):] if label_field.startswith("frames.") else label_field
        wanted = {k: f"{base}_{k}" for k in KINDS}
    else:
        unknown = sorted(set(label_field) - set(KINDS))
        if unknown or not label_field:
            raise InputError.at(f"label_field: map label kinds ({', '.join(KINDS)}) to fields"
                                + (f", not {unknown}" if unknown else ""))
        wanted = {k: label_field[k] for k in KINDS if k in label_field}
    out: dict[str, str] = {}
    for kind, name in wanted.items():
        is_frames = name.startswith("frames.")
        bare = name[len("frames."):] if is_frames else name
        if not _NAME.match(bare) or bare == "frames":
            raise InputError.at(f"label_field: invalid field name {name!r} (letters, digits, _ "
                                "and -, not starting with a digit)")
        if is_frames and media_type == "image":
            raise InputError.at(f"label_field: {name!r} is a video frame field; image tasks "
                                "need sample fields")
        out[kind] = f"frames.{bare}" if media_type == "video" else bare
    if len(set(out.values())) != len(out):
        raise InputError.at("label_field: each label kind needs its own field")
    return out


def _check_anno_key(anno_key: str) -> None:
    if not re.match(ANNO_KEY_PATTERN, anno_key):
        raise InputError.at(f"invalid anno key {anno_key!r}: letters, digits, _ and -, "
                            "starting with a letter (at most 64)")


# -- the server --------------------------------------------------------------------------------
def resolve_tasks(client: CvatClient, task_ids: Sequence[int] | None, project_name: str | None,
                  project_id: int | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The tasks to import (and the project named, if one was)."""
    given = [x for x in (task_ids or None, project_name, project_id) if x is not None]
    if len(given) != 1:
        raise InputError.at("name the tasks to import: task ids, a project name or a project id "
                            "(one of them)")
    if task_ids:
        return [client.get_task(int(t)) for t in dict.fromkeys(task_ids)], None
    if project_name is not None:
        found = client.find_projects(project_name)
        if not found:
            raise StateError(f"CVAT has no project named {project_name!r}")
        if len(found) > 1:
            ids = ", ".join(str(p["id"]) for p in found)
            raise StateError(f"several CVAT projects are named {project_name!r} (ids {ids}): "
                             "give the project id")
        project = found[0]
    else:
        assert project_id is not None
        project = client.get_project(int(project_id))
    tasks = sorted(client.list_tasks(project_id=int(project["id"])), key=lambda t: int(t["id"]))
    if not tasks:
        raise StateError(f"project {project['name']!r} ({project['id']}) has no tasks")
    return tasks, project


def media_type_of(task: dict[str, Any], meta: dict[str, Any]) -> MediaType:
    """A video task's data is one video file (CVAT 2.x reports ``media_type`` "image" for both;
    ``data_original_chunk_type`` tells them apart, recordings2/09_video)."""
    if task.get("dimension") == "3d":
        raise StateError(f"task {task['id']} is a 3D (point cloud) task: not supported")
    if task.get("data_original_chunk_type") == "video":
        return "video"
    frames = meta.get("frames") or []
    if (task.get("mode") == "interpolation" and len(frames) == 1
            and int(meta.get("size") or 0) > 1 and media_kind(str(frames[0].get("name"))) == "video"):
        return "video"
    return "image"


def fetch_task(client: CvatClient, task: dict[str, Any], report: Report) -> _Task:
    tid = int(task["id"])
    labels = client.get_labels(task_id=tid)
    meta = client.get_data_meta(tid)
    media_type = media_type_of(task, meta)
    # jobs before annotations: an edit made in between moves a job's date past the recorded one,
    # so the next plan downloads it rather than missing it
    jobs = client.list_jobs(task_id=tid)
    annotations = LabeledData.model_validate(client.get_annotations(task_id=tid))
    try:
        frames = FrameMap.from_data_meta(meta, media_type)
    except ValueError as exc:
        raise StateError(f"task {tid}: unusable data/meta: {exc}") from None
    report(f"task {tid} ({task.get('name')}): {frames.size} frame(s), {len(annotations.tags)} "
           f"tag(s), {len(annotations.shapes)} shape(s), {len(annotations.tracks)} track(s)")
    return _Task(task, media_type, labels, meta, jobs, annotations, frames)


# -- the schema --------------------------------------------------------------------------------
def _union_labels(tasks: Iterable[_Task]) -> list[dict[str, Any]]:
    """Top-level CVAT labels of the tasks, by name (the first spec of a name wins; attributes
    other tasks' labels of that name add are appended)."""
    out: dict[str, dict[str, Any]] = {}
    for t in tasks:
        for label in t.labels:
            if label.get("parent_id") is not None:
                continue
            name = str(label["name"])
            if name not in out:
                out[name] = {**label, "attributes": list(label.get("attributes") or [])}
                continue
            have = {a["name"] for a in out[name]["attributes"]}
            out[name]["attributes"] += [a for a in label.get("attributes") or []
                                        if a["name"] not in have]
    return list(out.values())


def build_schema(tasks: list[_Task], paths: dict[str, str], occluded_attr: str | None,
                 group_id_attr: str | None) -> ResolvedSchema:
    """The schema of tasks of one media type: the tasks' labels as classes of every field."""
    field_schemas = {path: FieldSchema(type=FIELD_TYPES[kind])
                     for kind, path in paths.items()}
    return schema_from_project(_union_labels(tasks), field_schemas, None, occluded_attr,
                               group_id_attr)


# -- conversion and provenance -----------------------------------------------------------------
def _carried(bound: BoundSchema, cvat_label: int, attributes: list[AttributeValue]) -> str | None:
    bl = bound.label(cvat_label)
    spec = bl.label_id_spec if bl else None
    if spec is None:
        return None
    value = next((a.value for a in attributes if a.spec_id == spec and a.value), None)
    return value if value and _ID.match(value) else None


def provenance(t: _Task) -> TaskIdMap:
    """The id map of a converted task: which CVAT object each label came from.

    ``from_cvat`` gives an object's label the id it carries (``label_id`` attribute, first
    holder wins) or one derived from the object's CVAT id; here each object is tied to the
    label holding one of those ids. Objects that became no label (unexpected) get no entry.
    """
    assert t.pulled is not None and t.bound is not None
    bound = t.bound
    where: dict[str, tuple[str, int | None]] = {}
    for ps in t.pulled.samples.values():
        for path, value in ps.fields.items():
            for obj in label_objects(value):
                where[obj.id] = (path, getattr(obj, "index", None))
        for frame in ps.frames.values():
            for name, value in frame.items():
                for obj in label_objects(value):
                    where[obj.id] = (f"frames.{name}", getattr(obj, "index", None))
    assigned: set[str] = set()

    def pick(*candidates: str | None) -> str | None:
        for c in candidates:
            if c and c in where and c not in assigned:
                assigned.add(c)
                return c
        return None

    scope = f"task{t.id}"
    entries: list[IdEntry] = []
    data = t.annotations
    for kind, objects in (("tag", data.tags), ("shape", data.shapes)):
        for obj in objects:
            if obj.id is None:
                continue
            lid = pick(_carried(bound, obj.label_id, obj.attributes),
                       derived_id(f"{scope}|{kind}|{obj.id}"))
            if lid is not None:
                path, index = where[lid]
                entries.append(IdEntry(kind=kind, cvat_id=obj.id, field=path, label_id=lid,
                                       index=index))
    for track in data.tracks:
        if track.id is None:
            continue
        keys: list[IdEntry] = []
        for shape in track.shapes:
            if shape.outside:
                continue
            lid = pick(_carried(bound, track.label_id, shape.attributes),
                       derived_id(f"{scope}|track|{track.id}|{shape.frame}"))
            if lid is not None:
                path, index = where[lid]
                keys.append(IdEntry(kind="track", cvat_id=track.id, field=path, label_id=lid,
                                    index=index, frame=shape.frame))
        if keys:
            entries.append(IdEntry(kind="track", cvat_id=track.id, field=keys[0].field,
                                   index=keys[0].index))
            entries.extend(keys)
    return TaskIdMap(task_id=t.id, entries=entries)


def _check_receiving(sample: Sample, schema: ResolvedSchema, where: str) -> None:
    """A receiving field must be absent or hold a list of its kind (never overwrite a value
    of another kind, or cut a single label down)."""
    for rf in schema.fields.values():
        values = ([sample.fields.get(rf.name)] if not rf.is_frame_field
                  else [f.get(rf.name) for f in sample.frames.values()])
        for value in values:
            if value is not None and not isinstance(value, _CONTAINERS[rf.type]):
                raise InputError.at(
                    f"field {rf.path!r} holds {type(value).__name__} values, not "
                    f"{_CONTAINERS[rf.type].__name__}: choose another label field", where)


def place(sample: Sample, schema: ResolvedSchema, pulled: PulledSample) -> Sample:
    """The sample with its schema fields replaced by the task's labels (for a video, on the
    frames the task covers; other frames keep theirs), as CVAT's import replaces them; a label
    replaced by one of the same id keeps what CVAT cannot carry (``_keep_local``)."""
    covered = set(pulled.covered)
    out = sample
    for rf in schema.fields.values():
        items = pulled_items(pulled.fields, pulled.frames, rf)
        stored = {(i.id, i.frame): i.obj for i in field_items(sample, rf)}
        for n, item in enumerate(items):
            old = stored.get((item.id, item.frame))
            if old is not None:
                items[n] = Item(item.id, _keep_local(old, item.obj, rf), item.frame)
        if rf.is_frame_field:
            items = [i for i in field_items(sample, rf) if i.frame not in covered] + items
        out = with_field(out, rf, items)
    return Sample.model_validate(out.model_dump(mode="json", by_alias=True))


def _keep_local(stored: Any, imported: Any, rf: ResolvedField) -> Any:
    """The label to write where an imported label replaces a stored one of the same id.

    The stored label itself when CVAT holds the same thing (every merge aspect digests alike,
    attributes compared as CVAT stores them: ``""`` and a missing text are both ``""``), so
    importing a task again rewrites nothing; else the imported label, keeping the stored
    values of attributes CVAT holds alike, and what CVAT cannot carry (confidence, label tags,
    attributes outside the schema), as a pull keeps them."""
    imported = imported.model_copy(deep=True)  # the pulled label stays as CVAT holds it
    rc = rf.class_by_name(getattr(imported, "label", "") or "")
    sent = {a.name: a for a in rc.sent_attributes} if rc is not None else {}
    rules = rules_for(rf)
    old_d, new_d = digests(stored, rules.attributes), digests(imported, rules.attributes)
    old_attrs = getattr(stored, "attributes", None) or {}
    new_attrs = getattr(imported, "attributes", None)
    differs = set()
    for aspect in set(old_d) | set(new_d):
        if old_d.get(aspect) == new_d.get(aspect):
            continue
        name = aspect[len("attr:"):] if aspect.startswith("attr:") else None
        attr = sent.get(name or "")
        if attr is not None and new_attrs is not None and \
                encode(attr, old_attrs.get(attr.name)) == encode(attr, new_attrs.get(attr.name)):
            if attr.name in old_attrs:
                new_attrs[attr.name] = old_attrs[attr.name]
            else:
                new_attrs.pop(attr.name, None)
            continue
        differs.add(aspect)
    if not differs:
        return stored
    for name in ("confidence", "tags"):
        if getattr(stored, name, None) and not getattr(imported, name, None):
            setattr(imported, name, getattr(stored, name))
    if new_attrs is not None:
        schema_names = {a.name for c in rf.classes for a in c.attributes}
        for key, value in old_attrs.items():
            if key not in schema_names and key not in new_attrs:
                new_attrs[key] = value
    return imported


def _ids_outside(sample: Sample, schema: ResolvedSchema, covered: set[int] | None) -> list[str]:
    """Label ids of a sample that an import into it keeps (not in its receiving fields)."""
    receiving = {rf.name for rf in schema.fields.values() if not rf.is_frame_field}
    frame_fields = {rf.name for rf in schema.fields.values() if rf.is_frame_field}
    out = [o.id for n, v in sample.fields.items() if n not in receiving for o in label_objects(v)]
    for number, frame in sample.frames.items():
        for name, value in frame.items():
            if name in frame_fields and (covered is None or number in covered):
                continue
            out.extend(o.id for o in label_objects(value))
    return out


# -- the run record ----------------------------------------------------------------------------
def held_tasks(folder: DatasetFolder | None) -> dict[int, str]:
    """Task id -> anno key of every task a run of this dataset holds."""
    if folder is None:
        return {}
    out: dict[int, str] = {}
    for key in list_records(folder.state_dir):
        record = load_record(folder.state_dir, key)
        if record is None:
            continue
        for t in record.tasks:
            if t.id is not None:
                out.setdefault(t.id, key)
    return out


def _project_record(client: CvatClient, tasks: list[_Task], named: dict[str, Any] | None
                    ) -> ProjectRecord | None:
    ids = {t.json.get("project_id") for t in tasks}
    if len(ids) != 1 or None in ids:
        return None
    pid = int(next(iter(ids)))  # type: ignore[arg-type]
    project = named if named is not None and int(named["id"]) == pid else \
        client.get_project(pid)
    return ProjectRecord(id=int(project["id"]), name=project.get("name"), created=False)


def _username(user: Any) -> str | None:
    return user.get("username") or None if isinstance(user, dict) else None


def build_record(anno_key: str, client: CvatClient, tasks: list[_Task], schema: ResolvedSchema,
                 paths: dict[str, str], staged: dict[str, Sample],
                 project: ProjectRecord | None, occluded_attr: str | None,
                 group_id_attr: str | None) -> RunRecord:
    keys = [k for t in tasks for k in t.keys]
    cvat: dict[str, Any] = {}
    if project is not None:
        cvat["project_id"] = project.id
    if occluded_attr:
        cvat["occluded_attr"] = occluded_attr
    if group_id_attr:
        cvat["group_id_attr"] = group_id_attr
    manifest = Manifest.model_validate({
        "anno_key": anno_key, "dataset": ".", "samples": {"keys": keys},
        "label_schema": {path: {"type": FIELD_TYPES[kind]} for kind, path in paths.items()},
        "cvat": cvat,
    })
    record = RunRecord(
        anno_key=anno_key, config=manifest.model_dump(mode="json", exclude_defaults=True),
        server=ServerInfo(url=client.url, version=str(client.server_version),
                          organization=client.organization or None),
        project=project, label_schema=schema.model_dump(mode="json", exclude_defaults=True),
        pulled_at=now_iso(),
    )
    for index, t in enumerate(tasks):
        assert t.bound is not None
        video = t.media_type == "video"
        record.tasks.append(TaskRecord(
            index=index, name=t.name, id=t.id, state="labels_uploaded", media_type=t.media_type,
            samples=list(t.keys),
            frame_start=int(t.meta.get("start_frame") or 0) if video else None,
            frame_stop=int(t.meta["stop_frame"]) if video and t.meta.get("stop_frame")
            is not None else None,
            frame_step=t.frames.step if video else None,
            size=int(t.json.get("size") or t.frames.size),
            assignee=_username(t.json.get("assignee")),
            bug_tracker=t.json.get("bug_tracker") or None,
            jobs=job_records(t.jobs),
            labels={b.name: b.id for b in t.bound.labels},
            id_map=t.id_map, created_at=t.json.get("created_date"),
        ))
        for position, key in enumerate(t.keys):
            record.samples[key] = SampleRef(task=index, frame=0 if video else position)
            got = t.pulled_sample(position)
            record_base(record, key, staged[key], schema, (got.fields, got.frames))
    return record


# -- the import ----------------------------------------------------------------------------------
def import_cvat(
    dataset_dir: str | Path,
    client: CvatClient,
    *,
    task_ids: Sequence[int] | None = None,
    project_name: str | None = None,
    project_id: int | None = None,
    data_map: str | Path | dict[str, str] | None = None,
    download_media: bool = False,
    anno_key: str | None = None,
    label_field: str | dict[str, str] = "ground_truth",
    media_dir: str | None = None,
    occluded_attr: str | None = None,
    group_id_attr: str | None = None,
    dry_run: bool = False,
    report: Report | None = None,
    progress: Progress = NULL,
) -> ImportCvatReport:
    """Import CVAT tasks (``task_ids``, or every task of a project) into a dataset folder
    (created if needed); with ``anno_key``, adopt them as an annotation run.

    ``data_map``: ``{CVAT file name: sample key or media path}`` (or a JSON/YAML file of it);
    unmapped files match samples by name as CVAT does. ``download_media``: fetch image tasks'
    files into ``<media_dir>/<CVAT file name>`` (default: the dataset's media folder, ``media``
    for a new dataset; sample keys are media paths below that folder, without extension) and
    create their samples (a data map entry still wins). ``label_field``: a prefix (labels go to
    ``<label_field>_detections`` / ``_polylines`` / ``_keypoints`` / ``_classifications``,
    ``frames.`` fields for videos) or a ``{kind: field}`` map (only those kinds are imported).
    ``occluded_attr`` / ``group_id_attr`` store CVAT's occluded flag / group number as label
    attributes (as in ``annotate()``). The receiving fields of matched samples are replaced.
    """
    say = report or _quiet
    root = Path(dataset_dir)
    if anno_key is not None:
        _check_anno_key(anno_key)
    dmap = load_data_map(data_map)
    exists = (root / LABELS_DIR).is_dir() or (root / INFO_FILE).is_file()
    folder = DatasetFolder.open(root) if exists else None
    out = ImportCvatReport(dataset=str(root), anno_key=anno_key, dry_run=dry_run)
    # one writer per dataset (a new dataset is locked once it exists, just before writing)
    lock = dataset_lock(folder.state_dir) if folder is not None and not dry_run else nullcontext()
    with lock:
        _import(root, folder, client, task_ids, project_name, project_id, dmap, download_media,
                anno_key, label_field, media_dir, occluded_attr, group_id_attr, dry_run, say, out,
                progress)
    return out


def _import(root: Path, folder: DatasetFolder | None, client: CvatClient,
            task_ids: Sequence[int] | None, project_name: str | None, project_id: int | None,
            dmap: dict[str, str], download_media: bool, anno_key: str | None,
            label_field: str | dict[str, str], media_dir: str | None,
            occluded_attr: str | None, group_id_attr: str | None, dry_run: bool, say: Report,
            out: ImportCvatReport, progress: Progress = NULL) -> None:
    if anno_key is not None and folder is not None:
        if load_record(folder.state_dir, anno_key) is not None:
            raise StateError(f"{folder.root}: an annotation run {anno_key!r} already exists "
                             "(choose another anno key, or `annosync forget` it)")
        if (folder.state_dir / _API_MANIFESTS / f"{anno_key}.yaml").is_file():
            raise StateError(f"{folder.root}: annotate() declared a run {anno_key!r} already")
    # -- read the server ------------------------------------------------------------------------
    raw_tasks, named = resolve_tasks(client, task_ids, project_name, project_id)
    held = held_tasks(folder)
    for task in raw_tasks:
        owner = held.get(int(task["id"]))
        if owner is not None:
            raise StateError(
                f"task {task['id']} belongs to run {owner!r} of this dataset already: "
                f"`annosync pull {root} --anno-key {owner}` loads its annotations")
    tasks: list[_Task] = []
    for task in raw_tasks:
        if not int(task.get("size") or 0):
            if task_ids:
                raise StateError(f"task {task['id']} has no data (media) yet")
            out.warnings.append(f"task {task['id']} ({task.get('name')}) has no data: skipped")
            continue
        tasks.append(fetch_task(client, task, say))
    if not tasks:
        raise StateError("no task with data to import")
    types = {t.media_type for t in tasks}
    if anno_key is not None and len(types) > 1:
        raise InputError.at("image and video tasks cannot make one run: adopt them under two "
                            "anno keys (--task-id)")
    paths = {m: label_fields(label_field, m) for m in sorted(types)}
    schemas = {m: build_schema([t for t in tasks if t.media_type == m], paths[m], occluded_attr,
                               group_id_attr) for m in paths}
    out.fields = [p for m in sorted(paths) for p in paths[m].values()]
    # -- match frames to samples ----------------------------------------------------------------
    info_media = folder.info.media_dir if folder is not None else DatasetInfo().media_dir
    matcher = Matcher(folder, root, dmap, media_dir or info_media)
    with tempfile.TemporaryDirectory(prefix="annosync-import-") as tmp:
        _match(tasks, matcher, download_media, client, Path(tmp), say, progress)
        used: dict[str, int] = {}
        for t in tasks:
            for key in t.keys:
                if key in used:
                    raise InputError.at(f"sample {key!r} is a frame of task {used[key]} and of "
                                        f"task {t.id}: map the files to different samples")
                used[key] = t.id
        # -- convert ----------------------------------------------------------------------------
        staged = _convert(tasks, schemas, matcher, folder, anno_key is not None, out)
        for key, sample in sorted(staged.items()):
            old = matcher.samples.get(key)
            if old is None:
                out.created.append(key)
            elif sample_to_bytes(old) != sample_to_bytes(sample):
                out.updated.append(key)
            else:
                out.unchanged.append(key)
        record = None
        if anno_key is not None:
            (m,) = types
            record = build_record(anno_key, client, tasks, schemas[m], paths[m], staged,
                                  _project_record(client, tasks, named), occluded_attr,
                                  group_id_attr)
        out.media = [n.sample.media for n in matcher.plan.media_to_install()]
        if dry_run:
            return
        # -- write ------------------------------------------------------------------------------
        if folder is None:
            folder = DatasetFolder.init(root)
            with dataset_lock(folder.state_dir):
                _write(folder, matcher, staged, record, out)
        else:
            _write(folder, matcher, staged, record, out)


def _match(tasks: list[_Task], matcher: Matcher, download_media: bool, client: CvatClient,
           tmp: Path, say: Report, progress: Progress = NULL) -> None:
    missing: list[str] = []
    for t in tasks:
        where = f"task {t.id} ({t.name})"
        if t.media_type == "video":
            (name,) = t.frame_names[:1] or [""]
            key = matcher.match(name, where)
            if key is None:
                why = ("CVAT cannot give back a video's original file, only re-encoded frames"
                       if download_media else "no sample matches it")
                raise InputError.at(
                    f"video {name!r}: {why}; put the video in the dataset and map it with a "
                    f"data map ({{{name!r}: <media path or sample key>}})", where)
            if not matcher.sample(key).is_video:
                raise InputError.at(f"video {name!r} matches sample {key!r}, which is not a "
                                    "video", where)
            t.keys = [key]
            continue
        keys: list[str | None] = []
        for name in t.frame_names:
            key = matcher.match(name, where, by_name=not download_media)
            if key is not None and matcher.sample(key).is_video:
                raise InputError.at(f"image {name!r} matches sample {key!r}, which is a video",
                                    where)
            keys.append(key)
        unmatched = [n for n, k in zip(t.frame_names, keys, strict=True) if k is None]
        if unmatched and download_media:
            for name in unmatched:
                matcher.download_path(name, where)  # refuse unsafe names before downloading
            numbers = {n: i for i, n in enumerate(t.frame_names)}
            files = fetch_images(client, t.id, {n: numbers[n] for n in unmatched}, tmp, say,
                                 progress)
            keys = [k if k is not None else matcher.add_downloaded(n, files[n], where)
                    for n, k in zip(t.frame_names, keys, strict=True)]
        elif unmatched:
            missing += [f"{where}: {n}" for n in unmatched]
            continue
        t.keys = [k for k in keys if k is not None]
    if missing:
        shown = "; ".join(missing[:5]) + (f" (and {len(missing) - 5} more)"
                                          if len(missing) > 5 else "")
        raise InputError.at(f"{len(missing)} CVAT file(s) match no sample: {shown}. Map them "
                            "with a data map, or download them (download_media / "
                            "--download-media)")


def _convert(tasks: list[_Task], schemas: dict[MediaType, ResolvedSchema], matcher: Matcher,
             folder: DatasetFolder | None, adopting: bool, out: ImportCvatReport
             ) -> dict[str, Sample]:
    staged: dict[str, Sample] = {}
    for t in tasks:
        schema = schemas[t.media_type]
        where = f"task {t.id} ({t.name})"
        t.bound = bind(schema, t.labels)
        existing = [matcher.sample(k) for k in t.keys if not matcher.is_new(k)]
        for k in t.keys:
            label_file = str(folder.label_path(k)) if folder and not matcher.is_new(k) else where
            _check_receiving(matcher.sample(k), schema, label_file)
        previous = PreviousLabels.from_samples(existing, schema.fields)
        t.pulled = from_cvat(t.annotations, t.frames, t.bound, previous=previous,
                             scope=f"task{t.id}")
        t.id_map = provenance(t)
        info = TaskImport(t.id, t.name, t.media_type, t.frames.size, list(t.keys),
                          unexpected=len(t.pulled.unexpected))
        reasons = Counter(u.reason for u in t.pulled.unexpected)
        out.warnings += [f"{where}: {n} object(s) not imported: {r}" for r, n in
                         sorted(reasons.items())]
        out.warnings += [f"{where}: {note}" for note in t.pulled.notes]
        for position, key in enumerate(t.keys):
            got = t.pulled_sample(position)
            staged[key] = place(matcher.sample(key), schema, got)
            info.labels += sum(len(pulled_items(got.fields, got.frames, rf))
                               for rf in schema.fields.values())
        out.tasks.append(info)
        out.labels += info.labels
        out.unexpected += info.unexpected
    _unique_ids(tasks, schemas, staged, matcher, adopting, out)
    return staged


def _unique_ids(tasks: list[_Task], schemas: dict[MediaType, ResolvedSchema],
                staged: dict[str, Sample], matcher: Matcher, adopting: bool,
                out: ImportCvatReport) -> None:
    """Label ids stay unique in the dataset: an imported label whose id another label keeps
    gets a new id (plain import) or stops the adoption (its id must stay the pulled one)."""
    taken: Counter[str] = Counter()
    for key, sample in matcher.samples.items():
        if key not in staged:
            taken.update(sample.label_ids())
    for t in tasks:
        schema = schemas[t.media_type]
        for position, key in enumerate(t.keys):
            got = t.pulled_sample(position)
            covered = set(got.covered) if t.media_type == "video" else None
            taken.update(_ids_outside(matcher.sample(key), schema, covered))
    clashes: list[tuple[str, str]] = []
    for t in tasks:
        schema = schemas[t.media_type]
        for position, key in enumerate(t.keys):
            got = t.pulled_sample(position)
            for rf in schema.fields.values():
                for item in pulled_items(got.fields, got.frames, rf):
                    if taken[item.id]:
                        clashes.append((key, item.id))
                        if not adopting:
                            item.obj.id = new_id()
                    taken[item.obj.id] += 1
    if not clashes:
        return
    if adopting:
        shown = ", ".join(f"{k}: {i}" for k, i in clashes[:5])
        raise StateError(
            f"{len(clashes)} label id(s) the tasks carry are used by other labels of the dataset "
            f"({shown}): were the tasks made from this dataset? Import them into the fields "
            "holding those labels (label_field={kind: field}), or without an anno key")
    for t in tasks:  # re-place the samples whose labels got new ids
        schema = schemas[t.media_type]
        for position, key in enumerate(t.keys):
            staged[key] = place(matcher.sample(key), schema, t.pulled_sample(position))
    out.warnings.append(f"{len(clashes)} imported label(s) got new ids (theirs were used by "
                        "other labels of the dataset)")


def _write(folder: DatasetFolder, matcher: Matcher, staged: dict[str, Sample],
           record: RunRecord | None, out: ImportCvatReport) -> None:
    matcher.plan.install()
    for key in out.created + out.updated:
        folder.write(key, staged[key])
    if record is not None:
        save_record(folder.state_dir, record)
