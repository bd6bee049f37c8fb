"""Streaming writer of CVAT XML 1.1, laid out byte for byte like CVAT's own dumper.

The layout follows ``XmlAnnotationWriter`` / ``dump_as_cvat_annotation`` /
``dump_as_cvat_interpolation`` in cvat/apps/dataset_manager/formats/cvat.py (CVAT 2.73): the
``<?xml version="1.0" encoding="utf-8"?>`` declaration, two-space indentation with every start tag
and every container's end tag on its own line (so an annotation without attributes is written
``<box ...>\\n    </box>``), attributes in the dumper's order, ``{:.2f}`` numbers, ``0``/``1``
flags, and a final newline after ``</annotations>``.

Elements are written with lxml's incremental ``etree.xmlfile``, one item at a time, so memory
stays flat. Known difference from CVAT (Python's ``XMLGenerator``): an attribute value containing
``"`` is written double-quoted with ``&quot;`` (CVAT switches to single quotes), and a carriage
return in text is written ``&#13;``. Both read back identically.

What is written is exactly what the model holds: a field that is ``None`` is not written (the
dumper omits ``rotation``/``group_id`` when zero; builders in ``bridge.py`` leave them ``None``).
Writing to a path is atomic (temporary file, then rename).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from lxml import etree

from annosync.cvatxml.encoding import (
    NumberStyle,
    fmt_bool,
    fmt_cvat,
    fmt_points,
    fmt_rle,
    number_formatter,
)
from annosync.cvatxml.meta import Meta, Node, meta_nodes
from annosync.cvatxml.model import COORD_ATTRS, Attr, Image, Item, Shape, Tag, Track
from annosync.cvatxml.reader import Document

DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'

_INDENT = ["\n" + "  " * i for i in range(12)]

_RAW_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


def _new_file_mode(target: Path) -> int:
    """An existing file keeps its mode; a new one gets 0666 minus the umask, like open()."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mask = os.umask(0o022)
        os.umask(mask)
        return 0o666 & ~mask


def _raw_element(raw: str) -> etree._Element:
    return etree.fromstring(raw, parser=_RAW_PARSER)


#: Attribute order of a shape in CVAT's dumper (cvat/apps/dataset_manager/formats/cvat.py).
_IMAGE_SHAPE_ORDER = ("label", "source", "outside", "occluded", "coords", "rotation", "z_order",
                      "group_id", "frame", "keyframe")
_TRACK_SHAPE_ORDER = ("frame", "label", "keyframe", "outside", "occluded", "coords", "rotation",
                      "z_order", "source", "group_id")


