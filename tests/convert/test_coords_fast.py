"""The short-cut in ``convert/coords.py`` (skip the ulp search when the plain quotient is short
and exact) gives exactly what the full search gives: same floats, bit for bit."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.convert import coords


def ref_candidates(guess, f, target):
    """``coords._candidates`` as it was first written (every float within SEARCH_ULPS tried,
    sorted by length of repr): the early stop of the fast one must not change its answer."""
    found = [guess] if f(guess) == target else []
    up = down = guess
    for _ in range(coords.SEARCH_ULPS):
        up = math.nextafter(up, math.inf)
        down = math.nextafter(down, -math.inf)
        if f(up) == target:
            found.append(up)
        if f(down) == target:
            found.append(down)
    return sorted(found, key=lambda v: len(repr(v)))


def ref_short(v: float) -> bool:
    a = abs(v)
    if not (1e-4 <= a < 1e15):
        return False
    return len(repr(a).replace(".", "").lstrip("0").rstrip("0")) <= 14


def full_rel(a: float, size: int) -> float:
    a = float(a)
    found = ref_candidates(a / size, lambda v: v * size, a)
    return found[0] if found else a / size


def full_edge(lo: float, hi: float, size: int) -> tuple[float, float]:
    """``_edge`` as it was before the short-cut (the full search only)."""
    if hi < lo:
        lo, hi = hi, lo
    lo, hi = float(lo), float(hi)
    starts = ref_candidates(lo / size, lambda v: v * size, lo) or [lo / size]
    ends = ref_candidates(hi / size, lambda v: v * size, hi) or [hi / size]
    for start in starts:
        for end in ends:
            def total(w: float, s: float = start) -> float:
                return s + w

            found = ref_candidates(max(end - start, 0.0), total, end)
            found = [w for w in found if w >= 0 and (start + w) * size == hi]
            if found:
                return start, found[0]
    return starts[0], max(ends[0] - starts[0], 0.0)


pixels = st.one_of(
    st.integers(0, 4000).map(float),
    st.integers(0, 400000).map(lambda n: n / 100),
    st.floats(0, 5000, allow_nan=False, allow_infinity=False),
)
sizes = st.integers(1, 8000)


def same(a: float, b: float) -> bool:
    return math.copysign(1, a) == math.copysign(1, b) and a == b


@settings(max_examples=1000, deadline=None)
@given(a=pixels, size=sizes)
def test_to_rel_equals_the_full_search(a: float, size: int) -> None:
    assert same(coords.to_rel(a, size), full_rel(a, size))


@settings(max_examples=1000, deadline=None)
@given(x=st.integers(0, 10**7).map(lambda n: n / 10**7), size=sizes)
def test_uploaded_points_come_back_identical(x: float, size: int) -> None:
    a = x * size
    assert same(coords.to_rel(a, size), full_rel(a, size))


@settings(max_examples=1000, deadline=None)
@given(lo=pixels, hi=pixels, size=sizes)
def test_box_edges_equal_the_full_search(lo: float, hi: float, size: int) -> None:
    got, want = coords._edge(lo, hi, size), full_edge(lo, hi, size)
    assert same(got[0], want[0]) and same(got[1], want[1])


@settings(max_examples=800, deadline=None)
@given(x=st.one_of(st.floats(0, 1), st.integers(0, 10**6).map(lambda n: n / 10**6)),
       w=st.one_of(st.floats(0, 1), st.integers(0, 10**4).map(lambda n: n / 10**4)),
       size=sizes)
def test_uploaded_boxes_come_back_identical(x: float, w: float, size: int) -> None:
    lo, hi = x * size, (x + w) * size
    got, want = coords._edge(lo, hi, size), full_edge(lo, hi, size)
    assert same(got[0], want[0]) and same(got[1], want[1])


@settings(max_examples=1500, deadline=None)
@given(a=pixels, size=sizes, shift=st.integers(-12, 12))
def test_candidates_equal_the_exhaustive_search(a: float, size: int, shift: int) -> None:
    guess = a / size
    for _ in range(abs(shift)):  # a guess off the quotient, as _edge's width guess can be
        guess = math.nextafter(guess, math.inf if shift > 0 else -math.inf)
    for f, target in ((lambda v: v * size, a), (lambda v: 0.25 + v, 0.25 + a / size)):
        got, want = coords._candidates(guess, f, target), ref_candidates(guess, f, target)
        assert len(got) == len(want) and all(map(same, got, want))


@settings(max_examples=1500, deadline=None)
@given(v=st.one_of(pixels, st.floats(allow_nan=False, allow_infinity=False),
                   st.integers(0, 10**15).map(lambda n: n / 10**9)))
def test_short_equals_the_digit_count(v: float) -> None:
    assert coords._short(v) == ref_short(v)


# -- the memo of _edge and to_rel (coords.MEMO_MAX): answers remembered by value ------------------

few_pixels = st.sampled_from([0.0, -0.0, 1.0, -1.0, 3.0, 91.0, 119.99999999999999, 120.0,
                              0.1, 57.300000000000004, 1e-300, -57.3, 239.0, 320.0])
few_sizes = st.sampled_from([1, 3, 7, 240, 320, 1000])


@settings(max_examples=400, deadline=None)
@given(calls=st.lists(st.tuples(few_pixels, few_pixels, few_sizes), min_size=1, max_size=30),
       cap=st.sampled_from([2, 5, coords.MEMO_MAX]))
def test_remembered_answers_equal_the_full_search(calls, cap) -> None:
    """The same pixel values again and again (as in a task), both signs of zero among them,
    the memo filling and being cleared: every answer is the full search's, bit for bit."""
    saved = coords.MEMO_MAX
    coords.MEMO_MAX = cap
    try:
        coords._SCALED.clear()
        coords._EDGES.clear()
        for lo, hi, size in calls + calls:  # the second round answers from the memo
            got, want = coords._edge(lo, hi, size), full_edge(lo, hi, size)
            assert same(got[0], want[0]) and same(got[1], want[1]), (lo, hi, size)
            assert same(coords.to_rel(lo, size), full_rel(lo, size)), (lo, size)
            assert len(coords._EDGES) <= cap and len(coords._SCALED) <= cap
    finally:
        coords.MEMO_MAX = saved


def test_zeros_of_either_sign_are_not_confused() -> None:
    """0.0 and -0.0 are one dict key; their answers differ in sign."""
    coords._SCALED.clear()
    coords._EDGES.clear()
    for first, second in ((0.0, -0.0), (-0.0, 0.0)):
        for a in (first, second):
            assert same(coords.to_rel(a, 320), full_rel(a, 320))
            got, want = coords._edge(a, 5.0, 320), full_edge(a, 5.0, 320)
            assert same(got[0], want[0]) and same(got[1], want[1])
