"""``/api/tasks``: create (labels or project), list/filter, get, patch, delete (cascade).

Why a module: task JSON changes shape over a task's life (before data, after data, after a
failed data upload: see ``recordings2/05_tasks.json`` and ``06_data_upload.json``), and task
status and job counters are derived from its jobs. Media handling lives in ``data.py``.
"""

from __future__ import annotations

from typing import Any

from .access import can_view_task, visible_task
from .context import Ctx, basic_user
from .errors import ApiError, bad_request, no_match
from .labels import create_labels, update_labels, validate_labels
from .pagination import ListSpec, apply_filters, paginate
from .projects import (
    check_name,
    check_user_id,
    parse_storage,
    patch_people_and_storage,
    storage_json,
)
from .rq import being_created
from .state import Job, State, Task, iso
from .wire import Response, empty, json_response


def committed_jobs(state: State, task: Task) -> list[Job]:
    """The task's jobs as other requests see them: none while its creation runs."""
    return [] if being_created(state, task.id) else state.task_jobs(task.id)


def job_counts(state: State, task: Task) -> tuple[int, int, int]:
    jobs = committed_jobs(state, task)
    completed = sum(1 for j in jobs if j.stage == "acceptance" and j.state == "completed")
    validation = sum(1 for j in jobs if j.stage == "validation")
    return len(jobs), completed, validation


def task_status(state: State, task: Task) -> str:
    jobs = committed_jobs(state, task)
    if not jobs:
        return task.status
    statuses = {j.status for j in jobs}
    if "annotation" in statuses:
        return "annotation"
    if "validation" in statuses:
        return "validation"
    return "completed"


def task_json(ctx: Ctx, task: Task) -> dict[str, Any]:
    state = ctx.state
    project = state.projects.get(task.project_id) if task.project_id is not None else None
    data = state.data.get(task.data_id) if task.data_id is not None else None
    count, completed, validation = job_counts(state, task)
    out: dict[str, Any] = {
        "url": ctx.url(f"/api/tasks/{task.id}"),
        "id": task.id,
        "name": task.name,
        "project_id": task.project_id,
        "project_name": project.name if project else None,
        "owner": basic_user(ctx, task.owner_id),
        "assignee": basic_user(ctx, task.assignee_id),
        "bug_tracker": task.bug_tracker,
        "created_date": iso(task.created),
        "updated_date": iso(task.updated),
        "overlap": task.overlap,
        "segment_size": task.segment_size,
        "status": task_status(state, task),
    }
    if data is not None:
        if data.chunk_size is not None:
            out["data_chunk_size"] = data.chunk_size
            out["data_original_chunk_type"] = data.original_chunk_type
            out["data_compressed_chunk_type"] = data.compressed_chunk_type
        out["data_cloud_storage_id"] = data.cloud_storage_id
    out["guide_id"] = None
    if data is not None:
        out["size"] = data.size
        if data.image_quality is not None and data.ready:
            out["image_quality"] = data.image_quality
    out.update({
        "data": data.id if data is not None else None,
        "dimension": task.dimension,
        "mode": task.mode,
        "media_type": "image" if task.dimension else "",
        "subset": task.subset,
        "organization_id": task.org_id,
        "organization": task.org_id,
        "target_storage": storage_json(task.target_storage),
        "source_storage": storage_json(task.source_storage),
        "jobs": {"count": count, "completed": completed, "validation": validation,
                 "url": ctx.url(f"/api/jobs?task_id={task.id}")},
        "labels": {"url": ctx.url(f"/api/labels?task_id={task.id}")},
        "assignee_updated_date": iso(task.assignee_updated),
        "validation_mode": None,
        "consensus_enabled": task.consensus_replicas > 0,
    })
    return out


def _username(state: State, uid: int | None) -> str | None:
    user = state.users.get(uid) if uid is not None else None
    return user.username if user else None


