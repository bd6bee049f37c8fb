"""Real signals at random moments of ``annosync sync``, then a re-sync, compared with an
uninterrupted run (``lab.py``, ``sweep.py``).

By default two trials run (a SIGKILL in the middle of a TUS upload, a SIGTERM while label
files are written); ``-m reliability`` runs the sweeps of docs/reliability.md (100 moments per
signal by default, ``ANNOSYNC_RELIABILITY_KILLS`` to change it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from lab import EmulatorProcess, record
from sweep import Lab, as_dicts, summarize, sweep


def check(outcome) -> None:  # type: ignore[no-untyped-def]
    assert outcome.ok, outcome


def test_sigkill_in_the_middle_of_a_tus_upload(tmp_path: Path,
                                               emulator_process: EmulatorProcess) -> None:
    lab = Lab(tmp_path, emulator_process, seed=11)
    outcome = lab.trial("create", "SIGKILL", kind="tus")
    assert outcome.landed and outcome.rc == -9
    check(outcome)


def test_sigterm_while_label_files_are_written(tmp_path: Path,
                                               emulator_process: EmulatorProcess) -> None:
    lab = Lab(tmp_path, emulator_process, seed=12)
    outcome = lab.trial("update", "SIGTERM", kind="label-write")
    assert outcome.landed and outcome.rc == 143 and not outcome.note_left
    check(outcome)


KILLS = int(os.environ.get("ANNOSYNC_RELIABILITY_KILLS", "100"))


@pytest.mark.reliability
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM", "SIGINT"])
def test_kill_sweep(sig: str, tmp_path: Path, emulator_process: EmulatorProcess) -> None:
    lab = Lab(tmp_path, emulator_process, seed={"SIGKILL": 1, "SIGTERM": 2, "SIGINT": 3}[sig])
    outcomes = sweep(lab, KILLS, sig)
    out = Path(__file__).resolve().parents[2] / ".reliability"
    out.mkdir(exist_ok=True)
    (out / f"kill-{sig}.json").write_text(json.dumps(as_dicts(outcomes), indent=1))
    totals = summarize(outcomes)
    bad = [o for o in outcomes if not o.ok]
    record(f"{sig} of `annosync sync`", f"{KILLS} random moments",
           {k: totals.get(k, 0) for k in ("landed", "before_startup", "after_the_end",
                                          "duplicate_tasks",
                                          "lost_local",
                                          "lost_remote", "orphan_tasks", "corrupt",
                                          "temporaries", "clean_stop", "lock_released",
                                          "resync_ok", "plan_clean")},
           f"{totals.get('ok', 0)}/{KILLS}")
    assert not bad, [(o.phase, o.trigger, o.errors) for o in bad]
