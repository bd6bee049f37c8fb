"""Shared helpers for the conversion tests: a fake server answering label specs with ids, the
test schema, Hypothesis strategies for every label type, and label comparison."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from annosync.convert import BoundSchema, FrameMap, FrameSize, bind, resolve_schema, to_specs
from annosync.model.cvat import LabelSpec
from annosync.model.labels import (
    BinaryMask,
    Classification,
    Classifications,
    Detection,
    Detections,
    IndexMask,
    Keypoint,
    Keypoints,
    Polyline,
    Polylines,
    Segmentation,
)
from annosync.model.manifest import FieldSchema
from annosync.model.schema import ObservedField, ResolvedSchema

SHARED = Path(__file__).resolve().parents[1] / "data" / "cvat"


def recording(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SHARED / name).read_text())
    return data


def exchanges(name: str) -> list[dict[str, Any]]:
    data = recording(name)
    out: list[dict[str, Any]] = data["exchanges"] if isinstance(data, dict) else data
    return out


def serve(specs: Iterable[LabelSpec], first_label: int = 100,
          first_attr: int = 1000) -> list[LabelSpec]:
    """What CVAT answers to ``GET /api/labels``: the specs with ids."""
    out = []
    lid, aid = first_label, first_attr
    for spec in specs:
        made = spec.model_copy(deep=True)
        made.id = lid
        lid += 1
        for a in made.attributes:
            a.id = aid
            aid += 1
        out.append(made)
    return out


DET_ATTRS: dict[str, Any] = {
    "color": {"type": "select", "values": ["red", "blue", "green"]},
    "n": {"type": "number", "values": [0, 10, 1]},
    "note": {"type": "text"},
    "parked": {"type": "checkbox"},
    "occ": {"type": "occluded"},
    "grp": {"type": "group_id"},
    "size": {"type": "radio", "values": [1, 2.5, True, "big"]},
}

FIELDS: dict[str, dict[str, Any]] = {
    "det": {"type": "detections", "attributes": DET_ATTRS, "classes": [
        "car", {"classes": ["truck"], "attributes": {"axles": {"type": "radio",
                                                              "values": [2, 3, 4]}}}]},
    "inst": {"type": "instances", "classes": ["car", "person"],
             "attributes": {"occ": {"type": "occluded"}}},
    "lines": {"type": "polylines", "classes": ["road", "lane"],
              "attributes": {"w": {"type": "text"}}},
    "polys": {"type": "polygons", "classes": ["building"]},
    "kp": {"type": "keypoints", "classes": ["person"], "attributes": {"pose": {"type": "text"}}},
    "cls": {"type": "classification", "classes": ["day", "night"],
            "attributes": {"conf": {"type": "select", "values": [1, 2, 3]},
                           "ok": {"type": "checkbox"}}},
    "tags": {"type": "classifications", "classes": ["a", "b"],
             "attributes": {"grp": {"type": "group_id"}}},
    "seg": {"type": "segmentation", "mask_targets": {1: "road", 2: "sky", 5: "car"}},
    "s_int": {"type": "scalar"},
    "s_float": {"type": "scalar"},
    "s_str": {"type": "scalar"},
    "s_bool": {"type": "scalar"},
    "weather": {"type": "scalar", "classes": ["rain", "sun", "fog"]},
}
VIDEO_FIELDS: dict[str, dict[str, Any]] = {
    "frames.det": {"type": "detections", "classes": ["car", "truck"], "attributes": {
        "kind": {"type": "select", "values": ["suv", "sedan"], "mutable": False},
        "moving": {"type": "checkbox"}, "occ": {"type": "occluded"}}},
    "frames.inst": {"type": "instances", "classes": ["blob"]},
    "frames.lines": {"type": "polylines", "classes": ["lane"]},
    "frames.polys": {"type": "polygons", "classes": ["zone"]},
    "frames.kp": {"type": "keypoints", "classes": ["joint"]},
    "frames.cls": {"type": "classification", "classes": ["day", "night"]},
    "frames.seg": {"type": "segmentation", "mask_targets": {1: "sky", 2: "ground"}},
}
_SCALAR_OBSERVED = {
    "s_int": ObservedField(path="s_int", count=1, kinds=["scalar"], scalar_types=["int"]),
    "s_float": ObservedField(path="s_float", count=1, kinds=["scalar"], scalar_types=["float"]),
    "s_str": ObservedField(path="s_str", count=1, kinds=["scalar"], scalar_types=["str"]),
    "s_bool": ObservedField(path="s_bool", count=1, kinds=["scalar"], scalar_types=["bool"]),
}


def schema_of(fields: dict[str, dict[str, Any]], observed: Any = None) -> ResolvedSchema:
    return resolve_schema({k: FieldSchema.model_validate(v) for k, v in fields.items()},
                          observed)


def bound_of(schema: ResolvedSchema) -> BoundSchema:
    return bind(schema, serve(to_specs(schema)))


IMAGE_SCHEMA = schema_of(FIELDS, _SCALAR_OBSERVED)
IMAGE_BOUND = bound_of(IMAGE_SCHEMA)
VIDEO_SCHEMA = schema_of(VIDEO_FIELDS)
VIDEO_BOUND = bound_of(VIDEO_SCHEMA)


def image_frames(sizes: list[tuple[int, int]]) -> FrameMap:
    return FrameMap(media_type="image", size=len(sizes),
                    sizes=[FrameSize(width=w, height=h) for w, h in sizes])


def video_frames(size: int, width: int = 320, height: int = 240, start: int = 0,
                 step: int = 1) -> FrameMap:
    return FrameMap(media_type="video", size=size, sizes=[FrameSize(width=width, height=height)],
                    start=start, step=step)


# -- strategies ---------------------------------------------------------------------------------
coord = st.floats(min_value=-0.25, max_value=1.25, allow_nan=False, allow_infinity=False)
extent = st.floats(min_value=0.0, max_value=1.0, allow_nan=False, allow_infinity=False)
sizes = st.integers(min_value=1, max_value=4096)
rotation = st.one_of(st.none(), st.floats(min_value=0.001, max_value=359.999))
z_order = st.one_of(st.none(), st.integers(min_value=-5, max_value=5).filter(bool))
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
               min_size=1, max_size=12)


@st.composite
def det_attributes(draw: Any, cls: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "color": draw(st.sampled_from(["red", "blue", "green"])),
        "n": draw(st.integers(min_value=0, max_value=10)),
        "note": draw(text),
        "parked": draw(st.booleans()),
        "occ": draw(st.booleans()),
        "size": draw(st.sampled_from([1, 2.5, True, "big"])),
    }
    group = draw(st.integers(min_value=0, max_value=9))
    if group:
        out["grp"] = group
    if cls == "truck":
        out["axles"] = draw(st.sampled_from([2, 3, 4]))
    return out


@st.composite
def detections(draw: Any) -> Detections:
    items = []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        cls = draw(st.sampled_from(["car", "truck"]))
        items.append(Detection(
            label=cls, bounding_box=(draw(coord), draw(coord), draw(extent), draw(extent)),
            rotation=draw(rotation), z_order=draw(z_order), attributes=draw(det_attributes(cls)),
        ))
    return Detections(detections=items)


@st.composite
def pixel_mask(draw: Any, max_side: int = 24) -> np.ndarray:
    h = draw(st.integers(min_value=1, max_value=max_side))
    w = draw(st.integers(min_value=1, max_value=max_side))
    seed = draw(st.integers(min_value=0, max_value=2**31))
    density = draw(st.sampled_from([0.0, 0.2, 0.5, 0.9, 1.0]))
    return np.random.default_rng(seed).random((h, w)) < density


@st.composite
def instances(draw: Any, width: int, height: int) -> Detections:
    """Pixel-aligned boxes inside the frame, masks of exactly the box's size (bit-exact case)."""
    items = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        mask = draw(pixel_mask(max_side=min(width, height, 24)))
        h, w = mask.shape
        left = draw(st.integers(min_value=0, max_value=width - w))
        top = draw(st.integers(min_value=0, max_value=height - h))
        with_mask = draw(st.integers(min_value=0, max_value=4)) > 0
        items.append(Detection(
            label=draw(st.sampled_from(["car", "person"])),
            bounding_box=(left / width, top / height, w / width, h / height),
            mask=BinaryMask.from_array(mask) if with_mask else None,
            attributes={"occ": draw(st.booleans())}, z_order=draw(z_order),
        ))
    return Detections(detections=items)


