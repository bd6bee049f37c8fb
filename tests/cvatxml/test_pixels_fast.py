"""The fast pixel <-> relative conversion gives exactly the results of the old one.

``pixels_reference.py`` is the implementation before the speed-up (issue 11), verbatim; every
function of ``annosync.cvatxml.pixels`` must return the same floats (bit for bit, sign of zero
included) for two-decimal pixels (what CVAT writes), float noise around them, arbitrary floats
and awkward sizes.
"""

from __future__ import annotations

import math
import struct

import pixels_reference as ref
from hypothesis import example, given, settings
from hypothesis import strategies as st

from annosync.cvatxml import pixels, pixvec

SIZES = st.one_of(st.sampled_from([1, 2, 3, 7, 640, 480, 720, 1080, 1280, 1600, 1920, 3840]),
                  st.integers(1, 20000))


def _bits(x: object) -> object:
    if isinstance(x, float):
        return struct.pack("<d", x)
    if isinstance(x, (list, tuple)):
        return [_bits(v) for v in x]
    return x


def _two_decimal(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.integers(int(lo * 100), int(hi * 100)).map(lambda n: n / 100)


@st.composite
def pixel_values(draw: st.DrawFn, size: int | None = None) -> float:
    """Two-decimal pixels (mostly), those plus a few ulps of noise, or any finite float."""
    top = float(size or 4000)
    kind = draw(st.integers(0, 5))
    if kind <= 2:
        return draw(_two_decimal(-20, top + 20))
    if kind == 3:
        v = draw(_two_decimal(-20, top + 20))
        for _ in range(draw(st.integers(1, 6))):
            v = math.nextafter(v, math.inf if draw(st.booleans()) else -math.inf)
        return v
    if kind == 4:
        return draw(st.floats(-1e7, 1e7, allow_nan=False, allow_infinity=False))
    return draw(st.floats(allow_nan=False, allow_infinity=False, width=64))


@settings(max_examples=500)
@given(pixel_values())
@example(965.5200000000001)
@example(-0.0)
@example(1e6)
@example(999999.995)
def test_snap_equals_reference(a: float) -> None:
    assert _bits(pixels.snap(a)) == _bits(ref.snap(a))


@settings(max_examples=500)
@given(st.data(), SIZES)
def test_rel_and_px_equal_reference(data: st.DataObject, size: int) -> None:
    a = data.draw(pixel_values(size))
    assert _bits(pixels.rel(a, size)) == _bits(ref.rel(a, size))
    x = ref.rel(a, size)
    assert _bits(pixels.px(x, size)) == _bits(ref.px(x, size))


@settings(max_examples=500)
@given(st.data(), SIZES, SIZES)
def test_box_rel_and_box_px_equal_reference(data: st.DataObject, w: int, h: int) -> None:
    pts = [data.draw(pixel_values(w)), data.draw(pixel_values(h)),
           data.draw(pixel_values(w)), data.draw(pixel_values(h))]
    if data.draw(st.booleans()):  # mostly proper boxes, as the importer checks
        pts = [min(pts[0], pts[2]), min(pts[1], pts[3]), max(pts[0], pts[2]),
               max(pts[1], pts[3])]
    got = pixels.box_rel(pts, w, h)
    assert _bits(list(got)) == _bits(list(ref.box_rel(pts, w, h)))
    assert _bits(pixels.box_px(got, w, h)) == _bits(ref.box_px(got, w, h))


def test_many_typical_boxes_equal_reference() -> None:
    """A dense sweep of what CVAT files hold: two-decimal boxes on common image sizes."""
    import random

    rng = random.Random(11)
    for _ in range(3000):
        w, h = rng.choice([(1920, 1080), (1280, 720), (1600, 900), (640, 480), (333, 777)])
        x, y = round(rng.uniform(-5, w), 2), round(rng.uniform(-5, h), 2)
        pts = [x, y, round(x + rng.uniform(0, 300), 2), round(y + rng.uniform(0, 300), 2)]
        assert _bits(list(pixels.box_rel(pts, w, h))) == _bits(list(ref.box_rel(pts, w, h)))


# -- the vectorised conversion (pixvec): many values at once, the same floats ----------------
@settings(max_examples=300)
@given(st.data(), SIZES, st.integers(1, 40))
def test_rel_many_equals_reference(data: st.DataObject, size: int, n: int) -> None:
    values = [data.draw(pixel_values(size)) for _ in range(n)]
    sizes = [size if data.draw(st.booleans()) else data.draw(SIZES) for _ in values]
    got = pixvec.rel_many(values, sizes)
    assert _bits(got) == _bits([ref.rel(a, s) for a, s in zip(values, sizes, strict=True)])


@settings(max_examples=300)
@given(st.data(), SIZES, SIZES, st.integers(1, 30))
def test_boxes_rel_equals_reference(data: st.DataObject, w: int, h: int, n: int) -> None:
    boxes = []
    for _ in range(n):
        pts = [data.draw(pixel_values(w)), data.draw(pixel_values(h)),
               data.draw(pixel_values(w)), data.draw(pixel_values(h))]
        if data.draw(st.booleans()):
            pts = [min(pts[0], pts[2]), min(pts[1], pts[3]), max(pts[0], pts[2]),
                   max(pts[1], pts[3])]
        boxes.append(pts)
    got = pixvec.boxes_rel(boxes, w, h)
    assert _bits([list(b) for b in got]) == _bits([list(ref.box_rel(b, w, h)) for b in boxes])


def test_many_typical_boxes_vectorised_equal_reference() -> None:
    """Typical CVAT boxes (two decimals, common sizes, edges at 0 and at the frame's end, a few
    outside it or with float noise), converted 500 at a time, as an import does."""
    import random

    rng = random.Random(12)
    for _ in range(12):
        w, h = rng.choice([(1920, 1080), (1280, 720), (1600, 900), (640, 480), (333, 777),
                           (4000, 3000), (1, 1), (7, 3)])
        boxes = []
        for _ in range(500):
            x, y = round(rng.uniform(-5, w), 2), round(rng.uniform(-5, h), 2)
            pts = [x, y, round(x + rng.uniform(0, 300), 2), round(y + rng.uniform(0, 300), 2)]
            if rng.random() < 0.1:
                pts[rng.randrange(4)] = rng.choice([0.0, float(w), float(h), 0.01])
            if rng.random() < 0.05:
                i = rng.randrange(4)
                pts[i] = math.nextafter(pts[i], rng.choice([math.inf, -math.inf]))
            boxes.append(pts)
        got = pixvec.boxes_rel(boxes, w, h)
        want = [ref.box_rel(b, w, h) for b in boxes]
        assert _bits([list(b) for b in got]) == _bits([list(b) for b in want])


def test_image_boxes_converts_each_image_at_its_own_size() -> None:
    from annosync.cvatxml.model import Image, Shape

    imgs = [Image(id=0, name="a.jpg", width=1920, height=1080, shapes=[
                Shape("box", label="a", points=[10.5, 20.25, 30.0, 40.01]),
                Shape("points", label="a", points=[1.0, 2.0]),
                Shape("box", label="a", points=[0.0, 0.0, 1920.0, 1080.0])]),
            Image(id=1, name="b.jpg", width=None, height=None, shapes=[
                Shape("box", label="a", points=[1.0, 2.0, 3.0, 4.0])]),
            Image(id=2, name="c.jpg", width=333, height=777, shapes=[
                Shape("box", label="a", points=[965.52, 1.0, 1000.0, 2.0])])]
    got = pixvec.image_boxes(imgs)
    assert got[0][1] is None and got[1] == [None]
    assert _bits(list(got[0][0])) == _bits(list(ref.box_rel([10.5, 20.25, 30.0, 40.01], 1920,
                                                                1080)))
    assert _bits(list(got[0][2])) == _bits(list(ref.box_rel([0.0, 0.0, 1920.0, 1080.0], 1920,
                                                                1080)))
    assert _bits(list(got[2][0])) == _bits(list(ref.box_rel([965.52, 1.0, 1000.0, 2.0], 333,
                                                                777)))


@settings(max_examples=300)
@given(st.data(), SIZES, SIZES, st.integers(1, 30))
def test_boxes_px_equals_reference(data: st.DataObject, w: int, h: int, n: int) -> None:
    boxes = []
    for _ in range(n):
        pts = [data.draw(pixel_values(w)), data.draw(pixel_values(h)),
               data.draw(pixel_values(w)), data.draw(pixel_values(h))]
        box = list(ref.box_rel(pts, w, h)) if data.draw(st.booleans()) else \
            [data.draw(st.floats(-2, 2, allow_nan=False)) for _ in range(4)]
        if data.draw(st.integers(0, 9)) == 0:
            box = [data.draw(st.floats(allow_nan=False, allow_infinity=False)) for _ in range(4)]
        boxes.append(box)
    got = pixvec.boxes_px(boxes, w, h)
    assert _bits(got) == _bits([ref.box_px(b, w, h) for b in boxes])


@settings(max_examples=300)
@given(st.lists(pixel_values(), min_size=1, max_size=40))
@example([965.5200000000001, 965.52, -0.0, 0.004999999999999999, -0.5000000000000001, 1e6,
          -999999.995, 0.125, 12.345000000000001, -12.344999999999999])
def test_vectorised_snap_equals_reference_where_it_decides(values: list[float]) -> None:
    import numpy as np

    with np.errstate(all="ignore"):
        got, decided = pixvec._snap(np.array(values))
    for v, g, d in zip(values, got.tolist(), decided.tolist(), strict=True):
        if d:
            assert _bits(g) == _bits(ref.snap(v))
