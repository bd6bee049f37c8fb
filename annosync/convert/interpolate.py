"""Track interpolation with CVAT's own rules, so a pulled track has a label on exactly the frames
(and with exactly the geometry) annotators see in CVAT.

Written from the behaviour of ``TrackManager.get_interpolated_shapes`` in
cvat/apps/dataset_manager/annotation.py (2D), not copied:

- keyframes are the stored tracked shapes, sorted by frame; a keyframe's missing attributes
  are carried over from the previous keyframe;
- between a visible keyframe and the next keyframe (visible or ``outside``), frames are
  interpolated; after an ``outside`` keyframe nothing is shown until the next keyframe;
  after the last keyframe, if visible, the shape is repeated up to the end of the task;
- rectangles, ellipses, cuboids (and skeleton bodies): linear on every coordinate; rotation
  along the shorter arc, with CVAT's quirk kept (a difference of exactly -180 degrees turns by
  +1 degree), result in ``[0, 360)``;
- points: linear only when both keyframes hold one point, else the first keyframe is repeated;
- polygons and polylines: CVAT's curve matching (points matched by relative arc length, both
  ways, then interpolated and thinned), which also handles different point counts; polygons are
  closed for the computation and reopened after;
- masks (and keyframes of different types) are not interpolated: the first keyframe repeats;
- frames outside ``[track frame, end)`` and deleted frames are dropped.

Interpolated frames carry a copy of the previous keyframe's attributes, occluded flag and
z order, and ``keyframe=False``.
"""

from __future__ import annotations

import math
from collections.abc import Container, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only named in annotations: the package imports this module eagerly
    from annosync.model.cvat import TrackedShape


@dataclass
class TrackFrame:
    """The state of a track on one frame."""

    frame: int
    type: str
    points: list[float]
    rotation: float
    occluded: bool
    outside: bool
    z_order: int
    keyframe: bool
    attributes: dict[int, str] = field(default_factory=dict)
    shape_id: int | None = None


def angle_diff(right: float, left: float) -> float:
    """CVAT's ``find_angle_diff``: the signed shorter arc from ``left`` to ``right``."""
    diff = right - left
    diff = ((diff + 180) % 360) - 180
    if abs(diff) >= 180:
        diff = 360 - abs(diff) * -1 if diff > 0 else 1
    return diff


def _linear(s0: TrackFrame, s1: TrackFrame) -> list[TrackFrame]:
    out = []
    distance = s1.frame - s0.frame
    turn = angle_diff(s1.rotation, s0.rotation)
    for frame in range(s0.frame + 1, s1.frame):
        offset = (frame - s0.frame) / distance
        rotation = (s0.rotation + turn * offset + 360) % 360
        points = [a + (b - a) * offset for a, b in zip(s0.points, s1.points, strict=False)]
        out.append(_copy(s0, frame, points, rotation))
    return out


def _repeat(s0: TrackFrame, stop: int) -> list[TrackFrame]:
    return [_copy(s0, frame) for frame in range(s0.frame + 1, stop)]


def _copy(s0: TrackFrame, frame: int, points: list[float] | None = None,
          rotation: float | None = None) -> TrackFrame:
    return replace(
        s0, frame=frame, keyframe=False, attributes=dict(s0.attributes),
        points=list(s0.points) if points is None else points,
        rotation=s0.rotation if rotation is None else rotation,
    )


# -- polygons and polylines ----------------------------------------------------------------------
_Pt = tuple[float, float]


def _pairs(flat: Sequence[float]) -> list[_Pt]:
    return [(float(flat[i]), float(flat[i + 1])) for i in range(0, len(flat) - 1, 2)]


def _length(points: Sequence[_Pt]) -> float:
    total = 0.0
    for i in range(1, len(points)):
        dx = points[i][0] - points[i - 1][0]
        dy = points[i][1] - points[i - 1][1]
        total += math.sqrt(dx * dx + dy * dy)
    return total


def _offsets(points: Sequence[_Pt]) -> list[float]:
    """Relative arc length at each point (NaN for a curve of zero length, as numpy gives)."""
    total = _length(points)
    out = [0.0]
    acc = 0.0
    for i in range(1, len(points)):
        dx = points[i][0] - points[i - 1][0]
        dy = points[i][1] - points[i - 1][1]
        acc += math.sqrt(dx * dx + dy * dy)
        out.append(acc / total if total else math.nan)
    return out


def _nearest(value: float, curve: Sequence[float]) -> int:
    best, best_d = 0, abs(value - curve[0])
    for i in range(1, len(curve)):
        d = abs(value - curve[i])
        if d < best_d:
            best, best_d = i, d
    return best


def _dist(a: _Pt, b: _Pt) -> float:
    dx, dy = a[0] - b[0], a[1] - b[1]
    return math.sqrt(dx * dx + dy * dy)


def _match(left_off: list[float], right_off: list[float]) -> dict[int, list[int]]:
    matching = {i: [_nearest(v, right_off)] for i, v in enumerate(left_off)}
    used = {j for js in matching.values() for j in js}
    for j in range(len(right_off)):
        if j not in used:
            matching[_nearest(right_off[j], left_off)].append(j)
    return {i: sorted(js) for i, js in matching.items()}


