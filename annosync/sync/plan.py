"""A plan is plain data, like terraform's: what ``apply`` will do, serializable to JSON.

``annosync plan`` computes it (reading local files, the run record and the live server, writing
nothing) and prints it; ``annosync plan -o plan.json`` saves it; ``annosync apply plan.json``
executes it after checking its fingerprint: a plan whose inputs changed since it was made (a label
file, the manifest, the run record, a CVAT job's updated date) is refused as stale.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

PLAN_FORMAT = 1


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class Counts(_Data):
    add: int = 0
    edit: int = 0
    delete: int = 0

    @property
    def total(self) -> int:
        return self.add + self.edit + self.delete


class TaskCreation(_Data):
    index: int
    name: str
    samples: int
    media_type: str
    assignee: str | None = None
    objects: int = Field(default=0, description="labels to upload with the media")


class JobChange(_Data):
    task_id: int
    job_id: int
    updated_date: str | None


class JobInfo(_Data):
    """One CVAT job of the run as the plan saw it: review stage, state, who, held back or not."""

    task_id: int
    job_id: int
    frames: list[int] = Field(description="first and last task frame")
    stage: str | None = None
    state: str | None = None
    assignee: str | None = None
    url: str | None = None
    changed: bool = Field(default=False, description="updated in CVAT since the last pull")
    held: str | None = Field(default=None, description="why its changes are not pulled now")
    reopened: str | None = Field(default=None, description="sent back since the last pull")


class ConflictInfo(_Data):
    sample: str
    field: str
    label_id: str
    frame: int | None = None
    kind: str
    aspects: list[str]
    resolution: str


class RejectionInfo(_Data):
    sample: str
    field: str
    label_id: str
    frame: int | None = None
    reason: str


class LabelLine(_Data):
    """One label change, for ``plan -v``."""

    side: Literal["pull", "push"]
    kind: Literal["add", "edit", "delete"]
    label_id: str
    frame: int | None = None
    aspects: list[str] = Field(default_factory=list)


class SampleChange(_Data):
    sample: str
    field: str
    dest_field: str | None = None
    pull: Counts = Field(default_factory=Counts)
    push: Counts = Field(default_factory=Counts)
    labels: list[LabelLine] = Field(default_factory=list)


class TaskPush(_Data):
    task_id: int
    counts: Counts = Field(default_factory=Counts)


class Cleanup(_Data):
    tasks: list[int] = Field(default_factory=list)
    project: int | None = None


class RunPlan(_Data):
    anno_key: str
    dataset: str
    manifest: str | None = None
    server: str | None = None
    is_new: bool = False
    create_project: str | None = None
    use_project: int | None = None
    create_tasks: list[TaskCreation] = Field(default_factory=list)
    resume: list[str] = Field(default_factory=list, description="interrupted steps to finish")
    jobs_changed: list[JobChange] = Field(default_factory=list)
    jobs: list[JobInfo] = Field(default_factory=list, description="every job of the run's tasks")
    samples: list[SampleChange] = Field(default_factory=list)
    pushes: list[TaskPush] = Field(default_factory=list)
    conflicts: list[ConflictInfo] = Field(default_factory=list)
    rejections: list[RejectionInfo] = Field(default_factory=list)
    unexpected: int = 0
    ignored: int = 0
    cleanup: Cleanup | None = None
    blocked: list[str] = Field(default_factory=list, description="why apply must not run")
    warnings: list[str] = Field(default_factory=list)
    recreate: list[str] = Field(
        default_factory=list, description="tasks deleted in CVAT, to create again"
    )
    unsaved_ids: list[str] = Field(
        default_factory=list, description="samples whose labels have no `_id` (apply refuses)"
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="the options the plan was made with (apply reuses them)"
    )
    error: str | None = Field(default=None, description="why this run could not be planned")
    fingerprint: str = ""
    _work: Any = PrivateAttr(default=None)

    @property
    def pull_counts(self) -> Counts:
        out = Counts()
        for s in self.samples:
            out.add += s.pull.add
            out.edit += s.pull.edit
            out.delete += s.pull.delete
        return out

    @property
    def push_counts(self) -> Counts:
        out = Counts()
        for s in self.samples:
            out.add += s.push.add
            out.edit += s.push.edit
            out.delete += s.push.delete
        return out

    @property
    def has_changes(self) -> bool:
        return bool(
            self.create_project or self.create_tasks or self.resume or self.pull_counts.total
            or self.push_counts.total or self.cleanup or self.unresolved or self.unexpected
            or self.jobs_changed or self.error
        )

    @property
    def unresolved(self) -> list[ConflictInfo]:
        return [c for c in self.conflicts if c.resolution == "unresolved"]


class Plan(_Data):
    format: int = PLAN_FORMAT
    created_at: str
    mode: Literal["sync", "pull", "push", "cleanup"] = "sync"
    runs: list[RunPlan] = Field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return any(r.has_changes for r in self.runs)
