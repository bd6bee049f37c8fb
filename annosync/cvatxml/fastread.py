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
        self._fed = 0  # absolute offset of the end of what expat was given
        self._at = 0  # where the "</image" that ends the last piece starts
        self._scan = 0  # absolute offset from which to look for the next "</image"
        self._strict = False  # in an item read from its bytes (``_strict_shapes``)
        self._head_taken = False  # start() has the header: bytes before items may go
        self._after_piece: Any = None
        self._parser = self._make()

    @property
    def header_end(self) -> int | None:
        """The offset in the stream where the first item starts (known after ``start``)."""
        return self._header

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
        # fed in pieces that end just after each "</image ...>", so that the end of an item
        # read in strict mode (C callbacks only) is seen before anything after it is parsed
        parse = self._parser.Parse
        data, dbase = self._data, self._dbase
        pos = self._fed
        find = data.find
        while True:
            hit = find(b"</image", max(self._scan - dbase, 0))
            if hit < 0:  # (the last 6 bytes may start one)
                self._scan = max(self._scan, self._end - 6)
                break
            gt = find(b">", hit + 7)
            if gt < 0:  # its end is still to come: look from it again
                self._scan = dbase + hit
                break
            self._at = dbase + hit
            parse(data[pos - dbase:gt + 1], False)
            pos = self._fed = self._scan = dbase + gt + 1
            if self._strict:
                self._after_piece()
        parse(data[pos - dbase:], final)
        self._fed = self._end
        if self._strict:
            self._after_piece()
        if self._head_taken:  # drop what no open item can need any more
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
        self._head_taken = True  # (a header longer than a chunk was cut before: issue 11)
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
        if hasattr(p, "SetReparseDeferralEnabled"):
            p.SetReparseDeferralEnabled(False)
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
        ends: list[str] = []  # names of the elements that ended in a strict item's piece
        note_end = ends.append
        head_len = 0  # bytes of its start tag

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
                if _SYNC and lo_ok(item_start, a):
                    # its children are read from its bytes once it ended (``_strict_shapes``,
                    # ``after_piece``); until then expat only notes names, in C
                    ends.clear()
                    self._strict = True
                    p.StartElementHandler = None
                    p.EndElementHandler = note_end
                    p.CharacterDataHandler = None
            elif d == 1:
                if name != "annotations" or any(k.startswith("xmlns") for k in a[0::2]):
                    raise Decline
            else:
                odd = True

        def end(name: str) -> None:
            nonlocal depth, odd, attr_name, nonblank
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
                at = p.CurrentByteIndex
                if not odd:
                    data, lo = self._data, item_start - self._dbase
                    hi = at - self._dbase
                    if lo < 0 or not _plain_text(data[lo:hi], nonblank):
                        odd = True
                finish(name, at)
            elif d == 1:
                tail_check(p.CurrentByteIndex)

        def finish(name: str, at: int) -> None:
            """The item ``name`` ended at ``at`` (where expat reported its end): queue it, as
            ``img`` unless ``odd`` (then its bytes, for lxml)."""
            nonlocal odd, img, gap, last_tag
            last_tag = name
            if not odd:
                queue_of.queue.append((IMAGE, img))
                gap = self._dbase + _end_of(self._data, at - self._dbase, name)
            else:
                data = self._from(item_start)
                stop = _end_of(data, at - item_start, name)
                queue_of.queue.append((RAW, data[:stop], item_line))
                gap = item_start + stop
                odd = False
            img = None
            self._keep = at

        def full_callbacks() -> None:
            p.StartElementHandler = start
            p.EndElementHandler = end
            p.CharacterDataHandler = text.append

        def lo_ok(lo: int, a: list[str]) -> bool:
            """The start tag of the item at ``lo`` is ``<image name="value" ...>`` exactly
            as expat read it: on one line, no reference, not empty (``<.../>``)."""
            nonlocal head_len
            start = "<image" + "".join([f' {a[i]}="{a[i + 1]}"' for i in range(0, len(a), 2)]
                                       ) + ">"
            tag = start.encode()
            rel = lo - self._dbase
            if rel < 0 or not self._data.startswith(tag, rel) or "\n" in start:
                return False
            head_len = len(tag)
            return True

        def after_piece() -> None:
            """After each piece fed in strict mode (pieces end just after each ``</image``
            tag, ``_feed``): did the item end? Its children must then be CVAT's plain boxes
            (``_strict_shapes``), else it goes to lxml (``odd``). An ``<image>`` nested in
            it: the depth is counted (``open_depth``) and, if the item is still open, read
            element by element from here."""
            nonlocal depth, odd
            if "image" not in ends:
                ends.clear()
                return
            ends.clear()
            at = self._at  # where this piece's </image starts: the item's end tag, unless
            lo, hi = item_start - self._dbase, at - self._dbase  # an <image> is nested
            if lo < 0 or self._data.find(b"<image", lo + 1, self._fed - self._dbase) >= 0:
                left = open_depth()
                odd = True
                if left:
                    depth = 1 + left
                    self._strict = False
                    full_callbacks()
                    return
            self._strict = False
            full_callbacks()
            depth = 1
            if not odd:
                found = _strict_shapes(self._data[lo + head_len:hi], item_line)
                if found is None:
                    odd = True
                else:
                    shapes.extend(found[0])
                    if img is not None:  # (always: the item is an image)
                        img.plain = found[1]
            finish("image", at)

        def open_depth() -> int:
            """Elements open after every byte fed, the item included (rare: an ``<image>``
            nested in an item): counted by a parser of its own over the item's bytes."""
            q = expat.ParserCreate()
            opened = [0]

            def q_start(_n: str, _a: Any) -> None:
                opened[0] += 1

            def q_end(_n: str) -> None:
                opened[0] -= 1

            q.StartElementHandler = q_start
            q.EndElementHandler = q_end
            q.Parse(b"<r>" + self._from(item_start)[: self._fed - item_start], False)
            return opened[0] - 1  # without <r>

        self._after_piece = after_piece

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


