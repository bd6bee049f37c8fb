"""``annosync emulator`` serves until Ctrl-C and prints where and how to log in."""

from __future__ import annotations

import signal
import subprocess
import sys

import requests


def _default_sigint() -> None:
    """In the child before exec: Ctrl-C's default action, even when this suite runs with it
    ignored (started as ``cmd &`` from a script: POSIX shells ignore SIGINT in background
    commands, and an ignored signal stays ignored across exec)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_emulator_verb_serves_until_interrupted() -> None:
    code = "from annosync.cli.main import main; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, "emulator", "--port", "0",
                             "--user", "alice"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in first
        url = first.rsplit(" ", 1)[-1].strip()
        assert proc.stdout.readline().strip() == "admin: admin / admin-password-1"
        assert proc.stdout.readline().strip() == "user:  alice / alice-password-1"
        # the interrupt handler is in place once this is printed (a SIGINT before it would
        # interrupt start-up, not the serving loop)
        assert proc.stdout.readline().strip() == "Press Ctrl-C to stop."
        about = requests.get(f"{url}/api/server/about", timeout=10)
        assert about.json()["version"] == "2.73.0"
        login = requests.post(f"{url}/api/auth/login", timeout=10,
                              json={"username": "alice", "password": "alice-password-1"})
        assert login.status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
