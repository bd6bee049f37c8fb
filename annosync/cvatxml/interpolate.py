"""Track interpolation as CVAT applies it when exporting: every frame of a track, not only its
keyframes (``TrackManager.get_interpolated_shapes`` in cvat/apps/dataset_manager/annotation.py).

Rules reproduced: keyframes sorted by frame; a keyframe inherits the mutable attributes its
predecessor has and it lacks; between two keyframes the frames are interpolated unless the first
is ``outside``; after the last keyframe the shape is copied up to the end of the task unless it
is ``outside``; non-keyframe ``outside`` shapes are dropped (``include_outside=False``);
in-between shapes have ``keyframe=False``.

Geometry: boxes, ellipses, cuboids, skeleton frames and single points move linearly, rotation
along the shorter arc (CVAT's ``simple_interpolation``); multi-point ``points`` are copied.
Polygons and polylines use CVAT's curve matching from ``annosync.convert.interpolate`` (points
matched by relative arc length, which also handles different point counts). Masks are copied.

A track whose shapes already include in-between frames (some ``keyframe=False``: an "expanded"
track, as read from a CVAT for video file) is used as it is: ``track_frames`` does not
re-interpolate it.
"""

from __future__ import annotations

from typing import Any

from annosync.model.cvat import Track, TrackedShape

_convert_interpolate: Any
try:
    from annosync.convert.interpolate import interpolate as _convert_interpolate
except ImportError:  # pragma: no cover - only while annosync.convert is incomplete
    _convert_interpolate = None

_LINEAR = frozenset({"rectangle", "ellipse", "cuboid", "skeleton"})


def _angle_diff(right: float, left: float) -> float:
    diff = ((right - left + 180) % 360) - 180
    if abs(diff) >= 180:  # only -180 gets here; CVAT's find_angle_diff then yields 1
        diff = 1.0
    return diff


def _copy(shape: TrackedShape, frame: int, points: list[float] | None = None,
          rotation: float | None = None) -> TrackedShape:
    update: dict[str, object] = {"frame": frame, "keyframe": False,
                                 "attributes": [a.model_copy() for a in shape.attributes]}
    update["points"] = list(shape.points) if points is None else points
    if rotation is not None:
        update["rotation"] = rotation
    return shape.model_copy(update=update)


def _between(s0: TrackedShape, s1: TrackedShape) -> list[TrackedShape]:
    out: list[TrackedShape] = []
    distance = s1.frame - s0.frame
    same_len = len(s0.points) == len(s1.points)
    linear = s0.type in _LINEAR or (s0.type == "points" and len(s0.points) == 2 and same_len) \
        or (s0.type in ("polygon", "polyline") and same_len)
    if s0.type in ("polygon", "polyline") and s1.type == s0.type \
            and _convert_interpolate is not None:
        frames = _convert_interpolate([s0.model_copy(update={"outside": False}), s1],
                                      s0.frame, s1.frame)
        return [_copy(s0, f.frame, list(f.points)) for f in frames if not f.keyframe]
    for frame in range(s0.frame + 1, s1.frame):
        if linear and same_len:
            t = (frame - s0.frame) / distance
            points = [a + (b - a) * t for a, b in zip(s0.points, s1.points, strict=True)]
            rotation = (s0.rotation + _angle_diff(s1.rotation, s0.rotation) * t + 360) % 360
            out.append(_copy(s0, frame, points, rotation))
        else:
            out.append(_copy(s0, frame))
    return out


def interpolated_shapes(track: Track, end_frame: int, *,
                        include_outside: bool = False) -> list[TrackedShape]:
    """Every shape of ``track`` on task frames ``[track.frame, end_frame)``; keyframes keep
    ``keyframe=True`` (frames are task-relative, as in the JSON API)."""
    shapes: list[TrackedShape] = []
    prev: TrackedShape | None = None
    for raw in sorted(track.shapes, key=lambda s: s.frame):
        shape = raw.model_copy(update={"keyframe": True,
                                       "attributes": list(raw.attributes)})
        if prev is not None:
            have = {a.spec_id for a in shape.attributes}
            shape.attributes.extend(a for a in prev.attributes if a.spec_id not in have)
            if prev.frame == shape.frame:
                raise ValueError(f"track has two keyframes on frame {shape.frame}")
            if not prev.outside or include_outside:
                shapes.extend(_between(prev, shape))
            if end_frame <= shape.frame:
                shapes.append(shape)
                prev = shape
                break
        shapes.append(shape)
        prev = shape
    else:
        if prev is not None and (not prev.outside or include_outside):
            shapes.extend(_copy(prev, f) for f in range(prev.frame + 1, end_frame))
    return [
        s for s in shapes
        if track.frame <= s.frame < end_frame and (s.keyframe or not s.outside or include_outside)
    ]


def is_expanded(track: Track) -> bool:
    """The track lists its in-between frames too (``keyframe=False`` shapes)."""
    return any(s.keyframe is False for s in track.shapes)


def track_frames(track: Track, end_frame: int, *,
                 include_outside: bool = False) -> list[TrackedShape]:
    """The shapes of ``track`` on frames ``[track.frame, end_frame)``: as listed for an expanded
    track, interpolated otherwise (see the module docstring)."""
    if not is_expanded(track):
        return interpolated_shapes(track, end_frame, include_outside=include_outside)
    return [
        s for s in sorted(track.shapes, key=lambda s: s.frame)
        if track.frame <= s.frame < end_frame
        and (s.keyframe is not False or not s.outside or include_outside)
    ]
