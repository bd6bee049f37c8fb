"""How CVAT XML writes values: ``{:.2f}`` numbers, ``0``/``1`` booleans, ``x,y;x,y`` points and
``"3, 5, 7"`` mask runs (cvat/apps/dataset_manager/formats/cvat.py, FACTS A.2 and A.5).

Two number styles: ``"cvat"`` is the dumper's ``{:.2f}`` exactly; ``"exact"`` (the default) is
``{:.2f}`` whenever that reads back as the same float (always true for values CVAT wrote) and
the shortest round-trip form otherwise, so a file with more precision is never silently rounded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

NumberStyle = Literal["exact", "cvat"]


def fmt_cvat(value: float) -> str:
    return f"{value:.2f}"


def fmt_exact(value: float) -> str:
    text = f"{value:.2f}"
    if float(text) == value:
        return text
    return repr(float(value))


def number_formatter(style: NumberStyle) -> Callable[[float], str]:
    if style == "cvat":
        return fmt_cvat
    if style == "exact":
        return fmt_exact
    raise ValueError(f"unknown number style {style!r} (expected 'exact' or 'cvat')")


def fmt_bool(value: bool) -> str:
    return "1" if value else "0"


def fmt_points(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    """``[x0, y0, x1, y1]`` -> ``"x0,y0;x1,y1"``."""
    out = [fmt(v) for v in values]
    return ";".join(f"{out[i]},{out[i + 1]}" for i in range(0, len(out) - 1, 2))


def fmt_rle(counts: Sequence[int]) -> str:
    """Mask runs as the dumper writes them: ``str(list)[1:-1]``, i.e. ``"3, 5, 7"``."""
    return ", ".join(str(int(c)) for c in counts)
