"""``annosync watch`` under the conditions of issue 12, defect 3.

Reads of the dataset (an editor, a training job, a backup) are not changes; the debounce has an
upper bound; SIGTERM (systemd, ``docker stop``) stops as cleanly as Ctrl-C, lock released; each
per-cycle line reaches a log at once when stdout is not a terminal.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from annosync.cli.cmd_watch import Changes
from annosync.sync.lock import OWNER_FILE, dataset_lock

from .conftest import Workspace


def event(path: str, kind: str) -> SimpleNamespace:
    return SimpleNamespace(src_path=path, dest_path="", event_type=kind, is_directory=False)


@pytest.mark.parametrize("kind", ["opened", "closed_no_write", "attrib"])
def test_reading_a_file_is_not_a_change(kind: str) -> None:
    changes = Changes()
    changes.dispatch(event("/d/street/labels/0001.json", kind))
    assert not changes.event.is_set()


@pytest.mark.parametrize("kind", ["created", "deleted", "modified", "moved", "closed",
                                  "events_lost"])
def test_writing_a_file_is_a_change(kind: str) -> None:
    changes = Changes()
    changes.dispatch(event("/d/street/labels/0001.json", kind))
    assert changes.event.is_set()


def test_the_debounce_has_an_upper_bound() -> None:
    """A file rewritten without pause (a job saving every 20 ms) still lets a cycle run."""
    changes = Changes()
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            changes.dispatch(event("/d/street/labels/0001.json", "modified"))
            time.sleep(0.02)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        started = time.monotonic()
        assert changes.wait(interval=30, debounce=0.3, max_wait=1.0) is True
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        thread.join()


class Lines:
    """The lines a subprocess writes to a pipe, as they arrive."""

    def __init__(self, stream: object) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.queue.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} within {timeout}s; saw {self.seen}")


def test_watch_keeps_syncing_while_files_are_read_and_stops_cleanly_on_sigterm(
        ws: Workspace) -> None:
    ws.manifest()
    assert ws.invoke("sync").exit_code == 0
    label = ws.folder.label_path("0001")
    stop = threading.Event()

    def reader() -> None:  # a training job polling the label files
        while not stop.is_set():
            for path in ws.folder.labels_dir.glob("*.json"):
                path.read_bytes()
            time.sleep(0.01)

    threading.Thread(target=reader, daemon=True).start()
    proc = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-c", "from annosync.cli.main import main; main()", "watch",
         "--interval", "0.5", "--debounce", "0.3"],
        cwd=ws.root, env={**os.environ, **ws.env}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = Lines(proc.stdout)
        lines.wait_for("Watching", 20)
        # cycles go on although the reader never stops, and each line arrives at once
        for _ in range(3):
            lines.wait_for("No changes.", 20)
        before = label.read_bytes()
        shapes = ws.annotator.shapes(ws.task_id())
        x1, y1, x2, y2 = shapes[0]["points"]
        ws.annotator.update_shape(shapes[0]["id"], points=[x1 + 8, y1, x2 + 8, y2])
        lines.wait_for("Apply complete", 20)  # the CVAT edit is pulled on the next poll
        assert label.read_bytes() != before

        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGABRT)  # dump where it hangs (faulthandler)
            proc.wait()
            raise AssertionError(proc.stderr.read() if proc.stderr else "") from None
        assert rc == 0, proc.stderr.read() if proc.stderr else ""
        lines.wait_for("Stopped watching.", 5)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    state = ws.folder.state_dir
    assert not (state / OWNER_FILE).exists()
    with dataset_lock(state, timeout=0):  # released: taken at once
        pass


@pytest.mark.timeout(120)
def test_a_swallowed_ctrl_c_still_stops_watch(ws: Workspace,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C raises KeyboardInterrupt, which Python drops when it lands in a ``__del__``
    (a collection after a cycle): watch must stop anyway, not wait for its next poll (an hour
    here). The first wait delivers SIGINT's handler as it would run, and swallows what it
    raises, as Python would."""
    from annosync.cli import cmd_watch

    ws.manifest()
    assert ws.invoke("sync").exit_code == 0
    real = cmd_watch.Changes.wait

    def wait(self: Changes, *args: object, **kwargs: object) -> bool:
        handler = signal.getsignal(signal.SIGINT)
        assert callable(handler)
        with contextlib.suppress(KeyboardInterrupt):  # lost, as in a __del__
            handler(signal.SIGINT, None)
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cmd_watch.Changes, "wait", wait)
    before = signal.getsignal(signal.SIGINT)
    result = ws.invoke("watch", "--interval", "3600", "--debounce", "0.1")
    assert result.exit_code == 0, result.output
    assert "Stopped watching." in result.output
    assert signal.getsignal(signal.SIGINT) is before  # given back
