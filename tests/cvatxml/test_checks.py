"""An image's shapes checked at once (``_Checks.shapes``, issue 11) raise what checking them one
by one raises: the first problem, with its line, or nothing."""

from __future__ import annotations

import math

from hypothesis import example, given, settings
from hypothesis import strategies as st

from annosync.cvatxml.diag import Diagnostics
from annosync.cvatxml.import_ import _Checks
from annosync.cvatxml.meta import LabelMeta, Meta, TaskMeta
from annosync.cvatxml.model import Shape
from annosync.errors import InputError

LABELS = st.sampled_from(["car", "person", "", None, "bike"])
VALUES = st.one_of(st.sampled_from([0.0, 1.5, 2.0, 100.0, math.nan]),
                   st.floats(-5, 200, allow_nan=False))


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    kind = draw(st.sampled_from(["box", "box", "box", "ellipse", "polygon"]))
    n = 4 if kind != "polygon" else 6
    if draw(st.integers(0, 9)) == 0:
        n = draw(st.sampled_from([0, 2, 5]))
    points = [draw(VALUES) for _ in range(n)] if n or draw(st.booleans()) else None
    elements = [Shape("points", label=draw(LABELS), points=[1.0, 2.0], line=3)] \
        if draw(st.integers(0, 9)) == 0 else []
    return Shape(kind, label=draw(LABELS), points=points, elements=elements,
                 line=draw(st.integers(1, 99)))


def _outcome(fn, checks: _Checks, items: list[Shape]) -> str:  # type: ignore[no-untyped-def]
    try:
        fn(checks, items)
    except (InputError, ValueError, TypeError, IndexError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def _one_by_one(checks: _Checks, items: list[Shape]) -> None:
    for s in items:
        checks.label(s.label, s.line)
        checks.shape(s, s.label or "")


@settings(max_examples=500, deadline=None)
@given(st.lists(shapes(), max_size=6), st.booleans())
@example([Shape("box", label="car", points=[5.0, 1.0, 4.0, 2.0], line=7)], True)
@example([Shape("box", label="car", points=[1.0, 1.0, 4.0, 2.0], line=7),
          Shape("box", label="bike", points=[1.0, 1.0, 4.0, 2.0], line=8)], True)
def test_shapes_at_once_equal_one_by_one(items: list[Shape], with_meta: bool) -> None:
    meta = Meta(kind="task", task=TaskMeta(id="1", labels=[
        LabelMeta(name="car"), LabelMeta(name="person")])) if with_meta else None
    checks = _Checks(meta, Diagnostics("f.xml"))
    assert _outcome(_Checks.shapes, checks, items) == _outcome(_one_by_one, checks, items)
