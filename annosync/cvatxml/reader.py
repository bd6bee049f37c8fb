"""Streaming reader of CVAT XML 1.1 ("CVAT for images" and "CVAT for video" layouts).

Memory stays flat however large the file: the document is fed to an lxml pull parser in chunks,
each top-level ``<image>`` / ``<track>`` is turned into model objects when its end tag arrives and
is then removed from the tree. Only one item is ever held (plus the meta).

Strict where CVAT's importer (``load_anno``) is strict, and precise about it: a missing required
attribute (``image@id``/``name``, a shape's ``label`` and coordinates, ``frame``/``keyframe`` in a
track, ``outside``/``occluded`` on skeleton elements, FACTS A.4), a bad number, a ``0``/``1``
flag with another value, an odd number of coordinates, or a mask whose runs do not add up to
``width*height`` raises ``InputError`` with ``file:line``. Unknown attributes and elements are
kept (``extra``, ``passthrough``) and reported as warnings. See ``safe.py`` for the security rules.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Union, cast

from lxml import etree

from annosync.cvatxml.diag import Diagnostics
from annosync.cvatxml.fastread import IMAGE, RAW, Decline, ExpatItems, utf8
from annosync.cvatxml.meta import Meta, parse_meta, raw_xml
from annosync.cvatxml.model import (
    COORD_ATTRS,
    MIN_POINT_VALUES,
    SHAPE_KINDS,
    Attr,
    Image,
    Item,
    Mask,
    Shape,
    Tag,
    Track,
)
from annosync.cvatxml.safe import MAX_PROLOG_BYTES, check_docinfo, check_prolog, pull_parser
from annosync.errors import InputError, Problem

Source = Union[str, "os.PathLike[str]", bytes, IO[bytes]]

#: bytes fed to the parser at a time: small enough that what it builds is still in the CPU cache
#: when the items are read (256 KiB was ~20% slower on a 100k-box file)
CHUNK_BYTES = 32 * 1024
#: bytes fed to expat at a time (``fastread``)
FAST_CHUNK_BYTES = 8 * 1024
#: read the items with expat where it gives the same objects (``fastread``); False: lxml only
#: (the reference the tests compare it with)
FAST = True
#: parses one item the fast path left to lxml (the pull parser's safety settings)
_ITEM_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                               dtd_validation=False, huge_tree=False, collect_ids=False)
_SHAPES = frozenset(SHAPE_KINDS)
_ELEMENT_SHAPES = frozenset(SHAPE_KINDS) - {"skeleton"}
#: the attributes of a ``<box>`` of an image as CVAT writes it (``_Body.plain_box``)
_PLAIN_BOX = {"label", "source", "occluded", "xtl", "ytl", "xbr", "ybr", "z_order"}
_isfinite = math.isfinite


@dataclass
class Document:
    """A whole document in memory (``read_document``); for big files iterate ``XmlReader``."""

    version: str | None = "1.1"
    meta: Meta | None = None
    items: list[Item] = field(default_factory=list)
    passthrough: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list, compare=False, repr=False)

    @property
    def images(self) -> list[Image]:
        return [i for i in self.items if isinstance(i, Image)]

    @property
    def tracks(self) -> list[Track]:
        return [i for i in self.items if isinstance(i, Track)]


class _Body:
    """Turns fully built ``<image>`` / ``<track>`` elements into model objects."""

    def __init__(self, diag: Diagnostics) -> None:
        self.diag = diag

    # -- values ---------------------------------------------------------------------------------
    def _req(self, a: dict[str, str], name: str, el: etree._Element) -> str:
        try:
            return a.pop(name)
        except KeyError:
            raise self.diag.error(
                f"<{el.tag}> is missing the required attribute '{name}'", el.sourceline
            ) from None

    def _float(self, text: str, name: str, el: etree._Element) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise self.diag.error(
                f"<{el.tag}> attribute '{name}' must be a finite number, got {text!r}",
                el.sourceline,
            )
        return value

    def _int(self, text: str, name: str, el: etree._Element) -> int:
        try:
            return int(text)
        except ValueError:
            raise self.diag.error(
                f"<{el.tag}> attribute '{name}' must be an integer, got {text!r}", el.sourceline
            ) from None

    def _opt_int(self, a: dict[str, str], name: str, el: etree._Element) -> int | None:
        text = a.pop(name, None)
        return None if text is None else self._int(text, name, el)

    def _opt_float(self, a: dict[str, str], name: str, el: etree._Element) -> float | None:
        text = a.pop(name, None)
        return None if text is None else self._float(text, name, el)

    def _opt_bool(self, a: dict[str, str], name: str, el: etree._Element,
                  required: bool = False) -> bool | None:
        text = a.pop(name, None)
        if text is None:
            if required:
                raise self.diag.error(
                    f"<{el.tag}> is missing the required attribute '{name}'", el.sourceline
                )
            return None
        if text == "1":
            return True
        if text == "0":
            return False
        raise self.diag.error(
            f"<{el.tag}> attribute '{name}' must be 0 or 1, got {text!r}", el.sourceline
        )

    def _points(self, text: str, el: etree._Element) -> list[float]:
        if not text.strip():
            return []
        pairs = text.split(";")
        flat = ",".join(pairs).split(",")
        if len(flat) != 2 * len(pairs):
            raise self.diag.error(
                f"<{el.tag}> attribute 'points' must be 'x,y;x,y;...', got {_clip(text)!r}",
                el.sourceline,
            )
        try:
            values = [float(v) for v in flat]
        except ValueError:
            values = [math.nan]
        if not all(map(math.isfinite, values)):
            raise self.diag.error(
                f"<{el.tag}> attribute 'points' holds a value that is not a finite number: "
                f"{_clip(text)!r}",
                el.sourceline,
            )
        return values

    def _mask(self, a: dict[str, str], el: etree._Element) -> Mask:
        rle_text = self._req(a, "rle", el)
        try:
            rle = [int(v) for v in rle_text.split(",")]
        except ValueError:
            raise self.diag.error(
                f"<mask> attribute 'rle' must be comma-separated integers, got {_clip(rle_text)!r}",
                el.sourceline,
            ) from None
        left = self._int(self._req(a, "left", el), "left", el)
        top = self._int(self._req(a, "top", el), "top", el)
        width = self._int(self._req(a, "width", el), "width", el)
        height = self._int(self._req(a, "height", el), "height", el)
        if width <= 0 or height <= 0:
            raise self.diag.error(
                f"<mask> width and height must be positive, got {width}x{height}", el.sourceline
            )
        if any(c < 0 for c in rle):
            raise self.diag.error("<mask> run lengths must not be negative", el.sourceline)
        if sum(rle) != width * height:
            raise self.diag.error(
                f"<mask> run lengths sum to {sum(rle)}, but width*height = {width * height} "
                "(CVAT's RLE covers the mask box row by row, FACTS A.5)",
                el.sourceline,
            )
        return Mask(rle=rle, left=left, top=top, width=width, height=height)

    # -- children -------------------------------------------------------------------------------
    def _attribute(self, el: etree._Element) -> Attr:
        name = el.get("name")
        if name is None:
            raise self.diag.error("<attribute> is missing the required attribute 'name'",
                                  el.sourceline)
        if len(el):
            self.diag.warn("child elements of <attribute> are ignored", el.sourceline)
        if len(el.attrib) > 1:
            others = ", ".join(k for k in el.attrib if k != "name")
            self.diag.warn(f"unknown attributes of <attribute> ignored: {others}", el.sourceline)
        return Attr(name, el.text or "")

    def _extra(self, a: dict[str, str], el: etree._Element) -> dict[str, str]:
        if a:
            self.diag.warn(
                f"unknown attribute(s) of <{el.tag}> kept as-is: {', '.join(sorted(a))}",
                el.sourceline,
            )
        return a

    def _unknown_child(self, child: etree._Element, parent: etree._Element,
                       passthrough: list[str]) -> None:
        self.diag.warn(f"unknown element <{child.tag}> in <{parent.tag}> kept as-is",
                       child.sourceline)
        passthrough.append(raw_xml(child))

    def _text_check(self, el: etree._Element) -> None:
        text = el.text
        if text and not text.isspace():
            self.diag.warn(f"text inside <{el.tag}> is ignored: {_clip(text.strip())!r}",
                           el.sourceline)

    def _tail_check(self, parent: etree._Element, child: etree._Element) -> None:
        tail = child.tail
        if tail and not tail.isspace():
            self.diag.warn(f"text inside <{parent.tag}> is ignored: {_clip(tail.strip())!r}",
                           child.sourceline)

    def _children(self, el: etree._Element) -> None:
        for child in el:
            self._tail_check(el, child)
        self._text_check(el)

    def _bool_error(self, el: etree._Element, name: str, text: str) -> InputError:
        return self.diag.error(f"<{el.tag}> attribute '{name}' must be 0 or 1, got {text!r}",
                               el.sourceline)

    def _missing(self, el: etree._Element, name: str, where: str = "") -> InputError:
        return self.diag.error(f"<{el.tag}>{where} is missing the required attribute '{name}'",
                               el.sourceline)

    # -- shapes ---------------------------------------------------------------------------------
    def plain_box(self, el: etree._Element) -> Shape | None:
        """``shape(el, False, False)`` of a ``<box>`` as CVAT writes it in an image (exactly
        its eight attributes, only ``<attribute name>`` children, no stray text): the same
        ``Shape`` with fewer calls into lxml; None when it is anything else (``shape`` then)."""
        a = dict(el.items())
        if a.keys() != _PLAIN_BOX:
            return None
        occluded = a["occluded"]
        if occluded == "0":
            occ = False
        elif occluded == "1":
            occ = True
        else:
            return None
        try:
            points = [float(a["xtl"]), float(a["ytl"]), float(a["xbr"]), float(a["ybr"])]
            z_order = int(a["z_order"])
        except ValueError:
            return None
        if not _isfinite(points[0] + points[1] + points[2] + points[3]):
            return None
        attributes: list[Attr] = []
        for child in el:
            if child.tag != "attribute":
                return None
            tail = child.tail
            if tail and not tail.isspace():
                return None
            pairs = child.items()
            if len(pairs) != 1 or pairs[0][0] != "name" or len(child):
                return None
            attributes.append(Attr(pairs[0][1], child.text or ""))
        text = el.text
        if text and not text.isspace():
            return None
        s = Shape("box", a["label"], a["source"], None, None, None, occ, points, None, None,
                  z_order, None, line=el.sourceline)
        if attributes:
            s.attributes = attributes
        return s

    def shape(self, el: etree._Element, in_track: bool, is_element: bool) -> Shape:
        """One shape element (the hot path of the reader: keep it lean)."""
        kind = el.tag
        a = dict(el.items())
        pop = a.pop
        label = pop("label", None)
        if label is None and (is_element or not in_track):
            raise self._missing(el, "label")
        source = pop("source", None)
        frame: int | None = None
        text = pop("frame", None)
        if text is not None:
            frame = self._int(text, "frame", el)
        elif in_track and not is_element:
            raise self._missing(el, "frame", " in a <track>")
        flags: list[bool | None] = []
        for name, required in (("keyframe", in_track), ("outside", is_element),
                               ("occluded", is_element)):
            text = pop(name, None)
            if text is None:
                if required:
                    raise self._missing(el, name)
                flags.append(None)
            elif text == "0":
                flags.append(False)
            elif text == "1":
                flags.append(True)
            else:
                raise self._bool_error(el, name, text)
        points: list[float] | None = None
        mask: Mask | None = None
        coords = COORD_ATTRS.get(kind)
        if coords is not None:
            try:
                points = [float(a[c]) for c in coords]
            except (KeyError, ValueError):
                points = [self._float(self._req(a, c, el), c, el) for c in coords]
            else:
                for c in coords:
                    del a[c]
            if not all(map(math.isfinite, points)):
                for c, v in zip(coords, points, strict=True):
                    self._float(repr(v), c, el)
        elif kind == "mask":
            mask = self._mask(a, el)
        elif kind == "skeleton":
            text = pop("points", None)
            points = None if text is None else self._points(text, el)
        else:
            text = pop("points", None)
            if text is None:
                raise self._missing(el, "points")
            points = self._points(text, el)
            need = MIN_POINT_VALUES[kind]
            if len(points) < need:
                raise self.diag.error(
                    f"<{kind}> needs at least {need // 2} point(s), got {len(points) // 2}",
                    el.sourceline,
                )
        rotation = z_order = group_id = None
        if a:
            rotation = self._opt_float(a, "rotation", el)
            z_order = self._opt_int(a, "z_order", el)
            group_id = self._opt_int(a, "group_id", el)
        s = Shape(kind, label, source, frame, flags[0], flags[1], flags[2], points, mask,
                  rotation, z_order, group_id, line=el.sourceline)
        if a:
            s.extra = self._extra(a, el)
        if len(el):
            attributes = s.attributes
            for child in el:
                tag = child.tag
                if tag == "attribute":
                    attributes.append(self._attribute(child))
                elif kind == "skeleton" and tag in _ELEMENT_SHAPES:
                    s.elements.append(self.shape(child, in_track, True))
                elif isinstance(tag, str):
                    self._unknown_child(child, el, s.passthrough)
                self._tail_check(el, child)
        self._text_check(el)
        return s

    def tag(self, el: etree._Element) -> Tag:
        a = dict(el.attrib)
        t = Tag(label=self._req(a, "label", el), line=el.sourceline)
        t.source = a.pop("source", None)
        t.group_id = self._opt_int(a, "group_id", el)
        t.extra = self._extra(a, el)
        for child in el:
            if child.tag == "attribute":
                t.attributes.append(self._attribute(child))
            elif isinstance(child.tag, str):
                self._unknown_child(child, el, t.passthrough)
        self._children(el)
        return t

    def image(self, el: etree._Element) -> Image:
        a = dict(el.attrib)
        img = Image(
            id=self._int(self._req(a, "id", el), "id", el),
            name=self._req(a, "name", el),
            line=el.sourceline,
        )
        img.subset = a.pop("subset", None)
        img.task_id = self._opt_int(a, "task_id", el)
        img.width = self._opt_int(a, "width", el)
        img.height = self._opt_int(a, "height", el)
        img.extra = self._extra(a, el)
        shapes, tags = img.shapes, img.tags
        plain_box = self.plain_box
        for child in el:
            tag = child.tag
            if tag == "box":
                shapes.append(plain_box(child) or self.shape(child, False, False))
            elif tag in _SHAPES:
                shapes.append(self.shape(child, False, False))
            elif tag == "tag":
                tags.append(self.tag(child))
            elif isinstance(tag, str):
                self._unknown_child(child, el, img.passthrough)
            tail = child.tail
            if tail and not tail.isspace():
                self._tail_check(el, child)
        self._text_check(el)
        return img

    def track(self, el: etree._Element) -> Track:
        a = dict(el.attrib)
        t = Track(label=self._req(a, "label", el), line=el.sourceline)
        t.id = self._opt_int(a, "id", el)
        t.source = a.pop("source", None)
        t.task_id = self._opt_int(a, "task_id", el)
        t.subset = a.pop("subset", None)
        t.group_id = self._opt_int(a, "group_id", el)
        t.extra = self._extra(a, el)
        for child in el:
            tag = child.tag
            if tag in _SHAPES:
                t.shapes.append(self.shape(child, True, False))
            elif isinstance(tag, str):
                self._unknown_child(child, el, t.passthrough)
            self._tail_check(el, child)
        self._text_check(el)
        return t


class _Shifted(Diagnostics):
    """``diag`` with every line moved by ``delta`` (an item parsed out of its file)."""

    def __init__(self, diag: Diagnostics, delta: int) -> None:
        super().__init__(diag.path)
        self.warnings = diag.warnings
        self.delta = delta

    def error(self, message: str, line: int | None = None) -> InputError:
        return super().error(message, None if line is None else line + self.delta)

    def warn(self, message: str, line: int | None = None) -> None:
        super().warn(message, None if line is None else line + self.delta)


def _shift_shape(s: Shape, delta: int) -> None:
    if s.line is not None:
        s.line += delta
    for e in s.elements:
        _shift_shape(e, delta)


def _shift(item: Item, delta: int) -> None:
    if item.line is not None:
        item.line += delta
    for s in item.shapes:
        _shift_shape(s, delta)
    for t in getattr(item, "tags", ()):
        if t.line is not None:
            t.line += delta


class _Replay(io.RawIOBase):
    """``head`` (bytes read already), then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._head:
            n = len(self._head) if size is None or size < 0 else size
            out, self._head = bytes(self._head[:n]), self._head[n:]
            return out
        return self._stream.read(-1 if size is None else size)


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n] + "..."


