"""The run record: everything a run needs to resume, re-plan and merge, safe to commit.

A deterministic JSON *head* per anno key at ``<dataset>/.annosync/runs/<anno_key>.json`` holds
the reference's run info (config, schema as sent, timestamps, server URL and version) and the
CVAT ids (project, tasks, jobs; each sample's task and frame). The heavy parts, each task's
``label_id <-> CVAT id`` map and its samples' base digests of the three-way merge (~450 bytes
per label), live in one *shard* per task, ``runs/<anno_key>/task-<index>-<digest>.json``, named
in the head with the digest of its bytes. A plan loads a shard only when it needs that task
(``record.base`` and ``task.id_map`` load on first use), so a no-op plan of a million labels
reads the head alone. ``sharding.py`` says how a save stays crash-safe. The record never holds
a secret: credentials are not part of any model written here, and the config is the manifest,
which refuses them.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import count, repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from annosync.convert.id_map import TaskIdMap
from annosync.dataset import jsonfmt
from annosync.dataset.atomic import write_bytes_atomic
from annosync.errors import InputError, StateError
from annosync.model.problems import problems_from_validation
from annosync.sync.merge import BaseEntry
from annosync.sync.shards import (
    RECORD_FORMAT,
    LazyBase,
    Part,
    ShardFile,
    ShardRef,
    ShardStore,
    git_blob_id,
    label_counts,
    shard_name,
    source_digest,
)

RUNS_DIR = "runs"
#: no value (a key absent from a dict; an id map not in memory)
_MISSING: Any = object()
#: what of ``.annosync/`` stays on this machine when the dataset is shared through git: the
#: dataset lock and its note, the journal of an apply in progress, temporary files (run records
#: are meant to be committed: they let another clone go on with the run)
GITIGNORE = "lock\nlock.owner\njournal/\n.*.tmp\n"
#: shards are named by the digest of their bytes: git must keep each side's bytes in a merge
#: (a textual merge of two sides' shards would match neither head) and never convert them
GITATTRIBUTES = "runs/*/*.json -merge -text\n"

TaskState = Literal["planned", "created", "data_uploaded", "labels_uploaded"]


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ServerInfo(_Record):
    url: str
    version: str | None = None
    organization: str | None = None


class ProjectRecord(_Record):
    id: int | None = None
    name: str | None = None
    created: bool = Field(default=False, description="created by this run (cleanup deletes it)")


class JobRecord(_Record):
    id: int
    start_frame: int
    stop_frame: int
    assignee: str | None = None
    stage: str | None = None
    state: str | None = None
    updated_date: str | None = Field(
        default=None, description="the job's updated_date after annosync's last write or pull"
    )


class TaskRecord(_Record):
    index: int = Field(description="batch number within the run, from 0")
    name: str
    id: int | None = None
    state: TaskState = "planned"
    media_type: Literal["image", "video"] = "image"
    samples: list[str] = Field(description="sample keys in task frame order (one for video)")
    frame_start: int | None = None
    frame_stop: int | None = None
    frame_step: int | None = None
    size: int | None = None
    assignee: str | None = None
    bug_tracker: str | None = None
    jobs: list[JobRecord] = Field(default_factory=list)
    labels: dict[str, int] = Field(
        default_factory=dict, description="CVAT label name -> label id for this task"
    )
    id_map: TaskIdMap | None = Field(default=None, description="CVAT id <-> label id")
    created_at: str | None = None
    #: the store that loads ``id_map`` from the task's shard on first use (a sharded record)
    _shard: ShardStore | None = PrivateAttr(default=None)

    if not TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any:
            if name == "id_map":  # not loaded yet (see ``shards.py``)
                store = (self.__pydantic_private__ or {}).get("_shard")
                if store is not None:
                    store.ensure(self.index)
                return self.__dict__.setdefault("id_map", None)
            return super().__getattr__(name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskRecord):
            return NotImplemented
        self.id_map, other.id_map  # noqa: B018  # load them: equal content is what counts
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> TaskRecord:
        self.id_map  # noqa: B018  # load it: a copy is a plain, complete task
        out = super().__deepcopy__(memo)
        out._shard = None
        return out


class SampleRef(_Record):
    task: int = Field(description="index of the task in ``tasks``")
    frame: int = Field(default=0, description="task frame of an image sample")


def _token() -> str:
    import secrets  # hmac, random: only when a run is made

    return secrets.token_hex(3)


class RunRecord(_Record):
    #: digest of the file bytes this record was loaded from or last saved as (the clean memo
    #: of ``sync/index.py`` is valid for exactly these bytes); None for a record never on disk
    _source: str | None = PrivateAttr(default=None)

    format: int = RECORD_FORMAT
    anno_key: str
    run_id: str = Field(default_factory=lambda: _token())
    created_at: str = Field(default_factory=now_iso)
    updated_at: str = Field(default_factory=now_iso)
    pulled_at: str | None = None
    pushed_at: str | None = None
    cleaned_at: str | None = Field(default=None, description="when cleanup deleted the tasks")
    manifest: str | None = Field(default=None, description="manifest path, relative to the dataset")
    config: dict[str, Any] = Field(default_factory=dict, description="the manifest, resolved")
    server: ServerInfo | None = None
    project: ProjectRecord | None = None
    label_schema: dict[str, Any] = Field(default_factory=dict, description="the schema as sent")
    tasks: list[TaskRecord] = Field(default_factory=list)
    samples: dict[str, SampleRef] = Field(default_factory=dict)
    base: dict[str, dict[str, dict[str, BaseEntry]]] = Field(
        default_factory=dict, description="sample key -> field -> label key -> base digests"
    )
    shards: list[ShardRef] = Field(default_factory=list, exclude=True,
                                   description="the head's shard list (format 2), as read")
    #: loads the shards of a record read from disk (None: everything is in memory)
    _store: ShardStore | None = PrivateAttr(default=None)
    #: per shard, what it held when last serialized and the bytes it gave (``_Written``)
    _written: dict[Part, _Written] = PrivateAttr(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        """Equal content (every shard loaded), whatever is loaded or where it came from."""
        if not isinstance(other, RunRecord):
            return NotImplemented
        mine, theirs = dict(self.load_all().__dict__), dict(other.load_all().__dict__)
        mine.pop("shards"), theirs.pop("shards")
        return mine == theirs

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> RunRecord:
        self.load_all()
        out = super().__deepcopy__(memo)
        out._store = None  # the base came out a plain dict (``LazyBase.__deepcopy__``)
        out._written = {}
        return out

    def load_all(self) -> RunRecord:
        """Load every shard and make every sample ref (what a full dump, a copy or a
        comparison needs)."""
        if self._store is not None:
            self._store.load_all()
        if isinstance(self.samples, SampleRefs):
            self.samples.materialize()
        return self

    def model_dump(self, **kw: Any) -> dict[str, Any]:
        self.load_all()
        return super().model_dump(**kw)

    def model_dump_json(self, **kw: Any) -> str:
        self.load_all()
        return super().model_dump_json(**kw)

    def base_sizes(self) -> dict[str, int]:
        """Field -> base entries of the run, without loading a shard that is not loaded."""
        store = self._store
        if store is None or not isinstance(self.base, LazyBase):
            return label_counts(self.base.values())
        counts = label_counts(dict.values(self.base))
        for part in store.refs:
            for path, n in store.outside(part).items():
                counts[path] = counts.get(path, 0) + n
        return counts

    def _shard_read(self, part: Part, path: Path, data: bytes, ref: ShardRef,
                    base: dict[str, Any], id_map: TaskIdMap | None, kept: bool) -> None:
        """A shard was loaded (``shards.ShardStore``): a save writes it again from these bytes
        (``_Written``), serializing only what changed. ``kept``: its bytes are not on disk
        (recovered from git), so they are held."""
        if label_counts(base.values()) == ref.labels:  # else the head miscounts: made anew
            self._written[part] = _Written.loaded(path, data if kept else None, ref, base,
                                                  id_map)
        else:
            self._written.pop(part, None)

    def release(self, part: Part, keep: Iterable[str]) -> bool:
        """Let go of task ``part``'s shard but for the entries of ``keep`` (and any entry
        changed, added or deleted since it was loaded) and of its id map if unchanged: a pull
        that touched many tasks holds their changed samples' entries, not every sample's.

        The shard is then held in part (``ShardStore.partial``): a key let go of is loaded
        again with the whole shard if read (what is in memory stays: it is newer), and a save
        writes the shard from its old bytes, the entries let go of copied as they are
        (``_Written``, ``_shard_bytes``). False (nothing let go of): not loaded, or loaded
        without the memory of its bytes a save needs."""
        store = self._store
        if store is None or not isinstance(self.base, LazyBase):
            return False
        with store.lock:
            known = self._written.get(part)
            if part not in store.loaded or known is None or known.touched is not None:
                return False
            base = self.base
            kept = set(keep)
            task = self.tasks[part] if part is not None and 0 <= part < len(self.tasks) else None
            keys = set(known.base)
            if task is not None:
                keys.update(task.samples)
            gone = []
            for key in keys:
                if key in kept:
                    continue
                old = known.base.get(key, _MISSING)
                now = dict.get(base, key, _MISSING)
                if old is _MISSING and now is _MISSING:
                    continue
                if old is _MISSING or now is _MISSING or now != old:
                    kept.add(key)  # changed since loaded: stays in memory
                else:
                    gone.append(key)
            for key in gone:
                dict.__delitem__(base, key)
            known.base = {k: known.base[k] for k in kept if k in known.base}
            if task is not None:
                id_map = task.__dict__.get("id_map")
                if id_map is not None and known.holds_id_map(id_map):
                    del task.__dict__["id_map"]  # loaded again with the shard if asked for
                    known.id_map, known.entries, known.count = None, None, 0
                    known.id_held = False
            if known.spans is not None and known._data is None:
                known.keys, known.spans, known.id_span = list(known.spans), None, None
            known.touched = kept
            store.loaded.discard(part)
            store.partial[part] = kept
            return True

    def task_by_id(self, task_id: int) -> TaskRecord | None:
        return next((t for t in self.tasks if t.id == task_id), None)

    def created_task_ids(self) -> list[int]:
        return [t.id for t in self.tasks if t.id is not None]


def runs_dir(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / RUNS_DIR


def record_path(state_dir: str | os.PathLike[str], anno_key: str) -> Path:
    """The record's head (the file a git merge conflict shows up in)."""
    return runs_dir(state_dir) / f"{anno_key}.json"


