"""Relative <-> absolute coordinates, exact up to float rounding and without drift.

Why not simply ``x * W`` and ``a / W``: in binary floating point ``(x * W) / W`` is not always
``x`` and ``((a / W) * W)`` is not always ``a``, so a naive round trip moves coordinates by an
ulp now and then, and re-uploading a pulled label would produce different JSON (a spurious
"change" for the reconciler). FiftyOne avoids the problem by rounding to whole pixels, which
is worse: it moves every coordinate by up to half a pixel, every round trip.

Here the upload side is plain IEEE arithmetic (``x * W``; a box's right edge is
``(x + w) * W``), and the download side searches the few floats next to ``a / W`` for one that
the upload formula maps back to exactly ``a``. So:

- **bound**: a pulled coordinate differs from the exact quotient ``a / W`` by at most
  ``SEARCH_ULPS`` ulps (in practice 0 to 2); a label that went up and came back differs from the
  original by at most that much too (|error| <= 1e-15 for coordinates in [-1, 2]); among the
  floats that qualify, the one with the shortest decimal spelling is kept, so ``0.3`` stays
  ``0.3``;
- **no drift**: whenever such a float exists (always, for values annosync itself sent), the
  next upload reproduces CVAT's numbers bit for bit, so JSON -> labels -> JSON is a fixed point.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

#: How many floats on each side of the plain quotient are tried.
SEARCH_ULPS = 8

#: Answers remembered by ``_edge`` and the per-coordinate solve (``_scaled``): both are pure
#: functions of their floats, and the same pixel values come back again and again in a task
#: (whole pixels, the same few image sizes), each costing a search of up to ~50 float
#: operations and ``repr`` calls. Keyed by value, so only nonzero finite values are kept
#: (``0.0 == -0.0`` as keys, but their answers differ in sign); cleared when full, and safe
#: across threads (a lost entry is computed again, to the same answer).
MEMO_MAX = 1 << 16
_SCALED: dict[tuple[float, int], float | None] = {}
_EDGES: dict[tuple[float, float, int], tuple[float, float]] = {}
_MISS = object()
_isfinite = math.isfinite


def to_abs(x: float, size: int) -> float:
    """A relative coordinate in pixels (upload formula)."""
    return x * size


def _candidates(guess: float, f: Callable[[float], float], target: float) -> list[float]:
    """Floats near ``guess`` with ``f(v) == target``: the shortest decimal spelling first (so a
    file says ``0.3`` rather than ``0.30000000000000004`` when both map to the same pixels),
    then the closest to ``guess`` (order of trial: guess, 1 up, 1 down, 2 up, 2 down, ...).

    ``f`` is non-decreasing (``v * size`` with size > 0, ``start + v``), so once a float above
    ``guess`` maps past ``target`` every larger one does too, and likewise below: each side
    stops there instead of trying all ``SEARCH_ULPS`` (same result, a third of the work)."""
    found = [(0, guess)] if f(guess) == target else []
    up = down = guess
    for k in range(1, SEARCH_ULPS + 1):
        up = math.nextafter(up, math.inf)
        got = f(up)
        if got == target:
            found.append((2 * k - 1, up))
        elif got > target:
            break
    for k in range(1, SEARCH_ULPS + 1):
        down = math.nextafter(down, -math.inf)
        got = f(down)
        if got == target:
            found.append((2 * k, down))
        elif got < target:
            break
    if len(found) > 1:
        found.sort(key=lambda kv: (len(repr(kv[1])), kv[0]))
    return [v for _, v in found]


def _short(v: float) -> bool:
    """True when no float within ``SEARCH_ULPS`` of ``v`` has a shorter ``repr``: ``v`` is
    positional (1e-4 <= |v| < 1e15) with at most 14 significant digits. Two different
    decimals of at most 14 digits lie at least 1e-14 apart (relative), more than 45 ulps, so
    every neighbour needs more digits (and characters) than ``v``."""
    a = abs(v)
    if not (1e-4 <= a < 1e15):
        return False
    text = repr(a)
    if len(text) <= 15:  # positional: a "." and at most 14 digits
        return True
    digits = text.replace(".", "").lstrip("0").rstrip("0")
    return len(digits) <= 14


def _within(guess: float, v: float) -> bool:
    """``v`` is at most ``SEARCH_ULPS`` floats away from ``guess`` (inside the search)."""
    step = guess
    for _ in range(SEARCH_ULPS):
        step = math.nextafter(step, v)
        if step == v:
            return True
    return False


def _first(guess: float, f: Callable[[float], float], target: float) -> float | None:
    """``_candidates(...)[0]`` (None when empty), without the search in the common case where
    ``guess`` itself qualifies and is short: it is then the first candidate (found first, and
    no candidate is shorter)."""
    if f(guess) == target and _short(guess):
        return guess
    # the shortest candidate, when it has at most 14 digits, is the 14-digit decimal nearest
    # to ``guess`` (others are 45+ ulps apart): try it before searching
    near = float(f"{guess:.14g}")
    if near != guess and _short(near) and f(near) == target and _within(guess, near):
        return near
    found = _candidates(guess, f, target)
    return found[0] if found else None


def _solve(guess: float, f: Callable[[float], float], target: float) -> float:
    first = _first(guess, f, target)
    return guess if first is None else first


def _scaled(a: float, size: int) -> float | None:
    """``_first(a / size, lambda v: v * size, a)``, remembered for nonzero finite ``a``."""
    if a == 0 or not _isfinite(a):
        return _first(a / size, lambda v: v * size, a)
    key = (a, size)
    got = _SCALED.get(key, _MISS)
    if got is _MISS:
        guess = a / size
        got = (guess if guess * size == a and _short(guess)
               else _first(guess, lambda v: v * size, a))
        if len(_SCALED) >= MEMO_MAX:
            _SCALED.clear()
        _SCALED[key] = got
    return got  # type: ignore[return-value]


def to_rel(a: float, size: int) -> float:
    """A pixel coordinate as a relative one that ``to_abs`` maps back to exactly ``a``."""
    a = float(a)
    first = _scaled(a, size)
    return a / size if first is None else first


def point_to_abs(p: Sequence[float], width: int, height: int) -> list[float]:
    return [p[0] * width, p[1] * height]


def points_to_rel(flat: Sequence[float], width: int, height: int) -> list[tuple[float, float]]:
    """CVAT's flat ``[x1, y1, x2, y2, ...]`` as relative points."""
    return [
        (to_rel(flat[i], width), to_rel(flat[i + 1], height)) for i in range(0, len(flat) - 1, 2)
    ]


