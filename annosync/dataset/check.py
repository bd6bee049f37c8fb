"""Label-file checks: every problem a sample file can have, located by file and JSON path.

What is checked, per file: JSON syntax (line and column), the sample schema (JSON path), labels
without an ``_id`` (a warning: ids would be assigned on the next save, so run ``annosync fmt``),
duplicate label ids in the file, the reserved ``label_id`` attribute, media and mask files that
do not exist, missing metadata, frames on an image, frame numbers past the end of the video, two
shapes of one track in one frame, and optionally (slow: opens the media) metadata that disagrees
with the media. Across a folder: duplicate label ids between files.

Streaming: files are checked one at a time; only the label ids are kept across files.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from annosync.dataset.folder import DatasetFolder
from annosync.dataset.jsonlines import json_line_map, locate
from annosync.dataset.media import media_kind, probe
from annosync.errors import InputError, Location, Problem
from annosync.model.labels import LABEL_CLASSES, label_objects
from annosync.model.problems import json_path, problems_from_validation
from annosync.model.sample import Sample

#: Label ``_type`` -> the key holding its items, for containers.
CONTAINER_KEYS = {
    "classifications": "classifications",
    "detections": "detections",
    "polylines": "polylines",
    "keypoints": "keypoints",
}
RESERVED_LABEL_ATTRIBUTES = frozenset({"label_id"})
LABEL_TYPES = frozenset(LABEL_CLASSES)


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as the user should see it: relative to the working directory when inside it."""
    p = Path(path)
    try:
        rel = os.path.relpath(p.absolute())
    except ValueError:  # another drive on Windows
        return str(p)
    return str(p) if rel.startswith("..") else rel


def iter_raw_labels(raw: Any) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every label object of a raw sample dict, with its location (fields, then frames)."""
    if not isinstance(raw, dict):
        return
    places: list[tuple[tuple[Any, ...], Any]] = []
    fields = raw.get("fields")
    if isinstance(fields, dict):
        places.extend((("fields", name), value) for name, value in fields.items())
    frames = raw.get("frames")
    if isinstance(frames, dict):
        for number, frame in frames.items():
            if isinstance(frame, dict):
                places.extend((("frames", number, name), v) for name, v in frame.items())
    for loc, value in places:
        if not isinstance(value, dict) or value.get("_type") not in LABEL_TYPES:
            continue
        items_key = CONTAINER_KEYS.get(value["_type"])
        if items_key is None:
            yield loc, value
            continue
        items = value.get(items_key)
        if isinstance(items, list):
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    yield (*loc, items_key, i), item


class _Lines:
    """Line numbers of JSON paths in one file, mapped only when first needed."""

    def __init__(self, data: bytes | None) -> None:
        self.data = data
        self._map: dict[tuple[Any, ...], int] | None = None

    def __call__(self, loc: tuple[Any, ...]) -> int | None:
        if self.data is None:
            return None
        if self._map is None:
            self._map = json_line_map(self.data.decode("utf-8", "replace"))
        return locate(self._map, tuple(loc))


_NO_LINES = _Lines(None)


@dataclass
class FileReport:
    """The outcome of checking one label file."""

    key: str
    display: str
    sample: Sample | None = None
    problems: list[Problem] = field(default_factory=list)
    ids: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    lines: _Lines | None = None




def _p(display: str, loc: tuple[Any, ...] | None, message: str, severity: str = "error",
       line: int | None = None, column: int | None = None, lines: _Lines = _NO_LINES) -> Problem:
    where = json_path(loc) if loc is not None else None
    if line is None and loc is not None:
        line = lines(loc)
    return Problem(Location(display, line, column, where), message, severity)


def check_label_bytes(
    data: bytes,
    display: str,
    key: str = "",
    root: Path | None = None,
    check_media: bool = True,
    probe_media: bool = False,
) -> FileReport:
    """Check one label file's content. ``root`` (the dataset folder) enables file checks."""
    report = FileReport(key=key, display=display)
    try:
        raw = json.loads(data)
    except json.JSONDecodeError as exc:
        report.problems.append(
            _p(display, None, f"invalid JSON: {exc.msg}", line=exc.lineno, column=exc.colno)
        )
        return report
    except UnicodeDecodeError as exc:
        report.problems.append(_p(display, None, f"not UTF-8 text: {exc.reason}"))
        return report
    except RecursionError:
        report.problems.append(_p(display, None, "JSON nested too deeply"))
        return report
    lines = _Lines(data)
    report.lines = lines
    p = functools.partial(_p, display, lines=lines)
    if not isinstance(raw, dict):
        report.problems.append(p((), "a label file must hold a JSON object"))
        return report

    seen: dict[str, tuple[Any, ...]] = {}
    for loc, obj in iter_raw_labels(raw):
        label_id = obj.get("_id")
        if label_id is None:
            report.problems.append(p(loc, "label has no '_id': one would be assigned on every read; run "
                "`annosync fmt` to assign and save it", "warning",
            ))
        elif isinstance(label_id, str):
            if label_id in seen:
                report.problems.append(p(loc, f"duplicate label id {label_id!r} (also at {json_path(seen[label_id])})"
                ))
            else:
                seen[label_id] = loc
                report.ids.append((label_id, loc))
        attributes = obj.get("attributes")
        if isinstance(attributes, dict):
            for name in attributes:
                if name in RESERVED_LABEL_ATTRIBUTES:
                    report.problems.append(p((*loc, "attributes", name),
                        f"{name!r} is reserved: annosync stores label ids in CVAT under this "
                        "attribute name; rename it",
                    ))

    try:
        sample = Sample.model_validate(raw)
    except ValidationError as exc:
        report.problems.extend(
            problems_from_validation(exc, display, lines, data=raw, model=Sample)
        )
        return report
    report.sample = sample
    report.problems.extend(_sample_rules(sample, display, root, check_media, probe_media, lines))
    return report


