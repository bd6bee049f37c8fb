"""Ctrl-C while the CLI is still loading: ``Interrupted.`` and exit 130, no import traceback.

The kill sweep of docs/reliability.md sent SIGINT 0.05 s after start and got a traceback from
inside ``import collections`` (exit 1). Here the interrupt is raised deterministically by an
import hook at the moment ``annosync.cli.main`` is being imported, in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys

HOOK = """
import sys
class Interrupting:
    def find_spec(self, name, path=None, target=None):
        if name == {name!r}:
            raise KeyboardInterrupt
        return None
sys.meta_path.insert(0, Interrupting())
from annosync.cli.entry import run
sys.argv = ["annosync", "--help"]
run()
"""


def interrupted_while_importing(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", HOOK.format(name=name)], capture_output=True,
                          text=True, timeout=60)


def test_an_interrupt_while_the_cli_loads_stops_quietly() -> None:
    proc = interrupted_while_importing("annosync.cli.main")
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "Interrupted.\n"


def test_an_interrupt_deep_in_the_cli_imports_too() -> None:
    proc = interrupted_while_importing("click")  # a third-party import under annosync.cli.main
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.endswith("Interrupted.\n")


def test_without_an_interrupt_the_entry_runs_the_cli() -> None:
    proc = interrupted_while_importing("no.such.module")
    assert proc.returncode == 0, proc.stderr
    assert "Usage: annosync" in proc.stdout
