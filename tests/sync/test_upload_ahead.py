"""A new task's guess of its bases and the ids of an echo (``create.Ahead``) are queued with the
labels' body, in the pool that converted it, so that they can run while CVAT still processes the
media, before the PUT goes out; the PUT waits for the body only. Their results are used as the
ones worked out after the PUT were, and the record is the same."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import annosync.sync.create as create_mod
from annosync.cvat import CvatClient

from .conftest import Workspace
from .test_echo_answer import _ids_view
from .test_upload_parts import _record_view, _server_view


def test_the_work_ahead_runs_before_the_media_is_ready_and_is_used(
        workspaces: list[Workspace], server: Any, tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ahead = Workspace(tmp_path / "ahead", server)
    after = Workspace(tmp_path / "after", server)
    workspaces.extend([ahead, after])
    for ws in (ahead, after):
        (tmp_path / ws.root.name).mkdir()
        ws.copy("street")
        ws.manifest(label_schema={"ground_truth": {}})
    events: list[str] = []
    guessed = threading.Event()
    guess, meta = create_mod._guess, CvatClient.get_data_meta

    def spy_guess(*a: Any, **k: Any) -> Any:
        try:
            return guess(*a, **k)
        finally:
            events.append("guess")
            guessed.set()

    def slow_meta(self: CvatClient, *a: Any, **k: Any) -> Any:
        guessed.wait(10)  # CVAT still processing the media (a bound: never hang the suite)
        events.append("meta")
        return meta(self, *a, **k)

    monkeypatch.setattr(create_mod, "_guess", spy_guess)
    monkeypatch.setattr(CvatClient, "get_data_meta", slow_meta)
    ahead.run()
    assert events == ["guess", "meta"]  # worked out before the media was ready, used after
    monkeypatch.setattr(create_mod.Ahead, "queue", classmethod(lambda *a, **k: None))
    guessed.set()
    events.clear()
    after.run()
    assert events == ["meta", "guess"]  # the way without it: after the PUT went out
    assert _record_view(ahead) == _record_view(after)
    assert _ids_view(ahead) == _ids_view(after)
    assert _server_view(ahead) == _server_view(after)
    assert not ahead.plan().has_changes


def test_a_run_of_one_burst_keeps_the_collector_off_to_its_end(
        workspaces: list[Workspace], server: Any, tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No more tasks than go up at once: the cyclic collector stays paused between a task's
    labels and the end of the run (a full collection there walked the whole heap), and is
    back on after it."""
    import gc

    ws = Workspace(tmp_path / "ws", server)
    workspaces.append(ws)
    (tmp_path / "ws").mkdir()
    ws.copy("street")
    ws.manifest(label_schema={"ground_truth": {}})
    seen: list[bool] = []
    upload = create_mod.Creator.upload_labels

    def spy(self: Any, task: Any) -> None:
        upload(self, task)
        seen.append(gc.isenabled())

    monkeypatch.setattr(create_mod.Creator, "upload_labels", spy)
    gc.enable()
    ws.run()
    assert seen and not any(seen)
    assert gc.isenabled()
