"""``pixels.py``'s pixel -> relative conversion for many values at once (numpy), same floats.

Why: an import converts every coordinate of a file (4 million for a million boxes) and the
exact shortest-decimal search of ``pixels.rel`` / ``pixels._edge`` costs tens of microseconds
each in Python. Here one image's coordinates go through the same steps as arrays: ``snap``,
the preimage ``[lo, hi]`` of the target pixels, the binary search of the first decimal place
count, then ``round(q, p)`` for increasing ``p``.

Every vectorised step is the scalar step's own IEEE operation (``*``, ``/``, ``+``, ``floor``,
``rint``, ``spacing`` = ``math.ulp`` on non-negative values), or is used only where it is proved
to give the scalar result; a value outside those cases (negative or huge coordinates, a
preimage wider than the window looked at, a decimal place count where ``q * 10**p`` reaches
2**53) is handed to the scalar code as a whole. ``tests/cvatxml/test_pixels_fast.py`` compares both with the old implementation bit
for bit. Python's ``round(x, p)`` is the float nearest the exact decimal rounding (half even)
of ``x`` to ``p`` places; ``rint(x * 10**p) / 10**p`` is the same float whenever the product's
rounding error cannot cross a half-integer and ``x * 10**p`` is below 2**53; on a half-integer
(quotients of two-decimal pixels by 1280 or 1920 often land on one: 533.81 / 1280 =
0.4170390625) the product's exact error decides (``_round``; those went to the scalar code
before, a quarter of the values of a typical file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from typing import Any, TypeVar

import numpy as np

from annosync.cvatxml import pixels
from annosync.cvatxml.model import Image

_P10 = np.array(pixels._P10, dtype=np.float64)  # the very floats the scalar code uses
_SIGN = np.int64(np.iinfo(np.int64).min)
_MAG = np.int64(np.iinfo(np.int64).max)
#: ulps looked at on each side of a preimage edge's estimate (the estimate is within an ulp or
#: two of the edge; what the window misses goes to the scalar code: 6 cost 1.5x the time of 2
#: for the same results and 604 vs 618 scalar fallbacks on 100k boxes)
_W = 2
_OFFSETS = np.arange(-_W, _W + 1, dtype=np.int64)
_C = _W  # column of offset 0
_SNAP = float(pixels.SNAP_ULPS)


def _keys(x: np.ndarray) -> np.ndarray:
    """Monotone integer keys: consecutive floats differ by 1 (``nextafter``), -0.0 and 0.0
    are both 0 (their neighbours are the same)."""
    b = x.view(np.int64)
    return np.where(b < 0, -(b & _MAG), b)


def _floats(k: np.ndarray) -> np.ndarray:
    return np.where(k < 0, (-k) | _SIGN, k).view(np.float64)


def _snap(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pixels.snap`` where decided here: far from a two-decimal value (its fast exit), or
    near one, where ``round(a, 2)`` is ``rint(a * 100) / 100`` (the product's rounding cannot
    cross a half-integer: ``a * 100`` is more than an ulp from one, and positive or <= -1 so
    that ``t - floor(t)`` is exact)."""
    t = a * 100.0
    n = np.rint(t)
    d = t - n
    inside = (a > -1e6) & (a < 1e6)
    far = inside & ((d > 1e-6) | (d < -1e-6))
    frac = t - np.floor(t)
    safe = inside & ~far & ((t >= 0) | (t <= -1.0)) & \
        (np.abs(frac - 0.5) > np.spacing(np.abs(t)))
    r = n / 100.0  # round(a, 2) where safe
    near = (r != a) & (np.abs(r - a) <= _SNAP * np.spacing(np.maximum(np.abs(a), 1.0)))
    return np.where(safe & near, r, a) + 0.0, far | safe


def _maps(v: np.ndarray, size: np.ndarray, target: np.ndarray, two: np.ndarray) -> np.ndarray:
    y = v * size
    return (y == target) | (two & (np.abs(y - target)
                                   <= _SNAP * np.spacing(np.maximum(np.abs(y), 1.0))))


