"""A dataset folder: media files plus one deterministic JSON label file per sample.

Layout (``formats/README.md`` documents it with an example)::

    <root>/dataset.yaml         optional: name, media folder
    <root>/media/...            images and videos (any layout)
    <root>/labels/<key>.json    one per sample; <key> mirrors the media path without extension
    <root>/.annosync/           machine state: run records, journals, lock

Reads stream: listing keys walks ``labels/`` lazily in sorted order and a sample is parsed only
when asked for, so a command that needs a few samples of 100k never loads them all. Writes are
atomic and skipped when the bytes would not change.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from annosync.dataset import jsonfmt
from annosync.dataset.atomic import write_if_changed
from annosync.dataset.media import media_kind, probe
from annosync.errors import InputError, Location, Problem, StateError
from annosync.model.problems import json_path, problems_from_validation
from annosync.model.sample import Sample

LABELS_DIR = "labels"
STATE_DIR = ".annosync"
INFO_FILE = "dataset.yaml"


def is_dataset_folder(path: Path) -> bool:
    """A folder with ``labels/`` or ``dataset.yaml`` (the CLI tells datasets from manifests
    with this, without importing the validator)."""
    return path.is_dir() and ((path / LABELS_DIR).is_dir() or (path / INFO_FILE).is_file())


class DatasetInfo(BaseModel):
    """``dataset.yaml``: optional facts about the folder."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str | None = None
    media_dir: str = Field(default="media", description="folder of media, relative to the root")
    description: str | None = None


def is_valid_key(key: str) -> bool:
    """A sample key names a file below ``labels/``: no absolute path, ``..`` or backslash."""
    if not isinstance(key, str) or not key or key.startswith("/") or "\\" in key or "\0" in key:
        return False
    return all(part not in ("", ".", "..") for part in key.split("/"))


def walk_order(key: str) -> tuple[str, ...]:
    """Sort key giving the order in which ``DatasetFolder.keys()`` yields keys: each
    directory's entries by name, a file's name with its ``.json``, a directory's contents
    where its name sorts (``a/b`` comes before ``a-c``, and ``a-b`` before ``a``)."""
    *dirs, name = key.split("/")
    return (*dirs, name + ".json")


def sample_to_bytes(sample: Sample) -> bytes:
    return jsonfmt.dump_bytes(sample.model_dump(mode="json", by_alias=True))


