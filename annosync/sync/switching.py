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
from collections.abc import Callable
from contextlib import AbstractContextManager

from annosync.held import HeldSetting

__all__ = ["short_switches"]

#: Seconds a thread may hold the GIL while another waits for it, inside ``short_switches``.
INTERVAL = 0.0005

_setting = HeldSetting()


def _shorten(interval: float) -> Callable[[], None]:
    saved = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, saved))
    return lambda: sys.setswitchinterval(saved)


def short_switches(interval: float = INTERVAL) -> AbstractContextManager[None]:
    """``sys.setswitchinterval(interval)`` inside the block (if shorter than the current)."""
    return _setting.held(lambda: _shorten(interval))
