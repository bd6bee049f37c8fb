"""Review-aware pulls: which CVAT jobs may come back, and which went back to annotation.

Why a module: CVAT jobs move through stages (annotation -> validation -> acceptance) and states
(new, in progress, completed, rejected). A team that reviews in CVAT wants only reviewed work in
git: ``load.stages`` / ``load.states`` say which jobs are pulled; a changed job outside them is
*held back* (not downloaded, its samples neither merged nor pushed into, its recorded date kept
so it is pulled once it passes). A job whose stage went backwards since the last pull (a reviewer
sent it back) is reported, never silently re-pulled. Everything here is pure but
:func:`set_status`, the one place annosync changes a job's stage or state (``annosync review``,
``cvat.on_push``), and only where the user asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from annosync.model.manifest import JobStatus, LoadOptions
from annosync.sync.record import JobRecord, TaskRecord

#: CVAT's stages in review order (``JobStage``); a job moving left was sent back.
STAGE_ORDER = {"annotation": 0, "validation": 1, "acceptance": 2}

#: ``annosync review`` shorthands: what a reviewer's verdict sets (PATCH /api/jobs/{id} bodies,
#: as in tests/data/cvat/recordings2/07_jobs.json).
VERDICTS: dict[str, dict[str, str]] = {
    "accept": {"stage": "acceptance", "state": "completed"},
    "reject": {"stage": "annotation", "state": "rejected"},
    "validate": {"stage": "validation", "state": "new"},
    "reopen": {"stage": "annotation", "state": "in progress"},
}


@dataclass(frozen=True)
class ReviewFilter:
    """``load.stages`` / ``load.states``: None lets every value through."""

    stages: tuple[str, ...] | None = None
    states: tuple[str, ...] | None = None

    @classmethod
    def of(cls, load: LoadOptions) -> ReviewFilter:
        return cls(tuple(load.stages) if load.stages is not None else None,
                   tuple(load.states) if load.states is not None else None)

    @property
    def active(self) -> bool:
        return self.stages is not None or self.states is not None

    def why_held(self, job: JobRecord) -> str | None:
        """Why this job's work may not come back now (None: it may)."""
        if self.stages is not None and job.stage not in self.stages:
            return f"stage {job.stage} not in load.stages [{', '.join(self.stages)}]"
        if self.states is not None and job.state not in self.states:
            return f"state {job.state} not in load.states [{', '.join(self.states)}]"
        return None


def reopened(recorded: JobRecord | None, now: JobRecord) -> str | None:
    """Say so when a job's stage went backwards since annosync last pulled or wrote it."""
    if recorded is None or recorded.stage not in STAGE_ORDER or now.stage not in STAGE_ORDER:
        return None
    if STAGE_ORDER[str(now.stage)] < STAGE_ORDER[str(recorded.stage)]:
        return (f"sent back to {now.stage} (was {recorded.stage}/{recorded.state} when last "
                "pulled)")
    return None


def held_jobs(task: TaskRecord, changed: Sequence[JobRecord], flt: ReviewFilter
              ) -> dict[int, str]:
    """Which changed jobs are held back, and why.

    A video task is downloaded whole (CVAT cuts tracks at job boundaries), so one held job holds
    back every changed job of the task.
    """
    held: dict[int, str] = {}
    for job in changed:
        why = flt.why_held(job)
        if why is not None:
            held[job.id] = why
    if held and task.media_type == "video":
        first = min(held)
        for job in changed:
            held.setdefault(job.id, f"video task: job {first} is held back ({held[first]})")
    return held


def held_frames(jobs: Iterable[JobRecord], held: dict[int, str]) -> dict[int, str]:
    """Task frame -> why it is held (the frames of held jobs)."""
    out: dict[int, str] = {}
    for job in jobs:
        if job.id in held:
            for frame in range(job.start_frame, job.stop_frame + 1):
                out.setdefault(frame, f"job {job.id}: {held[job.id]}")
    return out


def keep_held(fresh: list[JobRecord], old: list[JobRecord], held: dict[int, str]
              ) -> list[JobRecord]:
    """The job records to store: a held job keeps what the last pull saw (date, stage, state),
    so it counts as changed, and is pulled, once it passes the filter."""
    before = {j.id: j for j in old}
    return [before.get(j.id, j) if j.id in held else j for j in fresh]


def jobs_of_frames(jobs: Iterable[JobRecord], frames: Iterable[int]) -> list[JobRecord]:
    """The jobs holding any of these task frames."""
    wanted = set(frames)
    return [j for j in jobs if any(j.start_frame <= f <= j.stop_frame for f in wanted)]


def job_url(server: str | None, task_id: int, job_id: int) -> str | None:
    return f"{server.rstrip('/')}/tasks/{task_id}/jobs/{job_id}" if server else None


def status_body(status: JobStatus | dict[str, Any]) -> dict[str, str]:
    """The PATCH body for a stage/state change (only the keys given)."""
    data = status.model_dump(exclude_none=True) if isinstance(status, JobStatus) else status
    return {k: str(v) for k, v in data.items() if k in ("stage", "state") and v is not None}


def set_status(client: Any, job_id: int, status: JobStatus | dict[str, Any]) -> dict[str, Any]:
    """``PATCH /api/jobs/{id}`` with a stage and/or a state; CVAT's answer (the job)."""
    result: dict[str, Any] = client.update_job(job_id, **status_body(status))
    return result
