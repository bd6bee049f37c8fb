"""What CVAT holds for one task of a run: frame map, bound schema, changed jobs, pulled labels.

Change detection uses each job's ``updated_date`` (CVAT's annotations ``version`` is always 0):
the run record keeps the date seen after annosync's own last write or pull, so an unchanged run
downloads nothing. Image tasks download per changed job (jobs partition the frames); video tasks
download the whole task, because CVAT cuts tracks at job boundaries (recordings2/08, 09).
"""

from __future__ import annotations

import json
import threading
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from annosync.cvat import CvatClient
from annosync.errors import StateError
from annosync.model.schema import ResolvedSchema
from annosync.sync.record import JobRecord, TaskRecord
from annosync.sync.review import ReviewFilter, held_frames, held_jobs

if TYPE_CHECKING:  # the converters load when a task is read or downloaded: a no-op sync or
    # pull lists the jobs only (the CLI's start-up, tests/cli/test_startup.py)
    from annosync.convert import BoundSchema, FrameMap, PreviousLabels, TaskIdMap
    from annosync.convert.results import Pulled, PulledSample

_IMPORTING = threading.Lock()


def _load_converters() -> None:
    """Import the converters on first use, one thread at a time: tasks are read in pool
    threads, and first imports of modules that import each other, run at once in two threads,
    can deadlock."""
    with _IMPORTING:
        import annosync.convert.binding
        import annosync.convert.cvat_to_labels
        import annosync.convert.frames
        import annosync.convert.results  # noqa: F401


def job_records(jobs: list[dict[str, Any]], assignee_names: dict[int, str] | None = None
                ) -> list[JobRecord]:
    out = []
    for j in sorted(jobs, key=lambda j: int(j["start_frame"])):
        assignee = j.get("assignee") or None
        out.append(JobRecord(
            id=int(j["id"]), start_frame=int(j["start_frame"]), stop_frame=int(j["stop_frame"]),
            assignee=assignee.get("username") if isinstance(assignee, dict) else None,
            stage=j.get("stage"), state=j.get("state"), updated_date=j.get("updated_date"),
        ))
    return out


@dataclass
class TaskView:
    """One task as the server has it now; built lazily by the planner."""

    task: TaskRecord
    jobs: list[JobRecord] = field(default_factory=list)
    changed: list[JobRecord] = field(default_factory=list)
    held: dict[int, str] = field(default_factory=dict)  # changed job id -> why not pulled
    frames: FrameMap | None = None
    bound: BoundSchema | None = None
    pulled: Pulled | None = None
    covered: set[int] = field(default_factory=set)
    gone: bool = False  # the task no longer exists in CVAT

    @property
    def task_id(self) -> int:
        assert self.task.id is not None
        return self.task.id


def frame_map(client: CvatClient, task: TaskRecord,
              meta: dict[str, Any] | None = None) -> FrameMap:
    """The task's frames from its ``data/meta`` (``meta``, if the caller just read it)."""
    _load_converters()
    from annosync.convert.frames import FrameMap

    assert task.id is not None
    if meta is None:
        meta = client.get_data_meta(task.id)
    fm = FrameMap.from_data_meta(meta, task.media_type)
    if task.media_type == "image" and fm.size != len(task.samples):
        raise StateError(
            f"task {task.id} holds {fm.size} frames but the run recorded {len(task.samples)} "
            "samples for it: the task was changed outside annosync"
        )
    return fm


def bound_schema(client: CvatClient, task_id: int, schema: ResolvedSchema) -> BoundSchema:
    _load_converters()
    from annosync.convert.binding import bind

    return bind(schema, client.get_labels(task_id=task_id))


#: tasks whose jobs one listing asks for (``list_jobs_of_tasks``; the filter goes in the URL)
TASKS_PER_LISTING = 100


def list_jobs_in_bulk(client: CvatClient, tasks: list[TaskRecord]
                      ) -> dict[int, list[dict[str, Any]]]:
    """The jobs of many tasks in a few listings (``TASKS_PER_LISTING`` tasks each) instead
    of one per task; only the tasks whose listed jobs are exactly the ones the run recorded
    (same ids) are answered, the others are listed one by one by ``refresh_jobs`` (a new or
    deleted job, a deleted task, a page that shifted while walked). Empty if the server
    refuses the filter."""
    from annosync.cvat.errors import CvatBadRequest

    ids = [t.id for t in tasks if t.id is not None]
    out: dict[int, list[dict[str, Any]]] = {}
    if len(ids) < 2:
        return out
    recorded = {t.id: {j.id for j in t.jobs} for t in tasks}
    for start in range(0, len(ids), TASKS_PER_LISTING):
        try:
            listed = client.list_jobs_of_tasks(ids[start:start + TASKS_PER_LISTING])
        except CvatBadRequest:
            return {}
        for task_id, jobs in listed.items():
            if jobs and {int(j["id"]) for j in jobs} == recorded.get(task_id):
                out[task_id] = jobs
    return out


