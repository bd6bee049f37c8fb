"""``/api/users`` and ``/api/auth/access_tokens`` (personal access tokens).

Why a module: users and their tokens are read by every client at start-up (``users/self``),
and token management has its own rules (values shown once, read-only tokens, no token creation
while authenticated by a token, ``/self`` only with ``Bearer``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .auth import require_user, unauthorized
from .context import Ctx, basic_user
from .errors import bad_request, no_match, permission_denied
from .pagination import ListSpec, apply_filters, paginate
from .state import AccessToken, User, iso
from .wire import Response, empty, json_response


def user_json(ctx: Ctx, user: User) -> dict[str, Any]:
    """CVAT's ``UserSerializer``."""
    return {
        "url": ctx.url(f"/api/users/{user.id}"),
        "id": user.id,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "groups": list(user.groups),
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "is_active": user.is_active,
        "last_login": iso(user.last_login),
        "date_joined": iso(user.date_joined),
        "has_analytics_access": user.is_superuser,
    }


def _visible_user_json(ctx: Ctx, user: User) -> dict[str, Any]:
    if ctx.is_admin or (ctx.user is not None and ctx.user.id == user.id):
        return user_json(ctx, user)
    return basic_user(ctx, user.id) or {}


USER_SPEC = ListSpec(
    fields={
        "id": lambda u: u.id,
        "username": lambda u: u.username,
        "first_name": lambda u: u.first_name,
        "last_name": lambda u: u.last_name,
        "is_active": lambda u: u.is_active,
    },
    search=("username", "first_name", "last_name"),
    simple=("username", "first_name", "last_name", "is_active"),
)


def list_users(ctx: Ctx) -> Response:
    from .access import visible_user

    users = [u for u in ctx.state.users.values() if visible_user(ctx, u)]
    items = apply_filters(ctx, users, USER_SPEC)
    return paginate(ctx, items, lambda u: _visible_user_json(ctx, u))


def users_self(ctx: Ctx) -> Response:
    return json_response(user_json(ctx, require_user(ctx)))


def _get_user(ctx: Ctx) -> User:
    uid = ctx.int_param("id", "User")
    user = ctx.state.users.get(uid)
    if user is None:
        raise no_match("User")
    return user


def get_user(ctx: Ctx) -> Response:
    return json_response(_visible_user_json(ctx, _get_user(ctx)))


def patch_user(ctx: Ctx) -> Response:
    user = _get_user(ctx)
    if not (ctx.is_admin or ctx.uid == user.id):
        raise permission_denied()
    body = ctx.json_body()
    for key in ("first_name", "last_name", "email"):
        if key in body:
            setattr(user, key, str(body[key]))
    if ctx.is_admin:
        for key in ("is_active", "is_staff", "is_superuser"):
            if key in body:
                setattr(user, key, bool(body[key]))
        if "groups" in body and isinstance(body["groups"], list):
            user.groups = [str(g) for g in body["groups"]]
    return json_response(_visible_user_json(ctx, user))


def delete_user(ctx: Ctx) -> Response:
    user = _get_user(ctx)
    if not ctx.is_admin:
        raise permission_denied()
    ctx.state.users.pop(user.id, None)
    return empty(204)


# -- personal access tokens ---------------------------------------------------------------------

def token_json(ctx: Ctx, token: AccessToken, *, with_value: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": token.id,
        "name": token.name,
        "created_date": iso(token.created),
        "updated_date": iso(token.updated),
        "expiry_date": token.expiry_raw if isinstance(token.expiry_raw, str) else iso(token.expiry),
        "last_used_date": iso(token.last_used),
        "read_only": token.read_only,
        "owner": basic_user(ctx, token.owner_id),
    }
    if with_value:
        out["value"] = token.value
    return out


def _parse_expiry(raw: Any) -> datetime | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise bad_request({"expiry_date": ["Datetime has wrong format."]})
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request({"expiry_date": [
            "Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."]}) from None


TOKEN_SPEC = ListSpec(
    fields={
        "id": lambda t: t.id,
        "name": lambda t: t.name,
        "read_only": lambda t: t.read_only,
        "created_date": lambda t: t.created,
        "expiry_date": lambda t: t.expiry,
        "last_used_date": lambda t: t.last_used,
    },
    search=("name",),
    simple=("name", "read_only"),
)


def list_tokens(ctx: Ctx) -> Response:
    mine = [t for t in ctx.state.tokens.values() if t.owner_id == ctx.uid]
    return paginate(ctx, apply_filters(ctx, mine, TOKEN_SPEC), lambda t: token_json(ctx, t))


def create_token(ctx: Ctx) -> Response:
    if ctx.auth == "bearer":
        raise permission_denied()
    body = ctx.json_body()
    name = body.get("name")
    if not name:
        raise bad_request({"name": ["This field is required."]})
    read_only = body.get("read_only", True)
    state = ctx.state
    now = state.now()
    token = AccessToken(
        id=state.next_id("access_token"), name=str(name),
        value=state.random_hex(48), owner_id=ctx.uid, read_only=bool(read_only),
        created=now, updated=now, expiry_raw=body.get("expiry_date"),
        expiry=_parse_expiry(body.get("expiry_date")),
    )
    state.tokens[token.id] = token
    return json_response(token_json(ctx, token, with_value=True), 201)


def _get_token(ctx: Ctx) -> AccessToken:
    tid = ctx.int_param("id", "AccessToken")
    token = ctx.state.tokens.get(tid)
    if token is None or (token.owner_id != ctx.uid and not ctx.is_admin):
        raise no_match("AccessToken")
    return token


def get_token(ctx: Ctx) -> Response:
    return json_response(token_json(ctx, _get_token(ctx)))


def patch_token(ctx: Ctx) -> Response:
    token = _get_token(ctx)
    body = ctx.json_body()
    if "name" in body:
        token.name = str(body["name"])
    if "read_only" in body:
        token.read_only = bool(body["read_only"])
    if "expiry_date" in body:
        token.expiry_raw = body["expiry_date"]
        token.expiry = _parse_expiry(body["expiry_date"])
    token.updated = ctx.state.now()
    return json_response(token_json(ctx, token))


def delete_token(ctx: Ctx) -> Response:
    token = _get_token(ctx)
    ctx.state.tokens.pop(token.id, None)
    return empty(204)


def token_self(ctx: Ctx) -> Response:
    """``/api/auth/access_tokens/self`` authenticates with access tokens only (see routes)."""
    if ctx.token is None:
        raise unauthorized("Authentication credentials were not provided.", "Bearer")
    return json_response(token_json(ctx, ctx.token))
