"""Injected faults: a flaky network and proxy (5xx, resets, truncated answers, stalls, 429), a
CVAT restart in the middle of a run, a full disk during a pull.

The end state must be the one an undisturbed run reaches (the oracle): same labels in the files
and in CVAT, no task twice, every label file whole. A run that a fault stops is run again, as a
user (or a CI retry) would; how many runs it took is reported.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab import ADMIN, Workspace, edit_in_cvat, extra, invoke, missing, record, snapshot

import annosync.dataset.atomic as atomic
from annosync.cvat import Credentials, CvatClient
from annosync.dataset.folder import parse_sample
from annosync.emulator import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(users=["alice"]) as server:
        yield server


def client(emu: Emulator) -> CvatClient:
    return CvatClient(emu.url, Credentials(username=ADMIN[0], password=ADMIN[1]))


def sync_until_done(ws: Workspace, attempts: int = 40) -> tuple[int, list[str]]:
    """Run ``annosync sync`` (a subprocess) until it succeeds; (runs it took, their errors)."""
    errors: list[str] = []
    for n in range(1, attempts + 1):
        done = ws.run("sync", timeout=3600)
        if done.rc == 0:
            return n, errors
        assert "Traceback" not in done.err, done.err
        errors.append(done.err.strip().splitlines()[-1] if done.err.strip() else f"rc {done.rc}")
    raise AssertionError(f"sync never succeeded in {attempts} runs: {errors}")


def compare(ws: Workspace, oracle: Workspace, emu: Emulator) -> dict[str, int]:
    with client(emu) as c:
        got, want = snapshot(ws, c), snapshot(oracle, c)
    return {
        "duplicate_tasks": got.duplicate_tasks, "orphan_tasks": got.orphan_tasks,
        "lost_local": missing(want.local, got.local), "lost_remote": missing(want.remote, got.remote),
        "extra_local": extra(want.local, got.local), "extra_remote": extra(want.remote, got.remote),
        "corrupt": len(got.corrupt), "temporaries": len(got.temporaries),
        "tasks": len(got.server_tasks),
    }


def faulty_sync(tmp_path: Path, emu: Emulator, images: int, rate: float, stall: float,
                seed: int, **shape: Any) -> tuple[int, list[str], dict[str, int], dict[str, int]]:
    oracle = Workspace(tmp_path / "oracle", emu.url, f"fo{seed}x", images=images,
                       **shape).create()
    assert oracle.run("sync", timeout=3600).rc == 0
    ws = Workspace(tmp_path / "faulty", emu.url, f"ff{seed}x", images=images, **shape).create()
    seen = {"requests": 0}

    def count(method: str, path: str) -> None:
        seen["requests"] += 1

    emu.faults.chaos(rate, stall=stall, seed=seed)
    emu.app.on_request = count
    try:
        runs, errors = sync_until_done(ws)
    finally:
        emu.app.on_request = None
        injected = {**emu.faults.injected, "requests": seen["requests"]}
        emu.faults.clear()
    assert ws.plan_here() == []
    return runs, errors, injected, compare(ws, oracle, emu)


ZERO = ("duplicate_tasks", "orphan_tasks", "lost_local", "lost_remote", "extra_local",
        "extra_remote", "corrupt", "temporaries")


def test_a_sync_through_a_flaky_network_ends_like_an_undisturbed_one(
        tmp_path: Path, emu: Emulator) -> None:
    _runs, errors, injected, counts = faulty_sync(tmp_path, emu, images=16, rate=0.15,
                                                 stall=0.5, seed=5, task_size=4)
    assert sum(injected.values()) > injected["requests"]  # some faults were injected
    assert {k: counts[k] for k in ZERO} == dict.fromkeys(ZERO, 0), (counts, errors)
    assert counts["tasks"] == 4


@pytest.mark.reliability
def test_2000_images_with_5_percent_of_requests_failing(tmp_path: Path, emu: Emulator) -> None:
    images = int(os.environ.get("ANNOSYNC_RELIABILITY_IMAGES", "2000"))
    runs, errors, injected, counts = faulty_sync(tmp_path, emu, images=images, rate=0.05,
                                                 stall=30.0, seed=7, task_size=25,
                                                 segment_size=25, boxes=2)
    requests = injected.pop("requests")
    record("flaky network", f"sync of {images} images, 5% of requests failing "
           f"({sum(injected.values())} faults in {requests} requests: "
           + ", ".join(f"{k} {v}" for k, v in sorted(injected.items())) + ")",
           {**{k: counts[k] for k in ZERO}, "runs needed": runs},
           "same end state as without faults" if not any(counts[k] for k in ZERO) else "NO")
    assert not any(counts[k] for k in ZERO), (counts, errors)


def test_cvat_restarting_in_the_middle_of_a_run(tmp_path: Path, emu: Emulator) -> None:
    oracle = Workspace(tmp_path / "oracle", emu.url, "ro1x", images=12).create()
    assert oracle.run("sync").rc == 0
    ws = Workspace(tmp_path / "ws", emu.url, "rr1x", images=12).create()
    seen = {"n": 0}
    restarted = threading.Event()

    def count(method: str, path: str) -> None:
        seen["n"] += 1
        if seen["n"] == 25 and not restarted.is_set():
            restarted.set()
            threading.Thread(target=emu.restart, kwargs={"downtime": 2.0}).start()

    emu.app.on_request = count
    try:
        runs, errors = sync_until_done(ws, attempts=5)
    finally:
        emu.app.on_request = None
    assert restarted.is_set()
    assert ws.plan_here() == []
    counts = compare(ws, oracle, emu)
    assert {k: counts[k] for k in ZERO} == dict.fromkeys(ZERO, 0), (counts, errors)
    assert runs <= 2, errors


def test_a_full_disk_during_a_pull_leaves_every_label_file_whole(
        tmp_path: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace(tmp_path, emu.url, "enospc1x").create()
    assert invoke(ws, "sync").exit_code == 0
    with client(emu) as c:
        edit_in_cvat(c, ws)  # three samples change in CVAT: the pull writes three files
    before = {k: ws.folder.label_path(k).read_bytes() for k in ws.folder}
    real_fsync = os.fsync
    calls = {"n": 0}

    def fsync(fd: int) -> None:
        target = ""
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
        if "/labels/." in target:  # the new copy of a label file
            calls["n"] += 1
            if calls["n"] >= 2:  # the first file is saved, then the disk is full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    res = invoke(ws, "pull")
    monkeypatch.setattr(atomic.os, "fsync", real_fsync)
    assert res.exit_code == 1
    last = res.output.strip().splitlines()[-1]
    assert last.startswith("error: ") and last.endswith(": No space left on device")
    assert "/labels/" in last  # names the file that could not be saved
    assert "Traceback" not in res.output and "internal error" not in res.output
    changed = 0
    for key, old in before.items():
        now = ws.folder.label_path(key).read_bytes()
        parse_sample(now, key)  # whole: the old content or the new, never a mix
        changed += now != old
    assert changed == 1
    assert not [p for p in ws.dataset.rglob(".*.tmp")]

    res = invoke(ws, "pull")  # space again: the pull finishes
    assert res.exit_code == 0, res.output
    assert ws.plan_here() == []
