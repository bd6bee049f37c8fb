"""Lint and type-check the package as part of the test suite, so CI enforces both."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_clean() -> None:
    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    res = _run([exe, "check", "annosync", "tests"])
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_clean() -> None:
    res = _run([sys.executable, "-m", "mypy"])
    assert res.returncode == 0, res.stdout + res.stderr