def _thin(interp: list[_Pt], matching: dict[int, list[int]], left: list[_Pt],
          right: list[_Pt]) -> list[_Pt]:
    """CVAT's ``reduce_interpolation``: drop interpolated points closer than half the mean
    segment length of the part of the curve they came from."""
    slots: dict[int, list[int]] = {}
    n = 0
    for i in range(len(left)):
        slots[i] = list(range(n, n + len(matching[i])))
        n += len(matching[i])
    out: list[_Pt] = []

    def minimize(base: float, count: int, start: int, stop: int) -> list[_Pt]:
        threshold = base / (2 * count)
        kept = [interp[start]]
        last = start
        for i in range(start + 1, stop):
            if _dist(interp[last], interp[i]) >= threshold:
                kept.append(interp[i])
                last = i
        kept.append(interp[stop])
        if len(kept) == 2 and _dist(interp[start], interp[stop]) < threshold:
            sx = sy = 0.0
            for p in kept:
                sx += p[0]
                sy += p[1]
            return [(sx / len(kept), sy / len(kept))]
        return kept

    def left_segment(start: int, stop: int) -> None:
        a, b = slots[start][0], slots[stop][0]
        if a == b:
            out.append(interp[a])
            return
        out.extend(minimize(_length(left[start : stop + 1]), stop - start + 1, a, b))

    def right_segment(i: int) -> None:
        start, stop = matching[i][0], matching[i][-1]
        out.extend(minimize(_length(right[start : stop + 1]), stop - start + 1,
                            slots[i][0], slots[i][-1]))

    opened: int | None = None
    for i in range(len(left)):
        if len(matching[i]) == 1:
            if opened is not None:
                if matching[i][0] == matching[opened][0]:
                    continue
                left_segment(opened, i - 1)
            opened = i
        else:
            if opened is not None:
                left_segment(opened, i - 1)
                opened = None
            right_segment(i)
    if opened is not None:
        left_segment(opened, len(left) - 1)
    return out


def _position(left: list[_Pt], right: list[_Pt], offset: float) -> list[float]:
    matching = _match(_offsets(left), _offsets(right))
    interp: list[_Pt] = []
    for i, (lx, ly) in enumerate(left):
        for j in matching[i]:
            rx, ry = right[j]
            interp.append((lx + (rx - lx) * offset, ly + (ry - ly) * offset))
    return [c for p in _thin(interp, matching, left, right) for c in p]


def _polyshape(s0: TrackFrame, s1: TrackFrame) -> list[TrackFrame]:
    closed = s0.type == "polygon"
    p0, p1 = list(s0.points), list(s1.points)
    if closed:
        p0, p1 = p0 + p0[:2], p1 + p1[:2]
    left, right = _pairs(p0), _pairs(p1)
    if not left or not right:
        return _repeat(s0, s1.frame)
    out = []
    distance = s1.frame - s0.frame
    for frame in range(s0.frame + 1, s1.frame):
        points = _position(left, right, (frame - s0.frame) / distance)
        out.append(_copy(s0, frame, points[:-2] if closed else points))
    return out


def _between(s0: TrackFrame, s1: TrackFrame) -> list[TrackFrame]:
    if s0.type != s1.type:
        return _repeat(s0, s1.frame)
    if s0.type in ("rectangle", "ellipse", "cuboid", "skeleton"):
        return _linear(s0, s1)
    if s0.type == "points":
        if len(s0.points) == 2 and len(s1.points) == 2:
            return _linear(s0, s1)
        return _repeat(s0, s1.frame)
    if s0.type in ("polygon", "polyline"):
        return _polyshape(s0, s1)
    return _repeat(s0, s1.frame)  # masks: no interpolation


def keyframes(shapes: Sequence[TrackedShape]) -> list[TrackFrame]:
    """The stored shapes as keyframes, sorted, one per frame (a later duplicate wins), with
    attributes carried over from earlier keyframes as CVAT does."""
    by_frame: dict[int, TrackedShape] = {}
    for shape in shapes:
        by_frame[shape.frame] = shape
    out: list[TrackFrame] = []
    carried: dict[int, str] = {}
    for frame in sorted(by_frame):
        shape = by_frame[frame]
        attrs = dict(carried)
        attrs.update({a.spec_id: a.value for a in shape.attributes})
        carried = attrs
        out.append(TrackFrame(
            frame=frame, type=shape.type, points=[float(p) for p in shape.points],
            rotation=float(shape.rotation), occluded=shape.occluded, outside=shape.outside,
            z_order=shape.z_order, keyframe=True, attributes=attrs, shape_id=shape.id,
        ))
    return out


def interpolate(shapes: Sequence[TrackedShape], start: int, end: int,
                deleted: Container[int] = ()) -> list[TrackFrame]:
    """Every frame of a track in ``[start, end)``: keyframes (``outside`` ones included, they
    end a visible run) and interpolated frames (never ``outside``)."""
    keys = keyframes(shapes)
    out: list[TrackFrame] = []
    prev: TrackFrame | None = None
    for key in keys:
        if prev is not None and key.frame >= end:
            if not prev.outside:
                out.extend(s for s in _between(prev, key) if s.frame < end)
            prev = None
            break
        if prev is not None and not prev.outside:
            out.extend(_between(prev, key))
        out.append(key)
        prev = key
    if prev is not None and not prev.outside:
        out.extend(_repeat(prev, end))
    return [
        s for s in out
        if start <= s.frame < end and (s.keyframe or not s.outside) and s.frame not in deleted
    ]
