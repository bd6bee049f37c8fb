"""The CVAT server version, and the few API differences between 2.x releases the client handles.

Why: one client must talk to any CVAT 2.x server (app.cvat.ai follows the newest release,
self-hosted servers lag years behind). ``GET /api/server/about`` gives ``{"version": "2.73.0"}``
(``recordings/01_login.json``). Only differences verified in CVAT's changelog, its SDK or the
recordings are handled, each by a named predicate below so call sites read as intent:

* ``/api/requests`` (polling of background operations by ``rq_id``) and the export flow
  ``POST /api/{res}/{id}/dataset/export`` -> ``rq_id`` -> ``result_url`` exist from **2.16.0**
  (CHANGELOG.md 2.16.0: "Set of features to track background activities ... Requests page",
  cvat-ai/cvat#7537; cvat#8216 then tested "both versions of the export API"). Older servers:
  task creation is polled with ``GET /api/tasks/{id}/status`` (``state``: Queued|Started|
  Finished|Failed, cvat-sdk ``core/proxies/tasks.py`` before 2.16), exports with
  ``GET /api/{res}/{id}/dataset?format=`` (202 until 201, then ``&action=download``; cvat-sdk
  ``core/downloading.py`` before 2.16), annotation imports by re-POSTing the same URL with
  ``format``/``filename`` until 201 (cvat-sdk ``core/uploading.py`` before 2.16). The 2.73 server
  answers the old GET export with 410 (``recordings2/11_export.json``).
* TUS ``HEAD`` (resume offset) answers 405 on servers up to 2.2.0 (cvat-sdk
  ``core/uploading.py``: "In CVAT up to version 2.2.0, HEAD requests were internally converted to
  GET by mod_wsgi"); the upload then restarts from offset 0.
* ``GET /api/server/about`` needs authentication before 2.3.0 (cvat-sdk ``core/client.py``:
  "Server versions prior to 2.3.0 respond with unauthorized"), so the client logs in first.
* A major version other than 2 is refused (:class:`CvatVersionError`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from annosync.cvat.errors import CvatVersionError

__all__ = [
    "REQUESTS_API_SINCE",
    "ServerVersion",
    "check_supported",
    "parse_version",
]

REQUESTS_API_SINCE = (2, 16, 0)
TUS_HEAD_SINCE = (2, 2, 1)
PUBLIC_ABOUT_SINCE = (2, 3, 0)

_VERSION_RE = re.compile(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(.*)$")


class ServerVersion(NamedTuple):
    """A parsed ``major.minor.patch``; compares like a tuple (``>= (2, 16)`` works)."""

    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def has_requests_api(self) -> bool:
        """``GET /api/requests/{rq_id}`` and ``POST .../dataset/export`` exist (>= 2.16.0)."""
        return self >= REQUESTS_API_SINCE

    @property
    def has_tus_head(self) -> bool:
        """TUS ``HEAD`` returns the resume offset (405 up to 2.2.0)."""
        return self >= TUS_HEAD_SINCE


def parse_version(text: str) -> ServerVersion:
    """Parse ``"2.73.0"``, ``"v2.4.0"``, ``"2.5.0-alpha"``, ``"2.3.0.dev20220101"``."""
    m = _VERSION_RE.match(text or "")
    if not m:
        raise CvatVersionError(f"cannot parse the CVAT server version {text!r}")
    major, minor, patch = (int(g) if g else 0 for g in m.groups()[:3])
    return ServerVersion(major, minor, patch)


def check_supported(version: ServerVersion, raw: str | None = None) -> None:
    """Refuse servers whose major version is not 2 with a message saying what to do."""
    if version.major != 2:
        shown = raw or str(version)
        raise CvatVersionError(
            f"CVAT server version {shown} is not supported: annosync talks to CVAT 2.x only "
            f"(the REST API /api/... of CVAT 2.0 and later). Use a CVAT 2.x server or an "
            f"annosync release that supports CVAT {version.major}.x."
        )