def _preimage(target: np.ndarray, size: np.ndarray, q: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pixels._preimage`` (``lo``, ``hi``, where found here: the walks of ``_edge_of`` end
    inside the window of ``_W`` ulps around their start)."""
    ok = (size >= 1) & (target > -1e5) & (target < 1e5) & np.isfinite(q)
    two = np.rint(target * 100.0) / 100.0 == target
    ok &= _maps(q, size, target, two)
    reach = np.where(two, _SNAP * np.spacing(np.maximum(np.abs(target), 1.0)), 0.0)
    hi, ok_hi = _edge_of(np.maximum((target + reach) / size, q), size, target, two, False)
    lo, ok_lo = _edge_of(np.minimum((target - reach) / size, q), size, target, two, True)
    return lo, hi, ok & ok_hi & ok_lo


def _edge_of(start: np.ndarray, size: np.ndarray, target: np.ndarray, two: np.ndarray,
             down: bool) -> tuple[np.ndarray, np.ndarray]:
    """``pixels._edge_of`` towards +inf (``down``: -inf): from ``start`` back to the first
    float that maps, then out to the last one that does."""
    ok = np.isfinite(start) & (np.abs(start) < 1e300)
    keys = _keys(np.where(ok, start, 0.0))
    offsets = -_OFFSETS if down else _OFFSETS  # column j: j - _W steps outwards
    grid = _floats(keys[:, None] + offsets[None, :])
    m = _maps(grid, size[:, None], target[:, None], two[:, None])
    back = m[:, _C::-1]  # offset 0, then inwards
    found = back.any(axis=1)
    first = _C - back.argmax(axis=1)  # column where the walk back stops
    cols = np.arange(2 * _W + 1)[None, :]
    beyond = ~m & (cols > first[:, None])
    ends = beyond.any(axis=1)
    stop = beyond.argmax(axis=1) - 1  # last column that maps
    ok &= found & ends
    rows = np.arange(len(start))
    return grid[rows, np.where(ok, stop, 0)], ok


def _may_hold(lo: np.ndarray, hi: np.ndarray, places: np.ndarray) -> np.ndarray:
    scale = _P10[places]
    a, b = lo * scale, hi * scale
    inside = (a > -4e15) & (a < 4e15) & (b > -4e15) & (b < 4e15)
    slack = (np.abs(a) + np.abs(b) + 1.0) * 1e-15
    return ~inside | (np.floor(b + slack) >= np.ceil(a - slack))


def _long(g: np.ndarray) -> np.ndarray:
    """Surely ``len(repr(g)) > 8``: in fixed notation (1e-4 <= |g| < 1e16) with more than six
    decimals, i.e. no integer ``n`` with ``n / 1e6 == g`` (for |g| < 1e9, ``rint(g * 1e6)``
    is that ``n`` if there is one)."""
    m = np.abs(g)
    return (m >= 1e-4) & (m < 1e9) & (np.rint(g * 1e6) / 1e6 != g)


class _Ok:
    """``ok(v)`` of a ``_best`` call: ``lo <= v <= hi``, or for an extent ``w >= 0`` and
    ``lo <= start + w <= hi`` (``_best_scalar`` has the same test on plain floats)."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, start: np.ndarray | None) -> None:
        self.lo, self.hi, self.start = lo, hi, start

    def many(self, v: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if self.start is None:
            return (self.lo[rows] <= v) & (v <= self.hi[rows])
        s = self.start[rows] + v
        return (v >= 0) & (self.lo[rows] <= s) & (s <= self.hi[rows])


def _best(guess: np.ndarray, ok: _Ok, lo_b: np.ndarray, hi_b: np.ndarray,
          todo: np.ndarray, places: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``pixels._best`` with bounds, for the rows ``todo``; returns the results and where they
    were found (the rest: the scalar code). ``places`` gets the decimal place count a result
    was rounded to where the vectorised search found it (``round(guess, p)``; -1 elsewhere)."""
    n = len(guess)
    out = guess.copy()
    done = np.zeros(n, dtype=bool)
    rows = np.flatnonzero(todo)
    if not len(rows):
        return out, done
    g = guess[rows]
    okg = ok.many(g, rows)
    # the short-form exit: where it may apply, Python's own repr decides
    for j in np.flatnonzero(okg & ~_long(g)).tolist():
        text = repr(float(g[j]))
        if len(text) <= 8:
            done[rows[j]] = True
            if places is not None and text.startswith("0."):  # (checked by _decimals)
                places[rows[j]] = len(text) - 2
    rows = rows[~done[rows]]
    if not len(rows):
        return out, done
    g, lb, hb = guess[rows], lo_b[rows], hi_b[rows]
    low = np.zeros(len(rows), dtype=np.int64)
    high = np.full(len(rows), 18, dtype=np.int64)
    while True:
        act = low < high
        if not act.any():
            break
        mid = np.minimum((low + high) // 2, 17)  # inactive rows may sit at 18
        hold = _may_hold(lb, hb, mid)
        high = np.where(act & hold, mid, high)
        low = np.where(act & ~hold, mid + 1, low)
    first = low
    left = np.ones(len(rows), dtype=bool)  # no candidate found yet
    slow: list[np.ndarray] = []  # indexes in rows to go on with in Python ...
    slow_p: list[int] = []  # ... from this many places
    start_p = int(first.min()) if len(first) else 18
    for p in range(start_p, 18):
        act = left & (first <= p)
        if not act.any():
            if not left.any():
                break
            continue
        idx = np.flatnonzero(act)
        cand, safe = _round(g[idx], p)
        hit = safe & ok.many(cand, rows[idx])
        good = idx[hit]
        out[rows[good]] = cand[hit]
        done[rows[good]] = True
        if places is not None:
            places[rows[good]] = p
        left[good] = False
        unsafe = idx[~safe]
        left[unsafe] = False
        if len(unsafe):
            slow.append(unsafe)
            slow_p.extend([p] * len(unsafe))
    if slow:
        _best_scalar(np.concatenate(slow), slow_p, rows, g, ok, out, done)
    return out, done


#: Veltkamp's splitter for doubles (2**27 + 1): ``_split`` cuts a float into two halves of 26
#: significant bits whose products are exact
_SPLITTER = 134217729.0


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = _SPLITTER * a
    hi = c - (c - a)
    return hi, a - hi


def _product_error(a: np.ndarray, b: Any, t: np.ndarray) -> np.ndarray:
    """``a * b - t`` exactly, for ``t = a * b`` rounded (Dekker's TwoProduct, no FMA needed;
    exact when nothing overflows or underflows: |a|, |b| below 1e300 and |t| at least 2**-900
    here)."""
    ah, al = _split(a)
    bh, bl = _split(np.asarray(b, dtype=np.float64))
    return ((ah * bh - t) + ah * bl + al * bh) + al * bl


def _round(x: np.ndarray, p: Any) -> tuple[np.ndarray, np.ndarray]:
    """``round(x, p) + 0.0`` where decided here (the second array): ``n / 10**p`` for the
    integer ``n`` nearest the exact ``x * 10**p`` (ties to even: Python's ``round`` takes the
    exact value of the float ``x``), the division correctly rounded as ``round``'s own
    decimal-to-float step is (``n`` and ``10**p`` are exact floats).

    Why it is ``n``: ``t = x * 10**p`` is the product rounded, off the exact one by at most
    half an ulp of ``t``; ``d = t - rint(t)`` is exact (Sterbenz) and, below 2**52, a multiple
    of that ulp, as 0.5 is. So when ``|d| < 0.5`` the exact product is nearer ``rint(t)`` than
    any other integer; when ``|d| == 0.5`` the product's exact error (``_product_error``) says
    on which side of the half-integer it lies (zero: on it, and ``rint``'s ties to even is
    ``round``'s). From 2**52 to 2**53 the ulp is 1: the product rounded (to nearest, ties to
    even) is itself ``n``, and ``rint(t) == t``."""
    n, safe, scale = _rounded(x, p)
    return n / scale + 0.0, safe


def _rounded(x: np.ndarray, p: Any) -> tuple[np.ndarray, np.ndarray, Any]:
    """``_round``'s integer ``n`` (as floats), where decided, and ``10**p``; ``p`` an int or
    an int array (one place count per value)."""
    scale = _P10[p]
    t = x * scale
    n = np.rint(t)
    d = t - n
    safe = np.abs(t) < _2_53
    tie = safe & ((d == 0.5) | (d == -0.5))
    if tie.any():
        err = _product_error(x, scale, t)
        n = np.where(tie & (err > 0), t + 0.5, np.where(tie & (err < 0), t - 0.5, n))
    return n, safe, scale


_2_53 = float(2**53)


def _best_scalar(idx: np.ndarray, first: list[int], rows: np.ndarray, g: np.ndarray, ok: _Ok,
                 out: np.ndarray, done: np.ndarray) -> None:
    """``round(x, places)`` for ``places`` from ``first`` on, in Python (``ok.one`` on plain
    floats: the same IEEE sums and comparisons), for the ``idx`` of ``rows``."""
    where = rows[idx]
    xs: list[float] = g[idx].tolist()
    los: list[float] = ok.lo[where].tolist()
    his: list[float] = ok.hi[where].tolist()
    starts: list[float] | None = None if ok.start is None else ok.start[where].tolist()
    hit: list[int] = []
    vals: list[float] = []
    for k, x in enumerate(xs):
        lo, hi = los[k], his[k]
        for places in range(first[k], 18):
            c = round(x, places) + 0.0
            if (lo <= c <= hi) if starts is None else (c >= 0 and lo <= starts[k] + c <= hi):
                hit.append(k)
                vals.append(c)
                break
    if hit:
        found = where[hit]
        out[found] = vals
        done[found] = True


def _rel(a: np.ndarray, size: np.ndarray, places: np.ndarray | None = None
         ) -> tuple[np.ndarray, np.ndarray]:
    """``pixels.rel`` where decided here (``places``: see ``_best``)."""
    target, ok = _snap(a)
    q = target / size
    lo, hi, found = _preimage(target, size, q)
    ok &= found
    pad = 2.0 * np.spacing(np.maximum(np.abs(lo), np.abs(hi)))
    return _best(q, _Ok(lo, hi, None), lo - pad, hi + pad, ok, places)


def rel_many(values: Sequence[float], sizes: Sequence[int]) -> list[float]:
    """``[pixels.rel(a, s) for a, s in zip(values, sizes)]``, bit for bit."""
    if not values:
        return []
    a = np.array(values, dtype=np.float64)
    size = np.array(sizes, dtype=np.float64)
    with np.errstate(all="ignore"):
        res, done = _rel(a, size)
    out: list[float] = res.tolist()
    for i in np.flatnonzero(~done).tolist():
        out[i] = pixels.rel(values[i], sizes[i])
    return out


def edges_many(los: Sequence[float], his: Sequence[float], sizes: Sequence[int]
               ) -> list[tuple[float, float]]:
    """``[pixels._edge(lo, hi, s) ...]`` (a box's start and extent on one axis), bit for bit."""
    n = len(los)
    if not n:
        return []
    with np.errstate(all="ignore"):
        start, width, done = _edges(np.array(los, dtype=np.float64),
                                    np.array(his, dtype=np.float64),
                                    np.array(sizes, dtype=np.float64))
    starts: list[float] = start.tolist()
    widths: list[float] = width.tolist()
    out = list(zip(starts, widths, strict=True))
    for i in np.flatnonzero(~done).tolist():
        out[i] = pixels._edge(los[i], his[i], sizes[i])
    return out


#: ``_rel`` of two-decimal pixels remembered, per size: ``_STARTS[size]`` holds, at index
#: ``n``, the result for the pixel value ``n / 100`` (``_Table``); the tables hold at most
#: ``_STARTS_MAX`` entries in all (then values of other sizes are computed every time)
_STARTS: dict[float, _Table] = {}
_STARTS_MAX = 1 << 21


class _Table:
    """``_rel(n / 100, size)`` for ``n`` in ``[0, 100 * size]``: ``state`` 0 = not known yet,
    1 = found (``value``; ``places`` as ``_best`` gives them), 2 = not decided here (the
    scalar code). Zeroed arrays: pages are only touched where written."""

    def __init__(self, size: float) -> None:
        n = int(size) * 100 + 1
        self.state = np.zeros(n, dtype=np.int8)
        self.value = np.zeros(n, dtype=np.float64)
        self.places = np.zeros(n, dtype=np.int8)


def forget() -> None:
    """Drop the remembered starts and far edges (``_starts``, ``_ends``)."""
    _STARTS.clear()
    _ENDS.clear()


_T = TypeVar("_T", "_Table", "_EndTable")


def _table(size: float) -> _Table | None:
    return _memo_table(_STARTS, size, _Table, _STARTS_MAX)


def _memo_table(tables: dict[float, _T], size: float, make: Callable[[float], _T],
                most: int) -> _T | None:
    """``size``'s table in ``tables``, made on first use; None for a size that is not a whole
    number in [1, 1e5], or when the tables would then hold more than ``most`` entries."""
    got = tables.get(size)
    if got is None and size == int(size) and 1 <= size <= 1e5 and \
            sum(len(t.state) for t in tables.values()) + int(size) * 100 + 1 <= most:
        got = tables[size] = make(size)
    return got


def _looked_up(a: np.ndarray, size: np.ndarray, table_of: Callable[[float], _T | None]
               ) -> Iterator[tuple[_T, np.ndarray, np.ndarray, np.ndarray,
                                   tuple[np.ndarray, np.ndarray]]]:
    """The rows of ``a`` that are two-decimal pixels (exactly ``n / 100``, ``0 <= n <= 100 *
    size``, not ``-0.0``), looked up in their size's table (``_table`` or ``_end_table``; a
    size without one is skipped): per table, the rows known and their index, whether each was
    found (state 1), and (rows, index) of those not known yet, to compute and store."""
    n = np.rint(a * 100.0)
    two = (n / 100.0 == a) & (n >= 0.0) & (n <= size * 100.0) & ~np.signbit(a)
    for s in np.unique(size[two]).tolist():
        t = table_of(s)
        if t is None:
            continue
        r = np.flatnonzero(two & (size == s))
        idx = n[r].astype(np.intp)
        st = t.state[idx]
        hit = st != 0
        yield t, r[hit], idx[hit], st[hit] == 1, (r[~hit], idx[~hit])


def _starts(a: np.ndarray, size: np.ndarray, places: np.ndarray | None
            ) -> tuple[np.ndarray, np.ndarray]:
    """``_rel(a, size, places)``, the same arrays, with the results for two-decimal pixels
    remembered per size: a box's start on an axis depends on its pixel value and the image's
    size only, and a file's boxes repeat those pairs (88% of the starts of the 1M-box
    benchmark file: 200,000 values of two decimals for a 1920-pixel axis). A value is looked
    up only when it is exactly ``n / 100`` for an integer ``0 <= n <= 100 * size`` (so the
    index gives back the very float; ``-0.0`` is not looked up)."""
    rows = len(a)
    if rows < 64:
        return _rel(a, size, places)
    start = np.zeros(rows, dtype=np.float64)
    ok = np.zeros(rows, dtype=bool)
    pl = np.full(rows, -1, dtype=np.int64)
    todo = np.ones(rows, dtype=bool)  # rows to compute
    tables: list[tuple[_Table, np.ndarray, np.ndarray]] = []
    for t, hr, hi_, found, miss in _looked_up(a, size, _table):
        start[hr] = t.value[hi_]
        ok[hr] = found
        pl[hr] = t.places[hi_]
        todo[hr] = False
        tables.append((t, *miss))
    rest = np.flatnonzero(todo)
    if len(rest):
        rpl = np.full(len(rest), -1, dtype=np.int64)
        v, found = _rel(a[rest], size[rest], rpl)
        start[rest], ok[rest], pl[rest] = v, found, rpl
        for t, r, idx in tables:  # remember what was computed (first of equal rows wins:
            t.state[idx] = np.where(ok[r], 1, 2)  # they are equal)
            t.value[idx] = start[r]
            t.places[idx] = pl[r]
    if places is not None:
        places[:] = pl
    return start, ok


#: ``_far`` of two-decimal pixels remembered, per size, as ``_STARTS`` (``_EndTable``; at most
#: ``_ENDS_MAX`` entries in all, ~25 bytes each)
_ENDS: dict[float, _EndTable] = {}
_ENDS_MAX = 1 << 20


class _EndTable:
    """``_far(n / 100, size)`` for ``n`` in ``[0, 100 * size]``: ``state`` 0 = not known yet,
    1 = found (``target``, ``lo``, ``hi``), 2 = not decided here. Zeroed arrays, as
    ``_Table``."""

    def __init__(self, size: float) -> None:
        n = int(size) * 100 + 1
        self.state = np.zeros(n, dtype=np.int8)
        self.target = np.zeros(n, dtype=np.float64)
        self.lo = np.zeros(n, dtype=np.float64)
        self.hi = np.zeros(n, dtype=np.float64)


def _end_table(size: float) -> _EndTable | None:
    return _memo_table(_ENDS, size, _EndTable, _ENDS_MAX)


def _far(a: np.ndarray, size: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A box's far edge on an axis: the pixel value snapped (``target``), the preimage
    ``[lo, hi]`` of it (``_preimage``), and where both were decided here."""
    target, ok = _snap(a)
    lo, hi, found = _preimage(target, size, target / size)
    return target, lo, hi, ok & found


def _ends(a: np.ndarray, size: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``_far(a, size)``, the same arrays, remembered per size for two-decimal pixels as
    ``_starts`` remembers the starts: the far edge's snap and preimage depend on its value
    and the size only (the extent's search, which needs the start too, is not remembered).
    Looked up only where ``a`` is exactly ``n / 100``, ``0 <= n <= 100 * size`` (not
    ``-0.0``)."""
    rows = len(a)
    if rows < 64:
        return _far(a, size)
    target = np.zeros(rows, dtype=np.float64)
    lo = np.zeros(rows, dtype=np.float64)
    hi = np.zeros(rows, dtype=np.float64)
    ok = np.zeros(rows, dtype=bool)
    todo = np.ones(rows, dtype=bool)
    tables: list[tuple[_EndTable, np.ndarray, np.ndarray]] = []
    for t, hr, hi_, found, miss in _looked_up(a, size, _end_table):
        target[hr], lo[hr], hi[hr] = t.target[hi_], t.lo[hi_], t.hi[hi_]
        ok[hr] = found
        todo[hr] = False
        tables.append((t, *miss))
    rest = np.flatnonzero(todo)
    if len(rest):
        target[rest], lo[rest], hi[rest], ok[rest] = _far(a[rest], size[rest])
        for t, r, idx in tables:  # (equal rows: equal results, any one may be stored)
            t.state[idx] = np.where(ok[r], 1, 2)
            t.target[idx], t.lo[idx], t.hi[idx] = target[r], lo[r], hi[r]
    return target, lo, hi, ok


def _edges(lo_px: np.ndarray, hi_px: np.ndarray, size: np.ndarray,
           places: tuple[np.ndarray, np.ndarray] | None = None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pixels._edge`` where decided; ``places``: (of the starts, of the extents) as
    ``_best`` gives them."""
    start, ok = _starts(lo_px, size, None if places is None else places[0])
    ok &= ~(hi_px < lo_px)  # swapped edges: the scalar code
    target, ulo, uhi, found = _ends(hi_px, size)
    ok &= found
    q = target / size
    guess = q - start
    ok &= guess > 0
    pad = 4.0 * np.spacing(np.maximum(np.maximum(np.abs(ulo), np.abs(uhi)), np.abs(start)))
    width, done = _best(guess, _Ok(ulo, uhi, start), ulo - start - pad, uhi - start + pad, ok,
                        None if places is None else places[1])
    return start, width, done


def boxes_rel(boxes: Sequence[Sequence[float]], width: int, height: int
              ) -> list[tuple[float, float, float, float]]:
    """``[pixels.box_rel(b, width, height) for b in boxes]``, bit for bit."""
    n = len(boxes)
    if not n:
        return []
    los = [b[0] for b in boxes] + [b[1] for b in boxes]
    his = [b[2] for b in boxes] + [b[3] for b in boxes]
    edges = edges_many(los, his, [width] * n + [height] * n)
    return [(x, y, w, h) for (x, w), (y, h) in zip(edges[:n], edges[n:], strict=True)]


def image_boxes(images: Sequence[Image], texts: list[list[str | None]] | None = None
                ) -> list[list[tuple[float, float, float, float] | None]]:
    """For each image, ``box_rel(points, width, height)`` of each of its ``box`` shapes over
    the image's own ``width`` x ``height`` (``None`` for other shapes, or for every shape of
    an image without a size), all images in one go: the boxes' points go to numpy as one
    ``n x 4`` array, the answers come back as tuples made in C (``zip`` of four lists).

    ``texts``: gets, for each image, each box's ``jsonfmt`` text (``"[x, y, w, h]"``, the
    ``repr`` of each value) where ``box_texts`` knows it, else None."""
    pts_all: list[Any] = []
    ws: list[int] = []
    hs: list[int] = []
    where: list[int | list[int | None]] = []  # int: every shape a box, the first one's index
    for img in images:
        w, h = img.width, img.height
        shapes = img.shapes
        if not (w and h and w >= 1 and h >= 1):
            where.append([None] * len(shapes))
            continue
        k = len(pts_all)
        if img.plain or all(s.kind == "box" and s.points and len(s.points) == 4
                            for s in shapes):
            pts_all.extend([s.points for s in shapes])
            where.append(k)
        else:
            spots: list[int | None] = []
            for s in shapes:
                pts = s.points
                if s.kind == "box" and pts and len(pts) == 4:
                    spots.append(len(pts_all))
                    pts_all.append(pts)
                else:
                    spots.append(None)
            where.append(spots)
        m = len(pts_all) - k
        ws.extend([w] * m)
        hs.extend([h] * m)
    n = len(pts_all)
    boxes: list[tuple[float, float, float, float]] = []
    if n:
        arr = np.fromiter(chain.from_iterable(pts_all), dtype=np.float64,
                          count=4 * n).reshape(n, 4)
        places = None if texts is None else (np.full(2 * n, -1, dtype=np.int64),
                                             np.full(2 * n, -1, dtype=np.int64))
        with np.errstate(all="ignore"):
            start, width, done = _edges(np.concatenate([arr[:, 0], arr[:, 1]]),
                                        np.concatenate([arr[:, 2], arr[:, 3]]),
                                        np.array(ws + hs, dtype=np.float64), places)
            if places is not None:
                box_text = box_texts(start, width, places, done, n)
        starts: list[float] = start.tolist()
        widths: list[float] = width.tolist()
        boxes = list(zip(starts[:n], starts[n:], widths[:n], widths[n:], strict=True))
        for i in np.flatnonzero(~done).tolist():  # the scalar code, on the values given
            if i < n:
                pts = pts_all[i]
                x, bw = pixels._edge(pts[0], pts[2], ws[i])
                b = boxes[i]
                boxes[i] = (x, b[1], bw, b[3])
            else:
                pts = pts_all[i - n]
                y, bh = pixels._edge(pts[1], pts[3], hs[i - n])
                b = boxes[i - n]
                boxes[i - n] = (b[0], y, b[2], bh)
    out: list[list[tuple[float, float, float, float] | None]] = []
    for img, at in zip(images, where, strict=True):
        if isinstance(at, int):
            out.append(list(boxes[at:at + len(img.shapes)]))
        else:
            out.append([None if i is None else boxes[i] for i in at])
    if texts is not None:
        if not n:
            box_text = []
        for img, at in zip(images, where, strict=True):
            if isinstance(at, int):
                texts.append(box_text[at:at + len(img.shapes)])
            else:
                texts.append([None if i is None else box_text[i] for i in at])
    return out


def _decimals(v: np.ndarray, places: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where decided (the second array): ``repr(v)`` is ``"0."`` then the first array's
    integer ``n`` written with ``places`` digits (zeros in front), so ``"0.%0*d" % (p, n)``.

    Why: ``repr`` (the shortest decimal that maps back to ``v``; of those the nearest) costs
    ~0.4 us a value, four a box; here numpy checks it for a place count ``p`` (the one
    ``_best`` rounded to) in [1, 17] and ``1e-4 <= v < 1`` (``repr`` writes such values in
    fixed notation, ``0.`` and the digits), where an ulp of ``v`` is below ``10**-p`` (exact
    test: ``spacing(v) * 10**p < 1``, a power of two times an exact float): (a) ``n / 10**p
    == v``, ``n`` the integer nearest ``v * 10**p`` (``_rounded``, exact): the ``p``-place
    decimal nearest ``v`` maps back to it; (b) the ``(p-1)``-place decimal nearest ``v`` does
    not. Any decimal that maps to ``v`` lies within half an ulp of it (the interval of reals
    rounding to ``v`` is at most an ulp wide): one of fewer places, if any, would be a
    ``(p-1)``-place decimal, and the nearest such is then as near, so in the interval too
    (two of them are at least ``10**(1-p)`` apart, more than its width): (b) says there is
    none. So ``repr`` has ``p`` places (its last digit is not 0, or it would have fewer), and
    only one ``p``-place decimal (``10**-p`` apart) lies in the interval: ``n``'s."""
    p = np.clip(places, 1, 17)
    ok = (places >= 1) & (places <= 17) & (v >= 1e-4) & (v < 1.0)
    n, safe, scale = _rounded(v, p)
    ok &= safe & (np.spacing(v) * scale < 1.0) & (n / scale == v)
    m, safe2, scale2 = _rounded(v, p - 1)
    ok &= safe2 & (m / scale2 != v)
    return n, ok


def box_texts(start: np.ndarray, width: np.ndarray, places: tuple[np.ndarray, np.ndarray],
              done: np.ndarray, n: int) -> list[str | None]:
    """``"[x, y, w, h]"`` as ``jsonfmt`` writes a box of ``_edges``' results (the first ``n``
    rows on x, the next ``n`` on y; ``-0.0`` as ``0.0``): each value from ``_decimals``
    where it knows its ``repr``, else by ``repr``; None where the scalar code gives the box
    (not ``done``)."""
    vals = np.stack([start[:n], start[n:], width[:n], width[n:]], axis=1)
    pl = np.stack([places[0][:n], places[0][n:], places[1][:n], places[1][n:]], axis=1)
    ints, ok = _decimals(vals.ravel(), pl.ravel())
    ok = ok.reshape(n, 4)
    # n + 10**p written in decimal: "1" then n's p digits, zeros in front (int64: < 2e17)
    lead = (ints.reshape(n, 4).astype(np.int64) + _P10_INT[np.clip(pl, 1, 17)]).tolist()
    every = (ok.all(axis=1) & done[:n] & done[n:]).tolist()
    out: list[str | None] = [
        f"[0.{str(a)[1:]}, 0.{str(b)[1:]}, 0.{str(c)[1:]}, 0.{str(d)[1:]}]" if k else None
        for (a, b, c, d), k in zip(lead, every, strict=True)]
    boxed = done[:n] & done[n:]
    for i in np.flatnonzero(boxed & ~ok.all(axis=1)).tolist():  # some values by repr
        known, row, got = ok[i].tolist(), vals[i].tolist(), lead[i]
        out[i] = "[" + ", ".join([
            "0." + str(got[j])[1:] if known[j] else _frepr(row[j] + 0.0)
            for j in range(4)]) + "]"
    return out


_frepr = float.__repr__
_P10_INT = np.array([10 ** p for p in range(18)], dtype=np.int64)


def boxes_px(boxes: Sequence[Sequence[float]], width: int, height: int) -> list[list[float]]:
    """``[pixels.box_px(b, width, height) for b in boxes]``, bit for bit: the same products
    (``x * width``, ``(x + w) * width``), then ``snap`` where decided here, else the scalar."""
    if not boxes:
        return []
    b = np.array(boxes, dtype=np.float64)
    x, y, bw, bh = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    wf, hf = float(width), float(height)
    with np.errstate(all="ignore"):
        vals = np.stack([x * wf, y * hf, (x + bw) * wf, (y + bh) * hf], axis=1)
        snapped, ok = _snap(vals)
    out: list[list[float]] = snapped.tolist()
    if not ok.all():
        for i, j in zip(*np.nonzero(~ok), strict=True):
            out[i][j] = pixels.snap(float(vals[i, j]))
    return out
