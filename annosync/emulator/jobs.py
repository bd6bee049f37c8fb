"""``/api/jobs``: list/filter, get, patch (assignee, stage, state), data meta and frames.

Why a module: jobs are the unit of annotation work; their status is derived from stage and
state exactly as ``JobWriteSerializer.update`` does (changing the stage resets the state to
``new`` unless a state is given), and an unknown assignee id makes CVAT 2.73 answer 500 (HTML).
"""

from __future__ import annotations

from typing import Any

from .access import visible_job
from .annotations import get_job_obj
from .context import Ctx, basic_user
from .errors import bad_request, server_error
from .pagination import ListSpec, apply_filters, paginate
from .projects import storage_json
from .rq import being_created
from .state import Job, State, iso
from .wire import Response, json_response

STAGES = ("annotation", "validation", "acceptance")
STATES = ("new", "in progress", "rejected", "completed")


def derive_status(stage: str, state: str) -> str:
    if stage == "annotation":
        return "annotation"
    if stage == "acceptance" and state == "completed":
        return "completed"
    return "validation"


def job_json(ctx: Ctx, job: Job) -> dict[str, Any]:
    state = ctx.state
    task = state.tasks[job.task_id]
    project = state.projects.get(task.project_id) if task.project_id is not None else None
    data = state.data.get(task.data_id) if task.data_id is not None else None
    bug_tracker = task.bug_tracker or (project.bug_tracker if project else None)
    return {
        "url": ctx.url(f"/api/jobs/{job.id}"),
        "id": job.id,
        "task_id": task.id,
        "task_name": task.name,
        "project_id": task.project_id,
        "project_name": project.name if project else None,
        "assignee": basic_user(ctx, job.assignee_id),
        "guide_id": None,
        "dimension": task.dimension,
        "mode": task.mode,
        "media_type": "image",
        "bug_tracker": bug_tracker,
        "status": job.status,
        "stage": job.stage,
        "state": job.state,
        "frame_count": job.stop_frame - job.start_frame + 1,
        "start_frame": job.start_frame,
        "stop_frame": job.stop_frame,
        "data_chunk_size": data.chunk_size if data else None,
        "data_compressed_chunk_type": data.compressed_chunk_type if data else None,
        "data_original_chunk_type": data.original_chunk_type if data else None,
        "created_date": iso(job.created),
        "updated_date": iso(job.updated),
        "issues": {"url": ctx.url(f"/api/issues?job_id={job.id}"), "count": 0},
        "labels": {"url": ctx.url(f"/api/labels?job_id={job.id}")},
        "type": "annotation",
        "organization": task.org_id,
        "target_storage": storage_json(task.target_storage),
        "source_storage": storage_json(task.source_storage),
        "assignee_updated_date": iso(job.assignee_updated),
        "parent_job_id": None,
        "replicas_count": 0,
        "consensus_replicas": task.consensus_replicas,
    }


def _username(state: State, uid: int | None) -> str | None:
    user = state.users.get(uid) if uid is not None else None
    return user.username if user else None


def job_spec(state: State) -> ListSpec:
    def task_of(j: Job) -> Any:
        return state.tasks[j.task_id]

    def project_name(j: Job) -> str | None:
        pid = task_of(j).project_id
        return state.projects[pid].name if pid is not None and pid in state.projects else None

    return ListSpec(
        fields={
            "id": lambda j: j.id,
            "task_id": lambda j: j.task_id,
            "project_id": lambda j: task_of(j).project_id,
            "task_name": lambda j: task_of(j).name,
            "project_name": project_name,
            "assignee": lambda j: _username(state, j.assignee_id),
            "state": lambda j: j.state,
            "stage": lambda j: j.stage,
            "updated_date": lambda j: j.updated,
            "dimension": lambda j: task_of(j).dimension,
            "type": lambda j: "annotation",
            "parent_job_id": lambda j: None,
        },
        search=("task_name", "project_name", "assignee", "state", "stage"),
        simple=("task_name", "project_name", "assignee", "state", "stage", "task_id",
                "project_id", "dimension", "type", "parent_job_id"),
    )


def list_jobs(ctx: Ctx) -> Response:
    state = ctx.state
    items = [j for j in state.jobs.values()
             if j.task_id in state.tasks and ctx.scope.matches(state.tasks[j.task_id].org_id)
             and visible_job(ctx, j) and not being_created(state, j.task_id)]
    items = apply_filters(ctx, items, job_spec(state))
    return paginate(ctx, items, lambda j: job_json(ctx, j))


