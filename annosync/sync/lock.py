"""One writer per dataset: a lock file under ``.annosync/``, and a note saying who holds it.

The lock itself is an OS file lock (filelock: ``flock`` on POSIX), so a holder that dies, even
by kill -9, releases it with its last file descriptor: a lock can never stay stale. Next to it,
``lock.owner`` (JSON: pid, host, command, since) lets a second process say *who* it is waiting
for; a note left by a dead holder is recognised (its process is gone) and replaced.

A note found on taking the lock was left by a holder that died (kill -9, power loss): the
temporary files it may have left in ``labels/`` and ``.annosync/`` are removed then.

The lock is re-entrant within one thread (a verb holds it from planning to the end of apply;
the applier takes it again), and exclusive between threads and processes.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from annosync.dataset.atomic import remove_leftovers
from annosync.dataset.folder import LABELS_DIR
from annosync.errors import StateError

log = logging.getLogger("annosync.sync")

LOCK_FILE = "lock"
OWNER_FILE = "lock.owner"

class LockBusy(StateError):
    """Another process holds the dataset lock (the message names it)."""


_held: dict[tuple[Path, int], int] = {}
_guard = threading.Lock()


def _describe(owner: dict[str, Any] | None) -> str:
    if not owner:
        return "another annosync process"
    where = f"pid {owner.get('pid')}"
    if owner.get("host") and owner.get("host") != socket.gethostname():
        where += f" on {owner['host']}"
    text = f"`{owner.get('command') or 'annosync'}` ({where}"
    if owner.get("since"):
        text += f", since {owner['since']}"
    return text + ")"


def read_owner(state_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The note of the current (or last, if it died) holder; None if absent or unreadable."""
    try:
        owner = json.loads((Path(state_dir) / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(owner: dict[str, Any] | None) -> bool:
    """A note whose process is gone (on this host): its lock was released when it died."""
    if not owner:
        return False
    return owner.get("host") == socket.gethostname() and not _alive(owner.get("pid"))


def _command() -> str:
    """What the holder runs, for the waiting process's message (never a secret: annosync
    takes none on its command line)."""
    argv = [os.path.basename(sys.argv[0] or "python"), *sys.argv[1:3]]
    return " ".join(a for a in argv if a)[:120]


@contextmanager
def dataset_lock(state_dir: str | os.PathLike[str], timeout: float = 0.0) -> Iterator[None]:
    """Hold the dataset's lock; wait up to ``timeout`` seconds (0: fail at once, naming the
    holder)."""
    path = Path(state_dir).resolve()
    key = (path, threading.get_ident())
    with _guard:
        depth = _held.get(key, 0)
        if depth:
            _held[key] = depth + 1
    if depth:
        try:
            yield
        finally:
            with _guard:
                _held[key] -= 1
        return
    path.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path / LOCK_FILE), thread_local=False)
    try:
        lock.acquire(timeout=max(0.0, timeout))
    except Timeout:
        owner = read_owner(path)
        waited = f" after waiting {timeout:g}s" if timeout > 0 else ""
        raise LockBusy(
            f"{path / LOCK_FILE}: {_describe(owner)} is working on this dataset{waited}: wait "
            "for it to finish, or pass --lock-timeout SECONDS to wait"
        ) from None
    note = path / OWNER_FILE
    if note.exists():  # we hold the lock, so whoever wrote this note died holding it
        log.info("recovered the lock of %s, which stopped without releasing it",
                 _describe(read_owner(path)))
        remove_leftovers(path.parent / LABELS_DIR, path)
    with contextlib.suppress(OSError):  # the note is a courtesy; the lock protects the data
        note.write_text(json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "command": _command(),
            "since": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S%z"),
        }), encoding="utf-8")
    with _guard:
        _held[key] = 1
    try:
        yield
    finally:
        with _guard:
            _held.pop(key, None)
        with contextlib.suppress(OSError):
            note.unlink()
        lock.release()
