"""A big CVAT XML file cut into parts that processes read side by side (``import-xml``).

Why: on a machine with two or more cores, a million-box import spends its wall time in one
process while the other cores idle (issue 11). The items of a file are independent but for a
little global state (new sample keys, label ids kept, the record's frame order), which the
caller merges exactly or gives up on; this module only cuts the file and runs a part in a
forked process.

The cut: ``points`` finds ``<image`` start tags near equal shares of the bytes after the
header. Each part is read as a document of its own, the file's own bytes (``Window``): the
header (everything before the first item: declaration, root start tag, version, meta), then
the part's items, then the file's own end for the last part or ``</annotations>`` for the
others. A cut is only a guess (an ``<image`` could be inside a comment, CDATA or another
element): it is proved by the parts being well-formed, since the bytes before a cut followed
by ``</annotations>`` are well-formed only when the cut is between two top-level elements of
the root (a comment, CDATA section, processing instruction, attribute value or open element
would need a closing delimiter ``</annotations>`` does not give), and then each part starts
in the state the header leaves the parser in. A part that fails in any way (a syntax error,
a warning, anything unusual) makes the caller read the whole file again in one process, so
errors and warnings are exactly those of the sequential import.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from annosync.cvatxml.forks import forking

#: smaller files are read in one process (a fork and a second header parse are not worth it)
MIN_BYTES = 8 << 20
#: the share of the items the calling process reads; None: ``first_share``
FIRST_SHARE: float | None = None
#: what the calling process does after its part (waiting aside: merging the parts' notes,
#: the media checks, committing every label file, the record) as a share of the reading
#: (~0.2 CPU s after ~13 CPU s of reading at 1M boxes, px16: the label files arrive by one
#: rename, and their sync starts while the others finish; ~1.1 s before, 0.065)
AFTER = 0.02
_CLOSE = b"</annotations>"
_TAG = b"<image"
_AFTER = (b" ", b"\t", b"\n", b"\r", b">", b"/")
_SCAN = 1 << 20
def first_share(parts: int) -> float:
    """The share of the items the calling process reads of ``parts``: ``FIRST_SHARE``, or
    an equal share less what it does after it (``AFTER``), so that all end together:
    ``f + AFTER = (1 - f) / (parts - 1)``."""
    if FIRST_SHARE is not None:
        return FIRST_SHARE
    return max(0.05, (1.0 - AFTER * (parts - 1)) / parts)


def points(path: Path, header: int, size: int, parts: int,
           share: float | None = None) -> list[int]:
    """Offsets of ``<image`` start tags cutting the bytes after ``header`` into ``parts``
    (the first ``share`` of them, by default ``first_share(parts)``, the rest equal);
    fewer where none is found."""
    out: list[int] = []
    span = size - header
    if span <= 0 or parts < 2:
        return out
    if share is None:
        share = first_share(parts)
    rest = (1.0 - share) / (parts - 1)
    with open(path, "rb") as fh:
        for k in range(1, parts):
            target = header + int(span * (share + rest * (k - 1)))
            if out and target <= out[-1]:
                target = out[-1] + 1
            hit = _find_tag(fh, target, size)
            if hit is None:
                break
            out.append(hit)
    return out


def _find_tag(fh: Any, at: int, size: int) -> int | None:
    while at < size:
        fh.seek(at)
        data = fh.read(_SCAN + 7)
        i = 0
        while True:
            i = data.find(_TAG, i)
            if i < 0 or i + 6 >= len(data):
                break
            if data[i + 6:i + 7] in _AFTER:
                return at + i
            i += 1
        at += _SCAN
    return None


class Window:
    """A readable stream of byte ranges of a file and literal bytes, one after the other:
    ``Window(path, [(0, 120), (5000, 9000), b"</annotations>"])``."""

    def __init__(self, path: Path, pieces: list[tuple[int, int] | bytes]) -> None:
        self.name = str(path)
        self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._pieces = list(pieces)
        self._i = 0
        self._left = 0
        self._started = False

    def _next(self) -> bool:
        if self._started:
            self._i += 1
        self._started = True
        if self._i >= len(self._pieces):
            return False
        piece = self._pieces[self._i]
        if isinstance(piece, tuple):
            self._fh.seek(piece[0])
            self._left = piece[1] - piece[0]
        else:
            self._left = -1
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = 1 << 62
        while True:
            if not self._started or (self._left == 0):
                if not self._next():
                    return b""
                continue
            piece = self._pieces[self._i]
            if isinstance(piece, bytes):
                self._left = 0
                if piece:
                    return piece
                continue
            data = self._fh.read(min(n, self._left))
            if not data:  # the file shrank: end the piece
                self._left = 0
                continue
            self._left -= len(data)
            return data

    def close(self) -> None:
        self._fh.close()


def windows(path: Path, header: int, cuts: list[int], size: int) -> list[list[Any]]:
    """The pieces of each part's document (see ``Window``)."""
    bounds = [header, *cuts, size]
    out: list[list[Any]] = []
    for k in range(len(bounds) - 1):
        lo, hi = bounds[k], bounds[k + 1]
        if k + 1 < len(bounds) - 1:
            out.append([(0, header), (lo, hi), _CLOSE])
        else:
            out.append([(0, header), (lo, hi)])
    return out


class Part:
    """``fn()`` run in a forked process; ``result`` gives what it returned (None if it failed,
    raised, or gave no answer in time). ``stop`` ends it."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        ctx = multiprocessing.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_run, args=(fn, send), daemon=True)
        with forking():
            self._proc.start()
        send.close()

    def result(self, timeout: float) -> Any:
        try:
            if not self._recv.poll(timeout):
                return None
            ok, value = self._recv.recv()
        except (EOFError, OSError):
            return None
        return value if ok else None

    def stop(self) -> None:
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join()
        self._recv.close()


def _run(fn: Callable[[], Any], send: Any) -> None:
    try:
        value = fn()
    except BaseException as exc:
        send.send((False, repr(exc)))
    else:
        send.send((True, value))
    send.close()


def deadline(started: float) -> float:
    """How long to wait for the other parts once the first is done (it took ``now - started``
    seconds): they read as much, so twice that and a minute is generous."""
    return 60.0 + 2.0 * (time.monotonic() - started)
