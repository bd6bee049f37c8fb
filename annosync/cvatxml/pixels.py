"""Relative <-> pixel coordinates for XML files, so both round trips are stable.

Pixels come from ``annosync.convert.coords`` (``x * size``; a box's far edge is
``(x + w) * size``) with one addition: a value within a few ulps of a two-decimal number is
*snapped* to it. CVAT writes ``{:.2f}`` values, and not every such value has a relative
coordinate that maps back to it exactly (``965.52 / 1600`` has none: neighbouring floats times
1600 step over it), so without snapping an import -> export would turn ``965.52`` into
``965.5200000000001``. Snapping only absorbs float noise (at most ``SNAP_ULPS`` ulps), so
arbitrary-precision pixels are written exactly as they are.

Back from pixels, the shortest decimal near the plain quotient that maps back (after snapping)
to the same pixels wins: a coordinate a person typed (``0.3``) comes back as typed, not as
``0.30000000000000004``, which maps to the same pixels. Failing that, the exact inverse search of ``annosync.convert.coords``. A merge into
an existing dataset additionally keeps stored coordinates that export to the same pixels
(``placer.same_geometry``), so re-importing never churns label files.
"""

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
    if -1e6 < a < 1e6:
        # Fast exit, same result: 100*a more than 1e-6 from an integer puts ``a`` over 9e-9
        # from every two-decimal value, far more than 4 ulps (4.7e-10 below 1e6).
        t = a * 100.0
        d = t - round(t)
        if d > 1e-6 or d < -1e-6:
            return a + 0.0
    r = round(a, 2)
    if r != a and abs(r - a) <= SNAP_ULPS * math.ulp(max(abs(a), 1.0)):
        return r + 0.0
    return a + 0.0


def px(x: float, size: int) -> float:
    """A relative coordinate in pixels (as written to XML)."""
    return snap(_to_abs(x, size))


_P10 = tuple(10.0 ** p for p in range(18))


def _best(guess: float, ok: Callable[[float], bool],
          bounds: tuple[float, float] | None = None) -> float | None:
    """The shortest decimal near ``guess`` for which ``ok``: ``guess`` rounded to 0, 1, 2, ...
    decimal places, then the floats within ``_SEARCH`` ulps (shortest form first).

    ``bounds``: an interval ``[L, H]`` outside which ``ok`` is surely false. Having a decimal
    with ``p`` places is upward closed in ``p``, so a binary search finds the first ``p`` for
    which ``[L, H]`` may hold one (estimated in floats with a margin, never too late); the
    roundings to fewer places lie outside it and cannot pass ``ok``: same answer, ~5 cheap
    steps instead of 18 ``round`` + ``ok`` calls."""
    if ok(guess) and len(repr(guess)) <= 8:
        return guess
    first = 0
    if bounds is not None:
        lo_b, hi_b = bounds
        low, high = 0, 18
        while low < high:
            mid = (low + high) // 2
            if _may_hold(lo_b, hi_b, mid):
                high = mid
            else:
                low = mid + 1
        first = low
    for places in range(first, 18):
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


def _may_hold(lo: float, hi: float, places: int) -> bool:
    """False only when no decimal with ``places`` places lies in ``[lo, hi]`` (so no float
    rounded to it does either: the caller widened the interval by the float rounding)."""
    scale = _P10[places]
    a, b = lo * scale, hi * scale
    if not (-4e15 < a < 4e15 and -4e15 < b < 4e15):
        return True
    slack = (abs(a) + abs(b) + 1.0) * 1e-15  # the two products' rounding, widely
    return math.floor(b + slack) >= math.ceil(a - slack)


def _tol(target: float, size: int, *values: float) -> float | None:
    """How far from ``guess`` a value that maps back to ``target`` can lie (with a wide
    margin): 4.5 ulps of the pixels over ``size`` plus the rounding of the quotient and the
    sums; ``None`` (no filter) outside the range the estimate is proved for."""
    if not (size >= 1 and -1e6 < target < 1e6):
        return None
    m = max(abs(target), 1.0)
    return 1e-14 * (m / size + sum(abs(v) for v in values)) + 1e-300


