"""A shorter thread switch interval while a thread converts labels beside a thread doing HTTP.

Why: the upload overlaps pure-Python conversion (a worker) with sending media or labels and
reading CVAT's answer (another thread). Each socket read or write of that thread gives up the
GIL and must get it back, and with CPython's default 5 ms switch interval it waits up to 5 ms
behind the converting thread every time: a 3 MB answer read 10 KiB at a time would wait
seconds (the "convoy effect"), losing what the overlap was meant to win. A 0.5 ms interval
lets the I/O thread in quickly; the converting thread pays a few more switches. Nested and
concurrent uses restore the interval only when the last one ends, and restore the one found.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["short_switches"]

#: Seconds a thread may hold the GIL while another waits for it, inside ``short_switches``.
INTERVAL = 0.0005

_lock = threading.Lock()
_depth = 0
_saved = 0.005


@contextmanager
def short_switches(interval: float = INTERVAL) -> Iterator[None]:
    """``sys.setswitchinterval(interval)`` inside the block (if shorter than the current)."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = sys.getswitchinterval()
            sys.setswitchinterval(min(interval, _saved))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                sys.setswitchinterval(_saved)
