"""Who may do what: CVAT 2.73's own IAM rules, the OPA policies of ``cvat/apps/*/rules``.

Why a module: a user's CI against the emulator must meet the 403 (and the shorter lists) a real
server would give. Each rule below is a transcription of a rego ``allow`` or ``filter`` block
(``cvat/apps/engine/rules/{tasks,jobs,projects,labels,users}.rego``,
``cvat/apps/iam/rules/utils.rego``, ``cvat/apps/organizations/rules/organizations.rego``):

* privileges (Django groups): ``admin`` > ``user`` > ``worker``; superusers are admins;
* the context: the sandbox (no organization) or an organization, where the user's membership
  role is ``owner`` > ``maintainer`` > ``supervisor`` > ``worker`` (or none);
* per object: task owner/assignee, project owner/assignee, job assignee ("staff").

Lists are filtered the way the policies' ``filter`` Q objects say; an object outside the list
can still be named by id, and then the per-scope ``allow`` decides (403 when it says no).
``check(ctx, route, method)`` runs in the request pipeline after throttling, before the view,
like CVAT's ``PolicyEnforcer``; it maps each endpoint to its scope(s) as CVAT's permission
classes do (a PATCH touching several fields needs every field's scope).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .context import Ctx
from .errors import permission_denied
from .state import Job, Label, Project, Task, User

PRIVILEGE = {"admin": 0, "user": 75, "worker": 100}
ORG_ROLE = {"owner": 0, "maintainer": 50, "supervisor": 75, "worker": 100}
NOBODY = 1000


@dataclass(frozen=True)
class Auth:
    """``input.auth`` of a policy query."""

    user_id: int
    privilege: str | None
    org_id: int | None = None  # None: the sandbox
    org_owner_id: int | None = None
    role: str | None = None  # membership role in the organization of the context

    @property
    def is_admin(self) -> bool:
        return self.privilege == "admin"

    @property
    def is_sandbox(self) -> bool:
        return self.org_id is None

    def has_perm(self, group: str) -> bool:  # utils.has_perm
        return PRIVILEGE.get(self.privilege or "", NOBODY) <= PRIVILEGE[group]

    def org_has_perm(self, role: str) -> bool:  # organizations.has_perm
        return self.role is not None and ORG_ROLE.get(self.role, NOBODY) <= ORG_ROLE[role]

    @property
    def is_member(self) -> bool:
        return self.role is not None

    @property
    def org_is_staff(self) -> bool:  # organizations.is_staff: owner or maintainer
        return (self.role == "owner" and self.org_owner_id == self.user_id) or (
            self.role == "maintainer")

    def in_org(self, org_id: int | None) -> bool:
        """``input.auth.organization.id == input.resource.organization.id``."""
        return self.org_id is not None and self.org_id == org_id


def privilege_of(user: User) -> str | None:
    """The highest of the user's IAM groups (``IAM_ROLES``); superusers are admins."""
    if user.is_superuser:
        return "admin"
    groups = [g for g in user.groups if g in PRIVILEGE]
    return min(groups, key=PRIVILEGE.__getitem__) if groups else None


def auth_of(ctx: Ctx) -> Auth:
    user = ctx.user
    assert user is not None
    org = ctx.scope.org if ctx.scope.kind == "org" else None
    role = None
    if org is not None:
        role = next((m.role for m in ctx.state.memberships.values()
                     if m.org_id == org.id and m.user_id == user.id), None)
    return Auth(user.id, privilege_of(user), org.id if org else None,
                org.owner_id if org else None, role)


# -- resources ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Staff:
    """The people a policy looks at for one object."""

    org_id: int | None
    owner: int | None = None
    assignee: int | None = None
    task_owner: int | None = None
    task_assignee: int | None = None
    project_owner: int | None = None
    project_assignee: int | None = None
    job_assignee: int | None = None

    def project_staff(self, uid: int) -> bool:
        return uid in (self.project_owner, self.project_assignee)

    def task_staff(self, uid: int) -> bool:
        return self.project_staff(uid) or uid in (self.task_owner, self.task_assignee)

    def job_staff(self, uid: int) -> bool:
        return self.task_staff(uid) or uid == self.job_assignee


