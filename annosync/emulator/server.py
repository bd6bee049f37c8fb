"""HTTP plumbing: a stdlib ``ThreadingHTTPServer`` and the request pipeline of CVAT's stack.

Why a module: the order in which Django/DRF answer matters to clients. A request goes through:
fault injection -> URL resolution (unknown URL: Django's HTML 404) -> content negotiation (406)
-> authentication (401/403 CSRF) -> permissions (401, 403 for read-only tokens) -> throttles
(429, off by default: ``throttle.py``) -> allowed methods (405) -> organization context -> the handler. Answers then get CVAT's headers
(``x-request-id``, ``allow``, ``vary``) and gzip like Django's GZipMiddleware.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from annosync.gcpause import gc_paused

from . import access, tus
from .auth import SAFE_METHODS, authenticate, check_write_allowed, unauthorized
from .context import Ctx
from .errors import ApiError, detail, html_404, method_not_allowed, server_error
from .faults import Faults
from .orgs import resolve_scope
from .state import State
from .throttle import Throttles
from .wire import CVAT_JSON, Headers, Request, Response, error_response, json_response

log = logging.getLogger("annosync.emulator")

Handler = Callable[[Ctx], Response]
METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass
class Route:
    """One URL pattern and its handlers. ``auth``: required | public | login | bearer."""

    pattern: re.Pattern[str]
    handlers: dict[str, Handler]
    auth: str = "required"
    name: str = ""
    allow: str = field(init=False, default="")

    def __post_init__(self) -> None:
        methods = [m for m in METHOD_ORDER if m in self.handlers]
        if "GET" in self.handlers or "HEAD" in self.handlers:
            methods.append("HEAD")
        methods.append("OPTIONS")
        self.allow = ", ".join(methods)


def route(path: str, auth: str = "required", **handlers: Handler) -> Route:
    """``path`` uses ``{id}``-style groups: ``{id}`` is DRF's ``[^/.]+``."""
    regex = "^" + re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>[^/.]+)"
                         if m.group(1) != "file_id" else r"(?P<file_id>\d+_[0-9a-f-]{36})",
                         path) + "$"
    return Route(re.compile(regex), {k.upper(): v for k, v in handlers.items()}, auth, path)


def _acceptable(accept: str | None) -> bool:
    if not accept:
        return True
    for item in accept.split(","):
        media = item.split(";")[0].strip().lower()
        if media in ("*/*", "application/*", CVAT_JSON, ""):
            return True
    return False


class App:
    """The request pipeline, independent of the socket layer (usable in-process)."""

    def __init__(self, state: State, routes: list[Route], faults: Faults,
                 throttles: Throttles | None = None) -> None:
        self.state = state
        self.routes = routes
        self.faults = faults
        self.throttles = throttles or Throttles()
        #: called with (method, path) as each request arrives, before faults and handling
        self.on_request: Callable[[str, str], None] | None = None
        #: called with (kind, method, path) when a ``chaos`` fault hits a request
        self.on_fault: Callable[[str, str, str], None] | None = None

    def resolve(self, path: str) -> tuple[Route, dict[str, str]] | None:
        for rt in self.routes:
            match = rt.pattern.match(path)
            if match:
                return rt, match.groupdict()
        return None

    def handle(self, req: Request, base: str) -> Response:
        found = self.resolve(req.raw_path)
        if found is None:
            return error_response(html_404())
        rt, params = found
        ctx = Ctx(req=req, state=self.state, base=base, params=params)
        try:
            with self.state.lock, gc_paused():  # a burst of small objects (see gcpause)
                resp = self._dispatch(ctx, rt)
        except tus.Answer as answer:
            resp = answer.response
        except ApiError as err:
            resp = error_response(err)
        except Exception:  # pragma: no cover - a bug in the emulator: answer like Django's 500
            log.exception("emulator error on %s %s", req.method, req.raw_path)
            resp = error_response(server_error())
        resp.headers.extend(ctx.extra_headers)
        if not (resp.status == 500 and (resp.content_type or "").startswith("text/html")):
            resp.headers.append(("allow", rt.allow))
        return resp

    def _dispatch(self, ctx: Ctx, rt: Route) -> Response:
        req = ctx.req
        if not _acceptable(req.headers.get("Accept")):
            raise detail(406, "Could not satisfy the request Accept header.")
        if rt.auth == "bearer":
            authenticate(ctx, bearer_only=True)
            if ctx.user is None:
                raise unauthorized("Authentication credentials were not provided.", "Bearer")
        else:
            authenticate(ctx)
        if rt.auth in ("required", "bearer"):
            if ctx.user is None:
                raise unauthorized("Authentication credentials were not provided.")
            check_write_allowed(ctx)
        # DRF's order: authentication, permissions, then throttles, then the view (where
        # CVAT's PolicyEnforcer judges the object)
        self.throttles.check(ctx)
        self.state.actor = ctx.user.id if ctx.user is not None else None
        method = req.method
        handler = rt.handlers.get(method)
        if handler is None and method == "HEAD":
            handler = rt.handlers.get("GET")
        if handler is None and method == "OPTIONS":
            return json_response({
                "name": rt.name.rsplit("/", 1)[-1].replace("{", "").replace("}", "").title(),
                "description": "",
                "renders": [CVAT_JSON],
                "parses": ["application/json", "multipart/form-data"],
            })
        if handler is None:
            raise method_not_allowed(method)
        if ctx.user is not None:
            ctx.scope = resolve_scope(ctx)
            access.check(ctx, req.raw_path, method)
        resp = handler(ctx)
        if method == "HEAD":
            resp = Response(resp.status, b"", resp.content_type, resp.headers)
        return resp


