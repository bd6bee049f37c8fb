"""The real-server path of the e2e fixtures, rehearsed on an emulator reached only over HTTP.

The acceptance run against a real CVAT is rare; these tests keep its code path (the
``RealServer`` handle, the HTTP annotator inside a flow, the per-test cleanup) working in
every default run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from annosync.emulator import Emulator

from .conftest import ROLES, RealServer, Workspace, _real_server, admin_client
from .http_annotator import HttpAnnotator


def test_a_flow_over_http_then_everything_is_deleted(tmp_path: Path) -> None:
    with Emulator(users=list(ROLES)) as emu:
        real = RealServer(emu.url, emu.admin_username, emu.admin_password,
                          users={r: r for r in ROLES}, passwords={"alice": "alice-password-1"})
        ws = Workspace(tmp_path, real)
        ws.copy("street")
        ws.manifest(label_field="ground_truth", samples={"keys": ["0001"]},
                    cvat={"project_name": f"p-{ws.anno_key}", "task_assignee": ws.user("alice")})
        ws.run()
        (task_id,) = ws.task_ids()
        assert isinstance(ws.annotator, HttpAnnotator) and ws.annotator is ws.annotator
        shape = ws.annotator.shapes(task_id)[0]
        ws.annotator.update_shape(shape["id"], points=[1, 1, 20, 20])
        assert ws.plan().pull_counts.edit == 1
        ws.run()
        assert not ws.plan().has_changes
        assert ws.api.get_task(task_id)["assignee"]["username"] == "alice"
        assert real.annotator("alice").client.login()["username"] == "alice"
        with pytest.raises(KeyError, match="no password known"):
            real.annotator("bob")
        with pytest.raises(pytest.skip.Exception):
            _ = ws.emu  # tests needing the emulator's internals skip on a real server

        ws.close()
        with admin_client(real) as client:
            assert client.list_tasks() == [] and client.list_projects() == []
        real.close()


def test_users_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with Emulator(users=["ann", "ben", "cid"]) as emu:
        monkeypatch.setenv("ANNOSYNC_TEST_CVAT_USERNAME", emu.admin_username)
        monkeypatch.setenv("ANNOSYNC_TEST_CVAT_PASSWORD", emu.admin_password)
        monkeypatch.setenv("ANNOSYNC_TEST_CVAT_USERS", "ann:ann-password-1, ben,cid")
        real = _real_server(emu.url)
        assert real.users == {"alice": "ann", "bob": "ben", "carol": "cid"}
        assert real.passwords == {"ann": "ann-password-1"}
        assert real.annotator("alice").client.login()["username"] == "ann"
        real.close()
