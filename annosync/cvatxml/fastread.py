"""The items of a CVAT XML file read with pyexpat: the reader's fast path (issue 11).

Why: lxml's pull parser builds a tree of every element, and the reader then walks it through
lxml's API; for a million boxes that was twice the bare parse. Here expat's callbacks build the
model objects directly, for the items as CVAT writes them: an ``<image>`` with its known
attributes holding ``<box>`` elements with exactly CVAT's eight attributes and ``<attribute
name>`` children, each start tag on one line, no stray text, comments or anything else.

Everything else keeps the general reader's exact behaviour, because it goes through it:

* the *header* (the bytes before the first ``<image>``/``<track>``: declaration, root, version,
  meta, anything unknown) is parsed by lxml exactly as before (``XmlReader``);
* any *item* outside the subset above (other shapes, tags, tracks, unknown attributes or
  elements, text, comments, multi-line tags, bad values) is cut out of the byte stream and
  parsed by lxml on its own, its lines kept (``XmlReader._reparse``), so it gets the same
  objects, warnings and ``file:line`` errors;
* a file this path cannot take at all (not UTF-8, a DOCTYPE, a namespace on the root, a root
  other than ``<annotations>``, no item, a syntax error before the first item) is *declined*
  (``Decline``) and read by lxml from the start: the bytes read so far are replayed.

Where the two differ, on purpose: a syntax error after the first item is reported as expat
states it (``malformed XML: <expat's reason>`` at its line), and a problem of an item before it
comes first (lxml's pull parser raised the syntax error of a chunk before the items of that
chunk were read); text after the last top-level element is always warned about (lxml saw it
only when the next element came in the same chunk); a lone carriage return counts as a line
break (as the XML spec says; libxml2's line counter ignores it), and lines past 65,535 are the
tag's own (libxml2 reports the line of the element's first text for those). Security: the
prolog scan of ``safe.py`` runs first; a DOCTYPE, an entity or notation declaration or an
external entity reference seen by expat declines (then lxml refuses it); expat has its own
entity-expansion limits.
``tests/cvatxml/test_fastread.py`` compares this path with the lxml reader on generated files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import IO, Any
from xml.parsers import expat

from annosync.cvatxml.model import Attr, Image, Shape

#: ``<box>`` attributes as CVAT writes them, in its order (``reader._PLAIN_BOX``; other
#: orders go to lxml)
_BOX_ORDER = ["label", "source", "occluded", "xtl", "ytl", "xbr", "ybr", "z_order"]
_FLAGS = {"0": False, "1": True}
#: the attributes of ``<image>`` the reader knows (others are kept as ``extra``, with a warning)
_IMAGE = frozenset({"id", "name", "subset", "task_id", "width", "height"})
#: a fast ``<attribute>`` value longer than this goes to lxml (and its text-size limits)
_MAX_TEXT = 1 << 20
_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_isfinite = math.isfinite

#: queue entries
IMAGE, RAW, WARN = 0, 1, 2


class Decline(Exception):
    """This file is not for the fast path: read it with lxml from the start."""


def utf8(prefix: bytes) -> bool:
    """The document is UTF-8 (or ASCII): no UTF-16/32 byte order or layout, no other encoding
    declared."""
    if prefix.startswith(b"\xef\xbb\xbf"):
        prefix = prefix[3:]
    if prefix[:2] in (b"\xff\xfe", b"\xfe\xff") or prefix[:1] == b"\x00" or \
            prefix[1:2] == b"\x00":
        return False
    m = _ENCODING.match(prefix[:1024])
    return m is None or m.group(1).lower() in (b"utf-8", b"utf8", b"us-ascii", b"ascii")


class ExpatItems:
    """Feeds the stream to expat; ``start`` reads up to the first item and returns the header
    bytes, ``entries`` then yields ``(IMAGE, Image)``, ``(RAW, bytes, line)`` (an item for lxml)
    and ``(WARN, message, line)`` in document order."""

    def __init__(self, stream: IO[bytes], chunk: int) -> None:
        self._stream = stream
        self._chunk = chunk
        self._chunks: list[bytes] = []  # bytes kept (all of the header, then the open item)
        self._base = 0  # absolute offset of _chunks[0]
        self._end = 0  # absolute offset of the end of what was fed
        self._last = b""  # the last chunk fed
        self._data = b""  # the bytes items are looked at in, from absolute offset _dbase
        self._dbase = 0
        self._keep = 0  # absolute offset from which bytes must be kept
        self._header: int | None = None  # offset of the first item
        self._eof = False
        self.queue: list[tuple[Any, ...]] = []
        self.error: tuple[str, int] | None = None  # (expat's reason, line) after the header
        self._parser = self._make()

    # -- the byte buffer --------------------------------------------------------------------
    def consumed(self) -> bytes:
        """Every byte read so far (before the header was found: nothing was dropped)."""
        return b"".join(self._chunks)

    def _from(self, lo: int) -> bytes:
        """The bytes from absolute offset ``lo`` to the end of what was fed (kept: ``lo`` is
        at or after ``_keep``)."""
        return b"".join(self._chunks)[lo - self._base:]

    def _feed(self, chunk: bytes, final: bool) -> None:
        if chunk:
            chunks = self._chunks
            chunks.append(chunk)
            if self._header is None:  # the window items are looked at in: the last two
                last = self._last
                self._dbase = self._end - len(last)
                self._data = last + chunk
            else:  # ... or all kept: from the start of the open item
                self._dbase = self._base
                self._data = b"".join(chunks)
            self._last = chunk
            self._end += len(chunk)
        self._parser.Parse(chunk, final)
        if self._header is not None:  # drop what no open item can need any more
            chunks, keep = self._chunks, self._keep
            while len(chunks) > 1 and self._base + len(chunks[0]) <= keep:
                self._base += len(chunks.pop(0))

    def _read(self) -> bool:
        chunk = self._stream.read(self._chunk)
        if chunk:
            self._feed(chunk, False)
            return True
        self._feed(b"", True)
        self._eof = True
        return False

    def start(self, prefix: bytes) -> bytes:
        """Feed until the first item starts; the bytes before it (raises ``Decline``)."""
        try:
            self._feed(prefix, False)
            while self._header is None and self._read():
                pass
        except expat.ExpatError:
            if self._header is None:
                raise Decline from None
            self._note_error()
        if self._header is None:
            raise Decline
        return self.consumed()[: self._header]

    def _note_error(self) -> None:
        p = self._parser
        self.error = (expat.ErrorString(p.ErrorCode), p.ErrorLineNumber)
        self._eof = True

    def entries(self) -> Iterator[tuple[Any, ...]]:
        while True:
            if self.queue:
                queue, self.queue = self.queue, []
                yield from queue
            if self._eof:
                return
            try:
                self._read()
            except expat.ExpatError:
                self._note_error()

    # -- the parser ---------------------------------------------------------------------------
    def _make(self) -> Any:  # one closure per callback, kept together for speed
        p = expat.ParserCreate()
        p.buffer_text = True
        p.ordered_attributes = True  # [name, value, ...]: cheaper than a dict
        queue_of = self  # the queue list is replaced by entries(): look it up each time
        depth = 0
        item_start = 0
        item_line = 0
        odd = False
        img: Image | None = None
        shapes: list[Shape] = []
        attrs: list[Attr] = []
        attr_name: str | None = None
        nonblank = 0  # fast <attribute> values with a non-blank character, in this item
        text: list[str] = []  # every character run since the last <attribute> / item start
        gap: int | None = None  # where the last top-level element ended (its tail starts)
        last_tag = ""
        new_attr = tuple.__new__
        new_obj = object.__new__

        def start(name: str, a: list[str]) -> None:
            nonlocal depth, odd, img, shapes, attrs, attr_name, item_start, item_line, nonblank
            depth += 1
            d = depth
            if d == 4:
                if odd:
                    return
                if name == "attribute" and len(a) == 2 and a[0] == "name":
                    attr_name = a[1]
                    text.clear()
                else:
                    odd = True
            elif d == 3:  # a child of an item
                if odd:
                    return
                if name == "box" and a[0::2] == _BOX_ORDER:
                    occ = _FLAGS.get(a[5])
                    if occ is None:
                        odd = True
                        return
                    try:
                        pts = [float(a[7]), float(a[9]), float(a[11]), float(a[13])]
                        z = int(a[15])
                    except ValueError:
                        odd = True
                        return
                    if not _isfinite(pts[0] + pts[1] + pts[2] + pts[3]):
                        odd = True
                        return
                    # Shape("box", label, source, None, None, None, occ, pts, None, None, z,
                    # None, attrs, line=...), at half the cost of the dataclass __init__;
                    # line: where the tag starts, = where it ends (_plain_text)
                    attrs = []
                    sh = new_obj(Shape)
                    sh.kind = "box"
                    sh.label = a[1]
                    sh.source = a[3]
                    sh.frame = sh.keyframe = sh.outside = sh.mask = sh.rotation = None
                    sh.group_id = None
                    sh.occluded = occ
                    sh.points = pts
                    sh.z_order = z
                    sh.attributes = attrs
                    sh.elements = []
                    sh.extra = {}
                    sh.passthrough = []
                    sh.line = p.CurrentLineNumber
                    shapes.append(sh)
                else:
                    odd = True
            elif d == 2:
                item_start = p.CurrentByteIndex
                item_line = p.CurrentLineNumber
                if self._header is None:
                    if name != "image" and name != "track":
                        return  # the header: lxml reads it
                    self._header = item_start
                else:
                    tail_check(item_start)
                self._keep = item_start
                odd = False
                nonblank = 0
                shapes = []
                if name != "image":
                    odd = True
                    return
                at = dict(zip(a[0::2], a[1::2], strict=True))
                if not at.keys() <= _IMAGE:
                    odd = True
                    return
                try:
                    ident = int(at["id"])
                    iname = at["name"]
                    task_id = int(at["task_id"]) if "task_id" in at else None
                    width = int(at["width"]) if "width" in at else None
                    height = int(at["height"]) if "height" in at else None
                except (KeyError, ValueError):
                    odd = True
                    return
                img = Image(ident, iname, width, height, at.get("subset"), task_id, shapes,
                            line=item_line)
            elif d == 1:
                if name != "annotations" or any(k.startswith("xmlns") for k in a[0::2]):
                    raise Decline
            else:
                odd = True

        def end(name: str) -> None:
            nonlocal depth, odd, attr_name, img, gap, last_tag, nonblank
            d = depth
            depth -= 1
            if d == 4:
                if attr_name is not None and not odd:
                    value = "".join(text)
                    if value.strip(" \t\r\n"):
                        nonblank += 1
                        if len(value) > _MAX_TEXT:
                            odd = True
                    attrs.append(new_attr(Attr, (attr_name, value)))
                attr_name = None
            elif d == 2:
                if self._header is None:
                    return
                last_tag = name
                at = p.CurrentByteIndex
                if not odd:
                    data, lo = self._data, item_start - self._dbase
                    hi = at - self._dbase
                    if lo < 0 or not _plain_text(data[lo:hi], nonblank):
                        odd = True
                    else:
                        queue_of.queue.append((IMAGE, img))
                        gap = self._dbase + _end_of(data, hi, name)
                if odd:
                    data = self._from(item_start)
                    stop = _end_of(data, at - item_start, name)
                    queue_of.queue.append((RAW, data[:stop], item_line))
                    gap = item_start + stop
                    odd = False
                img = None
                self._keep = at
            elif d == 1:
                tail_check(p.CurrentByteIndex)

        def tail_check(until: int) -> None:
            """Text after a top-level element (its ``tail``): the general reader warns about
            it after the elements it watches, with that element's line (``(WARN, ...)``)."""
            if gap is None or last_tag not in _WATCHED:
                return
            between = self._from(gap)[: until - gap]
            if not between.strip():
                return
            from lxml import etree  # rare: comments, references, CDATA make the tail

            tail = etree.fromstring(b"<r><a/>" + between + b"</r>")[0].tail
            if tail and tail.strip():
                value = tail.strip()
                shown = value if len(value) <= 60 else value[:60] + "..."
                queue_of.queue.append((WARN, f"text in <annotations> is ignored: {shown!r}",
                                       None))

        def other(*_: Any) -> None:
            nonlocal odd
            if depth >= 2:
                odd = True

        def decline(*_: Any) -> Any:
            raise Decline

        p.StartElementHandler = start
        p.EndElementHandler = end
        p.CharacterDataHandler = text.append
        p.CommentHandler = other
        p.ProcessingInstructionHandler = other
        p.StartCdataSectionHandler = other
        p.StartDoctypeDeclHandler = decline
        p.EntityDeclHandler = decline
        p.UnparsedEntityDeclHandler = decline
        p.NotationDeclHandler = decline
        p.ExternalEntityRefHandler = decline
        p.SkippedEntityHandler = decline
        return p


