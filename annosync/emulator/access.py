"""Who may see what: a simplified form of CVAT's IAM rules.

Why a module: CVAT filters lists and refuses objects by role (superusers see everything;
regular users see what they own or are assigned to, and what belongs to their organizations).
The emulator keeps that shape so multi-user tests behave plausibly; the rules are simpler than
CVAT's OPA policies (documented as an infidelity).
"""

from __future__ import annotations

from .context import Ctx
from .errors import permission_denied
from .state import Job, Label, Project, Task


def _member(ctx: Ctx, org_id: int | None) -> bool:
    if org_id is None or ctx.user is None:
        return False
    return any(m.org_id == org_id and m.user_id == ctx.user.id
               for m in ctx.state.memberships.values())


def visible_project(ctx: Ctx, project: Project) -> bool:
    user = ctx.user
    if user is None:
        return False
    if user.is_superuser or project.owner_id == user.id or project.assignee_id == user.id:
        return True
    if _member(ctx, project.org_id):
        return True
    return any(visible_task(ctx, t, via_project=False) for t in ctx.state.tasks.values()
               if t.project_id == project.id)


def visible_task(ctx: Ctx, task: Task, *, via_project: bool = True) -> bool:
    user = ctx.user
    if user is None:
        return False
    if user.is_superuser or task.owner_id == user.id or task.assignee_id == user.id:
        return True
    if _member(ctx, task.org_id):
        return True
    if via_project and task.project_id is not None:
        project = ctx.state.projects.get(task.project_id)
        if project is not None and user.id in (project.owner_id, project.assignee_id):
            return True
    return any(j.assignee_id == user.id for j in ctx.state.jobs.values() if j.task_id == task.id)


def visible_job(ctx: Ctx, job: Job) -> bool:
    user = ctx.user
    if user is None:
        return False
    if job.assignee_id == user.id:
        return True
    task = ctx.state.tasks.get(job.task_id)
    return task is not None and visible_task(ctx, task)


def visible_label(ctx: Ctx, label: Label) -> bool:
    state = ctx.state
    if label.project_id is not None:
        project = state.projects.get(label.project_id)
        return project is not None and visible_project(ctx, project)
    if label.task_id is not None:
        task = state.tasks.get(label.task_id)
        return task is not None and visible_task(ctx, task)
    return False


def can_view_project(ctx: Ctx, project: Project) -> None:
    if not visible_project(ctx, project):
        raise permission_denied()


def can_view_task(ctx: Ctx, task: Task) -> None:
    if not visible_task(ctx, task):
        raise permission_denied()


def can_view_job(ctx: Ctx, job: Job) -> None:
    if not visible_job(ctx, job):
        raise permission_denied()