def _around(guess: float, tol: float | None) -> tuple[float, float] | None:
    return None if tol is None else (guess - 2 * tol, guess + 2 * tol)


def _preimage(target: float, size: int) -> tuple[float, float] | None:
    """The floats ``v`` with ``px(v, size) == target``: ``px`` is monotone (a correctly
    rounded product, then ``snap``), so they form one interval ``[lo, hi]`` of consecutive
    floats around ``target / size``. ``None`` outside the range where ``_maps`` is proved or
    when the interval is not found within ``_REACH`` ulps (callers then test ``px``)."""
    if not (size >= 1 and -1e5 < target < 1e5):
        return None
    r = target * 100.0
    two_dec = round(r) / 100.0 == target  # target == round(target, 2) (|target| < 1e5)
    q = target / size
    if not _maps(q, size, target, two_dec):
        return None
    reach = SNAP_ULPS * math.ulp(max(abs(target), 1.0)) if two_dec else 0.0
    hi = _edge_of(max((target + reach) / size, q), q, size,
                  target, two_dec, math.inf)
    lo = _edge_of(min((target - reach) / size, q), q, size,
                  target, two_dec, -math.inf)
    if hi is None or lo is None:
        return None
    return lo, hi


def _edge_of(start: float, q: float, size: int, target: float, two_dec: bool,
             way: float) -> float | None:
    """The last float from ``q`` towards ``way`` that still maps to ``target``, searched from
    an estimate ``start`` (on ``q``'s side of it or beyond)."""
    back = -way
    v = start
    for _ in range(_REACH):  # walk back to the set
        if _maps(v, size, target, two_dec):
            break
        if v == q:
            return None
        v = math.nextafter(v, back)
    else:
        return None
    for _ in range(_REACH):  # then out to its end
        nxt = math.nextafter(v, way)
        if not _maps(nxt, size, target, two_dec):
            return v
        v = nxt
    return None


_REACH = 64


def _maps(v: float, size: int, target: float, two_dec: bool) -> bool:
    """``px(v, size) == target`` for a ``target`` that ``snap`` left as it is, below 1e5:
    ``snap(y)`` is ``y`` or a two-decimal value within 4 ulps of it, and any ``y`` that close
    to a two-decimal ``target`` rounds to it."""
    y = v * size
    if y == target:
        return True
    return two_dec and abs(y - target) <= SNAP_ULPS * math.ulp(max(abs(y), 1.0))


def rel(a: float, size: int) -> float:
    """A pixel coordinate as a relative one that ``px`` maps back to ``snap(a)``."""
    target = snap(float(a))
    q = target / size
    pre = _preimage(target, size)
    if pre is not None:
        lo, hi = pre
        pad = 2 * math.ulp(max(abs(lo), abs(hi)))
        best = _best(q, lambda v: lo <= v <= hi, (lo - pad, hi + pad))
    else:
        best = _best(q, lambda v: px(v, size) == target,
                     _around(q, _tol(target, size, q)))
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
    q = target / size
    guess = q - start
    pre = _preimage(target, size) if guess > 0 else None
    if pre is not None:
        ulo, uhi = pre
        # start + w in [ulo, uhi] (rounded) puts w within a few ulps of [ulo - start, uhi - start]
        pad = 4 * math.ulp(max(abs(ulo), abs(uhi), abs(start)))
        best = _best(guess, lambda w: w >= 0 and ulo <= start + w <= uhi,
                     (ulo - start - pad, uhi - start + pad))
    else:
        tol = _tol(target, size, q, guess, start) if guess > 0 else None
        guess = max(guess, 0.0)
        best = _best(guess, lambda w: w >= 0 and snap(_to_abs(start + w, size)) == target,
                     _around(guess, tol))
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