class XmlReader:
    """Stream one CVAT XML document.

    ``version`` and ``meta`` are read when the reader opens (meta precedes the items); then
    ``items()`` yields each ``Image`` / ``Track`` in document order. ``warnings`` collects what
    was kept but not understood; ``passthrough`` the unknown top-level elements (complete once
    ``items()`` is exhausted). Use as a context manager to close a file it opened.
    """

    def __init__(self, source: Source, *, name: str | None = None) -> None:
        self._owned: IO[bytes] | None = None
        if isinstance(source, (bytes, bytearray)):
            import io

            stream: IO[bytes] = io.BytesIO(bytes(source))
            default_name = "<bytes>"
        elif isinstance(source, (str, os.PathLike)):
            path = Path(source)
            try:
                stream = self._owned = open(path, "rb")  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise InputError.at(f"cannot read XML file: {exc.strerror}", str(path)) from None
            default_name = str(path)
        else:
            stream = source
            default_name = getattr(source, "name", None) or "<stream>"
        self.name = name or str(default_name)
        self.diag = Diagnostics(self.name)
        self._stream = stream
        self._parser = pull_parser()
        self._body = _Body(self.diag)
        self._root: etree._Element | None = None
        self._first = True
        self._done = False
        self._pending: etree._Element | None = None
        self._events = self._element_events()
        self.version: str | None = None
        self.meta: Meta | None = None
        self.passthrough: list[str] = []
        self._fast: ExpatItems | None = None
        self._last_line: int | None = None  # of the last top-level element (fast path)
        try:
            if FAST:
                self._start_fast()
            self._read_header()
        except BaseException:
            self.close()
            raise

    @property
    def warnings(self) -> list[Problem]:
        return self.diag.warnings

    # -- low level ------------------------------------------------------------------------------
    def _syntax_error(self, exc: etree.XMLSyntaxError) -> InputError:
        line = exc.lineno if exc.lineno else None
        msg = exc.msg if hasattr(exc, "msg") and exc.msg else str(exc)
        if line is None and msg == "no element found":
            # libxml2 gives no position when entity resolution is off and an undefined
            # entity is referenced
            msg += " (no root element, or an undefined entity reference such as '&name;')"
        return self.diag.error(f"malformed XML: {msg}", line)

    def _read_prefix(self) -> bytes:
        """The first chunk, extended until the prolog is known clean (``check_prolog``)."""
        chunk = self._stream.read(CHUNK_BYTES)
        if not chunk:
            raise self.diag.error("empty file: expected a CVAT XML document", 1)
        prefix = chunk
        while not check_prolog(prefix, self.diag):
            if len(prefix) >= MAX_PROLOG_BYTES:
                raise self.diag.error(
                    f"no root element within the first {MAX_PROLOG_BYTES} bytes: "
                    "refusing an over-long prolog", 1)
            more = self._stream.read(CHUNK_BYTES)
            if not more:
                break
            prefix += more
        return prefix

    def _element_events(self) -> Iterator[etree._Element]:
        parser = self._parser
        first_chunk = True
        while True:
            try:
                for _, el in parser.read_events():
                    yield el
                if first_chunk:
                    first_chunk = False
                    chunk = self._read_prefix()
                else:
                    chunk = self._stream.read(CHUNK_BYTES)
                if not chunk:
                    break
                parser.feed(chunk)
            except etree.XMLSyntaxError as exc:
                raise self._syntax_error(exc) from None
        try:
            root = parser.close()
        except etree.XMLSyntaxError as exc:
            raise self._syntax_error(exc) from None
        for _, el in parser.read_events():
            yield el
        if self._root is None:
            self._check_root(root)
            self._root = root
        self._flush_unknown(None)

    def _check_root(self, root: etree._Element) -> None:
        if self._first:
            self._first = False
            check_docinfo(root, self.diag)
        if root.tag != "annotations":
            raise self.diag.error(
                f"not a CVAT XML document: the root element is <{root.tag}>, expected "
                "<annotations>",
                root.sourceline,
            )

    def _flush_unknown(self, until: etree._Element | None) -> None:
        """Report and keep the unknown top-level elements before ``until`` (all if None)."""
        root = self._root
        if root is None:
            return
        while len(root) and root[0] is not until:
            child = root[0]
            if isinstance(child.tag, str):
                self.diag.warn(f"unknown element <{child.tag}> in <annotations> kept as-is",
                               child.sourceline)
                self.passthrough.append(raw_xml(child))
            root.remove(child)

    def _top_level(self) -> Iterator[etree._Element]:
        """Top-level version/meta/image/track elements, each complete, in document order."""
        for el in self._events:
            parent = el.getparent()
            if parent is None:
                self._check_root(el)  # the root itself has a watched name: not <annotations>
                continue
            if self._root is None:
                if self._first:
                    self._first = False
                    check_docinfo(el, self.diag)
                if parent.getparent() is not None:
                    continue  # nested inside an unknown element; reported with it
                self._check_root(parent)
                self._root = parent
            elif parent is not self._root:
                continue
            self._flush_unknown(el)
            yield el
            if el.tail and el.tail.strip():
                self.diag.warn(f"text in <annotations> is ignored: {_clip(el.tail.strip())!r}",
                               el.sourceline)
            self._root.remove(el)

    def _read_header(self) -> None:
        for el in self._top_level():
            if el.tag == "version" and self.version is None and self.meta is None:
                self.version = el.text or ""
            elif el.tag == "meta" and self.meta is None:
                self.meta = parse_meta(el, self.diag)
            elif el.tag in ("image", "track"):
                # keep it attached until items() consumes it: detach a copy-free reference
                self._pending = el
                self._root.remove(el)  # type: ignore[union-attr]
                return
            else:
                self.diag.warn(f"unexpected <{el.tag}> in <annotations> kept as-is",
                               el.sourceline)
                self.passthrough.append(raw_xml(el))
        self._done = True

    def _start_fast(self) -> None:
        """Read up to the first item with expat (``fastread``); its header then goes to lxml
        (``_read_header``) and the items come from expat. A declined file is replayed whole
        to lxml."""
        prefix = self._read_prefix()
        if not utf8(prefix):
            self._stream = cast(IO[bytes], _Replay(prefix, self._stream))
            return
        fast = ExpatItems(self._stream, FAST_CHUNK_BYTES)
        try:
            head = fast.start(prefix)
        except Decline:
            self._stream = cast(IO[bytes], _Replay(fast.consumed(), self._stream))
            return
        self._fast = fast
        self._stream = io.BytesIO(head + b"</annotations>")

    def _fast_items(self, fast: ExpatItems) -> Iterator[Item]:
        for entry in fast.entries():
            kind = entry[0]
            if kind == IMAGE:
                self._last_line = entry[1].line
                yield entry[1]
            elif kind == RAW:
                item = self._reparse(entry[1], entry[2])
                if item is not None:
                    yield item
            else:  # text after the last top-level element
                self.diag.warn(entry[1], self._last_line)
        if fast.error is not None:
            reason, line = fast.error
            raise self.diag.error(f"malformed XML: {reason}", line)

    def _reparse(self, raw: bytes, line: int) -> Item | None:
        """A top-level element the fast path left to lxml, read as the general reader reads
        it; ``line``: where it starts in the file (its lines are shifted there)."""
        delta = line - 1
        try:
            root = etree.fromstring(b"<annotations>" + raw + b"</annotations>", _ITEM_PARSER)
        except etree.XMLSyntaxError as exc:
            if exc.lineno:
                exc.lineno += delta
            raise self._syntax_error(exc) from None
        el = root[0]
        self._last_line = el.sourceline + delta
        diag = _Shifted(self.diag, delta)
        if el.tag == "image" or el.tag == "track":
            body = _Body(diag)
            item: Item = body.image(el) if el.tag == "image" else body.track(el)
            _shift(item, delta)
            return item
        what = "unexpected" if el.tag in ("version", "meta") else "unknown element"
        where = "after the items" if el.tag in ("version", "meta") else "in <annotations>"
        diag.warn(f"{what} <{el.tag}> {where} kept as-is", el.sourceline)
        self.passthrough.append(raw_xml(el))
        return None

    def _item(self, el: etree._Element) -> Item | None:
        if el.tag == "image":
            return self._body.image(el)
        if el.tag == "track":
            return self._body.track(el)
        self.diag.warn(f"unexpected <{el.tag}> after the items kept as-is", el.sourceline)
        self.passthrough.append(raw_xml(el))
        return None

    # -- public ---------------------------------------------------------------------------------
    def items(self) -> Iterator[Item]:
        """Each ``<image>`` / ``<track>`` as a model object, in document order."""
        if self._fast is not None:
            fast, self._fast = self._fast, None
            yield from self._fast_items(fast)
            return
        if self._pending is not None:
            el, self._pending = self._pending, None
            item = self._item(el)
            if item is not None:
                yield item
        if self._done:
            return
        for el in self._top_level():
            item = self._item(el)
            if item is not None:
                yield item
        self._done = True

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __enter__(self) -> XmlReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_document(source: Source, *, name: str | None = None) -> Document:
    """Read a whole document into memory (fine for task-sized files)."""
    with XmlReader(source, name=name) as reader:
        items = list(reader.items())
        return Document(
            version=reader.version,
            meta=reader.meta,
            items=items,
            passthrough=list(reader.passthrough),
            warnings=list(reader.warnings),
        )
