"""Time bombs: the suite's date-sensitive flows, re-run with the wall clock moved years away.

The recordings were made on 2026-11-25 and hold absolute dates (token expiries, request
expiries); run records, exports and server answers carry "now". These flows run in a child
pytest whose wall clock ``scripts/clockshift`` moves 9 years ahead and 6 years back (monotonic
time untouched), so a comparison against today's calendar fails here, not on some later day.
The whole suite under a shift: ``scripts/clockshift/run.sh +7y`` (see tests/README.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "scripts" / "clockshift" / "run.sh"
FLOWS = ["tests/emulator/test_replay.py", "tests/emulator/test_clock.py",
         "tests/sync/test_e2e_images.py", "tests/cli/test_watch_demo.py"]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is needed to build scripts/clockshift")
@pytest.mark.parametrize("offset", ["+9y", "-6y"])
def test_date_sensitive_flows_pass_years_away(offset: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run(
        ["bash", str(RUN), offset, "--", sys.executable, "-m", "pytest", "-q", "-x",
         "-p", "no:cacheprovider", "-p", "no:xdist", *FLOWS],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    banner = proc.stderr.split("clockshift: ", 1)[-1].splitlines()[0]
    expected = datetime.now(timezone.utc).year + int(offset[:-1])
    assert str(expected) in banner or str(expected + 1) in banner, banner  # the child's calendar moved
    assert proc.returncode == 0, f"{banner}\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    assert " passed" in proc.stdout and "failed" not in proc.stdout
