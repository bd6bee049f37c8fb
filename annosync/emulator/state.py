"""The emulator's in-memory database: plain records, id counters, one lock, one clock.

Why a module: every endpoint reads and writes the same objects; keeping them as small dataclasses
in one store (guarded by one re-entrant lock) makes the server thread-safe without any
per-object locking. Ids come from per-table counters, like database sequences, so runs are
deterministic.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any


def iso(value: datetime | None) -> str | None:
    """DRF's DateTimeField rendering: ISO 8601 with ``Z`` for UTC."""
    if value is None:
        return None
    text = value.isoformat()
    if text.endswith("+00:00"):
        text = text[:-6] + "Z"
    return text


def xml_date(value: datetime) -> str:
    """``str(datetime)`` as CVAT's XML dumper writes it: ``2026-11-25 14:53:54.575403+00:00``."""
    return str(value)


Source = Callable[[], datetime]


def system_time() -> datetime:
    return datetime.now(timezone.utc)


def clock_from(start: datetime) -> Source:
    """A source that reads ``start`` at the first call and then advances with real time.

    Why: a server replaying what a real CVAT said on a given day (token expiries, "two days
    from now") must believe it is that day, whatever the machine's calendar says, while request
    polling and ``updated_date`` still move forward. Injected, never patched into ``time``.
    """
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


class Clock:
    """UTC clock whose readings strictly increase (so every update changes dates).

    ``source`` gives the time (the system's by default; a test or a replay injects its own).
    """

    def __init__(self, source: Source | None = None) -> None:
        self._source: Source = source or system_time
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            now = self._source()
            if now.microsecond == 0:
                now = now.replace(microsecond=1)
            if self._last is not None and now <= self._last:
                now = self._last + timedelta(microseconds=1)
                if now.microsecond == 0:
                    now += timedelta(microseconds=1)
            self._last = now
            return now


@dataclass
class User:
    id: int
    username: str
    password: str
    email: str
    first_name: str = ""
    last_name: str = ""
    is_superuser: bool = False
    is_staff: bool = False
    is_active: bool = True
    groups: list[str] = field(default_factory=lambda: ["user"])
    date_joined: datetime | None = None
    last_login: datetime | None = None
    legacy_key: str | None = None  # the DRF Token (one per user, deleted on logout)


@dataclass
class AccessToken:
    id: int
    name: str
    value: str
    owner_id: int
    read_only: bool
    created: datetime
    updated: datetime
    expiry_raw: Any = None  # echoed as sent (``"2026-11-27T15:11:07Z"``) or None
    expiry: datetime | None = None
    last_used: datetime | None = None


@dataclass
class Session:
    key: str
    user_id: int
    csrf: str


@dataclass
class Organization:
    id: int
    slug: str
    name: str
    description: str
    contact: dict[str, Any]
    owner_id: int
    created: datetime
    updated: datetime


@dataclass
class Membership:
    id: int
    user_id: int
    org_id: int
    role: str
    joined: datetime


@dataclass
class AttrSpec:
    id: int
    name: str
    mutable: bool
    input_type: str
    default_value: str
    values: list[str]


@dataclass
class Label:
    id: int
    name: str
    color: str
    type: str
    attributes: list[AttrSpec] = field(default_factory=list)
    parent_id: int | None = None
    project_id: int | None = None
    task_id: int | None = None
    svg: str | None = None


@dataclass
class Project:
    id: int
    name: str
    owner_id: int
    created: datetime
    updated: datetime
    assignee_id: int | None = None
    assignee_updated: datetime | None = None
    bug_tracker: str = ""
    org_id: int | None = None
    status: str = "annotation"
    source_storage: dict[str, Any] | None = None
    target_storage: dict[str, Any] | None = None


@dataclass
class Frame:
    """One frame of task data: the name CVAT reports and the image size."""

    name: str
    width: int
    height: int


