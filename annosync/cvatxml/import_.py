"""Import CVAT XML (or a CVAT zip) into a dataset folder, new or existing.

Steps: read and vet everything first (zip members, XML, labels against the meta, frames against
the task and the real video, conversion), stage the changed samples, and only then write them
(atomically, file by file), copy or extract media and save the *record* of the file
(``record.py``: its meta and frames, so ``export-xml`` gives the same file back). Any
``InputError`` before that point leaves the dataset untouched.

Matching ``<image>`` elements to samples (as CVAT does it, plus what a dataset knows): the data
map (``{xml image name: sample key}``, tried with the full name, then without its extension,
then the image id), then the media path below the media folder without extension (CVAT's rule),
the media path below the dataset root, the sample key, and the file's basename when it is unique.
Project exports prefix names with the image's subset. ``frame_NNNNNN`` images of a video task and
``<track>`` elements go to the task's video sample: ``sample=``, the data map's entry for the
``<source>`` video, a video sample with that file name, the only video sample, or a new one.
Absolute XML frame ``f`` is sample frame ``f + 1``.

Labels are converted by ``xmlmap.py`` (one label per shape, lossless) and placed by
``placer.py`` (the id rules: ``label_id`` attribute, track index, identical stored label).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml

from annosync.cvatxml import forks, split, staging
from annosync.cvatxml import record as records
from annosync.cvatxml.diag import Diagnostics
from annosync.cvatxml.direct import (
    body_bytes,
    box_body,
    box_labels,
    new_image_head,
    sample_bytes,
    sample_head,
)
from annosync.cvatxml.meta import Meta, TaskMeta
from annosync.cvatxml.model import Image, Shape, Track
from annosync.cvatxml.placer import KINDS, Counts, Imported, Mode, Placer
from annosync.cvatxml.reader import Document, XmlReader
from annosync.cvatxml.record import Record, RecordFrame, RecordTask
from annosync.cvatxml.staging import Stage
from annosync.cvatxml.xmlmap import (
    OUTSIDE_AFTER,
    OUTSIDE_BEFORE,
    AttrTypes,
    shape_to_label,
    tag_to_label,
    track_to_labels,
)
from annosync.cvatxml.zipio import IMAGES_DIR, SafeZip, ZipLimits, is_zip, open_zip
from annosync.dataset.folder import (
    INFO_FILE,
    LABELS_DIR,
    DatasetFolder,
    is_valid_key,
    parse_sample,
    sample_to_bytes,
)
from annosync.errors import InputError
from annosync.model.sample import MediaMetadata, Sample
from annosync.progress import NULL, Progress

__all__ = ["KINDS", "ImportReport", "import_xml", "load_data_map"]

Unmatched = Literal["error", "skip", "create"]

_VIDEO_FRAME = re.compile(r"^frame_(\d+)$")
#: images read ahead so their boxes are converted in one ``pixvec`` call (memory stays flat:
#: ~6,400 boxes of CVAT's usual 50 an image; fewer calls share numpy's fixed costs, and the
#: remembered starts, ``pixvec._starts``, pay only in calls of many rows)
_BATCH = 128
#: new samples of boxes go to JSON without the label models (``direct.py``); False: always the
#: general path (the reference the tests compare it with)
_DIRECT = True
#: a big file into a new dataset is read by several processes (``split.py``); False: one
_SPLIT = True
#: the cyclic garbage collector's first threshold during an import (``_few_collections``)
_GC_THRESHOLD = 50_000


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """The cyclic garbage collector runs rarely while an import reads: every image makes ~5
    tracked objects a box that live until its batch is placed, so at the default threshold
    (700 net allocations) it ran ~9 times a batch, walking the batch each time, and the
    oldest generation (every object of the process) every ~100 batches: ~10% of the CPU of
    a 1M-box import (issue 11). The objects are freed by reference counting, so nothing
    accumulates; a cycle made by the import is still collected, ``_GC_THRESHOLD`` net
    allocations later. The previous thresholds come back at the end."""
    old = gc.get_threshold()
    if old[0] and old[0] < _GC_THRESHOLD:
        gc.set_threshold(_GC_THRESHOLD, *old[1:])
    try:
        yield
    finally:
        if gc.get_threshold()[0] == _GC_THRESHOLD != old[0]:
            gc.set_threshold(*old)


@dataclass
class ImportReport:
    """What an import changed (or, with ``dry_run``, would change)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped_images: list[str] = field(default_factory=list)
    labels: int = 0
    merged: int = 0
    media: list[str] = field(default_factory=list)
    missing_media: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# -- inputs ------------------------------------------------------------------------------------
