"""``/api/projects``: create with labels, list/search/filter, get, patch, delete (cascade).

Why a module: projects own labels shared by their tasks; their JSON (``ProjectReadSerializer``)
and PATCH semantics (labels added/updated/deleted by id, ``updated_date`` only when something
changed) follow ``recordings2/04_projects.json``.
"""

from __future__ import annotations

from typing import Any

from .access import can_view_project, visible_project
from .context import Ctx, basic_user
from .errors import bad_request, no_match
from .labels import create_labels, update_labels, validate_labels
from .pagination import ListSpec, apply_filters, paginate
from .state import Project, State, iso
from .wire import Response, empty, json_response


def storage_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"id": value["id"], "location": value["location"],
            "cloud_storage_id": value.get("cloud_storage_id")}


def parse_storage(ctx: Ctx, raw: Any, field: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise bad_request({field: {"non_field_errors": [
            f"Invalid data. Expected a dictionary, but got {type(raw).__name__}."]}})
    location = raw.get("location", "local")
    if location not in ("local", "cloud_storage"):
        raise bad_request({field: {"location": [f'"{location}" is not a valid choice.']}})
    cs_id = raw.get("cloud_storage_id")
    if location == "cloud_storage" and not cs_id:
        raise bad_request({field: {"non_field_errors": [
            "Cloud storage was selected as location but its id was not specified"]}})
    if cs_id and cs_id not in ctx.state.cloud_storages:
        raise bad_request({field: {"non_field_errors": [
            f"The specified cloud storage {cs_id} does not exist."]}})
    return {"id": ctx.state.next_id("storage"), "location": location, "cloud_storage_id": cs_id}


def check_user_id(ctx: Ctx, body: dict[str, Any], field: str) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    try:
        uid = int(value)
    except (TypeError, ValueError):
        raise bad_request({field: ["A valid integer is required."]}) from None
    if uid not in ctx.state.users:
        raise bad_request({field: [f'Invalid pk "{uid}" - object does not exist.']})
    return uid


def patch_people_and_storage(ctx: Ctx, obj: Any, body: dict[str, Any], now: Any) -> bool:
    """The PATCH fields projects and tasks share: owner, assignee (and its date), storages.
    Returns True when something changed."""
    changed = False
    if "owner_id" in body:
        owner = check_user_id(ctx, body, "owner_id")
        if owner is not None and owner != obj.owner_id:
            obj.owner_id = owner
            changed = True
    if "assignee_id" in body:
        assignee = check_user_id(ctx, body, "assignee_id")
        if assignee != obj.assignee_id:
            obj.assignee_id = assignee
            obj.assignee_updated = now
            changed = True
    for field in ("source_storage", "target_storage"):
        if field in body:
            setattr(obj, field, parse_storage(ctx, body[field], field))
            changed = True
    return changed


def check_name(body: dict[str, Any], *, required: bool) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if "name" not in body or body["name"] is None:
        if required:
            errors["name"] = ["This field is required." if "name" not in body
                              else "This field may not be null."]
    elif str(body["name"]).strip() == "":
        errors["name"] = ["This field may not be blank."]
    elif len(str(body["name"])) > 256:
        errors["name"] = ["Ensure this field has no more than 256 characters."]
    return errors


def project_json(ctx: Ctx, project: Project) -> dict[str, Any]:
    state = ctx.state
    tasks = [t for t in state.tasks.values() if t.project_id == project.id]
    subsets = sorted({t.subset for t in tasks if t.subset})
    dimension = next((t.dimension for t in sorted(tasks, key=lambda t: t.id) if t.dimension), None)
    return {
        "url": ctx.url(f"/api/projects/{project.id}"),
        "id": project.id,
        "name": project.name,
        "owner": basic_user(ctx, project.owner_id),
        "assignee": basic_user(ctx, project.assignee_id),
        "guide_id": None,
        "bug_tracker": project.bug_tracker,
        "created_date": iso(project.created),
        "updated_date": iso(project.updated),
        "status": project.status,
        "dimension": dimension,
        "organization": project.org_id,
        "organization_id": project.org_id,
        "target_storage": storage_json(project.target_storage),
        "source_storage": storage_json(project.source_storage),
        "tasks": {"count": len(tasks), "url": ctx.url(f"/api/tasks?project_id={project.id}")},
        "labels": {"url": ctx.url(f"/api/labels?project_id={project.id}")},
        "assignee_updated_date": iso(project.assignee_updated),
        "task_subsets": subsets,
    }


def _username(state: State, uid: int | None) -> str | None:
    user = state.users.get(uid) if uid is not None else None
    return user.username if user else None


def project_spec(state: State) -> ListSpec:
    return ListSpec(
        fields={
            "id": lambda p: p.id,
            "name": lambda p: p.name,
            "owner": lambda p: _username(state, p.owner_id),
            "assignee": lambda p: _username(state, p.assignee_id),
            "status": lambda p: p.status,
            "updated_date": lambda p: p.updated,
        },
        search=("name", "owner", "assignee", "status"),
        simple=("name", "owner", "assignee", "status"),
    )


def list_projects(ctx: Ctx) -> Response:
    items = [p for p in ctx.state.projects.values()
             if ctx.scope.matches(p.org_id) and visible_project(ctx, p)]
    items = apply_filters(ctx, items, project_spec(ctx.state))
    return paginate(ctx, items, lambda p: project_json(ctx, p))


def create_project(ctx: Ctx) -> Response:
    body = ctx.json_body()
    errors: dict[str, Any] = check_name(body, required=True)
    bug_tracker = body.get("bug_tracker") or ""
    if len(str(bug_tracker)) > 2000:
        errors["bug_tracker"] = ["Ensure this field has no more than 2000 characters."]
    try:
        labels = validate_labels(body.get("labels"))
    except Exception as exc:  # merge label errors with the field errors, like DRF
        from .errors import ApiError

        if isinstance(exc, ApiError) and isinstance(exc.body, dict) and errors:
            errors.update(exc.body)
            raise bad_request(errors) from None
        raise
    if errors:
        raise bad_request(errors)
    owner_id = check_user_id(ctx, body, "owner_id") or ctx.uid
    assignee_id = check_user_id(ctx, body, "assignee_id")
    state = ctx.state
    now = state.now()
    project = Project(id=state.next_id("project"), name=str(body["name"]), owner_id=owner_id,
                      created=now, updated=now, assignee_id=assignee_id,
                      assignee_updated=now if assignee_id else None,
                      bug_tracker=str(bug_tracker),
                      org_id=ctx.scope.org_id if ctx.scope.kind == "org" else None,
                      source_storage=parse_storage(ctx, body.get("source_storage"), "source_storage"),
                      target_storage=parse_storage(ctx, body.get("target_storage"), "target_storage"))
    create_labels(state, labels, project_id=project.id)
    state.projects[project.id] = project
    resp = json_response(project_json(ctx, project), 201)
    resp.header("location", ctx.url(f"/api/projects/{project.id}"))
    return resp


def get_project_obj(ctx: Ctx) -> Project:
    pid = ctx.int_param("id", "Project")
    project = ctx.state.projects.get(pid)
    if project is None:
        raise no_match("Project")
    can_view_project(ctx, project)
    return project


def get_project(ctx: Ctx) -> Response:
    return json_response(project_json(ctx, get_project_obj(ctx)))


def patch_project(ctx: Ctx) -> Response:
    project = get_project_obj(ctx)
    body = ctx.json_body()
    errors = check_name(body, required=False)
    if errors:
        raise bad_request(errors)
    labels = validate_labels(body.get("labels")) if "labels" in body else None
    state = ctx.state
    changed = False
    now = state.now()
    if "name" in body and body["name"] != project.name:
        project.name = str(body["name"])
        changed = True
    if "bug_tracker" in body and (body["bug_tracker"] or "") != project.bug_tracker:
        project.bug_tracker = str(body["bug_tracker"] or "")
        changed = True
    changed = patch_people_and_storage(ctx, project, body, now) or changed
    if labels:
        update_labels(state, labels, project_id=project.id)
        changed = True
    if changed:
        project.updated = now
    if labels is not None:
        for task in state.tasks.values():
            if task.project_id == project.id and task.updated < project.updated:
                task.updated = project.updated
                for job in state.task_jobs(task.id):
                    if job.updated < project.updated:
                        job.updated = project.updated
    return json_response(project_json(ctx, project))


def delete_project_cascade(state: State, project_id: int) -> None:
    from .tasks import delete_task_cascade

    for task in [t for t in state.tasks.values() if t.project_id == project_id]:
        delete_task_cascade(state, task.id)
    for lid in [lb.id for lb in state.labels.values() if lb.project_id == project_id]:
        state.labels.pop(lid, None)
    state.projects.pop(project_id, None)


def delete_project(ctx: Ctx) -> Response:
    project = get_project_obj(ctx)
    delete_project_cascade(ctx.state, project.id)
    return empty(204)
