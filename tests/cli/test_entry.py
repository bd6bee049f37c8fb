"""Ctrl-C while the CLI is still loading: ``Interrupted.`` and exit 130, no import traceback.
A finished command leaves without the interpreter's teardown, doing all a normal exit does that
can be seen (exit handlers, flushed output, the exit code), and exits normally when a thread is
still running.

The kill sweep of docs/reliability.md sent SIGINT 0.05 s after start and got a traceback from
inside ``import collections`` (exit 1). Here the interrupt is raised deterministically by an
import hook at the moment ``annosync.cli.main`` is being imported, in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import write_tiny_run

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


#: ``teardown`` is printed only if Python's shutdown frees ``__main__``'s globals; ``atexit`` by
#: the exit handlers (to stdout, a pipe: lost unless flushed); ``thread`` by a thread that works
#: until the main thread has ended.
EXIT_PROBE = """
import atexit, sys, threading, time
class Noisy:
    def __del__(self):
        sys.stderr.write("teardown\\n")
keep = Noisy()
atexit.register(lambda: sys.stdout.write("atexit\\n"))
def until_main_ends():  # alive when the command is done, however long it takes
    while threading.main_thread().is_alive():
        time.sleep(0.01)
    sys.stderr.write("thread\\n")
if sys.argv[1] == "thread":
    threading.Thread(target=until_main_ends).start()
from annosync.cli.entry import run
sys.argv = ["annosync", *sys.argv[2:]]
run()
"""
PLANNED = "Plan: 1 task to create; 1 label to upload.\n"


def run_entry(tmp_path: Path, mode: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", EXIT_PROBE, mode, *args], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})


def test_a_finished_command_skips_teardown_but_not_exit_handlers_output_or_code(
        tmp_path: Path) -> None:
    write_tiny_run(tmp_path)
    proc = run_entry(tmp_path, "plain", "plan", "run.yaml")
    assert proc.returncode == 2, proc.stderr  # a new run: changes to apply
    assert proc.stdout.endswith(PLANNED + "atexit\n")  # the handler ran once, then a flush
    assert proc.stdout.count("atexit") == 1
    assert "teardown" not in proc.stderr
    help_ = run_entry(tmp_path, "plain", "--help")
    assert help_.returncode == 0 and "  plan " in help_.stdout


def test_a_thread_still_running_gets_the_normal_exit(tmp_path: Path) -> None:
    write_tiny_run(tmp_path)
    proc = run_entry(tmp_path, "thread", "plan", "run.yaml")
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout.endswith(PLANNED + "atexit\n") and proc.stdout.count("atexit") == 1
    assert "thread\n" in proc.stderr and "teardown\n" in proc.stderr