points = st.tuples(coord, coord)


@st.composite
def polylines(draw: Any, closed: bool) -> Polylines:
    items = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        parts = [draw(st.lists(points, min_size=3 if closed else 2, max_size=6))
                 for _ in range(draw(st.integers(min_value=1, max_value=3)))]
        items.append(Polyline(
            label=draw(st.sampled_from(["building"] if closed else ["road", "lane"])),
            points=parts, closed=closed, filled=closed, z_order=draw(z_order),
            attributes={} if closed else {"w": draw(text)},
        ))
    return Polylines(polylines=items)


@st.composite
def keypoints(draw: Any) -> Keypoints:
    items = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        pts = draw(st.lists(st.one_of(st.none(), points), min_size=1, max_size=6))
        if all(p is None for p in pts):
            pts[0] = draw(points)
        items.append(Keypoint(label="person", points=pts, attributes={"pose": draw(text)}))
    return Keypoints(keypoints=items)


@st.composite
def classification(draw: Any) -> Classification:
    return Classification(label=draw(st.sampled_from(["day", "night"])), attributes={
        "conf": draw(st.sampled_from([1, 2, 3])), "ok": draw(st.booleans())})


@st.composite
def classifications(draw: Any) -> Classifications:
    items = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        attrs: dict[str, Any] = {}
        g = draw(st.integers(min_value=0, max_value=4))
        if g:
            attrs["grp"] = g
        items.append(Classification(label=draw(st.sampled_from(["a", "b"])), attributes=attrs))
    return Classifications(classifications=items)


