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
* the files are compact (format 2): a JSON header line, then the keys (``\0``-separated) and
  one fixed-size binary row per key (index) or the digests (memo). Loading one of 100k files
  costs a checksum and a split, not the parse of 10 MB of JSON; rows are decoded when asked
  for. Files of format 1 (JSON) still load and are rewritten in format 2 on the next save;
* a plan compares all its files at once (``LabelIndex.survey``, as ``git status`` does): one
  ``stat`` per file and the comparison with the rows (same four fields, racy flag) made by
  C-level ``map`` over stats and rows, no Python call per file; the files it cannot vouch for
  go through the same one-by-one rules as above;
* a run's clean memo is keyed by the exact bytes of the run record and by the plan's options:
  any apply (which rewrites the record) or different options invalidate it as a whole, and an
  entry holds the content digest of the file it vouches for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import operator
import os
import re
import struct
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import compress, filterfalse, islice, repeat
from pathlib import Path
from typing import Any

from annosync.dataset.atomic import write_bytes_atomic
from annosync.dataset.folder import DatasetFolder, is_valid_key
from annosync.errors import StateError

CACHE_DIR = "cache"
INDEX_FILE = "index.json"
#: the keys found in ``labels/``, with the stats of its directories (``listed_keys``)
LISTING_FILE = "listing"
#: 1: JSON bodies (still read); 2: keys and binary rows / digests (written)
INDEX_FORMAT = 2
#: one index row: size, mtime_ns, ctime_ns, inode, content digest (16 bytes), missing ids, racy
ROW = struct.Struct("<QqqQ16sIB")
#: Files modified this close to the index's writing are re-hashed on next use (racy git).
RACY_NS = 2_000_000_000


#: what of a stat an entry compares (``Entry.matches``), and the same fields of a row
_STAT_SIG = operator.attrgetter("st_size", "st_mtime_ns", "st_ctime_ns", "st_ino")
_ROW_SIG = operator.itemgetter(0, 1, 2, 3)
_ROW_SHA = operator.itemgetter(4)
_ROW_MISSING = operator.itemgetter(5)
_ROW_RACY = operator.itemgetter(6)
#: files a survey stats and compares at a time (the stats of one chunk are held at once)
SURVEY_CHUNK = 4096
#: a stat packed as the first fields of a row (the rest zero), for the comparison in bulk
_STAT_ROW = struct.Struct("<QqqQ21x")
#: a row's digest and count of labels lacking ids, unpacked in bulk (``iter_unpack``)
_ROW_TAIL = struct.Struct("<32x16sIx")
_ROW_SHA_ONLY = struct.Struct("<32x16s5x")
#: which bytes of a row the bulk comparison looks at: the stat's four fields and the racy flag
_ROW_MASK = b"\xff" * 32 + b"\0" * 20 + b"\xff"
_ST_SIZE = operator.attrgetter("st_size")
_ST_MTIME = operator.attrgetter("st_mtime_ns")
_ST_CTIME = operator.attrgetter("st_ctime_ns")
_ST_INO = operator.attrgetter("st_ino")
_NONZERO = re.compile(rb"[^\0]+")
_FIRST = operator.itemgetter(0)
_SECOND = operator.itemgetter(1)
#: a row no stat matches (a key the index does not hold): racy, so never vouched for
_NO_ROW = (0, -1, -1, 0, b"", 0, 1)
_ABSENT_ROW = ROW.pack(*_NO_ROW)
#: the stat's stand-in for a file that is gone: matches no row
_NO_SIG = (-2, -2, -2, -2)
#: an invalid key among keys joined by newlines (``is_valid_key``'s rules: an empty, ``.``
#: or ``..`` segment, a leading ``/``, a backslash or NUL); a match only means "check one
#: by one", so a key holding a newline cannot make an invalid key pass
_INVALID_KEY = re.compile(r"(?:^|/)\.{0,2}(?:/|$)|\\|\0", re.MULTILINE)


#: what ``CleanMemo.doubtful`` compares a memo entry with for a file the index does not vouch for
_UNVOUCHED = object()


#: what ``_INVALID_KEY`` looks for, as substrings of the keys joined by newlines with a newline
#: before and after: a segment "", "." or ".." between two of "/" and a key's start or end
_BAD_SEGMENTS = tuple(f"{a}{d}{b}" for a in "\n/" for d in ("", ".", "..") for b in "\n/")


def _maybe_invalid(joined: str) -> bool:
    """``_INVALID_KEY.search(joined)``, or a NUL, by C-level substring searches (the regex
    tries its alternatives at every character: ~10 ms on 100k keys)."""
    if "\\" in joined or "\0" in joined:
        return True
    if "/" not in joined and "." not in joined:  # only an empty key can be invalid
        return "\n\n" in joined or joined.startswith("\n") or joined.endswith("\n") \
            or not joined
    wrapped = f"\n{joined}\n"
    return any(bad in wrapped for bad in _BAD_SEGMENTS)