def shard_dir(state_dir: str | os.PathLike[str], anno_key: str) -> Path:
    """Where the record's shards live (``runs/<anno_key>/``)."""
    return runs_dir(state_dir) / anno_key


def record_files(record: RunRecord) -> tuple[bytes, dict[str, bytes]]:
    """The whole record as files: the head's bytes, and every shard's (file name -> bytes)."""
    record.load_all()
    head, blobs, _ = _serialize(record, everything=True)
    return head, dict(blobs)


def record_to_bytes(record: RunRecord) -> bytes:
    """The head's bytes (what names the whole record: it carries every shard's digest)."""
    return record_files(record)[0]


class _Blobs(Mapping[str, bytes]):
    """File name -> bytes of the shards a serialization names; a shard read from disk and not
    changed is read again only if asked for (a save asks only for the shards missing on
    disk)."""

    def __init__(self) -> None:
        self.shards: dict[str, _Written] = {}

    def __getitem__(self, name: str) -> bytes:
        return self.shards[name].data

    def __iter__(self) -> Iterator[str]:
        return iter(self.shards)

    def __len__(self) -> int:
        return len(self.shards)


def _serialize(record: RunRecord, everything: bool = False,
               sink: Callable[[_Written], None] | None = None
               ) -> tuple[bytes, Mapping[str, bytes], list[ShardRef]]:
    """The head's bytes and the bytes of the shards in memory (all of them with
    ``everything``, else those loaded or held in part); shards not loaded keep what the head
    said. ``sink`` is given each shard serialized anew, as soon as it is (a save writes it and
    lets go of its bytes: one shard's bytes in memory at a time)."""
    store = record._store
    lazy = store is not None and isinstance(record.base, LazyBase) and not everything
    tasks = record.tasks
    partial: dict[Part, set[str]] = {}
    if lazy:
        assert store is not None
        for task in tasks:  # an id map set without loading its shard: load the rest of it
            if (task.index in store.refs and task.index not in store.loaded
                    and task.index not in store.partial and "id_map" in task.__dict__):
                store.ensure(task.index)
        partial = store.partial
        refs = {p: r for p, r in store.refs.items() if p not in store.loaded and p not in partial}
        parts: set[Part] = set(store.loaded) | set(partial)
        # a task with no shard yet given an id map (its samples' entries untouched): it has
        # one now (was dropped: such a record saved lazily lost the id map)
        parts.update(t.index for t in tasks if t.index not in store.refs
                     and t.__dict__.get("id_map") is not None)
        entries = dict.items(record.base)
    else:
        refs = {}
        parts = {t.index for t in tasks}
        entries = record.base.items()
    grouped: dict[Part, dict[str, Any]] = {}
    samples = record.samples
    for key, fields in entries:
        ref = samples.get(key)
        grouped.setdefault(None if ref is None else ref.task, {})[key] = fields
    blobs = _Blobs()
    written = record._written
    for part in sorted(parts | set(grouped), key=_order):
        base = grouped.get(part, {})
        if part in partial:
            held = _held_in_part(record, part, base, sink)
            if held is not None:
                refs[part] = held.ref
                blobs.shards[held.ref.file] = held
                continue
            assert store is not None  # not written so: the whole shard loaded, written below
            store.ensure(part)
            base = {k: v for k, v in dict.items(record.base)
                    if getattr(samples.get(k), "task", None) == part}
        id_map = tasks[part].id_map if part is not None and 0 <= part < len(tasks) else None
        if not base and id_map is None:
            refs.pop(part, None)
            written.pop(part, None)
            continue
        known = written.get(part)
        if known is None or not known.holds(base, id_map):
            known = written[part] = _Written.of(part, base, id_map, known)
            if sink is not None:
                sink(known)
        refs[part] = known.ref
        blobs.shards[known.ref.file] = known
    ordered = [refs[p] for p in sorted(refs, key=_order)]
    exclude: dict[str, Any] = {"base": True, "tasks": {"__all__": {"id_map"}}}
    if _derivable(record):  # the tasks' sample lists say it all (3/4 of a head's bytes)
        exclude["samples"] = True
    elif isinstance(record.samples, SampleRefs):
        record.samples.materialize()
    head = super(RunRecord, record).model_dump(mode="json", exclude_none=True, exclude=exclude)
    head["format"] = RECORD_FORMAT
    head["shards"] = [r.model_dump(mode="json", exclude_none=True) for r in ordered]
    return jsonfmt.dump_bytes(head), blobs, ordered