def get_job(ctx: Ctx) -> Response:
    job, _ = get_job_obj(ctx)
    return json_response(job_json(ctx, job))


def patch_job(ctx: Ctx) -> Response:
    job, _ = get_job_obj(ctx)
    body = ctx.json_body()
    errors: dict[str, list[str]] = {}
    if "stage" in body and body["stage"] not in STAGES:
        errors["stage"] = [f'"{body["stage"]}" is not a valid choice.']
    if "state" in body and body["state"] not in STATES:
        errors["state"] = [f'"{body["state"]}" is not a valid choice.']
    assignee: int | None = None
    if "assignee" in body and body["assignee"] is not None:
        try:
            assignee = int(body["assignee"])
        except (TypeError, ValueError):
            errors["assignee"] = ["A valid integer is required."]
    if errors:
        raise bad_request(errors)
    state = ctx.state
    if "assignee" in body and assignee is not None and assignee not in state.users:
        raise server_error()
    now = state.now()
    before = job_fields(job)
    stage = body.get("stage", job.stage)
    new_state = body.get("state", "new" if stage != job.stage else job.state)
    if "stage" in body or "state" in body:
        job.status = derive_status(stage, new_state)
    job.stage = stage
    job.state = new_state
    if "assignee" in body and assignee != job.assignee_id:
        job.assignee_id = assignee
        job.assignee_updated = now
    job.updated = now
    state.emit("update", "job", job, changed_fields(before, job_fields(job)))
    return json_response(job_json(ctx, job))


def job_fields(job: Job) -> dict[str, Any]:
    """The Job model's columns a PATCH can change (names as django-dirtyfields reports them)."""
    return {"assignee_id": job.assignee_id, "assignee_updated_date": job.assignee_updated,
            "stage": job.stage, "state": job.state, "status": job.status,
            "updated_date": job.updated}


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """``before_update`` of an update event: the old values of the fields that changed."""
    return {k: v for k, v in before.items() if after.get(k) != v}


def create_job(ctx: Ctx) -> Response:
    body = ctx.json_body()
    kind = body.get("type")
    if kind is None:
        raise bad_request({"type": ["This field is required."], "task_id": ["This field is required."]}
                          if "task_id" not in body else {"type": ["This field is required."]})
    if kind not in ("annotation", "ground_truth", "consensus_replica"):
        raise bad_request({"type": [f'"{kind}" is not a valid choice.']})
    if kind != "ground_truth":
        raise bad_request([f"Unexpected job type '{kind}'"])
    raise bad_request(["Ground Truth jobs are not supported by the annosync emulator"])


def delete_job(ctx: Ctx) -> Response:
    get_job_obj(ctx)
    raise bad_request(["Only ground truth jobs can be removed"])


def job_meta(ctx: Ctx) -> Response:
    from .data import job_meta_json

    job, _ = get_job_obj(ctx)
    return json_response(job_meta_json(ctx.state, job))


def patch_job_meta(ctx: Ctx) -> Response:
    from .data import _deleted_frames, _task_data

    job, task = get_job_obj(ctx)
    data = _task_data(ctx, task)
    body = ctx.json_body()
    if "deleted_frames" not in body:
        raise bad_request({"deleted_frames": ["This field is required."]})
    frames = _deleted_frames(body, range(job.start_frame, job.stop_frame + 1))
    if frames is not None:
        outside = [f for f in data.deleted_frames if not job.start_frame <= f <= job.stop_frame]
        data.deleted_frames = sorted(set(outside) | set(frames))
        ctx.state.touch_task(task)
    return job_meta(ctx)


def job_data(ctx: Ctx) -> Response:
    from .data import _data_getter, _task_data

    job, task = get_job_obj(ctx)
    data = _task_data(ctx, task)
    return _data_getter(ctx, data, job.start_frame, job.stop_frame)


def job_preview(ctx: Ctx) -> Response:
    from .data import _preview, _task_data, frame_bytes
    from .media import to_jpeg

    job, task = get_job_obj(ctx)
    data = _task_data(ctx, task)
    if job.start_frame == 0:
        return _preview(ctx, data)
    blob, _ = frame_bytes(ctx.state, data, job.start_frame, "original")
    return Response(200, to_jpeg(blob, 85, (256, 256)), "image/jpeg")
