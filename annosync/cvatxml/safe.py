"""Parsing untrusted XML safely: no network, no DTD, no entity expansion, bounded sizes.

Annotation files come from anywhere (a CVAT export, a colleague, a download), so the reader treats
them as hostile:

* ``resolve_entities=False``, ``load_dtd=False``, ``no_network=True``: no external entity (XXE)
  or DTD is ever fetched and no entity is expanded (billion laughs).
* Any ``<!DOCTYPE>`` (the only place entities can be declared) is *refused* outright with the
  file and line, found twice: by a scan of the prolog bytes before the parser sees them, and by
  the parser's own ``docinfo`` (covers encodings the byte scan cannot read, e.g. UTF-16).
  CVAT never writes a DOCTYPE, so nothing legitimate is lost.
* ``huge_tree=False`` keeps libxml2's limits on text node size and nesting depth.
* ``LimitedReader`` caps the bytes read from any stream (used for zip members, whose declared
  size cannot be trusted).
"""

from __future__ import annotations

import codecs
import io
from typing import IO, Any

from lxml import etree

from annosync.cvatxml.diag import Diagnostics

#: The top-level elements the reader reacts to; everything else is reported as unknown.
TOP_LEVEL_TAGS = ("version", "meta", "image", "track")

#: The longest prolog (declaration, comments, PIs before the root element) accepted; a file
#: whose root element starts later is refused (CVAT's files have a one-line prolog).
MAX_PROLOG_BYTES = 1024 * 1024


def pull_parser() -> etree.XMLPullParser:
    """A pull parser with every dangerous feature off (see the module docstring)."""
    return etree.XMLPullParser(
        events=("end",),
        tag=TOP_LEVEL_TAGS,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        collect_ids=False,
    )


def _decode_prefix(data: bytes) -> str:
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="ignore")
    for start, codec in ((b"<\x00\x00\x00", "utf-32-le"), (b"\x00\x00\x00<", "utf-32-be"),
                         (b"<\x00", "utf-16-le"), (b"\x00<", "utf-16-be")):
        if data.startswith(start):  # UTF-16/32 without a byte order mark
            return data.decode(codec, errors="ignore")
    # Markup characters are ASCII in every ASCII-compatible encoding (UTF-8, Latin-1, ...).
    return data.decode("latin-1")


def check_prolog(prefix: bytes, diag: Diagnostics) -> bool:
    """Refuse a DOCTYPE (or any other ``<!`` declaration) before the root element.

    True once the root element's start was reached (the prolog is clean), False when
    ``prefix`` ends inside the prolog (the caller reads more, up to ``MAX_PROLOG_BYTES``).
    """
    text = _decode_prefix(prefix)
    i = 0
    while True:
        j = text.find("<", i)
        if j < 0:
            return False
        if text.startswith("<?", j):
            k = text.find("?>", j)
            if k < 0:
                return False
            i = k + 2
        elif text.startswith("<!--", j):
            k = text.find("-->", j)
            if k < 0:
                return False
            i = k + 3
        elif text.startswith("<!", j):
            word = text[j + 2 : j + 20].split(None, 1)[0] if text[j + 2 : j + 20].strip() else ""
            line = text.count("\n", 0, j) + 1
            raise diag.error(
                f"refusing XML with a <!{word}> declaration: DTDs and entities are not allowed "
                "in annotation files (they enable XXE and entity-expansion attacks; CVAT never "
                "writes them)",
                line,
            )
        else:
            return True  # the root element starts here


def check_docinfo(el: etree._Element, diag: Diagnostics) -> None:
    """Second line of defence: the parser saw a DOCTYPE the byte scan could not read."""
    info = el.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise diag.error(
            "refusing XML with a DOCTYPE declaration: DTDs and entities are not allowed in "
            "annotation files",
            1,
        )


class LimitedReader(io.RawIOBase):
    """Reads at most ``limit`` bytes from ``raw``; reading more raises ``on_exceed()``, and an
    error of the underlying stream (a corrupt zip member) raises ``on_error(exc)``."""

    def __init__(self, raw: IO[bytes], limit: int, on_exceed: Any,
                 on_error: Any = None) -> None:
        super().__init__()
        self._raw = raw
        self._left = limit
        self._on_exceed = on_exceed
        self._on_error = on_error

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        want = self._left + 1 if size is None or size < 0 else min(size, self._left + 1)
        try:
            data = self._raw.read(want)
        except Exception as exc:
            if self._on_error is None:
                raise
            raise self._on_error(exc) from None
        self._left -= len(data)
        if self._left < 0:
            raise self._on_exceed()
        return data

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
