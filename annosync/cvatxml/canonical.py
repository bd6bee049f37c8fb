"""The canonical form of a CVAT XML document: what "the same file" means for a round trip.

Why: an import -> export of a CVAT file must give back *the same annotations and meta*, but not
necessarily the same bytes (another tool's attribute order, ``1.0`` vs ``1.00``, the order of
shapes inside an image). ``canonical(doc)`` maps a document to plain, hashable data in which only
those differences vanish; ``diff(a, b)`` says where two documents differ, for test messages.

The rules (documented in docs/cvat-xml.md, "Canonical comparison"):

* numbers are compared after rounding to CVAT's 2 decimals (coordinates, rotation); mask runs,
  ``left``/``top``/``width``/``height``, ``z_order``, ``group_id``, frames and ids exactly;
* an optional attribute that is absent equals CVAT's default for it, as CVAT's importer reads it
  (``occluded``/``outside``/``z_order``/``group_id``/``rotation`` 0, ``source`` ``manual``);
* sets are unordered: labels and their attributes in meta, images (keyed by task, subset, id and
  name), shapes and tags inside an image, attributes of a shape, skeleton elements, tracks;
  a track's shapes are ordered by frame. Track ids are left out (CVAT numbers tracks from 0 in
  file order and its importer ignores them), and so is a skeleton's own ``points`` attribute
  (CVAT ignores it);
* meta is compared whole: every label with its color, type, attributes (input type, mutable,
  default, values), parent and svg, and every other element, as text. Whitespace-only text and
  an absent element are equal;
* what the format does not define (unknown attributes and elements) is left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from annosync.cvatxml.meta import Meta, meta_nodes
from annosync.cvatxml.model import Image, Shape, Tag, Track
from annosync.cvatxml.reader import Document


def _num(value: float | None) -> float:
    return round(float(value or 0.0), 2) + 0.0


def _attrs(attributes: Iterable[Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((a.name, a.value) for a in attributes))


def _bag(items: Iterable[Any]) -> tuple[Any, ...]:
    """A multiset as a sorted tuple (by repr, so any mix of values sorts)."""
    return tuple(sorted(items, key=repr))


def shape_key(s: Shape, *, in_track: bool = False) -> tuple[Any, ...]:
    """One shape as comparable data (see the module docstring)."""
    points: tuple[float, ...] = ()
    if s.kind != "skeleton":
        points = tuple(_num(v) for v in (s.points or []))
    mask = None
    if s.mask is not None:
        m = s.mask
        mask = (tuple(m.rle), m.left, m.top, m.width, m.height)
    return (
        s.kind, s.label, s.source or "manual",
        s.frame if in_track else None, bool(s.keyframe) if in_track else None,
        bool(s.outside), bool(s.occluded), points, mask, _num(s.rotation),
        s.z_order or 0, s.group_id or 0, _attrs(s.attributes),
        _bag(shape_key(e, in_track=in_track) for e in s.elements),
    )


def _tag_key(t: Tag) -> tuple[Any, ...]:
    return ("tag", t.label, t.source or "manual", t.group_id or 0, _attrs(t.attributes))


def _image_key(img: Image) -> tuple[Any, ...]:
    return (
        "image", img.task_id, img.subset, img.id, img.name, img.width, img.height,
        _bag(shape_key(s) for s in img.shapes), _bag(_tag_key(t) for t in img.tags),
    )


def _track_key(t: Track) -> tuple[Any, ...]:
    shapes = sorted((shape_key(s, in_track=True) for s in t.shapes), key=lambda k: (k[3], repr(k)))
    return ("track", t.label, t.source or "manual", t.task_id, t.subset, t.group_id or 0,
            tuple(shapes))


def _node(node: Any) -> Any:
    if node.raw is not None:
        return ("raw", node.raw)
    if node.children is None:
        return (node.tag, (node.text or "").strip())
    kids = [_node(c) for c in node.children]
    if node.tag in ("labels", "attributes"):
        return (node.tag, _bag(kids))  # sets
    return (node.tag, tuple(k for k in kids if k != ("", "")))


def meta_key(meta: Meta | None) -> Any:
    if meta is None:
        return None
    return tuple(_node(n) for n in meta_nodes(meta))


def canonical(doc: Document) -> tuple[Any, ...]:
    """The comparable content of a whole document."""
    images = _bag(_image_key(i) for i in doc.images)
    tracks = _bag(_track_key(t) for t in doc.tracks)
    return (doc.version or "", meta_key(doc.meta), images, tracks)


def diff(a: Document, b: Document, limit: int = 10) -> list[str]:
    """Human-readable differences between two documents' canonical forms (empty if equal)."""
    out: list[str] = []
    if (a.version or "") != (b.version or ""):
        out.append(f"version: {a.version!r} != {b.version!r}")
    ma, mb = meta_key(a.meta), meta_key(b.meta)
    if ma != mb:
        out.append(f"meta differs:\n  {ma!r}\n  {mb!r}")
    for what, ka, kb in (
        ("image", [_image_key(i) for i in a.images], [_image_key(i) for i in b.images]),
        ("track", [_track_key(t) for t in a.tracks], [_track_key(t) for t in b.tracks]),
    ):
        ca, cb = Counter(ka), Counter(kb)
        for k in (ca - cb):
            out.append(f"{what} only in the first: {k!r}")
        for k in (cb - ca):
            out.append(f"{what} only in the second: {k!r}")
    return out[:limit]


def same(a: Document, b: Document) -> bool:
    return canonical(a) == canonical(b)
