"""Python's cyclic garbage collector paused while the emulator answers a request.

Why: a large write (``PUT /api/tasks/N/annotations`` of 10,000 shapes) builds tens of
thousands of small dicts and lists, most of which live on in the state. Every 700 allocations
the collector walks the young objects, and the older generations it walks grow with the state
(every run a server keeps adds its shapes), so collections keep re-walking the same live
objects: a third of such a PUT's CPU on a server that had served a few uploads. A request
makes no reference cycles worth collecting early (reference counting frees what it drops), so
the collector is paused for the request and resumes after it; a request is bounded, so memory
is too. The emulator imports nothing of the client (``docs/architecture.md``), so this is its
own small copy of ``sync/gcpause.py``'s idea: concurrent requests (one thread each) resume
the collector when the last one ends, and a collector someone else turned off stays off.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]

_lock = threading.Lock()
_depth = 0
_resume = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Automatic cyclic collection off inside the block (reference counting still frees)."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()
