"""File uploads to CVAT: one multipart request, the Upload-Start/Multiple/Finish sequence, TUS.

Why: task data and annotation files range from a few KB to many GB; a single request does not
survive proxies (413, cvat#4679) and a dropped connection must not restart a 20 GB upload
(cvat#10192). What a CVAT 2.73 server accepts (``recordings2/06_data_upload.json``,
``recordings2/10_import.json``, FACTS.md B.3):

* one ``multipart/form-data`` POST with ``client_files[i]`` (task data) or ``annotation_file``
  (import) -- used when everything fits in one bundle;
* otherwise ``POST`` with header ``Upload-Start`` (202, empty body), then ``POST``s with header
  ``Upload-Multiple`` carrying bundles of ``client_files[i]`` (indices restart at 0 in each
  bundle; 200, empty), and TUS 1.0.0 for each file above ``tus_threshold``; finally ``POST``
  with header ``Upload-Finish`` (202 ``{"rq_id"}``). Header values are empty strings, exactly as
  cvat-sdk sends them (the schema calls them booleans; the server tests presence).
* TUS: ``POST`` to the collection URL (trailing slash) with ``Tus-Resumable: 1.0.0``,
  ``Upload-Length`` and ``Upload-Metadata: filename <base64>`` -> 201 with ``Location`` and
  ``Upload-Filename``; ``PATCH Location`` with ``Content-Type: application/offset+octet-stream``
  and ``Upload-Offset`` -> 204 with the new offset; a stale offset -> 409; ``HEAD Location`` ->
  the offset to resume from (404 once complete, 405 up to CVAT 2.2.0). For annotation imports
  the file is stored under the returned ``Upload-Filename``, which the Upload-Finish must name.

A chunk that fails (dropped connection, 5xx, timeout, 409) is resumed from the offset ``HEAD``
reports, a bounded number of times. Progress is reported as ``progress(bytes_done,
bytes_total)`` in bytes of file content.
"""

from __future__ import annotations

import base64
import io
import mimetypes
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Union

from urllib3.filepost import encode_multipart_formdata

from annosync.cvat.errors import (
    CvatConflict,
    CvatConnectionError,
    CvatError,
    CvatNotFound,
    CvatProtocolError,
    CvatServerError,
    CvatTimeout,
)

if TYPE_CHECKING:
    import requests

    from annosync.cvat.session import Transport

__all__ = [
    "FileSpec",
    "Progress",
    "ProgressCallback",
    "UploadFile",
    "UploadLimits",
    "Uploader",
]

ProgressCallback = Callable[[int, Union[int, None]], None]
FileSpec = Union[str, os.PathLike, "UploadFile", tuple]

TUS_VERSION = "1.0.0"
MiB = 1024 * 1024


@dataclass(frozen=True)
class UploadLimits:
    """``bundle_size``: most bytes of file content per multipart request; ``tus_threshold``:
    files larger than this go through TUS (cvat-sdk: 100 MiB); ``chunk_size``: bytes per TUS
    ``PATCH`` (cvat-sdk: 10 MiB); ``max_resumes``: consecutive failed chunks resumed before
    giving up."""

    bundle_size: int = 64 * MiB
    tus_threshold: int = 100 * MiB
    chunk_size: int = 10 * MiB
    max_resumes: int = 5


@dataclass(frozen=True)
class UploadFile:
    """One file to send: the ``name`` CVAT will record for it and its content, from a ``path``
    on disk or in-memory ``data``. Keep names plain and unique: servers may strip directory
    parts from multipart file names (Django sanitises them), so ``a/x.jpg`` and ``b/x.jpg``
    could collide."""

    name: str
    size: int
    path: Path | None = None
    data: bytes | None = None
    content_type: str = "application/octet-stream"

    @classmethod
    def of(cls, spec: FileSpec) -> UploadFile:
        """Accepts a path, ``(name, path)``, ``(name, bytes)`` or an :class:`UploadFile`."""
        if isinstance(spec, UploadFile):
            return spec
        if isinstance(spec, tuple):
            name, content = spec
            if isinstance(content, (bytes, bytearray)):
                return cls(str(name), len(content), data=bytes(content),
                           content_type=_guess_type(str(name)))
            p = Path(content)
            return cls(str(name), p.stat().st_size, path=p, content_type=_guess_type(str(name)))
        p = Path(spec)
        return cls(p.name, p.stat().st_size, path=p, content_type=_guess_type(p.name))

    def open(self) -> IO[bytes]:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb")

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