def cache_dir(state_dir: Path) -> Path:
    return state_dir / CACHE_DIR


def content_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


@dataclass(slots=True)
class Entry:
    """What the index knows of one label file (slotted: a plan that reads every file of
    many tasks holds one per file read until the index is saved)."""

    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    sha: str
    missing_ids: int = 0
    racy: bool = False

    def matches(self, st: StatLike) -> bool:
        return (self.size == st.st_size and self.mtime_ns == st.st_mtime_ns
                and self.ctime_ns == st.st_ctime_ns and self.ino == st.st_ino)

    def row(self) -> list[Any]:
        return [self.size, self.mtime_ns, self.ctime_ns, self.ino, self.sha, self.missing_ids,
                int(self.racy)]


class Stat:
    """The four fields of a stat the index compares (``Entry.matches``, ``_STAT_SIG``), kept
    for a file within a pin instead of its ``os.stat_result`` (~640 bytes with its 15 numbers;
    this ~60, sharing the numbers of the entry it was recorded with): a pull that reads
    every file of many tasks pins one per file read."""

    __slots__ = ("st_ctime_ns", "st_ino", "st_mtime_ns", "st_size")

    def __init__(self, size: int, mtime_ns: int, ctime_ns: int, ino: int) -> None:
        self.st_size, self.st_mtime_ns, self.st_ctime_ns, self.st_ino = (
            size, mtime_ns, ctime_ns, ino)

    @classmethod
    def of(cls, st: StatLike) -> Stat:
        return st if type(st) is Stat else cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                                                 st.st_ino)


#: a stat as the index compares it: the file system's, or the four fields pinned (``Stat``)
StatLike = os.stat_result | Stat


def stat_of(path: str | os.PathLike[str]) -> os.stat_result:
    """The ``stat`` the index compares (a seam: tests simulate coarse file system clocks)."""
    return os.stat(path)


_os_stat_of = stat_of


def _load(path: Path, kind: str) -> tuple[dict[str, Any], bytes] | None:
    """Header and body of a cache file whose checksum holds, else None (missing, torn,
    foreign, or of a format this code does not know)."""
    try:
        raw = path.read_bytes()
        head, _, body = raw.partition(b"\n")
        header = json.loads(head)
        if (not isinstance(header, dict) or header.get("kind") != kind
                or header.get("format") not in (1, INDEX_FORMAT)
                or header.get("checksum") != content_digest(body)):
            return None
    except (OSError, ValueError, RecursionError):
        return None
    return header, body


