"""A recorded-response fake of a CVAT 2.73 server, plugged into ``requests`` as an adapter.

Why: unit tests must see every byte the client sends (method, path, query, headers, body,
timeouts) without sockets or sleeps, and answer with what the real server answered
(``shared/cvat/recordings*``). :class:`FakeAdapter` captures requests and asks a handler;
:class:`FakeCvat` is a small stateful handler whose answers are shaped like the recordings
(pagination envelopes with absolute ``next`` links on an internal host, rq ids, TUS headers,
error bodies), with scriptable faults.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.response import HTTPResponse
from werkzeug.datastructures import MultiDict
from werkzeug.formparser import parse_form_data

SHARED = Path(__file__).resolve().parents[1] / "data" / "cvat"
INTERNAL = "http://127.0.0.1:8080"  # the host a CVAT behind a proxy puts into its own URLs
JSON_CT = "application/vnd.cvat+json"
HTML_404 = (
    "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n"
    "<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>"
    "\n</body>\n</html>\n"
)


def recordings2() -> list[dict[str, Any]]:
    with open(SHARED / "recordings2" / "all.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def recording(name: str) -> list[dict[str, Any]]:
    """Exchanges of one flow file, e.g. ``recordings/03_create_image_task.json``."""
    with open(SHARED / name, encoding="utf-8") as fh:
        return json.load(fh)["exchanges"]


# -------------------------------------------------------------------------------- capture


@dataclass
class Call:
    method: str
    url: str
    path: str
    raw_query: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    timeout: Any

    def header(self, name: str) -> str | None:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> tuple[MultiDict, MultiDict]:
        """(fields, files) of a multipart body."""
        ctype = self.header("Content-Type") or ""
        environ = {
            "REQUEST_METHOD": "POST",
            "CONTENT_TYPE": ctype,
            "CONTENT_LENGTH": str(len(self.body)),
            "wsgi.input": io.BytesIO(self.body),
        }
        _, form, files = parse_form_data(environ)
        return form, files

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if self.json is not None:
            data = json.dumps(self.json, separators=(",", ":")).encode()
            headers.setdefault("Content-Type", JSON_CT)
        elif isinstance(self.body, str):
            data = self.body.encode()
        else:
            data = self.body or b""
        headers.setdefault("Content-Length", str(len(data)))
        return data, headers


Handler = Callable[[Call], "Reply | BaseException"]


class FakeAdapter(HTTPAdapter):
    """Answers requests with ``handler(call)``; a returned exception is raised instead."""

    def __init__(self, handler: Handler, validator: Callable[[Call], None] | None = None) -> None:
        super().__init__()
        self.handler = handler
        self.validator = validator
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        body = request.body
        if body is None:
            raw_body = b""
        elif isinstance(body, bytes):
            raw_body = body
        elif isinstance(body, str):
            raw_body = body.encode()
        else:  # a file-like body: read it the way http.client does (in blocks)
            chunks = []
            while True:
                chunk = body.read(8192)
                if not chunk:
                    break
                chunks.append(chunk)
            raw_body = b"".join(chunks)
        parts = urlsplit(request.url or "")
        call = Call(
            method=request.method or "",
            url=request.url or "",
            path=parts.path,
            raw_query=parts.query,
            query=parse_qsl(parts.query, keep_blank_values=True),
            headers=dict(request.headers),
            body=raw_body,
            timeout=timeout,
        )
        with self._lock:
            self.calls.append(call)
        if self.validator is not None:
            self.validator(call)
        result = self.handler(call)
        if isinstance(result, BaseException):
            raise result
        data, headers = result.encode()
        raw = HTTPResponse(
            body=io.BytesIO(data), headers=headers, status=result.status,
            preload_content=False, decode_content=False, reason="",
        )
        return self.build_response(request, raw)


# -------------------------------------------------------------------------------- faults


@dataclass
class Fault:
    method: str | None
    path: str
    times: int
    status: int | None = None
    exc: Callable[[], BaseException] | None = None
    reply: Reply | None = None

    def matches(self, call: Call) -> bool:
        if self.times <= 0:
            return False
        if self.method and self.method != call.method:
            return False
        return re.search(self.path, call.path) is not None


def connection_dropped() -> BaseException:
    return requests.exceptions.ConnectionError(
        "('Connection aborted.', RemoteDisconnected('Remote end closed connection without "
        "response'))"
    )


def connection_refused() -> BaseException:
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111]")  # type: ignore[arg-type]
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


def read_timeout() -> BaseException:
    return requests.exceptions.ReadTimeout("Read timed out. (read timeout=60)")


# -------------------------------------------------------------------------------- the fake


def _user(uid: int, username: str) -> dict[str, Any]:
    return {
        "url": f"{INTERNAL}/api/users/{uid}", "id": uid, "username": username,
        "first_name": "", "last_name": "", "email": f"{username}@example.com",
        "groups": ["admin" if uid == 1 else "user"], "is_staff": uid == 1,
        "is_superuser": uid == 1, "is_active": True,
        "last_login": "2026-11-25T15:11:07.523656Z", "date_joined": "2026-11-25T14:45:49Z",
        "has_analytics_access": uid == 1,
    }


def _basic(u: dict[str, Any]) -> dict[str, Any]:
    return {k: u[k] for k in ("url", "id", "username", "first_name", "last_name")}


def _rq(rq_id: str, status: str, op_type: str, target: str, op: dict[str, Any] | None = None,
        **extra: Any) -> dict[str, Any]:
    body = {
        "status": status, "message": "", "id": rq_id,
        "operation": {"type": op_type, "target": target, "project_id": None, "task_id": None,
                      "job_id": None, "org_id": None, "format": None, "lightweight": None,
                      **(op or {})},
        "progress": 0.0, "created_date": "2026-11-25T15:11:17.035537Z",
        "started_date": None, "finished_date": None, "expiry_date": None,
        "owner": {"id": 1, "username": "admin"}, "result_url": None, "result_id": None,
    }
    body.update(extra)
    return body


@dataclass
class _Request:
    id: str
    op_type: str
    target: str
    steps: list[str]  # statuses still to show on the next polls
    final: dict[str, Any] = field(default_factory=dict)
    polls: int = 0
    operation: dict[str, Any] = field(default_factory=dict)
    last: str = "queued"


class FakeCvat:
    """A small in-memory CVAT 2.73 answering like the recordings.

    ``users``: {username: password}; ``tokens``: {token: (scheme, username)}; every request
    status goes queued -> started -> finished (configurable per test); ``faults`` inject
    failures before routing.
    """

    KEY = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self, version: str = "2.73.0") -> None:
        self.version = version
        self.users: dict[str, str] = {"admin": "secret", "alice": "alicepw", "bob": "bobpw"}
        self.user_ids = {"admin": 1, "alice": 2, "bob": 3}
        self.tokens: dict[str, tuple[str, str]] = {f"Token {self.KEY}": ("Token", "admin")}
        self.faults: list[Fault] = []
        self.projects: dict[int, dict[str, Any]] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.jobs: dict[int, dict[str, Any]] = {}
        self.labels: dict[int, dict[str, Any]] = {}
        self.annotations: dict[int, dict[str, Any]] = {}
        self.requests: dict[str, _Request] = {}
        self.task_files: dict[int, list[str]] = {}
        self.data_fields: dict[int, dict[str, Any]] = {}
        self.tus: dict[str, dict[str, Any]] = {}
        self.imports: dict[int, bytes] = {}
        self.next_id = 100
        self.rq_steps = ["queued", "started", "finished"]
        self.fail_next: dict[str, str] = {}  # rq id prefix -> failure message
        self.require_auth = True
        self.lock = threading.Lock()
        self.adapter = FakeAdapter(self.handle)

    # ------------------------------------------------------------------ helpers

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def fault(self, path: str, *, method: str | None = None, times: int = 1,
              status: int | None = None, exc: Callable[[], BaseException] | None = None,
              reply: Reply | None = None) -> None:
        self.faults.append(Fault(method, path, times, status, exc, reply))

    @property
    def calls(self) -> list[Call]:
        return self.adapter.calls

    def _page(self, call: Call, items: list[dict[str, Any]]) -> Reply:
        params = dict(call.query)
        try:
            size = int(params.get("page_size") or 10) or 10
            page = int(params.get("page") or 1)
        except ValueError:
            return Reply(404, json={"detail": "Invalid page."})
        pages = max(1, -(-len(items) // size))
        if page > pages or page < 1:
            return Reply(404, json={"detail": "Invalid page."})
        start = (page - 1) * size
        rest = [(k, v) for k, v in call.query if k not in ("page",)]

        def link(p: int) -> str:
            q = ([("page", str(p))] if p > 1 else []) + rest
            return f"{INTERNAL}{call.path}?{urlencode(q)}"

        return Reply(json={
            "count": len(items),
            "next": link(page + 1) if page < pages else None,
            "previous": link(page - 1) if page > 1 else None,
            "results": items[start:start + size],
        })

    def _user_of(self, call: Call) -> str | None:
        auth = call.header("Authorization")
        if auth and auth in self.tokens:
            return self.tokens[auth][1]
        return None

    # ------------------------------------------------------------------ dispatch

    def handle(self, call: Call) -> Reply | BaseException:
        with self.lock:
            for f in self.faults:
                if f.matches(call):
                    f.times -= 1
                    if f.exc is not None:
                        return f.exc()
                    if f.reply is not None:
                        return f.reply
                    return Reply(f.status or 500, body="<html><head><title>Server Error "
                                 f"({f.status})</title></head></html>",
                                 headers={"Content-Type": "text/html; charset=utf-8"})
            return self._route(call)

    def _route(self, call: Call) -> Reply:
        m, p = call.method, call.path
        if p == "/api/server/about" and m == "GET":
            return Reply(json={"name": "Computer Vision Annotation Tool", "version": self.version,
                               "description": "", "logo_url": f"{INTERNAL}/static/logo.svg",
                               "subtitle": "Open Data Annotation Platform"})
        if p == "/api/auth/login" and m == "POST":
            return self._login(call)
        user = self._user_of(call)
        if self.require_auth and user is None:
            detail = ("Invalid token." if call.header("Authorization")
                      else "Authentication credentials were not provided.")
            return Reply(401, json={"detail": detail}, headers={"WWW-Authenticate": "Token"})
        routes: list[tuple[str, str, Callable[..., Reply]]] = [
            ("GET", r"/api/users/self", lambda: Reply(json=_user(self.user_ids[user or "admin"],
                                                                 user or "admin"))),
            ("POST", r"/api/auth/logout", self._logout),
            ("GET", r"/api/users", self._users),
            ("GET", r"/api/users/(\d+)", self._get_user),
            ("GET", r"/api/server/annotation/formats", lambda: Reply(json={
                "importers": [{"name": "CVAT 1.1", "ext": "XML, ZIP", "version": "1.1",
                               "enabled": True, "dimension": "2d"}],
                "exporters": [{"name": "CVAT for images 1.1", "ext": "ZIP", "version": "1.1",
                               "enabled": True, "dimension": "2d"}]})),
            ("POST", r"/api/projects", self._create_project),
            ("GET", r"/api/projects", self._list_projects),
            ("GET", r"/api/projects/(\d+)", lambda i: self._get(self.projects, i, "Project")),
            ("PATCH", r"/api/projects/(\d+)", self._patch_project),
            ("DELETE", r"/api/projects/(\d+)", self._delete_project),
            ("GET", r"/api/labels", self._list_labels),
            ("POST", r"/api/tasks", self._create_task),
            ("GET", r"/api/tasks", self._list_tasks),
            ("GET", r"/api/tasks/(\d+)", lambda i: self._get(self.tasks, i, "Task")),
            ("PATCH", r"/api/tasks/(\d+)", self._patch_task),
            ("DELETE", r"/api/tasks/(\d+)", self._delete_task),
            ("POST", r"/api/tasks/(\d+)/data/?", self._data),
            ("HEAD", r"/api/tasks/(\d+)/(?:data|annotations)/([0-9a-f_\-]+)", self._tus_head),
            ("PATCH", r"/api/tasks/(\d+)/(?:data|annotations)/([0-9a-f_\-]+)", self._tus_patch),
            ("GET", r"/api/tasks/(\d+)/data/meta", self._meta),
            ("GET", r"/api/tasks/(\d+)/status", self._legacy_status),
            ("GET", r"/api/jobs/(\d+)/data/meta", lambda jid: self._meta(
                call, self._get(self.jobs, jid, "Job").json["task_id"])),
            ("GET", r"/api/jobs", self._list_jobs),
            ("GET", r"/api/jobs/(\d+)", lambda i: self._get(self.jobs, i, "Job")),
            ("PATCH", r"/api/jobs/(\d+)", self._patch_job),
            ("GET", r"/api/(tasks|jobs)/(\d+)/annotations/?", self._get_annotations),
            ("PUT", r"/api/(tasks|jobs)/(\d+)/annotations/?", self._put_annotations),
            ("PATCH", r"/api/(tasks|jobs)/(\d+)/annotations/?", self._patch_annotations),
            ("DELETE", r"/api/(tasks|jobs)/(\d+)/annotations/?", self._delete_annotations),
            ("POST", r"/api/(tasks|jobs)/(\d+)/annotations/?", self._import),
            ("POST", r"/api/(tasks|jobs|projects)/(\d+)/dataset/export", self._export),
            ("GET", r"/api/(tasks|jobs|projects)/(\d+)/dataset/download", self._download),
            ("GET", r"/api/requests/([^/]+)", self._get_request),
            ("GET", r"/api/requests", self._list_requests),
            ("GET", r"/api/cloudstorages", lambda: self._page(call, [
                {"id": 1, "display_name": "bucket", "provider_type": "AWS_S3_BUCKET",
                 "resource": "my-bucket"}])),
        ]
        for method, pattern, fn in routes:
            mm = re.fullmatch(pattern, p)
            if mm and method == m:
                args = [unquote(g) if not g.isdigit() else int(g) for g in mm.groups()]
                try:
                    return fn(call, *args) if _wants_call(fn) else fn(*args)
                except _Http as exc:
                    return exc.reply
        if any(re.fullmatch(pat, p) for _, pat, _ in routes):
            return Reply(405, json={"detail": f'Method "{m}" not allowed.'})
        return Reply(404, body=HTML_404, headers={"Content-Type": "text/html; charset=utf-8"})

    # ------------------------------------------------------------------ auth

    def _login(self, call: Call) -> Reply:
        try:
            body = call.json()
        except ValueError:
            return Reply(400, json={"detail": "JSON parse error"})
        name = body.get("username")
        if not name and body.get("email"):
            name = next((u for u in self.users if f"{u}@example.com" == body["email"]), None)
        if not name and not body.get("email"):
            return Reply(400, json=['Must include either "username" or "email" and "password".'])
        if name not in self.users or self.users[name] != body.get("password"):
            return Reply(400, json={"non_field_errors": [
                "Unable to log in with provided credentials."]})
        key = self.KEY if name == "admin" else (name.encode().hex() * 40)[:40]
        self.tokens[f"Token {key}"] = ("Token", name)
        return Reply(json={"key": key}, headers={
            "Set-Cookie": "csrftoken=abc; Path=/; SameSite=Lax"})

    def _logout(self, call: Call) -> Reply:
        self.tokens.pop(call.header("Authorization") or "", None)
        return Reply(json={"detail": "Successfully logged out."})

    def _users(self, call: Call) -> Reply:
        search = (call.params.get("search") or "").lower()
        items = [_user(self.user_ids[u], u) for u in sorted(self.users, key=self.user_ids.get)]
        if search:
            items = [u for u in items if search in u["username"].lower()]
        return self._page(call, items)

    def _get_user(self, uid: int) -> Reply:
        for name, i in self.user_ids.items():
            if i == uid:
                return Reply(json=_user(i, name))
        raise _Http(Reply(404, json={"detail": "No User matches the given query."}))

    # ------------------------------------------------------------------ projects / tasks

    def _get(self, table: dict[int, dict[str, Any]], oid: int, what: str) -> Reply:
        if oid not in table:
            return Reply(404, json={"detail": f"No {what} matches the given query."})
        return Reply(json=table[oid])

    def _make_labels(self, labels: list[dict[str, Any]], **owner: Any) -> None:
        names = [lb.get("name") for lb in labels]
        if len(set(names)) != len(names):
            raise _Http(Reply(400, json=["All label names must be unique"]))
        for lb in labels:
            lid = self._id()
            attrs = []
            for a in lb.get("attributes", []):
                attrs.append({"id": self._id(), "name": a["name"], "mutable": a["mutable"],
                              "input_type": a["input_type"],
                              "default_value": a.get("default_value", ""),
                              "values": a.get("values", [])})
            self.labels[lid] = {"id": lid, "name": lb["name"], "color": lb.get("color", "#000000"),
                                "attributes": attrs, "type": lb.get("type", "any"),
                                "sublabels": [], "project_id": owner.get("project_id"),
                                "task_id": owner.get("task_id"), "parent_id": None,
                                "has_parent": False}

    def _create_project(self, call: Call) -> Reply:
        body = call.json()
        if not body.get("name"):
            return Reply(400, json={"name": ["This field is required."]})
        pid = self._id()
        self._make_labels(body.get("labels", []), project_id=pid)
        self.projects[pid] = {
            "url": f"{INTERNAL}/api/projects/{pid}", "id": pid, "name": body["name"],
            "owner": _basic(_user(1, "admin")), "assignee": None, "guide_id": None,
            "bug_tracker": body.get("bug_tracker", ""), "created_date": "2026-11-25T15:11:14Z",
            "updated_date": "2026-11-25T15:11:14Z", "status": "annotation", "dimension": None,
            "organization": None, "organization_id": None, "target_storage": None,
            "source_storage": None,
            "tasks": {"count": 0, "url": f"{INTERNAL}/api/tasks?project_id={pid}"},
            "labels": {"url": f"{INTERNAL}/api/labels?project_id={pid}"},
            "assignee_updated_date": None, "task_subsets": [],
        }
        return Reply(201, json=self.projects[pid],
                     headers={"Location": f"{INTERNAL}/api/projects/{pid}"})

    def _filtered(self, call: Call, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        params = call.params
        if "name" in params:
            items = [i for i in items if i["name"] == params["name"]]
        if params.get("search"):
            s = params["search"].lower()
            items = [i for i in items if s in i["name"].lower()]
        for key in ("project_id", "task_id"):
            if key in params:
                items = [i for i in items if str(i.get(key)) == params[key]]
        return sorted(items, key=lambda i: -i["id"])

    def _list_projects(self, call: Call) -> Reply:
        return self._page(call, self._filtered(call, list(self.projects.values())))

    def _patch_project(self, call: Call, pid: int) -> Reply:
        if pid not in self.projects:
            return Reply(404, json={"detail": "No Project matches the given query."})
        body = call.json()
        if "labels" in body:
            self._make_labels([lb for lb in body.pop("labels") if "id" not in lb], project_id=pid)
        self.projects[pid].update(body)
        return Reply(json=self.projects[pid])

    def _delete_project(self, call: Call, pid: int) -> Reply:
        if self.projects.pop(pid, None) is None:
            return Reply(404, json={"detail": "No Project matches the given query."})
        return Reply(204, body=b"")

    def _list_labels(self, call: Call) -> Reply:
        params = call.params
        items = list(self.labels.values())
        if "project_id" in params:
            items = [lb for lb in items if str(lb["project_id"]) == params["project_id"]]
        elif "task_id" in params:
            tid = int(params["task_id"])
            pid = self.tasks.get(tid, {}).get("project_id")
            items = [lb for lb in items if lb["task_id"] == tid
                     or (pid and lb["project_id"] == pid)]
        elif "job_id" in params:
            tid = self.jobs.get(int(params["job_id"]), {}).get("task_id")
            items = [lb for lb in items if lb["task_id"] == tid]
        out = [{k: v for k, v in lb.items() if k != "task_id"} for lb in items]
        return self._page(call, out)

    def _create_task(self, call: Call) -> Reply:
        body = call.json()
        if not body.get("name"):
            return Reply(400, json={"name": ["This field is required."]})
        tid = self._id()
        self._make_labels(body.get("labels", []), task_id=tid)
        pid = body.get("project_id")
        self.tasks[tid] = {
            "url": f"{INTERNAL}/api/tasks/{tid}", "id": tid, "name": body["name"],
            "project_id": pid, "project_name": self.projects.get(pid or -1, {}).get("name"),
            "owner": _basic(_user(1, "admin")), "assignee": None,
            "bug_tracker": body.get("bug_tracker", ""),
            "created_date": "2026-11-25T14:53:54Z", "updated_date": "2026-11-25T14:53:54Z",
            "overlap": body.get("overlap"), "segment_size": body.get("segment_size", 0),
            "status": "annotation", "guide_id": None, "data": None, "dimension": "", "mode": "",
            "media_type": "", "subset": body.get("subset", ""), "organization_id": None,
            "organization": None, "target_storage": None, "source_storage": None,
            "jobs": {"count": 0, "completed": 0, "validation": 0,
                     "url": f"{INTERNAL}/api/jobs?task_id={tid}"},
            "labels": {"url": f"{INTERNAL}/api/labels?task_id={tid}"},
            "assignee_updated_date": None, "validation_mode": None, "consensus_enabled": False,
        }
        return Reply(201, json=self.tasks[tid],
                     headers={"Location": f"{INTERNAL}/api/tasks/{tid}"})

    def _list_tasks(self, call: Call) -> Reply:
        return self._page(call, self._filtered(call, list(self.tasks.values())))

    def _patch_task(self, call: Call, tid: int) -> Reply:
        if tid not in self.tasks:
            return Reply(404, json={"detail": "No Task matches the given query."})
        body = call.json()
        if "assignee_id" in body:
            aid = body.pop("assignee_id")
            self.tasks[tid]["assignee"] = None if aid is None else {"id": aid}
        self.tasks[tid].update(body)
        return Reply(json=self.tasks[tid])

    def _delete_task(self, call: Call, tid: int) -> Reply:
        if self.tasks.pop(tid, None) is None:
            return Reply(404, json={"detail": "No Task matches the given query."})
        return Reply(204, body=b"")

    # ------------------------------------------------------------------ data upload

    def _data(self, call: Call, tid: int) -> Reply:
        if tid not in self.tasks:
            return Reply(404, json={"detail": "No Task matches the given query."})
        if self.tasks[tid]["data"] is not None:
            return Reply(400, json=["Adding more data is not supported"])
        files = self.task_files.setdefault(tid, [])
        if call.header("Upload-Length") is not None:
            return self._tus_create(call, tid, "data")
        if call.header("Upload-Start") is not None:
            return Reply(202, body=b"")
        ctype = call.header("Content-Type") or ""
        if call.header("Upload-Multiple") is not None:
            _, up = call.form()
            files.extend(f.filename for _, f in sorted(up.items(multi=True)))
            return Reply(200, body=b"")
        if ctype.startswith("multipart/form-data"):
            form, up = call.form()
            files.extend(f.filename for _, f in up.items(multi=True))
            fields: dict[str, Any] = dict(form.items())
        elif ctype.startswith("application/json"):
            fields = call.json()
        elif call.body:
            return Reply(415, json={"detail": f'Unsupported media type "{ctype}" in request.'})
        else:
            fields = {}
        if "image_quality" not in fields and not fields.get("server_files"):
            return Reply(400, json={"image_quality": ["This field is required."]})
        self.data_fields[tid] = fields
        files.extend(fields.get("server_files") or [])
        rq_id = f"action=create&target=task&target_id={tid}"
        self._start_request(rq_id, "create:task", "task", task_id=tid)
        self.tasks[tid]["data"] = tid
        self.tasks[tid]["size"] = len(files)
        self._make_jobs(tid, len(files))
        return Reply(202, json={"rq_id": rq_id})

    def _make_jobs(self, tid: int, size: int) -> None:
        seg = self.tasks[tid]["segment_size"] or size or 1
        for start in range(0, max(size, 1), seg):
            jid = self._id()
            self.jobs[jid] = {
                "url": f"{INTERNAL}/api/jobs/{jid}", "id": jid, "task_id": tid,
                "assignee": None, "stage": "annotation", "state": "new",
                "start_frame": start, "stop_frame": min(size, start + seg) - 1,
                "updated_date": "2026-11-25T15:11:17.094478Z", "type": "annotation",
            }

    def _tus_create(self, call: Call, tid: int, kind: str) -> Reply:
        meta = call.header("Upload-Metadata") or ""
        parts = dict(p.split(" ", 1) for p in meta.split(",") if " " in p)
        if "filename" not in parts:
            return Reply(400, json="Metadata is expected to contain 'filename' key")
        name = base64.b64decode(parts["filename"]).decode()
        fid = f"1_{len(self.tus):08x}-0000-0000-0000-000000000000"
        self.tus[fid] = {"name": name, "length": int(call.header("Upload-Length") or 0),
                         "data": bytearray(), "task": tid, "kind": kind}
        stored = name if kind == "data" else fid
        return Reply(201, body=b"", headers={
            "Tus-Resumable": "1.0.0",
            "Location": f"{INTERNAL}/api/tasks/{tid}/{kind}/{fid}",
            "Upload-Filename": stored,
        })

    def _tus_head(self, call: Call, tid: int, fid: str) -> Reply:
        up = self.tus.get(fid)
        if up is None or len(up["data"]) >= up["length"]:
            return Reply(404, body=b"", headers={"Tus-Resumable": "1.0.0"})
        return Reply(200, body=b"", headers={"Upload-Offset": str(len(up["data"])),
                                             "Upload-Length": str(up["length"]),
                                             "Tus-Resumable": "1.0.0"})

    def _tus_patch(self, call: Call, tid: int, fid: str) -> Reply:
        up = self.tus.get(fid)
        if up is None:
            return Reply(404, body=b"")
        if call.header("Content-Type") != "application/offset+octet-stream":
            return Reply(415, body=b"")
        if int(call.header("Upload-Offset") or -1) != len(up["data"]):
            return Reply(409, body=b"", headers={"Tus-Resumable": "1.0.0"})
        up["data"].extend(call.body)
        if len(up["data"]) >= up["length"] and up["kind"] == "data":
            self.task_files.setdefault(tid, []).append(up["name"])
        return Reply(204, body=b"", headers={"Upload-Offset": str(len(up["data"])),
                                             "Tus-Resumable": "1.0.0"})

    def _meta(self, call: Call, tid: int) -> Reply:
        names = self.task_files.get(tid, [])
        return Reply(json={
            "chunk_size": 72, "size": len(names), "image_quality": 70, "start_frame": 0,
            "stop_frame": max(0, len(names) - 1), "frame_filter": "",
            "frames": [{"width": 320, "height": 240, "name": n, "related_files": 0,
                        "has_related_context": False} for n in names],
            "deleted_frames": [], "included_frames": None, "storage": "local",
            "cloud_storage_id": None,
        })

    def _legacy_status(self, call: Call, tid: int) -> Reply:
        rq = self.requests.get(f"action=create&target=task&target_id={tid}")
        if rq is None:
            return Reply(json={"state": "Failed", "message": "unknown"})
        status = self._advance(rq)
        return Reply(json={"state": status["status"].capitalize(),
                           "message": status["message"], "progress": 0.0})

    # ------------------------------------------------------------------ jobs

    def _list_jobs(self, call: Call) -> Reply:
        return self._page(call, self._filtered_jobs(call))

    def _filtered_jobs(self, call: Call) -> list[dict[str, Any]]:
        items = list(self.jobs.values())
        if "task_id" in call.params:
            items = [j for j in items if str(j["task_id"]) == call.params["task_id"]]
        return sorted(items, key=lambda j: -j["id"])

    def _patch_job(self, call: Call, jid: int) -> Reply:
        if jid not in self.jobs:
            return Reply(404, json={"detail": "No Job matches the given query."})
        body = call.json()
        if "stage" in body and body["stage"] not in ("annotation", "validation", "acceptance"):
            return Reply(400, json={"stage": [f'"{body["stage"]}" is not a valid choice.']})
        if "assignee" in body:
            a = body.pop("assignee")
            self.jobs[jid]["assignee"] = None if a is None else {"id": a}
        self.jobs[jid].update(body)
        return Reply(json=self.jobs[jid])

    # ------------------------------------------------------------------ annotations

    def _ann_key(self, res: str, oid: int) -> int:
        table = self.tasks if res == "tasks" else self.jobs
        if oid not in table:
            what = "Task" if res == "tasks" else "Job"
            raise _Http(Reply(404, json={"detail": f"No {what} matches the given query."}))
        return oid if res == "tasks" else self.jobs[oid]["task_id"]

    def _get_annotations(self, call: Call, res: str, oid: int) -> Reply:
        if "format" in call.params:
            return Reply(410, body="This endpoint is no longer supported.\n",
                         headers={"Content-Type": "text/html; charset=utf-8"})
        key = self._ann_key(res, oid)
        return Reply(json=self.annotations.get(
            key, {"version": 0, "tags": [], "shapes": [], "tracks": [], "intervals": []}))

    def _put_annotations(self, call: Call, res: str, oid: int) -> Reply:
        key = self._ann_key(res, oid)
        data = call.json()
        for kind in ("tags", "shapes", "tracks"):
            for obj in data.get(kind, []):
                obj["id"] = self._id()
        data.setdefault("intervals", [])
        data["version"] = 0
        self.annotations[key] = data
        return Reply(json=data)

    def _patch_annotations(self, call: Call, res: str, oid: int) -> Reply:
        key = self._ann_key(res, oid)
        action = call.params.get("action")
        if action not in ("create", "update", "delete"):
            return Reply(400, json=["Please specify a correct 'action' for the request"])
        data = call.json()
        current = self.annotations.setdefault(
            key, {"version": 0, "tags": [], "shapes": [], "tracks": [], "intervals": []})
        for kind in ("tags", "shapes", "tracks"):
            for obj in data.get(kind, []):
                if action == "create":
                    obj["id"] = self._id()
                    current[kind].append(obj)
                else:
                    current[kind] = [o for o in current[kind] if o["id"] != obj.get("id")]
                    if action == "update":
                        current[kind].append(obj)
        return Reply(json={"version": 0, "tags": data.get("tags", []),
                           "shapes": data.get("shapes", []), "tracks": data.get("tracks", []),
                           "intervals": []})

    def _delete_annotations(self, call: Call, res: str, oid: int) -> Reply:
        self.annotations.pop(self._ann_key(res, oid), None)
        return Reply(204, body=b"")

    def _import(self, call: Call, res: str, oid: int) -> Reply:
        self._ann_key(res, oid)
        if call.header("Upload-Length") is not None:
            return self._tus_create(call, oid, "annotations")
        fmt = call.params.get("format")
        if call.header("Upload-Start") is not None:
            return Reply(202, body=b"")
        if fmt != "CVAT 1.1":
            return Reply(400, json=[f"Unknown input format '{fmt}'"])
        if call.header("Upload-Finish") is not None:
            fid = call.params.get("filename")
            if fid not in self.tus:
                return Reply(400, json=["No such file were uploaded"])
            content = bytes(self.tus[fid]["data"])
        else:
            _, files = call.form()
            if "annotation_file" not in files:
                return Reply(400, json={"annotation_file": ["No file was submitted."]})
            content = files["annotation_file"].read()
        self.imports[oid] = content
        rq_id = f"action=import&target={res[:-1]}&target_id={oid}&subresource=annotations"
        self._start_request(rq_id, "import:annotations", res[:-1])
        return Reply(202, json={"rq_id": rq_id})

    # ------------------------------------------------------------------ export

    def _export(self, call: Call, res: str, oid: int) -> Reply:
        table = {"tasks": self.tasks, "jobs": self.jobs, "projects": self.projects}[res]
        if oid not in table:
            return Reply(404, json={"detail": f"No {res[:-1].capitalize()} matches the given "
                                              "query."})
        fmt = call.params.get("format")
        if fmt not in ("CVAT for images 1.1", "CVAT for video 1.1"):
            return Reply(400, json=["Unknown format specified for the request"])
        sub = "dataset" if call.params.get("save_images") == "true" else "annotations"
        fmt_id = fmt.replace(" ", "_").replace(".", "~")
        rq_id = (f"action=export&target={res[:-1]}&target_id={oid}&user_id=1&format={fmt_id}"
                 f"&subresource={sub}")
        existing = self.requests.get(rq_id)
        if existing is not None and existing.last not in ("finished", "failed"):
            # cvat/apps/engine/background.py (_handle_rq_job_v2): a bare string, no rq id
            return Reply(409, json="Export request is being processed")
        url = f"{INTERNAL}/api/{res}/{oid}/dataset/download?rq_id={quote(rq_id, safe='')}"
        self._start_request(rq_id, f"export:{sub}", res[:-1],
                            operation={f"{res[:-1]}_id": oid, "format": fmt}, result_url=url)
        return Reply(202, json={"rq_id": rq_id})

    def export_bytes(self) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("annotations.xml", "<?xml version=\"1.0\"?><annotations/>")
        return buf.getvalue()

    def _download(self, call: Call, res: str, oid: int) -> Reply:
        rq = self.requests.get(call.params.get("rq_id", ""))
        if rq is None:
            return Reply(404, json={"detail": "Unknown request"})
        data = self.export_bytes()
        return Reply(200, body=data, headers={
            "Content-Type": "application/zip",
            "Content-Disposition": 'attachment; filename="task.zip"'})

    # ------------------------------------------------------------------ requests

    def _start_request(self, rq_id: str, op: str, target: str,
                       operation: dict[str, Any] | None = None, **final: Any) -> None:
        steps = list(self.rq_steps)
        for prefix, message in list(self.fail_next.items()):
            if rq_id.startswith(prefix):
                steps = [*steps[:-1], "failed"]
                final["message"] = message
                del self.fail_next[prefix]
        self.requests[rq_id] = _Request(rq_id, op, target, steps, final,
                                        operation=operation or {})

    def _advance(self, rq: _Request) -> dict[str, Any]:
        rq.polls += 1
        status = rq.steps.pop(0) if len(rq.steps) > 1 else rq.steps[0]
        rq.last = status
        return self._status(rq)

    def _status(self, rq: _Request) -> dict[str, Any]:
        status = rq.last
        extra = dict(rq.final) if status in ("finished", "failed") else {}
        if status != "failed":
            extra.pop("message", None)
        return _rq(rq.id, status, rq.op_type, rq.target, rq.operation, **extra)

    def _list_requests(self, call: Call) -> Reply:
        params = call.params
        items = []
        for rq in self.requests.values():
            body = self._status(rq)
            op = body["operation"]
            if params.get("action") and not op["type"].startswith(params["action"]):
                continue
            if params.get("target") and op["target"] != params["target"]:
                continue
            if params.get("format") and op.get("format") != params["format"]:
                continue
            if any(k in params and str(op.get(k)) != params[k]
                   for k in ("task_id", "job_id", "project_id")):
                continue
            items.append(body)
        return self._page(call, items)

    def _get_request(self, call: Call, rq_id: str) -> Reply:
        rq = self.requests.get(rq_id)
        if rq is None:
            return Reply(404, body="There is no request with specified id",
                         headers={"Content-Type": "text/html; charset=utf-8"})
        return Reply(json=self._advance(rq))


class _Http(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def _wants_call(fn: Callable[..., Any]) -> bool:
    code = getattr(fn, "__code__", None)
    return bool(code and "call" in code.co_varnames[: code.co_argcount])


# -------------------------------------------------------------------------------- comparison

_COMPARED_HEADERS = ("Accept", "Upload-Start", "Upload-Multiple", "Upload-Finish",
                     "Tus-Resumable", "Upload-Length", "Upload-Metadata", "Upload-Offset",
                     "X-Organization")


def norm_path(path: str) -> str:
    """Ids differ between the recording and the fake: ``/api/tasks/77/data`` ->
    ``/api/tasks/{id}/data/`` (the trailing slash is optional on /data and /annotations, as on
    the real server)."""
    path = re.sub(r"/\d+_[0-9a-f\-]+$", "/{file}", path)
    path = re.sub(r"/\d+(?=/|$)", "/{id}", path)
    path = re.sub(r"target_id%3D\d+", "target_id%3D{id}", path)
    if re.search(r"/(data|annotations)$", path):
        path += "/"
    return path


def assert_like_recorded(call: Call, exchange: dict[str, Any], *,
                         extra_query: tuple[str, ...] = ("page_size",),
                         missing_query: tuple[str, ...] = (),
                         body: bool = True) -> None:
    """``call`` sends what the recorded request sent: method, path (ids aside), query
    parameters (decoded; ``extra_query`` we may add, ``missing_query`` recorded-only), the
    CVAT-relevant headers, the Authorization scheme and the body (JSON, multipart fields and
    file names, or byte size)."""
    where = f"recorded #{exchange.get('seq')} {exchange['method']} {exchange['path']}"
    assert call.method == exchange["method"], where
    assert norm_path(call.path) == norm_path(exchange["path"]), (call.path, where)
    rec_q = sorted((k, v) for k, v in parse_qsl(exchange.get("query") or "",
                                                keep_blank_values=True)
                   if k not in missing_query)
    ours = sorted((k, v) for k, v in call.query if k not in extra_query)
    def ids(q: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(k, "{id}" if k.endswith("_id") and v.isdigit()
                 else re.sub(r"target_id=\d+", "target_id={id}", v)) for k, v in q]

    assert ids(ours) == ids(rec_q), (ours, rec_q, where)
    rec_h = exchange.get("request_headers") or {}
    for name in _COMPARED_HEADERS:
        if name in rec_h and name != "Accept":
            assert call.header(name) == rec_h[name] or name in ("Upload-Length",
                                                                 "Upload-Metadata",
                                                                 "Upload-Offset"), (name, where)
        if name in ("Upload-Start", "Upload-Multiple", "Upload-Finish", "Tus-Resumable"):
            assert (call.header(name) is None) == (name not in rec_h), (name, where)
    rec_auth = rec_h.get("Authorization")
    if rec_auth:
        assert (call.header("Authorization") or "").split(" ")[0] == rec_auth.split(" ")[0], where
    rec_ct = (rec_h.get("Content-Type") or "").split(";")[0]
    our_ct = (call.header("Content-Type") or "").split(";")[0]
    if rec_ct:
        assert our_ct == rec_ct, (our_ct, rec_ct, where)
    if not body:
        return
    rec_body = exchange.get("request_body")
    if rec_ct == "application/json" and isinstance(rec_body, (dict, list)):
        assert _unredact(call.json(), rec_body) == rec_body, where
    elif rec_ct == "multipart/form-data" and isinstance(rec_body, dict):
        form, files = call.form()
        names = sorted(list(form.keys()) + list(files.keys()))
        assert names == sorted(rec_body["_form_fields"]), (names, where)
        for k, v in (rec_body.get("fields") or {}).items():
            assert form.get(k) == v, (k, form.get(k), v, where)
        for f in rec_body.get("files") or []:
            ours_f = files[f["field"]]
            assert ours_f.filename == f["filename"], (ours_f.filename, f, where)
            assert ours_f.content_type == f["content_type"], where
    elif isinstance(rec_body, dict) and rec_body.get("_binary"):
        assert len(call.body) == rec_body["size"], where
    elif rec_body is None:
        assert call.body == b"", where


def _unredact(ours: Any, rec: Any) -> Any:
    """Replace values the recording redacted by ``<redacted>`` in our body."""
    if isinstance(ours, dict) and isinstance(rec, dict):
        return {k: ("<redacted>" if rec.get(k) == "<redacted>" else _unredact(v, rec.get(k)))
                for k, v in ours.items()}
    if isinstance(ours, list) and isinstance(rec, list):
        return [_unredact(o, r) for o, r in zip(ours, rec, strict=False)] + ours[len(rec):]
    return ours