def box_to_abs(box: Sequence[float], width: int, height: int) -> list[float]:
    """``[x, y, w, h]`` (relative) as CVAT's rectangle ``[xtl, ytl, xbr, ybr]`` (pixels)."""
    x, y, w, h = box
    return [x * width, y * height, (x + w) * width, (y + h) * height]


def _edge(lo: float, hi: float, size: int) -> tuple[float, float]:
    """Relative (start, extent) whose upload gives back exactly ``lo`` and ``hi``
    (remembered, see ``MEMO_MAX``; ``_edge_search`` does the work)."""
    if hi < lo:
        lo, hi = hi, lo
    lo, hi = float(lo), float(hi)
    if lo == 0 or hi == 0 or not (_isfinite(lo) and _isfinite(hi)):
        return _edge_search(lo, hi, size)
    key = (lo, hi, size)
    got = _EDGES.get(key)
    if got is None:
        got = _edge_search(lo, hi, size)
        if len(_EDGES) >= MEMO_MAX:
            _EDGES.clear()
        _EDGES[key] = got
    return got


def _edge_search(lo: float, hi: float, size: int) -> tuple[float, float]:
    """``_edge`` of ordered floats ``lo <= hi``, searched."""
    # the common case first: the first start and end candidates with their first width (what
    # the full search below tries first)
    start0, end0 = _scaled(lo, size), _scaled(hi, size)
    if start0 is not None and end0 is not None:
        def total0(w: float) -> float:
            return start0 + w

        w0 = _first(max(end0 - start0, 0.0), total0, end0)
        if w0 is not None and w0 >= 0 and (start0 + w0) * size == hi:
            return start0, w0
    starts = _candidates(lo / size, lambda v: v * size, lo) or [lo / size]
    ends = _candidates(hi / size, lambda v: v * size, hi) or [hi / size]
    for start in starts:
        for end in ends:
            def total(w: float, s: float = start) -> float:
                return s + w

            found = _candidates(max(end - start, 0.0), total, end)
            found = [w for w in found if w >= 0 and (start + w) * size == hi]
            if found:
                return start, found[0]
    return starts[0], max(ends[0] - starts[0], 0.0)


def box_to_rel(points: Sequence[float], width: int, height: int) -> tuple[float, float, float,
                                                                          float]:
    """CVAT's ``[xtl, ytl, xbr, ybr]`` as ``[x, y, w, h]`` that ``box_to_abs`` reproduces."""
    x, w = _edge(points[0], points[2], width)
    y, h = _edge(points[1], points[3], height)
    return (x, y, w, h)