def _load_json(body: bytes) -> dict[str, Any] | None:
    """A format-1 body (JSON), read for migration."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _split_keys(header: dict[str, Any], body: bytes, width: int
                ) -> tuple[list[str], bytes] | None:
    """A format-2 body: ``count`` keys, ``\0``-separated (``keys`` bytes), then what
    follows them (``count`` rows of ``width`` bytes when ``width``); None if it does not add
    up."""
    count, size = header.get("count"), header.get("keys")
    if not isinstance(count, int) or not isinstance(size, int) or not 0 <= size <= len(body):
        return None
    try:
        keys = body[:size].decode("utf-8").split("\0") if count else []
    except UnicodeDecodeError:
        return None
    rest = body[size:]
    if len(keys) != count or (width and len(rest) != count * width):
        return None
    return keys, rest


def _save(path: Path, header: dict[str, Any], body: bytes) -> None:
    header = {**header, "format": INDEX_FORMAT, "checksum": content_digest(body)}
    folder = path.parent
    if not (folder / ".gitignore").exists():
        write_bytes_atomic(folder / ".gitignore", b"# annosync's caches: never commit them\n*\n")
    write_bytes_atomic(path, json.dumps(header, sort_keys=True).encode() + b"\n" + body)


def _packable(key: str) -> bool:
    return "\0" not in key


class RowDigests:
    """The digests of the index rows a survey vouched for, read from the rows when asked for
    (one flag byte per key instead of a 32-character string: a pull of a run holds its
    survey from the first task to the last)."""

    def __init__(self, rows: bytes, flags: bytearray) -> None:
        self._rows, self._flags = rows, flags

    def vouched(self, at: int) -> bool:
        return bool(self._flags[at])

    def sha(self, at: int) -> str:
        start = at * ROW.size + 32
        return self._rows[start:start + 16].hex()

    def discard(self, at: int) -> None:
        self._flags[at] = 0

    def as_list(self) -> list[str | None]:
        """Every digest in row order (None: not vouched for), decoded in bulk."""
        flags = self._flags
        shas = map(bytes.hex, map(_FIRST, _ROW_SHA_ONLY.iter_unpack(
            self._rows[:len(flags) * ROW.size])))
        if flags.count(0) == 0:
            return list(shas)
        return [sha if flag else None for sha, flag in zip(shas, flags, strict=True)]


class Vouched(Mapping[str, str]):
    """What ``survey`` vouched for, when it compared keys given in the rows' order: the
    digests (None where not vouched for) in the order of those keys, so that a caller with
    the same keys (the memo's ``doubtful``, the fingerprint's ``digests``) takes them as a
    list. From a survey the digests stay in the index's rows (``RowDigests``) and a key is
    found by the index's ``find`` (its row): asked by key, no dict of every key is built;
    otherwise (a list of digests) a dict is built once. The list, once made, is kept until
    ``shed`` (a pull sheds it before converting its first task; a no-op plan, converting
    nothing, makes it once for the memo and the fingerprint both)."""

    def __init__(self, keys: list[str], shas: list[str | None] | RowDigests,
                 find: Callable[[str], int | None] | None = None) -> None:
        self._keys, self._shas = keys, shas
        self._find = find if isinstance(shas, RowDigests) else None
        self._map: dict[str, str] | None = None
        self._list: list[str | None] | None = shas if isinstance(shas, list) else None

    def aligned(self, keys: list[str]) -> list[str | None] | None:
        """The digests (None: not vouched for) for ``keys``, if they are the keys surveyed."""
        if not (keys is self._keys or keys == self._keys):
            return None
        if self._list is None:
            assert isinstance(self._shas, RowDigests)
            self._list = self._shas.as_list()
        return self._list

    def shed(self) -> None:
        """Let go of the list of digests (made again when asked for), when kept in rows."""
        if isinstance(self._shas, RowDigests):
            self._list = None

    def as_dict(self) -> dict[str, str]:
        """Key -> digest of the files vouched for (built once)."""
        if self._map is None:
            shas = self.aligned(self._keys)
            pairs: Any = compress(zip(self._keys, shas or (), strict=True), shas or ())
            self._map = dict(pairs)
        return self._map

    def _row(self, key: object) -> int | None:
        """The row of a key vouched for (``find`` only: see the class)."""
        assert self._find is not None and isinstance(self._shas, RowDigests)
        at = self._find(key) if isinstance(key, str) else None
        return at if at is not None and self._shas.vouched(at) else None

    def discard(self, key: str) -> None:
        """No longer vouch for ``key`` (the index made a newer entry for its file)."""
        if self._map is not None:
            self._map.pop(key, None)
        if isinstance(self._shas, RowDigests):
            at = self._row(key)
            if at is not None:
                self._shas.discard(at)
                if self._list is not None:
                    self._list[at] = None
        elif key in self._keys:
            self._shas = self._list = [None if k == key else sha
                                       for k, sha in zip(self._keys, self._shas, strict=True)]

    def __getitem__(self, key: str) -> str:
        if self._map is None and self._find is not None:
            at = self._row(key)
            if at is None:
                raise KeyError(key)
            return self._shas.sha(at)  # type: ignore[union-attr]
        return self.as_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())

    def __contains__(self, key: object) -> bool:
        if self._map is None and self._find is not None:
            return self._row(key) is not None
        return key in self.as_dict()


def _as_dict(shas: Mapping[str, str]) -> Mapping[str, str]:
    """``shas`` with a C-level ``get`` (a ``Vouched``'s dict)."""
    return shas.as_dict() if isinstance(shas, Vouched) else shas


class LabelIndex:
    """``(size, mtime_ns, ctime_ns, inode) -> content digest`` of every label file read.

    Entries loaded from the file stay packed rows (``_rows``, found through ``_pos``) until
    asked for; entries made by this process are ``Entry`` objects in ``_entries``."""

    def __init__(self, folder: DatasetFolder) -> None:
        self.folder = folder
        self.path = cache_dir(folder.state_dir) / INDEX_FILE
        self._entries: dict[str, Entry] = {}
        #: the loaded keys, in the order of their rows: sorted as ``save`` writes them, so a
        #: key's row is found by bisection (``_find``); ``_pos`` (a dict of every key) is built
        #: only for keys not in order (a survey of other keys) or an index not sorted
        self._keys: list[str] = []
        self._positions: dict[str, int] | None = {}
        self._sorted: bool | None = None
        #: the loaded rows, then one row no stat matches (``survey`` points absent keys at it)
        self._rows = _ABSENT_ROW
        self._dirty = False
        self._lock = threading.Lock()
        self.hashed = 0  # files read and hashed by this process (the rest came from the index)
        self._labels = str(folder.labels_dir)
        self._now: int | None = None
        #: what one plan (``pin``) found per file: the entry its stat vouched for, else the stat
        #: (so a file is stat'ed once per plan)
        self._pinned: dict[str, Entry | Stat] | None = None
        #: what ``survey`` vouched for during the pin: digest, and count of labels lacking ids
        self._vouched: dict[str, str] = {}
        #: the first survey of the pin, when in the rows' order (``_vouched`` as a list)
        self._aligned: Vouched | None = None
        self._lacking: dict[str, int] = {}
        loaded = _load(self.path, "label-index")
        if loaded is None:
            return
        header, body = loaded
        if header.get("format") == 1:  # an older annosync's index: read it, save it anew
            data = _load_json(body)
            if data is not None and data.get("root") == str(folder.root):
                self._entries = _json_entries(data.get("entries"))
                self._dirty = bool(self._entries)
            return
        if header.get("root") != str(folder.root):
            return
        split = _split_keys(header, body, ROW.size)
        if split is not None:
            keys, rows = split
            self._rows = rows + _ABSENT_ROW
            self._keys, self._positions = keys, None

    @property
    def _pos(self) -> dict[str, int]:
        """Row number of each loaded key."""
        pos = self._positions
        if pos is None:
            pos = self._positions = dict(zip(self._keys, range(len(self._keys)), strict=True))
        return pos

    def _find(self, key: str) -> int | None:
        """Row number of a loaded key (None: not loaded), without ``_pos`` while the keys
        are sorted (a pull asks for every file it reads: ~100 bytes a key less)."""
        pos = self._positions
        if pos is not None:
            return pos.get(key)
        keys = self._keys
        if self._sorted is None:
            self._sorted = all(map(operator.lt, keys, islice(keys, 1, None)))
        if not self._sorted:
            return self._pos.get(key)
        at = bisect_left(keys, key)
        return at if at < len(keys) and keys[at] == key else None

    def entry(self, key: str) -> Entry:
        """The entry of ``key``'s label file, from the index when its stat matches, else
        read and hashed now."""
        hit = self._pinned_entry(key)
        if hit is not None:
            return hit
        path = self._path(key)
        try:
            st = self._stat(key, path)
        except FileNotFoundError:
            raise StateError(f"{path}: no such sample {key!r}") from None
        found = self._trusted(key, st)
        if found is None:
            return self.record(key, self.folder.read_bytes(key), st)
        self._pin(key, st, found)
        return found

    def known(self, key: str) -> Entry | None:
        """The entry of ``key`` if the index can vouch for the file without reading it."""
        hit = self._pinned_entry(key)
        if hit is not None:
            return hit
        path = self._path(key)
        try:
            st = self._stat(key, path)
        except FileNotFoundError:
            return None
        found = self._trusted(key, st)
        if found is not None:
            self._pin(key, st, found)
        return found

    def pin(self) -> None:
        """From now until ``save``: each file is stat'ed once, and the stat (with the entry
        it vouched for) is used again (one plan: its refresh, then its fingerprint). The plan
        then describes the files as its merges saw them: a file changed meanwhile makes a
        saved plan stale when applied, where a second stat would have hidden the change from
        the fingerprint."""
        self._pinned = {}

    def _pinned_entry(self, key: str) -> Entry | None:
        pinned = self._pinned
        if pinned is None:
            return None
        hit = pinned.get(key)
        if hit is None:
            # vouched for by ``survey``: the loaded row, as an entry made again each time
            # (not pinned: a pin holds no object per file the survey vouched for)
            with self._lock:
                return self._get(key) if self._is_vouched(key) else None
        return hit if type(hit) is Entry else None

    def _is_vouched(self, key: str) -> bool:
        """Whether ``survey`` vouched for ``key`` in this pin; call with the lock held."""
        return key in self._vouched or (self._aligned is not None and key in self._aligned)

    def _vouched_map(self) -> dict[str, str]:
        """``_vouched`` as one dict (the aligned survey merged in); call with the lock held."""
        if self._aligned is not None:
            self._vouched.update(self._aligned.as_dict())
            self._aligned = None
        return self._vouched

    def shed(self) -> None:
        """Let go of what the pin's survey can make again when asked for (its digests as
        strings): a pull calls it before converting a task, its memory's peak."""
        with self._lock:
            if self._aligned is not None:
                self._aligned.shed()

    def _unvouch(self, key: str) -> None:
        """``key``'s survey digest no longer holds (an entry was made); call with the lock."""
        self._vouched.pop(key, None)
        if self._aligned is not None:
            self._aligned.discard(key)

    def survey(self, keys: list[str], lacking: dict[str, int] | None = None
               ) -> Mapping[str, str]:
        """``known`` for many keys at once, the way ``git status`` compares its index: one
        stat per file and the comparison with the loaded rows done in bulk (C-level ``map``
        over the stats and the rows, no Python call per file). Returns the digest of every
        file of ``keys`` the index vouches for (its stat matches a row that is not racy);
        within a pin they stay pinned (``known``, ``entry`` and ``digests`` answer from
        them) and the stat of each other file is pinned for its one-by-one look. Files not
        in the result (changed, racy, new, gone, or entered by this process) are left to
        ``known``/``entry``, which apply the usual rules."""
        if not keys:
            return {}
        joined = "\n".join(keys)
        if _maybe_invalid(joined):
            for key in keys:
                self._path(key)  # raises, naming the first invalid key
        with self._lock:
            buf, own = self._rows, self._entries
            # the keys in the order of the loaded rows (a plan's keys usually are): the rows
            # of a chunk are then one slice of the buffer, compared with the stats at once
            aligned = keys == self._keys
            pos = None if aligned else self._pos
        prefix = self._labels + os.sep
        # os.stat itself unless a test replaced the seam (a Python call less per file)
        stat, size = os.stat if stat_of is _os_stat_of else stat_of, ROW.size
        absent = len(self._keys)
        found: dict[str, str] = {}
        listed = bytearray()  # aligned: 1 where the row (its digest) is vouched for, else 0
        lack: dict[str, int] = {}
        pinned = self._pinned
        for start in range(0, len(keys), SURVEY_CHUNK):  # in chunks: memory stays flat
            part = keys[start:start + SURVEY_CHUNK]
            paths = [prefix + key + ".json" for key in part]
            try:
                stats: list[Any] = list(map(stat, paths))
            except OSError:  # a file is gone (or unreadable): one by one, None for those
                stats = [_stat_or_none(stat, p) for p in paths]
            ok: Any = None  # True: the whole chunk vouched for; else one flag per file
            if aligned and None not in stats:  # the whole chunk compared at once
                ok = _compare_slice(stats, buf, start)
                if ok is True and own and not own.keys().isdisjoint(part):
                    ok = [True] * len(part)
            if ok is None:  # row by row (still C-level ``map``s)
                sigs = [_NO_SIG if st is None else _STAT_SIG(st) for st in stats] \
                    if None in stats else list(map(_STAT_SIG, stats))
                at: Any = range(start, start + len(part)) if pos is None else \
                    map(pos.get, part, repeat(absent))
                rows = list(map(ROW.unpack_from, repeat(buf), map(operator.mul, at, repeat(size))))
                ok = list(map(operator.and_, map(operator.eq, sigs, map(_ROW_SIG, rows)),
                              map(operator.not_, map(_ROW_RACY, rows))))
                tails: list[Any] = [(r[4], r[5]) for r in compress(rows, ok)]
            elif ok is not True:
                tails = list(compress(_ROW_TAIL.iter_unpack(
                    buf[start * size:(start + len(part)) * size]), ok))
            if ok is not True and own:  # entries made by this process supersede the loaded
                keep = [k not in own for k in compress(part, ok)]  # rows: one by one
                ok = [o and k not in own for k, o in zip(part, ok, strict=True)]
                tails = list(compress(tails, keep))
            if ok is True:  # every row of the slice vouched for
                rows_of = buf[start * size:(start + len(part)) * size]
                if aligned:
                    listed += b"\1" * len(part)
                else:
                    found.update(zip(part, map(bytes.hex, map(
                        _FIRST, _ROW_SHA_ONLY.iter_unpack(rows_of))), strict=True))
                if _any_missing(rows_of):  # labels without ids in some file: which
                    missing = list(map(_SECOND, _ROW_TAIL.iter_unpack(rows_of)))
                    lack.update(compress(zip(part, missing, strict=True), missing))
                continue
            good = list(compress(part, ok))
            missing = list(map(_SECOND, tails))
            if aligned:  # the digests are the rows' (``RowDigests`` reads them when asked)
                listed += bytes(map(bool, ok))
            else:
                found.update(zip(good, map(bytes.hex, map(_FIRST, tails)), strict=True))
            lack.update(compress(zip(good, missing, strict=True), missing))
            if pinned is not None:
                bad = map(operator.not_, ok)
                with self._lock:
                    pinned.update((k, Stat.of(st))
                                  for k, st in compress(zip(part, stats, strict=True), bad)
                                  if st is not None and k not in pinned)
        if lacking is not None:
            lacking.update(lack)
        result: Mapping[str, str] = Vouched(keys, RowDigests(buf, listed), self._find) \
            if aligned else found
        if pinned is not None:
            with self._lock:
                if aligned and self._aligned is None and not self._vouched:
                    self._aligned = result  # type: ignore[assignment]
                else:
                    self._vouched_map().update(_as_dict(result))
                self._lacking.update(lack)
        return result

    def digests(self, keys: list[str], lacking: dict[str, int] | None = None) -> list[str]:
        """The content digest of each of ``keys`` (``entry(key).sha``: a file is read and
        hashed only where the index cannot vouch for it), in bulk; ``lacking`` collects the
        files whose labels have no ``_id``. Within a pin, files already looked at keep the
        stat they were judged by."""
        lack: dict[str, int] = {}
        pinned = self._pinned
        out: list[Any] | None = None
        if pinned is not None:
            with self._lock:
                aligned = self._aligned.aligned(keys) if self._aligned is not None else None
                if aligned is not None:  # the keys the pin's survey compared: its list
                    out = list(aligned)
                else:
                    vouched: Mapping[str, str] = self._vouched_map()
            if out is None:
                rest = list(filterfalse(pinned.__contains__,
                                        filterfalse(vouched.__contains__, keys)))
                if rest:
                    self.survey(rest)
                with self._lock:
                    vouched = self._vouched_map()
            lack = self._lacking
        else:
            vouched = self.survey(keys, lack)
            if isinstance(vouched, Vouched):
                out = list(vouched.aligned(keys) or ())
        if out is None:
            out = list(map(vouched.get, keys))
        if None in out:
            for i, key in enumerate(keys):
                if out[i] is None:
                    entry = self.entry(key)
                    out[i] = entry.sha
                    if lacking is not None and entry.missing_ids:
                        lacking[key] = entry.missing_ids
        if lacking is not None and lack:
            if len(lack) < len(keys):
                wanted = set(keys)
                lacking.update((k, n) for k, n in lack.items() if k in wanted)
            else:
                lacking.update((k, lack[k]) for k in keys if k in lack)
        return out

    def _pin(self, key: str, st: StatLike, entry: Entry | None) -> None:
        pinned = self._pinned
        if pinned is not None:
            pinned[key] = Stat.of(st) if entry is None else entry

    def _stat(self, key: str, path: str) -> StatLike:
        pinned = self._pinned
        if pinned is None:
            return stat_of(path)
        hit = pinned.get(key)
        if hit is not None:
            assert not isinstance(hit, Entry)  # an entry is answered before any stat
            return hit
        st = stat_of(path)
        pinned[key] = Stat.of(st)
        return st

    def _path(self, key: str) -> str:
        """``folder.label_path(key)`` as a string (pathlib costs more than the stat itself)."""
        if not is_valid_key(key):
            return str(self.folder.label_path(key))  # raises, naming the key
        return os.path.join(self._labels, key + ".json")

    def _get(self, key: str) -> Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            return entry
        at = self._find(key)
        if at is None:
            return None
        size, mtime, ctime, ino, sha, missing, racy = ROW.unpack_from(self._rows, at * ROW.size)
        return Entry(size, mtime, ctime, ino, sha.hex(), missing, bool(racy))

    def _trusted(self, key: str, st: StatLike) -> Entry | None:
        with self._lock:
            old = self._get(key)
        return old if old is not None and not old.racy and old.matches(st) else None

    def record(self, key: str, data: bytes, st: StatLike | None = None) -> Entry:
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
            old = self._get(key)
            if (old is not None and not entry.racy and key not in self._entries
                    and old.row() == entry.row()):
                # what the loaded row says, and no stat in between: nothing is held for it
                # (a pull reads every file of the jobs CVAT changed, most of them as the
                # index has them). Within a pin the file is judged as before: vouched for
                # by the survey, or by this entry (what ``_trusted`` would find for its stat)
                if self._pinned is not None and not self._is_vouched(key):
                    self._pinned[key] = entry
                self.hashed += 1
                return entry
            self._entries[key] = entry
            self._unvouch(key)
            self._lacking.pop(key, None)
            if self._pinned is not None:  # the entry is judged again on its next use
                self._pinned[key] = Stat(entry.size, entry.mtime_ns, entry.ctime_ns,
                                         entry.ino)
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
            self._now = fs_now(self.path.parent)
        return self._now

    def save(self) -> None:
        """Write the index if it changed (best effort: a read-only dataset just stays cold);
        ends a ``pin``."""
        with self._lock:
            self._pinned = None
            self._vouched, self._lacking, self._aligned = {}, {}, None
            if not self._dirty:
                return
            # every loaded key's row, by a dict made for this save (not kept: see ``_find``)
            pos = self._positions if self._positions is not None else \
                dict(zip(self._keys, range(len(self._keys)), strict=True))
            keys = sorted(k for k in pos.keys() | self._entries.keys() if _packable(k))
            rows, width, kept = [], ROW.size, []
            for key in keys:
                entry = self._entries.get(key)
                if entry is None:
                    at = pos[key] * width
                    rows.append(self._rows[at:at + width])
                elif len(entry.sha) == 32 and entry.missing_ids >= 0:
                    try:
                        rows.append(ROW.pack(entry.size, entry.mtime_ns, entry.ctime_ns,
                                             entry.ino, bytes.fromhex(entry.sha),
                                             min(entry.missing_ids, 2**32 - 1),
                                             int(entry.racy)))
                    except (ValueError, struct.error):
                        continue  # not storable: the file is simply read again next time
                else:
                    continue
                kept.append(key)
            self._dirty = False
        names = "\0".join(kept).encode("utf-8")
        header = {"kind": "label-index", "root": str(self.folder.root), "count": len(kept),
                  "keys": len(names)}
        with contextlib.suppress(OSError):
            _save(self.path, header, names + b"".join(rows))


def fs_now(folder: Path) -> int:
    """The file system's "now": the mtime of a probe file written in ``folder`` (the process
    clock if it cannot be written)."""
    probe = folder / ".clock"
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        return stat_of(probe).st_mtime_ns
    except OSError:
        return time.time_ns()


def _dir_sig(st: Any) -> list[int]:
    return [st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def listed_keys(folder: DatasetFolder) -> list[str]:
    """``folder.unsorted_keys()``, from a cache while no directory of ``labels/`` changed.

    A directory's mtime and ctime move whenever an entry is added to it, removed or renamed
    (a file's content does not matter here), so the listing is kept with the stat of every
    directory scanned, taken before its scan, and used again while each still matches
    (``(mtime_ns, ctime_ns, inode)``; a new subdirectory changes its parent). The racy rule of
    the index applies: the listing is saved only if every directory changed more than
    ``RACY_NS`` before the file system's "now", so a change within the same timestamp tick
    cannot hide behind an equal mtime. Missing, torn or foreign: scanned again."""
    path = cache_dir(folder.state_dir) / LISTING_FILE
    loaded = _load(path, "label-listing")
    if loaded is not None:
        header, body = loaded
        dirs = header.get("dirs")
        if (header.get("root") == str(folder.root) and isinstance(dirs, list) and dirs
                and _dirs_unchanged(folder, dirs)):
            split = _split_keys(header, body, 0)
            if split is not None and not split[1]:
                return split[0]
    seen: list[tuple[str, os.stat_result]] = []
    keys = folder.unsorted_keys(seen)
    if not seen:
        return keys
    now = fs_now(path.parent)
    if all(max(st.st_mtime_ns, st.st_ctime_ns) + RACY_NS < now for _, st in seen):
        with contextlib.suppress(OSError, UnicodeEncodeError):
            names = "\0".join(keys).encode("utf-8")
            header = {"kind": "label-listing", "root": str(folder.root), "count": len(keys),
                      "keys": len(names), "dirs": [[rel, *_dir_sig(st)] for rel, st in seen]}
            _save(path, header, names)
    return keys


def _dirs_unchanged(folder: DatasetFolder, dirs: list[Any]) -> bool:
    labels = str(folder.labels_dir)
    for item in dirs:
        if not isinstance(item, list) or len(item) != 4 or not isinstance(item[0], str):
            return False
        rel = item[0]
        try:
            st = stat_of(os.path.join(labels, rel) if rel else labels)
        except OSError:
            return False
        if _dir_sig(st) != item[1:]:
            return False
    return True


#: the mask of ``n`` rows (``_ROW_MASK`` repeated), as an integer, by ``n``
_MASKS: dict[int, int] = {}


def _compare_slice(stats: list[Any], buf: bytes, start: int) -> bool | list[bool] | None:
    """Whether each of ``stats`` matches the row of the same rank from row ``start`` on
    (size, mtime_ns, ctime_ns and inode equal, racy flag clear): the stats packed as rows,
    then one XOR of the two byte strings as integers, masked to those fields; only a
    chunk with a difference is looked at row by row. True when every row matches; None
    when a stat does not pack (out of a row's range: compared the usual way)."""
    n, width = len(stats), ROW.size
    try:
        packed = b"".join(map(_STAT_ROW.pack, map(_ST_SIZE, stats), map(_ST_MTIME, stats),
                              map(_ST_CTIME, stats), map(_ST_INO, stats)))
    except struct.error:
        return None
    rows = buf[start * width:(start + n) * width]
    if len(rows) != len(packed):
        return None
    mask = _MASKS.get(n)
    if mask is None:
        mask = _MASKS[n] = int.from_bytes(_ROW_MASK * n, "little")
    diff = (int.from_bytes(packed, "little") ^ int.from_bytes(rows, "little")) & mask
    if not diff:
        return True
    ok = [True] * n
    for run in _NONZERO.finditer(diff.to_bytes(len(packed), "little")):
        for row in range(run.start() // width, (run.end() - 1) // width + 1):
            ok[row] = False
    return ok


def _any_missing(rows: bytes) -> bool:
    """Whether a row of ``rows`` counts labels without ids (its four count bytes, taken
    column by column with strided slices, are not all zero)."""
    width = ROW.size
    return any(rows[at::width].count(0) * width != len(rows) for at in range(48, 52))


def _stat_or_none(stat: Any, path: str) -> Any:
    try:
        return stat(path)
    except FileNotFoundError:
        return None


def _json_entries(raw: Any) -> dict[str, Entry]:
    """The entries of a format-1 index (a row that does not fit is skipped: only a cache)."""
    out: dict[str, Entry] = {}
    for key, row in (raw if isinstance(raw, dict) else {}).items():
        try:
            size, mtime, ctime, ino, sha, missing, racy = row
            out[str(key)] = Entry(int(size), int(mtime), int(ctime), int(ino), str(sha),
                                  int(missing), bool(racy))
        except (TypeError, ValueError):
            continue
    return out


class CleanMemo:
    """Which file contents of a run agree with its base (``local_changes`` found nothing).

    Valid only for the exact run record bytes and plan options it was made with (``context``).
    """

    def __init__(self, state_dir: Path, anno_key: str, context: str) -> None:
        self.path = cache_dir(state_dir) / f"clean-{anno_key}.json"
        self.context = context
        self._clean_map: dict[str, str] | None = {}
        #: the keys and digests as loaded, in the file's order (sorted: as saved), asked by
        #: bisection (``_get``) with the changes since in ``_marks``: a pull asks and marks
        #: every sample of the jobs CVAT changed, and a dict of every key (built from them
        #: only when something needs it whole) held ~75 bytes a sample of the run
        self._loaded: tuple[list[str], list[str]] | None = None
        self._marks: dict[str, str | None] = {}
        self._dirty = False
        self._lock = threading.Lock()
        loaded = _load(self.path, "clean-memo")
        if loaded is None:
            return
        header, body = loaded
        if header.get("format") == 1:  # an older annosync's memo: read it, save it anew
            data = _load_json(body)
            if data is not None and data.get("context") == context:
                clean = data.get("clean")
                self._clean = {str(k): str(v) for k, v in
                               (clean if isinstance(clean, dict) else {}).items()}
                self._dirty = bool(self._clean)
            return
        if header.get("context") != context:
            return
        split = _split_keys(header, body, 0)
        if split is None:
            return
        keys, rest = split
        try:
            shas = rest.decode("utf-8").split("\0") if keys else []
        except UnicodeDecodeError:
            return
        if len(shas) == len(keys):
            self._loaded, self._clean_map = (keys, shas), None
            if not all(map(operator.lt, keys, islice(keys, 1, None))):  # not as saved
                self._clean  # noqa: B018  (a dict, asked by key)

    @property
    def _clean(self) -> dict[str, str]:
        """Key -> digest of the file content found clean."""
        clean = self._clean_map
        if clean is None:
            assert self._loaded is not None
            clean = dict(zip(*self._loaded, strict=True))
            for key, sha in self._marks.items():
                if sha is None:
                    clean.pop(key, None)
                else:
                    clean[key] = sha
            self._clean_map, self._loaded, self._marks = clean, None, {}
        return clean

    @_clean.setter
    def _clean(self, clean: dict[str, str]) -> None:
        self._clean_map, self._loaded, self._marks = clean, None, {}

    def _get(self, key: str) -> str | None:
        """The digest the memo holds for ``key`` (None: none), without a dict of every key."""
        loaded = self._loaded
        if loaded is None:
            return self._clean.get(key)
        if key in self._marks:
            return self._marks[key]
        keys = loaded[0]
        at = bisect_left(keys, key)
        return loaded[1][at] if at < len(keys) and keys[at] == key else None

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
        return self._get(key) == sha

    def doubtful(self, keys: list[str], shas: Mapping[str, str]) -> set[str]:
        """The keys of ``keys`` the memo cannot vouch for with the digests ``shas`` (the
        index's, for the files it vouches for): not in ``shas``, or in the memo with another
        digest or not at all. ``is_clean`` in bulk, C-level, returning the few keys left."""
        listed = shas.aligned(keys) if isinstance(shas, Vouched) else None
        with self._lock:
            if self._marks:  # changed since loaded: asked of the whole, as a dict
                self._clean  # noqa: B018
            # a key the index does not vouch for: a value no memo entry equals (None in
            # ``survey``'s list, which no digest the memo holds equals either)
            loaded = self._loaded
            if loaded is not None and loaded[0] == keys:  # the memo's own order: in bulk
                now = listed if listed is not None else list(map(
                    _as_dict(shas).get, keys, repeat(_UNVOUCHED)))
                if now == loaded[1]:
                    return set()
                return set(compress(keys, map(operator.ne, loaded[1], now)))
            memo = self._clean
            return set(compress(keys, map(operator.ne, map(memo.get, keys),
                                          map(_as_dict(shas).get, keys, repeat(_UNVOUCHED)))))

    def mark(self, key: str, sha: str | None) -> None:
        """``sha`` None: forget ``key`` (its content no longer agrees with the base)."""
        with self._lock:
            if self._get(key) == sha:
                return
            self._dirty = True
            if self._loaded is not None:
                self._marks[key] = sha
            elif sha is None:
                self._clean.pop(key, None)
            else:
                self._clean[key] = sha

    def save(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            pairs = sorted((k, v) for k, v in self._clean.items()
                           if _packable(k) and _packable(v))
            self._dirty = False
        names = "\0".join(k for k, _ in pairs).encode("utf-8")
        shas = "\0".join(v for _, v in pairs).encode("utf-8")
        header = {"kind": "clean-memo", "context": self.context, "count": len(pairs),
                  "keys": len(names)}
        with contextlib.suppress(OSError):
            _save(self.path, header, names + shas)
