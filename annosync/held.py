"""A process-wide setting changed while any block needs it, restored when the last one ends.

Why: the GC pause (gcpause.py) and the short thread switch interval (sync/switching.py) are both
process-wide, entered by nested blocks and by several threads at once. The first block to enter
applies the change and keeps what restores the state it found; the others only count; the last
one out restores it. One piece of code keeps that counting right for both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["HeldSetting"]


class HeldSetting:
    """Counts the blocks holding a setting; ``apply`` runs on the first, its restorer on the last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._restore: Callable[[], None] = lambda: None

    @contextmanager
    def held(self, apply: Callable[[], Callable[[], None]]) -> Iterator[None]:
        """Inside the block the setting is changed (``apply`` returns how to undo it)."""
        with self._lock:
            if self._depth == 0:
                self._restore = apply()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    self._restore()
