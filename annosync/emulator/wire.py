"""Requests and responses as the emulator sees them, plus body parsing the way DRF does it.

Why a module: every endpoint needs the same parsing rules (JSON or multipart only, 415 for
anything else, ``JSON parse error - ...`` for bad JSON) and the same rendering (compact
``application/vnd.cvat+json``). Keeping them here keeps the handlers about CVAT semantics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from .errors import ApiError, detail

CVAT_JSON = "application/vnd.cvat+json"


@dataclass
class UploadedFile:
    """One file part of a multipart body."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class FormData:
    """A parsed multipart body: fields (in order) and file parts (in order)."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[UploadedFile] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        for key, value in self.fields:
            if key == name:
                return value
        return None


class Headers:
    """Case-insensitive header access (first value wins, like Django's META)."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items
        self._map: dict[str, str] = {}
        for key, value in items:
            self._map.setdefault(key.lower(), value)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._map.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._map

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)


@dataclass
class Request:
    """An HTTP request: method, the raw path as sent, the decoded query and the body."""

    method: str
    raw_path: str
    query_string: str
    headers: Headers
    body: bytes
    client: str = ""

    @property
    def path(self) -> str:
        return self.raw_path

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query_string, keep_blank_values=True)

    def q(self, name: str) -> str | None:
        """The last value of a query parameter (Django's ``QueryDict.get``)."""
        value = None
        for key, val in self.query:
            if key == name:
                value = val
        return value

    def has_q(self, name: str) -> bool:
        return any(key == name for key, _ in self.query)

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    @property
    def cookies(self) -> dict[str, str]:
        out: dict[str, str] = {}
        raw = self.headers.get("Cookie") or ""
        for part in raw.split(";"):
            if "=" in part:
                key, value = part.split("=", 1)
                out[key.strip()] = unquote(value.strip().strip('"'))
        return out

    def data(self) -> Any:
        """``request.data``: a JSON value, a ``FormData`` or ``{}`` for an empty body.

        Raises the same errors DRF does: 415 for media types other than JSON/multipart,
        400 ``JSON parse error - <python json message>`` for malformed JSON.
        """
        ctype = self.content_type
        if not self.body and not ctype:
            return {}
        if ctype in ("application/json", CVAT_JSON) or ctype.endswith("+json"):
            if not self.body:
                return {}
            try:
                return json.loads(self.body.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise detail(400, f"JSON parse error - {exc}") from exc
            except json.JSONDecodeError as exc:
                raise detail(400, f"JSON parse error - {exc}") from exc
        if ctype == "multipart/form-data":
            return parse_multipart(self.body, self.headers.get("Content-Type") or "")
        if not self.body:
            return {}
        raise detail(415, f'Unsupported media type "{self.headers.get("Content-Type")}" in request.')


@dataclass
class Response:
    """An HTTP response before transport encoding (gzip, content-length)."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str, value: str) -> Response:
        self.headers.append((name, value))
        return self


def dumps(data: Any) -> bytes:
    """DRF's JSONRenderer with ``compact=True`` and ``UNICODE_JSON=True``."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode("utf-8")


def json_response(data: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, dumps(data), CVAT_JSON, list(headers or []))


def empty(status: int, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, b"", None, list(headers or []))


def html_response(status: int, text: str) -> Response:
    return Response(status, text.encode("utf-8"), "text/html; charset=utf-8")


def error_response(err: ApiError) -> Response:
    if err.kind == "html":
        resp = html_response(err.status, str(err.body))
    else:
        resp = json_response(err.body, err.status)
    for key, value in err.headers.items():
        resp.headers.append((key, value))
    return resp


def _param(header: str, name: str) -> str | None:
    for part in header.split(";")[1:]:
        if "=" in part:
            key, value = part.split("=", 1)
            if key.strip().lower() == name:
                return value.strip().strip('"')
    return None


def parse_multipart(body: bytes, content_type: str) -> FormData:
    """A small, strict multipart/form-data parser (fields and files, in order)."""
    boundary = _param(content_type, "boundary")
    if not boundary:
        raise detail(400, "Multipart form parse error - Invalid boundary in multipart: None")
    delim = b"--" + boundary.encode("latin-1")
    form = FormData()
    parts = body.split(delim)
    for part in parts[1:]:
        if part.startswith(b"--"):
            break
        if part.startswith(b"\r\n"):
            part = part[2:]
        if part.endswith(b"\r\n"):
            part = part[:-2]
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = _param(disposition, "name") or ""
        filename = _param(disposition, "filename")
        if filename is None:
            star = _param(disposition, "filename*")
            if star and "''" in star:
                filename = unquote(star.split("''", 1)[1])
        if filename is not None:
            form.files.append(UploadedFile(name, filename, headers.get("content-type",
                                                                       "application/octet-stream"),
                                           content))
        else:
            form.fields.append((name, content.decode("utf-8", "replace")))
    return form
