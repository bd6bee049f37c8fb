"""Which sample each frame of an existing CVAT task is, and the media to download for new ones.

Why a module: importing a task made outside annosync (``adopt.py``) first has to tie CVAT's
file names to the dataset's samples, the way the reference's ``import_annotations`` ties them
to filepaths through ``data_map``. The rules, in order, for one CVAT file name (an image of an
image task, the video of a video task):

1. the data map (``{CVAT file name: sample key or media path}``; tried with the name, then the
   name without its extension): a sample key names that sample; a media path (relative to the
   dataset root, or absolute inside it) names the sample holding that media, else a new sample
   is created for the file (probed for its metadata);
2. CVAT's own rule, as ``import-xml`` applies it (``cvatxml.import_._Index``): the media path
   below the media folder without extension, the path below the dataset root, the sample key,
   and the basename when it is unique;
3. with ``download_media``, image tasks only (rule 2 is then replaced by the sample of the
   download path, so importing again finds what the last import downloaded, and an image is
   never tied to an unrelated sample of the same basename): the image is fetched from the task's "CVAT for
   images 1.1" export (``save_images``; the original files, read with the safe zip reader) into
   ``<media_dir>/<CVAT file name>``, and a sample is created for it. A video cannot be
   downloaded: CVAT keeps no way to fetch the original file, only re-encoded frames, and a video
   sample needs the video; map it to a local file instead.

Everything is checked before anything is written: a frame nobody can match, a data map entry
naming nothing, a download that would overwrite a different file, two new media with one sample
key. Downloads land in a temporary folder and are installed (atomically, per file) by
``MediaPlan.install`` only once the whole import is known to be valid.
"""

from __future__ import annotations

import filecmp
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from annosync.cvat import CvatClient
from annosync.cvatxml.import_ import _Index, _stem
from annosync.cvatxml.zipio import IMAGES_DIR, check_member_name, open_zip
from annosync.dataset.folder import DatasetFolder, DatasetInfo, is_valid_key
from annosync.dataset.media import media_kind, probe
from annosync.errors import InputError
from annosync.model.sample import MediaMetadata, Sample
from annosync.progress import NULL, Later, Progress, byte_callback, request_callback

IMAGES_FORMAT = "CVAT for images 1.1"


@dataclass
class NewSample:
    """A sample this import creates, and where its media comes from (``source``: a file
    downloaded to the temporary folder, or None when the media is already in the dataset)."""

    key: str
    sample: Sample
    source: Path | None = None


@dataclass
class MediaPlan:
    """The samples an import creates and the media files it installs."""

    root: Path
    new: dict[str, NewSample] = field(default_factory=dict)

    def media_to_install(self) -> list[NewSample]:
        return [n for _, n in sorted(self.new.items()) if n.source is not None
                and not (self.root / n.sample.media).exists()]

    def install(self) -> list[str]:
        """Copy the downloaded media into the dataset (atomically per file); returns their
        media paths."""
        done = []
        for item in self.media_to_install():
            assert item.source is not None
            target = self.root / item.sample.media
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            shutil.copyfile(item.source, tmp)
            os.replace(tmp, target)
            done.append(item.sample.media)
        return done