def finalize(resp: Response, req: Request, request_id: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """Transport encoding and the headers every CVAT answer carries."""
    body = resp.body
    headers: list[tuple[str, str]] = []
    if resp.content_type:
        headers.append(("content-type", resp.content_type))
    headers.extend(resp.headers)
    names = {k.lower() for k, _ in headers}
    accept_encoding = req.headers.get("Accept-Encoding") or ""
    vary = ["Accept", "Origin"]
    if (len(body) >= 200 and "gzip" in accept_encoding.lower() and req.method != "HEAD"
            and resp.status not in (204, 304) and "content-encoding" not in names):
        # Django's GZipMiddleware (django.utils.text.compress_string): level 6, not 9
        body = gzip.compress(body, compresslevel=6, mtime=0)
        headers.append(("content-encoding", "gzip"))
        vary.insert(1, "Accept-Encoding")
    if "vary" not in names:
        headers.append(("vary", ", ".join(vary)))
    headers += [
        ("x-frame-options", "DENY"),
        ("x-request-id", request_id),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("cross-origin-opener-policy", "same-origin"),
    ]
    return resp.status, headers, body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "uvicorn"
    sys_version = ""
    app: App

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):  # avoid Nagle + delayed-ACK stalls
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        return "uvicorn"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def _read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _serve(self) -> None:
        split = urlsplit(self.path)
        body = self._read_body()
        app = self.app
        if app.on_request is not None:
            app.on_request(self.command, split.path)
        action = app.faults.match(self.command, split.path)
        if action is not None and action.kind and app.on_fault is not None:
            app.on_fault(action.kind, self.command, split.path)
        if action is not None and action.latency:
            time.sleep(action.latency)
        before = action is not None and not action.after
        if before and action is not None and action.drop:
            self._drop()
            return
        req = Request(self.command, split.path, split.query,
                      Headers(list(self.headers.items())), body, self.client_address[0])
        address: Any = self.server.server_address
        host = self.headers.get("Host") or f"{address[0]!s}:{address[1]!s}"
        base = f"http://{host}"
        with app.state.lock:
            request_id = app.state.uuid4()
        if before and action is not None and action.status is not None:
            resp = Response(action.status, action.body, action.content_type,
                            list(action.headers.items()))
        else:
            resp = app.handle(req, base)  # the server acts
            if action is not None and action.after:
                if action.drop:  # ... and the answer is lost
                    self._drop()
                    return
                if action.status is not None:  # ... and a proxy answers an error instead
                    resp = Response(action.status, action.body, action.content_type,
                                    list(action.headers.items()))
        status, headers, payload = finalize(resp, req, request_id)
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if action is not None and action.truncate:  # ... and its answer is cut short
            if self.command != "HEAD" and payload:
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
            self._drop()
            return
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[Any] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut every open connection (keep-alive ones included), as a server restart does."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (timeouts, retries, dropped faults) are routine, not tracebacks."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("client %s went away: %s", client_address, exc)
            return
        log.exception("emulator: error while serving %s", client_address)


def make_server(app: App, host: str, port: int) -> Server:
    handler = type("EmulatorHandler", (_Handler,), {"app": app})
    return Server((host, port), handler)


def serve_in_thread(server: Server) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="annosync-emulator", daemon=True)
    thread.start()
    return thread


__all__ = ["SAFE_METHODS", "App", "Route", "make_server", "route", "serve_in_thread"]
