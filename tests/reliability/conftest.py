"""Reliability tests: fast cases run by default; the full-scale experiments are marked
``reliability`` and run only when asked for, each adding its counts to one results table:

    pytest tests/reliability -m reliability -p no:randomly

prints the table at the end and writes it to ``.reliability/results.json`` and
``.reliability/results.md`` (docs/reliability.md explains each row).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from lab import RESULTS, EmulatorProcess


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "reliability" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="full-scale experiment: run with -m reliability")
    for item in items:
        if item.get_closest_marker("reliability") is not None:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not RESULTS:
        return
    out = Path(config.rootpath) / ".reliability"
    out.mkdir(exist_ok=True)
    (out / "results.json").write_text(json.dumps(RESULTS, indent=1, sort_keys=True))
    lines = ["| experiment | tried | counts | survived |", "|---|---|---|---|"]
    for row in RESULTS:
        counts = ", ".join(f"{k} {v}" for k, v in row["counts"].items())
        lines.append(f"| {row['experiment']} | {row['tried']} | {counts} | {row['survived']} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    terminalreporter.write_sep("=", "reliability results")
    for line in lines:
        terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def emulator_process() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as emu:
        yield emu
