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