def _project_of(ctx: Ctx, project_id: int | None) -> Project | None:
    return ctx.state.projects.get(project_id) if project_id is not None else None


def task_staff(ctx: Ctx, task: Task) -> Staff:
    project = _project_of(ctx, task.project_id)
    return Staff(task.org_id, owner=task.owner_id, assignee=task.assignee_id,
                 task_owner=task.owner_id, task_assignee=task.assignee_id,
                 project_owner=project.owner_id if project else None,
                 project_assignee=project.assignee_id if project else None)


def job_staff(ctx: Ctx, job: Job) -> Staff | None:
    task = ctx.state.tasks.get(job.task_id)
    if task is None:
        return None
    base = task_staff(ctx, task)
    return Staff(task.org_id, assignee=job.assignee_id, task_owner=base.task_owner,
                 task_assignee=base.task_assignee, project_owner=base.project_owner,
                 project_assignee=base.project_assignee, job_assignee=job.assignee_id)


def project_staff(project: Project) -> Staff:
    return Staff(project.org_id, owner=project.owner_id, assignee=project.assignee_id,
                 project_owner=project.owner_id, project_assignee=project.assignee_id)


# -- tasks.rego ---------------------------------------------------------------------------------

TASK_VIEW = {"view", "view:annotations", "export:dataset", "view:metadata", "view:data",
             "export:annotations", "export:backup", "view:validation_layout"}
TASK_EDIT = {"update:desc", "update:annotations", "delete:annotations", "upload:data",
             "update:metadata", "import:annotations", "update:validation_layout"}
TASK_OWNERSHIP = {"update:owner", "update:assignee", "update:project", "delete",
                  "update:organization"}


def allow_task(a: Auth, scope: str, s: Staff) -> bool:
    uid = a.user_id
    if a.is_admin:
        return True
    if scope in ("create", "import:backup"):
        return a.has_perm("user") and (a.is_sandbox or (a.in_org(s.org_id)
                                                         and a.org_has_perm("supervisor")))
    if scope == "create@project":
        if a.is_sandbox:
            return a.has_perm("user") and s.project_staff(uid)
        return a.in_org(s.org_id) and a.has_perm("user") and (
            a.org_has_perm("supervisor") or (a.org_has_perm("worker") and s.project_staff(uid)))
    if scope == "list":
        return a.is_sandbox or a.is_member
    if scope in TASK_VIEW:
        if a.is_sandbox:
            return s.task_staff(uid)
        return a.in_org(s.org_id) and (
            (a.has_perm("user") and a.org_has_perm("maintainer"))
            or (a.org_has_perm("worker") and s.task_staff(uid)))
    if scope in TASK_EDIT:
        if a.is_sandbox:
            return s.task_staff(uid) and a.has_perm("worker")
        return a.in_org(s.org_id) and (
            (a.has_perm("user") and a.org_has_perm("maintainer"))
            or (s.task_staff(uid) and a.has_perm("worker") and a.org_has_perm("worker")))
    if scope in TASK_OWNERSHIP or scope == "update:associated_storage":
        if a.is_sandbox:
            return a.has_perm("worker") and (
                uid == s.task_owner
                or (scope != "update:associated_storage" and s.project_staff(uid))
                or (scope == "update:associated_storage" and uid == s.project_owner))
        return a.in_org(s.org_id) and (
            (a.has_perm("user") and a.org_has_perm("maintainer"))
            or (a.has_perm("worker") and a.org_has_perm("worker") and (
                uid == s.task_owner
                or (scope != "update:associated_storage" and s.project_staff(uid))
                or (scope == "update:associated_storage" and uid == s.project_owner))))
    return False