def _held_in_part(record: RunRecord, part: Part, base: dict[str, Any],
                  sink: Callable[[_Written], None] | None) -> _Written | None:
    """A shard held in part (``RunRecord.release``) as it would be written: unchanged, or
    made from its old bytes with ``base`` (its entries in memory) serialized where changed.
    None: it cannot be made so (its bytes not as written, a field's count gone to 0): the
    caller loads the whole shard and serializes it as any other."""
    known = record._written[part]
    assert known.touched is not None
    known.touched.update(base)  # (a key of this task written to the dict directly)
    tasks = record.tasks
    task = tasks[part] if part is not None and 0 <= part < len(tasks) else None
    id_map = task.__dict__.get("id_map", _MISSING) if task is not None else None
    if known.holds_in_part(base, id_map):
        return known
    try:
        made = _shard_bytes(part, base, id_map, known, held=True)
    except StateError:
        raise  # its bytes changed on disk: what is let go of is nowhere else
    except Exception:
        made = None
    if made is None:
        return None
    data, spans, id_span = made
    counts = dict(known.ref.labels)  # the file's, less the old entries in memory, plus the new
    for path, n in label_counts(known.base.values()).items():
        counts[path] = counts.get(path, 0) - n
    for path, n in label_counts(base.values()).items():
        counts[path] = counts.get(path, 0) + n
    if any(n <= 0 for n in counts.values()):  # whether a sample let go of has the field: unknown
        return None
    digest = source_digest(data)
    ref = ShardRef(task=part, file=shard_name(part, digest), digest=digest,
                   blob=git_blob_id(data), labels=dict(sorted(counts.items())))
    new = _Written(_copy_levels(base), None if id_map is _MISSING else id_map, data, ref, spans,
                   id_span, touched=known.touched, id_held=id_map is not _MISSING)
    record._written[part] = new
    if sink is not None:
        sink(new)
    return new