def task_spec(state: State) -> ListSpec:
    def project_name(t: Task) -> str | None:
        p = state.projects.get(t.project_id) if t.project_id is not None else None
        return p.name if p else None

    return ListSpec(
        fields={
            "id": lambda t: t.id,
            "name": lambda t: t.name,
            "project_id": lambda t: t.project_id,
            "project_name": project_name,
            "owner": lambda t: _username(state, t.owner_id),
            "assignee": lambda t: _username(state, t.assignee_id),
            "status": lambda t: task_status(state, t),
            "subset": lambda t: t.subset,
            "mode": lambda t: t.mode,
            "dimension": lambda t: t.dimension,
            "tracker_link": lambda t: t.bug_tracker,
            "validation_mode": lambda t: None,
            "updated_date": lambda t: t.updated,
        },
        search=("project_name", "name", "owner", "status", "assignee", "subset", "mode",
                "dimension", "tracker_link", "validation_mode"),
        simple=("project_name", "name", "owner", "status", "assignee", "subset", "mode",
                "dimension", "tracker_link", "validation_mode", "project_id"),
    )


def list_tasks(ctx: Ctx) -> Response:
    items = [t for t in ctx.state.tasks.values()
             if ctx.scope.matches(t.org_id) and visible_task(ctx, t)]
    items = apply_filters(ctx, items, task_spec(ctx.state))
    return paginate(ctx, items, lambda t: task_json(ctx, t))


def _int_field(body: dict[str, Any], name: str, errors: dict[str, Any]) -> int | None:
    if name not in body or body[name] is None:
        return None
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        errors[name] = ["A valid integer is required."]
        return None
    try:
        number = int(value)
    except ValueError:
        errors[name] = ["A valid integer is required."]
        return None
    if number < 0:
        errors[name] = ["Ensure this value is greater than or equal to 0."]
        return None
    return number


def create_task(ctx: Ctx) -> Response:
    body = ctx.json_body()
    state = ctx.state
    errors: dict[str, Any] = check_name(body, required=True)
    segment_size = _int_field(body, "segment_size", errors)
    overlap = _int_field(body, "overlap", errors)
    project_id = _int_field(body, "project_id", errors)
    subset = body.get("subset") or ""
    if len(str(subset)) > 64:
        errors["subset"] = ["Ensure this field has no more than 64 characters."]
    try:
        labels = validate_labels(body.get("labels"))
    except ApiError as exc:
        if isinstance(exc.body, dict):
            errors.update(exc.body)
            labels = []
        else:
            raise
    if errors:
        raise bad_request(errors)
    if labels and project_id:
        raise bad_request(["Task must have only one of Label set or project_id"])
    org_id = ctx.scope.org_id if ctx.scope.kind == "org" else None
    if project_id:
        project = state.projects.get(project_id)
        if project is None:
            raise bad_request([f"The specified project #{project_id} does not exist."])
        if project.org_id != org_id:
            if ctx.scope.kind == "none":
                org_id = project.org_id
            else:
                raise bad_request(["The task and its project should be in the same organization."])
    owner_id = check_user_id(ctx, body, "owner_id") or ctx.uid
    assignee_id = check_user_id(ctx, body, "assignee_id")
    now = state.now()
    task = Task(id=state.next_id("task"), name=str(body["name"]), owner_id=owner_id,
                created=now, updated=now, project_id=project_id or None, assignee_id=assignee_id,
                assignee_updated=now if assignee_id else None,
                bug_tracker=str(body.get("bug_tracker") or ""), overlap=overlap,
                segment_size=segment_size or 0, subset=str(subset), org_id=org_id,
                source_storage=parse_storage(ctx, body.get("source_storage"), "source_storage"),
                target_storage=parse_storage(ctx, body.get("target_storage"), "target_storage"),
                consensus_replicas=int(body.get("consensus_replicas") or 0))
    create_labels(state, labels, task_id=task.id)
    state.tasks[task.id] = task
    if task.project_id is not None:
        state.projects[task.project_id].updated = now
    state.emit("create", "task", task)
    resp = json_response(task_json(ctx, task), 201)
    resp.header("location", ctx.url(f"/api/tasks/{task.id}"))
    return resp


def get_task_obj(ctx: Ctx, name: str = "id") -> Task:
    tid = ctx.int_param(name, "Task")
    task = ctx.state.tasks.get(tid)
    if task is None:
        raise no_match("Task")
    can_view_task(ctx, task)
    return task


def get_task(ctx: Ctx) -> Response:
    return json_response(task_json(ctx, get_task_obj(ctx)))


