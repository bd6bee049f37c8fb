"""Who is calling: legacy ``Token`` keys, ``Bearer`` personal access tokens, HTTP Basic and
session cookies with CSRF, plus ``/api/auth/login`` and ``/api/auth/logout``.

Why a module: CVAT layers several DRF authentication classes with distinct failure answers
(``Invalid token.``, ``Invalid username/password.``, ``CSRF Failed: ...``, 401 with
``www-authenticate: Token``). Everything here mirrors ``recordings2/01_auth.json``.
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

from .context import Ctx
from .errors import ApiError, bad_request, detail, permission_denied
from .state import AccessToken, Session, User
from .wire import Response, json_response

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

CSRF_AGE = 31449600
SESSION_AGE = 1209600
FRESH_AGE = 86400


def unauthorized(message: str, scheme: str = "Token") -> ApiError:
    return detail(401, message, headers={"www-authenticate": scheme})


def _expires(ctx: Ctx, seconds: int) -> str:
    when = ctx.state.now() + timedelta(seconds=seconds)
    return format_datetime(when, usegmt=True)


def _delete_cookie(name: str) -> str:
    return (f'{name}=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; '
            "SameSite=Lax")


def check_password(user: User, password: str) -> bool:
    return user.is_active and user.password == password


def _token_valid(ctx: Ctx, token: AccessToken) -> bool:
    return token.expiry is None or token.expiry > ctx.state.now()


def authenticate(ctx: Ctx, *, bearer_only: bool = False) -> None:
    """Fill ``ctx.user`` from the request credentials (or leave it ``None``).

    Raises 401 for credentials that are present but wrong, and 403 for a session request
    with an unsafe method and no (or a wrong) CSRF token, like DRF's SessionAuthentication.
    """
    state = ctx.state
    header = ctx.req.headers.get("Authorization") or ""
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    credentials = credentials.strip()
    www = "Bearer" if bearer_only else "Token"

    if scheme == "bearer" and credentials:
        for token in state.tokens.values():
            if token.value == credentials and _token_valid(ctx, token):
                user = state.users.get(token.owner_id)
                if user is None or not user.is_active:
                    break
                token.last_used = state.now()
                ctx.user, ctx.auth, ctx.token = user, "bearer", token
                return
        raise unauthorized("Invalid token.", www)
    if bearer_only:
        return
    if scheme == "token" and credentials:
        for user in state.users.values():
            if user.legacy_key and user.legacy_key == credentials and user.is_active:
                ctx.user, ctx.auth = user, "token"
                return
        raise unauthorized("Invalid token.")
    cookies = ctx.req.cookies
    session_key = cookies.get("sessionid")
    if session_key:
        session = state.sessions.get(session_key)
        if session is not None and session.user_id in state.users:
            user = state.users[session.user_id]
            if ctx.req.method not in SAFE_METHODS:
                _enforce_csrf(ctx, session)
            ctx.user, ctx.auth, ctx.session = user, "session", session
            return
        # Django drops an unknown session: the answer deletes the stale cookies.
        ctx.extra_headers.append(("set-cookie", _delete_cookie("sessionfresh")))
        ctx.extra_headers.append(("set-cookie", _delete_cookie("sessionid")))
    if scheme == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise unauthorized("Invalid basic header. Credentials not correctly base64 encoded.") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise unauthorized("Invalid basic header. Credentials string should not contain spaces.")
        user = state.user_by_name(username)
        if user is None or not check_password(user, password):
            raise unauthorized("Invalid username/password.")
        ctx.user, ctx.auth = user, "basic"


def _enforce_csrf(ctx: Ctx, session: Session) -> None:
    cookie = ctx.req.cookies.get("csrftoken")
    if not cookie:
        raise detail(403, "CSRF Failed: CSRF cookie not set.")
    origin = ctx.req.headers.get("Origin")
    if origin and origin != ctx.base:
        raise detail(403, f"CSRF Failed: Origin checking failed - {origin} does not match any "
                          "trusted origins.")
    header = ctx.req.headers.get("X-CSRFToken")
    if not header:
        raise detail(403, "CSRF Failed: CSRF token missing.")
    if header != cookie:
        raise detail(403, "CSRF Failed: CSRF token from the 'X-Csrftoken' HTTP header incorrect.")


def require_user(ctx: Ctx) -> User:
    if ctx.user is None:
        raise unauthorized("Authentication credentials were not provided.")
    return ctx.user


def check_write_allowed(ctx: Ctx) -> None:
    """Read-only personal access tokens may only use safe methods."""
    if ctx.req.method not in SAFE_METHODS and ctx.token is not None and ctx.token.read_only:
        raise permission_denied()


# -- /api/auth/login, /api/auth/logout ----------------------------------------------------------

def login(ctx: Ctx) -> Response:
    body = ctx.json_body()
    state = ctx.state
    username = body.get("username") or ""
    email = body.get("email") or ""
    password = body.get("password")
    if password is None:
        raise bad_request({"password": ["This field is required."]})
    if not username and not email:
        raise bad_request(['Must include either "username" or "email" and "password".'])
    user: User | None = None
    if username:
        user = state.user_by_name(str(username))
    else:
        for candidate in state.users.values():
            if candidate.email.lower() == str(email).lower():
                user = candidate
                break
    if user is None or not check_password(user, str(password)):
        raise bad_request({"non_field_errors": ["Unable to log in with provided credentials."]})
    user.last_login = state.now()
    if not user.legacy_key:
        user.legacy_key = state.random_hex(40)
    session = Session(key=state.random_hex(32), user_id=user.id, csrf=state.random_hex(32))
    state.sessions[session.key] = session
    resp = json_response({"key": user.legacy_key})
    resp.header("set-cookie", f"csrftoken={session.csrf}; expires={_expires(ctx, CSRF_AGE)}; "
                              f"Max-Age={CSRF_AGE}; Path=/; SameSite=Lax")
    resp.header("set-cookie", f"sessionfresh=1; expires={_expires(ctx, FRESH_AGE)}; HttpOnly; "
                              f"Max-Age={FRESH_AGE}; Path=/; SameSite=Lax")
    resp.header("set-cookie", f"sessionid={session.key}; expires={_expires(ctx, SESSION_AGE)}; "
                              f"HttpOnly; Max-Age={SESSION_AGE}; Path=/; SameSite=Lax")
    return resp


def logout(ctx: Ctx) -> Response:
    state = ctx.state
    if ctx.user is not None:
        ctx.user.legacy_key = None  # dj-rest-auth deletes the token on logout
    if ctx.session is not None:
        state.sessions.pop(ctx.session.key, None)
    resp = json_response({"detail": "Successfully logged out."})
    resp.header("set-cookie", _delete_cookie("sessionfresh"))
    resp.header("set-cookie", _delete_cookie("sessionid"))
    return resp


def logout_get(ctx: Ctx) -> Response:
    """dj-rest-auth's LogoutView lists GET but refuses it (ACCOUNT_LOGOUT_ON_GET is off)."""
    from .errors import method_not_allowed

    raise method_not_allowed("GET")


def session_payload(ctx: Ctx) -> dict[str, Any]:
    """For debugging and tests: who the request was authenticated as."""
    return {"user": ctx.user.username if ctx.user else None, "auth": ctx.auth}
