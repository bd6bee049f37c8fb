"""CVAT's annotation algebra: track interpolation, per-job slicing and the overlap merge.

Why a module: a task's annotations are stored per job. Writes at task level are *sliced* into
job pieces (a track crossing a job boundary gets an interpolated first shape in the next job),
and reads at task level *merge* the job pieces back (unmatched tracks get an ``outside`` shape
at the start of the next segment; duplicates from overlapping segments are united). This is a
port of ``cvat/apps/dataset_manager/annotation.py`` (AnnotationIR, ObjectManager, TrackManager)
checked against ``recordings2/08_annotations.json`` and ``09_video.json``. Like CVAT, the
similarity computation of the merge propagates track attributes into the merged objects.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

from .copying import json_copy

Obj = dict[str, Any]

# -- interpolation ---------------------------------------------------------------------------


def _copy_shape(source: Obj, frame: int, points: list[float] | None = None,
                rotation: float | None = None) -> Obj:
    copied = dict(source)
    copied["attributes"] = copy.deepcopy(source["attributes"])
    copied["keyframe"] = False
    copied["frame"] = frame
    if rotation is not None:
        copied["rotation"] = rotation
    copied["points"] = list(points if points is not None else source["points"])
    return copied


def _angle_diff(right: float, left: float) -> float:
    diff = right - left
    diff = ((diff + 180) % 360) - 180
    if abs(diff) >= 180:
        diff = 360 - abs(diff) * -1 if diff > 0 else 1
    return diff


def _simple(shape0: Obj, shape1: Obj, included: set[int] | None) -> list[Obj]:
    out = []
    distance = shape1["frame"] - shape0["frame"]
    p0, p1 = shape0["points"], shape1["points"]
    diff = [b - a for a, b in zip(p0, p1, strict=False)]
    for frame in range(shape0["frame"] + 1, shape1["frame"]):
        offset = (frame - shape0["frame"]) / distance
        rotation = (shape0.get("rotation", 0) + _angle_diff(shape1.get("rotation", 0),
                                                            shape0.get("rotation", 0)) * offset
                    + 360) % 360
        points = [float(a + d * offset) for a, d in zip(p0, diff, strict=False)]
        if included is None or frame in included:
            out.append(_copy_shape(shape0, frame, points, float(rotation)))
    return out


def _points_interp(shape0: Obj, shape1: Obj, included: set[int] | None) -> list[Obj]:
    if len(shape0["points"]) == 2 and len(shape1["points"]) == 2:
        return _simple(shape0, shape1, included)
    return [_copy_shape(shape0, f) for f in range(shape0["frame"] + 1, shape1["frame"])
            if included is None or f in included]


def _interpolate_position(left: Sequence[float], right: Sequence[float], offset: float) -> list[float]:
    """CVAT's polyline/polygon interpolation (curve matching by relative arc length)."""

    def to_points(arr: Sequence[float]) -> list[tuple[float, float]]:
        return [(float(arr[i]), float(arr[i + 1])) for i in range(0, len(arr) - 1, 2)]

    def curve_length(points: list[tuple[float, float]]) -> float:
        return sum(math.hypot(points[i][0] - points[i - 1][0], points[i][1] - points[i - 1][1])
                   for i in range(1, len(points)))

    def offset_vec(points: list[tuple[float, float]], length: float) -> list[float]:
        vec = [0.0]
        acc = 0.0
        for i in range(1, len(points)):
            acc += math.hypot(points[i][0] - points[i - 1][0], points[i][1] - points[i - 1][1])
            vec.append(acc / length if length else 0.0)
        return vec

    def nearest(value: float, curve: list[float]) -> int:
        best = (0, abs(value - curve[0]))
        for i in range(1, len(curve)):
            dist = abs(value - curve[i])
            if dist < best[1]:
                best = (i, dist)
        return best[0]

    lp, rp = to_points(left), to_points(right)
    lvec, rvec = offset_vec(lp, curve_length(lp)), offset_vec(rp, curve_length(rp))
    matching: dict[int, list[int]] = {i: [nearest(v, rvec)] for i, v in enumerate(lvec)}
    matched = {j for js in matching.values() for j in js}
    for j in range(len(rvec)):
        if j not in matched:
            matching[nearest(rvec[j], lvec)].append(j)
    for key in matching:
        matching[key] = sorted(matching[key])

    interpolated: list[tuple[float, float]] = []
    for i, lpt in enumerate(lp):
        for j in matching[i]:
            rpt = rp[j]
            interpolated.append((lpt[0] + (rpt[0] - lpt[0]) * offset,
                                 lpt[1] + (rpt[1] - lpt[1]) * offset))

    def dist(a: tuple[float, float], b: tuple[float, float]) -> float:
        return math.hypot(a[0] - b[0], a[1] - b[1])

    indexes: dict[int, list[int]] = {}
    acc = 0
    for i in range(len(lp)):
        indexes[i] = []
        for _ in matching[i]:
            indexes[i].append(acc)
            acc += 1
    reduced: list[tuple[float, float]] = []

    def minimize(base: float, n: int, a: int, b: int) -> list[tuple[float, float]]:
        threshold = base / (2 * n)
        out = [interpolated[a]]
        last = a
        for k in range(a + 1, b):
            if dist(interpolated[last], interpolated[k]) >= threshold:
                out.append(interpolated[k])
                last = k
        out.append(interpolated[b])
        if len(out) == 2 and dist(interpolated[a], interpolated[b]) < threshold:
            return [((out[0][0] + out[1][0]) / 2, (out[0][1] + out[1][1]) / 2)]
        return out

    def left_segment(a: int, b: int) -> None:
        ia, ib = indexes[a][0], indexes[b][0]
        if ia == ib:
            reduced.append(interpolated[ia])
            return
        reduced.extend(minimize(curve_length(lp[a:b + 1]), b - a + 1, ia, ib))

    def right_segment(i: int) -> None:
        a, b = matching[i][0], matching[i][-1]
        reduced.extend(minimize(curve_length(rp[a:b + 1]), b - a + 1,
                                indexes[i][0], indexes[i][-1]))

    opened: int | None = None
    for i in range(len(lp)):
        if len(matching[i]) == 1:
            if opened is not None:
                if matching[i][0] == matching[opened][0]:
                    continue
                left_segment(opened, i - 1)
                opened = i
            else:
                opened = i
        else:
            if opened is not None:
                left_segment(opened, i - 1)
                opened = None
            right_segment(i)
    if opened is not None:
        left_segment(opened, len(lp) - 1)
    return [float(c) for pt in reduced for c in pt]


