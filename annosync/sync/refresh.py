"""Refresh: compare the run's samples with CVAT and compute every merge (nothing is written).

For each uploaded task: list its jobs, download the changed ones, convert them to labels, and
merge each sample's fields three ways (``merge.merge_field``); for samples CVAT did not touch,
only local edits count (``merge.local_changes``). The result is kept in memory (``RunWork``) for
``apply`` and summarised into the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from annosync.convert import PreviousLabels, TaskIdMap
from annosync.convert.results import UnexpectedObject
from annosync.errors import InputError
from annosync.model.sample import Sample
from annosync.model.schema import ResolvedField, ResolvedSchema
from annosync.sync.digest import ScalarItem
from annosync.sync.fields import field_items, pulled_items, rules_for, with_field
from annosync.sync.merge import FieldMerge, local_changes, merge_field
from annosync.sync.plan import ConflictInfo, Counts, LabelLine, RejectionInfo, SampleChange
from annosync.sync.pool import Pool
from annosync.sync.record import RunRecord, TaskRecord
from annosync.sync.remote import TaskView, download, refresh_jobs, sample_data
from annosync.sync.review import ReviewFilter, held_frames
from annosync.sync.session import RunSession


@dataclass
class SampleWork:
    key: str
    task: int
    original: Sample
    merged: Sample
    merges: dict[str, FieldMerge] = field(default_factory=dict)
    pulled: bool = False
    held: str | None = None  # why CVAT's changes to it are held back (nothing pushed either)

    @property
    def changed_locally(self) -> bool:
        return self.merged != self.original


@dataclass
class RunWork:
    """The refresh's results, kept in memory between plan and apply."""

    views: dict[int, TaskView] = field(default_factory=dict)
    samples: dict[str, SampleWork] = field(default_factory=dict)
    unexpected: list[tuple[int, UnexpectedObject]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)  # indexes of tasks deleted in CVAT


def id_map_of(record: RunRecord, task_index: int) -> TaskIdMap:
    task = record.tasks[task_index]
    assert task.id is not None
    return task.id_map or TaskIdMap(task_id=task.id)


def merge_sample(
    session: RunSession,
    key: str,
    local: Sample,
    schema: ResolvedSchema,
    remote: tuple[dict, dict[int, dict]] | None,
) -> SampleWork:
    """Merge every schema field of one sample (``remote`` None: CVAT did not change it)."""
    assert session.record is not None
    base = session.record.base.get(key, {})
    ref = session.record.samples[key]
    work = SampleWork(key, ref.task, local, local, pulled=remote is not None)
    merged = local
    for path, rf in schema.fields.items():
        rules = rules_for(rf)
        dest = session.dest_for(path)
        local_items = field_items(local, rf)
        field_base = base.get(path, {})
        if remote is None:
            m = local_changes(field_base, local_items, rules)
        else:
            remote_items = pulled_items(remote[0], remote[1], rf)
            m = merge_field(field_base, local_items, remote_items, rules, session.conflict_policy)
        if dest is not None:
            # load into another field: the source stays as it is, nothing is pushed from it
            check_dest(session, key, local, rf, dest)
            m.changes = [c for c in m.changes if c.side == "pull"]
            merged = with_field(merged, rf, m.result, name=dest)
        elif m.changed_locally:
            merged = with_field(merged, rf, m.result)
        work.merges[path] = m
    work.merged = merged
    return work


def check_dest(session: RunSession, key: str, sample: Sample, rf: ResolvedField,
               dest: str) -> None:
    """Refuse a ``dest_field`` that already holds another kind of value (never overwrite it)."""
    source = field_items(sample, rf)
    existing = field_items(sample, rf, name=dest)
    kinds = {type(i.obj) for i in source} or {type(i.obj) for i in pulled_items({}, {}, rf)}
    for item in existing:
        if (kinds and type(item.obj) not in kinds) or isinstance(item.obj, ScalarItem) != (
            rf.type == "scalar"
        ):
            raise InputError.at(
                f"dest_field {dest!r} already holds {type(item.obj).__name__} values, not "
                f"{rf.type}: choose a new or matching field",
                str(session.folder.label_path(key)),
            )


