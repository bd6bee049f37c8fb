"""Record format 2 digested a box's coordinates as ``repr(round(x, 7) + 0.0)`` (what a
format-2 entry is compared with: ``digest.legacy_spatial``): ``digest._r7`` writes that text
with one conversion where it is the same string. Checked on any
float, on the edges of its fast range and on decimal ties, and through whole box digests."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.model.labels import Detection
from annosync.sync.digest import _r7, digests, reference_digests


def _plain(x: float) -> str:
    return repr(round(float(x), 7) + 0.0)


EDGES = [1e-4, -1e-4, 1e6, -1e6, 0.0, -0.0, 5e-5, 0.99999995, 0.49999995, 1e-7, 5e-8,
         999999.99999995, 0.00010000000000000009, 0.00009999999999999999, 2.0, 1.5e-4]


@settings(max_examples=3000, deadline=None)
@given(x=st.floats(allow_nan=True, allow_infinity=True)
       | st.floats(min_value=-2.0, max_value=2.0)
       | st.integers(-10**8, 10**8).map(lambda n: n / 10**8)  # 8 decimals: ties at the 8th
       | st.integers(-10**7, 10**7).map(lambda n: (n + 0.5) / 10**7)
       | st.sampled_from(EDGES).flatmap(
           lambda e: st.integers(-3, 3).map(lambda k: e + k * math.ulp(e) if e else e)))
def test_r7_is_repr_of_round(x: float) -> None:
    if math.isnan(x):
        assert _r7(x) == "nan" == _plain(x)
        return
    assert _r7(x) == _plain(x)


def test_r7_on_many_random_coordinates() -> None:
    rng = random.Random(7)
    for _ in range(200_000):
        x = rng.choice((rng.random(), rng.random() * 1e-3, rng.uniform(-1e6, 1e6),
                        round(rng.random(), rng.randint(1, 9))))
        assert _r7(x) == _plain(x), x


@settings(max_examples=500, deadline=None)
@given(box=st.tuples(*[st.floats(allow_nan=False, allow_infinity=False, width=64)
                       | st.floats(0, 1)] * 4),
       rotation=st.none() | st.floats(-360, 360))
def test_box_digests_equal_their_definition(box: tuple[float, ...],
                                            rotation: float | None) -> None:
    det = Detection.model_construct(id="a" * 24, label="car", bounding_box=box,
                                    rotation=rotation, attributes={}, mask=None,
                                    mask_path=None, z_order=None, index=None)
    assert digests(det, ()) == reference_digests(det, ())
