"""A plain box's geometry digest (record format 3) is its exact 7-decimal numbers, and agrees
with the hashed digest of format 2 on every verdict: two boxes' new digests are equal exactly
when their old ones are, the old one is a function of the new one, and ``upgraded`` swaps an
old digest for the new one exactly where a box matches it. Checked on any floats, on decimal
near-ties of the 7th place, -0.0, NaN, infinities, huge and tiny values, rotations and z orders.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.model.labels import BinaryMask, Detection
from annosync.sync.digest import (
    _n7,
    box_key,
    digest_value,
    digests,
    legacy_reference_digests,
    legacy_spatial,
    reference_digests,
    same_aspects,
    synced,
    synced_run,
    upgraded,
)


def text_n7(x: float) -> int:
    """The definition: the integer ``f"{x:.7f}"`` writes."""
    return int(f"{x:.7f}".replace(".", ""))


#: decimal near-ties of the 7th place (the double product rounds across them), their ulp
#: neighbours, and the edges of ``_n7``'s fast range
TIES = (st.integers(-10**9, 10**9).map(lambda n: (n + 0.5) / 10**7)
        | st.integers(-10**9, 10**9).map(lambda n: n / 10**7)
        | st.integers(-10**6, 10**6).map(lambda n: (2 * n + 1) / 2 / 10**7 * 10**5))
NEAR = TIES.flatmap(lambda x: st.integers(-3, 3).map(
    lambda k: x + k * math.ulp(x) if x else x))
EDGES = st.sampled_from([0.0, -0.0, 8.7e5, -8.7e5, 8.7e5 - 1e-9, 1e-300, -1e-300, 5e-8, -5e-8,
                         4.9999999999999996e-08, 1e16, 2.0**53, 1e300, -1e300, 0.49999995,
                         0.12345675, 0.123456749, 999999.99999995])
COORDS = st.floats(allow_nan=False, allow_infinity=False) | st.floats(-2, 2) | NEAR | EDGES


@settings(max_examples=4000, deadline=None)
@given(x=COORDS)
def test_n7_is_the_7_decimal_text_exactly(x: float) -> None:
    assert _n7(x) == text_n7(x) == round(Fraction(x) * 10**7)


def box(coords: tuple[float, ...], rotation: Any = None, z: Any = None,
        mask: bool = False) -> Detection:
    return Detection.model_construct(
        id="a" * 24, label="car", bounding_box=coords, rotation=rotation, attributes={},
        mask=BinaryMask(size=(1, 2), counts=[1, 1]) if mask else None, mask_path=None,
        z_order=z, index=None)


ANY = st.floats(allow_nan=True, allow_infinity=True)
ROTATIONS = st.sampled_from([None, 0.0, -0.0, 0, 4e-5, -4e-5, 5e-5, 10.0, math.nan, math.inf])
ZS = st.sampled_from([None, 0, 1, -2, True, False])


@st.composite
def boxes(draw: Any) -> Detection:
    coords = draw(st.tuples(*[COORDS | ANY | st.integers(-5, 5)] * 4))
    return box(coords, draw(ROTATIONS), draw(ZS), draw(st.sampled_from([False] * 5 + [True])))


@st.composite
def pairs(draw: Any) -> tuple[Detection, Detection]:
    """Two boxes, the second often the first nudged: by ulps, across a 7th-decimal tie,
    by a sign of zero, or another rotation or z order."""
    a = draw(boxes())
    how = draw(st.sampled_from(["other", "ulps", "zero", "rotation", "z", "tie"]))
    coords = list(a.bounding_box)
    i = draw(st.integers(0, 3))
    v = coords[i]
    if how == "other":
        return a, draw(boxes())
    if how == "ulps" and type(v) is float and math.isfinite(v):
        coords[i] = v + draw(st.integers(-4, 4)) * math.ulp(v)
    elif how == "zero" and v == 0:
        coords[i] = -v
    elif how == "tie" and type(v) is float and math.isfinite(v) and abs(v) < 1e8:
        coords[i] = (round(v * 1e7) + draw(st.sampled_from([-0.5, 0.5]))) / 1e7
    b = box(tuple(coords), draw(ROTATIONS) if how == "rotation" else a.rotation,
            draw(ZS) if how == "z" else a.z_order, a.mask is not None)
    return a, b


@settings(max_examples=3000, deadline=None)
@given(pair=pairs())
def test_box_digests_are_equal_exactly_when_the_hashed_ones_are(pair: Any) -> None:
    a, b = pair
    new_a, new_b = digests(a, ())["spatial"], digests(b, ())["spatial"]
    old_a, old_b = legacy_reference_digests(a, ())["spatial"], \
        legacy_reference_digests(b, ())["spatial"]
    assert (new_a == new_b) == (old_a == old_b)
    assert new_a == reference_digests(a, ())["spatial"]
    assert legacy_spatial(a) == old_a
    # the hashed digest is a function of the new one (a plain box's is its numbers)
    assert as_hashed(new_a) == old_a
    # an old digest is swapped for the new one exactly where a plain box matches it
    swapped = upgraded(old_a, b)
    assert swapped == (new_b if old_a == old_b and box_key(b) is not None else None)


def as_hashed(digest: str) -> str:
    """The format-2 digest of the box a format-3 digest names (a hash stays as it is)."""
    if "," not in digest:
        return digest
    *numbers, z = [int(n) for n in digest.split(",")] + ([0] if digest.count(",") == 3 else [])
    return digest_value({"box": [n / 10**7 for n in numbers], "mask": None, "rotation": 0.0,
                         "z": z})


def test_the_common_boxes_are_numbers_and_the_rest_is_hashed() -> None:
    assert digests(box((0.1, 0.25, 0.5, 1.0)), ())["spatial"] == \
        "1000000,2500000,5000000,10000000"
    assert digests(box((0.0, -0.0, -1e-9, 1), z=3), ())["spatial"] == "0,0,0,10000000,3"
    # near-ties go as the exact binary value lies: 0.12345675 and 0.12345665 are a hair
    # above theirs (up, where x * 1e7 alone would not say), 5e-8 a hair below (down, to 0)
    assert digests(box((0.12345675, 0.12345665, 1e300, 5e-8)), ())["spatial"] == \
        f"1234568,1234567,{text_n7(1e300)},0"
    for odd in (box((0.1, 0.1, 0.1, math.nan)), box((0.1,) * 4, rotation=10.0),
                box((0.1,) * 4, z=True), box((0.1,) * 4, mask=True)):
        found = digests(odd, ())["spatial"]
        assert len(found) == 16 and "," not in found
        assert found == legacy_reference_digests(odd, ())["spatial"]
        assert upgraded(found, odd) is None  # not a plain box: its digest never changed


@settings(max_examples=1500, deadline=None)
@given(pair=pairs(), hashed=st.booleans())
def test_the_cold_loop_compares_the_numbers_as_digests_does(pair: Any, hashed: bool) -> None:
    a, b = pair
    known = (legacy_reference_digests if hashed else reference_digests)(b, ())
    twin = a.model_copy(deep=True)
    # a format-2 entry agrees where it did (the box's old hash): kept as it is, not upgraded
    want = same_aspects(a, twin, ()) and (digests(a, ()) == known
                                          or legacy_reference_digests(a, ()) == known)
    assert synced(a, twin, known, ()) == want
    assert synced_run([a], [twin], [known], ()) == int(want)


@settings(max_examples=1500, deadline=None)
@given(coords=st.tuples(*[NEAR | EDGES] * 4), nudge=st.integers(-2, 2), z=ZS)
def test_the_cold_loop_settles_near_ties_exactly(coords: tuple[float, ...], nudge: int,
                                                 z: Any) -> None:
    a = box(coords, z=z)
    b = box((coords[0] + nudge * math.ulp(coords[0]), *coords[1:]), z=z)
    for known in (reference_digests(a, ()), reference_digests(b, ())):
        want = digests(a, ()) == known
        assert synced_run([a], [a.model_copy(deep=True)], [known], ()) == int(want)
