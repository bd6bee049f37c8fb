"""Forked processes of the XML import and export: how many to start, and their signals.

Why one module: ``export_pool`` (export workers) and ``split`` (import parts) both fork, and a
forked process inherits its parent's signal handlers. The CLI's SIGTERM handler raises in
Python, so a child being terminated would run an exception, a traceback and stream flushes
instead of dying, and can block there on a lock another thread of the parent held at the fork
(seen in the test suite: a pool's ``terminate()`` waited for ever). Children forked inside
``forking()`` die on SIGTERM and leave Ctrl-C to the parent, which stops them itself.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

#: > 0 while a process is forked inside ``forking()`` (read by ``_child_signals`` in the child)
_forking = 0


def _child_signals() -> None:
    """In a child, at once after the fork: die on SIGTERM, ignore Ctrl-C."""
    if _forking:
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # pragma: no cover - not the main thread of the child
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_child_signals)


@contextmanager
def forking() -> Iterator[None]:
    """Processes forked inside this block get the children's signal actions above."""
    global _forking
    _forking += 1
    try:
        yield
    finally:
        _forking -= 1


def available() -> bool:
    """Processes can be forked here."""
    return "fork" in multiprocessing.get_all_start_methods()


def cpus() -> int:
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_jobs() -> int:
    """Processes when the user does not say: the CPUs this process may use, up to 4."""
    return max(1, min(cpus(), 4))