def task_listed(a: Auth, s: Staff) -> bool:
    """tasks.rego ``filter`` (the organization filter backend narrows by context too)."""
    uid = a.user_id
    mine = uid in (s.task_owner, s.task_assignee, s.project_owner, s.project_assignee)
    if a.is_admin:
        return a.is_sandbox or s.org_id == a.org_id
    if a.is_sandbox:
        return mine
    if a.has_perm("user") and a.org_has_perm("maintainer"):
        return s.org_id == a.org_id
    if a.org_has_perm("worker"):
        return mine and s.org_id == a.org_id
    return False


# -- jobs.rego ----------------------------------------------------------------------------------

JOB_VIEW = {"view", "export:dataset", "export:annotations", "view:annotations", "view:data",
            "view:metadata"}
JOB_EDIT = {"update:state", "update:annotations", "delete:annotations", "import:annotations",
            "update:metadata"}


def allow_job(a: Auth, scope: str, s: Staff) -> bool:
    uid = a.user_id
    if a.is_admin:
        return True
    if scope == "list":
        return a.is_sandbox or a.is_member
    if scope in ("create", "delete"):
        if a.is_sandbox:
            return a.has_perm("user") and s.task_staff(uid)
        return a.in_org(s.org_id) and a.has_perm("user") and (
            (a.org_has_perm("supervisor") and s.task_staff(uid)) or a.org_has_perm("maintainer"))
    if scope in JOB_VIEW:
        if a.is_sandbox:
            return s.job_staff(uid)
        return a.in_org(s.org_id) and (
            (a.has_perm("user") and a.org_has_perm("maintainer"))
            or (a.org_has_perm("worker") and s.job_staff(uid))
            or _lone_worker(a, s))
    if scope in JOB_EDIT:
        if a.is_sandbox:
            return a.has_perm("worker") and s.job_staff(uid)
        return a.in_org(s.org_id) and (
            (a.has_perm("user") and a.org_has_perm("maintainer"))
            or (a.has_perm("worker") and a.org_has_perm("worker") and s.job_staff(uid))
            or _lone_worker(a, s))
    if scope in ("update:stage", "update:assignee"):
        if a.is_sandbox:
            return a.has_perm("worker") and s.task_staff(uid)
        return a.in_org(s.org_id) and (
            (a.has_perm("user") and a.org_has_perm("maintainer"))
            or (a.has_perm("worker") and a.org_has_perm("worker") and s.task_staff(uid)))
    return False


def _lone_worker(a: Auth, s: Staff) -> bool:
    """A worker assigned to the job, not a member of its organization, may still work on it."""
    return a.privilege == "worker" and a.role is None and a.user_id == s.job_assignee


def job_listed(a: Auth, s: Staff) -> bool:
    uid = a.user_id
    mine = s.job_staff(uid)
    if a.is_admin:
        return a.is_sandbox or s.org_id == a.org_id
    if a.is_sandbox:
        return mine
    if a.has_perm("user") and a.org_has_perm("maintainer"):
        return s.org_id == a.org_id
    if a.org_has_perm("worker"):
        return mine and s.org_id == a.org_id
    return False


# -- projects.rego ------------------------------------------------------------------------------

def allow_project(a: Auth, scope: str, s: Staff) -> bool:
    uid = a.user_id
    staff = uid in (s.owner, s.assignee)
    owner = uid == s.owner
    if a.is_admin:
        return True
    if scope in ("create", "import:backup"):
        return a.has_perm("user") and (a.is_sandbox or (a.in_org(s.org_id)
                                                         and a.org_has_perm("supervisor")))
    if scope == "list":
        return a.is_sandbox or a.is_member
    here = a.in_org(s.org_id)
    if scope == "view":
        if a.is_sandbox:
            return staff
        return here and ((a.has_perm("user") and a.org_has_perm("maintainer"))
                         or (a.org_has_perm("worker") and staff))
    if scope in ("delete", "update:organization", "update:associated_storage"):
        if a.is_sandbox:
            return a.has_perm("worker") and owner
        return here and ((a.has_perm("worker") and a.is_member and owner)
                         or (a.has_perm("user") and a.org_is_staff))
    if scope in ("update:desc", "import:dataset"):
        if a.is_sandbox:
            return staff and a.has_perm("worker")
        return here and ((a.has_perm("user") and a.org_is_staff)
                         or (staff and a.has_perm("worker") and a.is_member))
    if scope == "update:assignee":
        if a.is_sandbox:
            return owner and a.has_perm("worker")
        return here and ((owner and a.has_perm("worker") and a.is_member)
                         or (a.has_perm("user") and a.org_is_staff))
    if scope == "update:owner":
        return here and ((owner and a.has_perm("worker") and a.org_is_staff)
                         or (a.has_perm("user") and a.org_is_staff))
    if scope in ("export:annotations", "export:dataset", "export:backup"):
        if a.is_sandbox:
            return staff
        return here and ((a.is_member and staff)
                         or (a.has_perm("user") and a.org_has_perm("maintainer")))
    return False