#: expat reports each complete tag of what it is given at once (no reparse deferral: expat
#: before 2.6, or a Python that can turn it off), which strict mode relies on
_SYNC = expat.version_info < (2, 6, 0) or hasattr(expat.ParserCreate(), "SetReparseDeferralEnabled")
#: what ``<box label="`` is followed by, between its values, in CVAT's form
_BOX_SEPS = [" source=", " occluded=", " xtl=", " ytl=", " xbr=", " ybr=", " z_order="]
_BOX_TAG = '<box label="'
#: the text of a box after its last value (``_box_rest``) -> what it holds; bounded
_RESTS: dict[str, tuple[tuple[Attr, ...], int] | None] = {}
_RESTS_MAX = 4096
_UNSEEN: tuple[tuple[Attr, ...], int] = ((), -1)  # not in _RESTS yet


def _box_rest(rest: str) -> tuple[tuple[Attr, ...], int] | None:
    """A box's text after the closing quote of its last value, up to the next box or the end
    of the image, when it is CVAT's form: ``(its attributes, its line breaks)``, else None.
    The form: ``/>`` or ``>`` then ``<attribute name="NAME">TEXT</attribute>`` elements
    (NAME on one line, TEXT without markup) and ``</box>``, with blanks around each."""
    n = rest.count("\n")
    if rest.startswith("/>"):
        return None if rest[2:].strip(" \n") else ((), n)
    end = rest.rfind("</box>")
    if not rest.startswith(">") or end < 0 or rest[end + 6:].strip(" \n"):
        return None
    attrs = []
    parts = rest[1:end].split("</attribute>")
    for part in parts[:-1]:
        part = part.lstrip(" \n")
        if not part.startswith('<attribute name="'):
            return None
        close = part.find('">', 17)
        if close < 0:
            return None
        name, text = part[17:close], part[close + 2:]
        if '"' in name or "\n" in name or "<" in text:
            return None
        attrs.append(Attr(name, text))
    if parts[-1].strip(" \n"):
        return None
    return tuple(attrs), n


def _strict_shapes(raw: bytes, line: int) -> tuple[list[Shape], bool] | None:
    """The shapes of an ``<image>`` whose children are the bytes ``raw`` (from the end of its
    start tag, on ``line``, to its end tag) when they are exactly CVAT's form, and whether none
    is inverted (``Image.plain``); else None (lxml reads the item). CVAT's form: only ``<box>`` elements, each with the eight attributes in
    CVAT's order on one line and only ``<attribute name="...">`` children holding text
    without markup; blanks (spaces, line feeds, CRLF) between elements; no reference, tab,
    comment, CDATA, processing instruction or other element anywhere. Expat has checked the
    bytes are well-formed UTF-8 before this runs (so no value holds ``<`` and quotes pair
    up). The values are read as the general reader reads them (``reader._Body.plain_box``)."""
    if b"&" in raw or b"\t" in raw or (b"!" in raw and b"<!" in raw) or \
            (b"?" in raw and b"<?" in raw):  # (one-byte scans first: a two-byte one costs
        return None  # ~0.4 us a box, 0.4 CPU s at 1M boxes, and "!"/"?" are rare)
    text = raw.decode()
    if "\r" in text:  # CRLF is one line break to both parsers and LF in text; a lone CR not
        if text.count("\r") != text.count("\r\n"):
            return None
        text = text.replace("\r\n", "\n")
    parts = text.split(_BOX_TAG)
    first = parts[0]
    if first.strip(" \n"):
        return None
    start_line = line
    line += first.count("\n")
    out: list[Shape] = []
    append = out.append
    ordered = True  # no box inverted
    rests = _RESTS
    seps = _BOX_SEPS
    flags = _FLAGS
    new = _new
    del parts[0]
    for chunk in parts:
        q = chunk.split('"', 15)
        if len(q) != 16 or q[1:15:2] != seps:
            return None
        occ = flags.get(q[4])
        rest = q[15]
        got = rests.get(rest, _UNSEEN)
        if got is _UNSEEN:
            got = _box_rest(rest)
            if len(rests) >= _RESTS_MAX:
                rests.clear()
            rests[rest] = got
        if occ is None or got is None:
            return None
        attrs, lines = got
        try:
            pts = list(map(float, q[6:13:2]))
            z = int(q[14])
        except ValueError:
            return None
        if not _isfinite(pts[0] + pts[1] + pts[2] + pts[3]):
            return None
        if pts[0] > pts[2] or pts[1] > pts[3]:
            ordered = False
        # Shape("box", q[0], q[2], None, None, None, occ, pts, None, None, z, None,
        # list(attrs), [], {}, [], line), without the dataclass __init__'s call
        sh = new(Shape)
        sh.kind = "box"
        sh.label = q[0]
        sh.source = q[2]
        sh.frame = sh.keyframe = sh.outside = sh.mask = sh.rotation = sh.group_id = None
        sh.occluded = occ
        sh.points = pts
        sh.z_order = z
        sh.attributes = list(attrs)
        sh.elements = []
        sh.extra = {}
        sh.passthrough = []
        sh.line = line
        append(sh)
        line += lines
    # each box's text holds at least its rest's line breaks: as many in all means none in a
    # value of a tag (a line break there moves the lines: lxml reads such an item)
    if line - start_line != text.count("\n"):
        return None
    return out, ordered


_new = object.__new__


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
