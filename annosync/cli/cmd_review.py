"""``annosync review``: see the runs' CVAT jobs by review stage, and move them where asked.

Why a verb: annosync never changes a job's stage or state on its own; a reviewer who works from
the terminal accepts or rejects jobs here (``PATCH /api/jobs/{id}``, the bodies CVAT's own UI
sends), and the next pull takes what ``load.stages``/``load.states`` let through.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from annosync.cli.boundary import guarded
from annosync.cli.options import Common, Output, common_options, sources_argument

STAGES = ("annotation", "validation", "acceptance")
STATES = ("new", "in progress", "completed", "rejected")


def _jobs_of(sessions: list[Any]) -> dict[int, tuple[Any, dict[str, Any]]]:
    """Job id -> (session, CVAT's job) for every task of every run."""
    out: dict[int, tuple[Any, dict[str, Any]]] = {}
    for session in sessions:
        record = session.record
        if record is None:
            continue
        for task in record.tasks:
            if task.id is None:
                continue
            for job in session.client.list_jobs(task_id=task.id):
                out[int(job["id"])] = (session, job)
    return out


def _describe(job: dict[str, Any]) -> str:
    return f"{job.get('stage')}/{job.get('state')}"


@click.command("review")
@sources_argument
@click.option("--accept", "accept", multiple=True, type=int, metavar="JOB",
              help="Accept a job: stage acceptance, state completed (repeatable).")
@click.option("--reject", "reject", multiple=True, type=int, metavar="JOB",
              help="Send a job back: stage annotation, state rejected (repeatable).")
@click.option("--job", "jobs", multiple=True, type=int, metavar="JOB",
              help="A job to give --stage/--state (repeatable).")
@click.option("--stage", type=click.Choice(STAGES), help="The stage to give --job jobs.")
@click.option("--state", type=click.Choice(STATES), help="The state to give --job jobs.")
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the jobs (after any change) as JSON.")
@common_options(sync=False)
@guarded
def command(sources: tuple[Path, ...], accept: tuple[int, ...], reject: tuple[int, ...],
            jobs: tuple[int, ...], stage: str | None, state: str | None, dry_run: bool,
            as_json: bool, common: Common) -> None:
    """Show the CVAT jobs of SOURCES' runs (default: manifests/) with their review stage,
    state and assignee and whether a pull takes them (load.stages/load.states); with
    --accept/--reject/--job, change their stage and state in CVAT. Nothing else ever
    changes a job's stage or state (but cvat.on_push, when set)."""
    from annosync.cli.options import open_engine
    from annosync.errors import InputError
    from annosync.sync.review import VERDICTS, ReviewFilter, set_status
    from annosync.sync.status import job_status

    if (stage or state) and not jobs:
        raise click.UsageError("--stage/--state need --job JOB")
    if jobs and not (stage or state):
        raise click.UsageError("--job needs --stage and/or --state")
    wanted: dict[int, dict[str, str]] = {}
    for verdict, ids in (("accept", accept), ("reject", reject)):
        for job_id in ids:
            wanted[job_id] = VERDICTS[verdict]
    for job_id in jobs:
        wanted[job_id] = {k: v for k, v in (("stage", stage), ("state", state)) if v}
    out = Output(common)
    with open_engine(sources, common, common.options()) as engine:
        found = _jobs_of(engine.sessions)
        unknown = sorted(set(wanted) - set(found))
        if unknown:
            raise InputError.at(
                f"job(s) {', '.join(map(str, unknown))} belong to none of the runs "
                f"{', '.join(s.anno_key for s in engine.sessions)} (their jobs: "
                f"{', '.join(map(str, sorted(found))) or 'none'})")
        for job_id, body in sorted(wanted.items()):
            session, job = found[job_id]
            # CVAT resets the state to "new" when only the stage changes (JobWriteSerializer)
            new_stage = body.get("stage") or job.get("stage")
            new_state = body.get("state") or ("new" if new_stage != job.get("stage")
                                              else job.get("state"))
            target = f"{new_stage}/{new_state}"
            if dry_run:
                out.echo(f"job {job_id}: {_describe(job)} -> {target} (dry run)")
                continue
            after = set_status(session.client, job_id, body)
            out.echo(f"job {job_id}: {_describe(job)} -> {_describe(after)}")
            found[job_id] = (session, after)
        listing = []
        for job_id, (session, job) in sorted(found.items()):
            record = session.record
            recorded = next((j for t in record.tasks for j in t.jobs if j.id == job_id), None)
            info = job_status(job, session.client.url.rstrip("/"), int(job["task_id"]),
                              recorded, ReviewFilter.of(session.manifest.load))
            listing.append({"anno_key": session.anno_key, "task_id": int(job["task_id"]),
                            **info})
    if as_json:
        click.echo(json.dumps(listing, indent=2, sort_keys=True))
        return
    if wanted and common.quiet:
        return
    for item in listing:
        pull = "unchanged"
        if item["changed"]:
            pull = f"held back ({item['held']})" if item["held"] else "pulled next"
        start, stop = item["frames"]
        line = (f"{item['anno_key']}  job {item['id']} (task {item['task_id']}, frames "
                f"{start}-{stop}, {item['assignee'] or 'unassigned'}): "
                f"{item['stage']}/{item['state']} -> {pull}")
        if item["reopened"]:
            line += f"; {item['reopened']}"
        out.echo(line, "yellow" if item["held"] and item["changed"] else None)
