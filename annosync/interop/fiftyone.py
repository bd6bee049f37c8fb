"""FiftyOne's own on-disk format (``fo.types.FiftyOneDataset``) <-> a dataset folder.

Why: a FiftyOne user moves a dataset in and out of annosync without installing FiftyOne (or its
MongoDB). The export directory, as ``dataset.export(dataset_type=fo.types.FiftyOneDataset,
export_media=True)`` writes it (FiftyOne 1.x, ``fiftyone/utils/data/exporters.py``)::

    metadata.json   the dataset document: name, media type, classes, mask targets, skeletons,
                    and the field schema (sample_fields, frame_fields)
    samples.json    {"samples": [...]}: one document per sample, labels inline (Extended JSON)
    frames.json     {"frames": [...]}: video frame documents (frame_number, _sample_id)
    data/           the media, referenced by relative ``filepath``
    fields/<path>/  media of label fields (``mask_path`` files)

Import keeps every label id, attribute, tag, confidence, mask and track index; what the label
model lacks (sample and frame ids, the dataset's name, info, classes, mask targets and
skeletons) is kept in ``.annosync/fiftyone.json`` so an export restores it: a round trip is
lossless. Fields of types annosync does not model are refused with their place (pass
``skip_unsupported`` to leave them out with a warning).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from annosync.dataset import jsonfmt
from annosync.dataset.folder import DatasetFolder, sample_to_bytes
from annosync.dataset.media import media_kind, probe
from annosync.errors import InputError, StateError
from annosync.interop import fo_schema
from annosync.interop.ejson import oid
from annosync.interop.fo_labels import (
    CLASSES,
    CONTAINER_ITEMS,
    TYPES,
    LabelError,
    from_fo,
    tags_of,
    to_fo,
)
from annosync.interop.staging import staged_folder
from annosync.model.ids import derived_id
from annosync.model.labels import label_objects
from annosync.model.sample import MediaMetadata, Sample
from annosync.progress import NULL, Progress

SIDE_FILE = "fiftyone.json"
#: The FiftyOne version whose format the export writes (the test data's; FiftyOne migrates
#: newer databases up from it when loading).
FIFTYONE_VERSION = "1.22.1"
#: Keys of a sample document that are not fields.
SAMPLE_KEYS = {"_id", "filepath", "tags", "_media_type", "_rand", "_dataset_id", "created_at",
               "last_modified_at", "metadata"}
FRAME_KEYS = {"_id", "frame_number", "_sample_id", "_dataset_id", "created_at",
              "last_modified_at"}
KEPT_DATASET_KEYS = ("name", "info", "tags", "classes", "default_classes", "mask_targets",
                     "default_mask_targets", "skeletons", "default_skeleton", "description")


@dataclass
class FiftyOneReport:
    samples: int = 0
    labels: int = 0
    frames: int = 0
    media: int = 0
    warnings: list[str] = field(default_factory=list)


# -- reading ------------------------------------------------------------------------------------

def _load_json(path: Path) -> Any:
    return jsonfmt.read_json(path, missing="missing: not a FiftyOneDataset export")


def _documents(root: Path, name: str, key: str, required: bool) -> list[Any]:
    single = root / f"{name}.json"
    folder = root / name
    if single.is_file():
        data = _load_json(single)
        docs = data.get(key) if isinstance(data, dict) else None
        if not isinstance(docs, list):
            raise InputError.at(f"expected an object with a {key!r} list", str(single))
        return docs
    if folder.is_dir():  # one JSON file per document
        return [_load_json(p) for p in sorted(folder.glob("*.json"))]
    if required:
        raise InputError.at("missing: not a FiftyOneDataset export", str(single))
    return []


def _date(value: Any) -> str | None:
    if isinstance(value, dict) and "$date" in value:
        return str(value["$date"])
    return None


def _metadata(meta: Any, media_type: str) -> MediaMetadata | None:
    if not isinstance(meta, dict):
        return None
    try:
        if media_type == "video":
            if not (meta.get("frame_width") and meta.get("frame_height")):
                return None
            return MediaMetadata(media_type="video", width=meta["frame_width"],
                                 height=meta["frame_height"], fps=meta.get("frame_rate"),
                                 frame_count=meta.get("total_frame_count"),
                                 size_bytes=meta.get("size_bytes"))
        if not (meta.get("width") and meta.get("height")):
            return None
        return MediaMetadata(media_type="image", width=meta["width"], height=meta["height"],
                             size_bytes=meta.get("size_bytes"))
    except ValueError:
        return None


class _Reader:
    def __init__(self, src: Path, skip_unsupported: bool, report: FiftyOneReport) -> None:
        self.src = src
        self.skip = skip_unsupported
        self.report = report
        self.copies: dict[str, Path] = {}  # path inside the dataset -> file to copy
        self.keys: dict[str, str] = {}  # sample key -> media path

    def source_path(self, path: str, where: str) -> Path:
        p = Path(path)
        full = p if p.is_absolute() else self.src / p
        if not full.is_file():
            raise InputError.at(f"file {path!r} does not exist", str(self.src / "samples.json"),
                                json_path=where)
        return full

    def media_target(self, filepath: str, where: str) -> str:
        """``data/a/b.jpg`` -> ``media/a/b.jpg``; absolute paths keep their file name."""
        parts = PurePosixPath(filepath.replace("\\", "/")).parts
        if PurePosixPath(filepath).is_absolute() or ".." in parts:
            rel = PurePosixPath(parts[-1])
        elif parts and parts[0] == "data":
            rel = PurePosixPath(*parts[1:])
        else:
            rel = PurePosixPath(*parts)
        target = f"media/{rel.as_posix()}"
        base, n = target, 1
        while target in self.copies and self.copies[target] != self.source_path(filepath, where):
            stem = PurePosixPath(base)
            target = str(stem.with_name(f"{stem.stem}_{n}{stem.suffix}"))
            n += 1
        return target

    def mask_loader(self, where: str) -> Any:
        def load(path: str) -> str:
            source = self.source_path(path, where)
            rel = PurePosixPath(path.replace("\\", "/"))
            inside = rel.parts[1:] if rel.parts[:1] == ("fields",) else (rel.name,)
            target = PurePosixPath("masks", *inside).as_posix()
            self.copies[target] = source
            return target

        return load

    def fields(self, doc: dict[str, Any], skip: set[str], where: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in doc.items():
            if name in skip or name.startswith("_"):
                continue
            at = f"{where}.{name}"
            if value is None or isinstance(value, (bool, int, float, str)):
                out[name] = value
                continue
            if isinstance(value, dict) and value.get("_cls") in TYPES:
                try:
                    label = from_fo(value, at, self.mask_loader(at))
                except LabelError as exc:
                    raise InputError.at(str(exc), self.samples_file(where),
                                        json_path=exc.where) from None
                self.report.labels += len(label_objects(label))
                out[name] = label
                continue
            what = value.get("_cls", "an object") if isinstance(value, dict) else \
                type(value).__name__
            message = f"field {name!r} holds {what}, which annosync does not model"
            if not self.skip:
                raise InputError.at(message + " (--skip-unsupported leaves such fields out)",
                                    self.samples_file(where), json_path=at)
            self.report.warnings.append(f"{at}: {message}: left out")
        return out

    def samples_file(self, where: str) -> str:
        name = "frames.json" if where.startswith("frames") else "samples.json"
        return str(self.src / name)


def _key_for(media: str) -> str:
    return PurePosixPath(media).relative_to("media").with_suffix("").as_posix()


def read_fiftyone(src: str | os.PathLike[str], skip_unsupported: bool = False,
                  progress: Progress = NULL
                  ) -> tuple[dict[str, Sample], dict[str, Path], dict[str, Any], FiftyOneReport]:
    """Read an export: samples by key, files to copy (target -> source), the side record."""
    root = Path(src)
    if not root.is_dir():
        raise InputError.at("no such folder", str(root))
    report = FiftyOneReport()
    meta = _load_json(root / "metadata.json")
    if not isinstance(meta, dict):
        raise InputError.at("expected a JSON object", str(root / "metadata.json"))
    media_type = meta.get("media_type")
    if media_type not in ("image", "video"):
        raise InputError.at(f"media_type {media_type!r}: annosync holds image and video "
                            "datasets", str(root / "metadata.json"), json_path="media_type")
    docs = _documents(root, "samples", "samples", required=True)
    frame_docs = _documents(root, "frames", "frames", required=False)
    reader = _Reader(root, skip_unsupported, report)
    frames_by_sample: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for n, fd in enumerate(frame_docs):
        where = f"frames[{n}]"
        if not isinstance(fd, dict) or not isinstance(fd.get("frame_number"), int) \
                or fd["frame_number"] < 1:
            raise InputError.at("a frame needs a frame_number >= 1", str(root / "frames.json"),
                                json_path=where)
        sid = oid(fd.get("_sample_id"))
        if sid is None:
            raise InputError.at("a frame needs its _sample_id", str(root / "frames.json"),
                                json_path=where)
        frames_by_sample.setdefault(sid, []).append((n, fd))
    samples: dict[str, Sample] = {}
    side: dict[str, Any] = {"dataset": {k: meta[k] for k in KEPT_DATASET_KEYS if k in meta},
                            "samples": {}, "frames": {}}
    with progress.step(f"read {root.name}", len(docs), "samples") as step:
        for n, doc in enumerate(docs):
            where = f"samples[{n}]"
            if not isinstance(doc, dict) or not isinstance(doc.get("filepath"), str):
                raise InputError.at("a sample needs a filepath", str(root / "samples.json"),
                                    json_path=where)
            source = reader.source_path(doc["filepath"], f"{where}.filepath")
            if media_kind(source) != media_type:
                raise InputError.at(f"{doc['filepath']!r} is not {media_type} media (by its "
                                    "extension)", str(root / "samples.json"),
                                    json_path=f"{where}.filepath")
            media = reader.media_target(doc["filepath"], f"{where}.filepath")
            key = _key_for(media)
            if key in samples:
                raise InputError.at(f"two samples share media {media!r}",
                                    str(root / "samples.json"), json_path=where)
            reader.copies[media] = source
            metadata = _metadata(doc.get("metadata"), media_type) or probe(source)
            fields = reader.fields(doc, SAMPLE_KEYS, where)
            frames: dict[int, dict[str, Any]] = {}
            frame_ids: dict[str, str] = {}
            sid = oid(doc.get("_id"))
            for m, fd in frames_by_sample.pop(sid or "", []):
                number = fd["frame_number"]
                frames[number] = reader.fields(fd, FRAME_KEYS, f"frames[{m}]")
                frame_id = oid(fd.get("_id"))
                if frame_id:
                    frame_ids[str(number)] = frame_id
                report.frames += 1
            try:
                sample = Sample(media=media, metadata=metadata, fields=fields,
                                frames={k: v for k, v in frames.items() if v},
                                tags=tags_of(doc, where))
            except LabelError as exc:
                raise InputError.at(str(exc), str(root / "samples.json"),
                                    json_path=exc.where) from None
            except ValueError as exc:
                raise InputError.at(f"not a valid sample: {str(exc).splitlines()[0]}",
                                    str(root / "samples.json"), json_path=where) from None
            samples[key] = sample
            if sid:
                side["samples"][key] = sid
            if frame_ids:
                side["frames"][key] = frame_ids
            step.advance()
    if frames_by_sample:
        orphan = min(n for items in frames_by_sample.values() for n, _ in items)
        raise InputError.at("frame of no sample in samples.json", str(root / "frames.json"),
                            json_path=f"frames[{orphan}]")
    report.samples = len(samples)
    report.media = sum(1 for t in reader.copies if t.startswith("media/"))
    return samples, reader.copies, side, report


def import_fiftyone(src: str | os.PathLike[str], dataset: str | os.PathLike[str], *,
                    skip_unsupported: bool = False, progress: Progress = NULL
                    ) -> FiftyOneReport:
    """Make the dataset folder ``dataset`` (new, or an empty folder) from a FiftyOneDataset
    export. Everything is read and checked first; the folder appears only when complete."""
    samples, copies, side, report = read_fiftyone(src, skip_unsupported, progress)
    target = Path(dataset)
    with staged_folder(target) as tmp:
        folder = DatasetFolder.init(tmp, name=target.resolve().name)
        with progress.step("copy media", len(copies), "files") as step:
            for rel, source in sorted(copies.items()):
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, dest)
                step.advance()
        with progress.step("write label files", len(samples), "files") as step:
            for key, sample in samples.items():
                folder.write(key, sample)
                step.advance()
        state = tmp / ".annosync"
        state.mkdir(exist_ok=True)
        (state / SIDE_FILE).write_bytes(jsonfmt.dump_bytes(side))
    return report


# -- writing ------------------------------------------------------------------------------------

def _rand(sample_id: str) -> float:
    return int(sample_id[-8:], 16) / 0xFFFFFFFF


def _mime(path: str) -> str | None:
    import mimetypes

    return mimetypes.guess_type(path)[0]


class _Schema:
    """Field types seen across samples (one kind per field, or an error naming the sample)."""

    def __init__(self) -> None:
        self.labels: dict[str, str] = {}
        self.scalars: dict[str, set[type]] = {}

    def see(self, fields: dict[str, Any], key: str, prefix: str = "") -> None:
        for name, value in fields.items():
            path = f"{prefix}{name}"
            if value is None:
                continue
            if isinstance(value, (bool, int, float, str)):
                kinds = self.scalars.setdefault(path, set())
                kinds.add(type(value))
                if len(kinds) > 1 and not kinds <= {int, float}:
                    raise InputError.at(f"field {path!r} holds {' and '.join(sorted(k.__name__ for k in kinds))} values: FiftyOne fields have one type",
                                        f"labels/{key}.json")
                continue
            cls = CLASSES[value.type]
            if self.labels.setdefault(path, cls) != cls:
                raise InputError.at(f"field {path!r} holds {self.labels[path]} and {cls} "
                                    "labels: FiftyOne fields have one type", f"labels/{key}.json")
            if path in self.scalars:
                raise InputError.at(f"field {path!r} holds labels and scalars",
                                    f"labels/{key}.json")

    def declared(self, prefix: str = "") -> list[dict[str, Any]]:
        out = []
        names = {n for n in [*self.labels, *self.scalars] if n.startswith(prefix)}
        for path in sorted(names):
            name = path[len(prefix):]
            if "." in name:
                continue
            if path in self.labels:
                out.append(fo_schema.label_field(name, self.labels[path]))
            else:
                out.append(fo_schema.scalar_field(name, self.scalars[path]))
        return out


def _scalar_value(value: Any, ftype_float: bool) -> Any:
    if ftype_float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def export_fiftyone(dataset: str | os.PathLike[str], out: str | os.PathLike[str], *,
                    progress: Progress = NULL) -> FiftyOneReport:
    """Write the dataset folder as a FiftyOneDataset export (media under ``data/``) that
    ``fo.Dataset.from_dir(out, dataset_type=fo.types.FiftyOneDataset)`` loads."""
    folder = DatasetFolder.open(dataset)
    report = FiftyOneReport()
    side_path = folder.state_dir / SIDE_FILE
    side: dict[str, Any] = _load_json(side_path) if side_path.is_file() else {}
    if not isinstance(side, dict):
        raise InputError.at("expected a JSON object", str(side_path))
    kept_ids: dict[str, str] = side.get("samples") or {}
    kept_frames: dict[str, dict[str, str]] = side.get("frames") or {}
    loaded: list[tuple[str, Sample]] = []
    with progress.step(f"read {folder.name}", None, "samples") as step:
        for key, sample in folder.iter_samples():
            loaded.append((key, sample))
            step.advance()
    if not loaded:
        raise StateError(f"{folder.root}: no samples to export")
    kinds = {"video" if s.is_video else "image" for _, s in loaded}
    if len(kinds) > 1:
        raise InputError.at("FiftyOne datasets hold images or videos, not both: this folder "
                            "has both", str(folder.root))
    media_type = kinds.pop()
    schema = _Schema()
    for key, sample in loaded:
        schema.see(sample.fields, key)
        for frame in sample.frames.values():
            schema.see(frame, key, "frames.")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"
    dataset_id = derived_id("dataset", folder.name)
    with staged_folder(out) as tmp:
        (tmp / "data").mkdir()
        copied: dict[str, str] = {}

        def save_mask(field_path: str) -> Any:
            def save(mask_path: str) -> str:
                source = folder.root / mask_path
                if not source.is_file():
                    raise InputError.at("mask file is missing", str(source))
                target = f"fields/{field_path}/{PurePosixPath(mask_path).name}"
                if copied.get(target, mask_path) != mask_path:
                    stem = PurePosixPath(target)
                    target = str(stem.with_name(f"{derived_id(mask_path)[:8]}_{stem.name}"))
                copied[target] = mask_path
                (tmp / target).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, tmp / target)
                return target

            return save

        def convert(fields: dict[str, Any], prefix: str = "") -> dict[str, Any]:
            out_fields: dict[str, Any] = {}
            for name, value in fields.items():
                if value is None or isinstance(value, (bool, int, float, str)):
                    is_float = float in schema.scalars.get(f"{prefix}{name}", set())
                    out_fields[name] = _scalar_value(value, is_float)
                    continue
                items = CONTAINER_ITEMS.get(CLASSES[value.type])  # masks of a container's items
                mask_field = f"{name}.{items[1]}" if items else name  # go to fields/<name>.<key>/
                out_fields[name] = to_fo(value, save_mask(mask_field))
                report.labels += len(label_objects(value))
            return out_fields

        samples_out, frames_out = [], []
        media_names: dict[str, str] = {}
        with progress.step("write samples", len(loaded), "samples") as step:
            for key, sample in loaded:
                sid = kept_ids.get(key) or derived_id("sample", folder.name, key)
                source = folder.root / sample.media
                if not source.is_file():
                    raise InputError.at("media file is missing", str(source))
                rel = PurePosixPath(sample.media)
                inside = rel.relative_to(folder.info.media_dir) \
                    if rel.parts[:1] == (folder.info.media_dir,) else rel
                data_rel = f"data/{inside.as_posix()}"
                if media_names.setdefault(data_rel, key) != key:
                    raise InputError.at(f"two samples would share {data_rel}",
                                        f"labels/{key}.json")
                (tmp / data_rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, tmp / data_rel)
                report.media += 1
                doc: dict[str, Any] = {"_id": {"$oid": sid}, "filepath": data_rel,
                                       "tags": list(sample.tags), "_media_type": media_type,
                                       "_rand": _rand(sid)}
                doc.update(convert(sample.fields))
                doc["_dataset_id"] = {"$oid": dataset_id}
                doc["created_at"] = {"$date": now}
                doc["last_modified_at"] = {"$date": now}
                doc["metadata"] = _fo_metadata(sample.metadata, sample.media)
                samples_out.append(doc)
                for number, frame in sorted(sample.frames.items()):
                    fid = (kept_frames.get(key) or {}).get(str(number)) or \
                        derived_id("frame", folder.name, key, str(number))
                    fdoc: dict[str, Any] = {"_id": {"$oid": fid}, "frame_number": number}
                    fdoc.update(convert(frame, "frames."))
                    fdoc.update({"_sample_id": {"$oid": sid}, "_dataset_id": {"$oid": dataset_id},
                                 "created_at": {"$date": now},
                                 "last_modified_at": {"$date": now}})
                    frames_out.append(fdoc)
                    report.frames += 1
                step.advance()
        kept = side.get("dataset") or {}
        name = kept.get("name") or folder.name
        meta: dict[str, Any] = {
            "_id": {"$oid": dataset_id}, "name": name,
            "slug": "".join(c if c.isalnum() else "-" for c in str(name).lower()),
            "version": FIFTYONE_VERSION, "created_at": {"$date": now},
            "last_modified_at": {"$date": now}, "last_deletion_at": None,
            "last_loaded_at": {"$date": now},
            "sample_collection_name": f"samples.{dataset_id}", "persistent": False,
            "media_type": media_type, "_media_roots": [], "_media_sources": [],
            "_media_source_layouts": [], "group_media_types": {}, "tags": [], "info": {},
            "app_config": {"dynamic_groups_target_frame_rate": 30,
                           "grid_media_field": "filepath", "media_fallback": False,
                           "media_fields": ["filepath"], "modal_media_field": "filepath",
                           "plugins": {}},
            "classes": {}, "default_classes": [], "mask_targets": {},
            "default_mask_targets": {}, "skeletons": {}, "camera_intrinsics": {},
            "static_transforms": {},
            "sample_fields": fo_schema.sample_fields(media_type, now) + schema.declared(),
            "frame_fields": [], "saved_views": [], "workspaces": [], "annotation_runs": {},
            "brain_methods": {}, "evaluations": {}, "runs": {}, "active_label_schemas": [],
            "label_schemas": {}, "frame_label_schemas": {},
        }
        if media_type == "video":
            meta["frame_collection_name"] = f"frames.samples.{dataset_id}"
            meta["frame_fields"] = fo_schema.frame_fields(now) + schema.declared("frames.")
        for k in KEPT_DATASET_KEYS:
            if k in kept and k != "name":
                meta[k] = kept[k]
        _write_json(tmp / "metadata.json", meta)
        _write_json(tmp / "samples.json", {"samples": samples_out})
        if media_type == "video":
            _write_json(tmp / "frames.json", {"frames": frames_out})
    report.samples = len(loaded)
    return report


def _fo_metadata(meta: MediaMetadata | None, media: str) -> dict[str, Any] | None:
    if meta is None:
        return None
    if meta.media_type == "video":
        duration = meta.frame_count / meta.fps if meta.fps and meta.frame_count else None
        return {"_cls": "VideoMetadata", "size_bytes": meta.size_bytes, "mime_type": _mime(media),
                "frame_width": meta.width, "frame_height": meta.height, "frame_rate": meta.fps,
                "total_frame_count": meta.frame_count, "duration": duration,
                "encoding_str": None}
    return {"_cls": "ImageMetadata", "size_bytes": meta.size_bytes, "mime_type": _mime(media),
            "width": meta.width, "height": meta.height, "num_channels": None}


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")


def same_samples(a: Sample, b: Sample) -> bool:
    """Byte-equal label files (what a lossless round trip means)."""
    return sample_to_bytes(a) == sample_to_bytes(b)
