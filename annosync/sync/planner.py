"""Make the plan of one run: creation still to do, merges to pull, edits to push, cleanup.

Reads the dataset, the run record and the live server; writes nothing. The heavy results (merged
samples, downloaded labels) stay attached to the plan in memory so a one-shot ``sync`` applies
them without downloading twice; a saved plan recomputes them and checks the fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any

from annosync.gcpause import gc_paused
from annosync.model.labels import label_objects
from annosync.model.sample import Sample
from annosync.sync.index import CleanMemo
from annosync.sync.journal import Journal
from annosync.sync.plan import Cleanup, Counts, JobChange, JobInfo, RunPlan, TaskCreation
from annosync.sync.planned import existing_project, planned_tasks
from annosync.sync.record import record_path, record_to_bytes
from annosync.sync.refresh import RunWork, refresh, summarize
from annosync.sync.review import ReviewFilter, job_url, reopened
from annosync.sync.session import RunSession

PLAN_OPTIONS = ("mode", "conflicts", "unexpected", "dest_field", "force", "cleanup",
                "recreate_missing")


def plan_options(session: RunSession) -> dict[str, Any]:
    return {name: getattr(session.options, name) for name in PLAN_OPTIONS}


def _record_bytes(session: RunSession) -> bytes:
    """The run record as on disk (hashing the file is much cheaper than re-serializing it)."""
    if session.record is None:
        return b"no-record"
    try:
        return record_path(session.state_dir, session.anno_key).read_bytes()
    except FileNotFoundError:
        return record_to_bytes(session.record)


def fingerprint(session: RunSession, work: RunWork,
                lacking: dict[str, int] | None = None) -> str:
    """What the plan depends on: manifest, options, run record, label files, job dates.
    ``lacking`` collects the files whose labels have no ``_id`` (read here anyway)."""
    h = hashlib.sha256()
    h.update(json.dumps(session.manifest.model_dump(mode="json"), sort_keys=True).encode())
    h.update(json.dumps(plan_options(session), sort_keys=True, default=str).encode())
    h.update(_record_bytes(session))
    keys = session.run_keys()
    # every key followed by its file's digest (read only if changed since the index saw it),
    # joined in one string: the same bytes as hashing them one by one
    shas = session.index.digests(keys, lacking)
    joined: list[str] = [""] * (2 * len(keys))
    joined[::2], joined[1::2] = keys, shas  # interleaved by slices: no string per pair
    h.update("".join(joined).encode())
    for index in sorted(work.views):
        for job in work.views[index].jobs:
            h.update(f"{job.id}:{job.updated_date}".encode())
    return h.hexdigest()[:32]


def memo_context(session: RunSession) -> str:
    """What a clean memo is valid for: what ``merge.local_changes`` depends on besides the
    file, i.e. this run record's bytes (base, schema) and where fields load (``dest_field``).
    The mode and the conflict policy only filter or resolve changes, never make one."""
    record = session.record
    # the bytes the in-memory record came from (re-reading the file could see a newer record)
    source = getattr(record, "_source", None) if record is not None else None
    h = hashlib.sha256(source.encode() if source else _record_bytes(session))
    h.update(json.dumps(session.dest_field, sort_keys=True).encode())
    return h.hexdigest()[:32]


def count_labels(sample: Sample, fields: list[str]) -> int:
    """Labels (and set scalars) a sample holds in the given fields: what an upload sends."""
    total = 0
    for path in fields:
        value = sample.get_field(path)
        values = list(value.values()) if path.startswith("frames.") else [value]
        for v in values:
            objects = label_objects(v)
            total += len(objects) if objects else int(v is not None)
    return total


def _deletion_limits(session: RunSession, rp: RunPlan, work: RunWork) -> None:
    """rclone's --max-delete: refuse to delete more than a share of a field's labels."""
    record = session.record
    if record is None or session.options.force:
        return
    limit = session.manifest.load.max_delete
    deletes: dict[str, int] = defaultdict(int)
    for sw in work.samples.values():
        for path, m in sw.merges.items():
            deletes[path] += sum(1 for c in m.changes if c.kind == "delete")
    if not any(deletes.values()):
        return
    base_sizes = record.base_sizes()  # from the head's counts: no shard is loaded for this
    for path, count in sorted(deletes.items()):
        size = base_sizes.get(path, 0)
        if size and count and 100.0 * count / size > limit:
            rp.blocked.append(
                f"{path}: {count} of {size} labels ({100.0 * count / size:.0f}%) would be "
                f"deleted, more than load.max_delete={limit:g}%: check CVAT, then re-run with "
                "--force"
            )


def job_infos(session: RunSession, work: RunWork) -> list[JobInfo]:
    """Every job of the refreshed tasks: stage, state, assignee, changed, held back, reopened."""
    server = session.server_url()
    out = []
    for index in sorted(work.views):
        view = work.views[index]
        recorded = {j.id: j for j in view.task.jobs}
        changed = {j.id for j in view.changed} | set(view.held)
        for job in view.jobs:
            out.append(JobInfo(
                task_id=view.task_id, job_id=job.id, frames=[job.start_frame, job.stop_frame],
                stage=job.stage, state=job.state,
                assignee=job.assignee or getattr(recorded.get(job.id), "assignee", None),
                url=job_url(server, view.task_id, job.id), changed=job.id in changed,
                held=view.held.get(job.id), reopened=reopened(recorded.get(job.id), job),
            ))
    return out


def _hold_back(work: RunWork, samples: list[Any], rp: RunPlan) -> None:
    """Samples of held jobs: nothing pushed into them either (CVAT's side is unknown)."""
    held = {k for k, sw in work.samples.items() if sw.held}
    waiting = 0
    for s in samples:
        if s.sample in held and s.push.total:
            waiting += 1
            s.push = Counts()
            s.labels = [line for line in s.labels if line.side != "push"]
    if waiting:
        rp.warnings.append(f"{waiting} sample field(s) with local edits in held-back jobs: "
                           "pushed once those jobs are pulled")


def _gone(session: RunSession, work: RunWork, rp: RunPlan) -> None:
    """Tasks someone deleted in CVAT: uploaded again if asked (sync, push), else the plan
    stops and says how to go on."""
    record = session.record
    if not work.gone or record is None:
        return
    tasks = [record.tasks[i] for i in sorted(work.gone)]
    names = ", ".join(f"{t.id} ({t.name}, {len(t.samples)} sample(s))" for t in tasks)
    if session.options.recreate_missing and session.options.mode in ("sync", "push"):
        rp.recreate = [t.name for t in tasks]
        rp.resume += [f"task {t.name}: deleted in CVAT, upload its samples again" for t in tasks]
        return
    rp.blocked.append(
        f"task(s) {names} no longer exist in CVAT (deleted by someone else?); what annotators "
        f"did in them since the last pull is gone: `annosync sync --recreate-missing` uploads "
        f"their samples again from the dataset, `annosync forget {session.anno_key}` drops "
        "the run"
    )


def plan_run(session: RunSession, verbose: bool = True) -> RunPlan:
    record = session.record
    mode = session.options.mode
    rp = RunPlan(
        anno_key=session.anno_key, dataset=str(session.folder.root),
        manifest=session.loaded.display, is_new=record is None,
        server=session.server_url(), options=plan_options(session),
    )
    journal = Journal(session.state_dir, session.anno_key)
    rp.resume = [f"{e.action} {e.key}" for e in journal.pending()]
    work = RunWork()
    if record is not None and record.cleaned_at:
        rp.warnings.append(
            f"run {session.anno_key} was cleaned up on {record.cleaned_at}: its CVAT tasks are "
            f"gone; `annosync forget {session.anno_key}` to start it over"
        )
        rp.fingerprint = fingerprint(session, work)
        rp._work = work
        return rp
    if mode in ("sync", "push"):
        fields = list(session.manifest.field_schemas())
        counts: dict[str, int] = {}  # labels of each new sample, counted as it is parsed

        def seen(key: str, sample: Sample) -> None:
            counts[key] = count_labels(sample, fields)

        with gc_paused():  # a burst of small objects (pydantic models): see gcpause
            tasks = planned_tasks(session, seen)
        with session.options.tracker.step(
                f"plan {session.anno_key}: read new samples",
                sum(len(t.samples) for t in tasks), "samples") as step:
            for task in tasks:
                objects = 0
                for k in task.samples:
                    n = counts.get(k)
                    objects += count_labels(session.read(k), fields) if n is None else n
                    step.advance()
                rp.create_tasks.append(TaskCreation(
                    index=task.index, name=task.name, samples=len(task.samples),
                    media_type=task.media_type, assignee=task.assignee, objects=objects,
                ))
        if record is not None:
            rp.resume += [f"task {t.name}: {t.state}" for t in record.tasks
                          if t.state != "labels_uploaded"]
        if (record is None or record.project is None) and (rp.create_tasks or rp.resume):
            opts = session.manifest.cvat
            if opts.project_id is not None:
                rp.use_project = opts.project_id
            elif opts.project_name:
                found = existing_project(session)
                if found is None:
                    rp.create_project = opts.project_name
                else:
                    rp.use_project = int(found["id"])
    if record is not None and session.schema is not None and mode != "cleanup":
        memo = CleanMemo(session.state_dir, session.anno_key, memo_context(session))
        refresh(session, session.schema, work, memo)
        memo.save()
        _gone(session, work, rp)
        dests = {p: d for p in session.schema.fields if (d := session.dest_for(p))}
        samples, conflicts, rejections, ignored = summarize(work, session.schema, verbose, dests)
        _hold_back(work, samples, rp)
        if mode == "pull":
            for s in samples:
                s.push.add = s.push.edit = s.push.delete = 0
                s.labels = [line for line in s.labels if line.side == "pull"]
        elif mode == "push":
            blocked = {s.sample for s in samples if s.pull.total} | {c.sample for c in conflicts}
            for s in samples:
                if s.sample in blocked:
                    s.push.add = s.push.edit = s.push.delete = 0
                s.pull.add = s.pull.edit = s.pull.delete = 0
                s.labels = [line for line in s.labels
                            if line.side == "push" and s.sample not in blocked]
            if blocked:
                rp.warnings.append(
                    f"{len(blocked)} sample(s) changed in CVAT too: not pushed (pull or sync first)"
                )
        rp.samples = [s for s in samples if s.pull.total or s.push.total]
        rp.conflicts, rp.rejections, rp.ignored = conflicts, rejections, ignored
        rp.unexpected = len(work.unexpected)
        for view in work.views.values():
            rp.jobs_changed += [JobChange(task_id=view.task_id, job_id=j.id,
                                          updated_date=j.updated_date) for j in view.changed]
        rp.jobs = job_infos(session, work)
        hint = "" if ReviewFilter.of(session.manifest.load).active else \
            " (set load.stages to wait for review)"
        rp.warnings += [f"job {j.job_id} was {j.reopened}: pulled all the same{hint}"
                        for j in rp.jobs if j.reopened and j.changed and not j.held]
        if rp.unresolved:
            rp.blocked.append(
                f"{len(rp.unresolved)} conflict(s) with load.conflicts=fail: resolve them in CVAT "
                "or locally, or choose --conflicts prefer-local|prefer-remote|keep-both"
            )
        _deletion_limits(session, rp, work)
        rp.warnings += sorted(set(work.notes))
    clean = mode == "cleanup" or session.options.cleanup or (
        mode == "pull" and session.manifest.load.cleanup
    )
    if clean and record is not None:
        rp.cleanup = Cleanup(
            tasks=record.created_task_ids(),
            project=record.project.id if record.project and record.project.created else None,
        )
    lacking: dict[str, int] = {}
    rp.fingerprint = fingerprint(session, work, lacking)
    session.index.save()
    if lacking:
        rp.unsaved_ids = sorted(lacking)
        first = session.folder.label_path(rp.unsaved_ids[0])
        rp.warnings.append(
            f"{sum(lacking.values())} label(s) in {len(lacking)} file(s) have no `_id` (first: "
            f"{first}): `annosync sync`, `push` and `pull` save ids before uploading anything; "
            f"`annosync fmt {session.folder.root}` saves them now"
        )
    rp._work = work
    return rp
