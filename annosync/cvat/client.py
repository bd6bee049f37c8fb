"""The CVAT client facade: one method per server operation, returning CVAT's JSON as dicts.

Why a facade: the rest of annosync needs "create a task", "wait for it", "read its annotations",
not HTTP. This class only maps calls to endpoints (paths, trailing-slash rules, bodies and
query parameters exactly as a CVAT 2.73 server and cvat-sdk exchange them, see
``shared/cvat/recordings*``); it converts nothing and decides nothing. Transport, retries and
errors live in :mod:`~annosync.cvat.session`, credentials in :mod:`~annosync.cvat.auth`, list
walking in :mod:`~annosync.cvat.pagination`, uploads in :mod:`~annosync.cvat.uploads`, waits in
:mod:`~annosync.cvat.requests_api` and version differences in :mod:`~annosync.cvat.version`.

Path rules (``recordings2/README.md``): collections and items have no trailing slash
(``/api/tasks/`` and ``/api/tasks/7/`` are 404); ``/annotations/`` and ``/data/`` are used with
the slash, as in schema.yml and cvat-sdk; ``/data/meta`` never has one.
"""

from __future__ import annotations

import contextlib
import json as _json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from annosync.cvat.auth import Authenticator, Credentials
from annosync.cvat.errors import (
    CvatAuthError,
    CvatBadRequest,
    CvatConflict,
    CvatConnectionError,
    CvatError,
    CvatNotFound,
    CvatProtocolError,
    CvatRequestFailed,
    CvatTimeout,
    describe_body,
    error_from_response,
)
from annosync.cvat.pagination import DEFAULT_PAGE_SIZE, exact_matches, iter_pages
from annosync.cvat.requests_api import Poller, StatusCallback
from annosync.cvat.session import RetryPolicy, Timeouts, Transport
from annosync.cvat.uploads import (
    FileSpec,
    Progress,
    ProgressCallback,
    Uploader,
    UploadFile,
    UploadLimits,
    bundle,
)
from annosync.cvat.version import ServerVersion, check_supported, parse_version

__all__ = ["CvatClient", "JsonDict"]

log = logging.getLogger("annosync.cvat")

JsonDict = dict[str, Any]


class EncodedJson(bytes):
    """A JSON request body encoded ahead of its request (``encode_json``): sent as is, with
    ``Content-Type: application/json``, the bytes ``json=`` would have sent."""


def encode_json(data: Any) -> EncodedJson:
    """``data`` encoded as ``requests`` encodes ``json=data`` (same bytes): lets a caller
    encode a large body while it waits for something else."""
    return EncodedJson(_json.dumps(data, allow_nan=False).encode("utf-8"))

PATCH_ACTIONS = ("create", "update", "delete")
#: The first interval of the wait for a task's media, as a part of the poll interval: 1/4
#: (0.1 s: polls after 25, 75, 175, 375 ms ... where 100, 300, 700 ms ...)
MEDIA_FIRST_POLL = 0.25
_DOWNLOAD_CHUNK = 1024 * 1024