def _move_to_project(ctx: Ctx, task: Task, project_id: int) -> None:
    state = ctx.state
    project = state.projects.get(project_id)
    if project is None:
        raise bad_request([f"Cannot find project with ID {project_id}"])
    old = state.task_labels(task)
    new_by_name = {(lb.name, lb.parent_id is None): lb for lb in state.labels.values()
                   if lb.project_id == project.id}
    mapping: dict[int, int] = {}
    spec_mapping: dict[int, int] = {}
    for lb in old:
        target = new_by_name.get((lb.name, lb.parent_id is None))
        if target is None:
            raise bad_request(["All task or project label names must be mapped to the target project"])
        mapping[lb.id] = target.id
        for attr in lb.attributes:
            match = next((a for a in target.attributes if a.name == attr.name
                          and a.input_type == attr.input_type and a.values == attr.values), None)
            if match is None:
                raise bad_request([f'Target project does not have "{lb.name}" label with '
                                   f'"{attr.name}" attribute'])
            spec_mapping[attr.id] = match.id

    def remap(obj: dict[str, Any]) -> None:
        obj["label_id"] = mapping.get(obj["label_id"], obj["label_id"])
        for attr in obj.get("attributes", []):
            attr["spec_id"] = spec_mapping.get(attr["spec_id"], attr["spec_id"])
        for shape in obj.get("shapes", []):
            for attr in shape.get("attributes", []):
                attr["spec_id"] = spec_mapping.get(attr["spec_id"], attr["spec_id"])
        for element in obj.get("elements", []):
            remap(element)

    for job in state.task_jobs(task.id):
        for coll in (job.tags, job.shapes, job.tracks):
            for obj in coll:
                remap(obj)
    if task.project_id is None:
        for lb in old:
            state.labels.pop(lb.id, None)
    task.project_id = project.id


def patch_task(ctx: Ctx) -> Response:
    task = get_task_obj(ctx)
    body = ctx.json_body()
    errors = check_name(body, required=False)
    if errors:
        raise bad_request(errors)
    labels = validate_labels(body.get("labels")) if "labels" in body else None
    state = ctx.state
    now = state.now()
    old_project = task.project_id
    changed = False
    if body.get("project_id") is not None and body["project_id"] != task.project_id:
        _move_to_project(ctx, task, int(body["project_id"]))
        changed = True
    else:
        for key in ("name", "bug_tracker", "subset"):
            if key in body and (body[key] or "") != getattr(task, key):
                setattr(task, key, str(body[key] or ""))
                changed = True
        changed = patch_people_and_storage(ctx, task, body, now) or changed
        if labels and task.project_id is None:
            update_labels(state, labels, task_id=task.id)
            changed = True
    if changed:
        before = {"updated_date": task.updated}
        task.updated = now
        state.emit("update", "task", task, before)
        if labels is not None and task.project_id is None:
            for job in state.task_jobs(task.id):
                if job.updated < now:
                    job.updated = now
    for pid in {old_project, task.project_id}:
        if pid is not None and pid in state.projects:
            state.projects[pid].updated = now
    return json_response(task_json(ctx, task))


def delete_task_cascade(state: State, task_id: int) -> None:
    task = state.tasks.get(task_id)
    if task is None:
        return
    state.emit("delete", "task", task)  # the snapshot is taken before deletion (pre_delete)
    state.tasks.pop(task_id, None)
    for job in state.task_jobs(task_id):
        state.jobs.pop(job.id, None)
    if task.data_id is not None:
        state.data.pop(task.data_id, None)
    for lid in [lb.id for lb in state.labels.values() if lb.task_id == task_id]:
        state.labels.pop(lid, None)
    for key in [k for k in state.uploads if k[1] == task_id and k[0].startswith("task")]:
        state.uploads.pop(key, None)
    if task.project_id is not None and task.project_id in state.projects:
        state.projects[task.project_id].updated = state.now()


def delete_task(ctx: Ctx) -> Response:
    task = get_task_obj(ctx)
    delete_task_cascade(ctx.state, task.id)
    return empty(204)


def make_jobs(state: State, task: Task, size: int, segment_size: int, overlap: int) -> list[Job]:
    """Create one job per segment (``_get_task_segment_data`` in CVAT's task.py)."""
    step = max(1, segment_size - overlap)
    jobs: list[Job] = []
    start = 0
    while True:
        stop = min(start + segment_size - 1, size - 1)
        now = state.now()
        job = Job(id=state.next_id("job"), task_id=task.id, start_frame=start, stop_frame=stop,
                  created=now, updated=now)
        state.jobs[job.id] = job
        jobs.append(job)
        if stop >= size - 1:
            break
        start += step
    return jobs
