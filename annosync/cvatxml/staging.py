"""Label files an import has made but not yet committed: on disk, not in memory.

Why: an import must be all-or-nothing (a bad file leaves the dataset untouched), yet a
million-shape file cannot hold its samples in memory until the end. Each converted sample is
written to a private folder next to the dataset (on the same file system, so the files can be
renamed into place) and read back only if a later file of the same import changes it again.
``commit`` makes all of them durable with one ``os.sync()`` instead of two ``fsync`` per file
(the cost that dominated a 20,000-file import), renames each over its label file, then syncs
each touched folder once: after a crash a label file is either the old one or the new one,
never half of it. ``discard`` (on any error) removes the private folder and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from annosync.dataset.atomic import _fsync_dir

_WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate
    return Path.cwd()  # pragma: no cover - a root always exists


class Stage:
    """Staged label-file bytes by sample key, in a temporary folder beside ``root``."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._dir: Path | None = None
        self._files: dict[str, Path] = {}

    def _folder(self) -> Path:
        if self._dir is None:
            state = self._root / ".annosync"
            parent = state if state.is_dir() else _nearest_existing(self._root.parent)
            self._dir = Path(tempfile.mkdtemp(prefix=".annosync-import-", dir=parent))
        return self._dir

    def __contains__(self, key: object) -> bool:
        return key in self._files

    def put(self, key: str, data: bytes) -> None:
        path = self._files.get(key)
        if path is None:
            path = self._files[key] = self._folder() / f"{len(self._files)}.json"
        fd = os.open(path, _WRITE, 0o666)  # as open(path, "wb"), without its buffer objects
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)

    def sub(self, name: str) -> Stage:
        """A stage in a folder of this one's (``discard`` here removes it too): for a part of
        the import read by another process (``split.py``), whose files ``adopt`` takes."""
        folder = self._folder() / name
        folder.mkdir()
        stage = Stage(self._root)
        stage._dir = folder
        return stage

    def files(self) -> dict[str, Path]:
        """The staged files by key."""
        return dict(self._files)

    def adopt(self, files: dict[str, Path]) -> None:
        """Take over files a ``sub`` stage staged (in another process) for other keys."""
        self._files.update(files)

    def get(self, key: str) -> bytes:
        return self._files[key].read_bytes()

    def discard(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self._files.clear()

    def commit(self, labels: Path, keys: Iterable[str]) -> list[str]:
        """Move the staged files of ``keys`` to ``labels/<key>.json`` (skipping those whose
        bytes are already there); the keys actually written."""
        moves: list[tuple[str, Path, Path]] = []
        for key in keys:
            src = self._files[key]
            dest = labels / f"{key}.json"
            try:
                if dest.stat().st_size == src.stat().st_size and \
                        dest.read_bytes() == src.read_bytes():
                    continue
                os.chmod(src, dest.stat().st_mode & 0o7777)  # keep an existing file's mode
            except FileNotFoundError:
                pass  # created by open(): 0666 & ~umask, like any new label file
            moves.append((key, src, dest))
        if moves:  # the new contents are durable before any of them is renamed into place
            if hasattr(os, "sync"):
                os.sync()
            else:  # pragma: no cover - Windows
                for _key, src, _dest in moves:
                    with open(src, "rb+") as fh:
                        os.fsync(fh.fileno())
        folders: set[Path] = set()
        written: list[str] = []
        for key, src, dest in moves:
            if dest.parent not in folders:
                dest.parent.mkdir(parents=True, exist_ok=True)
                folders.add(dest.parent)
            os.replace(src, dest)
            written.append(key)
        for folder in sorted(folders):
            with contextlib.suppress(OSError):
                _fsync_dir(folder)
        return written
