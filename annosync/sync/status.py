"""The reference's ``get_status()`` / ``print_status()``: a run's tasks and jobs, live from CVAT.

Why a module: ``annosync status`` and ``results.print_status()`` show the same thing, and a
script wants it as data. :func:`get_status` asks the server (``get_task``, ``list_jobs``) about
every task the run record holds and returns plain JSON-ready data; :func:`status_lines` turns
that into the reference's indented text (coloured by :func:`render.emit` on a terminal).
A task deleted in CVAT is reported as missing, never as an error: status is for looking.
"""

from __future__ import annotations

from typing import Any

from annosync.cvat import CvatClient
from annosync.cvat.errors import CvatNotFound
from annosync.sync.record import JobRecord, RunRecord
from annosync.sync.remote import job_records
from annosync.sync.render import STYLES, Line
from annosync.sync.review import ReviewFilter, job_url, reopened


def _username(user: Any) -> str | None:
    if isinstance(user, dict):
        return user.get("username") or None
    return None


def job_status(job: dict[str, Any], server: str, task_id: int,
               recorded: JobRecord | None = None,
               review: ReviewFilter | None = None) -> dict[str, Any]:
    """One job as CVAT reports it, and what a pull would do with it: ``changed`` since the
    last pull, ``held`` back by ``load.stages``/``states`` (and why), ``reopened`` (sent back
    since the last pull)."""
    (now,) = job_records([job])
    out = {
        "id": int(job["id"]),
        "status": job.get("status"),
        "stage": job.get("stage"),
        "state": job.get("state"),
        "assignee": _username(job.get("assignee")),
        "frames": [int(job.get("start_frame", 0)), int(job.get("stop_frame", 0))],
        "last_updated": job.get("updated_date"),
        "url": job_url(server, task_id, int(job["id"])),
        "changed": recorded is None or recorded.updated_date != now.updated_date,
        "held": (review or ReviewFilter()).why_held(now),
        "reopened": reopened(recorded, now),
    }
    return out


def get_status(record: RunRecord, client: CvatClient,
               review: ReviewFilter | None = None) -> dict[str, Any]:
    """Status of every task and job of a run, as the live server reports it."""
    server = client.url.rstrip("/")
    fields = list((record.label_schema or {}).get("fields", {}))
    out: dict[str, Any] = {
        "anno_key": record.anno_key,
        "server": server,
        "label_fields": fields,
        "project": record.project.id if record.project else None,
        "cleaned_at": record.cleaned_at,
        "tasks": [],
    }
    for task in record.tasks:
        entry: dict[str, Any] = {
            "id": task.id, "name": task.name, "samples": len(task.samples),
            "state": task.state,
        }
        if task.id is None:
            entry.update(status="not created", jobs=[])
            out["tasks"].append(entry)
            continue
        entry["url"] = f"{server}/tasks/{task.id}"
        try:
            info = client.get_task(task.id)
        except CvatNotFound:
            entry.update(status="missing (deleted in CVAT)", jobs=[])
            out["tasks"].append(entry)
            continue
        jobs = sorted(client.list_jobs(task_id=task.id), key=lambda j: int(j["start_frame"]))
        recorded = {j.id: j for j in task.jobs}
        entry.update(
            name=info.get("name", task.name),
            status=info.get("status"),
            assignee=_username(info.get("assignee")),
            last_updated=info.get("updated_date"),
            size=info.get("size"),
            jobs=[job_status(j, server, task.id, recorded.get(int(j["id"])), review)
                  for j in jobs],
        )
        out["tasks"].append(entry)
    return out


def status_lines(status: dict[str, Any]) -> list[Line]:
    """The reference's ``print_status`` text for one run."""
    fields = ", ".join(f"'{f}'" for f in status.get("label_fields", []))
    head = Line().add(f"Status of run '{status['anno_key']}'", STYLES["header"])
    head.add(f" (label field{'s' if len(status.get('label_fields', [])) != 1 else ''} {fields}; "
             f"{status['server']})", STYLES["dim"])
    out = [head]
    if status.get("cleaned_at"):
        out.append(Line().add(f"    cleaned up on {status['cleaned_at']}: the tasks are gone",
                              STYLES["warning"]))
    if not status["tasks"]:
        out.append(Line().add("    no tasks yet", STYLES["dim"]))
    for task in status["tasks"]:
        out.append(Line())
        ident = f"Task {task['id']}" if task["id"] is not None else "Task (not created)"
        out.append(Line().add(f"    {ident} ({task['name']}):", STYLES["header"]))
        style = STYLES["warning"] if str(task.get("status", "")).startswith(
            ("missing", "not created")) else None
        out.append(Line().add(f"        Status: {task.get('status')}", style))
        if "assignee" in task:
            out.append(Line().add(f"        Assignee: {task.get('assignee') or '-'}"))
        if task.get("last_updated"):
            out.append(Line().add(f"        Last updated: {task['last_updated']}"))
        if task.get("url"):
            out.append(Line().add(f"        URL: {task['url']}"))
        for job in task.get("jobs", []):
            out.append(Line())
            start, stop = job["frames"]
            out.append(Line().add(f"        Job {job['id']}:", STYLES["header"]))
            out.append(Line().add(
                f"            Status: {job.get('status')} (stage {job.get('stage')}, "
                f"state {job.get('state')})"))
            out.append(Line().add(f"            Assignee: {job.get('assignee') or '-'}"))
            out.append(Line().add(f"            Frames: {start}-{stop}"))
            if job.get("last_updated"):
                out.append(Line().add(f"            Last updated: {job['last_updated']}"))
            pull = "unchanged since the last pull"
            if job.get("changed"):
                pull = f"held back: {job['held']}" if job.get("held") else "changed: pulled next"
            out.append(Line().add(f"            Pull: {pull}",
                                  STYLES["warning"] if job.get("held") else None))
            if job.get("reopened"):
                out.append(Line().add(f"            Review: {job['reopened']}",
                                      STYLES["warning"]))
    return out


def status_text(status: dict[str, Any]) -> str:
    return "\n".join(line.plain for line in status_lines(status)) + "\n"