def load_data_map(value: str | os.PathLike[str] | dict[str, str] | None) -> dict[str, str]:
    """A data map from a dict or a JSON/YAML file of ``{xml image name: sample key}``."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    path = Path(value)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError.at(f"cannot read data map: {exc.strerror}", str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError.at(f"invalid data map: {exc}", str(path),
                            mark.line + 1 if mark else None) from None
    if not isinstance(data, dict) or not all(
        isinstance(v, (str, int)) for v in data.values()
    ):
        raise InputError.at("a data map is a mapping {xml image name: sample key}", str(path))
    return {str(k): str(v) for k, v in data.items()}


def _stem(name: str) -> str:
    """The name without its extension (``PurePosixPath(name).with_suffix("")``)."""
    if "/" not in name and name not in ("", "."):  # one part: pathlib keeps it as it is
        i = name.rfind(".")
        return name[:i] if 0 < i < len(name) - 1 else name
    p = PurePosixPath(name)
    return p.with_suffix("").as_posix() if p.suffix else name


def _basename(name: str) -> str:
    """``PurePosixPath(name).name``."""
    return name if "/" not in name and name not in ("", ".") else PurePosixPath(name).name


class _Samples(Mapping[str, Sample]):
    """The dataset's samples by key, read from their label files when asked for (a few kept):
    an import of a big file into a big dataset never holds all of them."""

    def __init__(self, folder: DatasetFolder | None, keys: list[str]) -> None:
        self._folder = folder
        self._keys = set(keys)
        self._order = keys
        self._cache: dict[str, Sample] = {}

    def __getitem__(self, key: str) -> Sample:
        if key not in self._keys or self._folder is None:
            raise KeyError(key)
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) >= 64:
                self._cache.clear()
            hit = self._cache[key] = self._folder.read(key)
        return hit

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._keys)


class _Index:
    """The samples of the target dataset, by the names CVAT could know them by. Each label
    file is read once here (names, media kind, label ids); with ``keep=False`` (import-xml)
    the samples are not kept but read again when asked for."""

    def __init__(self, folder: DatasetFolder | None, keep: bool = True) -> None:
        self.ids: set[str] = set()  # every label id in the dataset
        self.by_name: dict[str, str] = {}
        self.by_base: dict[str, list[str]] = {}
        self.video_keys: list[str] = []
        self.media_dir = "media"
        keys: list[str] = []
        kept: dict[str, Sample] = {}
        self.samples = kept  # with keep=True
        self.lookup: Mapping[str, Sample] = kept  # every sample, kept or read on demand
        if folder is None:
            return
        self.media_dir = folder.info.media_dir
        for key, sample in folder.iter_samples():
            keys.append(key)
            if keep:
                kept[key] = sample
            self.ids.update(sample.label_ids())
            if sample.is_video:
                self.video_keys.append(key)
            media = PurePosixPath(sample.media)
            try:
                below = media.relative_to(PurePosixPath(self.media_dir)).as_posix()
            except ValueError:
                below = media.as_posix()
            for name in (_stem(below), _stem(media.as_posix()), key):
                self.by_name.setdefault(name, key)
            self.by_base.setdefault(_stem(media.name), []).append(key)
        if not keep:
            self.lookup = _Samples(folder, keys)

    def match(self, name: str) -> str | None:
        found = self.by_name.get(_stem(name))
        if found is None:
            base = self.by_base.get(_stem(_basename(name)), [])
            found = base[0] if len(base) == 1 else None
        return found

    def videos(self) -> list[str]:
        return self.video_keys


# -- what a document says ----------------------------------------------------------------------
@dataclass
class _TaskInfo:
    id: int | None
    subset: str | None
    meta: TaskMeta | None
    video: bool
    width: int | None = None
    height: int | None = None
    source: str | None = None

    @property
    def start(self) -> int:
        return self.meta.start_frame_int if self.meta else 0

    @property
    def step(self) -> int:
        return self.meta.frame_step if self.meta else 1

    @property
    def stop(self) -> int | None:
        return self.meta.stop_frame_int if self.meta else None

    @property
    def size(self) -> int | None:
        return self.meta.size_int if self.meta else None


def _digits(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() and int(text) > 0 else None


def _task_info(t: TaskMeta | None, size: Any, id_: int | None, subset: str | None) -> _TaskInfo:
    video = t is not None and (t.mode == "interpolation" or t.source is not None
                               or t.original_size is not None)
    info = _TaskInfo(id_, subset, t, video)
    size = size or (t.original_size if t else None)
    if size is not None:
        info.width, info.height = _digits(size.width), _digits(size.height)
    info.source = t.source if t else None
    return info


def _tasks(meta: Meta | None, diag: Diagnostics) -> dict[int | None, _TaskInfo]:
    if meta is None or (meta.task is None and meta.project is None):
        return {None: _TaskInfo(None, None, None, False)}
    if meta.project is not None:
        out: dict[int | None, _TaskInfo] = {}
        for t in meta.project.tasks or []:
            tid = _digits(t.id)
            out[tid] = _task_info(t, None, tid, t.subset)
        return out or {None: _TaskInfo(None, None, None, False)}
    task = meta.task
    assert task is not None
    try:
        _ = task.frame_step
    except ValueError as exc:
        raise diag.error(str(exc)) from None
    return {None: _task_info(task, meta.original_size, _digits(task.id), None)}


def _attr_types(meta: Meta | None) -> tuple[AttrTypes, dict[str, set[str]], set[str]]:
    """Input types of attributes per label, sub-label names per skeleton, top-level names."""
    types: AttrTypes = {}
    subs: dict[str, set[str]] = {}
    names: set[str] = set()
    for lab in meta.labels if meta else []:
        name = lab.name or ""
        if lab.parent:
            subs.setdefault(lab.parent, set()).add(name)
            continue
        names.add(name)
        types[name] = {a.name or "": a.input_type or "text" for a in lab.attributes or []}
    return types, subs, names


class _Checks:
    """What CVAT's importer refuses, refused here too (with the file and line)."""

    def __init__(self, meta: Meta | None, diag: Diagnostics) -> None:
        self.diag = diag
        self.types, self.subs, self.names = _attr_types(meta)
        self.strict = bool(self.names)  # a meta without labels (hand-made files) checks nothing

    def label(self, name: str | None, line: int | None, parent: str | None = None) -> str:
        if not name:
            where = f"an element of skeleton {parent!r}" if parent else "a shape"
            raise self.diag.error(f"{where} has an empty label name; CVAT refuses it (every "
                                  "annotation needs a label of the task)", line)
        if parent is not None:
            known = self.subs.get(parent)
            if self.strict and known is not None and name not in known:
                raise self.diag.error(f"skeleton {parent!r} has no element label {name!r} in "
                                      "<meta>", line)
        elif self.strict and name not in self.names:
            raise self.diag.error(f"label {name!r} is not in the file's <meta> labels; CVAT "
                                  "refuses labels the task does not have", line)
        return name

    def track(self, t: Track) -> str:
        """A track's label, and no ``<track>`` inside it: CVAT's importer reads a nested track
        as one more track of its own label (an element label such as '1' is no label of the
        task), so CVAT refuses the file or misplaces the shapes."""
        for raw in t.passthrough:
            match = re.match(r'<track\b[^>]*?\blabel="([^"]*)"', raw)
            if raw.startswith("<track"):
                name = match.group(1) if match else ""
                raise self.diag.error(
                    f"a <track> (label {name!r}) inside track {t.label!r}: CVAT reads it as "
                    f"a track of its own and refuses label {name!r} as not a label of the task "
                    "(skeleton tracks carry their elements as <points> in each <skeleton>)",
                    t.line)
        return self.label(t.label, t.line)

    def shapes(self, shapes: list[Shape], plain: bool = False) -> None:
        """``label`` and ``shape`` of each of an image's shapes, in order: at once when they
        are all boxes of known labels, not inverted (the common case; ``plain``: the reader
        vouches for the boxes, ``Image.plain``), else one by one (the first problem raised)."""
        labels = {s.label for s in shapes}
        if None not in labels and "" not in labels and \
                (not self.strict or labels <= self.names) and \
                (plain or all(s.kind == "box" and not s.elements and (p := s.points) is not None
                    and len(p) == 4 and p[0] <= p[2] and p[1] <= p[3] for s in shapes)):
            return
        for s in shapes:
            self.label(s.label, s.line)
            self.shape(s, s.label or "")

    def shape(self, s: Shape, label: str) -> None:
        if s.kind == "box" and s.points:
            xtl, ytl, xbr, ybr = s.points
            if xtl > xbr or ytl > ybr:
                raise self.diag.error(f"inverted box (xtl {xtl} > xbr {xbr} or ytl {ytl} > ybr "
                                      f"{ybr}): refusing a box with negative size", s.line)
        if s.kind == "ellipse" and s.points and (s.points[2] < 0 or s.points[3] < 0):
            raise self.diag.error("an ellipse with a negative radius", s.line)
        for e in s.elements:
            self.label(e.label, e.line, label)


# -- sources -----------------------------------------------------------------------------------
@dataclass
class _Source:
    name: str
    stem: str
    reader: XmlReader


