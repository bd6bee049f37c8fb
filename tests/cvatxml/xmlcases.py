"""Shared data of the CVAT XML tests: where the real files are, and a small XML normaliser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "tests" / "data" / "cvat"  # a copy of shared/cvat: tests read only the repository
EXPORTS = SHARED / "exports"
SAMPLES = SHARED / "samples"

IMAGE_XML = EXPORTS / "image_task_cvat_for_images_1.1__annotations.xml"
VIDEO_XML = EXPORTS / "video_task_cvat_for_video_1.1__annotations.xml"
IMAGE_ZIP = EXPORTS / "image_task_cvat_for_images_1.1.zip"
VIDEO_ZIP = EXPORTS / "video_task_cvat_for_video_1.1.zip"

REAL_EXPORTS = sorted(EXPORTS.glob("*.xml"))
SAMPLE_FILES = sorted(SAMPLES.glob("*.xml"))
ALL_XML = REAL_EXPORTS + SAMPLE_FILES
ALL_ZIPS = sorted(EXPORTS.glob("*.zip"))

#: Containers whose children the writer puts in CVAT 2.73's canonical order.
REORDERED = {"meta", "task", "job", "project", "image"}


def exchanges(path: str) -> list[dict[str, Any]]:
    data = json.loads((SHARED / path).read_text())
    return list(data["exchanges"])


def exchange(path: str, seq: int | None = None, **match: Any) -> dict[str, Any]:
    for e in exchanges(path):
        if seq is not None and e.get("seq") != seq:
            continue
        if all(e.get(k) == v for k, v in match.items()):
            return e
    raise KeyError((path, seq, match))


def _num(value: str) -> Any:
    try:
        return float(value)
    except ValueError:
        return value


def _attr_value(name: str, value: str) -> Any:
    if name in ("points",):
        return [tuple(_num(c) for c in pair.split(",")) for pair in value.split(";")] \
            if value else []
    if name == "rle":
        return [int(v) for v in value.split(",")]
    return _num(value)


def normalize(data: bytes) -> Any:
    """The XML's content with the differences our writer may introduce removed: attribute
    order, number spelling (1.0 = 1.00), the ``<x/>`` vs ``<x></x>`` form, indentation, and
    the order of children of meta/task/image containers (sorted by tag, stably)."""
    root = etree.fromstring(data)

    def norm(el: etree._Element) -> Any:
        kids = [c for c in el if isinstance(c.tag, str)]
        items = [norm(c) for c in kids]
        if el.tag in REORDERED:
            items.sort(key=lambda t: t[0])
        text = (el.text or "") if not kids else ""
        text = text if text.strip() else ""  # indentation inside an otherwise empty element
        attrs = {k: _attr_value(k, v) for k, v in el.attrib.items()}
        return (el.tag, sorted(attrs.items()), text, items)

    return norm(root)


def repaired(path: Path, target: Path) -> Path:
    """A copy of a sample CVAT would refuse, made acceptable the way a user would: shapes with
    an empty label dropped (datumaro writes them for unlabelled shapes), labels the shapes use
    but the meta lacks added to it (the docs' example tags 'good_frame'), ``<track>``s nested
    in a track dropped (datumaro's video sample)."""
    from annosync.cvatxml import read_document, write_document
    from annosync.cvatxml.meta import LabelMeta

    doc = read_document(path)
    for img in doc.images:
        img.shapes = [s for s in img.shapes if s.label]
    for track in doc.tracks:  # datumaro's nested element tracks: CVAT reads no such thing
        track.passthrough = [p for p in track.passthrough if not p.startswith("<track")]
    assert doc.meta is not None
    holder = doc.meta.project or doc.meta.task
    assert holder is not None and holder.labels is not None
    known = {lab.name for lab in holder.labels}
    used = {s.label for i in doc.images for s in i.shapes} | {t.label for i in doc.images
                                                              for t in i.tags}
    used |= {t.label for t in doc.tracks}
    for name in sorted(n for n in used if n and n not in known):
        holder.labels.append(LabelMeta(name=name, attributes=[]))
    write_document(doc, target)
    return target