def _polyshape(shape0: Obj, shape1: Obj, included: set[int] | None) -> list[Obj]:
    is_polygon = shape0["type"] == "polygon"
    left, right = list(shape0["points"]), list(shape1["points"])
    if is_polygon:
        left, right = left + left[:2], right + right[:2]
    out = []
    distance = shape1["frame"] - shape0["frame"]
    for frame in range(shape0["frame"] + 1, shape1["frame"]):
        offset = (frame - shape0["frame"]) / distance
        points = _interpolate_position(left, right, offset)
        if is_polygon:
            points = points[:-2]
        if included is None or frame in included:
            out.append(_copy_shape(shape0, frame, points))
    return out


def _interpolate(shape0: Obj, shape1: Obj, included: set[int] | None) -> list[Obj]:
    kind = shape0["type"]
    if kind != shape1["type"]:
        return [_copy_shape(shape0, f) for f in range(shape0["frame"] + 1, shape1["frame"])]
    if kind in ("rectangle", "cuboid", "ellipse", "skeleton"):
        return _simple(shape0, shape1, included)
    if kind == "points":
        return _points_interp(shape0, shape1, included)
    if kind in ("polygon", "polyline"):
        return _polyshape(shape0, shape1, included)
    # masks (and anything else) are not interpolated by CVAT; keep the previous keyframe
    return [_copy_shape(shape0, f) for f in range(shape0["frame"] + 1, shape1["frame"])
            if included is None or f in included]