def _sources(source: Path, limits: ZipLimits) -> Iterator[_Source]:
    """Each annotation file of ``source`` (a zip's ``*.xml`` members, as CVAT's importer),
    opened for streaming: header read, items not yet."""
    if is_zip(source):
        with open_zip(source, limits) as sz:
            members = sz.xml_members()
            if not members:
                raise InputError.at("the zip holds no .xml annotation file", str(source))
            for member in members:
                with sz.open_member(member) as fh:
                    name = f"{source}!{member}"
                    stem = source.stem if len(members) == 1 else \
                        f"{source.stem}_{PurePosixPath(member).stem}"
                    with XmlReader(fh, name=name) as reader:
                        yield _Source(name, stem, reader)
        return
    with XmlReader(source) as reader:
        yield _Source(str(source), source.stem, reader)


def _zip_images(source: Path, limits: ZipLimits) -> list[str]:
    if not is_zip(source):
        return []
    with open_zip(source, limits) as sz:
        return sz.image_members()


class _Decline(Exception):
    """A part of a split import met something the split does not take: read it all again in
    one process."""


class _Repeat(Exception):
    """Images of one file that go to a sample placed already: start again holding them."""

    def __init__(self, keys: set[str]) -> None:
        super().__init__(sorted(keys))
        self.keys = keys


# -- the import --------------------------------------------------------------------------------
class _Run:
    """One import: the target dataset, the options and everything staged so far."""

    def __init__(self, root: Path, index: _Index, dmap: dict[str, str],
                 policy: Unmatched, sample: str | None, placer: Placer,
                 media: Path | None, report: ImportReport, stage: Stage,
                 hold: set[str]) -> None:
        self.root = root
        self.index = index
        self.dmap = dmap
        self.numbered = {int(k): v for k, v in dmap.items() if k.isdigit()}
        self.policy = policy
        self.sample = sample
        self.placer = placer
        self.media = media
        self.report = report
        self.staged: dict[str, Sample] = {}  # held until the end of the file (videos...)
        self.placed: dict[str, str] = {}  # key -> created / updated / unchanged (in stage)
        self.stage = stage
        self.hold = hold  # keys several images of one file go to: placed at its end
        self.in_doc: set[str] = set()  # keys images of the current file went to
        self.repeats: set[str] = set()  # found in this attempt: start again holding them
        self.created: set[str] = set()
        self.media_of: dict[str, str] = {}  # created key -> its media path
        self.media_to_extract: dict[str, str] = {}  # zip member -> media path
        self.media_to_copy: dict[str, Path] = {}  # media path -> source file
        self.records: list[Record] = []
        self.record_fields: dict[str, set[str]] = {}
        self._last: tuple[str, Sample] | None = None

    def current(self, key: str) -> Sample | None:
        got = self.staged.get(key)
        if got is not None:
            return got
        if key in self.placed:
            if self._last is None or self._last[0] != key:
                self._last = (key, parse_sample(self.stage.get(key), key))
            return self._last[1]
        return self.index.lookup.get(key)

    def create(self, key: str, sample: Sample) -> None:
        self.staged[key] = sample
        self.created.add(key)
        self.media_of[key] = sample.media

    def known(self, key: str) -> bool:
        return key in self.staged or key in self.placed or key in self.index.lookup

    def new_key(self, wanted: str) -> str:
        key, n = wanted, 1
        while self.known(key):
            n += 1
            key = f"{wanted}_{n}"
        return key

    def emit(self, key: str, sample: Sample) -> None:
        """A finished sample: its bytes go to the stage, its status to ``placed``."""
        self.emit_bytes(key, sample_to_bytes(sample))

    def emit_bytes(self, key: str, data: bytes) -> None:
        """``emit`` of a sample's label-file bytes."""
        if not is_valid_key(key):
            raise InputError.at(
                f"invalid sample key {key!r}: a '/'-separated path below labels/, without "
                "'..', '.' or empty parts", str(self.root / LABELS_DIR))
        old = self.index.lookup.get(key)
        if old is None:
            status = "created"
        elif sample_to_bytes(old) != data:
            status = "updated"
        else:
            status = "unchanged"
        self.stage.put(key, data)
        self.placed[key] = status
        self.staged.pop(key, None)
        if self._last is not None and self._last[0] == key:
            self._last = None


def import_xml(
    source: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
    *,
    data_map: str | os.PathLike[str] | dict[str, str] | None = None,
    label_field: str = "ground_truth",
    fields: dict[str, str] | None = None,
    mode: Mode = "replace",
    unmatched: Unmatched | None = None,
    sample: str | None = None,
    extract_media: bool = True,
    media: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    limits: ZipLimits | None = None,
    record: bool = True,
    progress: Progress = NULL,
    jobs: int | None = None,
) -> ImportReport:
    """Import a CVAT XML file or CVAT zip into the dataset folder ``dataset`` (created if it
    does not exist). See the module docstring for the matching and id rules.

    ``unmatched``: what to do with an ``<image>`` no sample matches: ``"error"`` (CVAT's
    behaviour; the default for an existing dataset), ``"skip"``, or ``"create"`` a sample (the
    default for a new dataset; media come from the zip's ``images/``, or ``media``: a folder
    the media files are copied from). ``sample``: the video sample of a video task.
    ``record``: save the file's meta and frames so ``export_xml`` reproduces it.
    ``progress``: where to report reading the XML and writing the label files.
    ``jobs``: processes that may read parts of a big file into a new dataset side by side
    (default: the CPUs, up to 4; 1: this process only); the result is the same.
    """
    with _few_collections():
        try:
            return _import_xml(source, dataset, data_map, label_field, fields, mode,
                               unmatched, sample, extract_media, media, dry_run, limits,
                               record, progress, jobs)
        finally:
            pixvec = sys.modules.get("annosync.cvatxml.pixvec")
            if pixvec is not None:
                pixvec.forget()  # (its memos of starts and far edges: up to ~45 MB)


