"""Errors raised by the CVAT client, carrying what a user needs to act on a server failure.

Why a module of its own: every failure that reaches a user must say *which* call failed
(method, path, status) and *what CVAT said* about it, in CVAT's own words. CVAT 2.x answers
errors in several shapes (seen on a real 2.73 server, ``recordings2/12_errors.json`` and
``recordings2/README.md``):

* ``{"detail": "..."}`` (401/403/404/405/406/415, JSON parse errors, "Invalid page.");
* serializer errors ``{"field": ["msg"]}``, nested per list item
  (``{"shapes": [{"points": ["invalid length ..."]}]}``);
* a bare JSON list ``["msg"]`` (view-level checks) or a bare JSON string;
* ``text/html`` pages (unknown routes, 500s) and plain text (unknown rq id, the retired 410).

:func:`describe_body` reduces all of them to one readable line; :func:`error_from_response`
picks the exception class. Credentials never appear here: only method, path, status and the
server's text are kept (the query string is left out on purpose).
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from annosync.errors import AnnosyncError

__all__ = [
    "CvatAuthError",
    "CvatBadRequest",
    "CvatConflict",
    "CvatConnectionError",
    "CvatError",
    "CvatForbidden",
    "CvatNotFound",
    "CvatProtocolError",
    "CvatRequestFailed",
    "CvatServerError",
    "CvatThrottled",
    "CvatTimeout",
    "CvatVersionError",
    "describe_body",
    "error_from_response",
    "forbidden_message",
]

_MAX_TEXT = 2000


class CvatError(AnnosyncError):
    """A CVAT call failed. Carries the HTTP status (None for network failures), the method, the
    URL path and CVAT's own error text (``detail``), plus the parsed body (``body``)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        detail: str | None = None,
        body: Any = None,
        rq_id: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.detail = detail
        self.body = body
        self.rq_id = rq_id
        super().__init__(str(self))

    def __str__(self) -> str:
        where = " ".join(p for p in (self.method, self.path) if p)
        parts = []
        if where:
            parts.append(where)
        if self.status is not None:
            parts.append(f"-> HTTP {self.status}")
        head = " ".join(parts)
        text = self.message
        if self.detail and self.detail not in text:
            text = f"{text}: {self.detail}" if text else self.detail
        return f"{head}: {text}" if head else text

    def __reduce__(self) -> tuple[Any, ...]:  # keep keyword-only state when pickled
        return (
            _rebuild,
            (type(self), self.message, self.status, self.method, self.path, self.detail,
             self.body, self.rq_id),
        )


def _rebuild(cls: type[CvatError], message: str, status: int | None, method: str | None,
             path: str | None, detail: str | None, body: Any, rq_id: str | None) -> CvatError:
    return cls(message, status=status, method=method, path=path, detail=detail, body=body,
               rq_id=rq_id)


class CvatConnectionError(CvatError):
    """The server could not be reached (refused, reset, TLS failure) even after retries."""


class CvatTimeout(CvatError):
    """A bounded wait ran out: an HTTP read/connect timeout, or an asynchronous CVAT request
    (``rq_id``) that did not finish before its deadline."""


class CvatAuthError(CvatError):
    """Authentication failed (401, wrong login, missing CSRF token, no credentials)."""


class CvatForbidden(CvatAuthError):
    """Authenticated but not allowed (403): read-only access token, missing role, CSRF."""


class CvatNotFound(CvatError):
    """The object does not exist (404), or the URL is not a CVAT endpoint."""


class CvatBadRequest(CvatError):
    """CVAT refused the request content (400/405/406/413/415/422): the detail says why."""


class CvatConflict(CvatError):
    """409: a concurrent operation (an export already running, a stale TUS offset)."""


class CvatThrottled(CvatError):
    """429: CVAT's rate limits (DRF throttles) kept refusing the request for longer than the
    client's bounded wait."""


class CvatServerError(CvatError):
    """5xx from the server (after retries, where retrying was safe)."""


class CvatProtocolError(CvatError):
    """The server answered something this client cannot interpret (e.g. no ``rq_id``)."""


