"""The pixel conversion as it was before the fast path (issue 11): the oracle the fast path must
equal, kept verbatim so a test can prove "not a single result changed"."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

try:
    from annosync.convert.coords import to_abs as _to_abs
    from annosync.convert.coords import to_rel as _to_rel
except ImportError:  # pragma: no cover - only while annosync.convert is incomplete

    def _to_abs(x: float, size: int) -> float:
        return x * size

    def _to_rel(a: float, size: int) -> float:
        return float(a) / size


SNAP_ULPS = 4
_SEARCH = 4


def snap(a: float) -> float:
    """``a`` rounded to two decimals when it is within ``SNAP_ULPS`` ulps of that, else ``a``."""
    r = round(a, 2)
    if r != a and abs(r - a) <= SNAP_ULPS * math.ulp(max(abs(a), 1.0)):
        return r + 0.0
    return a + 0.0


def px(x: float, size: int) -> float:
    """A relative coordinate in pixels (as written to XML)."""
    return snap(_to_abs(x, size))


def _best(guess: float, ok: Callable[[float], bool]) -> float | None:
    """The shortest decimal near ``guess`` for which ``ok``: ``guess`` rounded to 0, 1, 2, ...
    decimal places, then the floats within ``_SEARCH`` ulps (shortest form first)."""
    if ok(guess) and len(repr(guess)) <= 8:
        return guess
    for places in range(18):
        candidate = round(guess, places) + 0.0
        if ok(candidate):
            return candidate
    found: list[float] = [guess] if ok(guess) else []
    up = down = guess
    for _ in range(_SEARCH):
        up = math.nextafter(up, math.inf)
        down = math.nextafter(down, -math.inf)
        found.extend(v for v in (up, down) if ok(v))
    if not found:
        return None
    return min(found, key=lambda v: (len(repr(v)), abs(v - guess)))


def rel(a: float, size: int) -> float:
    """A pixel coordinate as a relative one that ``px`` maps back to ``snap(a)``."""
    target = snap(float(a))
    q = target / size
    best = _best(q, lambda v: px(v, size) == target)
    if best is not None:
        return best
    v = _to_rel(target, size)
    return v if px(v, size) == target else q


def _edge(lo: float, hi: float, size: int) -> tuple[float, float]:
    """Relative ``(start, extent)`` whose pixels are ``lo`` and ``hi`` (far edge
    ``(start + extent) * size``)."""
    if hi < lo:
        lo, hi = hi, lo
    start = rel(lo, size)
    target = snap(float(hi))
    guess = max(target / size - start, 0.0)
    best = _best(guess, lambda w: w >= 0 and snap(_to_abs(start + w, size)) == target)
    if best is None:
        for _ in range(16 * _SEARCH):  # a wider, slower look before giving up
            guess = math.nextafter(guess, math.inf)
            if snap(_to_abs(start + guess, size)) == target:
                return start, guess
        return start, max(target / size - start, 0.0)
    return start, best


def box_px(box: Sequence[float], width: int, height: int) -> list[float]:
    """``[x, y, w, h]`` (relative) as ``[xtl, ytl, xbr, ybr]`` pixels."""
    x, y, w, h = box
    return [px(x, width), px(y, height), snap(_to_abs(x + w, width)),
            snap(_to_abs(y + h, height))]


def box_rel(points: Sequence[float], width: int,
            height: int) -> tuple[float, float, float, float]:
    """``[xtl, ytl, xbr, ybr]`` pixels as ``[x, y, w, h]`` that ``box_px`` maps back."""
    x, w = _edge(points[0], points[2], width)
    y, h = _edge(points[1], points[3], height)
    return (x, y, w, h)
