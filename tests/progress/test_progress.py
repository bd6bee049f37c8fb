"""The progress interface: renderers (log lines, rich bars), adapters, and the verbs' choice."""

from __future__ import annotations

import io
import threading

from annosync.cli.bars import RichProgress, choose
from annosync.progress import (
    NULL,
    LogProgress,
    RecordingProgress,
    Relay,
    byte_callback,
    human_size,
    request_callback,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_progress_writes_one_line_per_finished_step() -> None:
    out, clock = io.StringIO(), FakeClock()
    progress = LogProgress(out, clock)
    with progress.step("upload media t1", 2_500_000, "B") as step:
        step.status("3 file(s)")
        for done in (1000, 2_000_000, 2_500_000):
            step.update(done)
        assert out.getvalue() == ""  # nothing until the step ends
        clock.now += 1.25
    with progress.step("write labels", 4, "files") as step:
        for _ in range(4):
            step.advance()
    with progress.step("wait"):
        pass
    assert out.getvalue().splitlines() == [
        "upload media t1: 2.5 MB, 3 file(s) in 1.2 s",
        "write labels: 4 files in 0.0 s",
        "wait in 0.0 s",
    ]


def test_closing_twice_writes_once_and_later_updates_are_ignored() -> None:
    out = io.StringIO()
    step = LogProgress(out).step("x", 1, "files")
    step.close()
    step.update(1)
    step.close()
    assert len(out.getvalue().splitlines()) == 1
    assert out.getvalue().startswith("x: 0 files in ")


def test_steps_from_many_threads_keep_their_counts() -> None:
    rec = RecordingProgress()
    step = rec.step("parallel", 800, "files")

    def work() -> None:
        for _ in range(100):
            step.advance()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert rec.steps[0].done == 800


def test_request_callback_reads_cvats_status_and_progress() -> None:
    rec = RecordingProgress()
    cb = request_callback(rec.step("CVAT prepares t1", 100, "%"))
    cb({"status": "queued", "progress": 0.0})
    cb({"status": "started", "progress": 0.375})
    # CVAT 2.73 reports progress 0.0 on finished requests (tests/data/cvat recordings)
    cb({"status": "finished", "progress": 0.0})
    assert [(done, text) for _, done, _, text in rec.updates] == [
        (0, "queued"), (38, "queued"), (38, "started"), (100, "started"), (100, "finished")]
    legacy = RecordingProgress()
    request_callback(legacy.step("task data"))({"state": "Started", "message": ""})
    assert legacy.steps[0].text == "started"


def test_byte_callback_and_sizes() -> None:
    rec = RecordingProgress()
    byte_callback(rec.step("up", None, "B"))(512, 1024)
    assert (rec.steps[0].done, rec.steps[0].total) == (512, 1024)
    assert [human_size(n) for n in (999, 1000, 1_234_567, 5 * 10**9)] == [
        "999 B", "1.0 KB", "1.2 MB", "5.0 GB"]


def test_relay_forwards_to_the_open_renderer_only() -> None:
    relay, rec = Relay(), RecordingProgress()
    relay.step("before").close()
    relay.target = rec
    relay.step("during").close()
    relay.target = NULL
    relay.step("after").close()
    assert [s.what for s in rec.steps] == ["during"]


def test_choose_rich_on_a_terminal_log_lines_elsewhere_nothing_when_quiet() -> None:
    tty = Tty()
    with choose(stream=tty) as progress:
        assert isinstance(progress, RichProgress)
        with progress.step("upload media t1", 2048, "B") as step:
            step.update(1024)
            progress.bars.refresh()
            live = tty.getvalue()
        assert "upload media t1" in live and "1.0 KB" in live
        assert progress.bars.tasks == []  # a finished step leaves no bar behind
    pipe = io.StringIO()
    with choose(stream=pipe) as progress:
        assert isinstance(progress, LogProgress)
        progress.step("s", 1, "files").close()
    assert pipe.getvalue().startswith("s: 0 files in ")
    for flags in ({"quiet": True}, {"as_json": True}, {"enabled": False}):
        quiet = Tty()
        with choose(stream=quiet, **flags) as progress:  # type: ignore[arg-type]
            assert progress is NULL
            progress.step("nothing", 1).close()
        assert quiet.getvalue() == ""


def test_export_wait_and_download_report_progress(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """import-cvat --download-media: CVAT's export (server-side wait) then its download."""
    from pathlib import Path

    from annosync.cvat import Credentials, CvatClient
    from annosync.emulator import Emulator
    from annosync.sync.adopt import import_cvat

    street = Path(__file__).resolve().parents[2] / "fixtures" / "street" / "media"
    with Emulator() as emu:
        client = CvatClient(emu.url, Credentials(username=emu.admin_username,
                                                 password=emu.admin_password),
                            poll_interval=(0.01, 0.05))
        with client:
            task = client.create_task("t", labels=[{"name": "car"}])
            files = [(p.name, p) for p in sorted(street.glob("*.jpg"))[:2]]
            client.upload_task_data(task["id"], files)
            rec = RecordingProgress()
            import_cvat(tmp_path / "ds", client, task_ids=[task["id"]], download_media=True,
                        progress=rec)
    waits = rec.named(f"CVAT exports task {task['id']}")
    downloads = rec.named(f"download task {task['id']}")
    assert len(waits) == 1 and waits[0].done == 100 and waits[0].text == "finished"
    # the zip of two images and their annotations, byte by byte
    jpgs = sum(p.stat().st_size for _, p in files)
    assert len(downloads) == 1 and downloads[0].unit == "B" and downloads[0].done > jpgs
    assert rec.steps.index(waits[0]) < rec.steps.index(downloads[0])
    assert sorted(p.name for p in (tmp_path / "ds" / "media").iterdir()) == [n for n, _ in files]
