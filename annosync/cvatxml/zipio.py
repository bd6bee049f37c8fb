"""CVAT zip exports: ``annotations.xml`` plus optional ``images/`` (``images/<subset>/`` for
project exports), read and written safely.

Reading a zip from elsewhere is dangerous, so every member is vetted *before* anything is read
or extracted (``open_zip``): a name that is absolute (``/x``, ``C:x``, ``\\\\host``), contains a
backslash or a ``..`` part, or a member that is a symlink is refused (zip-slip); the number of
members, each declared size, the declared total and the compression ratio are bounded (zip
bombs), and reads are capped at the declared size, so a member that lies about its size fails as
well. Extraction re-checks that the target stays inside the destination folder.

CVAT writes its zips with ``zipfile`` defaults (members stored, not deflated); ``write_zip`` does
the same for ``annotations.xml`` and stores images as they are.
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from annosync.cvatxml.safe import LimitedReader
from annosync.errors import InputError

ANNOTATIONS_XML = "annotations.xml"
IMAGES_DIR = "images"


@dataclass(frozen=True)
class ZipLimits:
    """Bounds on what a zip may hold. The total is checked at any compression ratio (a zip
    that stores 4 GiB is as unwelcome as one that inflates to it); the default fits a
    1M-shape task export with its images. ``import-xml --max-zip-size`` sets both sizes."""

    max_members: int = 200_000
    max_member_bytes: int = 4 * 1024**3
    max_total_bytes: int = 4 * 1024**3
    max_ratio: float = 1000.0


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
          "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4,
          "tb": 1000**4, "tib": 1024**4}


def parse_size(text: str) -> int:
    """``"4GiB"``, ``"500MB"``, ``"1024"`` -> bytes (a ``click`` usage error otherwise)."""
    import re

    import click

    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise click.BadParameter(f"{text!r} is not a size such as 4GiB or 500MB")
    return int(float(match.group(1)) * _UNITS[unit])


DEFAULT_LIMITS = ZipLimits()


def _refuse(zip_path: str, member: str, why: str) -> InputError:
    return InputError.at(f"refusing zip member {member!r}: {why}", zip_path)


def check_member_name(name: str) -> str | None:
    """Why ``name`` may not be extracted, or None if it is a safe relative path."""
    if not name:
        return "empty name"
    if "\\" in name:
        return "backslashes are not allowed in zip names"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute paths are not allowed"
    if "\x00" in name:
        return "NUL in name"
    if any(part == ".." for part in PurePosixPath(name).parts):
        return "'..' would leave the target folder"
    return None


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


class SafeZip:
    """A vetted zip archive (use ``open_zip``)."""

    def __init__(self, path: Path, zf: zipfile.ZipFile, limits: ZipLimits) -> None:
        self.path = path
        self.zf = zf
        self.limits = limits
        self.members = {i.filename: i for i in zf.infolist()}

    def xml_members(self) -> list[str]:
        """The annotation files, as CVAT's importer finds them (``**/*.xml``), with the root
        ``annotations.xml`` first."""
        names = sorted(
            n for n, i in self.members.items()
            if not i.is_dir() and n.lower().endswith(".xml")
        )
        if ANNOTATIONS_XML in names:
            names.remove(ANNOTATIONS_XML)
            names.insert(0, ANNOTATIONS_XML)
        return names

    def image_members(self) -> list[str]:
        return sorted(
            n for n, i in self.members.items()
            if not i.is_dir() and n.startswith(IMAGES_DIR + "/")
        )

    def open_member(self, name: str) -> IO[bytes]:
        """A reader of one member that fails once it yields more than the declared size."""
        info = self.members[name]
        raw = self.zf.open(info)
        where = f"{self.path}!{name}"

        def exceeded() -> InputError:
            return InputError.at(
                f"zip member is larger than its declared size ({info.file_size} bytes): "
                "refusing a possible zip bomb", where,
            )

        def broken(exc: Exception) -> InputError:
            return InputError.at(f"corrupt zip member: {exc}", where)

        return LimitedReader(raw, info.file_size, exceeded, broken)  # type: ignore[return-value]

    def read_member(self, name: str) -> bytes:
        with self.open_member(name) as fh:
            return fh.read()

    def extract(self, name: str, dest_dir: str | os.PathLike[str],
                arcname_root: str = "") -> Path:
        """Extract one member below ``dest_dir`` (``arcname_root`` is stripped from its name)."""
        rel = name[len(arcname_root):] if arcname_root and name.startswith(arcname_root) else name
        why = check_member_name(rel)
        if why:
            raise _refuse(str(self.path), name, why)
        dest_root = Path(dest_dir).resolve()
        target = (dest_root / rel).resolve()
        if dest_root != target and dest_root not in target.parents:
            raise _refuse(str(self.path), name, "it would be written outside the target folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        with self.open_member(name) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, target)
        return target

    def close(self) -> None:
        self.zf.close()


@contextmanager
def open_zip(path: str | os.PathLike[str],
             limits: ZipLimits = DEFAULT_LIMITS) -> Iterator[SafeZip]:
    """Open and vet a zip; every problem is an ``InputError`` naming the archive and member."""
    p = Path(path)
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError.at(f"not a readable zip archive: {exc}", str(p)) from None
    try:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise InputError.at(
                f"zip holds {len(infos)} members, more than the limit of {limits.max_members}",
                str(p),
            )
        total = 0
        seen: set[str] = set()
        for info in infos:
            why = check_member_name(info.filename)
            if why:
                raise _refuse(str(p), info.filename, why)
            if _is_symlink(info):
                raise _refuse(str(p), info.filename, "symbolic links are not allowed")
            if info.filename in seen:
                raise _refuse(str(p), info.filename, "duplicate member name")
            seen.add(info.filename)
            if info.file_size > limits.max_member_bytes:
                raise _refuse(
                    str(p), info.filename,
                    f"declared size {info.file_size} exceeds the limit of "
                    f"{limits.max_member_bytes} bytes",
                )
            if info.compress_size and info.file_size / info.compress_size > limits.max_ratio \
                    and info.file_size > 1024 * 1024:
                raise _refuse(
                    str(p), info.filename,
                    f"compression ratio {info.file_size / info.compress_size:.0f}:1 exceeds "
                    f"{limits.max_ratio:.0f}:1 (a zip bomb?)",
                )
            total += info.file_size
        if total > limits.max_total_bytes:
            raise InputError.at(
                f"zip would expand to {total} bytes, more than the limit of "
                f"{limits.max_total_bytes}", str(p),
            )
        safe = SafeZip(p, zf, limits)
    except BaseException:
        zf.close()
        raise
    try:
        yield safe
    finally:
        safe.close()


def is_zip(path: str | os.PathLike[str]) -> bool:
    return zipfile.is_zipfile(path)


class ZipWriter:
    """Write a CVAT-style zip: ``annotations.xml`` streamed in, then image files.

    Written to a temporary file and moved into place on ``close()``, so a failed export never
    leaves a half-written archive.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.tmp")
        self.zf = zipfile.ZipFile(self._tmp, "w", compression=zipfile.ZIP_STORED,
                                  allowZip64=True)

    @contextmanager
    def open(self, arcname: str = ANNOTATIONS_XML) -> Iterator[IO[bytes]]:
        why = check_member_name(arcname)
        if why:
            raise ValueError(f"bad zip member name {arcname!r}: {why}")
        info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o100644 << 16
        info.create_system = 3
        with self.zf.open(info, "w", force_zip64=True) as fh:
            yield fh

    def add_file(self, arcname: str, source: str | os.PathLike[str]) -> None:
        why = check_member_name(arcname)
        if why:
            raise ValueError(f"bad zip member name {arcname!r}: {why}")
        info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o100644 << 16
        info.create_system = 3
        with open(source, "rb") as src, self.zf.open(info, "w", force_zip64=True) as dst:
            shutil.copyfileobj(src, dst)

    def add_files(self, files: Iterable[tuple[str, str | os.PathLike[str]]]) -> None:
        for arcname, source in files:
            self.add_file(arcname, source)

    def close(self) -> None:
        self.zf.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        try:
            self.zf.close()
        finally:
            if self._tmp.exists():
                self._tmp.unlink()

    def __enter__(self) -> ZipWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