def refresh(session: RunSession, schema: ResolvedSchema, work: RunWork) -> None:
    """Fill ``work`` for every uploaded task of the run.

    Tasks are fetched in parallel (``options.concurrency`` at a time), in windows so that only
    a few tasks' samples are in memory at once; merging is pure and runs in order.
    """
    record = session.record
    assert record is not None
    client = session.client
    tasks = [t for t in record.tasks if t.state == "labels_uploaded" and t.id is not None]
    workers = max(1, session.options.concurrency)

    review = ReviewFilter.of(session.manifest.load)

    def fetch(task: TaskRecord) -> tuple[TaskView, dict[str, Sample]]:
        view = TaskView(task)
        refresh_jobs(client, view, review)
        if view.gone:
            return view, {}
        samples = {k: session.read(k) for k in task.samples}
        if view.changed:
            previous = PreviousLabels.from_samples(samples.values(), schema.fields)
            download(client, view, schema, previous, id_map_of(record, task.index))
        return view, samples

    step = session.options.tracker.step(f"plan {session.anno_key}: compare with CVAT",
                                        len(tasks), "tasks")
    with step, Pool(max_workers=workers) as pool:
        for start in range(0, len(tasks), workers * 2):
            for view, samples in pool.map(fetch, tasks[start : start + workers * 2]):
                step.advance()
                task = view.task
                if view.gone:
                    work.gone.append(task.index)
                    continue
                work.views[task.index] = view
                if view.pulled is not None:
                    work.unexpected.extend((task.index, u) for u in view.pulled.unexpected)
                    work.notes.extend(view.pulled.notes)
                held = held_frames(view.jobs, view.held)
                for position, key in enumerate(task.samples):
                    pulled = sample_data(view, position)
                    remote = None if pulled is None else (pulled.fields, pulled.frames)
                    sw = merge_sample(session, key, samples[key], schema, remote)
                    if view.held and (task.media_type == "video" or position in held):
                        sw.held = held.get(position) or next(iter(held.values()))
                    work.samples[key] = sw


def summarize(work: RunWork, schema: ResolvedSchema, verbose: bool = True,
              dest_of: dict[str, str] | None = None) -> tuple[list[SampleChange], list[ConflictInfo], list[RejectionInfo], int]:
    """The plan's view of the merges: per-sample counts, conflicts, rejections, ignored."""
    changes: list[SampleChange] = []
    conflicts: list[ConflictInfo] = []
    rejections: list[RejectionInfo] = []
    ignored = 0
    dest_of = dest_of or {}
    for key, sw in work.samples.items():
        for path, m in sw.merges.items():
            ignored += m.ignored
            conflicts.extend(
                ConflictInfo(sample=key, field=path, label_id=c.label_id, frame=c.frame,
                             kind=c.kind, aspects=list(c.aspects), resolution=c.resolution)
                for c in m.conflicts
            )
            rejections.extend(
                RejectionInfo(sample=key, field=path, label_id=r.label_id, frame=r.frame,
                              reason=r.reason)
                for r in m.rejections
            )
            if not m.changes:
                continue
            pull, push = Counts(), Counts()
            for c in m.changes:
                target = pull if c.side == "pull" else push
                setattr(target, c.kind, getattr(target, c.kind) + 1)
            lines = [
                LabelLine(side=c.side, kind=c.kind, label_id=c.label_id, frame=c.frame,
                          aspects=list(c.aspects))
                for c in m.changes
            ] if verbose else []
            rf: ResolvedField = schema.fields[path]
            changes.append(SampleChange(sample=key, field=rf.path, pull=pull, push=push,
                                        labels=lines, dest_field=dest_of.get(path)))
    return changes, conflicts, rejections, ignored