class Matcher:
    """Resolves CVAT file names to sample keys for one import (existing or new samples)."""

    def __init__(self, folder: DatasetFolder | None, root: Path, data_map: dict[str, str],
                 media_dir: str) -> None:
        self.folder = folder
        self.root = root.resolve()
        self.data_map = data_map
        self.media_dir = media_dir.strip("/") or "."
        self.index = _Index(folder)
        self.info_media_dir = folder.info.media_dir if folder is not None else \
            DatasetInfo().media_dir
        self.by_media = {s.media: k for k, s in self.index.samples.items()}
        self.plan = MediaPlan(self.root)

    # -- existing samples ----------------------------------------------------------------------
    @property
    def samples(self) -> dict[str, Sample]:
        return self.index.samples

    def sample(self, key: str) -> Sample:
        new = self.plan.new.get(key)
        return new.sample if new is not None else self.index.samples[key]

    def is_new(self, key: str) -> bool:
        return key in self.plan.new

    # -- matching ------------------------------------------------------------------------------
    def match(self, name: str, where: str, by_name: bool = True) -> str | None:
        """The sample of a CVAT file name by the data map, else by name (``by_name``; without
        it, only the sample of the file's download path), or None."""
        for probe_name in (name, _stem(name)):
            if probe_name in self.data_map:
                return self._from_map(name, self.data_map[probe_name], where)
        if by_name:
            return self.index.match(name)
        return self.by_media.get(self.download_path(name, where))

    def _from_map(self, name: str, value: str, where: str) -> str:
        if value in self.index.samples or value in self.plan.new:
            return value
        path = Path(value)
        full = (path if path.is_absolute() else self.root / path).resolve()
        try:
            rel = full.relative_to(self.root).as_posix()
        except ValueError:
            raise InputError.at(f"data map: {name!r} -> {value!r} is outside the dataset folder "
                                "(media must be inside it)", where) from None
        if rel in self.by_media:
            return self.by_media[rel]
        for key, new in self.plan.new.items():
            if new.sample.media == rel:
                return key
        if not full.is_file():
            raise InputError.at(f"data map: {name!r} -> {value!r} is neither a sample key nor a "
                                "media file in the dataset", where)
        if media_kind(full) is None:
            raise InputError.at(f"data map: {name!r} -> {value!r} is not an image or video "
                                "file", where)
        return self.add(rel, probe(full), None, where)

    # -- new samples ---------------------------------------------------------------------------
    def key_for(self, media: str) -> str:
        """The key a new sample of ``media`` gets (as ``annosync init`` names it)."""
        p = PurePosixPath(media)
        try:
            rel = p.relative_to(PurePosixPath(self.info_media_dir))
        except ValueError:
            rel = p
        return rel.with_suffix("").as_posix()

    def add(self, media: str, metadata: MediaMetadata, source: Path | None, where: str) -> str:
        key = self.key_for(media)
        if not is_valid_key(key):
            raise InputError.at(f"media {media!r} gives an invalid sample key {key!r}", where)
        if key in self.index.samples:
            raise InputError.at(
                f"sample {key!r} exists with media {self.index.samples[key].media!r}, not "
                f"{media!r}: map the file with a data map, or download into another --media-dir",
                where)
        other = self.plan.new.get(key)
        if other is not None and other.sample.media != media:
            raise InputError.at(f"media {other.sample.media!r} and {media!r} would share sample "
                                f"key {key!r}: download into another --media-dir", where)
        sample = Sample(media=media, metadata=metadata)
        self.plan.new[key] = NewSample(key, sample, source)
        return key

    def download_path(self, name: str, where: str) -> str:
        """The media path a downloaded CVAT image gets: ``<media_dir>/<name>``."""
        rel = name if self.media_dir == "." else f"{self.media_dir}/{name}"
        why = check_member_name(rel)
        if why:
            raise InputError.at(f"cannot download CVAT file {name!r}: {why}", where)
        return rel

    def add_downloaded(self, name: str, source: Path, where: str) -> str:
        media = self.download_path(name, where)
        if media in self.by_media:
            return self.by_media[media]
        target = self.root / media
        if target.exists() and not filecmp.cmp(target, source, shallow=False):
            raise InputError.at(
                f"{media} exists with other content than CVAT's {name!r}: download into "
                "another --media-dir, or map the file with a data map", where)
        return self.add(media, probe(source), source, where)


def fetch_images(client: CvatClient, task_id: int, wanted: dict[str, int], workdir: Path,
                 report: Callable[[str], None], progress: Progress = NULL) -> dict[str, Path]:
    """The original files of some images of a task (``{CVAT file name: task frame}``), from
    its export (``save_images``), extracted with the safe zip reader into ``workdir``. An
    export leaves out frames deleted in CVAT: those come from ``GET /api/tasks/{id}/data
    ?type=frame&quality=original``."""
    archive = workdir / f"task{task_id}.zip"
    report(f"task {task_id}: downloading {len(wanted)} image(s) (export with images)")
    with progress.step(f"CVAT exports task {task_id}", 100, "%") as waiting, \
            Later(progress, f"download task {task_id}", None, "B", waiting.close) as got:
        client.export_dataset(archive, IMAGES_FORMAT, task_id=task_id, save_images=True,
                              watch=request_callback(waiting), progress=byte_callback(got))
    out: dict[str, Path] = {}
    dest = workdir / f"task{task_id}"
    with open_zip(archive) as sz:
        for name, frame in wanted.items():
            member = f"{IMAGES_DIR}/{name}"
            if member not in sz.members:  # a subset folder (images/<subset>/<name>)?
                found = [m for m in sz.image_members() if m.count("/") == name.count("/") + 2
                         and m.endswith(f"/{name}")]
                if len(found) != 1:
                    out[name] = _fetch_frame(client, task_id, name, frame, dest)
                    continue
                member = found[0]
            out[name] = sz.extract(member, dest, arcname_root=member[: -len(name)])
    archive.unlink()
    return out


def _fetch_frame(client: CvatClient, task_id: int, name: str, frame: int, dest: Path) -> Path:
    why = check_member_name(name)
    if why:
        raise InputError.at(f"cannot download CVAT file {name!r}: {why}", f"task {task_id}")
    target = dest / name
    client.download(f"/api/tasks/{task_id}/data", target,
                    params={"type": "frame", "number": frame, "quality": "original"})
    return target