def interpolated_shapes(track: Obj, start_frame: int, end_frame: int, *,
                        include_outside: bool = False,
                        included: Iterable[int] | None = None) -> list[Obj]:
    """``TrackManager.get_interpolated_shapes``: every frame of a track in ``[.., end_frame)``.

    Mutates the track's keyframes like CVAT does (``keyframe`` flags, attribute propagation).
    """
    included_set = set(included) if included is not None else None
    shapes: list[Obj] = []
    prev: Obj | None = None
    for shape in sorted(track["shapes"], key=lambda s: s["frame"]):
        curr = shape["frame"]
        if prev is not None and end_frame <= curr:
            series = _interpolate(prev, shape, included_set)
            series.append(shape)
            last = shape
            for item in sorted(series, key=lambda s: s["frame"]):
                last = item
                if item["frame"] < end_frame:
                    shapes.append(item)
                else:
                    break
            last["keyframe"] = True
            prev = last
            break
        if prev is not None:
            if curr == prev["frame"]:
                continue
            known = {a["spec_id"] for a in shape["attributes"]}
            for attr in prev["attributes"]:
                if attr["spec_id"] not in known:
                    shape["attributes"].append(copy.deepcopy(attr))
            if not prev["outside"] or include_outside:
                shapes.extend(_interpolate(prev, shape, included_set))
        shape["keyframe"] = True
        shapes.append(shape)
        prev = shape
    if prev is not None and (not prev["outside"] or include_outside):
        shapes.extend(_copy_shape(prev, f) for f in range(prev["frame"] + 1, end_frame)
                      if included_set is None or f in included_set)
    return [s for s in shapes
            if track["frame"] <= s["frame"] < end_frame
            and (s.get("keyframe") or not s["outside"] or include_outside)
            and (included_set is None or s["frame"] in included_set)]


# -- slicing -----------------------------------------------------------------------------------

def _inside(obj: Obj, start: int, stop: int) -> bool:
    return start <= int(obj["frame"]) <= stop


def track_inside(track: Obj, start: int, stop: int) -> bool:
    prev: Obj | None = None
    for shape in track["shapes"]:
        if prev is not None and not prev["outside"] and \
                min(shape["frame"], stop) - max(prev["frame"], start) >= 0:
            return True
        prev = shape
    return prev is not None and not prev["outside"] and prev["frame"] <= stop


def _filter_shapes(shapes: list[Obj], start: int, stop: int) -> list[Obj]:
    inside = [s for s in shapes if _inside(s, start, stop)]
    drop = 0
    for s in inside:
        if s["outside"]:
            drop += 1
        else:
            break
    return inside[drop:]


def slice_track(track_: Obj, start: int, stop: int) -> Obj:
    track = copy.deepcopy(track_)
    segment = _filter_shapes(copy.deepcopy(track["shapes"]), start, stop)
    if "elements" in track:
        track["elements"] = [slice_track(e, start, stop) for e in track.get("elements", [])]
    if len(segment) < len(track["shapes"]):
        interp = interpolated_shapes(track, start, stop + 1)
        scoped = _filter_shapes(interp, start, stop)
        if scoped:
            last_key = sorted(track["shapes"], key=lambda s: s["frame"])[-1]["frame"]
            if not scoped[0]["keyframe"]:
                segment.insert(0, scoped[0])
            last = scoped[-1]
            moved = last_key >= stop and bool(segment) and last["points"] != segment[-1]["points"]
            # CVAT also appends a closing outside keyframe; 2.73 never repeats the frame of the
            # last kept shape (seen in recordings2/09_video.json)
            closing = last["keyframe"] and last["outside"] and (
                not segment or segment[-1]["frame"] != last["frame"])
            if moved or closing:
                segment.append(last)
        for shape in segment:
            shape.pop("keyframe", None)
    track["shapes"] = segment
    if segment:
        track["frame"] = segment[0]["frame"]
    return track