class CvatRequestFailed(CvatError):
    """An asynchronous CVAT request (task data, import, export) ended as ``failed``; the
    message is the one CVAT reported for the request."""


class CvatVersionError(CvatError):
    """The server's version is not supported (CVAT major version other than 2)."""


# --------------------------------------------------------------------------------------------
# Error body parsing


_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_H1_RE = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<[^>]+>")
_WS_RE = re.compile(r"\s+")


def _clean(text: str) -> str:
    text = _WS_RE.sub(" ", text).strip()
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 3] + "..."
    return text


def _flatten(value: Any, prefix: str = "") -> list[str]:
    """Flatten DRF serializer errors into ``path: message`` strings."""
    out: list[str] = []
    if isinstance(value, dict):
        for key, sub in value.items():
            key_s = str(key)
            if key_s in ("non_field_errors", "detail") and not prefix:
                out.extend(_flatten(sub, ""))
                continue
            path = f"{prefix}.{key_s}" if prefix else key_s
            out.extend(_flatten(sub, path))
    elif isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            msgs = [str(v) for v in value if v not in (None, "")]
            if msgs:
                out.append(f"{prefix}: {' '.join(msgs)}" if prefix else " ".join(msgs))
        else:
            for i, sub in enumerate(value):
                if sub in ({}, [], None):  # DRF pads valid list items with {}
                    continue
                out.extend(_flatten(sub, f"{prefix}[{i}]"))
    elif value is not None and value != "":
        out.append(f"{prefix}: {value}" if prefix else str(value))
    return out


def describe_body(content: bytes | str | None, content_type: str | None = None) -> tuple[str, Any]:
    """Reduce an error body to (one readable line, the parsed body).

    JSON bodies (``{"detail"}``, field dicts, bare lists or strings) are flattened; HTML pages
    are reduced to their ``<title>`` (or first ``<h1>``); other text is whitespace-normalised.
    """
    if content is None:
        return "", None
    if isinstance(content, bytes):
        text = content.decode("utf-8", errors="replace")
    else:
        text = content
    stripped = text.strip()
    if not stripped:
        return "", None
    ctype = (content_type or "").lower()
    looks_json = "json" in ctype or stripped[:1] in "{[\""
    if looks_json:
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        else:
            if isinstance(parsed, dict) and set(parsed) == {"detail"}:
                return _clean(str(parsed["detail"])), parsed
            parts = _flatten(parsed)
            return _clean("; ".join(parts)), parsed
    if "html" in ctype or stripped[:1] == "<":
        m = _TITLE_RE.search(stripped) or _H1_RE.search(stripped)
        if m:
            return _clean(html.unescape(_TAG_RE.sub(" ", m.group(1)))), stripped
        return _clean(html.unescape(_TAG_RE.sub(" ", stripped))), stripped
    return _clean(stripped), stripped


_CLASS_BY_STATUS: dict[int, type[CvatError]] = {
    401: CvatAuthError,
    403: CvatForbidden,
    404: CvatNotFound,
    409: CvatConflict,
    410: CvatBadRequest,
    429: CvatThrottled,
}

