"""Concurrent runs on one dataset: two syncs, a stale lock after kill -9, watch plus a manual
sync, and two clones of one dataset exchanging through git."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab import ADMIN, Workspace, edit_locally, invoke

from annosync.cvat import Credentials, CvatClient
from annosync.emulator import Emulator
from annosync.sync.lock import OWNER_FILE, is_stale, read_owner


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(users=["alice"]) as server:
        yield server


def server_tasks(emu: Emulator, key: str) -> Counter[str]:
    with CvatClient(emu.url, Credentials(username=ADMIN[0], password=ADMIN[1])) as client:
        return Counter(t["name"] for t in client.list_tasks(search=key) if key in t["name"])


def wait_for(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def test_two_syncs_one_waits_or_names_the_holder(tmp_path: Path, emu: Emulator) -> None:
    ws = Workspace(tmp_path, emu.url, "twosync1x").create()
    emu.faults.add(method="GET", path=r"^/api/requests/", latency=0.3, times=6)  # a slow CVAT
    first = ws.popen("sync")
    try:
        wait_for(lambda: (ws.state / OWNER_FILE).exists())
        res = invoke(ws, "sync")
        assert res.exit_code == 1
        assert f"`annosync sync` (pid {first.pid}" in res.output
        assert "is working on this dataset" in res.output and "--lock-timeout" in res.output
        res = invoke(ws, "sync", "--lock-timeout", "120")  # waits for the first, then syncs
        assert res.exit_code == 0, res.output
        assert first.wait(timeout=120) == 0
    finally:
        emu.faults.clear()
        if first.poll() is None:
            first.kill()
            first.wait()
    assert server_tasks(emu, ws.key) == Counter({f"annosync_ds_{ws.key}_{n}": 1 for n in (1, 2, 3)})
    assert invoke(ws, "plan").exit_code == 0


def test_a_lock_left_by_kill_9_is_recovered(tmp_path: Path, emu: Emulator) -> None:
    ws = Workspace(tmp_path, emu.url, "stale1x").create()
    emu.faults.add(method="GET", path=r"^/api/requests/", latency=0.3, times=6)
    first = ws.popen("sync")
    try:
        wait_for(lambda: (ws.state / OWNER_FILE).exists())
        time.sleep(0.3)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        emu.faults.clear()
    owner = read_owner(ws.state)
    assert owner is not None and owner["pid"] == first.pid and is_stale(owner)
    res = invoke(ws, "sync")  # at once: the kernel released the lock with the process
    assert res.exit_code == 0, res.output
    assert not (ws.state / OWNER_FILE).exists()
    assert not [p for p in ws.dataset.rglob(".*.tmp")]
    assert set(server_tasks(emu, ws.key).values()) == {1}
    assert invoke(ws, "plan").exit_code == 0


def test_watch_and_a_manual_sync(tmp_path: Path, emu: Emulator) -> None:
    ws = Workspace(tmp_path, emu.url, "watchman1x").create()
    assert invoke(ws, "sync").exit_code == 0
    watch = ws.popen("watch", "--interval", "0.2", "--debounce", "0.1", probe=False)
    try:
        assert watch.stdout is not None
        assert "Watching" in watch.stdout.readline()  # its SIGTERM handler is in place
        edit_locally(ws)  # watch sees it; so does the manual sync: one of them pushes it
        for _ in range(3):
            res = invoke(ws, "sync", "--lock-timeout", "60")
            assert res.exit_code == 0, res.output
        assert watch.poll() is None
        watch.send_signal(signal.SIGTERM)
        out, err = watch.communicate(timeout=30)
        assert watch.returncode == 0, err
        assert "Stopped watching." in out and "error" not in out, out
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    assert set(server_tasks(emu, ws.key).values()) == {1}
    assert invoke(ws, "plan").exit_code == 0
    with CvatClient(emu.url, Credentials(username=ADMIN[0], password=ADMIN[1])) as client:
        shapes = sum(len(client.get_annotations(task_id=t["id"])["shapes"])
                     for t in client.list_tasks(search=ws.key))
    assert shapes == ws.images * ws.boxes  # one box deleted, one added: each pushed once


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "init.defaultBranch=main", *args], cwd=cwd,
                          capture_output=True, text=True, check=False)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_two_clones_sharing_a_dataset_through_git(tmp_path: Path, emu: Emulator) -> None:
    origin = Workspace(tmp_path / "origin", emu.url, "gitshare1x").create()
    assert git(origin.root, "init", "-q").returncode == 0
    git(origin.root, "add", "-A")
    assert git(origin.root, "commit", "-qm", "dataset").returncode == 0
    for name in ("a", "b"):
        assert git(tmp_path, "clone", "-q", str(origin.root), name).returncode == 0
    a = Workspace(tmp_path / "a", emu.url, origin.key)
    b = Workspace(tmp_path / "b", emu.url, origin.key)

    # A syncs first and shares its run record; B, not up to date, is stopped, not duplicated
    assert invoke(a, "sync").exit_code == 0
    assert (a.state / ".gitignore").read_text().startswith("lock\n")
    git(a.root, "add", "-A")
    git(a.root, "commit", "-qm", "sync")
    git(a.root, "push", "-q", "origin", "HEAD:common")
    res = invoke(b, "sync")
    assert res.exit_code == 1 and "another clone of this dataset synced the run" in res.output
    assert set(server_tasks(emu, origin.key).values()) == {1}
    shutil.rmtree(b.state)  # what B's failed attempt left (nothing was created in CVAT)
    assert git(b.root, "pull", "-q", "origin", "common").returncode == 0
    assert invoke(b, "plan").exit_code == 0  # A's record: CVAT and B's dataset agree

    # both edit, sync and commit; B merges A's work: merged, or a conflict said clearly
    edit_locally(a)
    s1 = b.folder.read("0001")
    dets = list(s1.fields["ground_truth"].detections)
    b.folder.write("0001", s1.model_copy(update={"fields": {
        **s1.fields, "ground_truth": type(s1.fields["ground_truth"])(detections=dets[1:])}}))
    for ws in (a, b):
        assert invoke(ws, "sync").exit_code == 0
        git(ws.root, "add", "-A")
        git(ws.root, "commit", "-qm", f"sync {ws.root.name}")
    git(a.root, "push", "-q", "origin", "HEAD:common2")
    merged = git(b.root, "pull", "-q", "--no-rebase", "origin", "common2")
    if merged.returncode != 0:
        res = invoke(b, "plan")
        assert res.exit_code == 1
        assert "unresolved git merge conflict in the run record" in res.output
        assert "Traceback" not in res.output
        record = f"ds/.annosync/runs/{origin.key}.json"
        git(b.root, "checkout", "--theirs", record)
        git(b.root, "add", "-A")
        assert git(b.root, "commit", "-qm", "merge").returncode == 0
    res = invoke(b, "sync")
    assert res.exit_code == 0, res.output
    assert invoke(b, "plan").exit_code == 0
    assert set(server_tasks(emu, origin.key).values()) == {1}
    with CvatClient(emu.url, Credentials(username=ADMIN[0], password=ADMIN[1])) as client:
        shapes = sum(len(client.get_annotations(task_id=t["id"])["shapes"])
                     for t in client.list_tasks(search=origin.key))
    assert shapes == origin.images * origin.boxes - 1  # A: -1 +1, B: -1