def project_listed(a: Auth, s: Staff) -> bool:
    mine = a.user_id in (s.owner, s.assignee)
    if a.is_admin:
        return a.is_sandbox or s.org_id == a.org_id
    if a.is_sandbox:
        return mine
    if a.has_perm("user") and a.org_has_perm("maintainer"):
        return s.org_id == a.org_id
    if a.org_has_perm("worker"):
        return mine and s.org_id == a.org_id
    return False


# -- labels.rego and users.rego -----------------------------------------------------------------

def label_staff(ctx: Ctx, label: Label) -> tuple[str, Staff] | None:
    """A label is judged by its task or project (view -> view, change -> update:desc)."""
    state = ctx.state
    if label.parent_id is not None:
        parent = state.labels.get(label.parent_id)
        return label_staff(ctx, parent) if parent is not None else None
    if label.task_id is not None and (task := state.tasks.get(label.task_id)) is not None:
        return "task", task_staff(ctx, task)
    if label.project_id is not None and (project := state.projects.get(label.project_id)):
        return "project", project_staff(project)
    return None


def label_listed(a: Auth, s: Staff) -> bool:
    mine = a.user_id in (s.task_owner, s.task_assignee, s.project_owner, s.project_assignee)
    if a.is_admin:
        return a.is_sandbox or s.org_id == a.org_id
    if a.is_sandbox:
        return mine
    if a.has_perm("user") and a.org_has_perm("maintainer"):
        return s.org_id == a.org_id
    if a.org_has_perm("worker"):
        return mine
    return False


def user_listed(ctx: Ctx, a: Auth, user: User) -> bool:
    """users.rego ``filter``: outside an organization a user sees only themselves."""
    if a.is_admin and a.is_sandbox:
        return True
    if a.is_sandbox:
        return user.id == a.user_id
    return any(m.org_id == a.org_id and m.user_id == user.id
               for m in ctx.state.memberships.values())


def allow_user(ctx: Ctx, a: Auth, scope: str, user: User) -> bool:
    if a.is_admin:
        return True
    if scope == "list":
        return a.is_sandbox or a.is_member
    if scope == "view":
        return user.id == a.user_id or (not a.is_sandbox and any(
            m.org_id == a.org_id and m.user_id == user.id for m in ctx.state.memberships.values()))
    if scope in ("update", "delete"):
        return user.id == a.user_id
    return False


# -- the visibility helpers handlers use ----------------------------------------------------------

def visible_project(ctx: Ctx, project: Project) -> bool:
    return ctx.user is not None and project_listed(auth_of(ctx), project_staff(project))


def visible_task(ctx: Ctx, task: Task) -> bool:
    return ctx.user is not None and task_listed(auth_of(ctx), task_staff(ctx, task))


def visible_job(ctx: Ctx, job: Job) -> bool:
    if ctx.user is None:
        return False
    staff = job_staff(ctx, job)
    return staff is not None and job_listed(auth_of(ctx), staff)


def visible_label(ctx: Ctx, label: Label) -> bool:
    if ctx.user is None:
        return False
    found = label_staff(ctx, label)
    return found is not None and label_listed(auth_of(ctx), found[1])


def visible_user(ctx: Ctx, user: User) -> bool:
    return ctx.user is not None and user_listed(ctx, auth_of(ctx), user)