def _import_xml(source: str | os.PathLike[str], dataset: str | os.PathLike[str],
                data_map: str | os.PathLike[str] | dict[str, str] | None, label_field: str,
                fields: dict[str, str] | None, mode: Mode, unmatched: Unmatched | None,
                sample: str | None, extract_media: bool, media: str | os.PathLike[str] | None,
                dry_run: bool, limits: ZipLimits | None, record: bool, progress: Progress,
                jobs: int | None) -> ImportReport:
    src = Path(source)
    if not src.is_file():
        raise InputError.at("no such file", str(src))
    media_dir = Path(media) if media is not None else None
    if media_dir is not None and not media_dir.is_dir():
        raise InputError.at("the media folder does not exist", str(media_dir))
    root = Path(dataset)
    exists = (root / LABELS_DIR).is_dir() or (root / INFO_FILE).is_file()
    folder = DatasetFolder.open(root) if exists else None
    lim = limits or ZipLimits()
    index = _Index(folder, keep=False)
    dmap = load_data_map(data_map)
    zip_images = _zip_images(src, lim)
    hold: set[str] = set()
    stage = Stage(root, tree=staging.fresh(root / LABELS_DIR))
    plan = None
    if _SPLIT and not dmap and media_dir is None and sample is None and not index.lookup \
            and not index.ids and (unmatched or "create") == "create" and not zip_images:
        plan = _split_plan(src, forks.default_jobs() if jobs is None else jobs)
    try:
        while True:  # once, unless images of one file share a sample (then twice)
            report = ImportReport()
            counts = Counts()
            run = _Run(root, index, dmap, "error", sample,
                       Placer(label_field, fields or {}, mode, counts, index.ids), media_dir,
                       report, stage, hold)
            run.policy = unmatched or ("create" if not index.lookup else "error")
            try:
                with progress.step(f"read {src.name}", None, "samples") as step:
                    if plan is not None:
                        done = _import_split(src, run, plan, step)
                        plan = None
                        if not done:  # read it all again in this process
                            stage.discard()
                            continue
                    else:
                        for s in _sources(src, lim):
                            _import_doc(s, run, zip_images, src, step)
                            report.warnings.extend(str(w) for w in s.reader.warnings)
                break
            except _Repeat as again:
                stage.discard()
                hold |= again.keys
        _finish(run, report, counts, folder, root, src, lim, zip_images)
        if dry_run:
            return report
        _commit(run, report, folder, root, src, lim, extract_media, record, progress)
        return report
    finally:
        stage.discard()


# -- a big file read by several processes (``split.py``) ----------------------------------------
def _split_plan(src: Path, jobs: int) -> list[list[Any]] | None:
    """The parts of ``src`` (``split.windows``) when it is worth reading it in ``jobs``
    processes and the split can take it: a plain XML file of images (no video task), read by
    the fast path; else None."""
    if jobs < 2 or not forks.available() or is_zip(src):
        return None
    size = src.stat().st_size
    if size < split.MIN_BYTES:
        return None
    try:
        with XmlReader(src) as reader:
            fast = reader._fast
            header = fast.header_end if fast is not None else None
            if header is None or reader.warnings:
                return None
            tasks = _tasks(reader.meta, Diagnostics(str(src)))
    except InputError:
        return None  # the import in one process reports it
    if any(t.video for t in tasks.values()):
        return None
    cuts = split.points(src, header, size, jobs)
    return split.windows(src, header, cuts, size) if cuts else None


@dataclass
class _PartDone:
    """What a part of a split import staged and noted, for the first process to merge."""

    placed: dict[str, str]
    files: dict[str, str]
    media_of: dict[str, str]
    tasks: list[RecordTask]
    fields: set[str]
    labels: int
    merged: int
    taken: set[str]
    receiving: set[str]


def _read_part(src: Path, pieces: list[Any], run: _Run, step: Any) -> None:
    """One part of the file into ``run`` (the images layout only; ``_Decline`` otherwise, or
    on any warning)."""
    window = split.Window(src, pieces)
    try:
        with XmlReader(window, name=str(src)) as reader:  # type: ignore[arg-type]
            _import_doc(_Source(str(src), src.stem, reader), run, [], src, step,
                        images_only=True)
            if reader.warnings or run.report.warnings:
                raise _Decline("warnings")
    finally:
        window.close()


def _part(src: Path, pieces: list[Any], root: Path, index: _Index, placer: Placer,
          stage: Stage) -> _PartDone:
    """In a forked process: read one part into ``stage``."""
    counts = Counts()
    mine = Placer(placer.label_field, placer.fields, placer.mode, counts, placer.dataset_ids)
    run = _Run(root, index, {}, "create", None, mine, None, ImportReport(), stage, set())
    _read_part(src, pieces, run, NULL.step("part"))
    rec = run.records[0]
    return _PartDone(run.placed, stage.files(), run.media_of, rec.tasks,
                     run.record_fields.get(rec.name, set()), counts.labels, counts.merged,
                     mine.taken, mine.receiving)


def _import_split(src: Path, run: _Run, plan: list[list[Any]], step: Any) -> bool:
    """Read the parts of ``plan`` side by side: the first here, each other one in a forked
    process staging its own files; then merge what they noted as one process reading the
    whole file would have (False: something a part cannot vouch for; nothing merged, the
    caller reads the file again in one process). Exact because, into a new dataset, an
    image's sample and label file depend only on the image, the meta, and two sets of the
    import: the sample keys made before it (``new_key``: a part's keys are the one-process
    keys when no key of an earlier part is among them) and the label ids kept before it
    (likewise)."""
    started = time.monotonic()
    parts: list[split.Part] = []
    try:
        try:
            for k, pieces in enumerate(plan[1:], 1):
                parts.append(split.Part(functools.partial(
                    _part, src, pieces, run.root, run.index, run.placer,
                    run.stage.sub(f"part{k}"))))
        except (AssertionError, OSError):  # no child process here (a daemon's, a limit)
            return False
        try:
            _read_part(src, plan[0], run, step)
        except (InputError, _Decline, _Repeat):
            return False
        run.stage.sync_soon()  # while the others finish
        wait = split.deadline(started)
        done: list[_PartDone] = []
        for p in parts:
            got = p.result(max(1.0, wait - (time.monotonic() - started)))
            if not isinstance(got, _PartDone):
                return False
            done.append(got)
    finally:
        for p in parts:
            p.stop()
    keys = set(run.placed)
    taken = set(run.placer.taken)
    for d in done:
        if not keys.isdisjoint(d.placed) or not taken.isdisjoint(d.taken):
            return False  # (rare) the one-process import would name or id them otherwise
        keys.update(d.placed)
        taken.update(d.taken)
    rec = run.records[-1]
    rtasks = {(t.id, t.subset): t for t in rec.tasks}
    placer = run.placer
    for d in done:
        run.placed.update(d.placed)
        run.stage.adopt(d.files)
        run.created.update(d.placed)
        run.media_of.update(d.media_of)
        for t in d.tasks:
            mine = rtasks.get((t.id, t.subset))
            if mine is None:
                rtasks[(t.id, t.subset)] = t
                rec.tasks.append(t)
            else:
                mine.frames.extend(t.frames)
        run.record_fields.setdefault(rec.name, set()).update(d.fields)
        placer.counts.labels += d.labels
        placer.counts.merged += d.merged
        placer.taken |= d.taken
        placer.receiving |= d.receiving
    step.update(len(run.placed))
    return True