@dataclass
class Data:
    """Task media (CVAT's ``Data`` model) plus the bytes needed to serve frames."""

    id: int
    size: int = 0
    image_quality: int | None = None
    chunk_size: int | None = None
    start_frame: int = 0
    stop_frame: int = 0
    frame_filter: str = ""
    original_chunk_type: str | None = None
    compressed_chunk_type: str | None = None
    storage: str = "local"
    storage_method: str = "file_system"
    sorting_method: str = "lexicographical"
    cloud_storage_id: int | None = None
    media_kind: str = ""  # "" until processed, then "image" or "video"
    frames: list[Frame] = field(default_factory=list)
    video_name: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # name -> raw bytes (images or video)
    deleted_frames: list[int] = field(default_factory=list)
    chunks_updated: datetime | None = None
    ready: bool = False


@dataclass
class Task:
    id: int
    name: str
    owner_id: int
    created: datetime
    updated: datetime
    project_id: int | None = None
    assignee_id: int | None = None
    assignee_updated: datetime | None = None
    bug_tracker: str = ""
    overlap: int | None = None
    segment_size: int = 0
    status: str = "annotation"
    subset: str = ""
    org_id: int | None = None
    data_id: int | None = None
    mode: str = ""
    dimension: str = ""
    source_storage: dict[str, Any] | None = None
    target_storage: dict[str, Any] | None = None
    consensus_replicas: int = 0


@dataclass
class Job:
    id: int
    task_id: int
    start_frame: int
    stop_frame: int
    created: datetime
    updated: datetime
    assignee_id: int | None = None
    assignee_updated: datetime | None = None
    stage: str = "annotation"
    state: str = "new"
    status: str = "annotation"
    tags: list[dict[str, Any]] = field(default_factory=list)
    shapes: list[dict[str, Any]] = field(default_factory=list)
    tracks: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RqJob:
    """A background request (``/api/requests/<id>``) and what it will report."""

    id: str
    type: str  # e.g. "create:task", "export:annotations", "import:annotations"
    target: str
    owner_id: int
    created: datetime
    project_id: int | None = None
    task_id: int | None = None
    job_id: int | None = None
    org_id: int | None = None
    format: str | None = None
    stages: list[str] = field(default_factory=list)  # statuses shown before the final one
    polls: int = 0
    deadline: datetime | None = None
    final_status: str = "finished"
    message: str = ""
    started: datetime | None = None
    finished: datetime | None = None
    expiry_delta: timedelta = timedelta(days=1)
    result_url: str | None = None
    result_id: int | None = None
    result_bytes: bytes | None = None
    result_filename: str | None = None
    on_finish: Any = None  # optional callable run once when the final state is reached


@dataclass
class TusFile:
    file_id: str
    filename: str
    length: int
    metadata: dict[str, str]
    data: bytearray = field(default_factory=bytearray)

    @property
    def offset(self) -> int:
        return len(self.data)

    @property
    def complete(self) -> bool:
        return len(self.data) >= self.length


@dataclass
class UploadSession:
    """Files collected between Upload-Start and Upload-Finish for one target."""

    files: list[tuple[str, bytes]] = field(default_factory=list)
    started: bool = False


@dataclass
class CloudStorage:
    id: int
    provider_type: str
    resource: str
    display_name: str
    credentials_type: str
    owner_id: int
    created: datetime
    updated: datetime
    specific_attributes: str = ""
    description: str = ""
    manifests: list[str] = field(default_factory=list)
    org_id: int | None = None


@dataclass
class Webhook:
    """``cvat/apps/webhooks/models.py: Webhook`` (events kept as a sorted list)."""

    id: int
    target_url: str
    type: str  # "project" | "organization"
    events: list[str]
    owner_id: int
    created: datetime
    updated: datetime
    description: str = ""
    content_type: str = "application/json"
    secret: str = ""
    is_active: bool = True
    enable_ssl: bool = True
    project_id: int | None = None
    org_id: int | None = None


@dataclass
class Delivery:
    """``WebhookDelivery``: one POST to a webhook's target and what came back."""

    id: int
    webhook_id: int
    event: str
    request: dict[str, Any]
    created: datetime
    updated: datetime
    status_code: int | None = None
    redelivery: bool = False
    changed_fields: str = ""
    response: str = ""
    attempt: int | None = 1
    request_duration: int | None = None


