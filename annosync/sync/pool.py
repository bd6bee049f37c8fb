"""A thread pool that stops promptly: on an error or an interrupt, queued work is cancelled.

``concurrent.futures.ThreadPoolExecutor`` leaves its ``with`` block by waiting for every queued
task, so Ctrl-C or SIGTERM during a 2,000-image upload would go on uploading everything first.
Here the tasks already running finish (each leaves the journal and the run record consistent)
and the queued ones are dropped; the next run resumes them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any


class Pool(ThreadPoolExecutor):
    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.shutdown(wait=True, cancel_futures=exc_type is not None)


def ordered(pool: ThreadPoolExecutor, fn: Any, items: Any, ahead: int) -> Any:
    """``pool.map(fn, items)`` with at most ``ahead`` calls submitted whose results were not
    taken yet: a result's memory (a task's downloaded and read labels) is held from its call to
    its consumer's next step, so at most ``ahead + 1`` are alive at once, whatever the number
    of items (``pool.map`` runs them all and keeps every result until it is taken)."""
    from collections import deque

    rest = iter(items)
    pending: deque[Any] = deque()
    for item in rest:
        pending.append(pool.submit(fn, item))
        if len(pending) >= max(1, ahead):
            break
    while pending:
        result = pending.popleft().result()
        for item in rest:
            pending.append(pool.submit(fn, item))
            break
        yield result
        del result
