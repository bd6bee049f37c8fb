"""The fast pixel <-> relative conversion gives exactly the results of the old one.

``pixels_reference.py`` is the implementation before the speed-up (issue 11), verbatim; every
function of ``annosync.cvatxml.pixels`` must return the same floats (bit for bit, sign of zero
included) for two-decimal pixels (what CVAT writes), float noise around them, arbitrary floats
and awkward sizes.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import pixels_reference as ref
from hypothesis import example, given, settings
from hypothesis import strategies as st

from annosync.cvatxml import pixels, pixvec
from annosync.dataset import jsonfmt

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


@st.composite
def _round_cases(draw: st.DrawFn) -> tuple[float, int]:
    """A float and a place count as ``pixvec._best`` rounds them: quotients of two-decimal
    pixels by a size (many lie exactly on a tie at one place count: 533.81 / 1280 =
    0.4170390625), those give or take a few ulps, exact ties ``(k + 0.5) / 2**j``, and any
    float."""
    p = draw(st.integers(0, 17))
    kind = draw(st.integers(0, 4))
    if kind <= 1:
        x = draw(_two_decimal(-20, 4000)) / draw(SIZES)
    elif kind == 2:
        x = draw(_two_decimal(-20, 4000)) / draw(SIZES)
        for _ in range(draw(st.integers(1, 3))):
            x = math.nextafter(x, math.inf if draw(st.booleans()) else -math.inf)
    elif kind == 3:
        x = (draw(st.integers(-10**6, 10**6)) + 0.5) / 2.0 ** draw(st.integers(0, 30))
    else:
        x = draw(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
    return x, p


@settings(max_examples=2000)
@given(st.lists(_round_cases(), min_size=1, max_size=20))
@example([(0.4170390625, 9), (0.125, 2), (0.375, 2), (2.5, 0), (-2.5, 0), (-0.4170390625, 9),
          (0.482027777777778, 16), (0.9999999999999999, 17), (0.3, 17), (-0.001, 2),
          (0.9026168896915561, 16), (0.09494396756577593, 17)])  # past 2**53: n != rint(t)
def test_vectorised_round_equals_pythons_round_where_it_decides(
        cases: list[tuple[float, int]]) -> None:
    """``pixvec._round`` (ties decided by the product's exact error) is ``round(x, p) + 0.0``
    bit for bit wherever it says it decided, and it decides every value below 2**53 after
    scaling (the ties included: they went to the scalar code before)."""
    import numpy as np

    for x, p in cases:
        with np.errstate(all="ignore"):
            got, decided = pixvec._round(np.array([x]), p)
        if abs(x * 10.0 ** p) < 2.0 ** 53:
            assert decided[0]
        if decided[0]:
            assert _bits(got.tolist()[0]) == _bits(round(x, p) + 0.0), (x, p)


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from([(1920, 1080), (1280, 720), (333, 777), (1, 1),
                                           (None, None), (0, 10), (640, None)]),
                          st.lists(st.tuples(st.sampled_from(["box", "box", "box", "points"]),
                                             st.lists(pixel_values(2000), min_size=4,
                                                      max_size=4)),
                                   max_size=8)),
                max_size=6))
def test_image_boxes_equals_box_rel_of_each_box(images: list[Any]) -> None:
    """``pixvec.image_boxes`` of images with and without sizes, of boxes and other shapes (so
    both the all-boxes and the mixed layout, and the scalar fallback for odd values): each
    box's ``box_rel`` over its own image's size, ``None`` elsewhere, bit for bit."""
    from annosync.cvatxml.model import Image, Shape

    imgs = [Image(id=i, name=f"{i}.jpg", width=w, height=h,
                  shapes=[Shape(kind, label="a", points=pts) for kind, pts in shapes])
            for i, ((w, h), shapes) in enumerate(images)]
    texts: list[list[str | None]] = []
    got = pixvec.image_boxes(imgs, texts)
    assert got == pixvec.image_boxes(imgs)
    assert len(got) == len(imgs) == len(texts)
    for img, row, text_row in zip(imgs, got, texts, strict=True):
        assert len(row) == len(img.shapes) == len(text_row)
        sized = bool(img.width and img.height and img.width >= 1 and img.height >= 1)
        for s, b, text in zip(img.shapes, row, text_row, strict=True):
            if s.kind == "box" and sized:
                assert b is not None
                want = ref.box_rel(s.points, img.width, img.height)
                assert _bits(list(b)) == _bits(list(want))
                if text is not None:  # the box as a label file has it
                    assert text == jsonfmt._list_fast(list(b), 5) == jsonfmt._inline(list(b))
            else:
                assert b is None and text is None


def test_box_texts_of_typical_boxes_are_jsonfmts() -> None:
    """Boxes as CVAT files hold them (two decimals, common sizes): nearly every box gets its
    text from ``box_texts`` (so the fast text is what runs), each the one ``jsonfmt`` writes."""
    import random

    from annosync.cvatxml.model import Image, Shape

    rng = random.Random(13)
    imgs = []
    for i in range(40):
        w, h = rng.choice([(1920, 1080), (1280, 720), (640, 480), (333, 777), (1, 1)])
        shapes = []
        for _ in range(50):
            x, y = round(rng.uniform(0, w), 2), round(rng.uniform(0, h), 2)
            pts = [x, y, round(x + rng.uniform(0, 99), 2), round(y + rng.uniform(0, 99), 2)]
            if rng.random() < 0.1:
                pts = [0.0, 0.0, float(w), float(h)]
            shapes.append(Shape("box", label="a", points=pts))
        imgs.append(Image(id=i, name=f"{i}.jpg", width=w, height=h, shapes=shapes))
    texts: list[list[str | None]] = []
    got = pixvec.image_boxes(imgs, texts)
    known = 0
    for row, text_row in zip(got, texts, strict=True):
        for b, text in zip(row, text_row, strict=True):
            assert b is not None
            if text is not None:
                known += 1
                assert text == jsonfmt._inline(list(b))
    assert known >= 0.97 * 2000


@st.composite
def _decimal_cases(draw: st.DrawFn) -> tuple[float, int]:
    """A value and a place count as ``box_texts`` gives them to ``_decimals``: a decimal of
    ``p`` places as a float (so ``p`` or fewer places may be its ``repr``), given with ``p``
    or a count near it; quotients of two-decimal pixels; any float below 1."""
    kind = draw(st.integers(0, 3))
    p = draw(st.integers(1, 17))
    if kind <= 1:
        v = draw(st.integers(0, 10 ** p - 1)) / 10.0 ** p
    elif kind == 2:
        v = draw(_two_decimal(0, 4000)) / draw(SIZES)
    else:
        v = draw(st.floats(0, 1, exclude_max=True))
    return v, draw(st.sampled_from([p, p, p - 1, p + 1, -1, 0, 18]))


@settings(max_examples=1000)
@given(st.lists(_decimal_cases(), min_size=1, max_size=20))
@example([(0.5, 2), (0.5, 1), (0.125, 3), (0.1, 17), (0.30000000000000004, 17),
          (0.9999999999999999, 16), (7.03125e-05, 10), (0.0001, 4), (0.4170390625, 10)])
def test_decimals_are_reprs_where_decided(cases: list[tuple[float, int]]) -> None:
    """``pixvec._decimals``: wherever it decides, ``"0."`` and the integer in ``p`` digits is
    ``repr`` of the value (fails without its check that fewer places do not map back: 0.5
    with 2 places would be "0.50")."""
    import numpy as np

    vals = np.array([v for v, _ in cases])
    places = np.array([p for _, p in cases], dtype=np.int64)
    with np.errstate(all="ignore"):
        ints, ok = pixvec._decimals(vals, places)
    for (v, p), n, k in zip(cases, ints.tolist(), ok.tolist(), strict=True):
        if k:
            assert "0." + str(int(n)).zfill(p) == repr(v), (v, p)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(pixel_values(1920), st.one_of(st.sampled_from([1920, 1080, 7, 1]),
                                                        SIZES)),
                min_size=64, max_size=200),
       st.randoms(use_true_random=False))
@example([(v / 100, s) for v in (0, 1, 2, 50, 12345, 192000) for s in (1920, 1080, 7)] * 4
         + [(-0.0, 1920), (0.0, 1920), (1920.0, 1920), (1920.01, 1920), (-0.01, 1920)] * 10,
         __import__("random").Random(3))
def test_remembered_starts_equal_the_search(pairs: list[tuple[float, int]], rnd: Any) -> None:
    """``pixvec._starts`` (the start search remembered per size for two-decimal pixels) gives
    ``_rel``'s arrays bit for bit (values, found, decimal places), on the first call (values
    repeated within it), again (from the memo) and in another order."""
    import numpy as np

    pixvec.forget()
    for _ in range(3):
        a = np.array([v for v, _ in pairs], dtype=np.float64)
        size = np.array([float(s) for _, s in pairs], dtype=np.float64)
        want_pl = np.full(len(a), -1, dtype=np.int64)
        got_pl = np.full(len(a), -1, dtype=np.int64)
        with np.errstate(all="ignore"):
            want, want_ok = pixvec._rel(a, size, want_pl)
            got, got_ok = pixvec._starts(a, size, got_pl)
        assert _bits(got.tolist()) == _bits(want.tolist())
        assert got_ok.tolist() == want_ok.tolist()
        assert got_pl.tolist() == want_pl.tolist()
        pairs = list(pairs)
        rnd.shuffle(pairs)
    assert pixvec._STARTS or not any(v >= 0 and float(v * 100).is_integer() for v, _ in pairs)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(pixel_values(1920), st.one_of(st.sampled_from([1920, 1080, 7, 1]),
                                                        SIZES)),
                min_size=64, max_size=200),
       st.randoms(use_true_random=False))
@example([(v / 100, s) for v in (0, 1, 2, 50, 12345, 192000) for s in (1920, 1080, 7)] * 4
         + [(-0.0, 1920), (0.0, 1920), (1920.0, 1920), (1920.01, 1920), (-0.01, 1920),
            (965.5200000000001, 1600), (965.52, 1600)] * 10,
         __import__("random").Random(3))
def test_remembered_far_edges_equal_the_search(pairs: list[tuple[float, int]],
                                               rnd: Any) -> None:
    """``pixvec._ends`` (a far edge's snap and preimage remembered per size for two-decimal
    pixels) gives ``_far``'s arrays bit for bit (target, preimage ends, found), on the first
    call (values repeated within it), again (from the memo) and in another order; and
    ``_edges`` with the memo gives what it gives without it."""
    import numpy as np

    pixvec.forget()
    for _ in range(3):
        a = np.array([v for v, _ in pairs], dtype=np.float64)
        size = np.array([float(s) for _, s in pairs], dtype=np.float64)
        with np.errstate(all="ignore"):
            want = pixvec._far(a, size)
            got = pixvec._ends(a, size)
        for g, w in zip(got[:3], want[:3], strict=True):
            assert _bits(g.tolist()) == _bits(w.tolist())
        assert got[3].tolist() == want[3].tolist()
        pairs = list(pairs)
        rnd.shuffle(pairs)
    assert pixvec._ENDS or not any(v >= 0 and float(v * 100).is_integer() for v, _ in pairs)
    lo = np.array([max(0.0, v - 3.21) for v, _ in pairs], dtype=np.float64)
    hi = np.array([v for v, _ in pairs], dtype=np.float64)
    size = np.array([float(s) for _, s in pairs], dtype=np.float64)
    with np.errstate(all="ignore"):
        remembered = pixvec._edges(lo, hi, size)
        pixvec.forget()
        saved = pixvec._ENDS_MAX
        pixvec._ENDS_MAX = 0  # nothing remembered: every far edge searched
        try:
            searched = pixvec._edges(lo, hi, size)
        finally:
            pixvec._ENDS_MAX = saved
    for g, w in zip(remembered, searched, strict=True):
        assert _bits(g.tolist()) == _bits(w.tolist())
