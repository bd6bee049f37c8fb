"""Label files an import has made but not yet committed: on disk, not in memory.

Why: an import must be all-or-nothing (a bad file leaves the dataset untouched), yet a
million-shape file cannot hold its samples in memory until the end. Each converted sample is
written to a private folder next to the dataset (on the same file system, so the files can be
renamed into place) and read back only if a later file of the same import changes it again.
``commit`` makes all of them durable with one ``os.sync()`` instead of two ``fsync`` per file
(the cost that dominated a 20,000-file import), renames each over its label file, then syncs
each touched folder once: after a crash a label file is either the old one or the new one,
never half of it. ``discard`` (on any error) removes the private folder and nothing else.

A dataset without label files yet (``tree``: a new one) has its files staged under their own
names in a ``labels`` folder of the private one, and ``commit`` renames that whole folder into
place: one rename instead of one per file (20,000 at 1M boxes), and after a crash the dataset
has all of the new label files or none.
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


def fresh(labels: Path) -> bool:
    """``labels`` does not exist yet, or is an empty folder (not a link): an import can stage
    the whole folder and rename it into place (``Stage(..., tree=True)``)."""
    if labels.is_symlink():
        return False
    try:
        with os.scandir(labels) as entries:
            return next(entries, None) is None
    except FileNotFoundError:
        return True
    except OSError:
        return False


class Stage:
    """Staged label-file bytes by sample key, in a temporary folder beside ``root``; with
    ``tree``, at ``labels/<key>.json`` in it (see the module docstring)."""

    def __init__(self, root: Path, tree: bool = False) -> None:
        self._root = root
        self._tree = tree
        self._dir: Path | None = None
        self._base = ""  # the folder files go to, as a string (the tree, or the stage)
        self._files: dict[str, str] = {}
        self._made: set[str] = set()  # folders of nested keys made in the tree

    def _folder(self) -> Path:
        if self._dir is None:
            state = self._root / ".annosync"
            parent = state if state.is_dir() else _nearest_existing(self._root.parent)
            self._dir = Path(tempfile.mkdtemp(prefix=".annosync-import-", dir=parent))
            self._base = str(self._dir)
            if self._tree:  # made like any folder (mkdtemp's own is 0700)
                self._base = os.path.join(self._base, _TREE)
                os.mkdir(self._base)
        return self._dir

    def __contains__(self, key: object) -> bool:
        return key in self._files

    def _path(self, key: str) -> str:
        if self._dir is None:
            self._folder()
        if not self._tree:
            return os.path.join(self._base, f"{len(self._files)}.json")
        sub = key.rpartition("/")[0]
        if sub and sub not in self._made:
            os.makedirs(os.path.join(self._base, sub), exist_ok=True)
            self._made.add(sub)
        return os.path.join(self._base, key + ".json")

    def put(self, key: str, data: bytes) -> None:
        """Stage ``data`` for ``key`` (a valid sample key: ``_Run.emit_bytes`` checks it)."""
        path = self._files.get(key)
        if path is None:
            path = self._files[key] = self._path(key)
        fd = os.open(path, _WRITE, 0o666)  # as open(path, "wb"), without its buffer objects
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)

    def sub(self, name: str) -> Stage:
        """A stage in a folder of this one's (``discard`` here removes it too): for a part of
        the import read by another process (``split.py``), whose files ``adopt`` takes. With
        ``tree`` it stages into this one's tree (a key two parts both stage makes the caller
        give up the parts' results: ``import_._import_split``)."""
        folder = self._folder()
        stage = Stage(self._root, self._tree)
        if self._tree:
            stage._dir, stage._base = folder, self._base
        else:
            stage._dir = folder / name
            stage._dir.mkdir()
            stage._base = str(stage._dir)
        return stage

    def files(self) -> dict[str, str]:
        """The staged files by key."""
        return dict(self._files)

    def adopt(self, files: dict[str, str]) -> None:
        """Take over files a ``sub`` stage staged (in another process) for other keys."""
        self._files.update(files)

    def get(self, key: str) -> bytes:
        with open(self._files[key], "rb") as fh:
            return fh.read()

    def discard(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self._files.clear()
        self._made.clear()

    def sync_soon(self) -> None:
        """Start writing what is staged to the disk in the background (a thread running
        ``os.sync()``): called while this process waits for others (``split.py``), so that
        ``commit``'s own sync, which the renames wait for, has less left to write (20,000
        files, ~250 MB at 1M boxes)."""
        if hasattr(os, "sync") and self._dir is not None:
            import threading

            threading.Thread(target=os.sync, name="annosync-sync", daemon=True).start()

    def commit(self, labels: Path, keys: Iterable[str]) -> list[str]:
        """Move the staged files of ``keys`` to ``labels/<key>.json`` (skipping those whose
        bytes are already there); the keys actually written."""
        keys = list(keys)
        if self._tree and self._dir is not None and len(keys) == len(self._files) and \
                set(keys) == self._files.keys() and fresh(labels) and self._rename_tree(labels):
            return keys
        moves: list[tuple[str, Path, Path]] = []
        for key in keys:
            src = Path(self._files[key])
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
            _sync(src for _key, src, _dest in moves)
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

    def _rename_tree(self, labels: Path) -> bool:
        """Every staged file into ``labels`` (absent or empty) with one rename of the staged
        folder; False when the system refuses it (Windows, another file system): then file
        by file."""
        tree = Path(self._base)
        _sync(Path(p) for p in self._files.values())
        labels.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(tree, labels)  # POSIX: an empty folder is replaced atomically
        except OSError:
            return False
        with contextlib.suppress(OSError):
            _fsync_dir(labels.parent)
        return True


#: the folder of the stage a ``tree`` stage stages in
_TREE = "labels"


def _sync(paths: Iterable[Path]) -> None:
    """Make the staged files durable: one ``os.sync()`` (where there is none, each file)."""
    if hasattr(os, "sync"):
        os.sync()
        return
    for path in paths:  # pragma: no cover - Windows
        with open(path, "rb+") as fh:
            os.fsync(fh.fileno())