def slice_data(data: Obj, start: int, stop: int, *, copies: bool = True) -> Obj:
    """``AnnotationIR.slice``: the part of ``data`` stored in a job covering [start, stop].
    ``copies=False``: its tags and shapes are ``data``'s own objects (tracks are cut: copies)."""
    if not copies:
        return {
            "tags": [t for t in data.get("tags", []) if _inside(t, start, stop)],
            "shapes": [s for s in data.get("shapes", []) if _inside(s, start, stop)],
            "tracks": slice_data({"tracks": data.get("tracks", [])}, start, stop)["tracks"],
        }
    tracks = []
    for track in data.get("tracks", []):
        if track["shapes"] and track_inside(track, start, stop):
            piece = slice_track(track, start, stop)
            if piece["shapes"]:
                tracks.append(piece)
    return {
        "tags": [json_copy(t) for t in data.get("tags", []) if _inside(t, start, stop)],
        "shapes": [json_copy(s) for s in data.get("shapes", []) if _inside(s, start, stop)],
        "tracks": tracks,
    }


# -- merging -----------------------------------------------------------------------------------

def linear_sum_assignment(cost: list[list[float]]) -> list[tuple[int, int]]:
    """Minimum-cost assignment (Hungarian algorithm) for a rectangular matrix."""
    n = len(cost)
    m = len(cost[0]) if n else 0
    if n == 0 or m == 0:
        return []
    transposed = n > m
    if transposed:
        cost = [[cost[i][j] for i in range(n)] for j in range(m)]
        n, m = m, n
    inf = float("inf")
    u = [0.0] * (n + 1)
    v = [0.0] * (m + 1)
    p = [0] * (m + 1)
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = [inf] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = inf
            j1 = 0
            for j in range(1, m + 1):
                if not used[j]:
                    cur = cost[i0 - 1][j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(m + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    pairs = [(p[j] - 1, j - 1) for j in range(1, m + 1) if p[j] != 0]
    if transposed:
        pairs = [(b, a) for a, b in pairs]
    return sorted(pairs)


def _polygon_area(pts: list[tuple[float, float]]) -> float:
    return abs(sum(pts[i][0] * pts[(i + 1) % len(pts)][1] - pts[(i + 1) % len(pts)][0] * pts[i][1]
                   for i in range(len(pts)))) / 2


def _segments_cross(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float],
                    d: tuple[float, float]) -> bool:
    def orient(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    d1, d2, d3, d4 = orient(c, d, a), orient(c, d, b), orient(a, b, c), orient(a, b, d)
    return ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4))