#: ``listener(action, resource, obj, before_update)``: told about every change a webhook could
#: report (``annosync/emulator/webhooks.py`` installs one), under ``state.lock``.
Listener = Callable[[str, str, Any, dict[str, Any]], None]


class State:
    """All emulator data. Hold ``state.lock`` while reading or writing."""

    def __init__(self, seed: int = 0, clock: Source | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = Clock(clock)
        self.rng = random.Random(seed)
        # Tags, shapes and tracks live in separate tables (separate sequences) in CVAT; starting
        # them far apart keeps the ids of different kinds distinct for the annotator API.
        self._counters: dict[str, int] = {"labeled_track": 100000, "labeled_image": 200000}
        self.users: dict[int, User] = {}
        self.tokens: dict[int, AccessToken] = {}
        self.sessions: dict[str, Session] = {}
        self.orgs: dict[int, Organization] = {}
        self.memberships: dict[int, Membership] = {}
        self.labels: dict[int, Label] = {}
        self.projects: dict[int, Project] = {}
        self.tasks: dict[int, Task] = {}
        self.data: dict[int, Data] = {}
        self.jobs: dict[int, Job] = {}
        self.rq: dict[str, RqJob] = {}
        self.tus: dict[str, TusFile] = {}
        self.tus_done: set[str] = set()
        self.uploads: dict[tuple[str, int], UploadSession] = {}
        self.cloud_storages: dict[int, CloudStorage] = {}
        self.buckets: dict[str, Any] = {}  # resource name -> dict[path, bytes] or a directory path
        self.share_root: str | None = None
        self.webhooks: dict[int, Webhook] = {}
        self.deliveries: dict[int, Delivery] = {}
        self.listeners: list[Listener] = []
        self.webhook_dispatcher: Any = None
        self.actor: int | None = None  # the user whose request (or UI action) is running
        self.base_url = "http://testserver"  # absolute URLs in webhook payloads

    def next_id(self, table: str) -> int:
        value = self._counters.get(table, 0) + 1
        self._counters[table] = value
        return value

    def now(self) -> datetime:
        return self.clock.now()

    def random_hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def uuid4(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # -- lookups -----------------------------------------------------------------------------

    def user_by_name(self, username: str) -> User | None:
        for user in self.users.values():
            if user.username == username:
                return user
        return None

    def task_labels(self, task: Task) -> list[Label]:
        """Labels of a task: its own, or its project's (ordered by id, sublabels included)."""
        if task.project_id is not None:
            return sorted((lb for lb in self.labels.values() if lb.project_id == task.project_id),
                          key=lambda lb: lb.id)
        return sorted((lb for lb in self.labels.values() if lb.task_id == task.id),
                      key=lambda lb: lb.id)

    def task_jobs(self, task_id: int) -> list[Job]:
        return sorted((j for j in self.jobs.values() if j.task_id == task_id), key=lambda j: j.id)

    def emit(self, action: str, resource: str, obj: Any, before: dict[str, Any] | None = None
             ) -> None:
        """A change a webhook may report (``post_save``/``post_delete`` in CVAT's signals)."""
        for listener in self.listeners:
            listener(action, resource, obj, dict(before or {}))

    def touch_task(self, task: Task, when: datetime | None = None) -> datetime:
        """Update task (and project) ``updated_date`` like CVAT's ``touch()``."""
        when = when or self.now()
        before = {"updated_date": task.updated}
        task.updated = when
        self.emit("update", "task", task, before)
        if task.project_id is not None and task.project_id in self.projects:
            self.projects[task.project_id].updated = when
        return when

    def touch_job(self, job: Job, when: datetime | None = None) -> datetime:
        """An annotation write: job, task and project ``touch()`` (dataset_manager/task.py)."""
        when = when or self.now()
        before = {"updated_date": job.updated}
        job.updated = when
        self.emit("update", "job", job, before)
        task = self.tasks.get(job.task_id)
        if task is not None:
            self.touch_task(task, when)
        return when
