"""A task deleted in CVAT by someone else between plan and apply: a clear message, the plan
shows it, nothing is silently skipped, and the user can upload the samples again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lab import Workspace, invoke

from annosync.cvat import Credentials, CvatClient
from annosync.emulator import Emulator
from annosync.sync.record import load_record


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(users=["alice"]) as server:
        yield server


def test_a_task_deleted_between_plan_and_apply(tmp_path: Path, emu: Emulator) -> None:
    ws = Workspace(tmp_path, emu.url, "deleted1x").create()
    assert invoke(ws, "sync").exit_code == 0
    from lab import edit_locally

    edit_locally(ws)  # the plan has work to do: pushes, to tasks 1 and 2
    assert invoke(ws, "plan", "-o", "plan.json").exit_code == 2
    record = load_record(ws.state, ws.key)
    assert record is not None
    gone = record.tasks[1]
    with CvatClient(emu.url, Credentials(username="admin", password="admin-password-1")) as c:
        c.delete_task(gone.id)

    res = invoke(ws, "apply", "plan.json")
    assert res.exit_code == 1
    assert f"task(s) {gone.id} ({gone.name}, 2 sample(s)) no longer exist in CVAT" in res.output
    assert "--recreate-missing" in res.output and "Traceback" not in res.output

    res = invoke(ws, "plan")
    assert "x blocked:" in res.output and gone.name in res.output
    assert invoke(ws, "sync").exit_code == 1  # never a silent "no changes"

    res = invoke(ws, "sync", "--recreate-missing")
    assert res.exit_code == 0, res.output
    assert invoke(ws, "plan").exit_code == 0
    after = load_record(ws.state, ws.key)
    assert after is not None and after.tasks[1].id not in (None, gone.id)
    with CvatClient(emu.url, Credentials(username="admin", password="admin-password-1")) as c:
        shapes = c.get_annotations(task_id=after.tasks[1].id)["shapes"]
    # the samples' labels are in CVAT again, local edits included (sample 3 lost a box)
    assert len(shapes) == 2 * ws.boxes - 1