class _Written:
    """One shard as last serialized (or as read from disk): its bytes, and what it held then,
    to tell whether it changed without serializing it again (a new run's record is saved after
    every step of every task: serializing every shard each time made creating a 100-task run
    quadratic).

    What it held is a copy of the two dict levels above the base entries and the id map
    object itself: ``BaseEntry`` and ``TaskIdMap`` objects are never changed in place (every
    writer makes new ones; ``tests/sync/test_record_shards.py`` checks a changed entry, a
    replaced id map and a nested dict changed in place all serialize anew), and the files'
    key order is sorted, so equal dicts give equal bytes.

    A shard that changed is written again from its old bytes: each sample's base entries are
    one span of the file (``spans``), kept as they are when the sample's entries are equal to
    the old ones, and so is the id map's span when it is the same; only the samples that
    changed are serialized (a pull of 10 boxes in a 500-image task: 10 samples, not 500).
    The bytes are those of a serialization from scratch (``_reference_bytes``; Hypothesis
    checks it), and anything out of the ordinary falls back to that."""

    __slots__ = ("_data", "base", "count", "entries", "id_held", "id_map", "id_span", "keys",
                 "path", "ref", "spans", "touched")

    def __init__(self, base: dict[str, Any], id_map: TaskIdMap | None, data: bytes | None,
                 ref: ShardRef, spans: dict[str, tuple[int, int]] | None = None,
                 id_span: tuple[int, int] | None = None, keys: list[str] | None = None,
                 path: Path | None = None, touched: set[str] | None = None,
                 id_held: bool = True) -> None:
        #: None: ``base`` is every sample's entries as written. A set: the shard is held in
        #: part (``RunRecord.release``): ``base`` holds the entries as written of these keys
        #: only (a key not in it had none), the other keys' are in the bytes alone
        self.touched = touched
        #: False: the id map is not in memory (in the bytes alone: ``id_map`` is None)
        self.id_held = id_held
        self.base = base
        self.id_map = id_map
        self.entries = None if id_map is None else id_map.entries
        self.count = 0 if id_map is None else len(id_map.entries)
        self._data = data
        #: a shard read from disk whose bytes are not kept: read again when needed
        self.path = path
        self.ref = ref
        #: key -> (start, end) of its value in ``data`` (None: not known yet, see ``_locate``)
        self.spans = spans
        self.id_span = id_span
        #: a shard read from disk: its base keys in file order (to find the spans on demand)
        self.keys = keys

    @classmethod
    def of(cls, part: Part, base: dict[str, Any], id_map: TaskIdMap | None,
           old: _Written | None = None) -> _Written:
        made = None
        try:
            made = _shard_bytes(part, base, id_map, old)
        except Exception:  # anything unusual: the reference below says it
            made = None
        if made is None:
            data, spans, id_span = _reference_bytes(part, base, id_map), None, None
        else:
            data, spans, id_span = made
        digest = source_digest(data)
        ref = ShardRef(task=part, file=shard_name(part, digest), digest=digest,
                       blob=git_blob_id(data), labels=label_counts(base.values()))
        return cls(_copy_levels(base), id_map, data, ref, spans, id_span)

    @classmethod
    def loaded(cls, path: Path, data: bytes | None, ref: ShardRef, base: dict[str, Any],
               id_map: TaskIdMap | None) -> _Written:
        """A shard as read from ``path`` (``data``: its bytes, if they must be kept: they are
        not on disk). Its bytes are read again and its spans found when a save needs them:
        a plan holds no shard's bytes besides its content."""
        return cls(_copy_levels(base), id_map, data, ref, keys=list(base), path=path)

    @property
    def data(self) -> bytes:
        """The shard's bytes (a shard read from disk: read again, and checked)."""
        if self._data is None:
            assert self.path is not None
            try:
                data = self.path.read_bytes()
            except OSError as exc:
                raise StateError(f"{self.path}: run record shard cannot be read again "
                                 f"({exc.strerror})") from None
            if source_digest(data) != self.ref.digest:
                raise StateError(f"{self.path}: run record shard changed on disk while in use "
                                 "(another annosync process?): run the command again")
            self._data = data
        return self._data

    def holds(self, base: dict[str, Any], id_map: TaskIdMap | None) -> bool:
        return self.holds_id_map(id_map) and base == self.base  # entries: identity first

    def holds_in_part(self, base: dict[str, Any], id_map: Any) -> bool:
        """Held in part: unchanged (``id_map`` ``_MISSING``: not in memory)."""
        if self.id_held:
            same = id_map is not _MISSING and self.holds_id_map(id_map)
        else:
            same = id_map is _MISSING
        return same and base == self.base

    def spill(self, path: Path) -> None:
        """The bytes are in ``path`` now: let go of them (read again if a save needs them)."""
        self._data, self.path = None, path

    def holds_id_map(self, id_map: TaskIdMap | None) -> bool:
        return id_map is self.id_map and (id_map is None or (
            id_map.entries is self.entries and len(id_map.entries) == self.count))

    def located(self) -> bool:
        """Whether ``spans`` (and ``id_span``) are known: found in ``data`` if not yet."""
        if self.spans is None and self.keys is not None:
            self.spans, self.id_span = _locate(self.data, self.keys,
                                               self.id_map is not None or not self.id_held)
            self.keys = None
        return self.spans is not None


