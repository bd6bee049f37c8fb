"""Apply a run's plan: create, write merged labels, push, record the new base, clean up.

Order matters for resuming (docs/sync-algorithm.md): creation steps are journaled; merged label
files are written atomically before anything is pushed; the run record (base digests, job dates,
id maps) is saved last. An apply killed between these steps is healed by the next plan: what was
written or pushed already shows up as agreement between the two sides.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from annosync.convert import PreviousLabels, derived_id, from_cvat
from annosync.cvat import CvatNotFound
from annosync.dataset import jsonfmt
from annosync.dataset.atomic import write_bytes_atomic
from annosync.dataset.folder import sample_to_bytes
from annosync.errors import ConflictError, StateError
from annosync.model.labels import CONTAINERS, LABEL_CLASSES
from annosync.sync.create import Creator
from annosync.sync.digest import digests
from annosync.sync.fields import field_items, pulled_items, rules_for
from annosync.sync.index import CleanMemo, content_digest
from annosync.sync.journal import Journal
from annosync.sync.lock import dataset_lock
from annosync.sync.merge import BaseEntry
from annosync.sync.plan import RunPlan
from annosync.sync.planned import planned_tasks
from annosync.sync.planner import memo_context, plan_run
from annosync.sync.pool import Pool
from annosync.sync.previous import save_previous
from annosync.sync.push import PushResult, Wanted, push_task
from annosync.sync.record import JobRecord, now_iso, save_record
from annosync.sync.refresh import RunWork, SampleWork, agrees, ensure_samples, merge_sample
from annosync.sync.remote import TaskView, bound_schema, frame_map, job_records
from annosync.sync.review import jobs_of_frames, keep_held, set_status, status_body
from annosync.sync.session import RunSession

Report = Callable[[str], None]


@dataclass
class ApplyResult:
    anno_key: str
    written: list[str] = field(default_factory=list)
    pushed: PushResult = field(default_factory=PushResult)
    created_tasks: list[int] = field(default_factory=list)
    unexpected: list[dict[str, Any]] = field(default_factory=list)
    cleaned: list[int] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    reviewed: list[int] = field(default_factory=list)  # jobs given cvat.on_push's stage/state


def _quiet(_: str) -> None:
    pass


def check_plan(session: RunSession, rp: RunPlan) -> RunWork:
    """The work behind a plan; a saved plan is recomputed (with the options it was made with)
    and must match its fingerprint."""
    if isinstance(rp._work, RunWork):
        return rp._work
    if rp.error:
        raise StateError(f"run {rp.anno_key}: {rp.error}")
    for name, value in rp.options.items():
        setattr(session.options, name, value)
    fresh = plan_run(session)
    if fresh.fingerprint != rp.fingerprint:
        if fresh.blocked:  # say what changed when the new plan knows (a task deleted, ...)
            raise StateError(f"run {rp.anno_key}: the saved plan is stale: "
                             + "; ".join(fresh.blocked))
        raise StateError(
            f"run {rp.anno_key}: the saved plan is stale (a label file, the manifest, the run "
            "record or a CVAT job changed since it was made): run `annosync plan` again"
        )
    return fresh._work


def apply_run(session: RunSession, rp: RunPlan, report: Report = _quiet) -> ApplyResult:
    result = ApplyResult(session.anno_key)
    with dataset_lock(session.state_dir, session.options.lock_timeout):
        work = check_plan(session, rp)
        if rp.unsaved_ids:
            raise StateError(
                f"run {rp.anno_key}: {len(rp.unsaved_ids)} label file(s) hold labels without "
                f"`_id` (first: {session.folder.label_path(rp.unsaved_ids[0])}); their ids "
                "would reach CVAT without being saved: run `annosync fmt "
                f"{session.folder.root}` (or `annosync sync`, which saves them first) and plan "
                "again"
            )
        if rp.blocked and not (session.options.force and not rp.unresolved):
            if rp.unresolved:
                raise ConflictError("\n".join(rp.blocked))
            raise StateError("\n".join(rp.blocked))
        if rp.recreate:
            _forget_gone(session, rp.recreate, report)
        if rp.create_project or rp.create_tasks or rp.resume:
            create(session, rp, result, report)
        # samples with something to do, or CVAT's changes merged with nothing to do (the
        # plan keeps no sample then; the jobs' dates are still recorded)
        if work.samples or work.pulled or work.unexpected:
            sync_labels(session, work, result, report)
        if rp.cleanup is not None:
            cleanup(session, result, report)
        Journal(session.state_dir, session.anno_key).clear()
    return result


def _forget_gone(session: RunSession, names: list[str], report: Report) -> None:
    """Tasks deleted in CVAT start over: planned again, their base and ids forgotten (the
    dataset's labels are uploaded as they are now)."""
    record = session.record
    assert record is not None
    for task in record.tasks:
        if task.name not in names:
            continue
        report(f"task {task.name} ({task.id}) was deleted in CVAT: creating it again")
        task.id, task.state, task.jobs, task.id_map = None, "planned", [], None
        task.size, task.created_at, task.labels = None, None, {}
        for key in task.samples:
            record.base.pop(key, None)
    save_record(session.state_dir, record)


def create(session: RunSession, rp: RunPlan, result: ApplyResult, report: Report) -> None:
    creator = Creator(session, report)
    creator.start()
    tasks = planned_tasks(session)
    if [t.name for t in tasks] != [t.name for t in rp.create_tasks]:
        raise StateError(f"run {rp.anno_key}: the samples to upload changed since the plan")
    creator.add_tasks(tasks)
    before = set(session.record.created_task_ids()) if session.record else set()
    creator.run()
    assert session.record is not None
    result.created_tasks = [i for i in session.record.created_task_ids() if i not in before]
    creator.launch_editor()


def _unexpected(session: RunSession, work: RunWork, result: ApplyResult, report: Report) -> None:
    """Store, return or drop what fits no field, per ``load.unexpected``."""
    if not work.unexpected:
        return
    policy = session.unexpected_policy
    if policy == "prompt" and not (session.is_terminal() or session.options.prompt):
        report(f"{len(work.unexpected)} unexpected label(s): no terminal to ask, returning them")
        policy = "return"
    assert session.record is not None
    by_kind: dict[str, list[tuple[str, Any]]] = {}
    for task_index, obj in work.unexpected:
        task = session.record.tasks[task_index]
        key = task.samples[0] if task.media_type == "video" else task.samples[obj.sample]
        entry = obj.model_dump(mode="json")
        entry["task_frame"] = entry.pop("sample")
        result.unexpected.append({"sample": key, **entry})
        by_kind.setdefault(obj.label_type or "unknown", []).append((key, obj))
    if policy == "ignore":
        report(f"ignored {len(work.unexpected)} unexpected label(s)")
        return
    if policy == "return":
        path = session.state_dir / "unexpected" / f"{session.anno_key}.json"
        write_bytes_atomic(path, jsonfmt.dump_bytes(result.unexpected))
        report(f"{len(result.unexpected)} unexpected label(s) written to {path}")
        return
    for kind, objects in by_kind.items():
        target = kind
        if policy == "prompt":
            ask = session.options.prompt or input
            answer = ask(f"{len(objects)} unexpected {kind} label(s): field to store them in "
                         f"(empty to skip) [{kind}]: ").strip()
            if answer == "":
                continue
            target = answer
        _keep(session, work, target, objects)


def _keep(session: RunSession, work: RunWork, target: str, objects: list[tuple[str, Any]]) -> None:
    """Add unexpected labels to a field named after their type (or chosen at the prompt)."""
    for key, obj in objects:
        sw = work.samples.get(key)
        sample = sw.merged if sw else session.read(key)
        for n, entry in enumerate(obj.labels):
            label = entry["label"] if isinstance(entry, dict) else entry.label
            frame = entry.get("frame") if isinstance(entry, dict) else entry.frame
            kind = label.get("_type")
            cls = LABEL_CLASSES.get(kind) if kind else None
            if cls is None:
                continue
            if obj.cvat_id is not None:
                # the same CVAT object always becomes the same label (no duplicates on re-pull)
                label = {**label, "_id": derived_id(f"{key}/{obj.kind}/{obj.cvat_id}/{n}")}
            value = cls.model_validate(label)
            fields = dict(sample.fields) if frame is None else dict(sample.frames.get(frame, {}))
            fields[target] = _append(fields.get(target), value)
            if frame is None:
                sample = sample.model_copy(update={"fields": fields})
            else:
                frames = dict(sample.frames)
                frames[frame] = fields
                sample = sample.model_copy(update={"frames": frames})
        if sw:
            sw.merged = sample
        else:
            work.samples[key] = SampleWork(key, -1, session.read(key), sample)


def _append(existing: Any, value: Any) -> Any:
    """Add a label to a field: into its container (made from a single label if needed)."""
    for container, (item, attr) in CONTAINERS.items():
        if isinstance(value, item):
            value = container(**{attr: [value]})
        if isinstance(value, container):
            if existing is None:
                return value
            if isinstance(existing, container):
                # an unexpected object seen again on a later pull is not added twice
                have = {o.id for o in getattr(existing, attr)}
                fresh = [o for o in getattr(value, attr) if o.id not in have]
                return container(**{attr: [*getattr(existing, attr), *fresh]})
            return existing
    return value if existing is None else existing


def sync_labels(session: RunSession, work: RunWork, result: ApplyResult, report: Report) -> None:
    record = session.record
    schema = session.schema
    assert record is not None and schema is not None
    mode = session.options.mode
    _unexpected(session, work, result, report)
    if mode in ("sync", "pull"):
        changed = {key: json.loads(sample_to_bytes(sw.original))
                   for key, sw in work.samples.items() if sw.changed_locally}
        if changed:  # what `annosync diff` compares with when there is no git
            save_previous(session.state_dir, session.anno_key, now_iso(), changed)
        for key, sw in work.samples.items():
            if sw.changed_locally and session.folder.write(key, sw.merged):
                result.written.append(key)
        if result.written:
            report(f"wrote {len(result.written)} label file(s)")
    pushed_tasks = _push(session, work, result, report) if mode in ("sync", "push") else set()
    # the new base: after the pull (merge.base), refreshed where pushes landed
    for key, sw in work.samples.items():
        if sw.task < 0:
            continue
        fields = {p: dict(m.base) for p, m in sw.merges.items()}
        record.base[key] = {p: e for p, e in fields.items() if e}
        if not record.base[key]:
            del record.base[key]
    for index in pushed_tasks:
        _refresh_base(session, work, index)
    _job_dates(session, work, pushed_tasks)
    stamp = now_iso()
    if (work.pulled or any(sw.pulled for sw in work.samples.values())) and mode != "push":
        record.pulled_at = stamp
    if pushed_tasks:
        record.pushed_at = stamp
    save_record(session.state_dir, record)
    _carry_memo(session, work, result, pushed_tasks)


def _carry_memo(session: RunSession, work: RunWork, result: ApplyResult,
                pushed: set[int]) -> None:
    """The plan's clean memo, for the record just saved: so the next plan does not read every
    file again after each pull. Carried: samples apply did not touch (same file, same base
    entries, same schema). Verified: samples it merged, against their new base."""
    old, record, schema = work.memo, session.record, session.schema
    if old is None or record is None or schema is None:
        return
    fresh = CleanMemo.fresh(session.state_dir, session.anno_key, memo_context(session))
    in_pushed = {k for i in pushed for k in record.tasks[i].samples}
    for key, sha in old.items():
        if key not in work.samples and key not in in_pushed:
            fresh.mark(key, sha)
    written = set(result.written)
    for key, sw in work.samples.items():
        if sw.task < 0 or key in in_pushed or sw.held:
            continue
        if not agrees(merge_sample(session, key, sw.merged, schema, None)):
            continue
        if key in written:
            fresh.mark(key, content_digest(sample_to_bytes(sw.merged)))
        elif (known := session.index.known(key)) is not None:
            fresh.mark(key, known.sha)
    fresh.save()


def _push(session: RunSession, work: RunWork, result: ApplyResult, report: Report) -> set[int]:
    record, schema = session.record, session.schema
    assert record is not None and schema is not None
    by_task: dict[int, list[SampleWork]] = {}
    for sw in work.samples.values():
        if sw.task < 0 or sw.held:
            continue
        if any(c.side == "push" for m in sw.merges.values() for c in m.changes):
            if session.options.mode == "push" and (
                any(c.side == "pull" for m in sw.merges.values() for c in m.changes)
                or any(m.conflicts for m in sw.merges.values())
            ):
                continue
            by_task.setdefault(sw.task, []).append(sw)
    client = session.client
    for index in sorted(by_task):
        if record.tasks[index].media_type == "video":  # one sample: the whole task is sent
            ensure_samples(session, work, record.tasks[index])

    def push_one(index: int) -> tuple[int, PushResult]:
        try:
            return push_to(index)
        except CvatNotFound:
            task = record.tasks[index]
            if client.exists("tasks", int(task.id or 0)):
                raise
            raise StateError(
                f"task {task.id} ({task.name}) was deleted in CVAT while this run was applying: "
                "run `annosync sync` again; its plan will show what to do"
            ) from None

    def push_to(index: int) -> tuple[int, PushResult]:
        task = record.tasks[index]
        view = work.views.get(index) or TaskView(task)
        if view.frames is None:
            view.frames = frame_map(client, task)
        if view.bound is None:
            view.bound = bound_schema(client, view.task_id, schema)
        touched = {sw.key for sw in by_task[index]}
        # an image task: only the samples with something to push are read and converted;
        # every other frame sends nothing (``push_task`` keeps no label of a sample that has
        # nothing wanted), so any sample stands in for it: no other file is read, and memory
        # is what this task sends, not the task
        stand_in = by_task[index][0].merged
        samples, wanted = [], []
        for key in task.samples:
            want = Wanted()
            if key in touched:
                sw = work.samples[key]
                samples.append(sw.merged)
                for path, m in sw.merges.items():
                    for c in m.changes:
                        if c.side == "push":
                            target = want.delete if c.kind == "delete" else want.send
                            target[path].add(c.label_id)
            else:
                samples.append(work.samples[key].merged if task.media_type == "video"
                               else stand_in)
            wanted.append(want)
        work.views[index] = view
        return index, push_task(client, task, samples, wanted, schema, view.frames, view.bound)

    pushed: set[int] = set()
    workers = max(1, session.options.concurrency)
    with Pool(max_workers=workers) as pool:
        for index, got in pool.map(push_one, sorted(by_task)):
            record.tasks[index].id_map = got.id_map
            result.pushed.created += got.created
            result.pushed.updated += got.updated
            result.pushed.deleted += got.deleted
            pushed.add(index)
    if pushed:
        p = result.pushed
        report(f"pushed to CVAT: {p.created} created, {p.updated} updated, {p.deleted} deleted")
        _on_push(session, work, by_task, result, report)
    return pushed


def _on_push(session: RunSession, work: RunWork, by_task: dict[int, list[SampleWork]],
             result: ApplyResult, report: Report) -> None:
    """``cvat.on_push``: give the jobs that received local edits the configured stage/state."""
    status = session.manifest.cvat.on_push
    record = session.record
    if status is None or record is None:
        return
    for index in sorted(by_task):
        task, view = record.tasks[index], work.views[index]
        jobs = view.jobs or refreshed_jobs(session, view)
        positions = [task.samples.index(sw.key) for sw in by_task[index]]
        targets = jobs if task.media_type == "video" else jobs_of_frames(jobs, positions)
        for job in targets:
            set_status(session.client, job.id, status)
            result.reviewed.append(job.id)
    if result.reviewed:
        body = status_body(status)
        report(f"set {len(result.reviewed)} job(s) to "
               f"{'/'.join(body[k] for k in ('stage', 'state') if k in body)} (cvat.on_push)")


def refreshed_jobs(session: RunSession, view: TaskView) -> list[JobRecord]:
    view.jobs = job_records(session.client.list_jobs(task_id=view.task_id))
    return view.jobs


def _refresh_base(session: RunSession, work: RunWork, index: int) -> None:
    """After a push, both sides agree on the pushed labels: digest them anew."""
    record, schema = session.record, session.schema
    assert record is not None and schema is not None
    task = record.tasks[index]
    view = work.views[index]
    assert view.frames is not None and view.bound is not None
    now = session.client.get_annotations(task_id=view.task_id)
    # only the frames of samples that pushed something are converted (a video: its whole task)
    in_work = [(p, k) for p, k in enumerate(task.samples) if k in work.samples]
    pushed_at = [p for p, k in in_work
                 if any(st == "push" for m in work.samples[k].merges.values()
                        for st in m.status.values())]
    previous = _previous(session, work, task, bool(now.get("tracks")))
    pulled = from_cvat(now, view.frames, view.bound, id_map=task.id_map, previous=previous,
                       covered=None if task.media_type == "video" else pushed_at,
                       scope=f"task{view.task_id}")
    del now
    for position, key in in_work:
        sw = work.samples[key]
        got = pulled.samples.get(0 if task.media_type == "video" else position)
        fields_now = record.base.setdefault(key, {})
        for path, m in sw.merges.items():
            rf = schema.fields[path]
            rules = rules_for(rf)
            pushed_keys = {k for k, st in m.status.items() if st == "push"}
            if not pushed_keys:
                continue
            local = {i.key: i for i in field_items(sw.merged, rf)}
            remote = {i.key: i for i in pulled_items(got.fields, got.frames, rf)} if got else {}
            entries = fields_now.setdefault(path, {})
            for k in pushed_keys:
                if k in local and k in remote:
                    entries[k] = BaseEntry.of(digests(local[k].obj, rules.attributes),
                                              digests(remote[k].obj, rules.attributes))
                else:
                    entries.pop(k, None)
            if not entries:
                fields_now.pop(path, None)
        if not fields_now:
            record.base.pop(key, None)


def _previous(session: RunSession, work: RunWork, task: Any, tracks: bool) -> PreviousLabels:
    """The labels a pushed task held, for converting CVAT's answer as a pull would.

    Of an image task without tracks, the samples in ``work`` are enough: there ``previous``
    only gives a shape or keypoints the index and points of the label whose id it carries, and
    only the pushed labels' entries are kept (each in a sample in ``work``). Tracks also use
    it across frames (the ``label_id`` of a keyframe on another frame, the highest index): then
    every sample of the task is read, one at a time, and only its labels' summaries kept."""
    schema = session.schema
    assert schema is not None
    if task.media_type == "video" or not tracks:
        return PreviousLabels.from_samples(
            (work.samples[k].merged for k in task.samples if k in work.samples), schema.fields)
    out = PreviousLabels()
    paths = list(schema.fields)
    for key in task.samples:
        sw = work.samples.get(key)
        out.add_sample(sw.merged if sw is not None else session.read_indexed(key)[0], paths)
    return out


def _job_dates(session: RunSession, work: RunWork, pushed: set[int]) -> None:
    """Remember each job's date as seen now, so the next plan downloads only later changes."""
    record = session.record
    assert record is not None
    for index, view in work.views.items():
        task = record.tasks[index]
        if index in pushed:
            fresh = job_records(session.client.list_jobs(task_id=view.task_id))
        else:
            fresh = view.jobs
        names = {j.id: j.assignee for j in task.jobs}
        for job in fresh:
            job.assignee = job.assignee or names.get(job.id)
        if fresh:
            task.jobs = keep_held(fresh, task.jobs, view.held)


def cleanup(session: RunSession, result: ApplyResult, report: Report) -> None:
    """Delete the run's tasks (and its project, if the run created it) from CVAT.

    The record stays (``annosync forget`` removes it, like ``delete_annotation_run``), marked as
    cleaned up so a later ``sync`` does not quietly upload everything again.
    """
    record = session.record
    if record is None:
        return
    client = session.client
    for task in record.tasks:
        if task.id is not None and client.delete_task(task.id, missing_ok=True):
            result.cleaned.append(task.id)
    if record.project and record.project.created and record.project.id is not None:
        client.delete_project(record.project.id, missing_ok=True)
        report(f"deleted project {record.project.id}")
    report(f"deleted {len(result.cleaned)} task(s) from CVAT")
    record.cleaned_at = now_iso()
    save_record(session.state_dir, record)
