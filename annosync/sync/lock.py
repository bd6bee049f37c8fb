"""One applier per dataset: a lock file under ``.annosync/`` (filelock: works across processes
and is released by the OS if the holder dies, so a kill -9 never leaves a stale lock)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from annosync.errors import StateError

LOCK_FILE = "lock"


@contextmanager
def dataset_lock(state_dir: str | os.PathLike[str], timeout: float = 0.0) -> Iterator[None]:
    path = Path(state_dir)
    path.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path / LOCK_FILE))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise StateError(
            f"{path / LOCK_FILE}: another annosync process is applying to this dataset "
            "(wait for it, or pass --lock-timeout)"
        ) from None
    try:
        yield
    finally:
        lock.release()
