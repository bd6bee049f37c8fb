"""Several runs against a CVAT that throttles anonymous requests (CVAT's default, login
included): every run waits as told and succeeds (issue 12, defect 2)."""

from __future__ import annotations

import time
from pathlib import Path

from annosync.emulator import Emulator

from .conftest import Workspace


def test_runs_in_a_row_survive_the_login_throttle(tmp_path: Path) -> None:
    # CVAT allows 100 anonymous requests a minute; 2 a second makes the test quick
    with Emulator(users=["alice"], throttle={"anon": "2/second"}) as emu:
        ws = Workspace(tmp_path, emu)
        ws.manifest()
        started = time.monotonic()
        for verb in ("sync", "plan", "sync"):
            res = ws.invoke(verb)
            assert res.exit_code in (0, 2), (verb, res.output)
            assert "HTTP 429" not in res.output and "throttled" not in res.output  # (the port may hold "429")
        assert emu.throttle.refused > 0  # the throttle did refuse some logins
        assert time.monotonic() - started < 30


def test_many_clients_logging_in_at_once_all_get_through() -> None:
    """Eight runs start together against 4 anonymous requests a second: most logins are
    throttled several times in a row; every one waits as told and gets through. (One retry
    for errors: being throttled is not an error and has its own bound, the total wait.)"""
    from concurrent.futures import ThreadPoolExecutor

    from annosync.cvat import Credentials, CvatClient, RetryPolicy

    with Emulator(users=["alice"], throttle={"anon": "4/second"}) as emu:
        def run(_: int) -> str:
            creds = Credentials(username="alice", password="alice-password-1")
            with CvatClient(emu.url, creds, retries=RetryPolicy(retries=1)) as client:
                client.login()
                return str(client.list_tasks())

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(run, range(8))) == ["[]"] * 8
        assert emu.throttle.refused >= 8