def _reference_bytes(part: Part, base: dict[str, Any], id_map: TaskIdMap | None) -> bytes:
    """A shard's bytes serialized from scratch: what every save must write for this content."""
    shard = ShardFile.model_construct(format=RECORD_FORMAT, task=part, id_map=id_map,
                                      base=dict(sorted(base.items())))
    return jsonfmt.dump_bytes(shard.model_dump(mode="json", exclude_none=True))


_BASE_OPEN = b'{\n  "base": {'
_SAMPLE_SEP = b",\n    "
_ID_MAP = b',\n  "id_map": '


def _sorted_keys(keys: list[str]) -> list[str]:
    """The keys in the order ``jsonfmt`` writes them."""
    if any(k[:1] in jsonfmt._DIGITS for k in keys):
        return sorted(keys, key=jsonfmt._key_order)
    return sorted(keys)


def _shard_bytes(part: Part, base: dict[str, Any], id_map: Any,
                 old: _Written | None, held: bool = False
                 ) -> tuple[bytes, dict[str, tuple[int, int]], tuple[int, int] | None] | None:
    """The shard's bytes, the spans of its samples' values and of its id map's: the spans of
    ``old`` reused where their content is the same, the rest serialized as ``jsonfmt`` does
    (the layout of ``_reference_bytes``). None: keys not all text (the reference decides).

    ``held``: ``old`` is held in part: the keys it let go of are copied from its bytes as
    they are, ``base`` holds the others' entries, and ``id_map`` ``_MISSING`` copies the old
    id map's bytes. None also when its bytes are not laid out so, or the shard would be
    empty (it then goes: the caller decides, with everything loaded)."""
    keys = list(base)
    if any(type(k) is not str for k in keys):
        return None
    reuse = old is not None and old.located()
    copied: set[str] = set()
    if held:
        if old is None or not reuse or old.spans is None or old.touched is None or (
                id_map is _MISSING and old.id_span is None):
            return None
        copied = {k for k in old.spans if k not in old.touched}
        keys += copied
        if not keys and id_map is None:
            return None
    old_data = old.data if old is not None else b""
    old_spans = old.spans if reuse and old is not None and old.spans is not None else {}
    old_base = old.base if old is not None else {}
    enc = jsonfmt._encode_str
    pieces: list[bytes] = [_BASE_OPEN]
    size = len(_BASE_OPEN)
    spans: dict[str, tuple[int, int]] = {}
    first = True
    for key in _sorted_keys(keys):
        head = (b"\n    " if first else _SAMPLE_SEP) + enc(key).encode() + b": "
        first = False
        span = old_spans.get(key)
        if key in copied:
            value = old_data[span[0]:span[1]]  # type: ignore[index]
        elif span is not None and old_base.get(key) == base[key]:
            value = old_data[span[0]:span[1]]
        else:
            value = _fields_text(base[key]).encode()
        pieces.append(head)
        pieces.append(value)
        start = size + len(head)
        size = start + len(value)
        spans[key] = (start, size)
    close = b"\n  }" if keys else b"}"
    tail = close + b',\n  "format": ' + str(RECORD_FORMAT).encode()
    pieces.append(tail)
    size += len(tail)
    id_span = None
    if id_map is not None:
        if id_map is _MISSING:  # held in part, the id map not in memory: as it was
            assert old is not None and old.id_span is not None
            value = old_data[old.id_span[0]:old.id_span[1]]
        elif reuse and old is not None and old.id_span is not None and old.holds_id_map(id_map):
            value = old_data[old.id_span[0]:old.id_span[1]]
        else:
            value = jsonfmt._fast(id_map.model_dump(mode="json", exclude_none=True), 1).encode()
        pieces.append(_ID_MAP)
        pieces.append(value)
        start = size + len(_ID_MAP)
        size = start + len(value)
        id_span = (start, size)
    if part is not None:
        pieces.append(b',\n  "task": ' + str(int(part)).encode())
    pieces.append(b"\n}\n")
    return b"".join(pieces), spans, id_span


