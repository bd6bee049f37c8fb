"""What a dataset remembers of an imported CVAT file, so that exporting gives the same file back.

Why: the label files hold labels, not tasks. A CVAT export also says which task (or project of
tasks) it came from: the whole ``<meta>`` (label types, colors, attribute specs including labels
no shape uses, skeleton sub-labels and their svg, start/stop/step, segments, owner ...), which
image ids and names the frames have and in which order, which video a task holds. ``import-xml``
writes that as a *record*, ``<dataset>/.annosync/cvat/<name>.json``; ``export-xml`` writes a
recorded task back with its meta and frames (labels come from the label files, so edits show).

A record is plain deterministic JSON; frames are rows ``[id, name, key, frame, width, height]``
(``frame`` is the video frame number of the sample, null for an image sample).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annosync.cvatxml.meta import Meta, parse_meta
from annosync.dataset import jsonfmt
from annosync.dataset.atomic import write_if_changed
from annosync.errors import InputError

RECORD_DIR = "cvat"
FORMAT = "annosync-cvat-record"
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class RecordFrame:
    id: int
    name: str
    key: str | None  # the sample (None: skipped on import)
    frame: int | None  # sample frame number of a video sample
    width: int | None
    height: int | None

    def row(self) -> list[Any]:
        return [self.id, self.name, self.key, self.frame, self.width, self.height]


@dataclass
class RecordTask:
    """One task of the file (a project export holds several)."""

    id: int | None = None
    subset: str | None = None
    video: str | None = None  # the video sample's key (video tasks)
    start: int = 0
    step: int = 1
    stop: int | None = None
    size: int | None = None
    frames: list[RecordFrame] = field(default_factory=list)  # images layout, in file order

    @property
    def last(self) -> int:
        """The task's last absolute frame (``stop``, else from ``size``)."""
        if self.stop is not None:
            return self.stop
        if self.size:
            return self.start + (self.size - 1) * self.step
        return self.start

    def next_frame(self, absolute: int) -> int | None:
        nxt = absolute + self.step
        if self.stop is not None:
            return nxt if nxt <= self.stop else None
        if self.size is not None:
            return nxt if (nxt - self.start) // self.step < self.size else None
        return nxt


@dataclass
class Record:
    name: str
    layout: str  # images | video
    meta_xml: str | None
    version: str | None = "1.1"
    source: str = ""
    fields: list[str] = field(default_factory=list)
    tasks: list[RecordTask] = field(default_factory=list)
    kind: str | None = None  # task | job | project

    def meta(self) -> Meta | None:
        if self.meta_xml is None:
            return None
        from lxml import etree

        from annosync.cvatxml.diag import Diagnostics
        from annosync.cvatxml.safe import pull_parser

        parser = pull_parser()
        parser.feed(self.meta_xml.encode("utf-8"))
        root = parser.close()
        return parse_meta(root, Diagnostics(None)) if isinstance(root, etree._Element) else None

    def keys(self) -> set[str]:
        out = {t.video for t in self.tasks if t.video}
        out.update(f.key for t in self.tasks for f in t.frames if f.key)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": 1, "name": self.name,
            "layout": self.layout, "kind": self.kind, "xml_version": self.version,
            "fields": self.fields, "meta": self.meta_xml,
            "tasks": [{
                "id": t.id, "subset": t.subset, "video": t.video, "start": t.start,
                "step": t.step, "stop": t.stop, "size": t.size,
                "frames": [f.row() for f in t.frames],
            } for t in self.tasks],
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> Record:
        try:
            if data.get("format") != FORMAT:
                raise ValueError("not an annosync CVAT record")
            rec = cls(name=str(data["name"]), layout=str(data["layout"]),
                      meta_xml=data.get("meta"), version=data.get("xml_version"),
                      source=str(data.get("source", "")), fields=list(data.get("fields", [])),
                      kind=data.get("kind"))
            for t in data["tasks"]:
                rec.tasks.append(RecordTask(
                    id=t.get("id"), subset=t.get("subset"), video=t.get("video"),
                    start=int(t.get("start", 0)), step=int(t.get("step", 1)),
                    stop=t.get("stop"), size=t.get("size"),
                    frames=[RecordFrame(int(r[0]), str(r[1]), r[2], r[3], r[4], r[5])
                            for r in t.get("frames", [])]))
            return rec
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise InputError.at(f"invalid CVAT record: {exc}", where) from None


def record_dir(root: Path) -> Path:
    return root / ".annosync" / RECORD_DIR


def record_name(text: str) -> str:
    name = _NAME.sub("_", text).strip("._") or "cvat"
    return name[:100]


def save(root: Path, record: Record) -> Path:
    path = record_dir(root) / f"{record.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(path, jsonfmt.dump_bytes(record.to_json()))
    return path


def load(path: Path) -> Record:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError.at(f"cannot read CVAT record: {exc}", str(path)) from None
    return Record.from_json(data, str(path))


def list_records(root: Path) -> list[Path]:
    d = record_dir(root)
    return sorted(d.glob("*.json")) if d.is_dir() else []


def find(root: Path, name: str | None, keys: set[str]) -> Record | None:
    """The record an export reproduces: ``name`` if given; otherwise the only record whose
    samples include some of ``keys`` (None if there is none; an error if several)."""
    paths = list_records(root)
    if name is not None:
        for p in paths:
            if p.stem == name:
                return load(p)
        known = ", ".join(p.stem for p in paths) or "none"
        raise InputError.at(f"no CVAT record named {name!r} (known: {known})",
                            str(record_dir(root)))
    hits = [r for r in (load(p) for p in paths) if r.keys() & keys]
    if not hits:
        return None
    if len(hits) > 1:
        names = ", ".join(r.name for r in hits)
        raise InputError.at(f"the samples belong to several imported CVAT files ({names}): "
                            "choose one with --record NAME (or --record none)",
                            str(record_dir(root)))
    return hits[0]