def _end_of(data: bytes, rel: int, name: str) -> int:
    """Where the element ``name`` whose end expat reported at ``data[rel]`` ends: past its end
    tag ``</name ...>``, or at ``rel`` for ``<name .../>`` (expat reports its end just past
    it, where the next markup, never ``</name``, starts: its parent is the root)."""
    close = b"</" + name.encode()
    if data.startswith(close, rel) and data[rel + len(close):rel + len(close) + 1] in _END:
        return data.index(b">", rel) + 1
    return rel


def _plain_text(raw: bytes, nonblank: int) -> bool:
    """The bytes of an item (up to its end tag) have every tag on one line (then expat's line,
    where a tag starts, is lxml's, where it ends), no lone carriage return (both count lines
    alike) and exactly ``nonblank`` runs of text with a non-blank byte (the fast
    ``<attribute>`` values, so no stray text). Blanks removed, a run is a ``>`` not followed
    by ``<``. A ``>`` inside an attribute value adds a run (a value never holds ``<``, so
    what follows it is not ``<``): such an item goes to lxml, which also covers the line
    check (that looks for ``<`` then a line break before the next ``>``)."""
    if b"\r" in raw and raw.count(b"\r") != raw.count(b"\r\n"):
        return False
    if b"<\n" in raw.translate(None, _NOT_MARKUP):  # a line break inside a tag
        return False
    packed = raw.translate(None, b" \t\r\n")
    runs = packed.count(b">") - packed.count(b"><") - packed.endswith(b">")
    return runs == nonblank


_WATCHED = frozenset({"version", "meta", "image", "track"})

_END = (b">", b" ", b"\t", b"\n", b"\r")
#: every byte but "<", ">" and a line feed
_NOT_MARKUP = bytes(b for b in range(256) if b not in b"<>\n")