def can_view_project(ctx: Ctx, project: Project) -> None:
    _require(allow_project(auth_of(ctx), "view", project_staff(project)))


def can_view_task(ctx: Ctx, task: Task) -> None:
    _require(allow_task(auth_of(ctx), "view", task_staff(ctx, task)))


def can_view_job(ctx: Ctx, job: Job) -> None:
    staff = job_staff(ctx, job)
    _require(staff is not None and allow_job(auth_of(ctx), "view", staff))


def _require(allowed: bool) -> None:
    if not allowed:
        raise permission_denied()


# -- endpoints -> scopes (CVAT's permission classes: get_scopes) ---------------------------------

TASK_FIELDS = {"owner_id": "update:owner", "assignee_id": "update:assignee",
               "project_id": "update:project", "organization": "update:organization",
               "source_storage": "update:associated_storage",
               "target_storage": "update:associated_storage"}
PROJECT_FIELDS = {"owner_id": "update:owner", "assignee_id": "update:assignee",
                  "organization": "update:organization",
                  "source_storage": "update:associated_storage",
                  "target_storage": "update:associated_storage"}
JOB_FIELDS = {"assignee": "update:assignee", "assignee_id": "update:assignee",
              "stage": "update:stage", "state": "update:state"}


def _patch_scopes(ctx: Ctx, fields: dict[str, str], default: str | None) -> set[str]:
    try:
        body = ctx.json_body()
    except Exception:  # the view reports bad bodies itself
        return set()
    scopes = {fields[k] for k in body if k in fields}
    if default is not None and any(k not in fields for k in body):
        scopes.add(default)
    return scopes


def _annotation_scope(ctx: Ctx, method: str) -> str | None:
    if method in ("GET", "HEAD"):
        return "view:annotations"
    if method == "DELETE":
        return "delete:annotations"
    if method == "POST" or ctx.req.has_q("format"):
        return "import:annotations"
    if method in ("PUT", "PATCH"):
        return "update:annotations"
    return None


def _object_scopes(ctx: Ctx, method: str, fields: dict[str, str],
                   default: str | None) -> set[str]:
    """The object itself (``/api/<kind>s/<id>``): view, delete, or its fields' update scopes."""
    if method in ("GET", "HEAD"):
        return {"view"}
    if method == "DELETE":
        return {"delete"}
    if method == "PATCH":
        return _patch_scopes(ctx, fields, default)
    return set()


def _annotations_scopes(ctx: Ctx, rest: str, method: str) -> set[str]:
    if "/" in rest and method in ("HEAD", "PATCH"):  # a TUS chunk of an import
        return {"import:annotations"}
    scope = _annotation_scope(ctx, method)
    return {scope} if scope else set()


def _export_scope(ctx: Ctx) -> set[str]:
    save_images = (ctx.req.q("save_images") or "").lower() in ("true", "1")
    return {"export:dataset" if save_images else "export:annotations"}


def _task_scopes(ctx: Ctx, rest: str, method: str) -> set[str]:
    if rest == "":
        return _object_scopes(ctx, method, TASK_FIELDS, "update:desc")
    if rest.startswith("annotations"):
        return _annotations_scopes(ctx, rest, method)
    if rest.startswith("data/meta"):
        return {"view:metadata"} if method in ("GET", "HEAD") else {"update:metadata"}
    if rest.startswith("data"):
        return {"view:data"} if method == "GET" else {"upload:data"}
    if rest.startswith("dataset/export"):
        return _export_scope(ctx)
    if rest.startswith(("preview", "status")):
        return {"view"}
    return set()


def _job_scopes(ctx: Ctx, rest: str, method: str) -> set[str]:
    if rest == "":
        return _object_scopes(ctx, method, JOB_FIELDS, None)
    if rest.startswith("annotations"):
        return _annotations_scopes(ctx, rest, method)
    if rest.startswith("data/meta"):
        return {"view:metadata"} if method in ("GET", "HEAD") else {"update:metadata"}
    if rest.startswith("data"):
        return {"view:data"}
    if rest.startswith("dataset/export"):
        return _export_scope(ctx)
    if rest.startswith("preview"):
        return {"view"}
    return set()