def refresh_jobs(client: CvatClient, view: TaskView, review: ReviewFilter | None = None,
                 listed: list[dict[str, Any]] | None = None) -> None:
    """Current jobs of the task, and which of them changed since the run last looked; changed
    jobs that ``review`` (``load.stages``/``states``) holds back move to ``view.held``.
    ``listed``: the task's jobs as a bulk listing found them (``list_jobs_in_bulk``)."""
    if listed is None:
        listed = client.list_jobs(task_id=view.task_id)
    view.jobs = job_records(listed)
    if not view.jobs and not client.exists("tasks", view.task_id):
        # CVAT filters the job list by task: a deleted task shows as "no jobs", not an error
        view.gone = True
        return
    seen = {j.id: j.updated_date for j in view.task.jobs}
    view.changed = [j for j in view.jobs if seen.get(j.id) != j.updated_date]
    if review is not None and review.active:
        view.held = held_jobs(view.task, view.changed, review)
        view.changed = [j for j in view.changed if j.id not in view.held]


def download(
    client: CvatClient,
    view: TaskView,
    schema: ResolvedSchema,
    previous: PreviousLabels,
    id_map: TaskIdMap,
) -> Pulled:
    """Pull the changed part of a task and convert it to labels."""
    return convert_answers(view, schema, previous, id_map, fetch_answers(client, view, schema))


#: CVAT's annotations of a job (or of the whole task) as compact JSON text, compressed
#: (``_compact``), and the task frames they cover (None: every frame the answer covers, as
#: ``view.covered`` says)
Answer = tuple[bytes, "range | None"]


def _compact(data: dict[str, Any]) -> bytes:
    """An answer as it waits for its conversion: compact JSON text (``json.loads`` gives the
    same values back: floats round-trip exactly), zlib-compressed at level 1. A pull holds
    the answers of up to ``concurrency + 1`` tasks while one converts: as text, ~2.9 MB a job of
    10,000 boxes (14 MB of the peak at the default 4); compressed, ~5x less, for ~20 ms."""
    return zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 1)


def parsed_answer(blob: bytes) -> dict[str, Any]:
    """A waiting answer (``_compact``) decoded, for ``from_cvat`` (which validates its shapes
    one at a time)."""
    decoded: dict[str, Any] = json.loads(zlib.decompress(blob))
    return decoded


def fetch_answers(client: CvatClient, view: TaskView, schema: ResolvedSchema) -> list[Answer]:
    """Download the changed part of a task as CVAT answers it (not converted: a plan downloads
    several tasks at once and converts one at a time; each waits as text). Sets
    ``view.covered``."""
    _load_converters()
    if view.frames is None:
        view.frames = frame_map(client, view.task)
    if view.bound is None:
        view.bound = bound_schema(client, view.task_id, schema)
    if view.task.media_type == "video":
        view.covered = set(range(view.frames.size))
        return [(_compact(client.get_annotations(task_id=view.task_id)), None)]
    answers: list[Answer] = []
    for job in view.changed:
        data = client.get_annotations(job_id=job.id)
        if data.get("tracks"):
            # tracks on an image task: read the whole task once, uncut (frames of held jobs
            # stay uncovered: their samples are not merged)
            data = client.get_annotations(task_id=view.task_id)
            view.covered = set(range(view.frames.size)) - set(held_frames(view.jobs, view.held))
            answers.append((_compact(data), None))
            break
        covered = range(job.start_frame, job.stop_frame + 1)
        view.covered |= set(covered)
        answers.append((_compact(data), covered))
        del data
    return answers


def convert_answers(view: TaskView, schema: ResolvedSchema, previous: PreviousLabels,
                    id_map: TaskIdMap, answers: list[Answer]) -> Pulled:
    """CVAT's answers (``fetch_answers``) as labels, kept in ``view.pulled``."""
    _load_converters()
    from annosync.convert.cvat_to_labels import from_cvat
    from annosync.convert.results import Pulled

    assert view.frames is not None and view.bound is not None
    scope = f"task{view.task_id}"
    fields = list(schema.fields)
    if view.task.media_type == "video":
        ((blob, _),) = answers
        pulled = from_cvat(parsed_answer(blob), view.frames, view.bound, fields=fields,
                           id_map=id_map, previous=previous, scope=scope)
    else:
        pulled = Pulled()
        for blob, covered in answers:
            part = from_cvat(parsed_answer(blob), view.frames, view.bound, fields=fields,
                             id_map=id_map, previous=previous, covered=covered, scope=scope)
            pulled.samples.update(part.samples)
            pulled.unexpected.extend(part.unexpected)
            pulled.notes.extend(part.notes)
    view.pulled = pulled
    return pulled


def sample_data(view: TaskView, position: int) -> PulledSample | None:
    """The pulled labels of the task's ``position``-th sample (None: not downloaded)."""
    if view.pulled is None:
        return None
    _load_converters()
    from annosync.convert.results import PulledSample

    if view.task.media_type == "video":
        return view.pulled.samples.get(0)
    if position not in view.covered:
        return None
    return view.pulled.samples.get(position, PulledSample())
