"""Everything one run of the reconciler works with: manifest, dataset, run record, CVAT client.

A ``RunSession`` is built per manifest and handed to the planner and the applier. It opens the
client lazily (``annosync plan`` on a run with nothing to ask the server never logs in) and
resolves the schema once: from the manifest and the observed labels for a new run, from the run
record (the schema as sent) for an existing one, so a pull reads CVAT with what the push used.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from annosync.dataset.folder import DatasetFolder, parse_sample
from annosync.errors import InputError, StateError
from annosync.manifest.load import LoadedManifest
from annosync.manifest.select import Selection, by_names_only, iter_select, unrecorded
from annosync.model.manifest import Manifest
from annosync.model.sample import Sample
from annosync.model.schema import ResolvedSchema
from annosync.progress import NULL, Progress
from annosync.sync import index as index_mod
from annosync.sync.index import LabelIndex, stat_of
from annosync.sync.record import RunRecord, load_record

if TYPE_CHECKING:  # the client (requests, urllib3, ssl) loads when a server is first contacted
    from annosync.cvat import CvatClient

Mode = Literal["sync", "pull", "push", "cleanup"]
ConflictPolicy = Literal["fail", "prefer-local", "prefer-remote", "keep-both"]
Unexpected = Literal["prompt", "ignore", "keep", "return"]


@dataclass
class Connection:
    """How to reach CVAT, from keyword arguments (highest precedence) down to the manifest."""

    url: str | None = None
    username: str | None = None
    password: str | None = None
    email: str | None = None
    token: str | None = None
    organization: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    verify: bool | str | None = None
    interactive: bool | None = None

    def __repr__(self) -> str:  # never show secrets
        return f"Connection(url={self.url!r}, username={self.username!r})"


@dataclass
class SyncOptions:
    mode: Mode = "sync"
    conflicts: ConflictPolicy | None = None
    unexpected: Unexpected | None = None
    dest_field: str | dict[str, str] | None = None
    force: bool = False
    cleanup: bool = False
    #: upload again the samples of tasks someone deleted in CVAT (otherwise the plan stops)
    recreate_missing: bool = False
    concurrency: int = 4
    lock_timeout: float = 0.0
    progress: bool = True
    prompt: Callable[[str], str] | None = None
    #: Where long steps report progress (uploads, waits, downloads, planning); the CLI picks
    #: the renderer, the Python API reports nothing by default.
    tracker: Progress = NULL
    #: Refresh only these CVAT tasks (a webhook named them); the others are left as they are:
    #: neither downloaded, merged nor pushed this time.
    only_tasks: frozenset[int] | None = None


ClientFactory = Callable[["RunSession"], "CvatClient"]
#: Parsed samples a session keeps (a run's passes over a task's samples then parse each once).
PARSED_CACHE = 2048


def _sig(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def default_client(session: RunSession) -> CvatClient:
    """A client from the connection, the manifest's ``cvat`` options and the run record."""
    from annosync.cvat import Credentials, CvatClient

    conn = session.connection
    opts = session.manifest.cvat
    recorded = session.record.server.url if session.record and session.record.server else None
    url = conn.url or opts.url or None
    creds = Credentials.resolve(
        url=url, username=conn.username, password=conn.password, email=conn.email,
        token=conn.token, organization=conn.organization or opts.organization,
        headers={**opts.headers, **conn.headers} or None, interactive=conn.interactive,
    )
    final_url = url or creds.url or recorded
    if recorded and final_url and final_url.rstrip("/") != recorded.rstrip("/"):
        raise StateError(
            f"run {session.anno_key!r} lives on {recorded}, not {final_url}: point the manifest "
            "or ANNOSYNC_CVAT_URL at it (or `annosync forget` the run)"
        )
    verify = conn.verify if conn.verify is not None else opts.verify_ssl
    return CvatClient(final_url, creds, organization=creds.organization, headers=None,
                      verify=verify, poll_interval=(0.1, 5.0))