@st.composite
def segmentation(draw: Any, width: int, height: int) -> Segmentation:
    seed = draw(st.integers(min_value=0, max_value=2**31))
    values = draw(st.lists(st.sampled_from([0, 1, 2, 5]), min_size=1, max_size=4, unique=True))
    rng = np.random.default_rng(seed)
    arr = np.asarray(values)[rng.integers(0, len(values), size=(height, width))]
    if draw(st.booleans()):  # blocky regions as well as noise
        arr = np.repeat(np.repeat(arr[: max(height // 4, 1), : max(width // 4, 1)], 4, 0), 4, 1)
        arr = arr[:height, :width]
        if arr.shape != (height, width):
            arr = np.pad(arr, ((0, height - arr.shape[0]), (0, width - arr.shape[1])))
    return Segmentation(mask=IndexMask.from_array(arr))


scalar_values = {
    "s_int": st.integers(min_value=-10**9, max_value=10**9),
    "s_float": st.floats(allow_nan=False, allow_infinity=False, width=64),
    "s_str": text,
    "s_bool": st.booleans(),
    "weather": st.sampled_from(["rain", "sun", "fog"]),
}


# -- comparison --------------------------------------------------------------------------------
#: Coordinates after a round trip are within this of the original (relative units).
COORD_TOLERANCE = 1e-12


def dump(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return value.model_dump(by_alias=True, mode="json")


def assert_close(got: Any, want: Any, path: str = "$", tol: float = COORD_TOLERANCE) -> None:
    """Equal JSON, floats within ``tol`` (ints and bools exactly)."""
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        assert math.isclose(got, want, rel_tol=0, abs_tol=tol), f"{path}: {got} != {want}"
        return
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{path}: {got!r} is not an object"
        assert set(got) == set(want), f"{path}: keys {sorted(got)} != {sorted(want)}"
        for k in want:
            assert_close(got[k], want[k], f"{path}.{k}", tol)
        return
    if isinstance(want, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(want), \
            f"{path}: {got!r} != {want!r}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_close(g, w, f"{path}[{i}]", tol)
        return
    assert type(got) is type(want) and got == want, f"{path}: {got!r} != {want!r}"
