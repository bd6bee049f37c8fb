"""A plan made with the label index and the clean memo (sync/index.py) equals a plan made from
scratch (caches deleted), after any sequence of local edits, same-size rewrites, renames,
truncations and annotator edits; and a warm no-op plan reads no label file.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annosync.dataset.folder import DatasetFolder
from annosync.errors import AnnosyncError
from annosync.sync import index as index_mod
from annosync.sync import remote
from annosync.sync import session as session_mod
from annosync.sync.engine import make_plan, open_sessions
from annosync.sync.index import CACHE_DIR
from annosync.sync.session import SyncOptions

from .conftest import Workspace

KEYS = ("0001", "0002", "0003", "night/0005")
#: Racy window for these tests (default 2 s): files written a moment ago are trusted after
#: ``settle()``, so the warm path (stat trusted, file not read) is what gets exercised.
RACY_NS = 100_000_000


@pytest.fixture(autouse=True)
def short_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_mod, "RACY_NS", RACY_NS)


def settle() -> None:
    time.sleep(RACY_NS / 1e9 * 1.5)


def setup(ws: Workspace) -> dict[str, bytes]:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", attributes=["iscrowd"], cvat={"segment_size": 2})
    ws.run()
    return {k: path_of(ws, k).read_bytes() for k in KEYS}


def path_of(ws: Workspace, key: str) -> Path:
    return DatasetFolder(ws.dataset).labels_dir / f"{key}.json"  # type: ignore[arg-type]


def plan_json(ws: Workspace, *, cold: bool) -> tuple[dict[str, Any], int]:
    """The run's plan as JSON, and how many label files the plan read. ``cold``: from
    scratch, the reference way: no caches, every file judged one by one (no bulk survey),
    new samples found by ``selected()`` (no unsorted scan), jobs listed per task."""
    if not cold:
        return _plan_json(ws)
    shutil.rmtree(ws.folder.state_dir / CACHE_DIR, ignore_errors=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(index_mod.LabelIndex, "survey", lambda self, keys, lacking=None: {})
        mp.setattr(session_mod.RunSession, "selected_except",
                   lambda self, recorded: [k for k in self.selected() if k not in recorded])
        mp.setattr(remote, "list_jobs_in_bulk", lambda client, tasks: {})
        return _plan_json(ws)


def _plan_json(ws: Workspace) -> tuple[dict[str, Any], int]:
    with open_sessions([ws.manifest_path], SyncOptions(), ws.connection) as eng:
        rp = make_plan(eng).runs[0]
        read = eng.sessions[0].index.hashed
    return rp.model_dump(mode="json"), read


def edit(ws: Workspace, op: tuple[str, str, int]) -> None:
    kind, key, n = op
    path = path_of(ws, key)
    if not path.exists():
        return
    if kind in ("move", "delete_label"):
        try:
            data = json.loads(path.read_text())
        except ValueError:  # truncated before: leave it broken
            return
    if kind == "move":
        dets = data["fields"]["ground_truth"]["detections"]
        if dets:
            box = dets[n % len(dets)]["bounding_box"]
            box[0] = round(min(0.5, box[0] + 0.01 * (1 + n % 3)), 6)
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    elif kind == "delete_label":
        dets = data["fields"]["ground_truth"]["detections"]
        if dets:
            dets.pop(n % len(dets))
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    elif kind == "same_size":  # one digit of a box changed, in place, mtime kept
        st0 = path.stat()
        text = path.read_bytes()
        at = text.find(b'"bounding_box": [0.')
        if at >= 0:
            pos = at + len(b'"bounding_box": [0.')
            digit = b"%d" % ((text[pos] - 48 + 1 + n % 8) % 10)
            with open(path, "r+b") as fh:
                fh.seek(pos)
                fh.write(digit)
            os.utime(path, ns=(st0.st_atime_ns, st0.st_mtime_ns))
    elif kind == "truncate":
        with open(path, "r+b") as fh:
            fh.truncate(n)
    elif kind == "rename":
        other = path.with_name(path.name + ".away")
        os.replace(path, other)
    elif kind == "add":  # a new sample (a copy under another key): the plan creates a task
        target = path.with_name(f"new{n % 3}-{path.name}")
        if not target.exists():
            shutil.copyfile(path, target)
    elif kind == "remote":
        try:
            box = ws.sample("0002").fields["ground_truth"].detections[0]
        except (AnnosyncError, IndexError):  # broken or emptied locally: edit nothing
            return
        shapes = [s for s in ws.emu.annotator(ws.emu.admin_username).shapes(ws.record.tasks[0].id)
                  if any(a.get("value") == box.id for a in s.get("attributes", []))]
        if shapes:
            x1, y1, x2, y2 = shapes[0]["points"]
            ws.emu.annotator(ws.emu.admin_username).update_shape(
                shapes[0]["id"], points=[x1 + 1 + n % 3, y1, x2 + 1 + n % 3, y2])


def restore(ws: Workspace, originals: dict[str, bytes]) -> None:
    for added in DatasetFolder(ws.dataset).labels_dir.glob("**/new*"):  # type: ignore[arg-type]
        added.unlink()
    for key, data in originals.items():
        path = path_of(ws, key)
        away = path.with_name(path.name + ".away")
        if away.exists():
            away.unlink()
        if path.read_bytes() != data if path.exists() else True:
            path.write_bytes(data)


def test_warm_noop_plan_reads_no_label_file(ws: Workspace) -> None:
    setup(ws)
    settle()
    cold, read_cold = plan_json(ws, cold=True)
    assert read_cold > 0
    warm, read_warm = plan_json(ws, cold=False)
    assert warm == cold and read_warm == 0
    # one file changes: only that one is read, and the plan shows its edit
    edit(ws, ("move", "0003", 0))
    settle()
    changed, read_changed = plan_json(ws, cold=False)
    assert read_changed == 1
    assert [s["sample"] for s in changed["samples"]] == ["0003"]
    assert changed == plan_json(ws, cold=True)[0]


class Originals(dict):  # type: ignore[type-arg]
    def __repr__(self) -> str:  # keep Hypothesis' failure reports readable
        return f"<{len(self)} label files>"


@pytest.fixture
def run_once(ws: Workspace) -> tuple[Workspace, dict[str, bytes]]:
    return ws, Originals(setup(ws))


steps = st.lists(st.tuples(
    st.sampled_from(["move", "delete_label", "same_size", "truncate", "rename", "remote",
                     "add", "plan"]),
    st.sampled_from(KEYS), st.integers(0, 40)), min_size=1, max_size=6)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=steps)
def test_plan_with_the_index_equals_a_plan_from_scratch(
        run_once: tuple[Workspace, dict[str, bytes]], ops: list[tuple[str, str, int]]) -> None:
    ws, originals = run_once
    try:
        for op in ops:
            if op[0] == "plan":  # warm the caches half way, edits old enough to be trusted
                settle()
                plan_json(ws, cold=False)
            elif op[0] == "remote" and not hasattr(ws.server, "annotator"):
                continue
            else:
                if op[0] == "remote":
                    ws.emu  # noqa: B018 - skips on a real server
                edit(ws, op)
        settle()
        warm, _ = plan_json(ws, cold=False)
        cold, _ = plan_json(ws, cold=True)
        assert warm == cold
    finally:
        restore(ws, originals)


def test_a_cold_plan_keeps_only_the_samples_with_something_to_do(ws: Workspace) -> None:
    """Memory: a plan that had to read every file (no caches) keeps in memory only the
    samples apply needs, like a warm plan (the others are vouched for by the memo); a sync
    applied after it still pushes the edit and leaves a no-op."""
    setup(ws)
    edit(ws, ("move", "0003", 0))
    settle()
    shutil.rmtree(ws.folder.state_dir / CACHE_DIR, ignore_errors=True)
    with open_sessions([ws.manifest_path], SyncOptions(), ws.connection) as eng:
        rp = make_plan(eng).runs[0]
        assert eng.sessions[0].index.hashed >= len(KEYS)  # every file read
        assert sorted(rp._work.samples) == ["0003"]
        assert [s.sample for s in rp.samples] == ["0003"]
    ws.run()
    settle()
    after, _ = plan_json(ws, cold=True)
    assert after["samples"] == [] and after["conflicts"] == []


def test_a_job_changed_in_cvat_is_read_though_its_files_are_vouched_for(ws: Workspace) -> None:
    """Warm caches vouch for every file; CVAT changes a job: the samples of that job are
    read and merged all the same (the plan equals one made from scratch and shows the pull)."""
    originals = setup(ws)
    settle()
    plan_json(ws, cold=False)
    edit(ws, ("remote", "0002", 1))
    warm, read = plan_json(ws, cold=False)
    assert read == 2  # the two samples of the changed job (segment_size 2), no other
    assert [s["sample"] for s in warm["samples"]] == ["0002"]
    assert warm["samples"][0]["pull"]["edit"] == 1
    assert warm == plan_json(ws, cold=True)[0]
    restore(ws, originals)


def test_fingerprint_hashes_each_key_and_its_file_digest_in_run_order(ws: Workspace) -> None:
    """The plan's fingerprint is, byte for byte, SHA-256 of the manifest, the options, the
    run record, then every run key followed by the digest of its file's bytes (read here
    from scratch), then every job's date: however the keys and digests are joined."""
    import hashlib

    from annosync.sync.index import content_digest
    from annosync.sync.planner import fingerprint, plan_options
    from annosync.sync.record import record_path
    from annosync.sync.refresh import RunWork

    setup(ws)
    edit(ws, ("move", "0002", 1))
    with open_sessions([ws.manifest_path], SyncOptions(), ws.connection) as eng:
        session = eng.sessions[0]
        work = RunWork()
        got = fingerprint(session, work)
        h = hashlib.sha256()
        h.update(json.dumps(session.manifest.model_dump(mode="json"), sort_keys=True).encode())
        h.update(json.dumps(plan_options(session), sort_keys=True, default=str).encode())
        h.update(record_path(session.state_dir, session.anno_key).read_bytes())
        keys = [k for t in session.record.tasks for k in t.samples]
        assert len(keys) >= 4
        for key in keys:
            h.update(key.encode())
            h.update(content_digest(session.folder.read_bytes(key)).encode())
        assert got == h.hexdigest()[:32]