def _fields_text(fields: dict[str, Any]) -> str:
    """One sample's base entries as ``jsonfmt`` writes them inside a shard's ``base``."""
    if type(fields) is not dict:
        raise TypeError("not a plain dict")
    plain = {path: {label: entry.to_json() for label, entry in labels.items()}
             for path, labels in fields.items()}
    return jsonfmt._fast(plain, 2)


def _locate(data: bytes, keys: list[str], has_id_map: bool
            ) -> tuple[dict[str, tuple[int, int]] | None, tuple[int, int] | None]:
    """The spans of a shard's sample values (``keys``: its base keys in file order) and of its
    id map, found by the layout ``jsonfmt`` gives (every sample key on a line of its own at
    four spaces, which no deeper line or string can be); (None, None) when the bytes are not
    laid out so (a save then serializes the shard from scratch)."""
    if keys != _sorted_keys(keys) or not data.startswith(_BASE_OPEN):
        return None, None
    enc = jsonfmt._encode_str
    spans: dict[str, tuple[int, int]] = {}
    pos = len(_BASE_OPEN)
    sep = b"\n    "
    for i, key in enumerate(keys):
        head = sep + enc(key).encode() + b": "
        if not data.startswith(head, pos):
            return None, None
        start = pos + len(head)
        if i + 1 < len(keys):
            end = data.find(_SAMPLE_SEP + enc(keys[i + 1]).encode() + b": ", start)
            sep = _SAMPLE_SEP
        else:
            end = data.find(b"\n  }", start)
        if end < 0 or data[start:start + 1] != b"{" or data[end - 1:end] != b"}":
            return None, None
        spans[key] = (start, end)
        pos = end
    close = b"\n  }" if keys else b"}"
    if not data.startswith(close + b',\n  "format": ', pos):
        return None, None
    id_span = None
    if has_id_map:
        at = data.find(_ID_MAP, pos)
        if at < 0:
            return None, None
        start = at + len(_ID_MAP)
        end = data.rfind(b',\n  "task": ')
        if end < start:
            end = len(data) - len(b"\n}\n")
        if data[start:start + 1] != b"{" or data[end - 1:end] != b"}":
            return None, None
        id_span = (start, end)
    return spans, id_span


def _copy_levels(base: dict[str, Any]) -> dict[str, Any]:
    """sample -> field -> label -> entry, the dicts copied, the entries shared."""
    return {k: {p: dict(labels) for p, labels in fields.items()} for k, fields in base.items()}


