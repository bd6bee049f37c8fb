"""Organizations, memberships and the organization context of a request.

Why a module: CVAT scopes resources by organization, chosen with the ``X-Organization`` header
or the ``org``/``org_id`` query parameters; the answers for unknown slugs and for a header that
disagrees with the query are recorded in ``recordings2/02_organizations.json``.
"""

from __future__ import annotations

from typing import Any

from .context import Ctx, OrgScope, basic_user
from .errors import bad_request, detail, no_match, permission_denied
from .pagination import ListSpec, apply_filters, paginate
from .state import Membership, Organization, iso
from .wire import Response, empty, json_response


def resolve_scope(ctx: Ctx) -> OrgScope:
    """The organization context from ``X-Organization`` / ``?org=`` / ``?org_id=``."""
    state = ctx.state
    header = ctx.req.headers.get("X-Organization")
    query = ctx.req.q("org") if ctx.req.has_q("org") else None
    if header is not None and query is not None and header != query:
        raise bad_request(['You cannot specify "org" query parameter and "X-Organization" HTTP '
                           'header with different values.'])
    slug = header if header is not None else query
    if slug is not None:
        if slug == "":
            return OrgScope("sandbox")
        for candidate in state.orgs.values():
            if candidate.slug == slug:
                return OrgScope("org", candidate)
        raise detail(404, f"{slug} organization does not exist.")
    if ctx.req.has_q("org_id"):
        raw = ctx.req.q("org_id") or ""
        if raw == "":
            return OrgScope("sandbox")
        try:
            org_id = int(raw)
        except ValueError:
            raise detail(404, f"{raw} organization does not exist.") from None
        org = state.orgs.get(org_id)
        if org is None:
            raise detail(404, f"{org_id} organization does not exist.")
        return OrgScope("org", org)
    return OrgScope("none")


def is_member(ctx: Ctx, org_id: int) -> bool:
    return any(m.org_id == org_id and m.user_id == ctx.uid for m in ctx.state.memberships.values())


def org_json(ctx: Ctx, org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "slug": org.slug,
        "name": org.name,
        "description": org.description,
        "created_date": iso(org.created),
        "updated_date": iso(org.updated),
        "contact": org.contact,
        "owner": basic_user(ctx, org.owner_id),
    }


def membership_json(ctx: Ctx, m: Membership) -> dict[str, Any]:
    return {
        "id": m.id,
        "user": basic_user(ctx, m.user_id),
        "organization": m.org_id,
        "is_active": True,
        "joined_date": iso(m.joined),
        "role": m.role,
        "invitation": None,
    }


ORG_SPEC = ListSpec(
    fields={
        "id": lambda o: o.id,
        "name": lambda o: o.name,
        "slug": lambda o: o.slug,
        "description": lambda o: o.description,
        "owner": lambda o: None,
    },
    search=("name", "slug", "description"),
    simple=("name", "slug"),
)


def _visible_orgs(ctx: Ctx) -> list[Organization]:
    return [o for o in ctx.state.orgs.values() if ctx.is_admin or is_member(ctx, o.id)]


def list_orgs(ctx: Ctx) -> Response:
    return paginate(ctx, apply_filters(ctx, _visible_orgs(ctx), ORG_SPEC), lambda o: org_json(ctx, o))


def create_org(ctx: Ctx) -> Response:
    body = ctx.json_body()
    slug = body.get("slug")
    if not slug:
        raise bad_request({"slug": ["This field is required."]})
    if any(o.slug == slug for o in ctx.state.orgs.values()):
        raise bad_request({"slug": ["organization with this slug already exists."]})
    state = ctx.state
    now = state.now()
    org = Organization(id=state.next_id("organization"), slug=str(slug),
                       name=str(body.get("name") or ""), description=str(body.get("description") or ""),
                       contact=dict(body.get("contact") or {}), owner_id=ctx.uid,
                       created=now, updated=now)
    state.orgs[org.id] = org
    member = Membership(id=state.next_id("membership"), user_id=ctx.uid, org_id=org.id,
                        role="owner", joined=now)
    state.memberships[member.id] = member
    return json_response(org_json(ctx, org), 201)


def _get_org(ctx: Ctx) -> Organization:
    oid = ctx.int_param("id", "Organization")
    org = ctx.state.orgs.get(oid)
    if org is None or not (ctx.is_admin or is_member(ctx, org.id)):
        raise no_match("Organization")
    return org


def get_org(ctx: Ctx) -> Response:
    return json_response(org_json(ctx, _get_org(ctx)))


def patch_org(ctx: Ctx) -> Response:
    org = _get_org(ctx)
    if not (ctx.is_admin or org.owner_id == ctx.uid):
        raise permission_denied()
    body = ctx.json_body()
    for key in ("name", "description"):
        if key in body:
            setattr(org, key, str(body[key]))
    if "contact" in body and isinstance(body["contact"], dict):
        org.contact = dict(body["contact"])
    org.updated = ctx.state.now()
    return json_response(org_json(ctx, org))


def delete_org(ctx: Ctx) -> Response:
    from .projects import delete_project_cascade
    from .tasks import delete_task_cascade

    org = _get_org(ctx)
    if not (ctx.is_admin or org.owner_id == ctx.uid):
        raise permission_denied()
    state = ctx.state
    for task in [t for t in state.tasks.values() if t.org_id == org.id]:
        delete_task_cascade(state, task.id)
    for project in [p for p in state.projects.values() if p.org_id == org.id]:
        delete_project_cascade(state, project.id)
    for mid in [m.id for m in state.memberships.values() if m.org_id == org.id]:
        state.memberships.pop(mid, None)
    state.orgs.pop(org.id, None)
    return empty(204)


MEMBERSHIP_SPEC = ListSpec(
    fields={
        "id": lambda m: m.id,
        "role": lambda m: m.role,
        "user": lambda m: m.user_id,
        "org_id": lambda m: m.org_id,
    },
    search=("role",),
    simple=("role",),
)


def list_memberships(ctx: Ctx) -> Response:
    items = [m for m in ctx.state.memberships.values()
             if ctx.scope.kind != "org" or m.org_id == ctx.scope.org_id]
    if not ctx.is_admin:
        mine = {m.org_id for m in ctx.state.memberships.values() if m.user_id == ctx.uid}
        items = [m for m in items if m.org_id in mine]
    return paginate(ctx, apply_filters(ctx, items, MEMBERSHIP_SPEC), lambda m: membership_json(ctx, m))


def _get_membership(ctx: Ctx) -> Membership:
    mid = ctx.int_param("id", "Membership")
    m = ctx.state.memberships.get(mid)
    if m is None:
        raise no_match("Membership")
    return m


def get_membership(ctx: Ctx) -> Response:
    return json_response(membership_json(ctx, _get_membership(ctx)))


def patch_membership(ctx: Ctx) -> Response:
    m = _get_membership(ctx)
    body = ctx.json_body()
    role = body.get("role")
    if role is not None:
        if role not in ("worker", "supervisor", "maintainer", "owner"):
            raise bad_request({"role": [f'"{role}" is not a valid choice.']})
        m.role = str(role)
    return json_response(membership_json(ctx, m))


def delete_membership(ctx: Ctx) -> Response:
    m = _get_membership(ctx)
    ctx.state.memberships.pop(m.id, None)
    return empty(204)