def _project_scopes(ctx: Ctx, rest: str, method: str) -> set[str]:
    if rest == "":
        return _object_scopes(ctx, method, PROJECT_FIELDS, "update:desc")
    if rest.startswith("dataset/export"):
        return _export_scope(ctx)
    if rest.startswith("dataset") and method == "POST":
        return {"import:dataset"}
    return set()


def check(ctx: Ctx, path: str, method: str) -> None:
    """Refuse (403) what CVAT's policies refuse for this endpoint; objects that do not exist
    are left to the view (404)."""
    if ctx.user is None or method == "OPTIONS":
        return
    a = auth_of(ctx)
    if a.is_admin:
        return
    parts = path.strip("/").split("/")  # api, kind, id, rest...
    if len(parts) < 2 or parts[0] != "api":
        return
    kind = parts[1]
    ident = parts[2] if len(parts) > 2 else None
    rest = "/".join(parts[3:])
    state = ctx.state
    if ident is None or not ident.isdigit():
        _check_collection(ctx, a, kind, ident, method)
        return
    oid = int(ident)
    rules: list[tuple[Callable[[Auth, str, Staff], bool], Staff | None, Iterable[str]]] = []
    if kind == "tasks" and (task := state.tasks.get(oid)) is not None:
        rules.append((allow_task, task_staff(ctx, task), _task_scopes(ctx, rest, method)))
    elif kind == "jobs" and (job := state.jobs.get(oid)) is not None:
        rules.append((allow_job, job_staff(ctx, job), _job_scopes(ctx, rest, method)))
    elif kind == "projects" and (project := state.projects.get(oid)) is not None:
        rules.append((allow_project, project_staff(project),
                      _project_scopes(ctx, rest, method)))
    elif kind == "labels" and (label := state.labels.get(oid)) is not None:
        found = label_staff(ctx, label)
        if found is not None:
            judge: Callable[[Auth, str, Staff], bool] = (
                allow_task if found[0] == "task" else allow_project)
            rules.append((judge, found[1], ["view" if method in ("GET", "HEAD")
                                            else "update:desc"]))
    elif kind == "users" and (user := state.users.get(oid)) is not None:
        wanted = {"GET": "view", "HEAD": "view", "PATCH": "update", "DELETE": "delete"}.get(method)
        if wanted is not None:
            _require(allow_user(ctx, a, wanted, user))
        return
    for rule, staff, scopes in rules:
        for scope in scopes:
            _require(staff is not None and rule(a, scope, staff))


def _check_collection(ctx: Ctx, a: Auth, kind: str, ident: str | None, method: str) -> None:
    org_id = a.org_id
    if kind == "tasks" and ident is None:
        if method == "GET":
            _require(allow_task(a, "list", Staff(org_id)))
        elif method == "POST":
            _check_task_create(ctx, a)
    elif kind == "projects" and ident is None:
        if method == "GET":
            _require(allow_project(a, "list", Staff(org_id)))
        elif method == "POST":
            _require(allow_project(a, "create", Staff(org_id)))
    elif kind == "jobs" and ident is None:
        if method == "GET":
            _require(allow_job(a, "list", Staff(org_id)))
    elif kind in ("users", "labels") and ident is None and method == "GET":
        _require(a.is_sandbox or a.is_member)


def _check_task_create(ctx: Ctx, a: Auth) -> None:
    try:
        body: Any = ctx.json_body()
    except Exception:
        return
    project_id = body.get("project_id") if isinstance(body, dict) else None
    project = ctx.state.projects.get(project_id) if isinstance(project_id, int) else None
    if project is not None:
        staff = project_staff(project)
        _require(allow_task(a, "create@project", Staff(
            project.org_id, project_owner=staff.project_owner,
            project_assignee=staff.project_assignee)))
    else:
        _require(allow_task(a, "create", Staff(a.org_id)))