def _finish(run: _Run, report: ImportReport, counts: Counts, folder: DatasetFolder | None,
            root: Path, src: Path, lim: ZipLimits, zip_images: list[str]) -> None:
    """The report of what the import would change; the media checks before any write."""
    report.labels, report.merged = counts.labels, counts.merged
    lists = {"created": report.created, "updated": report.updated,
             "unchanged": report.unchanged}
    for key in sorted(run.placed):
        lists[run.placed[key]].append(key)
    target_root = root.resolve() if folder is None else folder.root
    coming = set(run.media_to_copy) | set(run.media_to_extract.values())
    have = _Existing(target_root)
    for key in report.created:
        rel = run.media_of[key]
        if rel not in coming and not have(rel):
            report.missing_media.append(rel)
    if zip_images and run.media_to_extract:
        _check_zip_images(src, lim, run.media_to_extract)
    for path in run.media_to_copy.values():
        _check_image_file(path)


class _Existing:
    """``(root / rel).exists()``, with one ``stat`` per folder where the folder is missing:
    a new dataset's 20,000 samples have their media in a ``media`` folder that does not
    exist yet, so their checks were 20,000 ``stat`` calls after the parts (issue 11)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._dirs: dict[str, bool] = {}

    def __call__(self, rel: str) -> bool:
        folder = os.path.dirname(rel)
        there = self._dirs.get(folder)
        if there is None:
            there = self._dirs[folder] = (self._root / folder).is_dir()
        return there and (self._root / rel).exists()


def _commit(run: _Run, report: ImportReport, folder: DatasetFolder | None, root: Path,
            src: Path, lim: ZipLimits, extract_media: bool, record: bool,
            progress: Progress) -> None:
    target = folder or DatasetFolder.init(root)
    if run.media_to_extract and extract_media:
        with open_zip(src, lim) as sz:
            for member, rel in sorted(run.media_to_extract.items()):
                if (target.root / rel).exists():
                    continue
                _extract_to(sz, member, target.root, rel)
                report.media.append(rel)
    for rel, path in sorted(run.media_to_copy.items()):
        dest = target.root / rel
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.tmp")
            shutil.copyfile(path, tmp)
            os.replace(tmp, dest)
            report.media.append(rel)
    written = report.created + report.updated
    with progress.step("write label files", len(written), "files") as step:
        run.stage.commit(target.root / LABELS_DIR, written)
        step.update(len(written))
    if record:
        known = {r.name: r.keys() for r in map(records.load, records.list_records(target.root))}
        for rec in run.records:
            rec.fields = sorted(run.record_fields.get(rec.name, set()))
            same_samples = [n for n, k in known.items() if k and k == rec.keys()]
            if rec.name not in known and len(same_samples) == 1:
                rec.name = same_samples[0]  # the same task imported again: update its record
            records.save(target.root, rec)
            report.records.append(rec.name)


def _check_image_file(path: Path) -> None:
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as img:
            w, h = img.size
    except PILImage.DecompressionBombError as exc:
        raise InputError.at(f"refusing the image: {exc}", str(path)) from None
    except OSError:
        return  # not an image Pillow reads: nothing to bound
    if w * h > (PILImage.MAX_IMAGE_PIXELS or 2**62):
        raise InputError.at(f"refusing the image: {w}x{h} pixels is more than Pillow's "
                            f"decompression-bomb limit ({PILImage.MAX_IMAGE_PIXELS})", str(path))


def _check_zip_images(src: Path, limits: ZipLimits, members: dict[str, str]) -> None:
    """Every image to extract is within Pillow's decompression-bomb limit (header only)."""
    from PIL import Image as PILImage

    limit = PILImage.MAX_IMAGE_PIXELS or 2**62
    with open_zip(src, limits) as sz:
        for member in sorted(members):
            where = f"{src}!{member}"
            try:
                with sz.open_member(member) as fh, PILImage.open(fh) as img:
                    w, h = img.size
            except PILImage.DecompressionBombError as exc:
                raise InputError.at(f"refusing the image: {exc}", where) from None
            except OSError:
                continue
            if w * h > limit:
                raise InputError.at(f"refusing the image: {w}x{h} pixels is more than Pillow's "
                                    f"decompression-bomb limit ({limit})", where)


def _extract_to(sz: SafeZip, member: str, root: Path, rel: str) -> None:
    parent = str(PurePosixPath(rel).parent)
    dest_dir = root / parent
    sz.extract(member, dest_dir,
               arcname_root=member[: len(member) - len(PurePosixPath(member).name)])


def _zip_image_index(members: list[str]) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for m in members:
        rest = m[len(IMAGES_DIR) + 1:]
        out.setdefault(("", rest), m)
        head, _, tail = rest.partition("/")
        if tail:
            out.setdefault((head, tail), m)
    return out


def _media_file(run: _Run, name: str) -> Path | None:
    """A file of ``--media`` for an image or video named ``name`` (path, then basename)."""
    if run.media is None:
        return None
    for rel in (name, PurePosixPath(name).name):
        path = run.media / rel
        if path.is_file():
            return path
    return None


def _meta_frames(sample: Sample | None) -> int | None:
    meta = sample.metadata if sample else None
    return meta.frame_count if meta and meta.frame_count else None


# -- video tasks -------------------------------------------------------------------------------
def _video_sample(run: _Run, task: _TaskInfo, diag: Diagnostics, frames_seen: list[int]
                  ) -> str:
    """The key of the video sample a video task goes to (staged; created if allowed)."""
    source_name = task.source
    key = run.sample
    if key is None and source_name:
        key = run.dmap.get(source_name) or run.dmap.get(_stem(source_name))
        if key is None:
            hits = [k for k in run.index.videos()
                    if PurePosixPath(run.index.lookup[k].media).name == source_name]
            key = hits[0] if len(hits) == 1 else None
    if key is None and task.id is not None:
        key = run.dmap.get(f"task_{task.id}") or run.dmap.get(str(task.id))
    if key is None and task.id is not None and f"task_{task.id}" in run.index.lookup:
        key = f"task_{task.id}"
    if key is None and len(run.index.videos()) == 1 and task.subset is None:
        key = run.index.videos()[0]
    if key is not None and key in run.staged:
        return key
    if key is not None and key in run.placed:  # an earlier file of the import placed it
        run.staged[key] = run.current(key)  # type: ignore[assignment]
        return key
    if key is not None and key in run.index.lookup:
        if not run.index.lookup[key].is_video:
            raise diag.error(f"sample {key!r} is not a video; a video task cannot go there")
        run.staged[key] = run.index.lookup[key]
        return key
    if run.policy != "create":
        raise diag.error(
            "cannot tell which video sample this video task belongs to: name it with "
            f"`sample=` / --sample, or map {source_name or 'the video'!r} in the data map")
    name = source_name or (f"task_{task.id}.mp4" if task.id is not None else "video.mp4")
    found = _media_file(run, name)
    real: MediaMetadata | None = None
    if found is not None:
        from annosync.dataset.media import probe

        real = probe(found)
    width = task.width or (real.width if real else None)
    height = task.height or (real.height if real else None)
    if not width or not height:
        raise diag.error(
            "the video's size is unknown (no <original_size> in the meta and no video file): "
            "give the video with --media DIR, or import into a dataset that has its sample")
    count = real.frame_count if real else None
    if count is None:
        if task.stop is not None:
            count = task.stop + 1
        elif task.size:
            count = task.start + (task.size - 1) * task.step + 1
        elif frames_seen:
            count = max(frames_seen) + 1
    key = run.new_key(key or _stem(PurePosixPath(name).name))
    media_rel = f"{run.index.media_dir}/{name}"
    run.create(key, Sample(media=media_rel, metadata=MediaMetadata(
        media_type="video", width=width, height=height, frame_count=count)))
    if found is not None:
        run.media_to_copy[media_rel] = found
    return key


