"""The run record's heavy parts, one shard file per task, loaded only when used.

Why: a run record holds every label's base digests and every task's id map (~450 bytes per
label). Loading and validating all of it made a no-op plan of 10k samples take seconds and
memory grow with the run. So the record's head names one shard per task (its samples' base
entries and its id map) by the digest of its bytes, and ``LazyBase`` / ``ShardStore`` load a
shard the first time code touches one of its samples' base entries or its task's id map.

Crash safety comes from content addressing: a shard's file name carries its digest, so a save
writes the changed shards under new names first, then replaces the head atomically, then
deletes the shards no head names any more. Whatever instant a save stops at, the head on disk
names shards that exist with exactly the bytes it expects (a torn save leaves only unnamed
files, removed by the next save). A shard that is missing or whose bytes differ from the head's
digest is an error naming the file, never data silently taken as empty.

A loaded shard can be let go of but for some samples' entries (``RunRecord.release``: a pull,
once a task is merged); it is then *held in part* (``ShardStore.partial``): the kept keys read
as before, any other key or the id map loads the whole shard again, and a save writes it from
its old bytes (``record._Written``).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from annosync.convert.id_map import TaskIdMap
from annosync.errors import InputError, StateError
from annosync.model.problems import problems_from_validation
from annosync.sync.merge import BaseEntry

if TYPE_CHECKING:
    from annosync.sync.record import RunRecord

#: the run record's format. 1: one file holding everything; 2: a head and one shard per task;
#: 3: a plain box's geometry digest is its exact numbers (``digest.box_key``), not a hash.
#: Formats 1 and 2 are read (their hashed boxes compare as they did: ``merge.upgrade``); a save
#: writes format 3 (an older annosync refuses it, naming the format, instead of misreading it)
RECORD_FORMAT = 3


def source_digest(data: bytes) -> str:
    """The digest a head names a shard by, and the clean memo keys a head by."""
    return hashlib.sha256(data).hexdigest()[:32]

Part = int | None  # a task index; None: base entries of keys with no sample ref (never, normally)
Fields = dict[str, dict[str, BaseEntry]]


class ShardRef(BaseModel):
    """What the head says of one shard."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    task: int | None = Field(default=None,
                             description="index of the task whose samples and id map it holds "
                                         "(absent: base entries of samples with no task)")
    file: str = Field(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.json$",
                      description="file name in runs/<anno_key>/")
    digest: str = Field(description="sha256 of the file's bytes (first 32 hex digits)")
    blob: str | None = Field(default=None, description="git's object id of the same bytes: "
                             "where a git merge dropped the file, git still holds them")
    labels: dict[str, int] = Field(default_factory=dict,
                                   description="field -> base entries the shard holds")


class ShardFile(BaseModel):
    """One shard: a task's id map and its samples' base entries."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    format: int
    task: int | None = None
    id_map: TaskIdMap | None = None
    base: dict[str, Fields] = Field(default_factory=dict)


def shard_name(part: Part, digest: str) -> str:
    return f"{'other' if part is None else f'task-{part}'}-{digest[:16]}.json"


def read_shard_bytes(path: Path) -> bytes:
    """A shard's bytes (a seam: tests count the shards a command reads)."""
    return path.read_bytes()