class SampleRefs(dict[str, SampleRef]):
    """``record.samples`` of a head that left them out: made from the tasks' sample lists.

    The dict holds ``(task, frame)`` tuples, made into ``SampleRef`` objects when read (a
    hundred thousand pydantic objects take seconds to build; a no-op plan reads none, it only
    asks which keys the run holds)."""

    def __init__(self, tasks: list[TaskRecord]) -> None:
        super().__init__()
        for task in tasks:  # zip, repeat and count run in C (a 100k-key head: ~10 ms)
            dict.update(self, zip(task.samples, zip(repeat(task.index), count()), strict=False))

    def _ref(self, key: str, value: Any) -> SampleRef:
        if isinstance(value, SampleRef):
            return value
        ref = SampleRef.model_construct(task=value[0], frame=value[1])
        dict.__setitem__(self, key, ref)
        return ref

    def __getitem__(self, key: str) -> SampleRef:
        return self._ref(key, dict.__getitem__(self, key))

    def get(self, key: str, default: Any = None) -> Any:
        value = dict.get(self, key)
        return default if value is None else self._ref(key, value)

    def values(self) -> Any:
        return [self[k] for k in self]

    def items(self) -> Any:
        return [(k, self[k]) for k in self]

    def pop(self, key: str, *default: Any) -> Any:
        value = dict.pop(self, key, *default)
        return value if isinstance(value, SampleRef) or not isinstance(value, tuple) else \
            SampleRef.model_construct(task=value[0], frame=value[1])

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key in self:
            return self[key]
        self[key] = default
        return default

    def copy(self) -> dict[str, SampleRef]:
        return dict(self.items())

    def materialize(self) -> None:
        for key in self:
            self[key]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SampleRefs):
            other.materialize()
        self.materialize()
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, SampleRef]:
        return {k: v.model_copy() for k, v in self.items()}

    def __reduce__(self) -> Any:
        return (dict, (dict(self.items()),))


def _derivable(record: RunRecord) -> bool:
    """Whether ``record.samples`` is exactly what the tasks' sample lists give (each sample in
    the task listing it, at its position: how annosync makes and adopts tasks)."""
    samples = record.samples
    if sum(len(t.samples) for t in record.tasks) != len(samples):
        return False
    for task in record.tasks:
        index = task.index
        for frame, key in enumerate(task.samples):
            ref = dict.get(samples, key)  # as stored: a SampleRef, or a (task, frame) tuple
            if isinstance(ref, tuple):
                if ref != (index, frame):
                    return False
            elif ref is None or ref.task != index or ref.frame != frame:
                return False
    return True


def _order(part: Part) -> tuple[bool, int]:
    return (part is None, part or 0)


def load_record(state_dir: str | os.PathLike[str], anno_key: str) -> RunRecord | None:
    path = record_path(state_dir, anno_key)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    record = _validate(data, path)
    source = source_digest(data)
    record._source = source
    if record.format >= 2:
        if "samples" not in record.model_fields_set:
            record.samples = SampleRefs(record.tasks)
        _attach(record, ShardStore(record, shard_dir(state_dir, anno_key), path, source,
                                   record.shards), path)
    return record


def _validate(data: bytes, path: Path) -> RunRecord:
    try:  # the common case in one pass (pydantic's own JSON parser: a big record loads 2x faster)
        record = RunRecord.model_validate_json(data)
        if record.format <= RECORD_FORMAT:
            return record
    except ValidationError:
        pass  # read again below, for the located error this gives
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError.at(f"run record is not UTF-8 text: {exc.reason}", str(path)) from None
    except RecursionError:
        raise InputError.at("run record nested too deeply", str(path)) from None
    except json.JSONDecodeError as exc:
        marker = next((n for n, line in enumerate(data.splitlines(), 1)
                       if line.startswith((b"<<<<<<<", b">>>>>>>"))), None)
        if marker is not None:
            raise InputError.at(
                "unresolved git merge conflict in the run record (two clones synced the same "
                "run): keep one side (`git checkout --ours` or `--theirs` this file), then "
                "`annosync plan`: it compares that side with CVAT again and reports any "
                "conflict instead of overwriting", str(path), marker) from None
        raise InputError.at(f"invalid JSON in run record: {exc.msg}", str(path), exc.lineno) from None
    version = raw.get("format", RECORD_FORMAT) if isinstance(raw, dict) else RECORD_FORMAT
    if isinstance(version, int) and not isinstance(version, bool) and version > RECORD_FORMAT:
        raise StateError(f"{path}: written by a newer annosync (format {raw['format']})")
    try:
        return RunRecord.model_validate(raw)
    except ValidationError as exc:
        raise InputError(problems_from_validation(exc, str(path))) from None


def _attach(record: RunRecord, store: ShardStore, path: Path) -> None:
    """Make a format-2 head's ``base`` and id maps load from its shards on first use."""
    if record.base or any(t.id_map is not None for t in record.tasks):
        raise InputError.at("run record head holds base digests or id maps (they belong in "
                            "its shards): was it edited by hand?", str(path))
    parts = [r.task for r in record.shards]
    if len(set(parts)) != len(parts):
        raise InputError.at("run record names two shards for one task", str(path))
    record._store = store
    record.base = LazyBase(store)
    for task in record.tasks:
        if task.index in store.refs:
            del task.__dict__["id_map"]
            task._shard = store