def _id(value: Any, what: str) -> int:
    """Object ids go into URL paths: accept only integers (no path injection)."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value), 10)
        except ValueError:
            raise ValueError(f"{what} must be an integer, not {value!r}") from None
    if value < 0:
        raise ValueError(f"{what} must not be negative")
    return int(value)


def _one_of(**kwargs: Any) -> tuple[str, int]:
    given = [(k, v) for k, v in kwargs.items() if v is not None]
    if len(given) != 1:
        raise ValueError(f"pass exactly one of {', '.join(kwargs)}")
    key, value = given[0]
    return key, _id(value, key)


class CvatClient:
    """A client for one CVAT 2.x server (app.cvat.ai or self-hosted).

    ``CvatClient(url, credentials, organization=None, headers=None, timeout=..., verify=True,
    retries=...)``; usable as a context manager (closes the connection pool). ``credentials``
    defaults to :meth:`Credentials.resolve` (arguments > environment > config file > prompt).
    ``timeout`` is seconds, ``(connect, read)`` or :class:`Timeouts`; ``retries`` a count or a
    :class:`RetryPolicy`; ``verify`` False, True or a CA bundle path; ``pool_size`` the number
    of pooled connections (size it to the thread pool using the client); ``wait_timeout`` the
    default deadline (seconds) of waits on asynchronous operations.

    Every call logs in on first use (:meth:`login` is idempotent and thread-safe).
    """

    def __init__(
        self,
        url: str | None = None,
        credentials: Credentials | None = None,
        organization: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: Timeouts | float | tuple[float, float] | None = None,
        verify: bool | str = True,
        retries: RetryPolicy | int | None = None,
        *,
        pool_size: int = 16,
        page_size: int = DEFAULT_PAGE_SIZE,
        wait_timeout: float = 3600.0,
        poll_interval: tuple[float, float] = (0.5, 5.0),
        upload_limits: UploadLimits | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        adapter: requests.adapters.HTTPAdapter | None = None,
    ) -> None:
        if credentials is None:
            credentials = Credentials.resolve(url=url)
        url = url or credentials.url
        if not url:
            raise CvatError(
                "no CVAT URL: pass url=, set ANNOSYNC_CVAT_URL or 'url' in the config file"
            )
        if "://" not in url:
            url = "https://" + url
        self.url = url.rstrip("/")
        self.credentials = credentials
        self.organization = organization if organization is not None else credentials.organization
        all_headers: dict[str, str] = dict(credentials.headers)
        if headers:
            all_headers.update(headers)
        if self.organization is not None:
            # "" is meaningful: the personal sandbox only (recordings2/02_organizations.json)
            all_headers["X-Organization"] = self.organization
        self._transport = Transport(
            self.url, timeouts=timeout, retry=retries, verify=verify, pool_size=pool_size,
            headers=all_headers, sleep=sleep, adapter=adapter,
        )
        self._auth = Authenticator(self._transport, credentials)
        self._transport.set_reauth(self._auth.reauthenticate)
        self._clock = clock
        self._sleep = sleep
        self._poller = Poller(self._transport, initial=poll_interval[0],
                              maximum=poll_interval[1], clock=clock, sleep=sleep)
        self._uploader = Uploader(self._transport, upload_limits, sleep=sleep)
        self.page_size = page_size
        self.wait_timeout = wait_timeout
        self._login_lock = threading.RLock()
        self._about: JsonDict | None = None
        self._version: ServerVersion | None = None
        self._user: JsonDict | None = None

    # ---------------------------------------------------------------------------- lifecycle

    def __enter__(self) -> CvatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections. Does not log out (that would delete the user's login key
        for every other client of that user, see :meth:`logout`)."""
        self._transport.close()

    def __repr__(self) -> str:
        return (f"CvatClient(url={self.url!r}, organization={self.organization!r}, "
                f"credentials={self.credentials!r})")

    @property
    def transport(self) -> Transport:
        return self._transport

    def login(self) -> JsonDict:
        """Check the server version, authenticate, and return the current user
        (``/api/users/self``). Idempotent and thread-safe."""
        with self._login_lock:
            if self._user is not None:
                return self._user
            # Public since 2.3.0 (before: 401), so the version is checked before credentials
            # are sent whenever possible.
            with contextlib.suppress(CvatAuthError):
                self._load_about()
            user = self._auth.authenticate()
            if self._about is None:
                self._load_about()
            self._user = user
            return user

    def logout(self) -> None:
        """``POST /api/auth/logout``. CVAT then deletes the user's login key, which all
        sessions of that user share: call only when no other client uses it."""
        with self._login_lock:
            self._auth.logout()
            self._user = None

    def _ensure(self) -> None:
        if self._user is None:
            self.login()

    def _load_about(self) -> JsonDict:
        resp = self._transport.request("GET", "/api/server/about", reauth=False)
        about = self._transport.json(resp)
        raw = str(about.get("version", "")) if isinstance(about, dict) else ""
        version = parse_version(raw)
        check_supported(version, raw)
        self._about = about
        self._version = version
        return about

    @property
    def server_version(self) -> ServerVersion:
        """The server's version as a comparable ``(major, minor, patch)`` tuple."""
        if self._version is None:
            self.login()
        assert self._version is not None
        return self._version

    # ---------------------------------------------------------------------------- low level

    def _get(self, path: str, params: Mapping[str, Any] | None = None, *, long: bool = False
             ) -> Any:
        self._ensure()
        return self._transport.json(self._transport.request("GET", path, params=params, long=long))

    def _send(self, method: str, path: str, *, json: Any = None,
              params: Mapping[str, Any] | None = None, long: bool = False,
              parse: Callable[[bytes], Any] | None = None) -> Any:
        """``parse``: reads the answer's bytes instead of ``json.loads``; when it raises
        ``ValueError`` the answer is read as JSON, as without it (same errors)."""
        self._ensure()
        if isinstance(json, EncodedJson):
            resp = self._transport.request(method, path, data=bytes(json), params=params,
                                           headers={"Content-Type": "application/json"},
                                           long=long)
        else:
            resp = self._transport.request(method, path, json=json, params=params, long=long)
        if resp.status_code == 204 or not resp.content:
            return None
        if parse is not None:
            try:
                return parse(resp.content)
            except ValueError:
                pass
        return self._transport.json(resp)

    def _list(self, path: str, params: Mapping[str, Any] | None = None) -> list[JsonDict]:
        self._ensure()
        return list(iter_pages(self._transport, path, params, page_size=self.page_size))

    def _delete(self, path: str, missing_ok: bool) -> bool:
        self._ensure()
        resp = self._transport.request("DELETE", path, allow_status={404})
        if resp.status_code == 404:
            # A repeated DELETE whose first attempt succeeded also ends here.
            if missing_ok or getattr(resp, "attempts", 1) > 1:
                return False
            raise error_from_response(404, "DELETE", path, resp.content,
                                      resp.headers.get("Content-Type"))
        return True

    # ---------------------------------------------------------------------------- server

    def server_about(self) -> JsonDict:
        """``GET /api/server/about`` (cached)."""
        if self._about is None:
            self.login()
        assert self._about is not None
        return self._about

    def annotation_formats(self) -> JsonDict:
        """``GET /api/server/annotation/formats``: ``{"importers": [...], "exporters": [...]}``."""
        return self._get("/api/server/annotation/formats")

    # ---------------------------------------------------------------------------- users

    def get_self(self) -> JsonDict:
        """``GET /api/users/self``."""
        return self._get("/api/users/self")

    def get_user(self, user_id: int) -> JsonDict:
        return self._get(f"/api/users/{_id(user_id, 'user_id')}")

    def list_users(self, search: str | None = None, **filters: Any) -> list[JsonDict]:
        """All users (every page), optionally narrowed with CVAT's ``search``."""
        return self._list("/api/users", {"search": search, **filters})

    def find_user(self, username: str) -> JsonDict | None:
        """The user whose username is exactly ``username`` (``/api/users?search=``, every page,
        exact comparison here), or None."""
        found = exact_matches(iter(self.list_users(search=username)), username, key="username")
        return found[0] if found else None

    # ---------------------------------------------------------------------------- projects

    def create_project(self, name: str, labels: list[JsonDict] | None = None,
                       **fields: Any) -> JsonDict:
        """``POST /api/projects`` with ``name``, ``labels`` and any ProjectWriteRequest field
        (``bug_tracker``, ``assignee_id``, ``owner_id``, ``source_storage``...)."""
        body: JsonDict = {"name": name}
        if labels is not None:
            body["labels"] = labels
        body.update({k: v for k, v in fields.items() if v is not None})
        return self._send("POST", "/api/projects", json=body)

    def get_project(self, project_id: int) -> JsonDict:
        return self._get(f"/api/projects/{_id(project_id, 'project_id')}")

    def list_projects(self, **filters: Any) -> list[JsonDict]:
        """All projects (every page); ``filters`` are CVAT list parameters (``search``...)."""
        return self._list("/api/projects", filters)

    def find_projects(self, name: str) -> list[JsonDict]:
        """Projects named exactly ``name`` (``?name=`` narrows on the server, every page is
        read and equality checked here)."""
        return exact_matches(iter(self.list_projects(name=name)), name)

    def update_project(self, project_id: int, **fields: Any) -> JsonDict:
        """``PATCH /api/projects/{id}`` (e.g. ``labels=[...]`` adds/changes labels,
        ``{"id": n, "deleted": true}`` removes one; ``name``, ``bug_tracker``...)."""
        return self._send("PATCH", f"/api/projects/{_id(project_id, 'project_id')}",
                          json=fields)

    def delete_project(self, project_id: int, missing_ok: bool = False) -> bool:
        """``DELETE /api/projects/{id}``; with ``missing_ok`` a 404 means already gone.
        Returns whether this call deleted it."""
        return self._delete(f"/api/projects/{_id(project_id, 'project_id')}", missing_ok)

    # ---------------------------------------------------------------------------- labels

    def get_labels(self, project_id: int | None = None, task_id: int | None = None,
                   job_id: int | None = None, **filters: Any) -> list[JsonDict]:
        """``GET /api/labels?project_id=|task_id=|job_id=`` (every page): labels with their
        ``attributes`` (and attribute spec ``id``s) and skeleton ``sublabels``."""
        key, value = _one_of(project_id=project_id, task_id=task_id, job_id=job_id)
        return self._list("/api/labels", {key: value, **filters})

    def get_label(self, label_id: int) -> JsonDict:
        return self._get(f"/api/labels/{_id(label_id, 'label_id')}")

    # ---------------------------------------------------------------------------- tasks

    def create_task(
        self,
        name: str,
        labels: list[JsonDict] | None = None,
        project_id: int | None = None,
        *,
        segment_size: int | None = None,
        overlap: int | None = None,
        assignee_id: int | None = None,
        bug_tracker: str | None = None,
        subset: str | None = None,
        **fields: Any,
    ) -> JsonDict:
        """``POST /api/tasks`` (TaskWriteRequest). The task has no data yet: see
        :meth:`upload_task_data`."""
        body: JsonDict = {"name": name}
        for key, value in (("labels", labels), ("project_id", project_id),
                           ("segment_size", segment_size), ("overlap", overlap),
                           ("assignee_id", assignee_id), ("bug_tracker", bug_tracker),
                           ("subset", subset), *fields.items()):
            if value is not None:
                body[key] = value
        return self._send("POST", "/api/tasks", json=body)

    def get_task(self, task_id: int) -> JsonDict:
        return self._get(f"/api/tasks/{_id(task_id, 'task_id')}")

    def list_tasks(self, project_id: int | None = None, **filters: Any) -> list[JsonDict]:
        """All tasks (every page), optionally of one project."""
        params = dict(filters)
        if project_id is not None:
            params["project_id"] = _id(project_id, "project_id")
        items = self._list("/api/tasks", params)
        if project_id is not None:
            items = [t for t in items if t.get("project_id") == params["project_id"]]
        return items

    def find_tasks(self, name: str, project_id: int | None = None) -> list[JsonDict]:
        """Tasks named exactly ``name`` (optionally in project ``project_id``)."""
        return exact_matches(iter(self.list_tasks(project_id=project_id, name=name)), name)

    def update_task(self, task_id: int, **fields: Any) -> JsonDict:
        """``PATCH /api/tasks/{id}`` (``name``, ``assignee_id``, ``bug_tracker``, ``labels``,
        ``subset``, ``project_id``...)."""
        return self._send("PATCH", f"/api/tasks/{_id(task_id, 'task_id')}",
                          json=fields)

    def delete_task(self, task_id: int, missing_ok: bool = False) -> bool:
        """``DELETE /api/tasks/{id}``; with ``missing_ok`` a 404 means already gone."""
        return self._delete(f"/api/tasks/{_id(task_id, 'task_id')}", missing_ok)

    # ---------------------------------------------------------------------------- task data

    def upload_task_data(
        self,
        task_id: int,
        files: Iterable[FileSpec] = (),
        *,
        image_quality: int = 70,
        use_cache: bool | None = None,
        use_zip_chunks: bool | None = None,
        chunk_size: int | None = None,
        sorting_method: str | None = None,
        start_frame: int | None = None,
        stop_frame: int | None = None,
        frame_step: int | None = None,
        frame_filter: str | None = None,
        server_files: list[str] | None = None,
        cloud_storage_id: int | None = None,
        filename_pattern: str | None = None,
        copy_data: bool | None = None,
        job_file_mapping: list[list[str]] | None = None,
        extra_fields: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        wait: bool = True,
        timeout: float | None = None,
        watch: StatusCallback | None = None,
    ) -> JsonDict:
        """Attach media to a task (``POST /api/tasks/{id}/data/``) and, unless ``wait=False``,
        wait for CVAT to process it. Returns the finished request status (or ``{"rq_id"}``).

        ``files``: paths, ``(name, path)`` or ``(name, bytes)``; the name is what CVAT shows
        (sub-folders allowed). Everything fitting in one bundle goes as one multipart request;
        more goes as Upload-Start, Upload-Multiple bundles, TUS for big files, Upload-Finish.
        ``server_files`` (+ ``cloud_storage_id``) creates the task from files already on the
        server or in a CVAT cloud storage, uploading nothing. ``frame_step=N`` sends
        ``frame_filter="step=N"``. Data can be attached once per task.
        """
        tid = _id(task_id, "task_id")
        self._ensure()
        if frame_step is not None:
            if frame_filter is not None:
                raise ValueError("pass frame_step or frame_filter, not both")
            frame_filter = f"step={int(frame_step)}"
        opts: JsonDict = {"image_quality": int(image_quality)}
        for key, value in (
            ("use_cache", use_cache), ("use_zip_chunks", use_zip_chunks),
            ("chunk_size", chunk_size), ("sorting_method", sorting_method),
            ("start_frame", start_frame), ("stop_frame", stop_frame),
            ("frame_filter", frame_filter), ("cloud_storage_id", cloud_storage_id),
            ("filename_pattern", filename_pattern), ("copy_data", copy_data),
            ("job_file_mapping", job_file_mapping),
        ):
            if value is not None:
                opts[key] = value
        if extra_fields:
            opts.update(extra_fields)
        uploads = [UploadFile.of(f) for f in files]
        path = f"/api/tasks/{tid}/data/"
        if server_files is not None:
            if uploads:
                raise ValueError("pass files to upload or server_files, not both")
            opts["server_files"] = list(server_files)
            resp = self._transport.request("POST", path, json=opts, retry=False)
        elif not uploads:
            raise ValueError("no files to upload (pass files or server_files)")
        else:
            resp = self._send_task_files(path, uploads, opts, progress)
        return self._finish_task_data(tid, resp, wait, timeout, watch)

    def _send_task_files(self, path: str, uploads: list[UploadFile], opts: JsonDict,
                         progress: ProgressCallback | None) -> requests.Response:
        limits = self._uploader.limits
        total = sum(f.size for f in uploads)
        prog = Progress(progress, total)
        bundles, tus = bundle(uploads, limits)
        simple = all(not isinstance(v, (list, dict)) for v in opts.values())
        if not tus and len(bundles) == 1 and simple:
            files = [(f"client_files[{i}]", f) for i, f in enumerate(uploads)]
            return self._uploader.post_multipart(path, files, opts, progress=prog)
        up = self._uploader
        up.tus_head = self.server_version.has_tus_head
        up.upload_control(path, "Upload-Start")
        for group in bundles:
            files = [(f"client_files[{i}]", f) for i, f in enumerate(group)]
            up.post_multipart(path, files, {"image_quality": opts["image_quality"]},
                              headers={"Upload-Multiple": ""}, progress=prog)
        for f in tus:
            up.tus_upload(path, f, progress=prog)
        finish = dict(opts)
        if str(finish.get("sorting_method", "")).lower() == "predefined":
            # Bundles and TUS files arrive out of order; state the intended order (cvat-sdk).
            finish.setdefault("upload_file_order", [f.name for f in uploads])
        return up.upload_control(path, "Upload-Finish", json=finish)

    def _finish_task_data(self, task_id: int, resp: requests.Response, wait: bool,
                          timeout: float | None, watch: StatusCallback | None = None
                          ) -> JsonDict:
        body = self._transport.json(resp) if resp.content else {}
        rq_id = body.get("rq_id") if isinstance(body, dict) else None
        if not wait:
            return {"rq_id": rq_id} if rq_id else {}
        deadline = self.wait_timeout if timeout is None else timeout
        if rq_id and self.server_version.has_requests_api:
            # a task's media is the wait a first upload spends most on, and a small task's is
            # often done within a fraction of the interval: the first polls come sooner
            # (``MEDIA_FIRST_POLL``; two or three more polls for a long wait)
            return self._poller.wait_for_request(rq_id, deadline, watch,
                                                 first=self._poller.initial * MEDIA_FIRST_POLL)
        return self._poller.wait_for_task_status(task_id, deadline, watch)

    def get_data_meta(self, task_id: int | None = None, *, job_id: int | None = None) -> JsonDict:
        """``GET /api/tasks/{id}/data/meta`` (or the job's): frames (name, width, height),
        ``deleted_frames``, ``start_frame``/``stop_frame``/``frame_filter``, ``chunk_size``."""
        key, value = _one_of(task_id=task_id, job_id=job_id)
        res = "tasks" if key == "task_id" else "jobs"
        return self._get(f"/api/{res}/{value}/data/meta")

    # ---------------------------------------------------------------------------- jobs

    def list_jobs(self, task_id: int | None = None, **filters: Any) -> list[JsonDict]:
        """Jobs (every page), of one task when ``task_id`` is given; each has ``id``,
        ``start_frame``/``stop_frame``, ``assignee``, ``stage``, ``state``, ``updated_date``."""
        params = dict(filters)
        if task_id is not None:
            params["task_id"] = _id(task_id, "task_id")
        items = self._list("/api/jobs", params)
        if task_id is not None:
            items = [j for j in items if j.get("task_id") == params["task_id"]]
        return items

    def list_jobs_of_tasks(self, task_ids: Iterable[int], page_size: int = 500
                           ) -> dict[int, list[JsonDict]]:
        """The jobs of several tasks in one paginated listing (every page), by task id (a
        task with no job in it maps to ``[]``): ``GET /api/jobs?filter={"in": [{"var":
        "task_id"}, [ids]]}&sort=id``. CVAT's JSON-logic filter turns ``in`` into
        ``task_id__in`` (``cvat/apps/engine/filters.py``, ``JsonLogicFilter``) and
        ``task_id`` is one of the job list's filter fields (the schema's ``filter``
        description); its pagination takes any ``page_size`` (``pagination.py``). Jobs of
        other tasks (a server ignoring the filter) are dropped here."""
        import json

        ids = sorted({_id(t, "task_id") for t in task_ids})
        out: dict[int, list[JsonDict]] = {i: [] for i in ids}
        if not ids:
            return out
        rule = json.dumps({"in": [{"var": "task_id"}, ids]}, separators=(",", ":"))
        self._ensure()
        for job in iter_pages(self._transport, "/api/jobs", {"filter": rule, "sort": "id"},
                              page_size=page_size):
            task = job.get("task_id")
            if task in out:
                out[task].append(job)
        return out

    def get_job(self, job_id: int) -> JsonDict:
        return self._get(f"/api/jobs/{_id(job_id, 'job_id')}")

    def update_job(self, job_id: int, **fields: Any) -> JsonDict:
        """``PATCH /api/jobs/{id}`` with ``assignee`` (a user id, or None to unassign),
        ``stage`` (annotation|validation|acceptance), ``state`` (new|in progress|completed|
        rejected)."""
        unknown = set(fields) - {"assignee", "stage", "state"}
        if unknown:
            raise ValueError(f"jobs accept assignee, stage and state, not {sorted(unknown)}")
        return self._send("PATCH", f"/api/jobs/{_id(job_id, 'job_id')}",
                          json=fields)

    # ---------------------------------------------------------------------------- annotations

    @staticmethod
    def _annotations_path(task_id: int | None, job_id: int | None) -> str:
        key, value = _one_of(task_id=task_id, job_id=job_id)
        res = "tasks" if key == "task_id" else "jobs"
        return f"/api/{res}/{value}/annotations/"

    def get_annotations(self, task_id: int | None = None, *, job_id: int | None = None
                        ) -> JsonDict:
        """``GET /api/{tasks|jobs}/{id}/annotations/``: ``{version, tags, shapes, tracks,
        intervals}`` with task-relative frame numbers."""
        return self._get(self._annotations_path(task_id, job_id), long=True)

    def put_annotations(self, data: JsonDict | EncodedJson, task_id: int | None = None, *,
                        job_id: int | None = None, parse: Callable[[bytes], Any] | None = None
                        ) -> Any:
        """``PUT``: replace all annotations (new ids are assigned; the answer echoes them).
        ``data``: the JSON, or its bytes from ``encode_json``. ``parse``: reads the answer's
        bytes (e.g. a pydantic model's ``model_validate_json``, ~3x faster on a big answer
        than decoding it and validating the objects); what it refuses with ``ValueError`` is
        returned as decoded JSON, as without it."""
        return self._send("PUT", self._annotations_path(task_id, job_id), json=data,
                          long=True, parse=parse)

    def patch_annotations(self, action: str, data: JsonDict, task_id: int | None = None, *,
                          job_id: int | None = None) -> JsonDict:
        """``PATCH ...?action=create|update|delete`` (create: no ids; update/delete: by id)."""
        if action not in PATCH_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(PATCH_ACTIONS)}")
        return self._send("PATCH", self._annotations_path(task_id, job_id),
                          params={"action": action}, json=data, long=True)

    def delete_annotations(self, task_id: int | None = None, *, job_id: int | None = None
                           ) -> None:
        """``DELETE``: remove all annotations of the task or job."""
        self._send("DELETE", self._annotations_path(task_id, job_id), long=True)

    # ---------------------------------------------------------------------------- async

    def get_request(self, rq_id: str) -> JsonDict:
        """``GET /api/requests/{rq_id}`` (the id percent-encoded as one path segment)."""
        self._ensure()
        return self._poller.get_request(rq_id)

    def wait_for_jobs(self, task_id: int, timeout: float | None = None) -> JsonDict:
        """The task once it shows its jobs (``GET /api/tasks/{id}``, polled): CVAT makes them
        at the end of the request creating the task from its media, which a client killed
        while polling it never saw finish. Returns at once for a task whose summary does not
        count jobs (older servers)."""
        tid = _id(task_id, "task_id")
        task: JsonDict = {}

        def ready() -> bool:
            nonlocal task
            task = self.get_task(tid)
            jobs = task.get("jobs")
            return not isinstance(jobs, dict) or int(jobs.get("count") or 0) > 0

        self._ensure()
        self._poller.wait_until(ready, self.wait_timeout if timeout is None else timeout,
                                f"jobs of task {tid}")
        return task

    def wait_for_request(self, rq_id: str, timeout: float | None = None) -> JsonDict:
        """Poll ``rq_id`` until ``finished`` (returns its status) or ``failed``
        (:class:`CvatRequestFailed` with CVAT's message); :class:`CvatTimeout` after
        ``timeout`` seconds (default ``wait_timeout``)."""
        self._ensure()
        return self._poller.wait_for_request(
            rq_id, self.wait_timeout if timeout is None else timeout
        )

    # ---------------------------------------------------------------------------- import

    def import_annotations(
        self,
        file: FileSpec,
        task_id: int | None = None,
        *,
        job_id: int | None = None,
        format: str = "CVAT 1.1",
        import_mode: str | None = None,
        progress: ProgressCallback | None = None,
        wait: bool = True,
        timeout: float | None = None,
        watch: StatusCallback | None = None,
    ) -> JsonDict:
        """Import an annotation file (``POST /api/{tasks|jobs}/{id}/annotations/?format=``):
        one multipart ``annotation_file`` request for files up to the TUS threshold, else
        Upload-Start / TUS / Upload-Finish naming the server's ``Upload-Filename``. Waits for
        the import unless ``wait=False``; returns the final request status."""
        path = self._annotations_path(task_id, job_id)
        self._ensure()
        upload = UploadFile.of(file)
        prog = Progress(progress, upload.size)
        params: JsonDict = {"format": format}
        if import_mode is not None:
            params["import_mode"] = import_mode
        legacy = not self.server_version.has_requests_api
        if upload.size <= self._uploader.limits.tus_threshold and not legacy:
            resp = self._uploader.post_multipart(
                path, [("annotation_file", upload)], params=params, progress=prog
            )
            finish_params = params
        else:
            up = self._uploader
            up.tus_head = self.server_version.has_tus_head
            up.upload_control(path, "Upload-Start", params={**params, "filename": upload.name})
            stored = up.tus_upload(path, upload, progress=prog, filetype=False)
            finish_params = {**params, "filename": stored}
            resp = up.upload_control(path, "Upload-Finish", params=finish_params)
        body = self._transport.json(resp) if resp.content else {}
        rq_id = body.get("rq_id") if isinstance(body, dict) else None
        if not wait:
            return {"rq_id": rq_id} if rq_id else {}
        deadline = self.wait_timeout if timeout is None else timeout
        if rq_id and not legacy:
            return self._poller.wait_for_request(rq_id, deadline, watch)
        return self._legacy_import_wait(path, finish_params, deadline)

    def _legacy_import_wait(self, path: str, params: JsonDict, timeout: float) -> JsonDict:
        """Pre-2.16: re-POST the import URL with format/filename until it answers 201."""
        def done() -> bool:
            resp = self._transport.request("POST", path, params=params, retry=False,
                                           allow_status={201, 202})
            return resp.status_code == 201

        self._poller.wait_until(done, timeout, f"import into {path}")
        return {"status": "finished"}

    # ---------------------------------------------------------------------------- export

    def export_dataset(
        self,
        dest: str | os.PathLike[str],
        format: str,
        task_id: int | None = None,
        *,
        job_id: int | None = None,
        project_id: int | None = None,
        save_images: bool = False,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        watch: StatusCallback | None = None,
    ) -> Path:
        """Export a task, job or project (``POST .../dataset/export?format=&save_images=``),
        wait for it, and stream ``result_url`` to ``dest`` (written atomically). Returns
        ``dest``. Format names as in :meth:`annotation_formats` (``"CVAT for images 1.1"``,
        ``"CVAT for video 1.1"``)."""
        key, value = _one_of(task_id=task_id, job_id=job_id, project_id=project_id)
        res = {"task_id": "tasks", "job_id": "jobs", "project_id": "projects"}[key]
        self._ensure()
        deadline = self.wait_timeout if timeout is None else timeout
        dest_path = Path(dest)
        if not self.server_version.has_requests_api:
            return self._legacy_export(res, value, format, save_images, dest_path, progress,
                                       deadline)
        path = f"/api/{res}/{value}/dataset/export"
        params = {"format": format, "save_images": "true" if save_images else "false"}
        ends = self._clock() + deadline
        cycles = 3
        for cycle in range(cycles):
            rq_id = self._start_export(path, params, res, value, format, ends)
            status = self._poller.wait_for_request(rq_id, max(0.0, ends - self._clock()),
                                                   watch)
            url = status.get("result_url")
            if not url:
                raise CvatProtocolError("the finished export has no result_url", method="GET",
                                        path=f"/api/requests/{quote(rq_id, safe='')}",
                                        rq_id=rq_id)
            try:
                return self.download(url, dest_path, progress=progress)
            except (CvatNotFound, CvatBadRequest):
                # An identical export started meanwhile (same rq id) replaced the finished
                # one before we fetched it: export again, within the deadline.
                if cycle == cycles - 1 or self._clock() >= ends:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _start_export(self, path: str, params: Mapping[str, str], res: str, value: int,
                      format: str, ends: float) -> str:
        """POST the export; on 409 wait for the identical running export and ask again."""
        while True:
            # Repeating this POST cannot start a second export (CVAT keys exports by a
            # deterministic rq id), so it may be retried.
            resp = self._transport.request("POST", path, params=params, retry=True,
                                           allow_status={409})
            body = self._transport.json(resp)
            rq_id = body.get("rq_id") if isinstance(body, dict) else None
            if rq_id:
                return str(rq_id)
            if resp.status_code != 409:
                raise CvatProtocolError("the export answered no rq_id", status=resp.status_code,
                                        method="POST", path=path)
            # 409 "Export request is being processed" (a bare string, per
            # cvat/apps/engine/background.py; the schema's RqId body is not what is sent): an
            # identical export runs (ours, retried, or another client's). Wait for it, then
            # ask again so the file reflects the current annotations.
            remaining = ends - self._clock()
            if remaining <= 0:
                raise CvatConflict(
                    "an identical export is still running on the server", status=409,
                    method="POST", path=path, detail=describe_body(resp.content)[0] or None,
                )
            running = self._running_export(res, value, format)
            if running is None:
                self._sleep(min(self._poller.initial, remaining))
                continue
            with contextlib.suppress(CvatRequestFailed):
                self._poller.wait_for_request(running, remaining)

    def _running_export(self, res: str, rid: int, format: str) -> str | None:
        """The rq id of a queued/started export of this resource in this format, if any
        (``GET /api/requests?action=export&...``; recordings2/11_export.json seq 297)."""
        key = {"tasks": "task_id", "jobs": "job_id", "projects": "project_id"}[res]
        params = {"action": "export", "target": res[:-1], key: rid, "format": format}
        for item in iter_pages(self._transport, "/api/requests", params,
                               page_size=self.page_size):
            op = item.get("operation") or {}
            if (item.get("status") in ("queued", "started") and op.get(key) == rid
                    and op.get("target") == res[:-1] and op.get("format") == format
                    and str(op.get("type", "")).startswith("export")):
                return str(item["id"])
        return None

    def _legacy_export(self, res: str, rid: int, format: str, save_images: bool, dest: Path,
                       progress: ProgressCallback | None, timeout: float) -> Path:
        """Pre-2.16: ``GET .../{dataset|annotations}?format=`` until 201, then download."""
        sub = "dataset" if save_images else "annotations"
        path = f"/api/{res}/{rid}/{sub}"

        def ready() -> bool:
            resp = self._transport.request("GET", path, params={"format": format},
                                           allow_status={201, 202})
            return resp.status_code == 201

        self._poller.wait_until(ready, timeout, f"export of {path}")
        return self.download(path, dest, progress=progress,
                             params={"format": format, "action": "download"})

    def download(
        self,
        url: str,
        dest: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Path:
        """Stream a server file (e.g. an export's ``result_url``) to ``dest`` atomically
        (temporary file in the same folder, then rename). A connection lost mid-way restarts
        the download, a bounded number of times."""
        self._ensure()
        dest_path = Path(dest)
        dest_path.parent.mkdir(parents=True, exist_ok=True)
        policy = self._transport.retry
        attempt = 0
        while True:
            attempt += 1
            try:
                self._download_once(url, dest_path, progress, params)
                return dest_path
            except (CvatConnectionError, CvatTimeout, requests.exceptions.RequestException
                    ) as exc:
                if attempt > policy.retries:
                    if isinstance(exc, CvatError):
                        raise
                    raise CvatConnectionError("download interrupted", method="GET",
                                              path=url, detail=str(exc)) from exc
                self._sleep(policy.delay(attempt))

    def _download_once(self, url: str, dest: Path, progress: ProgressCallback | None,
                       params: Mapping[str, Any] | None) -> None:
        resp = self._transport.request("GET", url, params=params, stream=True, long=True,
                                       headers={"Accept": "*/*"})
        with resp:
            total: int | None = None
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and not resp.headers.get("Content-Encoding"):
                total = int(length)
            prog = Progress(progress, total)
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    for chunk in resp.iter_content(_DOWNLOAD_CHUNK):
                        out.write(chunk)
                        prog.advance(len(chunk))
                    out.flush()
                    os.fsync(out.fileno())
                if total is not None and prog.done != total:
                    raise CvatConnectionError(
                        f"download truncated ({prog.done} of {total} bytes)", method="GET",
                        path=url,
                    )
                os.replace(tmp, dest)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

    # ---------------------------------------------------------------------------- storages

    def list_cloud_storages(self, **filters: Any) -> list[JsonDict]:
        """``GET /api/cloudstorages`` (every page)."""
        return self._list("/api/cloudstorages", filters)

    def get_cloud_storage(self, storage_id: int) -> JsonDict:
        return self._get(f"/api/cloudstorages/{_id(storage_id, 'storage_id')}")

    # ---------------------------------------------------------------------------- webhooks

    def create_webhook(self, target_url: str, events: Iterable[str], *, type: str,
                       project_id: int | None = None, secret: str | None = None,
                       description: str | None = None, enable_ssl: bool | None = None
                       ) -> JsonDict:
        """``POST /api/webhooks`` (WebhookWriteRequest): a ``project`` webhook (``project_id``)
        or an ``organization`` one (the client's organization); CVAT signs deliveries with
        ``secret`` (``X-Signature-256``)."""
        if type not in ("project", "organization"):
            raise ValueError("type must be project or organization")
        body: JsonDict = {"target_url": target_url, "type": type, "events": sorted(events),
                          "content_type": "application/json"}
        for key, value in (("project_id", project_id), ("secret", secret),
                           ("description", description), ("enable_ssl", enable_ssl)):
            if value is not None:
                body[key] = value
        return self._send("POST", "/api/webhooks", json=body)

    def get_webhook(self, webhook_id: int) -> JsonDict:
        return self._get(f"/api/webhooks/{_id(webhook_id, 'webhook_id')}")

    def list_webhooks(self, **filters: Any) -> list[JsonDict]:
        """``GET /api/webhooks`` (every page; filters: type, project_id, target_url, owner)."""
        return self._list("/api/webhooks", filters)

    def delete_webhook(self, webhook_id: int, missing_ok: bool = False) -> bool:
        return self._delete(f"/api/webhooks/{_id(webhook_id, 'webhook_id')}", missing_ok)

    def ping_webhook(self, webhook_id: int) -> JsonDict:
        """``POST /api/webhooks/{id}/ping``: CVAT sends a ``ping`` event now and answers with the
        delivery (``status_code`` is what the target answered; 502 if unreachable)."""
        return self._send("POST", f"/api/webhooks/{_id(webhook_id, 'webhook_id')}/ping")

    # ---------------------------------------------------------------------------- misc

    def exists(self, kind: str, object_id: int) -> bool:
        """Whether ``/api/{kind}/{id}`` exists (kind: projects, tasks, jobs)."""
        if kind not in ("projects", "tasks", "jobs"):
            raise ValueError("kind must be projects, tasks or jobs")
        try:
            self._get(f"/api/{kind}/{_id(object_id, 'object_id')}")
        except CvatNotFound:
            return False
        return True
