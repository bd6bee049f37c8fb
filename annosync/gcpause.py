"""Pausing Python's cyclic garbage collector around bounded bursts of object creation.

Why: converting one task's labels builds tens of thousands of small objects (pydantic models,
dicts, lists) that stay alive until the task is done. Every 700 allocations CPython's collector
walks the young objects, and the older generations grow with them, so collections keep
re-walking the same live objects: measured on a 500-image x 20-box upload, 35-40% of the
client's CPU (2.6 s -> 1.7 s with collection paused; benchmarks/run.py, docs/benchmarks.md).
These objects hold no reference cycles worth collecting early (reference counting frees them),
so collection is paused for the burst and resumes after it. Bursts are bounded (one task's
labels), so memory cannot grow without bound. Nested and concurrent pauses (tasks converted in
parallel threads) resume collection only when the last one ends, and never turn on a collector
someone else had turned off.

The emulator answers each request inside such a pause too (a 10,000-shape PUT is the same kind
of burst, on the server's side). One counter serves both: with the emulator in the client's
process (tests, the demo), the end of a request never turns collection back on inside a pause
of the client's, nor the other way round. It sits at the top of the package, beside
``errors``, because the emulator imports nothing else of annosync.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from contextlib import AbstractContextManager

from annosync.held import HeldSetting

__all__ = ["gc_paused"]

_setting = HeldSetting()


def _pause() -> Callable[[], None]:
    was_enabled = gc.isenabled()
    gc.disable()
    return gc.enable if was_enabled else (lambda: None)


def gc_paused() -> AbstractContextManager[None]:
    """Automatic cyclic collection off inside the block (reference counting still frees)."""
    return _setting.held(_pause)
