"""``annosync watch --webhook`` on the emulator: CVAT's delivery makes it pull at once (the poll
interval is an hour, so only the webhook can explain the pull), its webhook goes away on a clean
stop, and an unreachable receiver falls back to polling."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from annosync.emulator import Emulator

from .conftest import Workspace
from .test_review import first_box, move

READY = "syncing on its webhooks"


class Watch:
    """``annosync watch`` in a child process, its output read line by line."""

    def __init__(self, ws: Workspace, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "ANNOSYNC_CVAT_URL": ws.server.url,
               "ANNOSYNC_CVAT_USERNAME": ws.server.admin_username,
               "ANNOSYNC_CVAT_PASSWORD": ws.server.admin_password}
        env.update({k: "Dana" if k.endswith("NAME") else "dana@example.org" for k in (
            "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")})
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from annosync.cli.main import main; main()", "watch",
             "--interval", "3600", "--safety-poll", "3600", *args, str(ws.manifest_path)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ws.root)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no {text!r} in the output:\n" + "\n".join(self.seen))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.fixture
def watches() -> Iterator[list[Watch]]:
    made: list[Watch] = []
    yield made
    for w in made:
        w.stop()


def start_run(ws: Workspace) -> list[str]:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", cvat={
        "project_name": f"p-{ws.key}", "segment_size": 2,
        "job_assignees": [ws.user("alice"), ws.user("bob")]})
    ws.run()
    return ws.record.tasks[0].samples


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Dana", "GIT_AUTHOR_EMAIL": "dana@example.org",
           "GIT_COMMITTER_NAME": "Dana", "GIT_COMMITTER_EMAIL": "dana@example.org"}
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True, env=env).stdout


def wait_for_change(path: Path, timeout: float = 20.0) -> float:
    """Until the file is replaced (stat only: reading would be a file event for the watch)."""
    start = time.monotonic()
    before = path.stat()
    while (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns):
        assert time.monotonic() - start < timeout, f"{path} did not change"
        time.sleep(0.005)
    return time.monotonic() - start


def hooks_of(emu: Emulator) -> list[int]:
    with emu.state.lock:
        return sorted(emu.state.webhooks)


def test_a_delivery_pulls_at_once_and_the_webhook_goes_on_stop(
        ws: Workspace, watches: list[Watch]) -> None:
    emu = ws.emu
    keys = start_run(ws)
    git(ws.root, "init", "-q")
    git(ws.root, "add", "-A")
    git(ws.root, "commit", "-qm", "start")
    before_hooks = hooks_of(emu)
    watch = Watch(ws, "--webhook", "--commit")
    watches.append(watch)
    watch.expect(READY)
    (hook,) = set(hooks_of(emu)) - set(before_hooks)
    with emu.state.lock:
        assert emu.state.webhooks[hook].type == "project"
        assert emu.state.webhooks[hook].secret  # deliveries are signed
        assert emu.state.webhooks[hook].events == ["delete:task", "update:job", "update:task"]

    path = ws.folder.label_path(keys[2])
    move(ws, keys[2], 17)  # an annotator saves in CVAT: update:job + update:task
    took = wait_for_change(path)
    line = watch.expect("Changes found in task(s)")
    assert str(ws.task_ids()[0]) in line
    print(f"\ndelivery -> label file written in {took * 1000:.0f} ms")
    watch.expect("committed job")
    bob = ws.user("bob")  # job 2-3's assignee: git says who annotated it
    assert git(ws.root, "log", "-1", "--format=%an <%ae>").strip() == f"{bob} <{bob}@example.com>"
    width = ws.sample(keys[2]).metadata.width
    assert first_box(ws, keys[2]).bounding_box[0] == pytest.approx(17 / width, abs=1e-6)

    assert watch.stop() == 0
    assert hooks_of(emu) == before_hooks  # removed on a clean stop
    assert "removed webhook" in "\n".join(watch.seen + list(watch.lines.queue))


def test_an_unreachable_receiver_falls_back_to_polling(ws: Workspace,
                                                       watches: list[Watch]) -> None:
    emu = ws.emu
    start_run(ws)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    before_hooks = hooks_of(emu)
    watch = Watch(ws, "--webhook", "--webhook-url", f"http://127.0.0.1:{closed}/annosync")
    watches.append(watch)
    line = watch.expect("polling CVAT instead")
    assert "status 502" in "\n".join(watch.seen) or "did not reach" in line
    assert hooks_of(emu) == before_hooks
    assert watch.stop() == 0