class XmlWriter:
    """Write one CVAT XML document item by item::

        with XmlWriter(path, meta=meta) as w:
            for image in images:
                w.write(image)

    ``numbers``: ``"exact"`` (default; ``{:.2f}`` unless that would change the value) or
    ``"cvat"`` (always ``{:.2f}``, as the dumper). ``passthrough``: unknown top-level elements to
    write back before ``</annotations>``.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | IO[bytes],
        *,
        meta: Meta | None = None,
        version: str | None = "1.1",
        numbers: NumberStyle = "exact",
        passthrough: Iterable[str] = (),
    ) -> None:
        self._fmt: Callable[[float], str] = number_formatter(numbers)
        self._passthrough = list(passthrough)
        self._stack = ExitStack()
        self._tmp: Path | None = None
        self._target: Path | None = None
        self._closed = False
        if isinstance(target, (str, os.PathLike)):
            self._target = Path(target)
            self._target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                prefix=f".{self._target.name}.", suffix=".tmp", dir=self._target.parent
            )
            self._tmp = Path(tmp)
            if hasattr(os, "fchmod"):  # mkstemp makes 0600 files: give the user's umask
                os.fchmod(fd, _new_file_mode(self._target))
            self._file: IO[bytes] = os.fdopen(fd, "wb")
        else:
            self._file = target
        try:
            self._file.write(DECLARATION)
            self._xf = self._stack.enter_context(
                etree.xmlfile(self._file, encoding="utf-8", buffered=True)
            )
            self._stack.enter_context(self._xf.element("annotations"))
            if version is not None:
                self._indent(1)
                with self._xf.element("version"):
                    self._xf.write(version)
            if meta is not None:
                self._indent(1)
                with self._xf.element("meta"):
                    for node in meta_nodes(meta):
                        self._node(node, 2)
                    self._indent(1)
        except BaseException:
            self.abort()
            raise

    # -- primitives -----------------------------------------------------------------------------
    def _indent(self, level: int) -> None:
        self._xf.write(_INDENT[level] if level < len(_INDENT) else "\n" + "  " * level)

    def _node(self, node: Node, level: int) -> None:
        self._indent(level)
        if node.raw is not None:
            self._xf.write(_raw_element(node.raw))
        elif node.children is None:
            with self._xf.element(node.tag):
                if node.text:
                    self._xf.write(node.text)
        else:
            with self._xf.element(node.tag):
                for child in node.children:
                    self._node(child, level + 1)
                self._indent(level)

    def _attributes(self, attributes: list[Attr], level: int) -> None:
        xf = self._xf
        indent = _INDENT[level]
        for attr in attributes:
            xf.write(indent)
            with xf.element("attribute", {"name": attr.name}):
                if attr.value:
                    xf.write(attr.value)

    def _raws(self, raws: list[str], level: int) -> None:
        for raw in raws:
            self._indent(level)
            self._xf.write(_raw_element(raw))

    # -- shapes ---------------------------------------------------------------------------------
    def _coords(self, s: Shape, out: dict[str, str]) -> None:
        fmt = self._fmt
        kind = s.kind
        names = COORD_ATTRS.get(kind)
        if names is not None:
            pts = s.points or []
            if len(pts) != len(names):
                raise ValueError(f"<{kind}> needs {len(names)} coordinates, got {len(pts)}")
            for name, value in zip(names, pts, strict=True):
                out[name] = fmt(value)
        elif kind == "mask":
            m = s.mask
            if m is None:
                raise ValueError("a <mask> shape needs its mask")
            out["rle"] = fmt_rle(m.rle)
            out["left"] = str(m.left)
            out["top"] = str(m.top)
            out["width"] = str(m.width)
            out["height"] = str(m.height)
        elif s.points is not None:
            pts = s.points
            if len(pts) % 2:
                raise ValueError(f"<{kind}> needs an even number of coordinates")
            if fmt is fmt_cvat:
                it = iter(pts)
                out["points"] = ";".join([f"{x:.2f},{y:.2f}" for x, y in zip(it, it, strict=True)])
            else:
                out["points"] = fmt_points(pts, fmt)
        elif kind != "skeleton":
            raise ValueError(f"<{kind}> needs points")

    def _shape_attrs(self, s: Shape, order: tuple[str, ...]) -> dict[str, str]:
        """A shape's XML attributes in the dumper's order; unset ones are left out."""
        values: dict[str, str | None] = {
            "label": s.label,
            "source": s.source,
            "outside": None if s.outside is None else fmt_bool(s.outside),
            "occluded": None if s.occluded is None else fmt_bool(s.occluded),
            "rotation": None if s.rotation is None else self._fmt(s.rotation),
            "z_order": None if s.z_order is None else str(s.z_order),
            "group_id": None if s.group_id is None else str(s.group_id),
            "frame": None if s.frame is None else str(s.frame),
            "keyframe": None if s.keyframe is None else fmt_bool(s.keyframe),
        }
        out: dict[str, str] = {}
        for name in order:
            value = values.get(name)
            if name == "coords":
                self._coords(s, out)
            elif value is not None:
                out[name] = value
        if s.extra:
            out.update(s.extra)
        return out

    def _shape(self, s: Shape, level: int, in_track: bool) -> None:
        xf = self._xf
        attrs = self._shape_attrs(s, _TRACK_SHAPE_ORDER if in_track else _IMAGE_SHAPE_ORDER)
        indent = _INDENT[level]
        xf.write(indent)
        with xf.element(s.kind, attrs):
            for element in s.elements:
                self._shape(element, level + 1, in_track)
            if s.attributes:
                self._attributes(s.attributes, level + 1)
            if s.passthrough:
                self._raws(s.passthrough, level + 1)
            xf.write(indent)

    def _tag(self, t: Tag, level: int) -> None:
        attrs = {"label": t.label}
        if t.source is not None:
            attrs["source"] = t.source
        if t.group_id is not None:
            attrs["group_id"] = str(t.group_id)
        attrs.update(t.extra)
        self._indent(level)
        with self._xf.element("tag", attrs):
            self._attributes(t.attributes, level + 1)
            self._raws(t.passthrough, level + 1)
            self._indent(level)

    # -- items ----------------------------------------------------------------------------------
    def write_image(self, image: Image) -> None:
        text = image_text(image, self._fmt)
        if text is not None:  # the same bytes lxml would write, made as one string
            self._xf.flush()
            self._file.write(text.encode("utf-8"))
            return
        self._write_image(image)

    def _write_image(self, image: Image) -> None:
        attrs = {"id": str(image.id), "name": image.name}
        if image.subset is not None:
            attrs["subset"] = image.subset
        if image.task_id is not None:
            attrs["task_id"] = str(image.task_id)
        if image.width is not None:
            attrs["width"] = str(image.width)
        if image.height is not None:
            attrs["height"] = str(image.height)
        attrs.update(image.extra)
        self._indent(1)
        with self._xf.element("image", attrs):
            for shape in image.shapes:
                self._shape(shape, 2, False)
            for tag in image.tags:
                self._tag(tag, 2)
            self._raws(image.passthrough, 2)
            self._indent(1)

    def write_rendered(self, data: bytes) -> None:
        """An item already rendered as ``image_text`` renders it, in UTF-8 (the same bytes
        as writing the item)."""
        self._xf.flush()
        self._file.write(data)

    def write_track(self, track: Track) -> None:
        attrs: dict[str, str] = {}
        if track.id is not None:
            attrs["id"] = str(track.id)
        attrs["label"] = track.label
        if track.source is not None:
            attrs["source"] = track.source
        if track.task_id is not None:
            attrs["task_id"] = str(track.task_id)
        if track.subset is not None:
            attrs["subset"] = track.subset
        if track.group_id is not None:
            attrs["group_id"] = str(track.group_id)
        attrs.update(track.extra)
        self._indent(1)
        with self._xf.element("track", attrs):
            for shape in track.shapes:
                self._shape(shape, 2, True)
            self._raws(track.passthrough, 2)
            self._indent(1)

    def write(self, item: Item) -> None:
        if isinstance(item, Image):
            self.write_image(item)
        elif isinstance(item, Track):
            self.write_track(item)
        else:
            raise TypeError(f"cannot write {type(item).__name__} as a CVAT XML item")

    def write_all(self, items: Iterable[Item]) -> None:
        for item in items:
            self.write(item)

    def write_spilled(self, spill: ItemSpill) -> None:
        """The items of ``spill`` (serialized earlier with the same number style), as if
        written here one by one: the bytes are copied, not parsed again."""
        self._xf.flush()
        spill.copy_to(self._file)

    # -- closing --------------------------------------------------------------------------------
    def close(self) -> None:
        """Finish the document (and, for a path, move it into place)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._raws(self._passthrough, 1)
            self._indent(0)
            self._stack.close()
            self._file.write(b"\n")
            self._file.flush()
            if self._tmp is not None and self._target is not None:
                os.fsync(self._file.fileno())
                self._file.close()
                os.replace(self._tmp, self._target)
                self._tmp = None
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop without producing the target (a path target is left untouched)."""
        self._closed = True
        with contextlib.suppress(Exception):
            self._stack.close()
        if self._tmp is not None:
            with contextlib.suppress(Exception):
                self._file.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None

    def __enter__(self) -> XmlWriter:
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# -- the fast path of write_image ---------------------------------------------------------------
class _Other(Exception):
    """Something ``image_text`` leaves to lxml (which writes it, or refuses it)."""


#: what lxml escapes in attribute values and in text, and what it refuses (not XML 1.0 text)
_SPECIAL = re.compile('[&<>"\n\r\t\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FAST_KINDS = frozenset({"box", "ellipse", "cuboid", "polygon", "polyline", "points"})
_IND2, _IND3 = _INDENT[2], _INDENT[3]


def _escaper(escape: Callable[[str], str]) -> Callable[[str], str]:
    """A string as lxml writes it, ``escape`` applied when it holds a special character; plain
    and escaped forms are memoised (labels, sources, names and attribute texts repeat a lot).
    Not a string, or characters lxml refuses: ``_Other``."""
    seen: dict[str, str] = {}

    def convert(value: str) -> str:
        if type(value) is not str:
            raise _Other
        done = seen.get(value)
        if done is not None:
            return done
        if _SPECIAL.search(value) is None:
            text = value
        elif _INVALID.search(value):
            raise _Other
        else:
            text = escape(value)
        if len(seen) > 4096:
            seen.clear()
        seen[value] = text
        return text

    return convert


#: an attribute value (between double quotes)
_att = _escaper(lambda v: v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;")
                .replace("\t", "&#9;"))
#: text content
_txt = _escaper(lambda v: v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace("\r", "&#13;"))


def _attribute_lines(attributes: list[Attr], indent: str, out: list[str]) -> None:
    for name, value in attributes:
        out.append(f'{indent}<attribute name="{_att(name)}">{_txt(value)}</attribute>')


def _flag(name: str, value: bool | None) -> str:
    if value is None:
        return ""
    return f' {name}="1"' if value else f' {name}="0"'


def _shape_text(s: Shape, fmt: Callable[[float], str], out: list[str]) -> None:
    """An images-layout shape (``_IMAGE_SHAPE_ORDER``) with nothing but known attributes."""
    kind = s.kind
    if kind not in _FAST_KINDS or s.elements or s.passthrough or s.extra:
        raise _Other
    pts = s.points
    if pts is None:
        raise _Other
    names = COORD_ATTRS.get(kind)
    if names is not None:
        if len(pts) != len(names):
            raise _Other
        if kind == "box":
            x0, y0, x1, y1 = pts
            coords = f' xtl="{fmt(x0)}" ytl="{fmt(y0)}" xbr="{fmt(x1)}" ybr="{fmt(y1)}"'
        else:
            coords = "".join([f' {n}="{fmt(v)}"' for n, v in zip(names, pts, strict=True)])
    else:
        if len(pts) % 2:
            raise _Other
        if fmt is fmt_cvat:
            it = iter(pts)
            text = ";".join([f"{x:.2f},{y:.2f}" for x, y in zip(it, it, strict=True)])
        else:
            text = fmt_points(pts, fmt)
        coords = f' points="{text}"'
    label = "" if s.label is None else f' label="{_att(s.label)}"'
    source = "" if s.source is None else f' source="{_att(s.source)}"'
    rotation = "" if s.rotation is None else f' rotation="{fmt(s.rotation)}"'
    z_order = "" if s.z_order is None else f' z_order="{_att(str(s.z_order))}"'
    group = "" if s.group_id is None else f' group_id="{_att(str(s.group_id))}"'
    frame = "" if s.frame is None else f' frame="{_att(str(s.frame))}"'
    out.append(f"{_IND2}<{kind}{label}{source}{_flag('outside', s.outside)}"
               f"{_flag('occluded', s.occluded)}{coords}{rotation}{z_order}{group}{frame}"
               f"{_flag('keyframe', s.keyframe)}>")
    if s.attributes:
        _attribute_lines(s.attributes, _IND3, out)
    out.append(f"{_IND2}</{kind}>")


def image_head(ident: int, name: str, subset: str | None, task_id: int | None,
               width: int | None, height: int | None) -> str:
    """The start tag of an ``<image>`` (with its indentation) as ``write_image`` writes it;
    ``_Other`` for text lxml would refuse."""
    head = [f'{_INDENT[1]}<image id="{_att(str(ident))}" name="{_att(name)}"']
    if subset is not None:
        head.append(f' subset="{_att(subset)}"')
    if task_id is not None:
        head.append(f' task_id="{_att(str(task_id))}"')
    if width is not None:
        head.append(f' width="{_att(str(width))}"')
    if height is not None:
        head.append(f' height="{_att(str(height))}"')
    head.append(">")
    return "".join(head)


def image_text(image: Image, fmt: Callable[[float], str]) -> str | None:
    """``XmlWriter.write_image``'s bytes (decoded) for an image of plain shapes and tags, made
    as strings instead of through lxml's incremental writer (about 3x faster); ``None`` for
    anything else (extra attributes, unknown elements, masks, skeletons, text lxml refuses or
    a shape lxml's path would refuse), which lxml then writes or refuses as always."""
    if image.extra or image.passthrough:
        return None
    try:
        out = [image_head(image.id, image.name, image.subset, image.task_id, image.width,
                          image.height)]
        for shape in image.shapes:
            _shape_text(shape, fmt, out)
        for t in image.tags:
            if t.extra or t.passthrough:
                return None
            line = f'{_IND2}<tag label="{_att(t.label)}"'
            if t.source is not None:
                line += f' source="{_att(t.source)}"'
            if t.group_id is not None:
                line += f' group_id="{_att(str(t.group_id))}"'
            out.append(line + ">")
            _attribute_lines(t.attributes, _IND3, out)
            out.append(f"{_IND2}</tag>")
        out.append(f"{_INDENT[1]}</image>")
    except _Other:
        return None
    return "".join(out)


_CLOSING = b"\n</annotations>\n"


class ItemSpill:
    """Items written now, placed later after a ``<meta>`` that depends on them.

    Why: the meta of a dataset export lists the labels and attributes the items use, so it is
    known only once every item is made; holding a million shapes until then took gigabytes.
    The items go to an anonymous temporary file as the body of an ``XmlWriter`` document
    without version or meta, and ``XmlWriter.write_spilled`` copies that body after the real
    header: the same bytes as writing the items there directly (each item starts with its own
    indentation, the document ends with ``\n</annotations>\n`` either way)."""

    def __init__(self, numbers: NumberStyle = "exact", directory: Path | None = None) -> None:
        self._fh: IO[bytes] = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 (closed by close)
        self._writer: XmlWriter | None = XmlWriter(self._fh, meta=None, version=None,
                                                   numbers=numbers)
        self._head = len(DECLARATION) + len(b"<annotations>")
        self._end = 0

    def write(self, item: Item) -> None:
        assert self._writer is not None, "the spill is finished"
        self._writer.write(item)

    def write_rendered(self, data: bytes) -> None:
        """An item rendered beforehand (``XmlWriter.write_rendered``)."""
        assert self._writer is not None, "the spill is finished"
        self._writer.write_rendered(data)

    def finish(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        self._fh.flush()
        size = self._fh.seek(0, os.SEEK_END)
        self._fh.seek(0)
        head = self._fh.read(self._head)
        self._fh.seek(size - len(_CLOSING))
        tail = self._fh.read(len(_CLOSING))
        if head != DECLARATION + b"<annotations>" or tail != _CLOSING:  # pragma: no cover
            raise RuntimeError("unexpected spilled XML layout")
        self._end = size - len(_CLOSING)

    def copy_to(self, out: IO[bytes]) -> None:
        self.finish()
        self._fh.seek(self._head)
        left = self._end - self._head
        while left > 0:
            chunk = self._fh.read(min(left, 1 << 20))
            if not chunk:  # pragma: no cover
                raise RuntimeError("the spilled items were cut short")
            out.write(chunk)
            left -= len(chunk)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        self._fh.close()

    def __enter__(self) -> ItemSpill:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def write_document(doc: Document, target: str | os.PathLike[str] | IO[bytes], *,
                   numbers: NumberStyle = "exact") -> None:
    with XmlWriter(target, meta=doc.meta, version=doc.version, numbers=numbers,
                   passthrough=doc.passthrough) as writer:
        writer.write_all(doc.items)


def document_bytes(doc: Document, *, numbers: NumberStyle = "exact") -> bytes:
    import io

    buf = io.BytesIO()
    write_document(doc, buf, numbers=numbers)
    return buf.getvalue()
