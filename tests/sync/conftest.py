"""End-to-end fixtures: one CVAT server per test session, a fresh dataset copy per test.

The server is the in-process emulator by default. With ``ANNOSYNC_TEST_CVAT_URL``,
``ANNOSYNC_TEST_CVAT_USERNAME`` and ``ANNOSYNC_TEST_CVAT_PASSWORD`` set, the same flows run
against a real CVAT 2.x server (see ``tests/README.md``): tests then read the server only
through its REST API and act as an annotator over HTTP (:class:`HttpAnnotator`).

Everything a test creates is named after its run key (``as<session token><n>``): task names
(``annosync_<dataset>_<anno key>_<n>``) and project names carry it, so each test deletes its
own tasks and projects when it ends, and the session deletes whatever still carries its token.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from annosync.cvat import Credentials, CvatClient, CvatError
from annosync.cvat.session import Transport
from annosync.dataset.folder import DatasetFolder
from annosync.emulator import Emulator
from annosync.model.sample import Sample
from annosync.sync.apply import ApplyResult
from annosync.sync.engine import apply_plan, make_plan, open_sessions
from annosync.sync.plan import RunPlan
from annosync.sync.record import RunRecord, load_record
from annosync.sync.session import Connection, SyncOptions

from .http_annotator import HttpAnnotator

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ROLES = ("alice", "bob", "carol")
TOKEN = uuid.uuid4().hex[:8]  # per test process: names of this session's server objects
_keys = itertools.count(1)


# -- servers ----------------------------------------------------------------------------------

@dataclass
class RealServer:
    """A real CVAT 2.x server: the emulator's surface the tests use (``url``,
    ``admin_username``, ``admin_password``, ``annotator(name)``), over HTTP."""

    url: str
    admin_username: str
    admin_password: str
    verify: bool = True
    users: dict[str, str] = field(default_factory=dict)  # role -> username
    passwords: dict[str, str] = field(default_factory=dict)  # username -> password, if known
    _clients: list[CvatClient] = field(default_factory=list)

    def client(self, username: str | None = None, password: str | None = None) -> CvatClient:
        c = CvatClient(self.url, Credentials(username=username or self.admin_username,
                                             password=password or self.admin_password),
                       verify=self.verify, poll_interval=(0.1, 1.0), wait_timeout=600.0)
        self._clients.append(c)
        return c

    def annotator(self, name: str) -> HttpAnnotator:
        """Act as ``name`` (the admin, a role such as "alice", or a username) over HTTP."""
        if name == self.admin_username:
            return HttpAnnotator(self.client())
        username = self.users.get(name, name)
        if username not in self.passwords:
            raise KeyError(f"no password known for {username!r}: give it in "
                           "ANNOSYNC_TEST_CVAT_USERS as name:password")
        return HttpAnnotator(self.client(username, self.passwords[username]))

    def close(self) -> None:
        for c in self._clients:
            c.close()


def _verify() -> bool:
    return os.environ.get("ANNOSYNC_TEST_CVAT_VERIFY", "1").lower() not in ("0", "false", "no")


def _real_server(url: str) -> RealServer:
    username = os.environ.get("ANNOSYNC_TEST_CVAT_USERNAME", "")
    password = os.environ.get("ANNOSYNC_TEST_CVAT_PASSWORD", "")
    if not (username and password):
        pytest.fail("ANNOSYNC_TEST_CVAT_URL needs ANNOSYNC_TEST_CVAT_USERNAME and "
                    "ANNOSYNC_TEST_CVAT_PASSWORD (an admin account)")
    server = RealServer(url.rstrip("/"), username, password, _verify())
    given = [u.strip() for u in os.environ.get("ANNOSYNC_TEST_CVAT_USERS", "").split(",")
             if u.strip()]
    if given and len(given) != len(ROLES):
        pytest.fail("ANNOSYNC_TEST_CVAT_USERS lists three users (standing for alice, bob and "
                    "carol): name[:password],name[:password],name[:password]")
    specs = given or [f"annosync_{role}" for role in ROLES]
    with server.client() as admin:
        for role, spec in zip(ROLES, specs, strict=True):
            name, _, pw = spec.partition(":")
            server.users[role] = name
            if pw:
                server.passwords[name] = pw
            if admin.find_user(name) is None:
                password = pw or secrets.token_urlsafe(16)
                if _register(server, name, password):
                    server.passwords[name] = password
    return server


def _register(server: RealServer, username: str, password: str) -> bool:
    """Create a user with ``POST /api/auth/register`` (CVAT's sign-up: anonymous, needs
    registration enabled; usernames of 5+ characters). False when another test process
    created it first (its password is then unknown here); fails the session otherwise."""
    transport = Transport(server.url, verify=server.verify, retry=0,
                          headers={"Accept": "application/vnd.cvat+json"})
    try:
        transport.request("POST", "/api/auth/register", json={
            "username": username, "email": f"{username}@example.com",
            "password1": password, "password2": password,
            "first_name": username, "last_name": "annosync-tests"}, retry=False)
    except CvatError as exc:
        with server.client() as admin:
            if admin.find_user(username) is None:  # not created by a parallel worker either
                pytest.fail(f"cannot create CVAT user {username!r} ({exc}); create it, or name "
                            "existing users in ANNOSYNC_TEST_CVAT_USERS")
        return False
    finally:
        transport.close()
    return True


def is_emulator(server: Any) -> bool:
    return isinstance(server, Emulator)


def server_verify(server: Any) -> bool:
    return bool(getattr(server, "verify", True))


def admin_client(server: Any, **kw: Any) -> CvatClient:
    kw.setdefault("verify", server_verify(server))
    return CvatClient(server.url, Credentials(username=server.admin_username,
                                              password=server.admin_password), **kw)


def sweep(server: Any, text: str) -> None:
    """Delete every task and project whose name contains ``text`` (projects after tasks)."""
    with admin_client(server) as client:
        for task in client.list_tasks(search=text):
            if text in str(task.get("name", "")):
                with contextlib.suppress(CvatError):
                    client.delete_task(task["id"], missing_ok=True)
        for project in client.list_projects(search=text):
            if text in str(project.get("name", "")):
                with contextlib.suppress(CvatError):
                    client.delete_project(project["id"], missing_ok=True)


@pytest.fixture(scope="session")
def server() -> Iterator[Any]:
    """The emulator (default) or a real CVAT named by ``ANNOSYNC_TEST_CVAT_URL``."""
    url = os.environ.get("ANNOSYNC_TEST_CVAT_URL")
    if url:
        real = _real_server(url)
        try:
            yield real
        finally:
            sweep(real, f"as{TOKEN}")
            real.close()
        return
    with Emulator(users=list(ROLES)) as emu:
        yield emu


@pytest.fixture(scope="session")
def emu(server: Any) -> Emulator:
    """The in-process emulator, for tests that need its internals; skips on a real server."""
    if not is_emulator(server):
        pytest.skip("needs the in-process emulator (not a real CVAT server)")
    assert isinstance(server, Emulator)
    return server


# -- workspaces -------------------------------------------------------------------------------

class Workspace:
    """A dataset copy, a manifest and helpers to run the reconciler on the test server."""

    def __init__(self, root: Path, server: Any) -> None:
        self.root = root
        self.server = server
        self.dataset: Path | None = None
        self.manifest_path = root / "manifests" / "run.yaml"
        # unique on the server and never a prefix of another key of this session
        self.key = f"as{TOKEN}{next(_keys):05d}"
        self.anno_key = self.key
        self._api: CvatClient | None = None
        self._annotator: Any = None

    @property
    def emu(self) -> Emulator:
        if not is_emulator(self.server):
            pytest.skip("needs the in-process emulator (not a real CVAT server)")
        assert isinstance(self.server, Emulator)
        return self.server

    def user(self, role: str) -> str:
        """The username standing for ``role`` (alice, bob, carol) on this server."""
        users: dict[str, str] = getattr(self.server, "users", {})
        return users.get(role, role)

    def copy(self, fixture: str) -> Path:
        self.dataset = self.root / fixture
        shutil.copytree(FIXTURES / fixture, self.dataset)
        return self.dataset

    def manifest(self, **fields: Any) -> dict[str, Any]:
        assert self.dataset is not None
        data = {"anno_key": self.anno_key, "dataset": f"../{self.dataset.name}", **fields}
        self.manifest_path.parent.mkdir(exist_ok=True)
        self.manifest_path.write_text(yaml.safe_dump(data, sort_keys=False))
        return data

    @property
    def connection(self) -> Connection:
        return Connection(url=self.server.url, username=self.server.admin_username,
                          password=self.server.admin_password, interactive=False,
                          verify=server_verify(self.server))

    def plan(self, **options: Any) -> RunPlan:
        with open_sessions([self.manifest_path], SyncOptions(**options), self.connection) as eng:
            return make_plan(eng).runs[0]

    def run(self, **options: Any) -> tuple[RunPlan, ApplyResult]:
        with open_sessions([self.manifest_path], SyncOptions(**options), self.connection) as eng:
            plan = make_plan(eng)
            (result,) = apply_plan(eng, plan)
            return plan.runs[0], result

    @property
    def folder(self) -> DatasetFolder:
        assert self.dataset is not None
        return DatasetFolder(self.dataset)

    @property
    def record(self) -> RunRecord:
        record = load_record(self.folder.state_dir, self.anno_key)
        assert record is not None
        return record

    def sample(self, key: str) -> Sample:
        return self.folder.read(key)

    def save(self, key: str, sample: Sample) -> None:
        self.folder.write(key, sample)

    def client(self) -> CvatClient:
        """A new admin client (close it)."""
        return admin_client(self.server)

    @property
    def api(self) -> CvatClient:
        """An admin client kept for the test, to read the server through its REST API."""
        if self._api is None:
            self._api = admin_client(self.server)
        return self._api

    @property
    def annotator(self) -> Any:
        """The admin acting in CVAT's UI: in-process on the emulator, over HTTP otherwise."""
        if self._annotator is None:
            self._annotator = self.server.annotator(self.server.admin_username)
        return self._annotator

    def task_ids(self) -> list[int]:
        return [t.id for t in self.record.tasks if t.id is not None]

    # -- REST reads ----------------------------------------------------------------------------

    def labels(self, task_id: int) -> list[dict[str, Any]]:
        """The task's labels (its own or its project's), sublabels included."""
        out = []
        for label in self.api.get_labels(task_id=task_id):
            out.append(label)
            out.extend(label.get("sublabels", []))
        return out

    def frame(self, task_id: int, number: int) -> bytes:
        """Frame ``number`` of a task as CVAT stores it (``quality=original``)."""
        dest = self.root / ".frames" / f"{task_id}_{number}"
        self.api.download(f"/api/tasks/{task_id}/data", dest,
                          params={"type": "frame", "number": number, "quality": "original"})
        return dest.read_bytes()

    def close(self) -> None:
        """Delete what this test created on the server (tasks, then projects)."""
        try:
            sweep(self.server, self.key)
        finally:
            if self._api is not None:
                self._api.close()
            client = getattr(self._annotator, "client", None)
            if client is not None:
                client.close()


@pytest.fixture
def workspaces(tmp_path: Path, server: Any) -> Iterator[list[Workspace]]:
    """Workspaces made by a test, each cleaned up at its end."""
    made: list[Workspace] = []
    yield made
    for ws in made:
        ws.close()


@pytest.fixture
def ws(tmp_path: Path, server: Any, workspaces: list[Workspace]) -> Workspace:
    workspace = Workspace(tmp_path, server)
    workspaces.append(workspace)
    return workspace
