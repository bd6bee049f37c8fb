"""What a handler gets: the request, the store, who is asking and in which organization.

Why a module: handlers live in many small modules; they share this one context type (and a few
helpers every serializer needs, such as absolute URLs built from the ``Host`` header like
Django's ``build_absolute_uri``) without importing the HTTP server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, bad_request
from .state import AccessToken, Organization, Session, State, User
from .wire import Request


@dataclass
class OrgScope:
    """The organization context of a request.

    ``kind`` is ``"none"`` (no header, no query: a superuser sees everything), ``"sandbox"``
    (an empty ``X-Organization`` or ``?org=``: personal resources only) or ``"org"``.
    """

    kind: str = "none"
    org: Organization | None = None

    @property
    def org_id(self) -> int | None:
        return self.org.id if self.org is not None else None

    def matches(self, org_id: int | None) -> bool:
        if self.kind == "none":
            return True
        if self.kind == "sandbox":
            return org_id is None
        return org_id == self.org_id


@dataclass
class Ctx:
    req: Request
    state: State
    base: str
    params: dict[str, str] = field(default_factory=dict)
    user: User | None = None
    auth: str | None = None  # "token" | "bearer" | "basic" | "session"
    token: AccessToken | None = None
    session: Session | None = None
    scope: OrgScope = field(default_factory=OrgScope)
    extra_headers: list[tuple[str, str]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def uid(self) -> int:
        assert self.user is not None
        return self.user.id

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.is_superuser

    def int_param(self, name: str, model: str) -> int:
        """A numeric URL id; DRF answers ``Not found.`` for ids that are not integers."""
        from .errors import no_match, not_found

        raw = self.params.get(name, "")
        try:
            value = int(raw)
        except ValueError:
            raise not_found() from None
        if value < 0:
            raise no_match(model)
        return value

    def json_body(self) -> dict[str, Any]:
        """The body as a JSON object (or the fields of a multipart body)."""
        from .wire import FormData

        data = self.req.data()
        if isinstance(data, FormData):
            return {key: value for key, value in data.fields}
        if not isinstance(data, dict):
            raise bad_request({"non_field_errors": [
                f"Invalid data. Expected a dictionary, but got {type(data).__name__}."]})
        return data


def basic_user(ctx: Ctx, user_id: int | None) -> dict[str, Any] | None:
    """CVAT's ``BasicUserSerializer``."""
    if user_id is None:
        return None
    user = ctx.state.users.get(user_id)
    if user is None:
        return None
    return {
        "url": ctx.url(f"/api/users/{user.id}"),
        "id": user.id,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
    }


def require(condition: bool, error: ApiError) -> None:
    if not condition:
        raise error