def _guess_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class Progress:
    """Thread-safe byte counter that forwards to a user callback."""

    def __init__(self, callback: ProgressCallback | None, total: int | None) -> None:
        self._callback = callback
        self.total = total
        self.done = 0
        self._lock = threading.Lock()

    def set(self, done: int) -> None:
        with self._lock:
            self.done = done
            cb = self._callback
        if cb is not None:
            cb(done, self.total)

    def advance(self, n: int) -> None:
        self.set(self.done + n)


class _ReportingBody(io.RawIOBase):
    """A request body that reports how much of it requests has read (maps body bytes to
    ``span`` bytes of file content starting at ``base``)."""

    def __init__(self, payload: bytes, progress: Progress, base: int, span: int) -> None:
        super().__init__()
        self._buf = io.BytesIO(payload)
        self._len = len(payload)
        self._progress = progress
        self._base = base
        self._span = span

    def __len__(self) -> int:
        return self._len

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._buf.seek(offset, whence)

    def tell(self) -> int:
        return self._buf.tell()

    def read(self, size: int | None = -1) -> bytes:
        chunk = self._buf.read(-1 if size is None else size)
        if chunk and self._len:
            sent = self._buf.tell()
            self._progress.set(self._base + (self._span * sent) // self._len)
        return chunk

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def form_fields(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Plain multipart fields: booleans as ``true``/``false``, lists as repeated fields."""
    out: list[tuple[str, str]] = []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            out.extend((key, _form_value(v)) for v in value)
        else:
            out.append((key, _form_value(value)))
    return out


def bundle(files: Sequence[UploadFile], limits: UploadLimits
           ) -> tuple[list[list[UploadFile]], list[UploadFile]]:
    """Split files into multipart bundles (in order, each at most ``bundle_size`` bytes
    unless a single file is larger) and files for TUS (larger than ``tus_threshold``)."""
    bundles: list[list[UploadFile]] = []
    tus: list[UploadFile] = []
    current: list[UploadFile] = []
    current_size = 0
    for f in files:
        if f.size > limits.tus_threshold:
            tus.append(f)
            continue
        if current and current_size + f.size > limits.bundle_size:
            bundles.append(current)
            current, current_size = [], 0
        current.append(f)
        current_size += f.size
    if current:
        bundles.append(current)
    return bundles, tus


class Uploader:
    """Runs the upload protocols over a :class:`~annosync.cvat.session.Transport`."""

    def __init__(
        self,
        transport: Transport,
        limits: UploadLimits | None = None,
        *,
        tus_head: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._transport = transport
        self.limits = limits or UploadLimits()
        self.tus_head = tus_head
        self._sleep = sleep

    # ---------------------------------------------------------------------------- multipart

    def post_multipart(
        self,
        path: str,
        files: Sequence[tuple[str, UploadFile]],
        fields: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        progress: Progress | None = None,
        allow_status: Iterable[int] = (),
    ) -> requests.Response:
        """One ``multipart/form-data`` POST of ``files`` (field name, file) and ``fields``."""
        parts: list[tuple[str, Any]] = [
            (fname, (f.name, f.read(), f.content_type)) for fname, f in files
        ]
        parts.extend(form_fields(fields or {}))
        payload, content_type = encode_multipart_formdata(parts)
        span = sum(f.size for _, f in files)
        progress = progress or Progress(None, span)
        body = _ReportingBody(payload, progress, progress.done, span)
        hdrs = {"Content-Type": content_type, "Content-Length": str(len(payload))}
        if headers:
            hdrs.update(headers)
        base = progress.done
        resp = self._transport.request(
            "POST", path, params=params, data=body, headers=hdrs, long=True, retry=False,
            allow_status=allow_status,
        )
        progress.set(base + span)
        return resp

    def upload_control(self, path: str, header: str, *, params: Mapping[str, Any] | None = None,
                       json: Any = None) -> requests.Response:
        """``Upload-Start`` / ``Upload-Finish`` request (empty header value, as cvat-sdk)."""
        return self._transport.request(
            "POST", path, params=params, json=json, headers={header: ""}, retry=False,
            long=True,
        )

    # ---------------------------------------------------------------------------- TUS

    def tus_upload(
        self,
        collection: str,
        upload: UploadFile,
        *,
        progress: Progress | None = None,
        filetype: bool = True,
    ) -> str:
        """Upload one file with TUS to ``collection`` (e.g. ``/api/tasks/7/data/``); returns
        the server's ``Upload-Filename`` (the name to reference it by)."""
        progress = progress or Progress(None, upload.size)
        base = progress.done
        meta = "filename " + base64.b64encode(upload.name.encode("utf-8")).decode("ascii")
        if filetype:
            meta += ",filetype " + base64.b64encode(upload.content_type.encode()).decode("ascii")
        resp = self._transport.request(
            "POST",
            collection,
            headers={
                "Tus-Resumable": TUS_VERSION,
                "Upload-Length": str(upload.size),
                "Upload-Metadata": meta,
            },
            retry=False,
        )
        location = resp.headers.get("Location")
        if not location:
            raise CvatProtocolError("TUS create answered no Location", status=resp.status_code,
                                    method="POST", path=collection)
        server_name = resp.headers.get("Upload-Filename") or upload.name
        self._send_chunks(location, upload, progress, base)
        return server_name

    def _send_chunks(self, location: str, upload: UploadFile, progress: Progress,
                     base: int) -> None:
        limits = self.limits
        size = upload.size
        offset = 0
        failures = 0
        with upload.open() as fh:
            while offset < size:
                fh.seek(offset)
                chunk = fh.read(min(limits.chunk_size, size - offset))
                if not chunk:
                    raise CvatError(f"{upload.name}: file shrank while uploading")
                try:
                    resp = self._transport.request(
                        "PATCH",
                        location,
                        data=chunk,
                        headers={
                            "Tus-Resumable": TUS_VERSION,
                            "Content-Type": "application/offset+octet-stream",
                            "Upload-Offset": str(offset),
                        },
                        long=True,
                        retry=False,
                    )
                except (CvatConnectionError, CvatTimeout, CvatServerError, CvatConflict) as exc:
                    failures += 1
                    if failures > limits.max_resumes:
                        raise CvatError(
                            f"TUS upload of {upload.name!r} failed {failures} times at byte "
                            f"{offset} of {size}",
                            method=exc.method, path=exc.path, status=exc.status,
                            detail=exc.detail,
                        ) from exc
                    if not isinstance(exc, CvatConflict):
                        self._sleep(min(2.0 ** (failures - 1) * 0.5, 10.0))
                    offset = self._resume_offset(location, size, offset + len(chunk))
                    progress.set(base + offset)
                    continue
                failures = 0
                new = resp.headers.get("Upload-Offset")
                offset = int(new) if new is not None and new.isdigit() else offset + len(chunk)
                progress.set(base + offset)

    def _resume_offset(self, location: str, size: int, attempted_end: int) -> int:
        """Where to resume: the server's ``Upload-Offset`` (HEAD)."""
        if not self.tus_head:
            return 0
        try:
            resp = self._transport.request(
                "HEAD", location, headers={"Tus-Resumable": TUS_VERSION}, allow_status={405}
            )
        except CvatNotFound:
            # A finished upload is no longer HEAD-able (404); that is the case only if the
            # chunk whose answer we lost was the last one.
            if attempted_end >= size:
                return size
            raise
        if resp.status_code == 405:  # CVAT <= 2.2.0: no HEAD; restart from the beginning
            return 0
        value = resp.headers.get("Upload-Offset")
        if value is None or not value.isdigit():
            raise CvatProtocolError("TUS HEAD answered no Upload-Offset", method="HEAD",
                                    path=location)
        return int(value)


def iter_specs(files: Iterable[FileSpec]) -> Iterator[UploadFile]:
    for spec in files:
        yield UploadFile.of(spec)
