"""The reference's launch_editor: after the upload, the run's first job opens in a browser, or
its URL is printed where no browser can open."""

from __future__ import annotations

import webbrowser

import pytest

from annosync.sync.engine import apply_plan, make_plan, open_sessions
from annosync.sync.session import SyncOptions

from .conftest import Workspace


@pytest.mark.parametrize("browser", [True, False])
def test_first_job_opens_or_its_url_is_printed(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                               browser: bool) -> None:
    opened: list[tuple[str, int]] = []

    def fake_open(url: str, new: int = 0, autoraise: bool = True) -> bool:
        opened.append((url, new))
        return browser

    monkeypatch.setattr(webbrowser, "open", fake_open)
    ws.copy("street")
    ws.manifest(samples={"keys": ["0001", "0002", "0003"]}, label_field="ground_truth",
                launch_editor=True, cvat={"segment_size": 1})
    messages: list[str] = []
    with open_sessions([ws.manifest_path], SyncOptions(), ws.connection) as engine:
        apply_plan(engine, make_plan(engine), report=messages.append)
    task = ws.record.tasks[0]
    assert len(task.jobs) == 3
    first_job = min(j.id for j in task.jobs)
    url = f"{ws.server.url.rstrip('/')}/tasks/{task.id}/jobs/{first_job}"
    assert opened == [(url, 2)]  # a new tab, as FiftyOne's webbrowser.open(url, new=2)
    expected = f"opened {url} in your browser" if browser else f"no browser could open it: open {url}"
    assert expected in messages

    # a later sync creates nothing, so opens nothing
    opened.clear()
    with open_sessions([ws.manifest_path], SyncOptions(), ws.connection) as engine:
        apply_plan(engine, make_plan(engine))
    assert opened == []