def _check_frame(run: _Run, task: _TaskInfo, key: str, frame: int, line: int | None,
                 diag: Diagnostics) -> None:
    """``frame`` (absolute) is a frame of the task and of the real video."""
    d, m = divmod(frame - task.start, task.step)
    if m or d < 0 or (task.stop is not None and frame > task.stop) or \
            (task.stop is None and task.size is not None and d >= task.size):
        raise diag.error(f"frame {frame} is not a frame of this task (start {task.start}, "
                         f"stop {task.stop}, step {task.step})", line)
    count = _meta_frames(run.current(key))
    if count is not None and frame >= count and key not in run.created:
        raise diag.error(f"frame {frame} is past the end of the video of sample {key!r} "
                         f"({count} frames), although the meta says the task stops at "
                         f"{task.stop}", line)


def _fixed_size(w: int, h: int) -> Callable[[int], tuple[int, int]]:
    return lambda _frame: (w, h)


def _plain(frames: list[Any], track: Track, task: _TaskInfo) -> bool:
    """A track that is how the video layout writes a standalone shape: one visible frame,
    then (if the task goes on) one ``outside`` copy of it on the next frame."""
    if len(frames) != 1:
        return False
    visible = [s for s in track.shapes if not s.outside]
    if len(visible) != 1 or visible[0].keyframe is not True or visible[0].kind == "skeleton":
        return False
    v = visible[0]
    rest = [s for s in track.shapes if s is not v]
    nxt = v.frame + task.step if v.frame is not None else None
    last = task.stop is not None and nxt is not None and nxt > task.stop
    if not rest:
        return last
    if len(rest) != 1:
        return False
    o = rest[0]
    return (not last and o.frame == nxt and o.keyframe is True and o.outside is True
            and o.points == v.points and o.mask == v.mask and o.occluded == v.occluded
            and (o.z_order or 0) == (v.z_order or 0) and (o.rotation or 0) == (v.rotation or 0)
            and o.attributes == v.attributes)


def _import_tracks(run: _Run, all_tracks: list[Track], tasks: dict[int | None, _TaskInfo],
                   checks: _Checks, diag: Diagnostics, rec: Record) -> None:
    by_task: dict[int | None, list[Track]] = {}
    for t in all_tracks:
        tid = t.task_id if t.task_id in tasks else (None if None in tasks else t.task_id)
        if tid not in tasks:
            raise diag.error(f"track of task {t.task_id} but the meta has no such task", t.line)
        by_task.setdefault(tid, []).append(t)
    number = 0
    for tid, tracks in by_task.items():
        task = tasks[tid]
        if not task.video and (task.meta is not None or run.numbered) and not (
                task.meta is None and run.sample):
            number = _image_task_tracks(run, task, tracks, checks, diag, rec, number)
            continue
        frames_seen = [s.frame or 0 for t in tracks for s in t.shapes]
        key = _video_sample(run, task, diag, frames_seen)
        base = run.staged[key]
        assert base.metadata is not None
        w, h = base.metadata.width, base.metadata.height
        rtask = RecordTask(id=task.id, subset=task.subset, video=key, start=task.start,
                           step=task.step, stop=task.stop, size=task.size)
        rec.tasks.append(rtask)
        items: list[tuple[int | None, Imported]] = []
        for t in tracks:
            checks.track(t)
            number += 1
            for s in t.shapes:
                checks.shape(s, t.label)
                if s.frame is not None:
                    _check_frame(run, task, key, s.frame, s.line, diag)
            frames = track_to_labels(t, _fixed_size(w, h), checks.types.get(t.label, {}),
                                     rtask.next_frame)
            plain = _plain(frames, t, task)
            for tf in frames:
                obj = tf.converted.obj
                if plain:
                    obj.index = obj.keyframe = None
                    obj.attributes.pop(OUTSIDE_AFTER, None)
                    obj.attributes.pop(OUTSIDE_BEFORE, None)
                items.append((tf.frame + 1, Imported(tf.converted.kind, obj,
                                                     tf.converted.label_id,
                                                     None if plain else number)))
        last = task.stop
        if last is None:
            last = task.start + (task.size - 1) * task.step if task.size else \
                max(frames_seen, default=task.start)
        scope = set(range(task.start + 1, last + 2, task.step))
        run.staged[key] = run.placer.place(base, items, True, scope, (w, h))
        run.record_fields.setdefault(rec.name, set()).update(
            f"frames.{f}" for f in run.placer.last_receiving)


def _image_task_tracks(run: _Run, task: _TaskInfo, tracks: list[Track], checks: _Checks,
                       diag: Diagnostics, rec: Record, number: int) -> int:
    """The video layout of an *image* task: frames carry no image names, so a data map says
    which sample each frame is (``{"0": key}``); without one, samples are keyed by frame
    (``frame_000000``). Track frames become plain labels of their images."""
    per_key: dict[str, list[tuple[int | None, Imported]]] = {}
    rtask = RecordTask(id=task.id, subset=task.subset, start=task.start, step=task.step,
                       stop=task.stop, size=task.size)
    rec.tasks.append(rtask)
    keys: dict[int, str] = {}

    def key_of(frame: int, line: int | None) -> str:
        if frame in keys:
            return keys[frame]
        key = run.numbered.get(frame)
        if key is None and run.numbered:
            raise diag.error(f"frame {frame} is not in the data map", line)
        key = key or f"frame_{frame:06d}"
        if run.current(key) is None:
            found = _media_file(run, key) or next(
                (p for p in (run.media.glob(f"{key}.*") if run.media else [])), None)
            if run.policy != "create" or found is None:
                raise diag.error(
                    f"frame {frame} of this image task (CVAT for video layout: no image names)"
                    f" has no sample {key!r} and its size is unknown: give a data map "
                    "{\"0\": key, ...} of existing samples, or the images with --media DIR",
                    line)
            from annosync.dataset.media import probe

            rel = f"{run.index.media_dir}/{found.name}"
            run.create(key, Sample(media=rel, metadata=probe(found)))
            run.media_to_copy[rel] = found
        keys[frame] = key
        return key

    for t in tracks:
        checks.track(t)
        number += 1
        for s in t.shapes:
            checks.shape(s, t.label)
            if s.frame is not None and not s.outside:
                key_of(s.frame, s.line)

        def size_of(frame: int) -> tuple[int, int]:
            meta = run.current(keys[frame]).metadata  # type: ignore[union-attr]
            return (meta.width, meta.height) if meta else (0, 0)

        for tf in track_to_labels(t, size_of, checks.types.get(t.label, {}),
                                  rtask.next_frame):
            obj = tf.converted.obj
            obj.index = obj.keyframe = None
            obj.attributes.pop(OUTSIDE_AFTER, None)
            obj.attributes.pop(OUTSIDE_BEFORE, None)
            per_key.setdefault(keys[tf.frame], []).append(
                (None, Imported(tf.converted.kind, obj, tf.converted.label_id)))
    for frame, key in sorted(keys.items()):
        rtask.frames.append(RecordFrame(frame, f"frame_{frame:06d}", key, None, None, None))
    for key, items in per_key.items():
        base = run.current(key)
        assert base is not None
        meta = base.metadata
        run.staged[key] = run.placer.place(base, items, False, None,
                                           (meta.width, meta.height) if meta else (0, 0))
        run.record_fields.setdefault(rec.name, set()).update(run.placer.last_receiving)
    return number