def _sample_rules(sample: Sample, display: str, root: Path | None, check_media: bool,
                  probe_media: bool, lines: _Lines = _NO_LINES) -> list[Problem]:
    p = functools.partial(_p, display, lines=lines)
    out: list[Problem] = []
    meta = sample.metadata
    kind = meta.media_type if meta else media_kind(sample.media)
    if meta is None:
        out.append(p(("metadata",), "no metadata (width, height): run "
                      "`annosync fmt --probe` to read it from the media", "warning"))
    if sample.frames and kind != "video":
        out.append(p(("frames",), "frame-level labels on an image sample: 'frames' is "
                      "only for videos"))
    if meta is not None and meta.frame_count and sample.frames:
        beyond = sorted(n for n in sample.frames if n > meta.frame_count)
        if beyond:
            out.append(p(("frames", str(beyond[0])),
                          f"frame {beyond[0]} is past the end of the video "
                          f"({meta.frame_count} frames)"
                          + (f"; {len(beyond) - 1} more such frames" if len(beyond) > 1 else "")))
    for number, frame in sorted(sample.frames.items()):
        for name, value in frame.items():
            indexes: dict[int, int] = {}
            for i, obj in enumerate(label_objects(value)):
                index = getattr(obj, "index", None)
                if index is None:
                    continue
                if index in indexes:
                    out.append(p(("frames", str(number), name),
                                  f"track {index} appears twice in frame {number}"))
                    break
                indexes[index] = i
    if root is not None and check_media:
        media = root / sample.media
        if not media.is_file():
            out.append(p(("media",), f"media file not found: {sample.media}"))
        elif probe_media and meta is not None:
            try:
                actual = probe(media)
            except InputError as exc:
                out.append(p(("media",), f"cannot read the media: {exc}"))
            else:
                for attr in ("media_type", "width", "height", "frame_count"):
                    want, got = getattr(meta, attr), getattr(actual, attr)
                    if want is not None and got is not None and want != got:
                        out.append(p(("metadata", attr),
                                      f"metadata says {want} but the media has {got}; run "
                                      "`annosync fmt --probe` to refresh it", "warning"))
        for loc, obj in _mask_paths(sample):
            if not (root / obj).is_file():
                out.append(p(loc, f"mask file not found: {obj}"))
    return out


def _mask_paths(sample: Sample) -> Iterator[tuple[tuple[Any, ...], str]]:
    dumped = sample.model_dump(mode="json", by_alias=True)
    for loc, obj in iter_raw_labels(dumped):
        mask_path = obj.get("mask_path")
        if isinstance(mask_path, str):
            yield (*loc, "mask_path"), mask_path


@dataclass
class FolderReport:
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    samples: int = 0  # files that parsed


def check_folder(
    folder: DatasetFolder,
    keys: Iterable[str] | None = None,
    check_media: bool = True,
    probe_media: bool = False,
) -> FolderReport:
    """Check label files one by one (all of the folder's, or ``keys``), plus ids across files."""
    report = FolderReport()
    first: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for key in folder.keys() if keys is None else keys:
        try:
            path = folder.label_path(key)
        except InputError as exc:
            report.problems.extend(exc.problems)
            continue
        display = display_path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            report.problems.append(_p(display, None, f"cannot read: {exc.strerror or exc}"))
            continue
        report.files += 1
        one = check_label_bytes(data, display, key, folder.root, check_media, probe_media)
        report.problems.extend(one.problems)
        if one.sample is not None:
            report.samples += 1
        for label_id, loc in one.ids:
            other = first.get(label_id)
            if other is None:
                first[label_id] = (display, loc)
            elif other[0] != display:
                report.problems.append(_p(
                    display, loc, f"duplicate label id {label_id!r}: also used in "
                    f"{other[0]} at {json_path(other[1])}; label ids must be unique in a dataset",
                    lines=one.lines or _NO_LINES,
                ))
    return report
