"""watch's change filter and debounce, and the README's main command: ``annosync demo``."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

from click.testing import CliRunner

from annosync.cli.cmd_watch import Changes
from annosync.cli.main import cli


def event(path: str, kind: str = "modified", directory: bool = False) -> SimpleNamespace:
    return SimpleNamespace(src_path=path, dest_path="", event_type=kind, is_directory=directory)


def test_changes_ignore_machine_state() -> None:
    changes = Changes()
    changes.dispatch(event("/d/street/.annosync/runs/x.json"))
    changes.dispatch(event("/d/street/labels/.0001.json.tmp"))
    changes.dispatch(event("/d/street/labels", directory=True))
    assert not changes.event.is_set()
    changes.dispatch(event("/d/street/labels/0001.json"))
    assert changes.event.is_set()


def test_changes_wait_times_out_and_debounces() -> None:
    changes = Changes()
    assert changes.wait(interval=0.01, debounce=0.0) is False

    def burst() -> None:
        for _ in range(3):
            changes.dispatch(event("/d/labels/0001.json"))
            time.sleep(0.02)

    thread = threading.Thread(target=burst)
    thread.start()
    started = time.monotonic()
    assert changes.wait(interval=5, debounce=0.1) is True
    assert time.monotonic() - started >= 0.1
    thread.join()
    assert not changes.event.is_set() or changes.wait(0.01, 0.0)


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    res = CliRunner().invoke(cli, ["demo", "--dir", str(work)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = res.output
    assert "-> the manifest selects 0003 (limit: 1)" in out
    assert "Plan: 1 task to create; 3 labels to upload." in out
    assert "~ labels/0003.json  ground_truth: 2 edited, 1 added, 1 deleted (by CVAT), 0 conflicts" in out
    assert "Plan: 4 label changes to pull." in out
    assert "relabeled car -> truck" in out
    assert "--- a/labels/0003.json" in out and '+          "label": "truck"' in out
    assert "Assignee: alice" in out
    assert "deleted 1 task(s) from CVAT" in out
    assert "Done in" in out
    labels = (work / "datasets" / "street" / "labels" / "0003.json").read_text()
    assert '"truck"' in labels and '"person"' in labels


def test_demo_refuses_a_folder_in_use(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    res = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path)])
    assert res.exit_code == 1
    assert "empty or new folder" in res.output