# -- images layout -----------------------------------------------------------------------------
def _match_image(img: Image, run: _Run) -> str | None:
    probes = [img.name, _stem(img.name), str(img.id)]
    if img.subset:
        probes = [f"{img.subset}/{img.name}", f"{img.subset}/{_stem(img.name)}", *probes]
    for probe_name in probes:
        if probe_name in run.dmap:
            return run.dmap[probe_name]
    if img.subset:
        found = run.index.match(f"{img.subset}/{img.name}")
        if found:
            return found
    return run.index.match(img.name)


def _image_target(run: _Run, img: Image, zip_by_name: dict[tuple[str, str], str],
                  diag: Diagnostics) -> str | None:
    key = _match_image(img, run)
    if key is not None and run.known(key):
        return key
    if run.policy == "error":
        what = f"the data map names sample {key!r}, which does not exist" if key \
            else "no sample matches it"
        raise diag.error(f"could not match image {img.name!r}: {what}; map it with a data "
                         "map, or import with unmatched='skip' / 'create'", img.line)
    if run.policy == "skip":
        run.report.skipped_images.append(img.name)
        return None
    name = f"{img.subset}/{img.name}" if img.subset else img.name
    if not img.width or not img.height:
        raise diag.error(f"image {img.name!r} has no width/height; cannot create its sample",
                         img.line)
    key = run.new_key(key or _stem(name))
    media = f"{run.index.media_dir}/{name}"
    run.create(key, Sample(media=media, metadata=MediaMetadata(
        media_type="image", width=img.width, height=img.height)))
    member = zip_by_name.get((img.subset or "", img.name)) or zip_by_name.get(("", img.name))
    if member:
        run.media_to_extract[member] = media
    else:
        found = _media_file(run, img.name)
        if found is not None:
            run.media_to_copy[media] = found
    return key


class _Images:
    """The images layout, one ``<image>`` at a time: its labels are placed into its sample and
    the sample goes to the stage at once. Frames of a video task, and samples that several
    images of the file go to (``run.hold``), are gathered and placed at the end of the file."""

    def __init__(self, run: _Run, tasks: dict[int | None, _TaskInfo], checks: _Checks,
                 diag: Diagnostics, rec: Record, zip_images: list[str]) -> None:
        self.run, self.tasks, self.checks, self.diag, self.rec = run, tasks, checks, diag, rec
        self.zip_by_name = _zip_image_index(zip_images)
        self.rtasks: dict[tuple[int | None, str | None], RecordTask] = {}
        self.per_key: dict[str, list[tuple[int | None, Imported]]] = {}  # held until the end
        self.video_scope: dict[str, set[int]] = {}

    def add(self, img: Image,
            boxes: list[tuple[float, float, float, float] | None] | None = None,
            texts: list[str | None] | None = None) -> None:
        """Place one image's labels; ``boxes``: ``pixvec.image_boxes`` of it (its own size),
        ``texts``: the boxes' texts it gave."""
        run, tasks, checks, diag = self.run, self.tasks, self.checks, self.diag
        tid = img.task_id if img.task_id in tasks else None
        task = tasks.get(tid) or _TaskInfo(img.task_id, img.subset, None, False)
        rtask = self.rtasks.get((img.task_id, img.subset))
        if rtask is None:
            rtask = RecordTask(id=img.task_id, subset=img.subset, start=task.start,
                               step=task.step, stop=task.stop, size=task.size)
            self.rtasks[(img.task_id, img.subset)] = rtask
            self.rec.tasks.append(rtask)
        match = _VIDEO_FRAME.match(_stem(img.name))
        frame_no: int | None = None
        if match and (task.video or (task.meta is None and run.index.videos())):
            video_key = rtask.video or _video_sample(run, task, diag, [img.id])
            rtask.video = video_key
            frame_no = int(match.group(1)) + 1
            _check_frame(run, task, video_key, frame_no - 1, img.line, diag)
            self.video_scope.setdefault(video_key, set()).add(frame_no)
            key: str | None = video_key
        else:
            key = _image_target(run, img, self.zip_by_name, diag)
        rtask.frames.append(RecordFrame(img.id, img.name, key, frame_no, img.width, img.height))
        later = key is not None and (key in self.video_scope or key in run.hold)
        if key is not None and not later and key in run.in_doc:
            run.repeats.add(key)  # a second image for a placed sample: start again, holding it
        if key is not None:
            run.in_doc.add(key)
        if run.repeats:
            return  # this attempt is only looking for more of them now
        base = run.current(key) if key else None
        meta = base.metadata if base else None
        w = meta.width if meta else img.width
        h = meta.height if meta else img.height
        checks.shapes(img.shapes, img.plain)
        for t in img.tags:
            checks.label(t.label, t.line)
        if key is None:
            return
        if not w or not h:
            raise diag.error(f"the size of image {img.name!r} is unknown", img.line)
        if not later and _DIRECT and not img.tags and boxes is not None \
                and (w, h) == (img.width, img.height) and base is not None \
                and not base.fields and not base.frames and self._direct(key, img, base, boxes, texts):
            return
        items = self.per_key.setdefault(key, []) if later else []
        parts: dict[str, Any] = {}  # label_id -> Polyline: parts of one multi-part Polyline
        if boxes is None or (w, h) != (img.width, img.height):
            boxes = [None] * len(img.shapes)
        types = checks.types
        for s, box in zip(img.shapes, boxes, strict=True):
            c = shape_to_label(s, s.label or "", w, h, types.get(s.label or "", {}), box=box)
            first = parts.get(c.label_id or "") if c.kind == "polylines" else None
            if first is not None and first.label == c.obj.label and \
                    first.closed == c.obj.closed and first.attributes == c.obj.attributes:
                first.points.extend(c.obj.points)
                continue
            if c.kind == "polylines" and c.label_id:
                parts[c.label_id] = c.obj
            items.append((frame_no, Imported(c.kind, c.obj, c.label_id)))
        for t in img.tags:
            c = tag_to_label(t, checks.types.get(t.label, {}))
            items.append((frame_no, Imported(c.kind, c.obj, c.label_id)))
        if not later:
            self._place(key, items)

    def _direct(self, key: str, img: Image, base: Sample,
                boxes: list[tuple[float, float, float, float] | None],
                texts: list[str | None] | None = None) -> bool:
        """An image of boxes into a sample without labels, skipping the models (``direct``):
        the same bytes as ``_place``; False when it cannot say (the general path then runs)."""
        run = self.run
        placer = run.placer
        if texts is not None and img.shapes and self._body(key, img, base, boxes, texts):
            return True
        texts = None if texts is None else list(texts)
        dets = box_labels(img.shapes, boxes, self.checks.types, placer.taken, placer.dataset_ids,
                          texts)
        if dets is None:
            return False
        data = base.model_dump(mode="json", by_alias=True)
        fname = placer.field_for("detections")
        placer.placed_direct(fname if dets else None, len(dets))
        run.record_fields.setdefault(self.rec.name, set()).update(placer.last_receiving)
        run.emit_bytes(key, sample_bytes(data, fname, dets, texts))
        return True

    def _body(self, key: str, img: Image, base: Sample,
              boxes: list[tuple[float, float, float, float] | None],
              texts: list[str | None]) -> bool:
        """``_direct`` for the common image, its detections written as text in one pass
        (``direct.box_body``); False: ``_direct``'s own way decides."""
        run = self.run
        placer = run.placer
        got = box_body(img.shapes, boxes, texts, self.checks.types, placer.taken,
                       placer.dataset_ids)
        if got is None:
            return False
        fname = placer.field_for("detections")
        head = self._head(key, base)
        data = None if head is None else body_bytes(head, fname, got[0])
        if data is None:
            return False
        placer.taken.update(got[1])
        placer.placed_direct(fname, len(img.shapes))
        run.record_fields.setdefault(self.rec.name, set()).update(placer.last_receiving)
        run.emit_bytes(key, data)
        return True

    def _head(self, key: str, base: Sample) -> str | None:
        """``sample_head`` of ``base``: from ``new_image_head``'s template when it is the
        sample ``_image_target`` made (media and an image's size, nothing else)."""
        meta = base.metadata
        if key in self.run.created and self.run.staged.get(key) is base and meta is not None \
                and meta.media_type == "image" and meta.fps is None \
                and meta.frame_count is None and meta.size_bytes is None \
                and not base.fields and not base.frames and not base.tags:
            return new_image_head(base.media, meta.width, meta.height)
        return sample_head(base.model_dump(mode="json", by_alias=True))

    def _place(self, key: str, items: list[tuple[int | None, Imported]]) -> None:
        run = self.run
        base = run.current(key)
        assert base is not None and base.metadata is not None
        video = key in self.video_scope
        placed = run.placer.place(base, items, video, self.video_scope.get(key),
                                  (base.metadata.width, base.metadata.height))
        prefix = "frames." if video else ""
        run.record_fields.setdefault(self.rec.name, set()).update(
            prefix + f for f in run.placer.last_receiving)
        if video:
            run.staged[key] = placed
        else:
            run.emit(key, placed)

    def finish(self) -> None:
        if self.run.repeats:
            raise _Repeat(set(self.run.repeats))
        for key, items in self.per_key.items():
            self._place(key, items)


