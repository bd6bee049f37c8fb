"""Import CVAT XML (or a CVAT zip) into a dataset folder, new or existing.

Steps: read and vet everything first (zip members, XML, label and frame matching, conversion),
stage the changed samples in memory, and only then write them (atomically, file by file) and
extract media. Any ``InputError`` before that point leaves the dataset untouched.

Matching ``<image>`` elements to samples (as CVAT does it, plus what a dataset knows):
the data map (``{xml image name: sample key}``, tried with the full name, then without its
extension, then the image id), then the media path below the media folder without extension
(CVAT's rule), the media path below the dataset root, the sample key, and the file's basename
when it is unique. ``frame_NNNNNN`` images (a video task) and ``<track>`` elements go to one video
sample: the data map's entry for the ``<source>`` video, a video sample with that file name, or
the only video sample. Absolute XML frame ``f`` is sample frame ``f + 1``.

Label ids (the reconciler's provenance rule): a ``label_id`` attribute naming a label of the
sample on the same frame merges into that label (same id, same field, same position); a track
whose keyframes carry a known id continues that track (field and ``index``) and its in-between
frames take the ids already stored there; another valid ``label_id`` is kept as the new label's
id if no label of the dataset has it; a label without ``label_id`` (a file made in CVAT) that
equals a stored label of the same frame and field (class, attributes, pixels) keeps that one's
id; everything else gets a new id. New labels go to ``<label_field>_<kind>`` (kinds:
``detections``, ``polylines``, ``keypoints``, ``classifications``; ``frames.`` fields for
videos) unless ``fields`` maps a kind elsewhere. Mode ``replace`` (CVAT's default) replaces
the receiving fields on the matched samples (on the task's frames only, for a video); ``merge``
keeps the existing labels nobody matched.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from annosync.cvatxml.bridge import (
    LabelIndex,
    TaskFrame,
    TaskFrames,
    specs_from_meta,
    to_labeled_data,
)
from annosync.cvatxml.diag import Diagnostics
from annosync.cvatxml.labels_map import (
    Imported,
    carry_over,
    from_cvat,
    keep_geometry,
    same_geometry,
)
from annosync.cvatxml.model import Image
from annosync.cvatxml.reader import Document, read_document
from annosync.cvatxml.zipio import IMAGES_DIR, SafeZip, ZipLimits, is_zip, open_zip
from annosync.dataset.folder import INFO_FILE, LABELS_DIR, DatasetFolder, sample_to_bytes
from annosync.errors import InputError
from annosync.model.cvat import AttributeSpec, LabelSpec
from annosync.model.ids import new_id
from annosync.model.labels import (
    LABEL_ID_PATTERN,
    Classification,
    Classifications,
    Detection,
    Detections,
    Keypoint,
    Keypoints,
    Polyline,
    Polylines,
    label_objects,
)
from annosync.model.sample import MediaMetadata, Sample
from annosync.progress import NULL, Progress

Mode = Literal["replace", "merge"]
Unmatched = Literal["error", "skip", "create"]

CONTAINERS: dict[str, tuple[type, type, str]] = {
    "detections": (Detections, Detection, "detections"),
    "polylines": (Polylines, Polyline, "polylines"),
    "keypoints": (Keypoints, Keypoint, "keypoints"),
    "classifications": (Classifications, Classification, "classifications"),
}
_LABEL_ID = re.compile(LABEL_ID_PATTERN)
_VIDEO_FRAME = re.compile(r"^frame_(\d+)$")


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
    warnings: list[str] = field(default_factory=list)


#: The kinds of label an import places, each in ``<label_field>_<kind>`` unless mapped.
KINDS = ("detections", "polylines", "keypoints", "classifications")


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
    p = PurePosixPath(name)
    return p.with_suffix("").as_posix() if p.suffix else name


class _Index:
    """The samples of the target dataset, by the names CVAT could know them by."""

    def __init__(self, folder: DatasetFolder | None) -> None:
        self.samples: dict[str, Sample] = {}
        self.ids: set[str] = set()  # every label id in the dataset
        self.by_name: dict[str, str] = {}
        self.by_base: dict[str, list[str]] = {}
        self.media_dir = "media"
        if folder is None:
            return
        self.media_dir = folder.info.media_dir
        for key, sample in folder.iter_samples():
            self.samples[key] = sample
            self.ids.update(sample.label_ids())
            media = PurePosixPath(sample.media)
            try:
                below = media.relative_to(PurePosixPath(self.media_dir)).as_posix()
            except ValueError:
                below = media.as_posix()
            for name in (_stem(below), _stem(media.as_posix()), key):
                self.by_name.setdefault(name, key)
            self.by_base.setdefault(_stem(media.name), []).append(key)

    def match(self, name: str) -> str | None:
        found = self.by_name.get(_stem(name))
        if found is None:
            base = self.by_base.get(_stem(PurePosixPath(name).name), [])
            found = base[0] if len(base) == 1 else None
        return found

    def videos(self) -> list[str]:
        return [k for k, s in self.samples.items() if s.is_video]


# -- specs -------------------------------------------------------------------------------------
def _specs(doc: Document) -> list[LabelSpec]:
    """Specs from the meta, completed with labels/attributes the items use but meta lacks."""
    specs = specs_from_meta(doc.meta)
    by_name = {s.name: s for s in specs}
    next_id = [1 + max(
        [s.id or 0 for s in specs] + [a.id or 0 for s in specs for a in s.attributes]
        + [u.id or 0 for s in specs for u in s.sublabels]
        + [a.id or 0 for s in specs for u in s.sublabels for a in u.attributes], default=0)]

    def nid() -> int:
        next_id[0] += 1
        return next_id[0] - 1

    def label(name: str, parent: LabelSpec | None = None) -> LabelSpec:
        pool = {s.name: s for s in parent.sublabels} if parent else by_name
        spec = pool.get(name)
        if spec is None:
            spec = LabelSpec(id=nid(), name=name, type="points" if parent else "any")
            if parent:
                spec.parent_id = parent.id
                parent.sublabels.append(spec)
            else:
                by_name[name] = spec
                specs.append(spec)
        return spec

    def attrs(spec: LabelSpec, names: Iterable[str]) -> None:
        have = {a.name for a in spec.attributes}
        for n in names:
            if n not in have:
                spec.attributes.append(AttributeSpec(id=nid(), name=n, mutable=True,
                                                     input_type="text"))
                have.add(n)

    def shape(s: Any, parent: LabelSpec | None, lab: str | None) -> None:
        spec = label(lab or "", parent)
        if s.kind == "skeleton":
            spec.type = "skeleton"
        attrs(spec, (a.name for a in s.attributes))
        for e in s.elements:
            shape(e, spec, e.label)

    for item in doc.items:
        if isinstance(item, Image):
            for s in item.shapes:
                shape(s, None, s.label)
            for t in item.tags:
                attrs(label(t.label), (a.name for a in t.attributes))
        else:
            for s in item.shapes:
                shape(s, None, item.label)
    return specs


# -- placing labels ----------------------------------------------------------------------------
@dataclass
class _Target:
    key: str
    frame: int | None  # sample frame number (video) or None (image sample)


class _Placer:
    """Puts imported labels into fields of staged samples, applying the id rules."""

    def __init__(self, label_field: str, fields: dict[str, str], mode: Mode,
                 report: ImportReport, dataset_ids: set[str]) -> None:
        self.label_field = label_field
        self.fields = fields
        self.mode = mode
        self.report = report
        self.dataset_ids = dataset_ids  # ids anywhere in the dataset
        self.taken: set[str] = set()  # ids given to labels by this import (all samples)

    def field_for(self, kind: str, video: bool) -> str:
        name = self.fields.get(kind) or f"{self.label_field}_{kind}"
        return name[len("frames."):] if name.startswith("frames.") else name

    def place(self, sample: Sample, items: Sequence[tuple[int | None, Imported]], video: bool,
              task_frames: set[int] | None, size: tuple[int, int]) -> Sample:
        """A new ``Sample`` with ``items`` (frame numbers or None) placed into it.

        A label merged into an existing one keeps that one's position in its field (and its
        stored coordinates if they give the same pixels); new labels follow, by ``z_order``.
        """
        data = sample.model_copy(deep=True)
        existing: dict[str, tuple[int | None, str, Any]] = {}  # id -> (frame, field, obj)
        for fname, value in data.fields.items():
            for obj in label_objects(value):
                existing[obj.id] = (None, fname, obj)
        for number, frame in data.frames.items():
            for fname, value in frame.items():
                for obj in label_objects(value):
                    existing[obj.id] = (number, fname, obj)
        used: set[str] = set()
        # tracks continued by provenance: imported track number -> (field, index)
        track_map: dict[int, tuple[str, int]] = {}
        for _, imp in items:
            if imp.track is not None and imp.label_id in existing and imp.track not in track_map:
                _, fname, obj = existing[imp.label_id]
                if getattr(obj, "index", None) is not None:
                    track_map[imp.track] = (fname, obj.index)
        max_index: dict[str, int] = {}
        for _, fname, obj in existing.values():
            idx = getattr(obj, "index", None)
            if idx is not None:
                max_index[fname] = max(max_index.get(fname, 0), idx)
        by_frame_index: dict[tuple[int | None, str, int], str] = {
            (frame_no, fname, obj.index): oid for oid, (frame_no, fname, obj) in existing.items()
            if getattr(obj, "index", None) is not None
        }
        placed: dict[tuple[int | None, str], list[tuple[tuple[int, int, int], Any]]] = {}
        receiving: set[str] = set()
        new_tracks: dict[int, int] = {}
        for seq, (frame_no, imp) in enumerate(items):
            obj = imp.obj
            fname = self.field_for(imp.kind, video)
            position = (1, getattr(obj, "z_order", None) or 0, seq)
            if imp.track is not None:
                if imp.track in track_map:
                    fname, obj.index = track_map[imp.track]
                else:
                    if imp.track not in new_tracks:
                        max_index[fname] = max_index.get(fname, 0) + 1
                        new_tracks[imp.track] = max_index[fname]
                    obj.index = new_tracks[imp.track]
            chosen: str | None = None
            hit = existing.get(imp.label_id or "")
            if hit is not None and hit[0] == frame_no and imp.label_id not in used:
                chosen = imp.label_id
                fname = hit[1]
                position = (0, _position(data, hit), 0)
                keep_geometry(hit[2], obj, *size)
                carry_over(hit[2], obj)
                self.report.merged += 1
            elif imp.track is not None and obj.index is not None:
                prior = by_frame_index.get((frame_no, fname, obj.index))
                if prior is not None and prior not in used:
                    chosen = prior
                    position = (0, _position(data, existing[prior]), 0)
                    keep_geometry(existing[prior][2], obj, *size)
                    carry_over(existing[prior][2], obj)
                    self.report.merged += 1
            if chosen is None and imp.label_id and _LABEL_ID.match(imp.label_id) \
                    and imp.label_id not in self.taken and imp.label_id not in self.dataset_ids:
                chosen = imp.label_id  # a new label keeps the id it carries, if still free
            if chosen is None and not imp.label_id:
                # no provenance (a file made in CVAT): an identical stored label keeps its id
                twin = _twin(existing, frame_no, fname, obj, used, size)
                if twin is not None:
                    chosen = twin
                    position = (0, _position(data, existing[twin]), 0)
                    keep_geometry(existing[twin][2], obj, *size)
                    carry_over(existing[twin][2], obj)
                    self.report.merged += 1
            if chosen is None or chosen in self.taken:
                chosen = new_id()
            obj.id = chosen
            used.add(chosen)
            self.taken.add(chosen)
            receiving.add(fname)
            placed.setdefault((frame_no, fname), []).append((position, obj))
            self.report.labels += 1
        frames_scope: list[int | None] = [None]
        if video:
            frames_scope = list(sorted(task_frames or {f for f, _ in placed if f is not None}))
        for frame_no in frames_scope:
            for fname in sorted(receiving):
                new_objs = [o for _, o in sorted(placed.get((frame_no, fname), []),
                                                 key=lambda po: po[0])]
                target = data.fields if frame_no is None else data.frames.setdefault(frame_no, {})
                old = target.get(fname)
                if self.mode == "merge" and old is not None:
                    # existing labels stay where they are (updated if matched); new ones follow
                    incoming = {o.id: o for o in new_objs}
                    merged = [incoming.pop(o.id, o) for o in label_objects(old)
                              if o.id in incoming or o.id not in used]
                    new_objs = merged + list(incoming.values())
                _assign(target, fname, old, new_objs)
            if frame_no is not None and not data.frames.get(frame_no):
                data.frames.pop(frame_no, None)
        try:
            return Sample.model_validate(data.model_dump(mode="json", by_alias=True))
        except ValidationError as exc:
            raise InputError.at(f"the imported labels do not make a valid sample: {exc}") from None


def _twin(existing: dict[str, tuple[int | None, str, Any]], frame_no: int | None, fname: str,
          obj: Any, used: set[str], size: tuple[int, int]) -> str | None:
    """The id of an unclaimed stored label on the same frame and field that is the same as
    ``obj`` (class, geometry, attributes), if any."""
    for oid, (f, name, stored) in existing.items():
        if (f != frame_no or name != fname or oid in used or type(stored) is not type(obj)
                or getattr(stored, "label", None) != getattr(obj, "label", None)
                or stored.attributes != obj.attributes):
            continue
        if isinstance(obj, Classification) or same_geometry(stored, obj, *size):
            return oid
    return None


def _position(sample: Sample, hit: tuple[int | None, str, Any]) -> int:
    frame_no, fname, obj = hit
    container = sample.fields if frame_no is None else sample.frames.get(frame_no, {})
    objs = label_objects(container.get(fname))
    for i, o in enumerate(objs):
        if o.id == obj.id:
            return i
    return 10**8


def _assign(target: dict[str, Any], fname: str, old: Any, objs: list[Any]) -> None:
    """Set a field to ``objs``, keeping a single-label field single and an emptied container
    an (empty) container of its type."""
    if old is not None and not isinstance(old, tuple(
            t for c in CONTAINERS.values() for t in c[:2])):
        raise InputError.at(f"field {fname!r} holds a value that is not a label of a kind the "
                            "import writes; choose another field with `fields=` / --field")
    if not objs:
        if old is None:
            return
        for container, _single, attr in CONTAINERS.values():
            if isinstance(old, container):
                target[fname] = container(**{attr: []})
                return
        del target[fname]
        return
    kinds = {type(o) for o in objs}
    for container, single, attr in CONTAINERS.values():
        if kinds == {single}:
            if isinstance(old, single) and len(objs) == 1:
                target[fname] = objs[0]
            else:
                target[fname] = container(**{attr: objs})
            return
    names = sorted(t.__name__ for t in kinds)
    raise InputError.at(f"field {fname!r} would mix label types {names}; map the kinds to "
                        "different fields")


# -- the import --------------------------------------------------------------------------------
@dataclass
class _Source:
    name: str
    doc: Document


def _read_sources(source: Path, limits: ZipLimits) -> tuple[list[_Source], list[str]]:
    if is_zip(source):
        docs: list[_Source] = []
        with open_zip(source, limits) as sz:
            members = sz.xml_members()
            if not members:
                raise InputError.at("the zip holds no .xml annotation file", str(source))
            for member in members:
                with sz.open_member(member) as fh:
                    docs.append(_Source(member, read_document(fh, name=f"{source}!{member}")))
            images = sz.image_members()
        return docs, images
    return [_Source(str(source), read_document(source))], []


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
    dry_run: bool = False,
    limits: ZipLimits | None = None,
    progress: Progress = NULL,
) -> ImportReport:
    """Import a CVAT XML file or CVAT zip into the dataset folder ``dataset`` (created if it
    does not exist). See the module docstring for the matching and id rules.

    ``unmatched``: what to do with an ``<image>`` no sample matches: ``"error"`` (CVAT's
    behaviour; the default for an existing dataset), ``"skip"``, or ``"create"`` a sample (the
    default for a new dataset; media come from the zip's ``images/`` when present).
    ``sample``: the video sample to import a video task into.
    ``progress``: where to report reading the XML and writing the label files.
    """
    src = Path(source)
    if not src.is_file():
        raise InputError.at("no such file", str(src))
    root = Path(dataset)
    exists = (root / LABELS_DIR).is_dir() or (root / INFO_FILE).is_file()
    folder = DatasetFolder.open(root) if exists else None
    index = _Index(folder)
    policy: Unmatched = unmatched or ("create" if not index.samples else "error")
    dmap = load_data_map(data_map)
    report = ImportReport()
    placer = _Placer(label_field, fields or {}, mode, report, index.ids)
    with progress.step(f"read {src.name}", None, "samples") as step:
        docs, zip_images = _read_sources(src, limits or ZipLimits())
        staged: dict[str, Sample] = {}
        media_to_extract: dict[str, str] = {}  # zip member -> media path (relative to root)
        for s in docs:
            _import_doc(s, index, dmap, policy, sample, placer, staged, zip_images,
                        media_to_extract, report)
        step.update(len(staged))
    for s in docs:
        report.warnings.extend(str(w) for w in s.doc.warnings)
    # -- commit --------------------------------------------------------------------------------
    for key, new in sorted(staged.items()):
        old = index.samples.get(key)
        if old is None:
            report.created.append(key)
        elif sample_to_bytes(old) != sample_to_bytes(new):
            report.updated.append(key)
        else:
            report.unchanged.append(key)
    if dry_run:
        return report
    target = folder or DatasetFolder.init(root)
    if media_to_extract and extract_media and is_zip(src):
        with open_zip(src, limits or ZipLimits()) as sz:
            for member, rel in sorted(media_to_extract.items()):
                dest = target.root / rel
                if dest.exists():
                    continue
                _extract_to(sz, member, target.root, rel)
                report.media.append(rel)
    written = report.created + report.updated
    with progress.step("write label files", len(written), "files") as step:
        for key in written:
            target.write(key, staged[key])
            step.advance()
    return report


def _extract_to(sz: SafeZip, member: str, root: Path, rel: str) -> None:
    parent = str(PurePosixPath(rel).parent)
    dest_dir = root / parent
    sz.extract(member, dest_dir, arcname_root=member[: len(member) - len(PurePosixPath(member).name)])


def _video_target(doc: Document, index: _Index, dmap: dict[str, str], sample: str | None,
                  staged: dict[str, Sample], policy: Unmatched, diag: Diagnostics
                  ) -> tuple[str, Sample]:
    source_name = doc.meta.task.source if doc.meta and doc.meta.task else None
    key = sample
    if key is None and source_name:
        key = dmap.get(source_name) or dmap.get(_stem(source_name))
        if key is None:
            hits = [k for k in index.videos()
                    if PurePosixPath(index.samples[k].media).name == source_name]
            key = hits[0] if len(hits) == 1 else None
    if key is None and len(index.videos()) == 1:
        key = index.videos()[0]
    if key is not None and key in staged:
        return key, staged[key]
    if key is not None and key in index.samples:
        if not index.samples[key].is_video:
            raise diag.error(f"sample {key!r} is not a video; a video task cannot go there")
        return key, index.samples[key]
    if policy != "create":
        raise diag.error(
            "cannot tell which video sample this video task belongs to: name it with "
            f"`sample=` / --sample, or map {source_name or 'the video'!r} in the data map")
    size = doc.meta.video_size if doc.meta else None
    width = int(size.width) if size and size.width and size.width.isdigit() else 0
    height = int(size.height) if size and size.height and size.height.isdigit() else 0
    if width <= 0 or height <= 0:
        raise diag.error("the video's size is unknown (no <original_size>); cannot create "
                         "its sample")
    name = source_name or "video.mp4"
    key = key or _stem(name)
    task = doc.meta.task if doc.meta else None
    count = None
    if task is not None and task.stop_frame_int is not None:
        count = task.stop_frame_int + 1
    elif task is not None and task.size_int:
        count = task.start_frame_int + (task.size_int - 1) * task.frame_step + 1
    new = Sample(media=f"{index.media_dir}/{name}", metadata=MediaMetadata(
        media_type="video", width=width, height=height, frame_count=count))
    return key, new


def _video_frames(doc: Document, width: int, height: int) -> TaskFrames:
    task = doc.meta.task if doc.meta else None
    start = task.start_frame_int if task else 0
    step = task.frame_step if task else 1
    size = task.size_int if task else None
    if size is None:
        frames = [s.frame or 0 for t in doc.tracks for s in t.shapes] + [i.id for i in doc.images]
        size = (max(frames, default=start) - start) // step + 1
    stop = task.stop_frame_int if task else None
    return TaskFrames.video(size, width, height, start_frame=start, step=step, stop_frame=stop)


def _import_doc(s: _Source, index: _Index, dmap: dict[str, str], policy: Unmatched,
                sample: str | None, placer: _Placer, staged: dict[str, Sample],
                zip_images: list[str], media_to_extract: dict[str, str],
                report: ImportReport) -> None:
    doc = s.doc
    diag = Diagnostics(s.name)
    specs = _specs(doc)
    labels = LabelIndex(specs)
    images = doc.images
    video_task = bool(doc.tracks) or (
        bool(images) and all(_VIDEO_FRAME.match(_stem(i.name)) for i in images)
        and (doc.meta is None or doc.meta.task is None or doc.meta.task.mode == "interpolation"
             or doc.meta.task.source is not None)
    )
    numbered = {int(k): v for k, v in dmap.items() if k.isdigit()}
    mode = doc.meta.task.mode if doc.meta and doc.meta.task else None
    if doc.tracks and not images and (mode == "annotation" or (numbered and sample is None)):
        _import_image_tracks(doc, labels, specs, numbered, index, staged, placer, report, diag)
        return
    if video_task:
        video_key, base = _video_target(doc, index, dmap, sample, staged, policy, diag)
        assert base.metadata is not None
        frames = _video_frames(doc, base.metadata.width, base.metadata.height)
        data = to_labeled_data(doc.items, labels, frames, diag=diag, all_frames=True)
        sizes = [(f.width or 0, f.height or 0) for f in frames.frames]
        imported, warnings = from_cvat(data, specs, sizes)
        report.warnings.extend(warnings)
        items = [(frames.abs(imp.frame) + 1, imp) for imp in imported]
        task_frames = {frames.abs(i) + 1 for i in range(frames.size)}
        staged[video_key] = placer.place(base, items, True, task_frames,
                                         (base.metadata.width, base.metadata.height))
        report.warnings.extend(str(w) for w in diag.warnings)
        return
    if doc.tracks:
        raise diag.error("tracks of an image task need a video sample")
    # images layout of an image task
    frames = TaskFrames()
    targets: list[str | None] = []
    positions: dict[int, int] = {}
    zip_by_name = _zip_image_index(zip_images)
    for img in images:
        positions[id(img)] = len(frames.frames)
        key = _match_image(img, index, dmap)
        if key is None or (key not in index.samples and key not in staged):
            if policy == "error":
                what = f"the data map names sample {key!r}, which does not exist" if key \
                    else "no sample matches it"
                raise diag.error(
                    f"could not match image {img.name!r}: {what}; map it with a data map, or "
                    "import with unmatched='skip' / 'create'", img.line)
            if policy == "skip":
                report.skipped_images.append(img.name)
                targets.append(None)
                frames.frames.append(TaskFrame(img.name, img.width, img.height))
                continue
            name = f"{img.subset}/{img.name}" if img.subset else img.name
            key = key or _stem(name)
            if not img.width or not img.height:
                raise diag.error(f"image {img.name!r} has no width/height; cannot create its "
                                 "sample", img.line)
            media = f"{index.media_dir}/{name}"
            staged[key] = Sample(media=media, metadata=MediaMetadata(
                media_type="image", width=img.width, height=img.height))
            member = zip_by_name.get((img.subset or "", img.name)) \
                or zip_by_name.get(("", img.name))
            if member:
                media_to_extract[member] = media
        targets.append(key)
        base = staged.get(key) or index.samples[key]
        meta = base.metadata
        frames.frames.append(TaskFrame(img.name, meta.width if meta else img.width,
                                       meta.height if meta else img.height))
    usable = [img for img, t in zip(images, targets, strict=True) if t is not None]
    data = to_labeled_data(usable, labels, frames, match_image=lambda im: positions[id(im)],
                           diag=diag)
    sizes = [(f.width or 0, f.height or 0) for f in frames.frames]
    for i, (w, h) in enumerate(sizes):
        if (w <= 0 or h <= 0) and targets[i] is not None:
            raise diag.error(f"the size of image {frames.frames[i].name!r} is unknown",
                             images[i].line)
    imported, warnings = from_cvat(data, specs, sizes)
    report.warnings.extend(warnings)
    per_key: dict[str, list[tuple[int | None, Imported]]] = {}
    for imp in imported:
        target = targets[imp.frame]
        if target is not None:
            per_key.setdefault(target, []).append((None, imp))
    for target in dict.fromkeys(t for t in targets if t is not None):
        current = staged.get(target) or index.samples[target]
        i = targets.index(target)
        staged[target] = placer.place(current, per_key.get(target, []), False, None,
                                      (sizes[i][0], sizes[i][1]))
    report.warnings.extend(str(w) for w in diag.warnings)


def _import_image_tracks(doc: Document, labels: LabelIndex, specs: list[LabelSpec],
                         numbered: dict[int, str], index: _Index, staged: dict[str, Sample],
                         placer: _Placer, report: ImportReport, diag: Diagnostics) -> None:
    """The video layout of an *image* task: its frames have no names in the file, so a data
    map says which sample each absolute frame number is (``{"0": key, ...}``). Track frames
    become plain labels of their images (as CVAT's images layout flattens tracks)."""
    if not numbered:
        raise diag.error(
            "this file is the CVAT for video layout of an image task: its frames carry no image "
            "names, so give a data map from frame numbers to sample keys ({\"0\": key, ...})")
    top = max(numbered)
    frames = TaskFrames()
    for number in range(top + 1):
        key = numbered.get(number)
        sample_obj = staged.get(key or "") or index.samples.get(key or "")
        if key is not None and sample_obj is None:
            raise diag.error(f"the data map names sample {key!r} for frame {number}, which does "
                             "not exist")
        meta = sample_obj.metadata if sample_obj is not None else None
        frames.frames.append(TaskFrame(key or "", meta.width if meta else None,
                                       meta.height if meta else None))
    for track in doc.tracks:
        for shape in track.shapes:
            if shape.frame is not None and not shape.outside and \
                    numbered.get(shape.frame) is None:
                raise diag.error(f"frame {shape.frame} is not in the data map", shape.line)
    data = to_labeled_data(doc.items, labels, frames, diag=diag, all_frames=True)
    sizes = [(f.width or 1, f.height or 1) for f in frames.frames]
    imported, warnings = from_cvat(data, specs, sizes)
    report.warnings.extend(warnings)
    per_key: dict[str, list[tuple[int | None, Imported]]] = {}
    for imp in imported:
        imp.obj.index = None
        imp.obj.keyframe = None
        imp.track = None
        per_key.setdefault(numbered[imp.frame], []).append((None, imp))
    for key in dict.fromkeys(numbered.values()):
        current = staged.get(key) or index.samples[key]
        meta = current.metadata
        staged[key] = placer.place(current, per_key.get(key, []), False, None,
                                   (meta.width, meta.height) if meta else (0, 0))
    report.warnings.extend(str(w) for w in diag.warnings)


def _zip_image_index(members: list[str]) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for m in members:
        rest = m[len(IMAGES_DIR) + 1:]
        out.setdefault(("", rest), m)
        head, _, tail = rest.partition("/")
        if tail:
            out.setdefault((head, tail), m)
    return out


def _match_image(img: Image, index: _Index, dmap: dict[str, str]) -> str | None:
    for probe_name in (img.name, _stem(img.name), str(img.id)):
        if probe_name in dmap:
            return dmap[probe_name]
    if img.subset:
        found = index.match(f"{img.subset}/{img.name}")
        if found:
            return found
    return index.match(img.name)

