"""Export a dataset folder (or some samples and fields) as CVAT XML or a CVAT zip.

Two cases:

* the samples came from a CVAT file (``import-xml`` saved a *record* of it, ``record.py``): the
  export writes that task (or project) again, with its meta, image ids and names in the task's
  frame order, start/stop/step, and the labels as the label files hold them now. An unchanged
  dataset gives back the imported file (``canonical.py``);
* otherwise one file is one new CVAT task: image samples (in key order, named by their media
  path below the media folder, as they would be uploaded) or one video sample (frames
  ``frame_NNNNNN`` by absolute number, ``start_frame``/``frame_step``/``stop_frame`` saying how
  the task is cut; a sample frame number is the absolute frame + 1). The meta lists the labels
  used, with attribute types inferred from the values.

Labels become shapes through ``xmlmap.py``; items are streamed out by ``XmlWriter``. ``label_ids``
adds each label's id as a ``label_id`` attribute (by default for new tasks only: see
docs/cvat-xml.md).
Deterministic: the same dataset gives the same bytes.
"""

from __future__ import annotations

import fnmatch
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from annosync.cvatxml import record as records
from annosync.cvatxml.encoding import NumberStyle
from annosync.cvatxml.export_fast import apply_notes, media_rel
from annosync.cvatxml.export_pool import Done, Job, rendered
from annosync.cvatxml.forks import default_jobs
from annosync.cvatxml.meta import AttributeSpec, LabelMeta, Meta, Size, TaskMeta
from annosync.cvatxml.model import Image, Item, Shape, Tag, Track
from annosync.cvatxml.record import Record, RecordFrame, RecordTask
from annosync.cvatxml.writer import ItemSpill, XmlWriter
from annosync.cvatxml.xmlmap import (
    ELEMENTS,
    LABEL_ID_ATTR,
    PREFIX,
    SHAPE,
    Unexportable,
    copy_shape,
    image_shape,
    label_to_shapes,
    label_to_tag,
    labels_to_track,
    segmentation_to_shapes,
    single_shape_track,
)
from annosync.cvatxml.zipio import ANNOTATIONS_XML, IMAGES_DIR, ZipWriter
from annosync.dataset.folder import DatasetFolder
from annosync.dataset.media import probe
from annosync.errors import InputError, StateError
from annosync.model.labels import (
    Classification,
    Detection,
    Keypoint,
    Segmentation,
    label_objects,
)
from annosync.model.sample import Sample
from annosync.progress import NULL, Progress, Step

Layout = Literal["images", "video"]


@dataclass
class ExportReport:
    """What an export wrote."""

    files: list[Path] = field(default_factory=list)
    samples: int = 0
    frames: int = 0
    shapes: int = 0
    tracks: int = 0
    tags: int = 0
    record: str | None = None
    warnings: list[str] = field(default_factory=list)


def _open(dataset: str | os.PathLike[str] | DatasetFolder) -> DatasetFolder:
    return dataset if isinstance(dataset, DatasetFolder) else DatasetFolder.open(dataset)


def select_keys(folder: DatasetFolder, samples: Iterable[str] | None) -> list[str]:
    """Sample keys, all or those named (exact keys or ``fnmatch`` patterns), sorted."""
    all_keys = list(folder.keys())
    if samples is None:
        return all_keys
    wanted = list(samples)
    chosen: list[str] = []
    for pattern in wanted:
        hits = [k for k in all_keys if k == pattern or fnmatch.fnmatchcase(k, pattern)]
        if not hits:
            raise InputError.at(f"no sample matches {pattern!r}", str(folder.root))
        chosen.extend(h for h in hits if h not in chosen)
    return sorted(chosen)


def _media_name(folder: DatasetFolder, sample: Sample) -> str:
    return media_rel(folder.info.media_dir, sample.media)


def _size(folder: DatasetFolder, key: str, sample: Sample) -> tuple[int, int]:
    meta = sample.metadata
    if meta is None:
        path = folder.root / sample.media
        if not path.is_file():
            raise InputError.at(
                "the sample has no metadata (width/height) and its media is missing; "
                "run `annosync scan` or add metadata", str(folder.label_path(key)))
        meta = probe(path)
    return meta.width, meta.height


