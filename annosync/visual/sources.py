"""Where the changes to draw come from: a plan (what a sync would do), a git revision, or the
state before the run's last pull (``.annosync/previous``, see ``sync/previous.py``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

from annosync.dataset.folder import DatasetFolder, parse_sample, validate_sample
from annosync.errors import InputError, StateError
from annosync.sync.plan import Plan
from annosync.sync.previous import load_previous, previous_path
from annosync.sync.record import RunRecord, list_records, load_record
from annosync.visual.changes import SampleDiff, diff_samples, from_merges
from annosync.visual.draw import Skeletons


def plan_diffs(plan: Plan, sessions: list[Any]) -> list[tuple[SampleDiff, Path]]:
    """Every sample a plan changes (pulls, pushes, conflicts), with its dataset root."""
    by_key = {s.anno_key: s for s in sessions}
    many = len(plan.runs) > 1
    out: list[tuple[SampleDiff, Path]] = []
    for rp in plan.runs:
        work = rp._work
        session = by_key.get(rp.anno_key)
        if work is None or session is None:
            continue
        for key, sw in sorted(work.samples.items()):
            if not any(m.changes or m.conflicts for m in sw.merges.values()):
                continue
            diff = from_merges(key, sw.original, sw.merged, sw.merges, session.record)
            if many:
                diff.key = f"{rp.anno_key}/{key}"
            out.append((diff, session.folder.root))
    return out


def records(folder: DatasetFolder) -> list[RunRecord]:
    loaded = (load_record(folder.state_dir, key) for key in list_records(folder.state_dir))
    return [r for r in loaded if r is not None]


def _record_for(records: list[RunRecord], key: str) -> RunRecord | None:
    return next((r for r in records if key in r.samples), None)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("git")
    if exe is None:
        raise StateError("annosync diff REV needs git on PATH")
    return subprocess.run([exe, "-C", str(root), *args], capture_output=True, check=False)


def git_diffs(folder: DatasetFolder, rev: str) -> list[SampleDiff]:
    """Label files that differ between git revision ``rev`` and the working tree."""
    top = _git(folder.root, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise StateError(f"{folder.root} is not inside a git repository: give no revision to "
                         "compare with the state before the last pull")
    repo = Path(top.stdout.decode().strip()).resolve()
    if _git(repo, "rev-parse", "-q", "--verify", f"{rev}^{{commit}}").returncode != 0:
        raise InputError.at(f"unknown git revision {rev!r}", str(repo))
    labels = folder.labels_dir.relative_to(repo).as_posix()
    changed = _git(repo, "diff", "--name-only", "-z", "--no-renames", rev, "--", labels)
    untracked = _git(repo, "ls-files", "-z", "--others", "--exclude-standard", "--", labels)
    paths = sorted({p for out in (changed, untracked) for p in out.stdout.decode().split("\0")
                    if p.endswith(".json")})
    recs = records(folder)
    diffs = []
    for rel in paths:
        key = PurePosixPath(rel).relative_to(labels).with_suffix("").as_posix()
        old = _git(repo, "show", f"{rev}:{rel}")
        before = parse_sample(old.stdout, f"{rev}:{rel}") if old.returncode == 0 else None
        path = repo / rel
        after = parse_sample(path.read_bytes(), str(path)) if path.is_file() else None
        diff = diff_samples(key, before, after, _record_for(recs, key))
        if diff.changes:
            diffs.append(diff)
    return diffs


def previous_diffs(folder: DatasetFolder, anno_key: str | None) -> tuple[str, list[SampleDiff]]:
    """The label files the run's last pull rewrote: before it, and now."""
    recs = records(folder)
    keys = [anno_key] if anno_key else [r.anno_key for r in recs]
    found = [(k, p) for k in keys if (p := load_previous(folder.state_dir, k)) is not None]
    if not found:
        raise StateError(f"{folder.root}: no pull has written label files yet"
                         + (f" for run {anno_key}" if anno_key else "")
                         + "; give a git revision to compare with")
    if len(found) > 1:
        raise StateError(f"{folder.root}: several runs pulled ({', '.join(k for k, _ in found)})"
                         ": choose one with --anno-key")
    key_name, (stamp, samples) = found[0]
    record = next((r for r in recs if r.anno_key == key_name), None)
    where = str(previous_path(folder.state_dir, key_name))
    diffs = []
    for key, raw in sorted(samples.items()):
        before = None if raw is None else validate_sample(raw, where, ("samples", key))
        after = folder.read(key) if folder.exists(key) else None
        diff = diff_samples(key, before, after, record)
        if diff.changes:
            diffs.append(diff)
    return f"{key_name} before its pull of {stamp}", diffs


def skeletons_of(folder: DatasetFolder) -> Skeletons:
    """Keypoint skeletons an import kept: FiftyOne's (by field, and its default) and COCO's
    (by category name, 1-based pairs)."""
    out: Skeletons = {}
    for name, reader in (("fiftyone.json", _fo_skeletons), ("coco.json", _coco_skeletons)):
        path = folder.state_dir / name
        if path.is_file():
            try:
                out.update(reader(json.loads(path.read_text(encoding="utf-8"))))
            except (ValueError, TypeError, KeyError, AttributeError):
                continue  # a skeleton is decoration: never fail a review over one
    return out


def _fo_skeletons(data: dict[str, Any]) -> Skeletons:
    dataset = data.get("dataset") or {}
    out: Skeletons = {}
    for name, skel in (dataset.get("skeletons") or {}).items():
        out[name] = _paths(skel.get("edges") or [])
    default = dataset.get("default_skeleton")
    if default:
        out.setdefault("*", _paths(default.get("edges") or []))
    return out


def _paths(edges: list[list[int]]) -> list[tuple[int, int]]:
    """FiftyOne's skeleton edges are paths of point indexes: consecutive pairs."""
    return [(int(p[i]), int(p[i + 1])) for p in edges for i in range(len(p) - 1)]


def _coco_skeletons(data: dict[str, Any]) -> Skeletons:
    return {c["name"]: [(int(a) - 1, int(b) - 1) for a, b in c.get("skeleton") or []]
            for c in data.get("categories") or [] if c.get("skeleton")}