_REASONS = {
    400: "bad request",
    401: "not authenticated",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    406: "not acceptable",
    409: "conflict",
    410: "gone",
    413: "request entity too large",
    415: "unsupported media type",
    429: "too many requests",
    500: "server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}


# What CVAT 2.73's IAM policies (cvat/apps/*/rules/*.rego) require, per endpoint, so that a 403
# ("You do not have permission to perform this action.") says which permission is missing.
_TASK_STAFF = ("its owner or assignee, its project's owner or assignee, a maintainer or owner "
               "of its organization, or an admin")
_JOB_STAFF = ("the job's assignee, its task's or project's owner or assignee, a maintainer or "
              "owner of its organization, or an admin")
_CREATOR = ("users with the 'user' role (not 'worker'); in an organization, its supervisors, "
            "maintainers and owner; and admins")
_NEEDS: list[tuple[str, re.Pattern[str], str, str]] = [
    (m, re.compile(p), what, who) for m, p, what, who in (
        ("GET", r"^/api/tasks/\d+/annotations", "reading a task's annotations", _TASK_STAFF),
        ("PUT|PATCH|POST", r"^/api/tasks/\d+/annotations", "changing a task's annotations",
         _TASK_STAFF),
        ("DELETE", r"^/api/tasks/\d+/annotations", "deleting a task's annotations", _TASK_STAFF),
        ("POST|PATCH|HEAD", r"^/api/tasks/\d+/data", "uploading a task's media", _TASK_STAFF),
        ("GET", r"^/api/tasks/\d+/data", "reading a task's media", _TASK_STAFF),
        ("PATCH", r"^/api/tasks/\d+$", "changing a task (its owner, assignee or project need "
         "its owner or its project's staff)", _TASK_STAFF),
        ("DELETE", r"^/api/tasks/\d+$", "deleting a task",
         "its owner, its project's owner or assignee, a maintainer or owner of its "
         "organization, or an admin"),
        ("GET", r"^/api/tasks/\d+", "seeing a task", _TASK_STAFF),
        ("POST", r"^/api/tasks$", "creating a task (in a project: its owner or assignee may, "
         "and organization supervisors)", _CREATOR),
        ("GET", r"^/api/jobs/\d+/annotations", "reading a job's annotations", _JOB_STAFF),
        ("PUT|PATCH|POST|DELETE", r"^/api/jobs/\d+/annotations", "changing a job's annotations",
         _JOB_STAFF),
        ("PATCH", r"^/api/jobs/\d+$", "assigning a job or changing its stage",
         "its task's or project's owner or assignee, a maintainer or owner of its organization, "
         "or an admin (the job's assignee may change its state only)"),
        ("GET", r"^/api/jobs/\d+", "seeing a job", _JOB_STAFF),
        ("POST", r"^/api/projects$", "creating a project", _CREATOR),
        ("DELETE", r"^/api/projects/\d+$", "deleting a project",
         "its owner, a maintainer or owner of its organization, or an admin"),
        ("PATCH", r"^/api/projects/\d+$", "changing a project",
         "its owner or assignee, a maintainer or owner of its organization, or an admin"),
        ("GET", r"^/api/projects/\d+", "seeing a project",
         "its owner or assignee, a maintainer or owner of its organization, or an admin"),
        ("PATCH|DELETE", r"^/api/labels/\d+", "changing a label", _TASK_STAFF),
        ("GET", r"^/api/users/\d+", "seeing a user",
         "the user themselves, members of the organization you work in, and admins"),
        ("GET", r"^/api/(tasks|jobs|projects|users|labels)$", "listing in an organization",
         "its members (pick an organization you belong to, or none)"),
    )
]
_DENIED = "You do not have permission to perform this action."


def forbidden_message(method: str, path: str) -> str:
    """Why CVAT may have refused ``method path`` with a 403: the permission it wants."""
    for methods, pattern, what, who in _NEEDS:
        if method in methods.split("|") and pattern.search(path):
            text = f"forbidden: CVAT allows {what} only to {who}"
            break
    else:
        text = "forbidden: your CVAT role does not allow this"
    if method not in ("GET", "HEAD", "OPTIONS"):
        text += "; a read-only access token cannot change anything either"
    return text


def error_from_response(
    status: int,
    method: str,
    path: str,
    content: bytes | str | None,
    content_type: str | None,
    *,
    message: str | None = None,
) -> CvatError:
    """Build the right :class:`CvatError` subclass for a non-success HTTP answer."""
    detail, body = describe_body(content, content_type)
    if status == 403 and message is None and detail == _DENIED:
        message = forbidden_message(method, path)
    cls = _CLASS_BY_STATUS.get(status)
    if cls is None:
        cls = CvatServerError if status >= 500 else CvatBadRequest
    reason = message or _REASONS.get(status, "request failed")
    return cls(reason, status=status, method=method, path=path, detail=detail or None, body=body)
