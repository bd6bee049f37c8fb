"""The run record: everything a run needs to resume, re-plan and merge, safe to commit.

One deterministic JSON file per anno key at ``<dataset>/.annosync/runs/<anno_key>.json``. It
holds the reference's run info (config, schema as sent, timestamps, server URL and version), the
CVAT ids (project, tasks, jobs; each sample's task and frame), the ``label_id <-> CVAT id`` map of
every task, and the base digests of the three-way merge. It never holds a secret: credentials are
not part of any model written here, and the config is the manifest, which refuses them.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from annosync.convert import TaskIdMap
from annosync.dataset import jsonfmt
from annosync.dataset.atomic import write_bytes_atomic
from annosync.errors import InputError, StateError
from annosync.model.problems import problems_from_validation
from annosync.sync.merge import BaseEntry

RECORD_FORMAT = 1
RUNS_DIR = "runs"
#: what of ``.annosync/`` stays on this machine when the dataset is shared through git: the
#: dataset lock and its note, the journal of an apply in progress, temporary files (run records
#: are meant to be committed: they let another clone go on with the run)
GITIGNORE = "lock\nlock.owner\njournal/\n.*.tmp\n"

TaskState = Literal["planned", "created", "data_uploaded", "labels_uploaded"]


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ServerInfo(_Record):
    url: str
    version: str | None = None
    organization: str | None = None


class ProjectRecord(_Record):
    id: int | None = None
    name: str | None = None
    created: bool = Field(default=False, description="created by this run (cleanup deletes it)")


class JobRecord(_Record):
    id: int
    start_frame: int
    stop_frame: int
    assignee: str | None = None
    stage: str | None = None
    state: str | None = None
    updated_date: str | None = Field(
        default=None, description="the job's updated_date after annosync's last write or pull"
    )


class TaskRecord(_Record):
    index: int = Field(description="batch number within the run, from 0")
    name: str
    id: int | None = None
    state: TaskState = "planned"
    media_type: Literal["image", "video"] = "image"
    samples: list[str] = Field(description="sample keys in task frame order (one for video)")
    frame_start: int | None = None
    frame_stop: int | None = None
    frame_step: int | None = None
    size: int | None = None
    assignee: str | None = None
    bug_tracker: str | None = None
    jobs: list[JobRecord] = Field(default_factory=list)
    labels: dict[str, int] = Field(
        default_factory=dict, description="CVAT label name -> label id for this task"
    )
    id_map: TaskIdMap | None = Field(default=None, description="CVAT id <-> label id")
    created_at: str | None = None


class SampleRef(_Record):
    task: int = Field(description="index of the task in ``tasks``")
    frame: int = Field(default=0, description="task frame of an image sample")


class RunRecord(_Record):
    #: digest of the file bytes this record was loaded from or last saved as (the clean memo
    #: of ``sync/index.py`` is valid for exactly these bytes); None for a record never on disk
    _source: str | None = PrivateAttr(default=None)

    format: int = RECORD_FORMAT
    anno_key: str
    run_id: str = Field(default_factory=lambda: secrets.token_hex(3))
    created_at: str = Field(default_factory=now_iso)
    updated_at: str = Field(default_factory=now_iso)
    pulled_at: str | None = None
    pushed_at: str | None = None
    cleaned_at: str | None = Field(default=None, description="when cleanup deleted the tasks")
    manifest: str | None = Field(default=None, description="manifest path, relative to the dataset")
    config: dict[str, Any] = Field(default_factory=dict, description="the manifest, resolved")
    server: ServerInfo | None = None
    project: ProjectRecord | None = None
    label_schema: dict[str, Any] = Field(default_factory=dict, description="the schema as sent")
    tasks: list[TaskRecord] = Field(default_factory=list)
    samples: dict[str, SampleRef] = Field(default_factory=dict)
    base: dict[str, dict[str, dict[str, BaseEntry]]] = Field(
        default_factory=dict, description="sample key -> field -> label key -> base digests"
    )

    def task_by_id(self, task_id: int) -> TaskRecord | None:
        return next((t for t in self.tasks if t.id == task_id), None)

    def created_task_ids(self) -> list[int]:
        return [t.id for t in self.tasks if t.id is not None]


def runs_dir(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / RUNS_DIR


def record_path(state_dir: str | os.PathLike[str], anno_key: str) -> Path:
    return runs_dir(state_dir) / f"{anno_key}.json"


def record_to_bytes(record: RunRecord) -> bytes:
    return jsonfmt.dump_bytes(record.model_dump(mode="json", exclude_none=True))


def load_record(state_dir: str | os.PathLike[str], anno_key: str) -> RunRecord | None:
    path = record_path(state_dir, anno_key)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:  # the common case in one pass (pydantic's own JSON parser: a big record loads 2x faster)
        record = RunRecord.model_validate_json(data)
        if record.format <= RECORD_FORMAT:
            record._source = source_digest(data)
            return record
    except ValidationError:
        pass  # read again below, for the located error this gives
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError.at(f"run record is not UTF-8 text: {exc.reason}", str(path)) from None
    except RecursionError:
        raise InputError.at("run record nested too deeply", str(path)) from None
    except json.JSONDecodeError as exc:
        marker = next((n for n, line in enumerate(data.splitlines(), 1)
                       if line.startswith((b"<<<<<<<", b">>>>>>>"))), None)
        if marker is not None:
            raise InputError.at(
                "unresolved git merge conflict in the run record (two clones synced the same "
                "run): keep one side (`git checkout --ours` or `--theirs` this file), then "
                "`annosync plan`: it compares that side with CVAT again and reports any "
                "conflict instead of overwriting", str(path), marker) from None
        raise InputError.at(f"invalid JSON in run record: {exc.msg}", str(path), exc.lineno) from None
    version = raw.get("format", RECORD_FORMAT) if isinstance(raw, dict) else RECORD_FORMAT
    if isinstance(version, int) and not isinstance(version, bool) and version > RECORD_FORMAT:
        raise StateError(f"{path}: written by a newer annosync (format {raw['format']})")
    try:
        record = RunRecord.model_validate(raw)
    except ValidationError as exc:
        raise InputError(problems_from_validation(exc, str(path))) from None
    record._source = source_digest(data)
    return record


def source_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def save_record(state_dir: str | os.PathLike[str], record: RunRecord) -> bool:
    """Write the record if anything but its timestamp changed (so git sees no churn).

    The record is serialized once (a big run's record is megabytes): with a new timestamp,
    compared with the file's bytes carrying that same timestamp."""
    path = record_path(state_dir, record.anno_key)
    previous = record.updated_at
    record.updated_at = now_iso()
    data = record_to_bytes(record)
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        old = None
    if old is not None and _unstamped(old) == _unstamped(data):
        record.updated_at = previous
        record._source = source_digest(old)
        return False
    ignore = Path(state_dir) / ".gitignore"
    if not ignore.exists():  # machine-local state never travels with a git clone
        write_bytes_atomic(ignore, GITIGNORE.encode())
    write_bytes_atomic(path, data)
    record._source = source_digest(data)
    return True


def _unstamped(data: bytes) -> bytes:
    """A record's bytes without its ``updated_at`` value (the last top-level key)."""
    at = data.rfind(b'"updated_at": "')
    if at < 0:
        return data
    end = data.find(b'"', at + len(b'"updated_at": "'))
    return data[:at] + data[end + 1:]


def list_records(state_dir: str | os.PathLike[str]) -> list[str]:
    folder = runs_dir(state_dir)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if not p.name.startswith("."))


def delete_record(state_dir: str | os.PathLike[str], anno_key: str) -> bool:
    path = record_path(state_dir, anno_key)
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def rename_record(state_dir: str | os.PathLike[str], old: str, new: str) -> None:
    record = load_record(state_dir, old)
    if record is None:
        raise StateError(f"no annotation run {old!r}")
    if record_path(state_dir, new).exists():
        raise StateError(f"an annotation run {new!r} already exists")
    record.anno_key = new
    save_record(state_dir, record)
    delete_record(state_dir, old)
