"""TUS 1.0.0 resumable uploads, as CVAT's ``UploadMixin`` serves them.

Why a module: task data and annotation imports share the protocol (create with
``Upload-Length`` + ``Upload-Metadata``, ``PATCH`` chunks at ``Upload-Offset``, ``HEAD`` to
resume, 409 on a stale offset, 404 ``HEAD`` once complete). Recorded in
``recordings2/06_data_upload.json`` (c) and ``10_import.json``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from .context import Ctx
from .errors import ApiError
from .state import TusFile
from .wire import Response, empty, json_response

MAX_SIZE = 26843545600

TUS_HEADERS = [
    ("tus-resumable", "1.0.0"),
    ("tus-version", "1.0.0"),
    ("tus-extension", ""),
    ("tus-max-size", str(MAX_SIZE)),
    ("access-control-allow-origin", "*"),
    ("access-control-allow-methods", "PATCH,HEAD,GET,POST,OPTIONS"),
    ("access-control-expose-headers",
     "Tus-Resumable,upload-length,upload-metadata,Location,Upload-Offset"),
    ("access-control-allow-headers",
     "Tus-Resumable,upload-length,upload-metadata,Location,Upload-Offset,content-type"),
    ("cache-control", "no-store"),
]


def tus_response(status: int, extra: list[tuple[str, str]] | None = None) -> Response:
    return empty(status, list(TUS_HEADERS) + list(extra or []))


def options(ctx: Ctx) -> Response:
    return tus_response(204)


def parse_metadata(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        key, _, value = item.partition(" ")
        try:
            out[key] = base64.b64decode(value.strip()).decode("utf-8") if value else ""
        except (binascii.Error, UnicodeDecodeError):
            out[key] = ""
    return out


def is_create(ctx: Ctx) -> bool:
    return ctx.req.headers.get("Upload-Length") is not None


def create(ctx: Ctx, location_base: str, *, report_original_name: bool) -> tuple[Response, TusFile]:
    """Handle the TUS creation POST; ``location_base`` ends with ``/data/`` or ``/annotations/``."""
    req = ctx.req
    metadata = parse_metadata(req.headers.get("Upload-Metadata") or "")
    if "filename" not in metadata:
        resp = json_response("Metadata is expected to contain 'filename' key", 400)
        resp.headers.extend(TUS_HEADERS)
        raise _Answer(resp)
    try:
        length = int(req.headers.get("Upload-Length") or "0")
    except ValueError:
        raise _Answer(json_response("Invalid Upload-Length", 400)) from None
    if length > MAX_SIZE:
        raise _Answer(tus_response(413))
    state = ctx.state
    file_id = f"{ctx.uid}_{state.uuid4()}"
    tus_file = TusFile(file_id=file_id, filename=metadata["filename"], length=length,
                       metadata=metadata)
    state.tus[file_id] = tus_file
    name = metadata["filename"] if report_original_name else file_id
    resp = tus_response(201, [("location", ctx.url(location_base + file_id)),
                              ("upload-filename", name)])
    return resp, tus_file


def head(ctx: Ctx, file_id: str) -> Response:
    tus_file = ctx.state.tus.get(file_id)
    if tus_file is None or tus_file.complete:
        return tus_response(404)
    return tus_response(200, [("upload-offset", str(tus_file.offset)),
                              ("upload-length", str(tus_file.length))])


def patch(ctx: Ctx, file_id: str, on_complete: Callable[[TusFile], None]) -> Response:
    state = ctx.state
    tus_file = state.tus.get(file_id)
    if tus_file is None or tus_file.complete:
        return tus_response(404)
    if ctx.req.content_type != "application/offset+octet-stream":
        return tus_response(415)
    try:
        offset = int(ctx.req.headers.get("Upload-Offset") or "-1")
    except ValueError:
        offset = -1
    if offset != tus_file.offset:
        return tus_response(409)
    chunk = ctx.req.body
    if tus_file.offset + len(chunk) > tus_file.length:
        return tus_response(413)
    tus_file.data.extend(chunk)
    if tus_file.complete:
        on_complete(tus_file)
        state.tus.pop(file_id, None)
    return tus_response(204, [("upload-offset", str(tus_file.offset))])


class _Answer(ApiError):
    """Carries a fully built response (TUS errors have their own headers)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status, None)
        self.response = response


Answer = _Answer
