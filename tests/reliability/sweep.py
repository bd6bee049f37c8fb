"""Kill sweeps: many runs of ``annosync sync`` signalled at random moments, each followed by a
re-sync and compared with an uninterrupted run (see ``lab.py``)."""

from __future__ import annotations

import random
import signal
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab import (
    EmulatorProcess,
    Profile,
    Snapshot,
    Workspace,
    edit_in_cvat,
    edit_locally,
    extra,
    lock_free,
    missing,
    owner_note_left,
    profile,
    run_and_signal,
    snapshot,
)

PHASES = ("create", "update")
#: trigger kinds per phase (label files are written by a pull/push, TUS and polls by uploads)
KINDS = {
    "create": ("time", "time", "request", "request", "tus", "poll", "record-write"),
    "update": ("time", "request", "request", "label-write", "record-write"),
}
SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}


@dataclass
class Outcome:
    phase: str
    signal: str
    trigger: str
    rc: int
    landed: bool
    early: bool
    finished: bool
    clean_stop: bool
    lock_free: bool
    note_left: bool
    resync_rc: int
    resyncs: int
    plan_rc: int
    duplicate_tasks: int
    orphan_tasks: int
    duplicate_projects: int
    lost_local: int
    lost_remote: int
    extra_local: int
    extra_remote: int
    corrupt: int
    temporaries: int
    pending: int
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.clean_stop and self.lock_free and self.resync_rc == 0 and self.plan_rc == 0
                and not (self.duplicate_tasks or self.orphan_tasks or self.duplicate_projects
                         or self.lost_local or self.lost_remote or self.extra_local
                         or self.extra_remote or self.corrupt or self.temporaries
                         or self.pending))


class Lab:
    """One emulator process and an oracle per phase; ``trial`` runs one interrupted sync."""

    def __init__(self, root: Path, emu: EmulatorProcess, seed: int = 0, **shape: Any) -> None:
        self.root = root
        self.emu = emu
        self.shape = shape
        self.rng = random.Random(seed)
        self.n = 0
        self.tag = f"{seed:x}"
        self.oracles: dict[str, tuple[Profile, Snapshot]] = {}

    def workspace(self) -> Workspace:
        self.n += 1
        key = f"rl{self.tag}n{self.n:04d}x"
        return Workspace(self.root / key, self.emu.url, key, **self.shape).create(seed=0)

    def prepare(self, phase: str) -> Workspace:
        ws = self.workspace()
        if phase == "update":
            ws.sync_here()
            with self.emu.client() as client:
                edit_in_cvat(client, ws)
            edit_locally(ws)
        return ws

    def oracle(self, phase: str) -> tuple[Profile, Snapshot]:
        if phase not in self.oracles:
            ws = self.prepare(phase)
            prof = profile(ws, self.emu)
            with self.emu.client() as client:
                snap = snapshot(ws, client)
            self.oracles[phase] = (prof, snap)
        return self.oracles[phase]

    def trial(self, phase: str, sig_name: str, kind: str | None = None) -> Outcome:
        prof, want = self.oracle(phase)
        kind = kind or self.rng.choice(KINDS[phase])
        trigger = prof.pick(self.rng, kind)
        ws = self.prepare(phase)
        killed = run_and_signal(ws, self.emu, trigger, SIGNALS[sig_name])
        errors: list[str] = []
        early = killed.before_startup(SIGNALS[sig_name])
        if sig_name == "SIGKILL":
            clean = killed.rc in (0, -signal.SIGKILL)
        else:
            clean = early or (killed.rc in (0, 130, 143) and "Traceback" not in killed.err) or (
                killed.finished and killed.rc == -SIGNALS[sig_name])  # during interpreter exit
        if not clean:
            errors.append(f"stop rc={killed.rc}: {killed.err.strip()[-500:]}")
        free = lock_free(ws)
        note = owner_note_left(ws)
        resyncs = 0
        resync = None
        while resyncs < 3:
            resyncs += 1
            resync = ws.run("sync")
            if resync.rc == 0:
                break
            errors.append(f"re-sync {resyncs} rc={resync.rc}: {resync.err.strip()[-500:]}")
        assert resync is not None
        left = ws.plan_here()
        errors += [f"plan: {why}" for why in left]
        with self.emu.client() as client:
            got = snapshot(ws, client)
        return Outcome(
            phase=phase, signal=sig_name, trigger=trigger.describe(), rc=killed.rc,
            landed=killed.landed and killed.rc != 0, early=early, finished=killed.finished,
            clean_stop=clean,
            lock_free=free,
            note_left=note, resync_rc=resync.rc, resyncs=resyncs, plan_rc=len(left),
            duplicate_tasks=got.duplicate_tasks, orphan_tasks=got.orphan_tasks,
            duplicate_projects=max(0, got.projects - 1),
            lost_local=missing(want.local, got.local), lost_remote=missing(want.remote, got.remote),
            extra_local=extra(want.local, got.local), extra_remote=extra(want.remote, got.remote),
            corrupt=len(got.corrupt), temporaries=len(got.temporaries), pending=got.pending,
            errors=errors + got.corrupt + got.temporaries)


def sweep(lab: Lab, kills: int, sig_name: str) -> list[Outcome]:
    """``kills`` trials, alternating phases, random trigger kinds and moments."""
    return [lab.trial(PHASES[i % 2], sig_name) for i in range(kills)]


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    total = Counter[str]()
    for o in outcomes:
        total["runs"] += 1
        total["landed"] += int(o.landed)
        total["before_startup"] += int(o.early)
        total["after_the_end"] += int(o.finished and o.rc != 0)
        total["clean_stop"] += int(o.clean_stop)
        total["lock_released"] += int(o.lock_free)
        total["resync_ok"] += int(o.resync_rc == 0)
        total["plan_clean"] += int(o.plan_rc == 0)
        for name in ("duplicate_tasks", "orphan_tasks", "duplicate_projects", "lost_local",
                     "lost_remote", "extra_local", "extra_remote", "corrupt", "temporaries"):
            total[name] += getattr(o, name)
        total["ok"] += int(o.ok)
    return dict(total)


def as_dicts(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    return [asdict(o) for o in outcomes]
