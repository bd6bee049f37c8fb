"""Export a dataset folder (or some samples and fields) as CVAT XML or a CVAT zip.

One file is one CVAT task: image samples become the frames of an image task (in key order, named
by their media path below the media folder, as they would be uploaded), a video sample a video
task (frames ``frame_NNNNNN``, absolute = ``start_frame + idx*step``, a sample frame number being
``absolute + 1``). Several video samples need an output folder (one file each), since a CVAT task
holds one video. Labels go through ``labels_map`` (annosync labels -> CVAT JSON) and ``bridge``
(CVAT JSON -> XML items, exactly as CVAT's dumper) and are streamed out by ``XmlWriter``.
The output is deterministic: no timestamps, ids only where the dataset has them.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from annosync.cvatxml.bridge import (
    LabelIndex,
    TaskFrame,
    TaskFrames,
    task_meta,
    to_images,
    to_tracks,
)
from annosync.cvatxml.encoding import NumberStyle
from annosync.cvatxml.labels_map import FrameLabels, to_cvat
from annosync.cvatxml.model import Item
from annosync.cvatxml.writer import XmlWriter
from annosync.cvatxml.zipio import ANNOTATIONS_XML, IMAGES_DIR, ZipWriter
from annosync.dataset.folder import DatasetFolder
from annosync.dataset.media import probe
from annosync.errors import InputError, StateError
from annosync.model.labels import label_objects
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
    media = PurePosixPath(sample.media)
    media_dir = PurePosixPath(folder.info.media_dir)
    try:
        return media.relative_to(media_dir).as_posix()
    except ValueError:
        return media.as_posix()


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


def _field_ok(path: str, fields: set[str] | None) -> bool:
    return fields is None or path in fields


def _sample_labels(sample: Sample, fields: set[str] | None) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name, value in sorted(sample.fields.items()):
        if _field_ok(name, fields):
            out.extend((name, obj) for obj in label_objects(value))
    return out


def _write(target: Path, items: Iterator[Item], meta: Any, numbers: NumberStyle,
           as_zip: bool, media: list[tuple[str, Path]]) -> None:
    if as_zip:
        with ZipWriter(target) as zw:
            with zw.open(ANNOTATIONS_XML) as fh, XmlWriter(fh, meta=meta, numbers=numbers) as w:
                w.write_all(items)
            for arcname, path in media:
                zw.add_file(arcname, path)
    else:
        with XmlWriter(target, meta=meta, numbers=numbers) as w:
            w.write_all(items)


def _count(report: ExportReport, items: Iterable[Item], step: Step) -> Iterator[Item]:
    from annosync.cvatxml.model import Image

    for item in items:
        step.advance()
        if isinstance(item, Image):
            report.frames += 1
            report.shapes += len(item.shapes)
            report.tags += len(item.tags)
        else:
            report.tracks += 1
        yield item


def export_xml(
    dataset: str | os.PathLike[str] | DatasetFolder,
    output: str | os.PathLike[str],
    *,
    layout: Layout = "images",
    samples: Iterable[str] | None = None,
    fields: Iterable[str] | None = None,
    as_zip: bool | None = None,
    include_media: bool = False,
    numbers: NumberStyle = "exact",
    start_frame: int = 0,
    frame_step: int = 1,
    task_name: str | None = None,
    progress: Progress = NULL,
) -> ExportReport:
    """Write the selected samples' labels as "CVAT for images 1.1" (``layout="images"``) or
    "CVAT for video 1.1" (``layout="video"``) XML, or a zip of it (``as_zip``, default: when
    ``output`` ends in ``.zip``; ``include_media`` adds ``images/``).

    ``fields``: label field paths to export (``gt``, ``frames.gt``); default all label fields.
    ``start_frame``/``frame_step``: how the video task was (or will be) cut from the video.
    ``progress``: where to report the writing (one step per output file).
    """
    folder = _open(dataset)
    out = Path(output)
    zip_out = out.suffix.lower() == ".zip" if as_zip is None else as_zip
    field_set = set(fields) if fields is not None else None
    keys = select_keys(folder, samples)
    if not keys:
        raise StateError(f"{folder.root}: no samples to export")
    report = ExportReport()
    loaded = [(k, folder.read(k)) for k in keys]
    videos = [(k, s) for k, s in loaded if s.is_video]
    images = [(k, s) for k, s in loaded if not s.is_video]
    if videos and images:
        raise InputError.at(
            "a CVAT task holds images or one video, not both: select image samples or video "
            "samples", str(folder.root))
    report.samples = len(loaded)
    if images:
        with progress.step(f"write {out.name}", len(images) if layout == "images" else None,
                           "images" if layout == "images" else "items") as step:
            _export_images(folder, images, out, layout, field_set, zip_out, include_media,
                           numbers, task_name, report, step)
    else:
        if len(videos) > 1 and out.suffix.lower() in (".xml", ".zip"):
            raise InputError.at(
                f"{len(videos)} video samples selected but one CVAT task holds one video: "
                "give an output folder (one file per video) or select one video", str(out))
        for key, sample in videos:
            target = out
            if len(videos) > 1 or out.is_dir():
                target = out / f"{key}{'.zip' if zip_out else '.xml'}"
            with progress.step(f"write {target.name}", None, "items") as step:
                _export_video(folder, key, sample, target, layout, field_set, zip_out, numbers,
                              start_frame, frame_step, task_name, report, step)
    return report


def _export_images(folder: DatasetFolder, images: list[tuple[str, Sample]], out: Path,
                   layout: Layout, fields: set[str] | None, zip_out: bool, include_media: bool,
                   numbers: NumberStyle, task_name: str | None, report: ExportReport,
                   step: Step) -> None:
    frames = TaskFrames()
    task: list[FrameLabels] = []
    media: list[tuple[str, Path]] = []
    for i, (key, sample) in enumerate(images):
        w, h = _size(folder, key, sample)
        name = _media_name(folder, sample)
        frames.frames.append(TaskFrame(name, w, h))
        task.append(FrameLabels(i, w, h, _sample_labels(sample, fields)))
        if include_media:
            path = folder.root / sample.media
            if not path.is_file():
                raise InputError.at("media file is missing; cannot include it", str(path))
            media.append((f"{IMAGES_DIR}/{name}", path))
    specs, data, warnings = to_cvat(task, size=frames.size)
    report.warnings.extend(warnings)
    labels = LabelIndex(specs)
    meta = task_meta(labels, frames, name=task_name or folder.name, mode="annotation")
    if layout == "video" and data.tags:
        report.warnings.append(
            f"{len(data.tags)} tag(s) not written: the CVAT for video layout has no tags")
    items = to_images(data, labels, frames) if layout == "images" else to_tracks(data, labels,
                                                                                 frames)
    _write(out, _count(report, items, step), meta, numbers, zip_out, media)
    report.files.append(out)


def _export_video(folder: DatasetFolder, key: str, sample: Sample, out: Path, layout: Layout,
                  fields: set[str] | None, zip_out: bool, numbers: NumberStyle,
                  start_frame: int, frame_step: int, task_name: str | None,
                  report: ExportReport, step: Step) -> None:
    w, h = _size(folder, key, sample)
    meta_in = sample.metadata
    last = max(sample.frames, default=0)
    total = meta_in.frame_count if meta_in and meta_in.frame_count else last
    if total <= start_frame:
        raise InputError.at(f"start_frame {start_frame} is past the video's {total} frames",
                            str(folder.label_path(key)))
    size = (total - start_frame + frame_step - 1) // frame_step
    frames = TaskFrames.video(size, w, h, start_frame=start_frame, step=frame_step)
    task: list[FrameLabels] = []
    skipped = 0
    for number, frame_fields in sorted(sample.frames.items()):
        rel = frames.rel(number - 1)
        labels_here = [
            (f"frames.{name}", obj) for name, value in sorted(frame_fields.items())
            if _field_ok(f"frames.{name}", fields) for obj in label_objects(value)
        ]
        if rel is None:
            skipped += len(labels_here)
            continue
        if labels_here:
            task.append(FrameLabels(rel, w, h, labels_here))
    if skipped:
        report.warnings.append(
            f"{key}: {skipped} label(s) on frames outside the task (start_frame {start_frame}, "
            f"step {frame_step}) not exported")
    sample_level = _sample_labels(sample, fields)
    if sample_level:
        report.warnings.append(
            f"{key}: {len(sample_level)} sample-level label(s) of a video have no CVAT form; "
            "not exported")
    specs, data, warnings = to_cvat(task, size=size)
    report.warnings.extend(warnings)
    labels = LabelIndex(specs)
    meta = task_meta(labels, frames, name=task_name or key, mode="interpolation",
                     source=PurePosixPath(sample.media).name)
    if layout == "video" and data.tags:
        report.warnings.append(
            f"{key}: {len(data.tags)} tag(s) not written: the CVAT for video layout has no tags")
    items = to_images(data, labels, frames) if layout == "images" else to_tracks(data, labels,
                                                                                 frames)
    _write(out, _count(report, items, step), meta, numbers, zip_out, [])
    report.files.append(out)