def parse_sample(data: bytes | str, path: str | None = None) -> Sample:
    """Parse label-file content; every problem is reported with the file and JSON path."""
    try:
        raw = json.loads(data)
    except json.JSONDecodeError as exc:
        raise InputError(
            [Problem(Location(path, exc.lineno, exc.colno), f"invalid JSON: {exc.msg}")]
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError.at(f"not UTF-8 text: {exc.reason}", path) from None
    return validate_sample(raw, path)


def validate_sample(raw: Any, path: str | None = None, prefix: tuple[Any, ...] = ()) -> Sample:
    """A label file's parsed JSON as a :class:`Sample` (``prefix``: where it sits in ``path``,
    for files holding several samples); problems are reported with the file and JSON path."""
    if not isinstance(raw, dict):
        raise InputError.at("a label file must hold a JSON object", path,
                            json_path=json_path(prefix))
    try:
        return Sample.model_validate(raw)
    except ValidationError as exc:
        raise InputError(
            problems_from_validation(exc, path, data=raw, model=Sample, prefix=prefix)
        ) from None


class DatasetFolder:
    """Read and write the samples of one dataset folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.labels_dir = self.root / LABELS_DIR
        self.state_dir = self.root / STATE_DIR
        self._info: DatasetInfo | None = None

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> DatasetFolder:
        folder = cls(root)
        if not folder.root.is_dir():
            raise StateError(f"{root}: dataset folder does not exist")
        if not folder.labels_dir.is_dir() and not (folder.root / INFO_FILE).is_file():
            raise StateError(
                f"{root}: not a dataset folder (no {LABELS_DIR}/ or {INFO_FILE}); "
                "create one with `annosync init`"
            )
        return folder

    @classmethod
    def init(cls, root: str | os.PathLike[str], name: str | None = None,
             media_dir: str = "media") -> DatasetFolder:
        folder = cls(root)
        folder.labels_dir.mkdir(parents=True, exist_ok=True)
        (folder.root / media_dir).mkdir(parents=True, exist_ok=True)
        info_path = folder.root / INFO_FILE
        if not info_path.exists():
            info = DatasetInfo(name=name or folder.root.name, media_dir=media_dir)
            text = yaml.safe_dump(info.model_dump(exclude_none=True), sort_keys=True)
            write_if_changed(info_path, text.encode("utf-8"))
        return folder

    @property
    def info(self) -> DatasetInfo:
        if self._info is None:
            path = self.root / INFO_FILE
            if path.is_file():
                try:
                    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                    self._info = DatasetInfo.model_validate(data)
                except (yaml.YAMLError, ValidationError) as exc:
                    raise InputError.at(f"invalid dataset.yaml: {exc}", str(path)) from None
            else:
                self._info = DatasetInfo()
        return self._info

    @property
    def name(self) -> str:
        return self.info.name or self.root.name

    # -- keys and paths ------------------------------------------------------------------------
    def label_path(self, key: str) -> Path:
        if not is_valid_key(key):
            raise InputError.at(
                f"invalid sample key {key!r}: a '/'-separated path below labels/, without "
                "'..', '.' or empty parts", str(self.labels_dir))
        return self.labels_dir / f"{key}.json"

    def key_for_label_path(self, path: str | os.PathLike[str]) -> str:
        rel = Path(path).resolve().relative_to(self.labels_dir)
        return rel.with_suffix("").as_posix()

    def exists(self, key: str) -> bool:
        return self.label_path(key).is_file()

    def keys(self) -> Iterator[str]:
        """Sample keys in sorted order, found lazily (no full listing held in memory)."""
        if not self.labels_dir.is_dir():
            return
        yield from self._walk(self.labels_dir, "")

    def __iter__(self) -> Iterator[str]:
        """Iterating a folder yields its sample keys (``keys()``)."""
        return self.keys()

    def unsorted_keys(self, dirs: list[tuple[str, os.stat_result]] | None = None) -> list[str]:
        """Every sample key ``keys()`` yields, in no particular order: one ``scandir`` per
        directory and no sorting (``walk_order`` sorts a part of them the way ``keys()``
        orders them). ``dirs`` collects each directory scanned (relative to ``labels/``,
        ``""`` for it) with its stat taken before its scan (``sync/index.py`` caches the
        listing with them)."""
        out: list[str] = []
        if self.labels_dir.is_dir():
            self._scan(str(self.labels_dir), "", out, dirs)
        return out

    def _scan(self, directory: str, prefix: str, out: list[str],
              dirs: list[tuple[str, os.stat_result]] | None) -> None:
        if dirs is not None:
            from annosync.sync.index import stat_of  # the seam tests replace

            dirs.append((prefix, stat_of(directory)))
        with os.scandir(directory) as it:
            entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
        out += [prefix + n[:-5] for n, d in entries
                if not d and n.endswith(".json") and not n.startswith(".")]
        for name in sorted(n for n, d in entries if d and not n.startswith(".")):
            self._scan(os.path.join(directory, name), f"{prefix}{name}/", out, dirs)

    def _walk(self, directory: Path, prefix: str) -> Iterator[str]:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(Path(entry.path), f"{prefix}{entry.name}/")
            elif entry.name.endswith(".json"):
                yield prefix + entry.name[: -len(".json")]

    def media_path(self, sample: Sample, media_field: str | None = None) -> Path:
        """Absolute path of the media to upload (``media_field`` names an alternate path field)."""
        rel = sample.media
        if media_field and media_field not in ("media", "filepath"):
            value = sample.fields.get(media_field)
            if not isinstance(value, str) or not value:
                raise InputError.at(
                    f"media_field {media_field!r} is not a path string on this sample",
                    sample.media,
                )
            rel = value
        return (self.root / rel).resolve()

    # -- reading -------------------------------------------------------------------------------
    def read_bytes(self, key: str) -> bytes:
        try:
            return self.label_path(key).read_bytes()
        except FileNotFoundError:
            raise StateError(f"{self.label_path(key)}: no such sample {key!r}") from None

    def read(self, key: str) -> Sample:
        path = self.label_path(key)
        return parse_sample(self.read_bytes(key), str(path))

    def read_raw(self, key: str) -> Any:
        return json.loads(self.read_bytes(key))

    def iter_samples(self, keys: Iterable[str] | None = None) -> Iterator[tuple[str, Sample]]:
        for key in self.keys() if keys is None else keys:
            yield key, self.read(key)

    # -- writing -------------------------------------------------------------------------------
    def write(self, key: str, sample: Sample) -> bool:
        """Save a sample atomically; returns False (and touches nothing) if it is unchanged."""
        return write_if_changed(self.label_path(key), sample_to_bytes(sample))

    def add_media(self, paths: Iterable[str | os.PathLike[str]]) -> list[str]:
        """Create label files for media files inside the folder; returns the new keys.

        The key mirrors the media path below the media folder without its extension; two media
        files that would share a key are refused rather than silently merged.
        """
        media_root = (self.root / self.info.media_dir).resolve()
        planned: dict[str, Path] = {}
        for p in paths:
            path = Path(p).resolve()
            if media_kind(path) is None:
                continue
            try:
                rel = path.relative_to(media_root)
            except ValueError:
                try:
                    rel = path.relative_to(self.root)
                except ValueError:
                    raise InputError.at("media must be inside the dataset folder", str(p)) from None
            key = rel.with_suffix("").as_posix()
            if key in planned and planned[key] != path:
                raise InputError.at(
                    f"media {planned[key].name} and {path.name} would share sample key {key!r}",
                    str(p),
                )
            planned[key] = path
        created = []
        for key, path in sorted(planned.items()):
            if self.exists(key):
                continue
            sample = Sample(media=path.relative_to(self.root).as_posix(), metadata=probe(path))
            self.write(key, sample)
            created.append(key)
        return created

    def scan_media(self) -> list[str]:
        """Add label files for every media file under the media folder that has none."""
        media_root = self.root / self.info.media_dir
        if not media_root.is_dir():
            return []
        files = sorted(p for p in media_root.rglob("*") if p.is_file() and media_kind(p))
        return self.add_media(files)
