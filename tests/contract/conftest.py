"""The contract suite's server: the annosync emulator by default, or a real CVAT.

Set ``ANNOSYNC_TEST_CVAT_URL``, ``ANNOSYNC_TEST_CVAT_USERNAME`` and
``ANNOSYNC_TEST_CVAT_PASSWORD`` to run the same tests against a real CVAT 2.x server (then
``ANNOSYNC_TEST_CVAT_VERIFY=0`` disables TLS verification for a self-signed test server, and
fault-injection tests are skipped since only the emulator can inject faults). Everything the
suite creates on a server carries a per-run name prefix and is deleted at the end of the run.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from annosync.cvat import Credentials, CvatClient, CvatError, RetryPolicy


@dataclass
class Server:
    url: str
    username: str
    password: str
    emulator: Any = None
    verify: bool = True
    prefix: str = field(default_factory=lambda: f"annosync-contract-{uuid.uuid4().hex[:8]}")

    # Behaves as the tuple (url, username, password, emulator-or-None).
    def _tuple(self) -> tuple[str, str, str, Any]:
        return (self.url, self.username, self.password, self.emulator)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._tuple())

    def __getitem__(self, index: int) -> Any:
        return self._tuple()[index]

    def __len__(self) -> int:
        return 4


@pytest.fixture(scope="session")
def cvat_server() -> Iterator[Server]:
    url = os.environ.get("ANNOSYNC_TEST_CVAT_URL")
    if url:
        username = os.environ.get("ANNOSYNC_TEST_CVAT_USERNAME", "")
        password = os.environ.get("ANNOSYNC_TEST_CVAT_PASSWORD", "")
        if not (username and password):
            pytest.fail("ANNOSYNC_TEST_CVAT_URL needs ANNOSYNC_TEST_CVAT_USERNAME and "
                        "ANNOSYNC_TEST_CVAT_PASSWORD")
        verify = os.environ.get("ANNOSYNC_TEST_CVAT_VERIFY", "1") not in ("0", "false", "no")
        server = Server(url, username, password, None, verify)
        yield server
        _cleanup(server)
        return
    try:
        from annosync.emulator import Emulator
    except ImportError as exc:  # the emulator is built by another part of the project
        pytest.skip(f"annosync.emulator is not available yet ({exc})")
    with Emulator(port=0, users=["alice", "bob"]) as emu:
        yield Server(emu.url, emu.admin_username, emu.admin_password, emu)


def _cleanup(server: Server) -> None:
    """Delete every task and project of this run (real servers only keep what they had)."""
    creds = Credentials(username=server.username, password=server.password)
    with CvatClient(server.url, creds, verify=server.verify) as client:
        for task in client.list_tasks(search=server.prefix):
            if str(task.get("name", "")).startswith(server.prefix):
                client.delete_task(task["id"], missing_ok=True)
        for project in client.list_projects(search=server.prefix):
            if str(project.get("name", "")).startswith(server.prefix):
                client.delete_project(project["id"], missing_ok=True)


@pytest.fixture
def connect(cvat_server: Server) -> Iterator[Callable[..., CvatClient]]:
    """Make clients for the server; closes them after the test."""
    made: list[CvatClient] = []

    def make(**kw: Any) -> CvatClient:
        creds = kw.pop("credentials", None) or Credentials(
            username=cvat_server.username, password=cvat_server.password)
        kw.setdefault("verify", cvat_server.verify)
        kw.setdefault("retries", RetryPolicy(retries=3, backoff=0.05, backoff_max=0.5))
        kw.setdefault("poll_interval", (0.05, 0.5))
        kw.setdefault("wait_timeout", 120.0)
        c = CvatClient(cvat_server.url, creds, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def client(connect: Callable[..., CvatClient]) -> CvatClient:
    return connect()


@pytest.fixture
def name(cvat_server: Server, request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Unique, prefixed object names (so a real server is cleaned up)."""
    test = request.node.name.replace("[", "-").replace("]", "")[:40]

    def make(suffix: str = "") -> str:
        return f"{cvat_server.prefix} {test} {suffix}".strip()

    return make


@pytest.fixture
def created(client: CvatClient) -> Iterator[dict[str, list[int]]]:
    """Ids the test created; deleted afterwards, tasks first."""
    ids: dict[str, list[int]] = {"tasks": [], "projects": []}
    yield ids
    for tid in ids["tasks"]:
        with contextlib.suppress(CvatError):
            client.delete_task(tid, missing_ok=True)
    for pid in ids["projects"]:
        with contextlib.suppress(CvatError):
            client.delete_project(pid, missing_ok=True)


@pytest.fixture
def emulator(cvat_server: Server) -> Iterator[Any]:
    """The emulator, for fault injection; skips the test on a real server."""
    if cvat_server.emulator is None:
        pytest.skip("fault injection needs the annosync emulator")
    emu = cvat_server.emulator
    emu.faults.clear()
    yield emu
    emu.faults.clear()