def _valid_polygon(pts: list[tuple[float, float]]) -> bool:
    n = len(pts)
    if n < 3:
        return False
    edges = [(pts[i], pts[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue
            if _segments_cross(edges[i][0], edges[i][1], edges[j][0], edges[j][1]):
                return False
    return True


def _cross_section(pts: list[tuple[float, float]], y: float) -> list[tuple[float, float]]:
    xs = []
    n = len(pts)
    for i in range(n):
        (x1, y1), (x2, y2) = pts[i], pts[(i + 1) % n]
        if (y1 <= y < y2) or (y2 <= y < y1):
            xs.append(x1 + (y - y1) * (x2 - x1) / (y2 - y1))
    xs.sort()
    return [(xs[k], xs[k + 1]) for k in range(0, len(xs) - 1, 2)]


def _intersection_area(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    ys = {p[1] for p in a} | {p[1] for p in b}
    for i in range(len(a)):
        p1, p2 = a[i], a[(i + 1) % len(a)]
        for j in range(len(b)):
            q1, q2 = b[j], b[(j + 1) % len(b)]
            den = (p2[0] - p1[0]) * (q2[1] - q1[1]) - (p2[1] - p1[1]) * (q2[0] - q1[0])
            if den == 0:
                continue
            t = ((q1[0] - p1[0]) * (q2[1] - q1[1]) - (q1[1] - p1[1]) * (q2[0] - q1[0])) / den
            s = ((q1[0] - p1[0]) * (p2[1] - p1[1]) - (q1[1] - p1[1]) * (p2[0] - p1[0])) / den
            if 0 <= t <= 1 and 0 <= s <= 1:
                ys.add(p1[1] + t * (p2[1] - p1[1]))
    levels = sorted(ys)
    area = 0.0
    for y0, y1 in itertools.pairwise(levels):
        mid = (y0 + y1) / 2
        total = 0.0
        for s0, e0 in _cross_section(a, mid):
            for s1, e1 in _cross_section(b, mid):
                total += max(0.0, min(e0, e1) - max(s0, s1))
        area += total * (y1 - y0)
    return area


def _iou(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    if not (_valid_polygon(a) and _valid_polygon(b)):
        return 0.0
    area_a, area_b = _polygon_area(a), _polygon_area(b)
    if area_a == 0 or area_b == 0:
        return 0.0
    inter = _intersection_area(a, b)
    return inter / (area_a + area_b - inter)


def _pairs(points: Sequence[float]) -> list[tuple[float, float]]:
    return [(float(points[i]), float(points[i + 1])) for i in range(0, len(points) - 1, 2)]


def shape_similarity(obj0: Obj, obj1: Obj) -> float:
    if obj0["type"] != obj1["type"] or obj0.get("label_id") != obj1.get("label_id"):
        return 0.0
    if obj0["type"] == "rectangle":
        x0, y0, x1, y1 = (float(v) for v in obj0["points"][:4])
        a0, b0, a1, b1 = (float(v) for v in obj1["points"][:4])
        box0 = [(min(x0, x1), min(y0, y1)), (max(x0, x1), min(y0, y1)),
                (max(x0, x1), max(y0, y1)), (min(x0, x1), max(y0, y1))]
        box1 = [(min(a0, a1), min(b0, b1)), (max(a0, a1), min(b0, b1)),
                (max(a0, a1), max(b0, b1)), (min(a0, a1), max(b0, b1))]
        return _iou(box0, box1)
    if obj0["type"] == "polygon":
        return _iou(_pairs(obj0["points"]), _pairs(obj1["points"]))
    return 0.0


def _track_similarity(obj0: Obj, obj1: Obj, start: int, overlap: int) -> float:
    if obj0["label_id"] != obj1["label_id"]:
        return 0.0
    end = start + overlap
    shapes0 = interpolated_shapes(obj0, start, end)
    shapes1 = interpolated_shapes(obj1, start, end)
    if not shapes0 or not shapes1:
        return 0.0
    by0 = {s["frame"]: s for s in shapes0}
    by1 = {s["frame"]: s for s in shapes1}
    count, error = 0, 0.0
    for frame in range(start, end):
        s0, s1 = by0.get(frame), by1.get(frame)
        if s0 and s1:
            if s0["outside"] != s1["outside"]:
                error += 1
            else:
                error += 1 - shape_similarity(dict(s0, label_id=obj0["label_id"]),
                                              dict(s1, label_id=obj1["label_id"]))
            count += 1
        elif s0 or s1:
            error += 1
            count += 1
    return 1 - error / (count or 1)


def _close_track(obj: Obj, end_frame: int) -> None:
    shape = obj["shapes"][-1]
    if not shape["outside"]:
        shape = copy.deepcopy(shape)
        shape["frame"] = end_frame
        shape["outside"] = True
        obj["shapes"].append(shape)
        for element in obj.get("elements", []):
            _close_track(element, end_frame)


def _unite_tracks(obj0: Obj, obj1: Obj) -> Obj:
    track = obj0 if obj0["frame"] < obj1["frame"] else obj1
    shapes = {s["frame"]: s for s in obj0["shapes"]}
    for s in obj1["shapes"]:
        frame = s["frame"]
        if frame in shapes:
            old = shapes[frame]
            shapes[frame] = old if old["frame"] < s["frame"] else s
        else:
            shapes[frame] = s
    track["frame"] = min(obj0["frame"], obj1["frame"])
    track["shapes"] = sorted(shapes.values(), key=lambda s: s["frame"])
    return track


def _merge_objects(kind: str, objects: list[Obj], new: list[Obj], start: int, overlap: int) -> None:
    """``ObjectManager.merge`` for tags, shapes or tracks (mutates ``objects``)."""
    new_objects = [o for o in new if o["frame"] >= start + overlap]
    int_objects = [o for o in new if o["frame"] < start + overlap]

    def by_frame(items: list[Obj]) -> dict[int, list[Obj]]:
        if kind == "tracks":
            chosen = [o for o in items if o["shapes"] and
                      (o["shapes"][-1]["frame"] >= start or not o["shapes"][-1]["outside"])]
            return {0: chosen} if chosen else {}
        out: dict[int, list[Obj]] = {}
        for o in items:
            if o["frame"] >= start:
                out.setdefault(o["frame"], []).append(o)
        return out

    int_by_frame = by_frame(int_objects)
    old_by_frame = by_frame(objects)
    objects.extend(new_objects)
    if not old_by_frame or not int_by_frame:
        if kind == "tracks":
            for olds in old_by_frame.values():
                for old in olds:
                    _close_track(old, start + overlap)
        objects.extend(int_objects)
        return
    threshold = {"tags": 0.25, "shapes": 0.25, "tracks": 0.5}[kind]
    for frame, ints in int_by_frame.items():
        if frame not in old_by_frame:
            objects.extend(ints)
            continue
        olds = old_by_frame[frame]
        cost = []
        for int_obj in ints:
            row = []
            for old in olds:
                if kind == "tags":
                    sim = 1.0 if int_obj["label_id"] == old["label_id"] else 0.0
                elif kind == "shapes":
                    sim = shape_similarity(int_obj, old)
                else:
                    sim = _track_similarity(int_obj, old, start, overlap)
                row.append(1 - sim)
            cost.append(row)
        int_left = list(range(len(ints)))
        old_left = list(range(len(olds)))
        for i, j in linear_sum_assignment(cost):
            if cost[i][j] <= threshold:
                if kind == "tracks":
                    olds[j] = _unite_tracks(ints[i], olds[j])
                int_left[i] = -1
                old_left[j] = -1
        for i in int_left:
            if i != -1:
                objects.append(ints[i])
        if kind == "tracks":
            for j in old_left:
                if j != -1:
                    _close_track(olds[j], start + overlap)


def merge_data(target: Obj, data: Obj, start: int, overlap: int) -> None:
    """``AnnotationManager.merge``: add one job's data to the task-level view."""
    _merge_objects("tags", target["tags"], data["tags"], start, overlap)
    _merge_objects("shapes", target["shapes"], data["shapes"], start, overlap)
    _merge_objects("tracks", target["tracks"], data["tracks"], start, overlap)


def track_to_shapes(track: Obj, end_frame: int, *, include_outside: bool = False,
                    included: Iterable[int] | None = None) -> list[Obj]:
    """Per-frame shapes of a track (``TrackManager.to_shapes`` for one track)."""
    result = {}
    for shape in interpolated_shapes(copy.deepcopy(track), 0, end_frame,
                                     include_outside=include_outside, included=included):
        shape["label_id"] = track["label_id"]
        shape["group"] = track.get("group", 0)
        shape["source"] = track.get("source", "manual")
        shape["attributes"] = shape["attributes"] + track.get("attributes", [])
        shape["elements"] = []
        result[shape["frame"]] = shape
    if track.get("elements"):
        for element in track["elements"]:
            for eshape in track_to_shapes(element, end_frame, include_outside=True,
                                          included=set(result)):
                if eshape["frame"] in result:
                    result[eshape["frame"]]["elements"].append(eshape)
        if not include_outside:
            result = {f: s for f, s in result.items()
                      if not s["elements"] or not all(e["outside"] for e in s["elements"])}
    return list(result.values())