# -- labels of a frame -------------------------------------------------------------------------
class _Values:
    """The distinct values an attribute takes (by type and value, so ``True`` and ``1`` stay
    apart): all ``_attribute_spec`` needs (types, min, max). A list of every value grew with
    the number of labels (100 MB for a million)."""

    def __init__(self) -> None:
        self._distinct: dict[tuple[type, Any], Any] = {}
        self._other: list[Any] = []  # unhashable values, kept as they come

    def add(self, value: Any) -> None:
        try:
            self._distinct.setdefault((type(value), value), value)
        except TypeError:
            self._other.append(value)

    def values(self) -> list[Any]:
        return [*self._distinct.values(), *self._other]


class _Labels:
    """Turns the labels of frames into XML shapes and tags, collecting what the meta needs."""

    def __init__(self, fields: set[str] | None, label_ids: bool, report: ExportReport,
                 mask_targets: dict[int, str] | None = None,
                 root: Path | None = None) -> None:
        self.fields = fields
        self.mask_targets = mask_targets
        self.root = root
        self.progress: Progress = NULL
        self.workers = 1  # processes rendering label files (export_pool.py)
        self.label_ids = label_ids
        self.report = report
        self.used: dict[str, dict[str, _Values]] = {}  # label -> attribute -> values
        self.kinds: dict[str, set[str]] = {}  # label -> shape kinds
        self.elements: dict[str, list[str]] = {}  # skeleton -> element labels
        self._warned: set[str] = set()

    def warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.report.warnings.append(message)

    def objects(self, fields: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for name, value in sorted(fields.items()):
            if self.fields is None or f"{prefix}{name}" in self.fields:
                out.extend((f"{prefix}{name}", obj) for obj in label_objects(value))
        return out

    def note(self, obj: Any) -> None:
        attrs = self.used.get(obj.label)
        if attrs is None:
            attrs = self.used[obj.label] = {}
        labels_attrs = obj.attributes
        for k, v in labels_attrs.items():
            if v is not None and not k.startswith(PREFIX):
                seen = attrs.get(k)
                if seen is None:
                    seen = attrs[k] = _Values()
                seen.add(v)
        if labels_attrs.get(SHAPE) == "skeleton" and isinstance(labels_attrs.get(ELEMENTS),
                                                                str):
            names = self.elements.setdefault(obj.label, [])
            for n in str(obj.attributes[ELEMENTS]).split(";"):
                if n not in names:
                    names.append(n)

    def shapes(self, field_name: str, obj: Any, w: int, h: int,
               box: list[float] | None = None) -> list[Shape]:
        if isinstance(obj, Segmentation):
            return self.segmentation(field_name, obj, w, h)
        try:
            made = label_to_shapes(obj, w, h, label_id=self.label_ids, box=box)
        except Unexportable as exc:
            if isinstance(obj, Segmentation):
                self.warn(f"{field_name}: segmentation labels are written as masks only with "
                          "--mask-targets; not exported")
            else:
                self.warn(f"{field_name}: a label with no CVAT form ({exc}) not exported")
            return []
        self.note(obj)
        if isinstance(obj, Keypoint) and obj.attributes.get(SHAPE) != "skeleton" and \
                None in obj.points:
            self.warn(f"{field_name}: keypoints {obj.id}: missing (null) points are not "
                      "exported")
        for s in made:
            self.kinds.setdefault(obj.label, set()).add(s.kind)
        return made

    def segmentation(self, field_name: str, obj: Segmentation, w: int, h: int) -> list[Shape]:
        if self.mask_targets is None:
            self.warn(f"{field_name}: segmentation labels are written as mask shapes only with "
                      "mask targets (--mask-targets 1=road,2=car); not exported")
            return []
        mask = None
        if obj.mask is None and obj.mask_path and self.root is not None:
            mask = _read_index_mask(self.root / obj.mask_path)
        try:
            made = segmentation_to_shapes(obj, w, h, self.mask_targets, mask)
        except Unexportable as exc:
            self.warn(f"{field_name}: segmentation not exported ({exc})")
            return []
        for s in made:
            self.kinds.setdefault(s.label or "", set()).add("mask")
            self.used.setdefault(s.label or "", {})
        return made

    def frame(self, labels: list[tuple[str, Any]], w: int, h: int) -> tuple[list[Shape],
                                                                             list[Tag]]:
        """Shapes (by ``z_order``, stable) and tags of one frame, as the images layout has."""
        from annosync.cvatxml.pixvec import boxes_px  # numpy: only for exporting

        shapes: list[Shape] = []
        tags: list[Tag] = []
        boxes = iter(boxes_px([o.bounding_box for _, o in labels if type(o) is Detection], w, h))
        for name, obj in labels:
            if isinstance(obj, Classification):
                self.note(obj)
                tags.append(label_to_tag(obj, label_id=self.label_ids))
            else:
                box = next(boxes) if type(obj) is Detection else None
                shapes.extend(image_shape(s) for s in self.shapes(name, obj, w, h, box))
        shapes.sort(key=lambda s: s.z_order or 0)
        return shapes, tags


def _read_index_mask(path: Path) -> Any:
    import numpy as np
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as img:
            return np.asarray(img.convert("L") if img.mode not in ("L", "P", "I") else img)
    except (OSError, PILImage.DecompressionBombError) as exc:
        raise InputError.at(f"cannot read segmentation mask: {exc}", str(path)) from None


def parse_mask_targets(value: str | dict[Any, Any] | None) -> dict[int, str] | None:
    """``"1=road,2=car"``, a JSON/YAML file of ``{1: road}``, or a dict -> {value: label}."""
    if value is None:
        return None
    if isinstance(value, dict):
        data: Any = value
    elif "=" in value or not Path(value).is_file():
        data = {}
        for part in value.split(","):
            k, sep, v = part.partition("=")
            if not sep or not k.strip().isdigit() or not v.strip():
                raise InputError.at(f"mask targets are VALUE=LABEL pairs, got {part!r}")
            data[k.strip()] = v.strip()
    else:
        import yaml

        try:
            data = yaml.safe_load(Path(value).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise InputError.at(f"cannot read mask targets: {exc}", value) from None
    if not isinstance(data, dict):
        raise InputError.at("mask targets are a mapping {pixel value: label}", str(value))
    out: dict[int, str] = {}
    for k, v in data.items():
        try:
            out[int(k)] = str(v)
        except (TypeError, ValueError):
            raise InputError.at(f"mask target {k!r} is not a pixel value", str(value)) from None
    return out


# -- meta --------------------------------------------------------------------------------------
def _attribute_spec(name: str, values: list[Any]) -> AttributeSpec:
    if values and all(isinstance(v, bool) for v in values):
        return AttributeSpec(name=name, mutable="True", input_type="checkbox",
                             default_value="false", values="false")
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        lo, hi = min(values), max(values)
        return AttributeSpec(name=name, mutable="True", input_type="number",
                             default_value=str(math.floor(lo)),
                             values="\n".join([str(math.floor(lo)), str(math.ceil(hi)), "1"]))
    return AttributeSpec(name=name, mutable="True", input_type="text", default_value="",
                         values="")


def _label_type(kinds: set[str]) -> str:
    if kinds == {"skeleton"}:
        return "skeleton"
    return "any"


def _new_labels(lab: _Labels, existing: dict[str, LabelMeta]) -> list[LabelMeta]:
    """Labels (and attributes) the frames use that ``existing`` lacks, appended to it."""
    added: list[LabelMeta] = []
    for name in sorted(set(lab.used) | set(lab.kinds)):
        spec = existing.get(name)
        if spec is None:
            spec = LabelMeta(name=name, color="", type=_label_type(lab.kinds.get(name, set())),
                             attributes=[])
            if spec.type == "skeleton":
                spec.svg = ""
            existing[name] = spec
            added.append(spec)
            for sub in lab.elements.get(name, []):
                added.append(LabelMeta(name=sub, color="", type="points", attributes=[],
                                       parent=name))
        have = {a.name for a in spec.attributes or []}
        new = [_attribute_spec(attr, values)
               for attr, values in sorted((a, v.values()) for a, v in lab.used.get(name, {}).items())
               if attr not in have]
        if lab.label_ids and LABEL_ID_ATTR not in have:
            new.insert(0, AttributeSpec(name=LABEL_ID_ATTR, mutable="True", input_type="text",
                                        default_value="", values=""))
        if new:
            spec.attributes = (spec.attributes or []) + new
    return added


def _task_meta(name: str, size: int, mode: str, start: int, stop: int, step: int,
               labels: list[LabelMeta], video: tuple[int, int, str] | None) -> Meta:
    t = TaskMeta(
        id="", name=name, size=str(size), mode=mode, overlap="0", bugtracker="", created="",
        updated="", subset="default", start_frame=str(start), stop_frame=str(stop),
        frame_filter="" if step == 1 else f"step={step}", segments=[], owner="", assignee="",
        labels=labels,
    )
    if video is not None:
        t.original_size = Size(width=str(video[0]), height=str(video[1]))
        t.source = video[2]
    return Meta(kind="task", task=t, dumped="")


# -- the direct path (export_fast.py) ---------------------------------------------------------
#: False: every sample goes the general way (the reference, for tests)
_FAST = True


@dataclass
class _Text:
    """An ``<image>`` already rendered by the direct path (UTF-8), with its counts."""

    data: bytes
    shapes: int
    tags: int


def _direct(lab: _Labels, layout: str) -> bool:
    return _FAST and layout == "images" and lab.mask_targets is None


def _job(folder: DatasetFolder, key: str | None, spec: tuple[Any, ...]) -> Job:
    """A label file for the direct path (``None``: the general path says what is wrong)."""
    if key is None:
        return None
    try:
        return str(folder.label_path(key)), spec
    except InputError:
        return None


def _results(lab: _Labels, jobs: Iterable[Job], numbers: NumberStyle, workers: int,
             size: int) -> Iterator[Done]:
    """What the direct path made of each job, in order (``None``: not made), its notes
    applied to ``lab`` as they come."""
    for done, notes in rendered(jobs, workers=workers, fields=lab.fields,
                                label_ids=lab.label_ids, numbers=numbers, size=size):
        if notes:
            apply_notes(notes, lab.used, lab.kinds, _Values)
        yield done


# -- writing -----------------------------------------------------------------------------------
def _write(target: Path, items: Iterator[Item | _Text], meta_of: Callable[[], Meta | None],
           numbers: NumberStyle, as_zip: bool,
           media: list[tuple[str, Path]] | Callable[[], list[tuple[str, Path]]],
           version: str | None = "1.1") -> None:
    """Items are produced first (they decide the meta's labels) and spilled to a temporary
    file as they come (``ItemSpill``: memory stays flat), then written after the meta."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with ItemSpill(numbers, target.parent) as spill:
        for item in items:
            if isinstance(item, _Text):
                spill.write_rendered(item.data)
            else:
                spill.write(item)
        spill.finish()
        meta = meta_of()
        files = media() if callable(media) else media
        if as_zip:
            with ZipWriter(target) as zw:
                with zw.open(ANNOTATIONS_XML) as fh, \
                        XmlWriter(fh, meta=meta, numbers=numbers, version=version) as w:
                    w.write_spilled(spill)
                for arcname, path in files:
                    zw.add_file(arcname, path)
        else:
            with XmlWriter(target, meta=meta, numbers=numbers, version=version) as w:
                w.write_spilled(spill)


def _count(report: ExportReport, items: Iterable[Item | _Text], step: Step | None = None
           ) -> Iterator[Item | _Text]:
    for item in items:
        if step is not None:
            step.advance()
        if isinstance(item, _Text):
            report.frames += 1
            report.shapes += item.shapes
            report.tags += item.tags
        elif isinstance(item, Image):
            report.frames += 1
            report.shapes += len(item.shapes)
            report.tags += len(item.tags)
        else:
            report.tracks += 1
            report.shapes += len(item.shapes)
        yield item


def export_xml(
    dataset: str | os.PathLike[str] | DatasetFolder,
    output: str | os.PathLike[str],
    *,
    layout: Layout | None = None,
    samples: Iterable[str] | None = None,
    fields: Iterable[str] | None = None,
    as_zip: bool | None = None,
    include_media: bool = False,
    numbers: NumberStyle = "exact",
    start_frame: int | None = None,
    frame_step: int | None = None,
    stop_frame: int | None = None,
    task_name: str | None = None,
    label_ids: bool | None = None,
    record: str | None = None,
    mask_targets: str | dict[Any, Any] | None = None,
    progress: Progress = NULL,
    jobs: int | None = None,
) -> ExportReport:
    """Write the selected samples' labels as "CVAT for images 1.1" (``layout="images"``) or
    "CVAT for video 1.1" (``layout="video"``) XML, or a zip of it (``as_zip``, default: when
    ``output`` ends in ``.zip``; ``include_media`` adds ``images/``).

    ``record``: the imported CVAT file to write again (its name under ``.annosync/cvat/``),
    ``"none"`` for a new task; default: the one record the selected samples belong to, if any.
    ``fields``: label field paths to export (``gt``, ``frames.gt``); default: the record's
    fields, else all label fields. ``start_frame``/``frame_step``/``stop_frame``: how a new
    video task is cut from its video. ``label_ids``: add a ``label_id`` attribute to every
    shape and tag (the provenance key ``import-xml`` merges by); default: on for a new task,
    off when a recorded CVAT task is written again (the file then equals CVAT's). ``mask_targets``: pixel
    value -> label of segmentations (``"1=road,2=car"``, a file, or a dict); segmentations are
    written as one ``mask`` shape per named value, and not at all without targets.
    ``progress``: where to report the writing (one step per output file). ``jobs``: worker
    processes that read and render label files (default: the CPUs, up to 4; 1: none); the
    output is the same bytes either way.
    """
    folder = _open(dataset)
    out = Path(output)
    zip_out = out.suffix.lower() == ".zip" if as_zip is None else as_zip
    keys = select_keys(folder, samples)
    if not keys:
        raise StateError(f"{folder.root}: no samples to export")
    report = ExportReport()
    rec: Record | None = None
    if record != "none":
        rec = records.find(folder.root, record, set(keys))
    field_set = set(fields) if fields is not None else (
        set(rec.fields) if rec is not None and rec.fields else None)
    ids = label_ids if label_ids is not None else rec is None
    lab = _Labels(field_set, ids, report, parse_mask_targets(mask_targets), folder.root)
    lab.progress = progress
    lab.workers = default_jobs() if jobs is None else max(1, jobs)
    if rec is not None:
        report.record = rec.name
        _export_record(folder, rec, set(keys), out, layout or rec.layout, lab, zip_out, include_media, numbers, report)
        return report
    first = folder.read(keys[0])
    if not first.is_video:  # images: streamed, one sample read at a time
        report.samples = len(keys)
        _export_images(folder, keys, out, layout or "images", lab, zip_out, include_media,
                       numbers, task_name, report)
        return report
    loaded = [(k, first if i == 0 else folder.read(k)) for i, k in enumerate(keys)]
    videos = [(k, s) for k, s in loaded if s.is_video]
    if len(videos) != len(loaded):
        raise _mixed(folder)
    report.samples = len(loaded)
    if len(videos) > 1 and out.suffix.lower() in (".xml", ".zip"):
        raise InputError.at(
            f"{len(videos)} video samples selected but one CVAT task holds one video: "
            "give an output folder (one file per video) or select one video", str(out))
    for key, smp in videos:
        target = out
        if len(videos) > 1 or out.is_dir():
            target = out / f"{key}{'.zip' if zip_out else '.xml'}"
        _export_video(folder, key, smp, target, layout or "images", lab, zip_out, numbers,
                      start_frame, frame_step, stop_frame, task_name, report)
    return report


def _mixed(folder: DatasetFolder) -> InputError:
    return InputError.at(
        "a CVAT task holds images or one video, not both: select image samples or video "
        "samples", str(folder.root))


@dataclass
class _MediaRef:
    """Where a sample's media is (all ``_media_list`` needs: not the whole sample)."""

    media: str


def _media_list(folder: DatasetFolder, include: bool, entries: list[tuple[str, Any]]
                ) -> list[tuple[str, Path]]:
    media: list[tuple[str, Path]] = []
    if not include:
        return media
    for arcname, smp in entries:
        path = folder.root / smp.media
        if not path.is_file():
            raise InputError.at("media file is missing; cannot include it", str(path))
        media.append((f"{IMAGES_DIR}/{arcname}", path))
    return media


def _export_images(folder: DatasetFolder, keys: list[str], out: Path, layout: str,
                   lab: _Labels, zip_out: bool, include_media: bool, numbers: NumberStyle,
                   task_name: str | None, report: ExportReport) -> None:
    size = len(keys)
    media: list[tuple[str, Any]] = []
    media_dir = folder.info.media_dir
    if _direct(lab, layout):
        done_of: Iterator[Done] = _results(
            lab, (_job(folder, key, ("images", i, media_dir)) for i, key in enumerate(keys)),
            numbers, lab.workers, size)
    else:
        done_of = repeat(None)

    def items() -> Iterator[Item | _Text]:
        for (i, key), done in zip(enumerate(keys), done_of, strict=False):
            if done is not None:
                path, data, n_shapes, n_tags = done
                if include_media:
                    media.append((media_rel(media_dir, path), _MediaRef(path)))
                yield _Text(data, n_shapes, n_tags)
                continue
            smp = folder.read(key)
            if smp.is_video:
                raise _mixed(folder)
            w, h = _size(folder, key, smp)
            name = _media_name(folder, smp)
            if include_media:
                media.append((name, _MediaRef(smp.media)))
            shapes, tags = lab.frame(lab.objects(smp.fields), w, h)
            del smp
            if layout == "images":
                yield Image(id=i, name=name, width=w, height=h, shapes=shapes, tags=tags)
            else:
                if tags:
                    lab.warn(f"{len(tags)} tag(s) not written: the CVAT for video layout has "
                             "no tags")
                for s in shapes:
                    yield single_shape_track(s, i, i + 1 if i + 1 < size else None)

    def meta() -> Meta:
        labels: dict[str, LabelMeta] = {}
        return _task_meta(task_name or folder.name, size, "annotation", 0, max(size - 1, 0), 1,
                          _new_labels(lab, labels), None)

    with lab.progress.step(f"write {out.name}", None, "items") as step:
        _write(out, _numbered(_count(report, items(), step)), meta, numbers, zip_out,
               lambda: _media_list(folder, include_media, media))
    report.files.append(out)


def _numbered(items: Iterable[Item | _Text]) -> Iterator[Item | _Text]:
    """Track ids count from 0 in file order, as CVAT's dumper numbers them."""
    n = 0
    for item in items:
        if isinstance(item, Track):
            item.id = n
            n += 1
        yield item


def _video_frames(smp: Sample, start: int, step: int, stop: int) -> Iterator[tuple[int, int]]:
    """(absolute frame, sample frame number) of the task's frames."""
    del smp
    for f in range(start, stop + 1, step):
        yield f, f + 1


def _video_items(lab: _Labels, smp: Sample, w: int, h: int, task: RecordTask, layout: str,
                 key: str, project: tuple[int | None, str | None] | None) -> Iterator[Item]:
    """The items of one video task: every task frame (images layout) or its tracks."""
    stop = task.last
    frames = smp.frames
    task_frames = set(range(task.start + 1, stop + 2, task.step))
    off = sorted(n for n in frames if n not in task_frames and lab.objects(frames[n], "frames."))
    if off:
        lab.warn(f"{key}: labels on {len(off)} frame(s) outside the task (start {task.start}, "
                 f"stop {stop}, step {task.step}) not exported")
    tid, subset = project or (None, None)
    if layout == "images":
        for absolute, number in _video_frames(smp, task.start, task.step, stop):
            shapes, tags = lab.frame(lab.objects(frames.get(number, {}), "frames."), w, h)
            yield Image(id=absolute, name=f"frame_{absolute:06d}", subset=subset, task_id=tid,
                        width=w, height=h, shapes=shapes, tags=tags)
        return
    tracks: dict[tuple[str, int], list[tuple[int, Any, int, int]]] = {}
    singles: list[tuple[int, Shape]] = []
    n_tags = 0
    for absolute, number in _video_frames(smp, task.start, task.step, stop):
        for name, obj in lab.objects(frames.get(number, {}), "frames."):
            if isinstance(obj, Classification):
                n_tags += 1
            elif getattr(obj, "index", None) is not None and not isinstance(obj, Segmentation):
                tracks.setdefault((name, obj.index), []).append((absolute, obj, w, h))
            else:
                singles.extend((absolute, s) for s in lab.shapes(name, obj, w, h))
    if n_tags:
        lab.warn(f"{key}: {n_tags} tag(s) not written: the CVAT for video layout has no tags")
    for (name, index), entries in sorted(tracks.items()):
        for _, obj, _, _ in entries:
            lab.note(obj)
            lab.kinds.setdefault(obj.label, set())
        try:
            track = labels_to_track(entries, next_frame=task.next_frame, label_id=lab.label_ids,
                                    warn=lab.warn)
        except (Unexportable, ValueError) as exc:
            lab.warn(f"{key}: {name} track {index} not exported: {exc}")
            continue
        if track is not None:
            for s in track.shapes:
                lab.kinds[track.label].add(s.kind)
            track.task_id, track.subset = tid, subset
            yield track
    for absolute, s in singles:
        t = single_shape_track(copy_shape(s), absolute, task.next_frame(absolute))
        t.task_id, t.subset = tid, subset
        yield t


def _export_video(folder: DatasetFolder, key: str, smp: Sample, out: Path, layout: str,
                  lab: _Labels, zip_out: bool, numbers: NumberStyle, start_frame: int | None,
                  frame_step: int | None, stop_frame: int | None, task_name: str | None,
                  report: ExportReport) -> None:
    w, h = _size(folder, key, smp)
    meta_in = smp.metadata
    start = start_frame or 0
    step = frame_step or 1
    last = max(smp.frames, default=1) - 1
    total = meta_in.frame_count if meta_in and meta_in.frame_count else last + 1
    stop = total - 1 if stop_frame is None else min(stop_frame, total - 1)
    if start > stop:
        raise InputError.at(f"start_frame {start} is past the video's last frame {stop}",
                            str(folder.label_path(key)))
    stop = start + (stop - start) // step * step
    size = (stop - start) // step + 1
    task = RecordTask(start=start, step=step, stop=stop, size=size)
    sample_level = lab.objects(smp.fields)
    if sample_level:
        lab.warn(f"{key}: {len(sample_level)} sample-level label(s) of a video have no CVAT "
                 "form; not exported")

    def meta() -> Meta:
        return _task_meta(task_name or key, size, "interpolation", start, stop, step,
                          _new_labels(lab, {}), (w, h, PurePosixPath(smp.media).name))

    items = _video_items(lab, smp, w, h, task, layout, key, None)
    with lab.progress.step(f"write {out.name}", None, "items") as bar:
        _write(out, _numbered(_count(report, items, bar)), meta, numbers, zip_out, [])
    report.files.append(out)


# -- a recorded task or project ----------------------------------------------------------------
def _export_record(folder: DatasetFolder, rec: Record, keys: set[str], out: Path, layout: str,
                   lab: _Labels, zip_out: bool, include_media: bool, numbers: NumberStyle,
                   report: ExportReport) -> None:
    meta = rec.meta()
    project = rec.kind == "project"
    cache: dict[str, Sample] = {}

    def sample(key: str) -> Sample:
        if key not in cache:
            cache.clear() if len(cache) > 1 else None
            cache[key] = folder.read(key)
        return cache[key]

    used = sorted(rec.keys() & keys)
    report.samples = len(used)
    extra = sorted(keys - rec.keys())
    if extra:
        lab.warn(f"{len(extra)} selected sample(s) are not frames of the recorded task "
                 f"{rec.name!r}; not exported (export them with --record none)")
    media: list[tuple[str, Any]] = []

    def image_rows(task: RecordTask) -> Iterator[RecordFrame]:
        return (row for row in task.frames if row.key is None or row.key in keys)

    def is_video(task: RecordTask) -> bool:
        return task.video is not None and not task.frames

    if _direct(lab, layout):
        done_of: Iterator[Done] = _results(lab, (
            _job(folder, row.key, ("record", row.id, row.name, row_subset(task, project),
                                   task.id if project else None, row.width, row.height))
            if row.frame is None else None
            for task in rec.tasks if not is_video(task) for row in image_rows(task)),
            numbers, lab.workers, len(used))
    else:
        done_of = repeat(None)

    def items() -> Iterator[Item | _Text]:
        for task in rec.tasks:
            ident = (task.id, task.subset) if project else None
            if is_video(task):
                if task.video not in keys:
                    continue
                smp = sample(task.video)
                w, h = _size(folder, task.video, smp)
                yield from _video_items(lab, smp, w, h, task, layout, task.video, ident)
                continue
            for row, done in zip(image_rows(task), done_of, strict=False):
                if done is not None:
                    path, data, n_shapes, n_tags = done
                    if include_media:
                        media.append((f"{task.subset}/{row.name}" if project and task.subset
                                      else row.name, _MediaRef(path)))
                    yield _Text(data, n_shapes, n_tags)
                    continue
                row_sample = sample(row.key) if row.key is not None else None
                w = row.width or 0
                h = row.height or 0
                labels: list[tuple[str, Any]] = []
                if row_sample is not None:
                    sw, sh = _size(folder, row.key or "", row_sample)
                    w, h = (w or sw), (h or sh)
                    if row.frame is None:
                        labels = lab.objects(row_sample.fields)
                        if include_media:
                            media.append((f"{task.subset}/{row.name}" if project and task.subset
                                          else row.name, _MediaRef(row_sample.media)))
                    else:
                        labels = lab.objects(row_sample.frames.get(row.frame, {}), "frames.")
                shapes, tags = lab.frame(labels, w or 1, h or 1)
                if layout == "images":
                    yield Image(id=row.id, name=row.name, subset=row_subset(task, project),
                                task_id=task.id if project else None, width=row.width,
                                height=row.height, shapes=shapes, tags=tags)
                else:
                    if tags:
                        lab.warn(f"{len(tags)} tag(s) not written: the CVAT for video layout "
                                 "has no tags")
                    for s in shapes:
                        t = single_shape_track(s, row.id, task.next_frame(row.id))
                        if project:
                            t.task_id, t.subset = task.id, task.subset
                        yield t

    def meta_of() -> Meta | None:
        if meta is None:
            return _task_meta(rec.name, 0, "annotation", 0, 0, 1, _new_labels(lab, {}), None)
        target = meta.project if meta.project is not None else meta.task
        if target is not None:
            if target.labels is None:
                target.labels = []
            existing = {lm.name or "": lm for lm in target.labels if not lm.parent}
            added = _new_labels(lab, existing)
            if added:
                lab.warn(f"label(s) not in the recorded meta added: "
                         f"{', '.join(a.name or '' for a in added if not a.parent)}")
            target.labels.extend(added)
        return meta

    with lab.progress.step(f"write {out.name}", None, "items") as step:
        _write(out, _numbered(_count(report, items(), step)), meta_of, numbers, zip_out,
               lambda: _media_list(folder, include_media, media) if include_media else [],
               version=rec.version)
    report.files.append(out)


def row_subset(task: RecordTask, project: bool) -> str | None:
    return task.subset if project else None
