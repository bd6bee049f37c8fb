"""Atomic file writes: a reader (or a crash) never sees a half-written label file or run record.

Write to a temporary file in the same directory, flush and fsync it, rename it over the target
(atomic on POSIX and Windows), then fsync the directory so the rename itself survives a crash.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

#: the names ``write_bytes_atomic`` (and downloads) give their temporary files
_LEFTOVER = re.compile(r"^\..+\.[a-z0-9_]{8}\.(tmp|part)$")


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(target: Path) -> int:
    """Keep an existing file's permissions; new files get the usual 0666 & ~umask."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, creating parent folders as needed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(target)
    import tempfile  # only when something is written (a plan writes nothing)

    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)  # mkstemp makes 0600 files; a label file is not a secret
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            # a full disk or a lost mount: say which file could not be saved (it is unchanged)
            raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from exc
        raise
    _fsync_dir(target.parent)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_if_changed(path: str | os.PathLike[str], data: bytes) -> bool:
    """Write atomically only when the content differs; True when the file changed."""
    target = Path(path)
    try:
        if target.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    write_bytes_atomic(target, data)
    return True


def remove_leftovers(*folders: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files a killed writer left in ``folders`` (recursively).

    Safe even if another process is writing: its rename then fails with a clear error and its
    target file stays whole. Callers run it when they know a writer died (a stale lock note).
    """
    removed = []
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            continue
        for path in root.rglob(".*"):
            if _LEFTOVER.match(path.name) and path.is_file():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
    return removed
