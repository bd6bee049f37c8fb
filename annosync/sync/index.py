"""A git-like index of label files, so a plan reads only the files that changed.

Why: a plan needs, for every sample of a run, the digest of its label file (for the plan's
fingerprint), how many of its labels lack an ``_id`` and whether its labels still agree with
the run's base. Reading and parsing 100k JSON files for that takes a minute; ``git status``
answers the same question for a repository in a fraction of a second by keeping, per file,
``(size, mtime_ns, ctime_ns, inode) -> content digest`` and trusting the digest while the
``stat`` matches. This module does the same for ``labels/`` (``LabelIndex``), and remembers per
run which file contents were found to agree with the base (``CleanMemo``).

Both live in ``<dataset>/.annosync/cache/`` (ignored by git: a ``.gitignore`` is written there)
and are only caches: a missing, unreadable, truncated or foreign file is rebuilt, never
trusted. The rules that keep them safe:

* an entry is used only when ``size``, ``mtime_ns``, ``ctime_ns`` and the inode all match
  (annosync's own writes replace files, so they always get a new inode; tools that restore an
  mtime cannot restore a ctime);
* git's racy-git rule: a file read within ``RACY_NS`` of its last modification could be
  rewritten with the same size in the same timestamp tick (coarse file system clocks), so such
  an entry is marked racy and re-read and re-hashed on every use, until it is old enough.
  "Now" is read from the clock that stamps the files (the mtime of a probe file written in the
  cache), as git compares with its index file's own mtime: a process clock that differs from
  the file system's (another machine's disk, a moved clock) cannot make a racy entry look old;
* the index carries a checksum of its body and the dataset root it belongs to; after a crash
  (a torn or half-written cache) it is simply rebuilt;
* a run's clean memo is keyed by the exact bytes of the run record and by the plan's options:
  any apply (which rewrites the record) or different options invalidate it as a whole, and an
  entry holds the content digest of the file it vouches for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annosync.dataset.atomic import write_bytes_atomic
from annosync.dataset.folder import DatasetFolder, is_valid_key
from annosync.errors import StateError

CACHE_DIR = "cache"
INDEX_FILE = "index.json"
INDEX_FORMAT = 1
#: Files modified this close to the index's writing are re-hashed on next use (racy git).
RACY_NS = 2_000_000_000


def cache_dir(state_dir: Path) -> Path:
    return state_dir / CACHE_DIR


def content_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


@dataclass
class Entry:
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    sha: str
    missing_ids: int = 0
    racy: bool = False

    def matches(self, st: os.stat_result) -> bool:
        return (self.size == st.st_size and self.mtime_ns == st.st_mtime_ns
                and self.ctime_ns == st.st_ctime_ns and self.ino == st.st_ino)

    def row(self) -> list[Any]:
        return [self.size, self.mtime_ns, self.ctime_ns, self.ino, self.sha, self.missing_ids,
                int(self.racy)]


def stat_of(path: str | os.PathLike[str]) -> os.stat_result:
    """The ``stat`` the index compares (a seam: tests simulate coarse file system clocks)."""
    return os.stat(path)


def _load_json(path: Path, kind: str) -> dict[str, Any] | None:
    """The body of a cache file whose checksum holds, else None (missing, torn, foreign)."""
    try:
        raw = path.read_bytes()
        head, _, body = raw.partition(b"\n")
        header = json.loads(head)
        if (not isinstance(header, dict) or header.get("kind") != kind
                or header.get("format") != INDEX_FORMAT
                or header.get("checksum") != content_digest(body)):
            return None
        data = json.loads(body)
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _save_json(path: Path, kind: str, data: dict[str, Any]) -> None:
    body = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    header = json.dumps({"kind": kind, "format": INDEX_FORMAT, "checksum": content_digest(body)})
    folder = path.parent
    if not (folder / ".gitignore").exists():
        write_bytes_atomic(folder / ".gitignore", b"# annosync's caches: never commit them\n*\n")
    write_bytes_atomic(path, header.encode() + b"\n" + body)


class LabelIndex:
    """``(size, mtime_ns, ctime_ns, inode) -> content digest`` of every label file read."""

    def __init__(self, folder: DatasetFolder) -> None:
        self.folder = folder
        self.path = cache_dir(folder.state_dir) / INDEX_FILE
        self._entries: dict[str, Entry] = {}
        self._dirty = False
        self._lock = threading.Lock()
        self.hashed = 0  # files read and hashed by this process (the rest came from the index)
        self._labels = str(folder.labels_dir)
        self._now: int | None = None
        data = _load_json(self.path, "label-index")
        if data is not None and data.get("root") == str(folder.root):
            for key, row in (data.get("entries") or {}).items():
                try:
                    size, mtime, ctime, ino, sha, missing, racy = row
                    entry = Entry(int(size), int(mtime), int(ctime), int(ino), str(sha),
                                  int(missing), bool(racy))
                except (TypeError, ValueError):
                    continue
                self._entries[key] = entry

    def entry(self, key: str) -> Entry:
        """The entry of ``key``'s label file, from the index when its stat matches, else
        read and hashed now."""
        path = self._path(key)
        try:
            st = stat_of(path)
        except FileNotFoundError:
            raise StateError(f"{path}: no such sample {key!r}") from None
        return self._trusted(key, st) or self.record(key, self.folder.read_bytes(key), st)

    def known(self, key: str) -> Entry | None:
        """The entry of ``key`` if the index can vouch for the file without reading it."""
        try:
            st = stat_of(self._path(key))
        except FileNotFoundError:
            return None
        return self._trusted(key, st)

    def _path(self, key: str) -> str:
        """``folder.label_path(key)`` as a string (pathlib costs more than the stat itself)."""
        if not is_valid_key(key):
            return str(self.folder.label_path(key))  # raises, naming the key
        return os.path.join(self._labels, key + ".json")

    def _trusted(self, key: str, st: os.stat_result) -> Entry | None:
        with self._lock:
            old = self._entries.get(key)
        return old if old is not None and not old.racy and old.matches(st) else None

    def record(self, key: str, data: bytes, st: os.stat_result | None = None) -> Entry:
        """Enter content just read (or written) for ``key``; ``st`` is the file's stat taken
        before reading (so a write racing with the read is seen as a change next time)."""
        from annosync.sync.ids import missing_ids

        if st is None:
            st = stat_of(self.folder.label_path(key))
        sha = content_digest(data)
        entry = Entry(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, sha,
                      missing_ids(data))
        # racy: modified too recently to trust the stat (or changed between stat and read)
        entry.racy = (entry.size != len(data)
                      or max(entry.mtime_ns, entry.ctime_ns) + RACY_NS >= self.fs_now())
        with self._lock:
            old = self._entries.get(key)
            self._entries[key] = entry
            self.hashed += 1
            if old is None or old.row() != entry.row():
                self._dirty = True
        return entry

    def sha(self, key: str) -> str:
        return self.entry(key).sha

    def fs_now(self) -> int:
        """The file system's "now" (taken once, when first needed: a probe file's mtime; the
        process clock if the cache cannot be written). Taken before the files are read, so it
        errs on the side of "racy"."""
        if self._now is None:
            probe = self.path.parent / ".clock"
            try:
                probe.parent.mkdir(parents=True, exist_ok=True)
                probe.write_bytes(b"")
                self._now = stat_of(probe).st_mtime_ns
            except OSError:
                self._now = time.time_ns()
        return self._now

    def save(self) -> None:
        """Write the index if it changed (best effort: a read-only dataset just stays cold)."""
        with self._lock:
            if not self._dirty:
                return
            data = {"root": str(self.folder.root),
                    "entries": {k: e.row() for k, e in sorted(self._entries.items())}}
            self._dirty = False
        with contextlib.suppress(OSError):
            _save_json(self.path, "label-index", data)


class CleanMemo:
    """Which file contents of a run agree with its base (``local_changes`` found nothing).

    Valid only for the exact run record bytes and plan options it was made with (``context``).
    """

    def __init__(self, state_dir: Path, anno_key: str, context: str) -> None:
        self.path = cache_dir(state_dir) / f"clean-{anno_key}.json"
        self.context = context
        self._clean: dict[str, str] = {}
        self._dirty = False
        self._lock = threading.Lock()
        data = _load_json(self.path, "clean-memo")
        if data is not None and data.get("context") == context:
            self._clean = {str(k): str(v) for k, v in (data.get("clean") or {}).items()}

    @classmethod
    def fresh(cls, state_dir: Path, anno_key: str, context: str) -> CleanMemo:
        """An empty memo for ``context`` (whatever the file holds)."""
        memo = cls(state_dir, anno_key, context)
        memo._clean, memo._dirty = {}, True
        return memo

    def items(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._clean.items())

    def is_clean(self, key: str, sha: str) -> bool:
        return self._clean.get(key) == sha

    def mark(self, key: str, sha: str | None) -> None:
        """``sha`` None: forget ``key`` (its content no longer agrees with the base)."""
        with self._lock:
            if sha is None:
                if self._clean.pop(key, None) is not None:
                    self._dirty = True
            elif self._clean.get(key) != sha:
                self._clean[key] = sha
                self._dirty = True

    def save(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            data = {"context": self.context, "clean": dict(sorted(self._clean.items()))}
            self._dirty = False
        with contextlib.suppress(OSError):
            _save_json(self.path, "clean-memo", data)
