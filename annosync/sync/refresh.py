"""Refresh: compare the run's samples with CVAT and compute every merge (nothing is written).

For each uploaded task: list its jobs, download the changed ones, convert them to labels, and
merge each sample's fields three ways (``merge.merge_field``); for samples CVAT did not touch,
only local edits count (``merge.local_changes``). The result is kept in memory (``RunWork``) for
``apply`` and summarised into the plan.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from annosync.convert.id_map import TaskIdMap
from annosync.errors import InputError
from annosync.model.sample import Sample
from annosync.model.schema import ResolvedField, ResolvedSchema
from annosync.sync.digest import ScalarItem
from annosync.sync.fields import field_items, pulled_items, rules_for, with_field
from annosync.sync.index import CleanMemo
from annosync.sync.merge import FieldMerge, local_changes, merge_field
from annosync.sync.plan import ConflictInfo, Counts, LabelLine, RejectionInfo, SampleChange
from annosync.sync.record import RunRecord, TaskRecord
from annosync.sync.review import ReviewFilter, held_frames
from annosync.sync.session import RunSession
from annosync.sync.shards import task_of

if TYPE_CHECKING:  # what talks to CVAT and converts its answers loads when a server is asked
    from annosync.convert.results import UnexpectedObject
    from annosync.sync.remote import Answer, TaskView


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
    memo: CleanMemo | None = None  # the plan's clean memo, carried past apply
    unexpected: list[tuple[int, UnexpectedObject]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)  # indexes of tasks deleted in CVAT
    pulled: bool = False  # CVAT's labels of some sample were downloaded and merged


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
    local_agrees: bool = False,
) -> SampleWork:
    """Merge every schema field of one sample (``remote`` None: CVAT did not change it).
    ``local_agrees``: the clean memo vouches that the file agrees with the base, so its
    labels' digests are the base's (not computed again)."""
    assert session.record is not None
    base = session.record.base.get(key, {})
    task = task_of(session.record.samples, key)
    if task is None:
        raise KeyError(key)
    work = SampleWork(key, task, local, local, pulled=remote is not None)
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
            m = merge_field(field_base, local_items, remote_items, rules, session.conflict_policy,
                            local_agrees=local_agrees)
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


def agrees(sw: SampleWork) -> bool:
    """Nothing to do for this sample: no change, conflict, rejection or note, file as it is."""
    return not sw.changed_locally and not sw.held and all(
        not (m.changes or m.conflicts or m.rejections or m.notes or m.ignored)
        for m in sw.merges.values())


def base_kept(session: RunSession, key: str, sw: SampleWork) -> bool:
    """Whether the base apply would record for this sample is the one the record holds."""
    assert session.record is not None
    return {p: m.base for p, m in sw.merges.items() if m.base} == session.record.base.get(key, {})


#: glibc's ``malloc_trim`` once looked up (False: not there, nothing to call)
_trim: Any = None


def give_back_freed_memory() -> None:
    """Return to the system the heap pages a converted task's labels left free (glibc's
    ``malloc_trim``). Without it they stay resident, and the next tasks' conversions land
    on a heap left higher by the ones before: a pull of 20k samples touching every task
    peaked at ~200 MB, ~192 with it (the rest is the first task's conversion). Elsewhere
    (no glibc) nothing is done."""
    global _trim
    if _trim is None:
        _trim = False
        try:
            import ctypes

            _trim = getattr(ctypes.CDLL(None), "malloc_trim", False)
        except (OSError, ImportError):
            pass
    if _trim:
        _trim(0)


def ensure_samples(session: RunSession, work: RunWork, task: TaskRecord) -> None:
    """Merge now the samples of ``task`` the plan skipped (their files agree with the base and
    CVAT did not change them): pushing a task needs all of its samples."""
    assert session.schema is not None
    for key in task.samples:
        if key not in work.samples:
            sample, _ = session.read_indexed(key)
            work.samples[key] = merge_sample(session, key, sample, session.schema, None)


def refresh(session: RunSession, schema: ResolvedSchema, work: RunWork,
            memo: CleanMemo | None = None) -> None:
    """Fill ``work`` for every uploaded task of the run.

    Tasks' jobs are listed and the changed ones downloaded in parallel (``options.concurrency``
    at a time, in windows); each downloaded task is then converted, merged and let go of in
    this thread, one at a time and in order, so that one task's labels and samples are in
    memory at once (the others wait as CVAT's answers).

    With a ``memo`` (``sync/index.py``), a sample of a task CVAT did not change whose file is
    byte for byte one that agreed with this very run record before is not read at all: it is
    left out of ``work`` (``ensure_samples`` brings it in if apply needs it).
    """
    from annosync.convert.previous import PreviousLabels
    from annosync.sync.remote import (
        TaskView,
        convert_answers,
        fetch_answers,
        list_jobs_in_bulk,
        refresh_jobs,
        sample_data,
    )

    work.memo = memo
    record = session.record
    assert record is not None
    session.index.pin()  # one stat per file for this plan (the fingerprint reuses it)
    client = session.client
    tasks = [t for t in record.tasks if t.state == "labels_uploaded" and t.id is not None]
    only = session.options.only_tasks
    if only is not None:
        tasks = [t for t in tasks if t.id in only]
    workers = max(1, session.options.concurrency)

    review = ReviewFilter.of(session.manifest.load)
    from annosync.sync.pool import Pool, ordered  # threads: only when CVAT is asked

    pool = Pool(max_workers=workers)
    # every task's jobs in a few listings (tasks whose jobs changed in number: one by one),
    # asked for while the files are compared below (the stats let go of the GIL)
    listing = pool.submit(list_jobs_in_bulk, client, tasks)
    # the files the index and the memo vouch for, found in bulk (one stat each, compared
    # with the index's rows at C speed): left out below unless CVAT changed their job
    doubtful: set[str] = set()
    try:
        if memo is not None:
            every = [k for t in tasks for k in t.samples]
            doubtful = memo.doubtful(every, session.index.survey(every))
        listed = listing.result()
    except BaseException:
        pool.__exit__(*sys.exc_info())
        raise

    Read = dict[str, tuple[Sample, str]]
    # a pull reads each file once (apply writes from the merges): the session's parsed-sample
    # cache (up to 2,048 samples, ~25 MB of 10-box samples) would only hold them, and the
    # samples it keeps across tasks pin the heap each task grows
    remember = session.options.mode != "pull"

    def fetch(task: TaskRecord) -> tuple[TaskView, list[Answer]]:
        """In a pool thread: the task's jobs and the changed ones' annotations, downloaded
        (not converted: that and the merge run one task at a time, below)."""
        view = TaskView(task)
        refresh_jobs(client, view, review, listed.get(task.id) if task.id is not None else None)
        if view.gone or not view.changed:
            return view, []
        # its shard is loaded by ``read``, in the plan's thread, when its turn comes: loaded
        # here, the shards of every task waiting its turn (up to ``concurrency + 1``) were in
        # memory at once, and each window of tasks left the heap higher (pu15)
        return view, fetch_answers(client, view, schema)

    def read(view: TaskView, answers: list[Answer]) -> tuple[Read, list[tuple[int, str]]]:
        """The samples of the task to merge (read once: digest and parse) and, for the jobs
        CVAT changed, its labels converted (``view.pulled``)."""
        task = view.task
        if view.changed:  # its shard loaded first: the load's passing peak is over before
            id_map_of(record, task.index)  # the task's samples are read
        # frames whose samples must be read: all of a video; of an image task, those of the
        # jobs CVAT changed (the others only count when their file changed)
        frames: set[int] = set()
        for job in view.changed:
            frames |= set(range(job.start_frame, job.stop_frame + 1))
        needed = None if view.changed and task.media_type == "video" else frames
        quiet = memo is not None and not view.held and needed is not None
        if quiet and not frames and doubtful.isdisjoint(task.samples):
            todo = []  # every file vouched for by the index and the memo: nothing to read
        elif quiet:
            todo = [(p, k) for p, k in enumerate(task.samples) if k in doubtful or p in frames]
        else:
            todo = list(enumerate(task.samples))
        samples: Read = {}  # the samples read (the others agree with the base, unchanged)
        order: list[tuple[int, str]] = []
        for position, k in todo:
            if quiet and position not in frames:
                known = session.index.known(k)
                if known is not None and memo is not None and memo.is_clean(k, known.sha):
                    continue
            samples[k] = session.read_indexed(k, remember)  # read once: digest and parse
            order.append((position, k))
        if view.changed:
            previous = PreviousLabels.from_samples([s[0] for s in samples.values()],
                                                   schema.fields)
            convert_answers(view, schema, previous, id_map_of(record, task.index), answers)
            skipped = {p for p, k in enumerate(task.samples) if k not in samples}
            if view.covered & skipped:  # tracks: the whole task was read; so are its samples
                for p in sorted(skipped):
                    samples[task.samples[p]] = session.read_indexed(task.samples[p], remember)
                order = [(p, k) for p, k in enumerate(task.samples) if k in samples]
                previous = PreviousLabels.from_samples([s[0] for s in samples.values()],
                                                       schema.fields)
                view.pulled = None
                convert_answers(view, schema, previous, id_map_of(record, task.index),
                                answers)
        return samples, order

    def merge_task(view: TaskView, samples: Read, order: list[tuple[int, str]]) -> None:
        """Merge the samples read of one task with its labels CVAT changed; keep in ``work``
        the samples with something to do. What it read and converted goes with its return."""
        task = view.task
        if view.pulled is not None:
            work.unexpected.extend((task.index, u) for u in view.pulled.unexpected)
            work.notes.extend(view.pulled.notes)
        held = held_frames(view.jobs, view.held)
        for position, key in order:  # the others agree with the base, CVAT left them
            got = samples[key]
            pulled = sample_data(view, position)
            remote = None if pulled is None else (pulled.fields, pulled.frames)
            clean = memo is not None and memo.is_clean(key, got[1])
            if remote is None and clean and not view.held:
                continue  # read again (a racy index entry) but known to agree: as above
            sw = merge_sample(session, key, got[0], schema, remote, clean)
            if view.held and (task.media_type == "video" or position in held):
                sw.held = held.get(position) or next(iter(held.values()))
            # nothing to do for it: no change, and (pulled) the same base as before
            clean_now = agrees(sw) and (remote is None or base_kept(session, key, sw))
            work.pulled = work.pulled or remote is not None
            if memo is not None:
                memo.mark(key, got[1] if clean_now else None)
            if clean_now and not view.held:
                # left out like the samples above (apply would write nothing for it),
                # so a plan holds the samples with something to do, not every sample
                # of the jobs CVAT changed: memory flat in the number of samples
                continue
            work.samples[key] = sw
        # the downloaded labels are merged: only the samples' merges are kept
        view.pulled = None
        if session.options.mode == "pull":  # nothing is pushed: apply needs its jobs only
            view.frames, view.bound, view.covered = None, None, set()

    step = session.options.tracker.step(f"plan {session.anno_key}: compare with CVAT",
                                        len(tasks), "tasks")
    with step, pool:
        for start in range(0, len(tasks), workers * 2):
            for view, answers in ordered(pool, fetch, tasks[start : start + workers * 2],
                                         workers):
                step.advance()
                task = view.task
                if view.gone:
                    work.gone.append(task.index)
                    continue
                work.views[task.index] = view
                if view.changed:  # the survey's digests as strings: made again if asked for
                    session.index.shed()
                # one task converted and merged at a time (the others are downloading)
                merge_task(view, *read(view, answers))
                if view.changed and session.options.mode != "push":
                    # its shard let go of but for the samples apply will write: a pull
                    # holds one task's shard at a time, not every task it touched
                    record.release(task.index, [k for k in task.samples if k in work.samples])
                changed = bool(view.changed)
                del answers, view
                if changed:
                    give_back_freed_memory()


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
