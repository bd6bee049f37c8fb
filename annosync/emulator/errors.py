"""Error answers in the exact shapes CVAT 2.73 sends them.

Why a module: a real server answers errors in several different body shapes (``{"detail": ...}``
from DRF, field dicts from serializers, bare JSON lists from view-level ``ValidationError``,
bare JSON strings, Django's HTML pages). Handlers raise ``ApiError``; the HTTP layer renders it.
Shapes are taken from ``recordings2/12_errors.json`` and the README of recordings2.
"""

from __future__ import annotations

from typing import Any

HTML_404 = (
    "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n"
    "  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n"
    "</body>\n</html>\n"
)
HTML_500 = (
    "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n"
    "<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n"
)
EXPORT_410 = (
    "This endpoint is no longer supported.\n"
    "To initiate the export process, use POST {path}.\n"
    "To check the process status, use GET /api/requests/rq_id,\n"
    "where rq_id is obtained from the response of the previous request.\n"
    "To download the prepared file, use the result_url obtained from the response of the "
    "previous request.\n"
)


class ApiError(Exception):
    """An HTTP error answer: status, body and how to render the body.

    ``kind`` is ``"json"`` (the body is JSON-encoded with CVAT's media type) or ``"html"``
    (the body is a ``str`` sent as ``text/html; charset=utf-8``).
    """

    def __init__(self, status: int, body: Any, *, kind: str = "json",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body!r}")
        self.status = status
        self.body = body
        self.kind = kind
        self.headers = dict(headers or {})


def detail(status: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
    """``{"detail": message}`` (401/403/404/405/406/415 and parse errors)."""
    return ApiError(status, {"detail": message}, headers=headers)


def bad_request(body: Any) -> ApiError:
    """400 with a serializer-style body (dict of field errors, bare list or bare string)."""
    return ApiError(400, body)


def no_match(model: str) -> ApiError:
    """DRF's ``get_object_or_404`` answer: ``No Task matches the given query.``"""
    return detail(404, f"No {model} matches the given query.")


def not_found() -> ApiError:
    """DRF's generic 404 (e.g. a non-integer id in the URL)."""
    return detail(404, "Not found.")


def html_404() -> ApiError:
    """Django's own 404 page for URLs no route matches (e.g. trailing slashes)."""
    return ApiError(404, HTML_404, kind="html")


def html(status: int, text: str) -> ApiError:
    """A plain ``text/html`` answer (unknown rq id, retired export endpoint, 500 page)."""
    return ApiError(status, text, kind="html")


def server_error() -> ApiError:
    """Django's 500 page, as CVAT answers unhandled exceptions."""
    return ApiError(500, HTML_500, kind="html")


def method_not_allowed(method: str) -> ApiError:
    return detail(405, f'Method "{method}" not allowed.')


def permission_denied(message: str = "You do not have permission to perform this action.") -> ApiError:
    return detail(403, message)
