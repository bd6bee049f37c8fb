"""``export-xml --anno-key``: write a dataset's labels the way an annotation run cut its CVAT
tasks, so the file imports into that run's tasks: each video's ``frame_start`` / ``frame_stop``
/ ``frame_step`` (as resolved for the task when the run was created, else as the manifest gives
them for that sample) and the segmentation ``mask_targets`` of the run's label schema."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from annosync.errors import InputError
from annosync.model.manifest import Manifest
from annosync.sync.record import RunRecord

FrameCut = tuple[int | None, int | None, int | None]  # start, stop, step


@dataclass
class RunExportOptions:
    frames: dict[str, FrameCut] = field(default_factory=dict)  # video sample key -> cut
    mask_targets: dict[int, str] | None = None


def _by_sample(option: Any, key: str, media: str | None) -> int | None:
    if isinstance(option, int):
        return option
    if isinstance(option, Mapping):
        for name in (key, media):
            if name in option:
                return int(option[name])
    return None  # a list is round-robin over the run's tasks: only the record knows


def run_export_options(anno_key: str, manifest: Manifest, record: RunRecord | None,
                       videos: Mapping[str, str | None], fields: Iterable[str] | None
                       ) -> RunExportOptions:
    """The run's options for the selected ``videos`` (sample key -> media path) and label
    ``fields`` (None: every field of the run's schema)."""
    out = RunExportOptions()
    tasks = {key: t for t in (record.tasks if record else []) for key in t.samples
             if t.media_type == "video"}
    c = manifest.cvat
    for key, media in videos.items():
        task = tasks.get(key)
        if task is not None:
            out.frames[key] = (task.frame_start, task.frame_stop, task.frame_step)
        else:
            out.frames[key] = (_by_sample(c.frame_start, key, media),
                               _by_sample(c.frame_stop, key, media),
                               _by_sample(c.frame_step, key, media))
    schemas = manifest.field_schemas()
    wanted = set(fields) if fields else set(schemas)
    found = {name: s.mask_targets for name, s in schemas.items()
             if s.mask_targets and (name in wanted or name.removeprefix("frames.") in wanted)}
    distinct = {tuple(sorted(t.items())) for t in found.values() if t}
    if len(distinct) > 1:
        raise InputError.at(
            f"run {anno_key!r}: fields {', '.join(sorted(found))} have different mask_targets; "
            "export one field (-f) or give --mask-targets")
    if distinct:
        out.mask_targets = dict(next(iter(distinct)))
    return out


def export_run_xml(folder: Any, output: str, anno_key: str, manifest: Manifest,
                   run_record: RunRecord | None, *, samples: Iterable[str] | None = None,
                   fields: Iterable[str] | None = None, start_frame: int | None = None,
                   stop_frame: int | None = None, frame_step: int | None = None,
                   mask_targets: str | dict[Any, Any] | None = None, **kwargs: Any) -> Any:
    """``export_xml`` with the run's options filled in (explicit ones win). Videos cut
    differently are written one call each, into the output folder (one file per video)."""
    from pathlib import Path

    from annosync.cvatxml import export_xml
    from annosync.cvatxml.export import ExportReport, select_keys

    keys = select_keys(folder, samples)
    videos: dict[str, str | None] = {}
    for key in keys:
        smp = folder.read(key)
        if smp.is_video:
            videos[key] = smp.media
    fields_list = list(fields) if fields else None
    opts = run_export_options(anno_key, manifest, run_record, videos, fields_list)
    targets = mask_targets if mask_targets is not None else opts.mask_targets

    def cut(key: str) -> FrameCut:
        start, stop, step = opts.frames.get(key, (None, None, None))
        return (start_frame if start_frame is not None else start,
                stop_frame if stop_frame is not None else stop,
                frame_step if frame_step is not None else step)

    cuts = {cut(k) for k in videos}
    common = {"fields": fields_list, "mask_targets": targets, **kwargs}
    if len(cuts) <= 1:
        start, stop, step = next(iter(cuts)) if cuts else (start_frame, stop_frame, frame_step)
        return export_xml(folder, output, samples=keys, start_frame=start, stop_frame=stop,
                          frame_step=step, **common)
    out = Path(output)
    if out.suffix.lower() in (".xml", ".zip"):
        raise InputError.at(f"{len(videos)} video samples selected but one CVAT task holds one "
                            "video: give an output folder (one file per video)", str(out))
    out.mkdir(parents=True, exist_ok=True)
    total = ExportReport()
    for key in keys:
        start, stop, step = cut(key)
        part = export_xml(folder, out, samples=[key], start_frame=start, stop_frame=stop,
                          frame_step=step, **common)
        total.files += part.files
        total.warnings += part.warnings
        total.record = total.record or part.record
        for name in ("samples", "frames", "shapes", "tracks", "tags"):
            setattr(total, name, getattr(total, name) + getattr(part, name))
    return total