class RunSession:
    def __init__(
        self,
        loaded: LoadedManifest,
        options: SyncOptions | None = None,
        connection: Connection | None = None,
        client_factory: ClientFactory | None = None,
    ) -> None:
        self.loaded = loaded
        self.manifest: Manifest = loaded.manifest
        self.options = options or SyncOptions()
        self.connection = connection or Connection()
        self._client_factory = client_factory or default_client
        self._client: CvatClient | None = None
        self.folder = DatasetFolder.open(loaded.dataset_root)
        self.record: RunRecord | None = None
        self._index: LabelIndex | None = None
        #: parsed samples by key, with the stat they were read at (bounded: memory stays flat)
        self._parsed: OrderedDict[str, tuple[tuple[int, ...], Sample]] = OrderedDict()
        self._parsed_lock = threading.Lock()
        self._selection: list[str] | None = None
        self._listing: list[str] | None = None  # the folder's keys, unsorted (``new_keys``)
        self.schema: ResolvedSchema | None = None
        self.reload()

    def reload(self) -> None:
        """Read the run record (and the schema it holds) again: another process may have
        changed it while this one waited for the dataset lock."""
        self.record = load_record(self.folder.state_dir, self.anno_key)
        self._selection = None
        self._listing = None
        self.schema = None
        if self.record is not None and self.record.label_schema:
            self.schema = ResolvedSchema.model_validate(self.record.label_schema)

    @property
    def anno_key(self) -> str:
        return self.manifest.anno_key

    @property
    def state_dir(self) -> Path:
        return self.folder.state_dir

    @property
    def conflict_policy(self) -> ConflictPolicy:
        return self.options.conflicts or self.manifest.load.conflicts

    @property
    def unexpected_policy(self) -> Unexpected:
        return self.options.unexpected or self.manifest.load.unexpected

    @property
    def dest_field(self) -> str | dict[str, str] | None:
        return self.options.dest_field or self.manifest.load.dest_field

    def dest_for(self, path: str) -> str | None:
        """The destination field of a schema field (``dest_field``), or None to merge in place."""
        dest = self.dest_field
        if dest is None:
            return None
        name = path[len("frames."):] if path.startswith("frames.") else path
        if isinstance(dest, str):
            return dest[len("frames."):] if dest.startswith("frames.") else dest
        target = dest.get(path) or dest.get(name)
        if target is None:
            return None
        return target[len("frames."):] if target.startswith("frames.") else target

    # -- the server --------------------------------------------------------------------------
    def server_url(self) -> str | None:
        """Where the run lives or will live (what ``default_client`` connects to)."""
        if self.record is not None and self.record.server is not None:
            return self.record.server.url
        return (self.connection.url or self.manifest.cvat.url
                or os.environ.get("ANNOSYNC_CVAT_URL") or None)

    @property
    def client(self) -> CvatClient:
        if self._client is None:
            self._client = self._client_factory(self)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- the samples -------------------------------------------------------------------------
    def selected(self) -> list[str]:
        """The keys the manifest selects now, in run order."""
        if self._selection is None:
            out = Selection()
            keys = list(iter_select(self.folder, self.manifest.samples, self.loaded.problem, out))
            errors = [p for p in out.problems if p.severity == "error"]
            if errors:
                raise InputError(errors)
            if out.failures:
                key, why = out.failures[0]
                raise InputError.at(
                    f"samples: {len(out.failures)} sample(s) could not be evaluated "
                    f"(first: {key}: {why})", self.loaded.display, self.loaded.line(("samples",)),
                )
            self._selection = keys
        return self._selection

    def selected_except(self, recorded: Collection[str]) -> list[str]:
        """``[k for k in self.selected() if k not in recorded]``; when the selection depends
        on key names alone, found from one unsorted scan of the folder with set operations
        (``select.unrecorded``), without ordering and matching every key in Python."""
        sel = self.manifest.samples
        if self._selection is None and by_names_only(sel):
            if self._listing is None:
                self._listing = index_mod.listed_keys(self.folder)
            found = unrecorded(self._listing, sel, recorded)
            if found is not None:
                return found
        return [k for k in self.selected() if k not in recorded]

    def run_keys(self) -> list[str]:
        """Samples of the run: recorded ones first (task order), then newly selected ones."""
        if self.record is None:
            return self.selected()
        recorded = list(chain.from_iterable(t.samples for t in self.record.tasks))
        return recorded + self.selected_except(set(recorded))

    @property
    def index(self) -> LabelIndex:
        """The dataset's label index (``sync/index.py``): content digests without re-reading."""
        if self._index is None:
            self._index = LabelIndex(self.folder)
        return self._index

    def read(self, key: str) -> Sample:
        """A parsed sample; a file read before in this process and unchanged since (same
        stat, old enough to trust it, as in ``sync/index.py``) is not parsed again."""
        path = self.folder.label_path(key)
        try:
            st = stat_of(path)
        except FileNotFoundError:
            raise StateError(f"{path}: no such sample {key!r}") from None
        sig = _sig(st)
        with self._parsed_lock:
            hit = self._parsed.get(key)
            if hit is not None and hit[0] == sig:
                self._parsed.move_to_end(key)
                return hit[1]
        sample = parse_sample(self.folder.read_bytes(key), str(path))
        self._remember(key, st, sample)
        return sample

    def read_indexed(self, key: str, remember: bool = True) -> tuple[Sample, str]:
        """Read and parse a sample, entering its content into the index; (sample, digest).
        ``remember`` False: not kept in the parsed cache (a pull reads each file once)."""
        path = self.folder.label_path(key)
        try:
            st = stat_of(path)
        except FileNotFoundError:
            raise StateError(f"{path}: no such sample {key!r}") from None
        data = self.folder.read_bytes(key)
        entry = self.index.record(key, data, st)
        sample = parse_sample(data, str(path))
        if remember and not entry.racy:
            self._remember(key, st, sample)
        return sample, entry.sha

    def _remember(self, key: str, st: os.stat_result, sample: Sample) -> None:
        if max(st.st_mtime_ns, st.st_ctime_ns) + index_mod.RACY_NS >= self.index.fs_now():
            return  # too recent to trust the stat (racy): parse it again next time
        with self._parsed_lock:
            self._parsed[key] = (_sig(st), sample)
            self._parsed.move_to_end(key)
            while len(self._parsed) > PARSED_CACHE:
                self._parsed.popitem(last=False)

    def iter_samples(self, keys: list[str]) -> Iterator[tuple[str, Sample]]:
        for key in keys:
            yield key, self.read(key)

    def is_terminal(self) -> bool:
        return sys.stdin.isatty() and sys.stdout.isatty()
