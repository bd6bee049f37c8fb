"""Kill apply at every point and prove the next run resumes: no duplicate project, task or label,
nothing lost. A "point" is before or after any HTTP request (so the server may have acted on a
request whose answer never arrived), any journal line, any label file or run record write.

The crash is a ``BaseException`` raised in-process (nothing catches it, like a kill -9 that runs
no handler); ``test_kill_9_in_a_subprocess`` shows the same with a real SIGKILL.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from requests.adapters import HTTPAdapter

import annosync.dataset.folder as folder_mod
import annosync.sync.record as record_mod
from annosync.cvat import CvatClient
from annosync.model.labels import Detection
from annosync.sync.engine import apply_plan, make_plan, open_sessions
from annosync.sync.journal import Journal
from annosync.sync.session import RunSession, SyncOptions

from .conftest import Workspace, admin_client, is_emulator, server_verify


class Crash(BaseException):
    """The process died here."""


class Points:
    def __init__(self, crash_at: int | None) -> None:
        self.crash_at = crash_at
        self.count = 0

    def tick(self) -> None:
        self.count += 1
        if self.crash_at is not None and self.count == self.crash_at:
            raise Crash(self.count)


POLLS = re.compile(r"^/api/(requests/[^/]+|tasks/\d+/status)$")


class CrashingAdapter(HTTPAdapter):
    """Crash points before and after every request.

    On a real server the number of polls while CVAT processes media varies from run to run,
    so there a poll counts only when it sees the request done (its "before" point is then
    taken after sending: the poll is a read, so the server state is the same). Points between
    unfinished polls are all the state right after the data POST, which has its own point.
    """

    def __init__(self, points: Points, stable_polls: bool = False) -> None:
        super().__init__()
        self.points = points
        self.stable_polls = stable_polls

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if self.stable_polls and request.method == "GET" and POLLS.match(
                urlsplit(request.url).path):
            response = super().send(request, *args, **kwargs)
            if _finished(response):
                self.points.tick()
                self.points.tick()
            return response
        self.points.tick()
        response = super().send(request, *args, **kwargs)
        self.points.tick()  # the server acted; the answer is lost with the process
        return response


def _finished(response: Any) -> bool:
    try:
        body = response.json()
    except ValueError:
        return True
    state = str(body.get("status") or body.get("state") or "") if isinstance(body, dict) else ""
    return state.lower() in ("finished", "failed") or response.status_code != 200


@contextmanager
def crash_points(monkeypatch: pytest.MonkeyPatch, points: Points) -> Iterator[None]:
    def wrap(fn: Any) -> Any:
        def inner(*args: Any, **kwargs: Any) -> Any:
            points.tick()
            out = fn(*args, **kwargs)
            points.tick()
            return out
        return inner

    with monkeypatch.context() as m:
        m.setattr(folder_mod, "write_if_changed", wrap(folder_mod.write_if_changed))
        m.setattr(record_mod, "write_bytes_atomic", wrap(record_mod.write_bytes_atomic))
        m.setattr(Journal, "_append", wrap(Journal._append))
        yield


def run_with(ws: Workspace, points: Points | None, **options: Any) -> None:
    real = not is_emulator(ws.server)

    def factory(session: RunSession) -> CvatClient:
        adapter = CrashingAdapter(points, stable_polls=real) if points else None
        return admin_client(ws.server, adapter=adapter, retries=0,
                            poll_interval=(0.1, 1.0) if real else (0.01, 0.05))

    with open_sessions([ws.manifest_path], SyncOptions(**options), client_factory=factory) as eng:
        apply_plan(eng, make_plan(eng))


def server_state(ws: Workspace, project: str) -> tuple[list[Any], list[Any], Counter[str]]:
    """The projects named ``project``, the first one's tasks, and how often each label id
    (a 24-character attribute value) is on the server."""
    projects = ws.api.find_projects(project)
    tasks = ws.api.list_tasks(project_id=projects[0]["id"]) if projects else []
    label_ids: Counter[str] = Counter()
    for task in tasks:
        for shape in ws.annotator.shapes(task["id"]):
            for attr in shape["attributes"]:
                if len(str(attr["value"])) == 24:
                    label_ids[attr["value"]] += 1
    return projects, tasks, label_ids


def local_label_ids(ws: Workspace, keys: list[str]) -> set[str]:
    out = set()
    for key in keys:
        value = ws.sample(key).fields.get("ground_truth")
        out |= {d.id for d in getattr(value, "detections", [])}
    return out


KEYS = ["0001", "0002", "0003"]


def setup(ws: Workspace) -> str:
    ws.copy("street")
    project = f"resume-{ws.anno_key}"
    ws.manifest(label_field="ground_truth", samples={"keys": KEYS},
                cvat={"project_name": project, "task_size": 2, "segment_size": 1})
    return project


def count_points(ws_factory: Any, monkeypatch: pytest.MonkeyPatch, phase: str) -> int:
    ws = ws_factory()
    setup(ws)
    points = Points(None)
    with crash_points(monkeypatch, points):
        if phase == "create":
            run_with(ws, points)
        else:
            run_with(ws, None)
            edit_both_sides(ws)
            points.count = 0
            run_with(ws, points)
    return points.count


def edit_both_sides(ws: Workspace) -> dict[str, Any]:
    """A remote edit and deletion, a local addition and edit, on different labels."""
    first = ws.sample("0001").fields["ground_truth"].detections
    a = ws.annotator
    by_label = {}
    for task_id in ws.task_ids():
        for shape in a.shapes(task_id):
            for attr in shape["attributes"]:
                by_label[attr["value"]] = shape
    a.update_shape(by_label[first[0].id]["id"], points=[3, 3, 33, 33])
    a.delete(by_label[first[1].id]["id"])
    sample = ws.sample("0003")
    dets = sample.fields["ground_truth"].detections
    added = Detection(label=dets[0].label, bounding_box=(0.6, 0.6, 0.1, 0.1))
    dets[0] = dets[0].model_copy(update={"bounding_box": (0.2, 0.2, 0.3, 0.3)})
    dets.append(added)
    ws.save("0003", sample)
    return {"moved": first[0].id, "deleted": first[1].id, "added": added.id,
            "local_edit": dets[0].id}


@pytest.fixture
def ws_factory(tmp_path: Path, server: Any, workspaces: list[Workspace]) -> Any:
    def make() -> Workspace:
        root = tmp_path / f"w{len(workspaces) + 1}"
        root.mkdir()
        workspaces.append(Workspace(root, server))
        return workspaces[-1]

    return make


@pytest.mark.slow
def test_creation_resumes_after_a_crash_at_every_point(
    ws_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = count_points(ws_factory, monkeypatch, "create")
    print(f"creation: {total} crash points")
    assert total >= 40
    for at in range(1, total + 1):
        ws = ws_factory()
        project = setup(ws)
        expected = local_label_ids(ws, KEYS)
        points = Points(at)
        with crash_points(monkeypatch, points), pytest.raises(Crash):
            run_with(ws, points)
        run_with(ws, None)  # resume
        projects, tasks, server_ids = server_state(ws, project)
        assert len(projects) == 1, f"crash at point {at}: {len(projects)} projects"
        assert sorted(t["name"] for t in tasks) == sorted(t.name for t in ws.record.tasks), at
        assert len(tasks) == 2, f"crash at point {at}: {len(tasks)} tasks"
        assert set(server_ids) == expected and set(server_ids.values()) == {1}, at
        assert all(t.state == "labels_uploaded" for t in ws.record.tasks), at
        assert not ws.plan().has_changes, at


@pytest.mark.slow
def test_sync_resumes_after_a_crash_at_every_point(
    ws_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = count_points(ws_factory, monkeypatch, "sync")
    print(f"sync: {total} crash points")
    assert total >= 10
    for at in range(1, total + 1):
        ws = ws_factory()
        project = setup(ws)
        run_with(ws, None)
        edits = edit_both_sides(ws)
        points = Points(at)
        with crash_points(monkeypatch, points), pytest.raises(Crash):
            run_with(ws, points)
        run_with(ws, None)
        _, tasks, server_ids = server_state(ws, project)
        local = local_label_ids(ws, KEYS)
        assert len(tasks) == 2, at
        assert edits["deleted"] not in local and edits["deleted"] not in server_ids, at
        assert edits["added"] in local and server_ids[edits["added"]] == 1, at
        assert set(server_ids) == local and set(server_ids.values()) == {1}, at
        moved = {d.id: d for d in ws.sample("0001").fields["ground_truth"].detections}
        assert moved[edits["moved"]].bounding_box[0] == pytest.approx(3 / 320), at
        assert not ws.plan().has_changes, at


def test_kill_9_in_a_subprocess(ws: Workspace) -> None:
    """A real SIGKILL in the middle of uploading, then a resume in this process."""
    project = setup(ws)
    script = textwrap.dedent(f"""
        import os, signal
        import requests.adapters as ad
        from annosync.sync.engine import apply_plan, make_plan, open_sessions
        from annosync.sync.session import Connection, SyncOptions
        real = ad.HTTPAdapter.send
        def send(self, request, *a, **k):
            r = real(self, request, *a, **k)
            if request.method == "PUT":  # the server stored the labels; the answer is lost
                os.kill(os.getpid(), signal.SIGKILL)
            return r
        ad.HTTPAdapter.send = send
        conn = Connection(url={ws.server.url!r}, username={ws.server.admin_username!r},
                          password={ws.server.admin_password!r}, interactive=False,
                          verify={server_verify(ws.server)!r})
        with open_sessions([{str(ws.manifest_path)!r}], SyncOptions(), conn) as eng:
            apply_plan(eng, make_plan(eng))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert Journal(ws.folder.state_dir, ws.anno_key).pending()
    ws.run()
    projects, tasks, server_ids = server_state(ws, project)
    assert len(projects) == 1 and len(tasks) == 2
    assert set(server_ids) == local_label_ids(ws, KEYS) and set(server_ids.values()) == {1}
    assert not Journal(ws.folder.state_dir, ws.anno_key).pending()
    assert os.path.exists(ws.folder.state_dir / "runs" / f"{ws.anno_key}.json")
