"""``jsonfmt.dumps`` (its fast path) writes exactly the bytes of ``jsonfmt.dumps_plain`` (the
rules written out one by one): on every JSON file of the repository's fixtures and on
Hypothesis data with what label files hold and what is awkward (numeric keys in and out of
order, -0.0, tuples, nested arrays with and without objects, non-ASCII text)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.dataset import jsonfmt

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(p for d in ("fixtures", "tests/data", "formats") for p in (ROOT / d).rglob("*.json"))


def test_fixture_files_exist() -> None:
    assert len(FILES) > 20


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_fast_path_equals_plain_on_fixture(path: Path) -> None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        pytest.skip("not valid JSON (a broken-input fixture)")
    assert jsonfmt.dumps(value) == jsonfmt.dumps_plain(value)


KEYS = st.one_of(st.sampled_from(["_id", "label", "attributes", "bounding_box", "1", "2", "10",
                                  "07", "7", "²", "", "a b", "ü", "frames", "0x"]),
                 st.text(max_size=6))
FLOATS = st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                   st.sampled_from([0.0, -0.0, 0.1, 1e-07, 1e16, -2.5]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), FLOATS,
                    st.text(max_size=8))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.lists(inner, max_size=4).map(tuple),
                            st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=40)


@settings(max_examples=1500)
@given(VALUES)
def test_fast_path_equals_plain(value: object) -> None:
    assert jsonfmt.dumps(value) == jsonfmt.dumps_plain(value)


@settings(max_examples=300)
@given(st.lists(FLOATS, min_size=1, max_size=6), st.lists(st.integers(0, 10**6), max_size=6))
def test_number_arrays_equal_plain(floats: list[float], ints: list[int]) -> None:
    for value in ({"box": floats}, {"counts": ints}, {"mixed": [*floats, *ints, True]},
                  {"pts": [floats, floats]}, [floats, {"a": floats}]):
        assert jsonfmt.dumps(value) == jsonfmt.dumps_plain(value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_refused_as_before(bad: float) -> None:
    for value in ({"x": bad}, {"x": [1.0, bad]}, [[bad]], bad):
        with pytest.raises(ValueError, match="non-finite"):
            jsonfmt.dumps(value)


def test_other_types_as_before() -> None:
    class Sub(dict):  # type: ignore[type-arg]
        pass

    assert jsonfmt.dumps(Sub(b=1, a=[Sub(c=2)])) == jsonfmt.dumps_plain(Sub(b=1, a=[Sub(c=2)]))
    assert jsonfmt.dumps({1: "a", "b": 2}) == jsonfmt.dumps_plain({1: "a", "b": 2})
    with pytest.raises(TypeError):
        jsonfmt.dumps({"x": object()})
    deep: object = [1.0]
    for _ in range(40):
        deep = {"d": deep}
    assert jsonfmt.dumps(deep) == jsonfmt.dumps_plain(deep)