def git_blob_id(data: bytes) -> str:
    """The id git gives a file of these bytes (``git hash-object``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def from_git(folder: Path, blob: str) -> bytes | None:
    """The bytes of a git object, if ``folder`` is in a git work tree whose object store holds
    it. Why: two clones merging through git each rename the shards they changed; keeping one
    side's head (``git checkout --theirs``) can leave a shard that side named deleted by the
    merge, though git still has its bytes."""
    import subprocess  # rarely needed (a shard lost in a git merge): not at start-up

    exe = shutil.which("git")
    where = next((p for p in (folder, *folder.parents) if p.is_dir()), None)
    if exe is None or where is None or not re.fullmatch(r"[0-9a-f]{40}", blob):
        return None
    try:
        proc = subprocess.run([exe, "-C", str(where), "cat-file", "blob", blob],
                              capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def task_of(samples: dict[str, Any], key: str) -> Part:
    """The task index of sample ``key`` in a record's ``samples`` (None: no such sample),
    without making a ``SampleRef`` of what ``record.SampleRefs`` holds as a (task, frame)
    tuple (made, each stays: a pull of every job of a big run made one per sample)."""
    ref = dict.get(samples, key)
    if ref is None:
        return None
    return ref[0] if type(ref) is tuple else ref.task


def label_counts(entries: Iterable[Fields]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for fields in entries:
        for path, labels in fields.items():
            counts[path] = counts.get(path, 0) + len(labels)
    return dict(sorted(counts.items()))


class ShardStore:
    """The shards of one loaded record: which are in memory, and how to load the others."""

    def __init__(self, record: RunRecord, folder: Path, head: Path, source: str,
                 refs: list[ShardRef]) -> None:
        self.record = record
        self.folder = folder
        self.head = head
        self.source = source
        self.refs: dict[Part, ShardRef] = {r.task: r for r in refs}
        self.loaded: set[Part] = set()
        #: shards held in part (``RunRecord.release``): task -> the keys whose entries stay in
        #: ``record.base`` (loaded, changed, added or deleted); the others are on disk only
        self.partial: dict[Part, set[str]] = {}
        self.recovered: set[str] = set()  # shard files read from git: a save writes them
        self.lock = threading.RLock()

    def __deepcopy__(self, memo: dict[int, Any]) -> None:
        return None  # a copy of a record is a plain, fully loaded one (RunRecord.__deepcopy__)

    def part_of(self, key: str) -> Part:
        return task_of(self.record.samples, key)

    def ensure(self, part: Part) -> None:
        if part in self.loaded:
            return
        with self.lock:
            if part not in self.loaded:
                self._load(part)

    def ensure_key(self, part: Part, key: str) -> None:
        """Make ``key``'s entries (of task ``part``) readable in ``record.base``: they are
        when the shard is loaded, or held in part with this key kept; else it is loaded."""
        if part in self.loaded:
            return
        kept = self.partial.get(part)
        if kept is not None and key in kept:
            return
        self.ensure(part)

    def outside(self, part: Part) -> dict[str, int]:
        """Field -> base entries of task ``part`` that are not in memory (its whole shard's
        when it is not loaded; held in part: those of the keys let go of)."""
        ref = self.refs.get(part)
        if ref is None or part in self.loaded:
            return {}
        counts = dict(ref.labels)
        if part in self.partial:
            for path, n in label_counts(self.record._written[part].base.values()).items():
                counts[path] = counts.get(path, 0) - n
        return counts

    def load_all(self) -> None:
        for part in [*self.refs, *(t.index for t in self.record.tasks)]:
            self.ensure(part)

    def _load(self, part: Part) -> None:
        ref = self.refs.get(part)
        shard = None
        if ref is not None:
            path = self.folder / ref.file
            try:
                data: bytes | None = read_shard_bytes(path)
            except FileNotFoundError:
                data = None
            except OSError as exc:
                raise InputError.at(f"cannot read run record shard: {exc.strerror}",
                                    str(path)) from None
            if data is None or source_digest(data) != ref.digest:
                kept = from_git(self.folder, ref.blob) if ref.blob else None
                if kept is None or source_digest(kept) != ref.digest:
                    raise self._broken(path, "is missing" if data is None else
                                       "does not hold the bytes the run record names")
                data = kept
                self.recovered.add(ref.file)
            shard = _parse(data, path)
            if shard.format > RECORD_FORMAT:
                raise StateError(f"{path}: written by a newer annosync (format {shard.format})")
            if shard.task != part:
                raise InputError.at(f"run record shard of task {shard.task} where the run "
                                    f"record names one of task {part}", str(path))
            base = self.record.base
            newer = self.partial.get(part)  # held in part: what is in memory is newer
            for key, fields in shard.base.items():
                if newer is None or key not in newer:
                    dict.__setitem__(base, key, fields)
            self.record._shard_read(part, path, data, ref, shard.base, shard.id_map,
                                    ref.file in self.recovered)
        tasks = self.record.tasks
        if part is not None and 0 <= part < len(tasks) and "id_map" not in tasks[part].__dict__:
            tasks[part].__dict__["id_map"] = shard.id_map if shard is not None else None
        self.partial.pop(part, None)
        self.loaded.add(part)

    def _broken(self, path: Path, what: str) -> Exception:
        try:
            now = source_digest(self.head.read_bytes())
        except OSError:
            now = None
        if now != self.source:
            return StateError(f"{self.head}: the run record was saved by another annosync "
                              "process while this one read it: run the command again")
        return InputError.at(
            f"run record shard {what}: restore the dataset's .annosync/runs/ from git "
            "(git checkout -- .annosync/runs), or `annosync forget` the run", str(path))


def _parse(data: bytes, path: Path) -> ShardFile:
    try:
        return ShardFile.model_validate_json(data)
    except ValidationError:
        pass  # again below, for the located error this gives
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError.at(f"run record shard is not UTF-8 text: {exc.reason}",
                            str(path)) from None
    except RecursionError:
        raise InputError.at("run record shard nested too deeply", str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError.at(f"invalid JSON in run record shard: {exc.msg}", str(path),
                            exc.lineno) from None
    try:
        return ShardFile.model_validate(raw)
    except ValidationError as exc:
        raise InputError(problems_from_validation(exc, str(path))) from None


class LazyBase(dict[str, Fields]):
    """``record.base`` of a sharded record: sample key -> field -> label key -> base entry.

    A dict holding the entries of the shards loaded so far; reading or writing a key first
    loads its task's shard, and anything that needs every key (iteration, ``len``, equality)
    loads them all. ``dict`` methods on the instance itself (``dict.items(b)``) see only what
    is loaded (what a save serializes)."""

    __slots__ = ("store",)

    def __init__(self, store: ShardStore) -> None:
        super().__init__()
        self.store = store

    def _key(self, key: str) -> None:
        self.store.ensure_key(self.store.part_of(key), key)

    def __getitem__(self, key: str) -> Fields:
        self._key(key)
        return dict.__getitem__(self, key)

    def __setitem__(self, key: str, value: Fields) -> None:
        self._key(key)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: str) -> None:
        self._key(key)
        dict.__delitem__(self, key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        self._key(key)
        return dict.__contains__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        self._key(key)
        return dict.get(self, key, default)

    def pop(self, key: str, *default: Any) -> Any:
        self._key(key)
        return dict.pop(self, key, *default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._key(key)
        return dict.setdefault(self, key, default)

    def update(self, *args: Any, **kw: Any) -> None:
        for key, value in dict(*args, **kw).items():
            self[key] = value

    def _all(self) -> LazyBase:
        self.store.load_all()
        return self

    def __iter__(self) -> Iterator[str]:
        return dict.__iter__(self._all())

    def __len__(self) -> int:
        return dict.__len__(self._all())

    def __bool__(self) -> bool:
        if dict.__len__(self):
            return True
        store = self.store
        return any(sum(store.outside(p).values()) for p in store.refs if p not in store.loaded)

    def keys(self) -> Any:
        return dict.keys(self._all())

    def values(self) -> Any:
        return dict.values(self._all())

    def items(self) -> Any:
        return dict.items(self._all())

    def copy(self) -> dict[str, Fields]:
        return dict(self.items())

    def popitem(self) -> tuple[str, Fields]:
        return dict.popitem(self._all())

    def clear(self) -> None:
        dict.clear(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyBase):
            other._all()
        return dict.__eq__(self._all(), other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __repr__(self) -> str:
        return f"LazyBase({dict.__repr__(self._all())})"

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Fields]:
        import copy

        return copy.deepcopy(dict(self.items()), memo)

    def __reduce__(self) -> Any:
        return (dict, (dict(self.items()),))
