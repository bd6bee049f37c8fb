"""The ``Emulator`` object: start/stop the server, seed users, register buckets, inject faults.

Why a module: the public face of the package (used by the whole test suite, the README demo
and users testing their pipelines). Everything else in ``annosync.emulator`` is reachable
through it: ``emu.url``, ``emu.add_user()``, ``emu.annotator()``, ``emu.faults``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from .annotator import Annotator
from .context import Ctx
from .faults import Faults
from .routes import build_routes
from .server import App, Server, make_server, serve_in_thread
from .state import State, User
from .throttle import Throttles
from .users import user_json
from .webhooks import install as install_webhooks
from .wire import Headers, Request

UserSpec = str | tuple[str, ...]


class Emulator:
    """An in-process CVAT 2.73 server with its state in memory.

    ``users`` adds regular users: a username (password ``<username>-password-1``, email
    ``<username>@example.com``) or a ``(username, password[, email])`` tuple. ``clock`` is the
    server's time source (``annosync.emulator.clock_from(start)`` to run on another day); every
    date the server writes, compares or expires comes from it. ``throttle`` turns on CVAT's
    rate limits (DRF throttles), e.g. ``{"anon": "100/minute"}`` as a default CVAT has, plus
    ``"user"`` for deployments that add one; off by default (``emu.throttle.configure``).
    """

    def __init__(self, port: int = 0, users: Iterable[UserSpec] | None = None, *,
                 host: str = "127.0.0.1", admin_username: str = "admin",
                 admin_password: str = "admin-password-1",
                 admin_email: str = "admin@example.com",
                 share_root: str | os.PathLike[str] | None = None,
                 buckets: Mapping[str, Any] | None = None, seed: int = 0,
                 clock: Callable[[], datetime] | None = None,
                 throttle: Mapping[str, str] | None = None) -> None:
        self.host = host
        self.port = port
        self.admin_username = admin_username
        self.admin_password = admin_password
        self.state = State(seed=seed, clock=clock)
        self.faults = Faults()
        rates = dict(throttle or {})
        unknown = set(rates) - {"anon", "user"}
        if unknown:
            raise ValueError(f"unknown throttle scope(s) {sorted(unknown)}: use anon, user")
        self.throttle = Throttles(rates.get("anon"), rates.get("user"))
        self.app = App(self.state, build_routes(), self.faults, self.throttle)
        self.webhooks = install_webhooks(self.state)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        if share_root is not None:
            self.state.share_root = os.fspath(share_root)
        for name, content in (buckets or {}).items():
            self.add_bucket(name, content)
        self._create_user(admin_username, admin_password, admin_email, superuser=True)
        for spec in users or ():
            if isinstance(spec, str):
                self.add_user(spec)
            else:
                self.add_user(*spec)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._server is None:
            self._server = make_server(self.app, self.host, self.port)
            self.port = int(self._server.server_address[1])
            self.state.base_url = self.url
            self._thread = serve_in_thread(self._server)
        return self

    def stop(self) -> None:
        self.webhooks.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def restart(self, downtime: float = 0.0) -> None:
        """Stop serving (open connections cut, new ones refused), wait ``downtime`` seconds,
        serve again on the same port with the same state: a CVAT restart, database kept."""
        self.stop()
        if downtime:
            time.sleep(downtime)
        self.start()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- users ------------------------------------------------------------------------------

    def _create_user(self, username: str, password: str, email: str, *, superuser: bool = False,
                     first_name: str = "", last_name: str = "") -> User:
        state = self.state
        with state.lock:
            if state.user_by_name(username) is not None:
                raise ValueError(f"user {username!r} already exists")
            user = User(id=state.next_id("user"), username=username, password=password,
                        email=email, first_name=first_name, last_name=last_name,
                        is_superuser=superuser, is_staff=superuser,
                        groups=["admin"] if superuser else ["user"], date_joined=state.now())
            state.users[user.id] = user
            return user

    def add_user(self, username: str, password: str | None = None, email: str | None = None, *,
                 first_name: str = "", last_name: str = "", is_superuser: bool = False) -> dict[str, Any]:
        """Create a user and return its JSON (as ``GET /api/users/<id>`` shows it)."""
        user = self._create_user(username, password or f"{username}-password-1",
                                 email or f"{username}@example.com", superuser=is_superuser,
                                 first_name=first_name, last_name=last_name)
        return user_json(self._ctx(), user)

    def annotator(self, username: str) -> Annotator:
        """Act in-process as ``username`` (like a person using CVAT's UI)."""
        with self.state.lock:
            user = self.state.user_by_name(username)
        if user is None:
            raise KeyError(f"no such user: {username!r}")
        return Annotator(self.state, user)

    # -- storage ----------------------------------------------------------------------------

    def add_bucket(self, resource: str, content: Mapping[str, bytes] | str | os.PathLike[str] | None = None) -> None:
        """Register a cloud bucket: a ``{path: bytes}`` dict or a local directory."""
        with self.state.lock:
            if content is None or isinstance(content, Mapping):
                self.state.buckets[resource] = dict(content or {})
            else:
                self.state.buckets[resource] = os.fspath(content)

    def put_object(self, resource: str, path: str, blob: bytes) -> None:
        """Add one file to an in-memory bucket."""
        with self.state.lock:
            bucket = self.state.buckets.setdefault(resource, {})
            if not isinstance(bucket, dict):
                raise TypeError(f"bucket {resource!r} is a directory; write files there instead")
            bucket[path] = blob

    @property
    def share_root(self) -> str | None:
        return self.state.share_root

    @share_root.setter
    def share_root(self, value: str | os.PathLike[str] | None) -> None:
        self.state.share_root = os.fspath(value) if value is not None else None

    def _ctx(self) -> Ctx:
        req = Request("GET", "/", "", Headers([]), b"")
        return Ctx(req=req, state=self.state, base=self.url)