def _meta_xml(doc: Document) -> str | None:
    if doc.meta is None:
        return None
    from annosync.cvatxml.writer import document_bytes

    text = document_bytes(Document(version=None, meta=doc.meta, items=[])).decode("utf-8")
    start, end = text.index("<meta>"), text.rindex("</meta>") + len("</meta>")
    return text[start:end]


def _record_name(doc: Document, stem: str) -> str:
    """``task_<id>`` / ``job_<id>`` / ``project_<id>`` when the meta says, so importing the
    same task again updates its record; else the file's name."""
    meta = doc.meta
    holder = (meta.project if meta.kind == "project" else meta.task) if meta else None
    ident = _digits(holder.id) if holder is not None else None
    if meta is not None and meta.kind and ident is not None:
        return f"{meta.kind}_{ident}"
    return records.record_name(stem)


def _import_doc(s: _Source, run: _Run, zip_images: list[str], src: Path, step: Any,
                images_only: bool = False) -> None:
    reader = s.reader
    diag = Diagnostics(s.name)
    tasks = _tasks(reader.meta, diag)
    checks = _Checks(reader.meta, diag)
    header = Document(version=reader.version, meta=reader.meta, items=[])
    rec = Record(name=_record_name(header, s.stem), layout="images", meta_xml=_meta_xml(header),
                 version=reader.version, source=src.name,
                 kind=reader.meta.kind if reader.meta else None)
    taken = {r.name for r in run.records}
    while rec.name in taken:
        rec.name += "_"
    run.records.append(rec)
    run.in_doc = set()
    images = _Images(run, tasks, checks, diag, rec, zip_images)
    tracks: list[Track] = []  # the video layout: tracks are placed together, at the end
    seen_image = False
    batch: list[Image] = []  # images read but not placed: their boxes converted together
    from annosync.cvatxml.pixvec import image_boxes  # numpy: only for importing

    def place_batch() -> None:
        texts: list[list[str | None]] = []  # the boxes' texts in label files
        converted = image_boxes(batch, texts)
        for img, boxes, box_texts in zip(batch, converted, texts, strict=True):
            images.add(img, boxes, box_texts)
        batch.clear()
        step.update(len(run.placed))

    items = reader.items()
    while True:
        try:
            item = next(items, None)
        except InputError:
            place_batch()  # what comes first in the file is reported first
            raise
        if item is None:
            break
        if isinstance(item, Track):
            if images_only:
                raise _Decline("a track")
            place_batch()
            if seen_image:
                raise diag.error("the file mixes <image> and <track> elements; CVAT writes one "
                                 "layout")
            tracks.append(item)
            continue
        if tracks:
            raise diag.error("the file mixes <image> and <track> elements; CVAT writes one "
                             "layout")
        seen_image = True
        batch.append(item)
        if len(batch) >= _BATCH:
            place_batch()
    place_batch()
    if tracks:
        rec.layout = "video"
        _import_tracks(run, tracks, tasks, checks, diag, rec)
    else:
        images.finish()
    for key in list(run.staged):  # what is held until the end of the file goes to the stage
        run.emit(key, run.staged[key])
    step.update(len(run.placed))
    run.report.warnings.extend(str(w) for w in diag.warnings)
