"""Does CVAT's answer to an annotations PUT echo what was sent? Pure.

Why: CVAT answers ``PUT /api/tasks/{id}/annotations`` with the objects as stored, in the order
sent, each with its new ``id`` (recordings/05 vs 06, recordings2/08), and a real server adds
``score`` (1) to shapes. When it does echo, what ``from_cvat`` makes of the answer can be
computed from the body sent (``from_sent``) while the server is still storing it: the upload's
slowest wait overlaps the conversion back. Anything else in the answer (another order, a moved
point, a dropped attribute, a zero of the other sign) sends the upload down the general path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from annosync.model.cvat import LabeledData, Shape, Tag

#: Fields ``from_cvat`` never reads from a tag or shape (ids are checked apart; see
#: ``from_sent`` for why they do not matter when it returns a value).
IGNORED = frozenset({"id", "score", "source"})


def echoes(sent: LabeledData, got: LabeledData) -> bool:
    """True when ``got`` holds ``sent``'s tags and shapes in order, each with an id, equal in
    every field ``from_cvat`` reads, floats to the sign of their zeros; and no tracks."""
    if sent.tracks or got.tracks:
        return False
    if len(sent.tags) != len(got.tags) or len(sent.shapes) != len(got.shapes):
        return False
    return (all(_same(a, b) for a, b in zip(sent.tags, got.tags, strict=True))
            and all(_same(a, b) and _same_floats(a, b)
                    for a, b in zip(sent.shapes, got.shapes, strict=True)))


def _same(a: Tag | Shape, b: Tag | Shape) -> bool:
    if b.id is None:
        return False
    da, db = a.__dict__, b.__dict__
    return all(da[k] == db[k] for k in da if k not in IGNORED)


def _same_floats(a: Shape, b: Shape) -> bool:
    """``==`` holds for 0.0 and -0.0, whose conversions differ (``-0.0 / w`` is ``-0.0``)."""
    if a.rotation == 0.0 and _sign(a.rotation) != _sign(b.rotation):
        return False
    return 0.0 not in a.points or _signs(a.points) == _signs(b.points)


def _sign(v: float) -> float:
    return math.copysign(1.0, v)


def _signs(values: Sequence[float]) -> list[float]:
    return [math.copysign(1.0, v) for v in values]