def prepare_shard(record: RunRecord, part: int, base: dict[str, Any]) -> None:
    """Serialize the shard of task ``part`` as it will be once its samples' base entries are
    ``base`` (its id map aside), ahead of the save that records them: that save then copies
    each sample's bytes from it (``_shard_bytes`` reuses the span of an entry equal to the one
    serialized) and serializes the id map alone. For a new task's labels, whose bases are
    known while CVAT stores them. Nothing is written. Only for a task whose shard was never
    serialized: a save that finds other content serializes it anew, as any other."""
    if part in record._written:
        return
    record._written[part] = _Written.of(part, base, None)


def save_record(state_dir: str | os.PathLike[str], record: RunRecord) -> bool:
    """Write the record if anything but its timestamp changed (so git sees no churn).

    Only shards in memory are serialized, and only those whose bytes changed are written:
    first the shards (under new, digest-named files), then the head (atomically), then the
    shards no head names any more are deleted. A record read in format 1 is written in
    format 2 here (its old single file is replaced by the head last: a crash before leaves
    it as it was)."""
    path = record_path(state_dir, record.anno_key)
    folder = shard_dir(state_dir, record.anno_key)
    store = record._store
    if store is not None and store.folder != folder:  # renamed: every shard is written anew
        record.load_all()
        record._store = store = None
    previous = record.updated_at
    record.updated_at = now_iso()
    # files known to be on disk as the head names them (shards recovered from git are not)
    known = {r.file for r in store.refs.values()} - store.recovered if store is not None else set()
    wrote: set[str] = set()

    def sink(shard: _Written) -> None:
        """A shard serialized anew: written now (under its new name: no head names it yet),
        its bytes let go of (a pull of many tasks holds one shard's bytes at a time)."""
        target = folder / shard.ref.file
        if shard.ref.file not in known and shard.ref.file not in wrote and not target.exists():
            _state_files(state_dir)
            write_bytes_atomic(target, shard.data)
            wrote.add(shard.ref.file)
        shard.spill(target)

    head, blobs, refs = _serialize(record, sink=sink)
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        old = None
    missing = [r for r in refs if r.file not in known and r.file not in wrote
               and not (folder / r.file).exists()]
    if old is not None and not missing and not wrote and _unstamped(old) == _unstamped(head):
        record.updated_at = previous
        record._source = source_digest(old)
        _clean_shards(folder, {r.file for r in refs})  # what an interrupted save left
        return False
    _state_files(state_dir)
    for ref in missing:
        data = blobs.get(ref.file)
        if data is None:  # a shard not loaded is gone from disk: never write a head naming it
            raise StateError(f"{folder / ref.file}: run record shard is missing")
        write_bytes_atomic(folder / ref.file, data)
    write_bytes_atomic(path, head)
    record.format = RECORD_FORMAT
    record.shards = refs
    source = source_digest(head)
    record._source = source
    if store is not None:
        store.refs = {r.task: r for r in refs}
        store.source = source
        store.recovered.clear()
    _clean_shards(folder, {r.file for r in refs})
    return True


def _state_files(state_dir: str | os.PathLike[str]) -> None:
    """``.gitignore`` and ``.gitattributes`` of the state folder, if missing."""
    ignore = Path(state_dir) / ".gitignore"
    if not ignore.exists():  # machine-local state never travels with a git clone
        write_bytes_atomic(ignore, GITIGNORE.encode())
    attributes = Path(state_dir) / ".gitattributes"
    if not attributes.exists():
        write_bytes_atomic(attributes, GITATTRIBUTES.encode())


def _clean_shards(folder: Path, keep: set[str]) -> None:
    """Delete the shards the head no longer names (best effort: they are never read)."""
    try:
        names = [p for p in folder.iterdir() if p.suffix == ".json"]
    except FileNotFoundError:
        return
    for stale in names:
        if stale.name not in keep:
            with contextlib.suppress(OSError):
                stale.unlink()


def _unstamped(data: bytes) -> bytes:
    """A record's bytes without its ``updated_at`` value."""
    at = data.rfind(b'"updated_at": "')
    if at < 0:
        return data
    end = data.find(b'"', at + len(b'"updated_at": "'))
    return data[:at] + data[end + 1:]


def list_records(state_dir: str | os.PathLike[str]) -> list[str]:
    folder = runs_dir(state_dir)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if not p.name.startswith("."))


def delete_record(state_dir: str | os.PathLike[str], anno_key: str) -> bool:
    """Delete the head first (a record without it is no record), then the shards."""
    path = record_path(state_dir, anno_key)
    try:
        path.unlink()
        found = True
    except FileNotFoundError:
        found = False
    shutil.rmtree(shard_dir(state_dir, anno_key), ignore_errors=True)
    return found


def rename_record(state_dir: str | os.PathLike[str], old: str, new: str) -> None:
    record = load_record(state_dir, old)
    if record is None:
        raise StateError(f"no annotation run {old!r}")
    if record_path(state_dir, new).exists():
        raise StateError(f"an annotation run {new!r} already exists")
    record.load_all()
    record.anno_key = new
    save_record(state_dir, record)
    delete_record(state_dir, old)
