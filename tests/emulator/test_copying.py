"""``json_copy``: the emulator's fast ``deepcopy`` of stored objects (emulator/copying.py)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from annosync.emulator.copying import json_copy

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(
    max_size=5)
# JSON trees, with the odd tuple (a user's annotator call may pass one) to reach the fallback
_trees = st.recursive(
    _scalars,
    lambda inner: (st.lists(inner, max_size=4) | st.tuples(inner, inner)
                   | st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=25)


def _containers(value: Any) -> list[Any]:
    """Every dict and list inside ``value`` (itself included), depth first."""
    out = []
    if isinstance(value, (dict, list)):
        out.append(value)
    children = (value.values() if isinstance(value, dict)
                else value if isinstance(value, (list, tuple)) else ())
    for child in children:
        out.extend(_containers(child))
    return out


@given(_trees)
def test_equals_deepcopy_and_shares_no_container(value: Any) -> None:
    copied = json_copy(value)
    assert copied == copy.deepcopy(value)
    assert type(copied) is type(value)
    mine = {id(c) for c in _containers(copied)}
    assert not mine & {id(c) for c in _containers(value)}
    # writing into every container of the copy leaves the original as it was
    before = copy.deepcopy(value)
    for c in _containers(copied):
        if isinstance(c, dict):
            c["__x"] = 1
        else:
            c.append("__x")
    assert value == before


def test_a_stored_shape() -> None:
    shape = {"type": "rectangle", "points": [0.5, 1, 2, 3.25], "attributes": [
        {"spec_id": 1, "value": "false"}], "elements": [], "id": None, "occluded": False}
    copied = json_copy(shape)
    assert copied == shape
    copied["points"][0] = 9.0
    copied["attributes"][0]["value"] = "true"
    assert shape["points"][0] == 0.5 and shape["attributes"][0]["value"] == "false"
