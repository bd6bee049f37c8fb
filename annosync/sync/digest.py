"""Aspect digests: the compact base that makes a three-way merge possible without a label copy.

A label is cut into aspects (class, geometry, track index, one per uploaded attribute, or a scalar
value; see docs/sync-algorithm.md) and each aspect is digested separately, so a run record
records *that* something changed, and *what*, in a few bytes per label. Coordinates are rounded to
7 decimals before digesting: far below a pixel, far above float noise from pixel conversions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from annosync.model.labels import (
    BinaryMask,
    Classification,
    Detection,
    IndexMask,
    Keypoint,
    Polyline,
    Segmentation,
)

COORD_DECIMALS = 7


@dataclass(frozen=True)
class ScalarItem:
    """A scalar field value seen as a label, so scalars merge like everything else."""

    value: Any

    #: Scalars have no id of their own: one per field (per frame on video).
    ID = "__value__"


def _q(value: float | None) -> float | None:
    return None if value is None else round(float(value), COORD_DECIMALS) + 0.0


def _mask(mask: BinaryMask | IndexMask | None, path: str | None) -> Any:
    if mask is not None:
        return mask.model_dump(mode="json")
    return {"path": path} if path else None


def spatial(obj: Any) -> Any:
    """The geometry of a label, in a canonical, rounded form."""
    if isinstance(obj, Detection):
        return {
            "box": [_q(v) for v in obj.bounding_box],
            "rotation": round(obj.rotation or 0.0, 4) + 0.0,
            "mask": _mask(obj.mask, obj.mask_path),
            "z": obj.z_order or 0,
        }
    if isinstance(obj, Polyline):
        return {
            "points": [[[_q(x), _q(y)] for x, y in shape] for shape in obj.points],
            "closed": obj.closed,
            "filled": obj.filled,
            "z": obj.z_order or 0,
        }
    if isinstance(obj, Keypoint):
        return {
            "points": [None if p is None else [_q(p[0]), _q(p[1])] for p in obj.points],
            "z": obj.z_order or 0,
        }
    if isinstance(obj, Segmentation):
        return {"mask": _mask(obj.mask, obj.mask_path)}
    return None


def aspects(obj: Any, attributes: Iterable[str]) -> dict[str, Any]:
    """The aspects of one label (or scalar) that a merge compares, by name."""
    if isinstance(obj, ScalarItem):
        return {"value": obj.value}
    out: dict[str, Any] = {}
    if isinstance(obj, (Classification, Detection, Polyline, Keypoint)):
        out["label"] = obj.label
    geometry = spatial(obj)
    if geometry is not None:
        out["spatial"] = geometry
    if isinstance(obj, (Detection, Polyline, Keypoint)):
        out["index"] = obj.index
    attrs = getattr(obj, "attributes", {})
    for name in attributes:
        out[f"attr:{name}"] = attrs.get(name)
    return out


#: ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``, with the
#: encoder made once (``dumps`` builds one per call, which was most of a digest's cost).
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def digest_value(value: Any) -> str:
    return hashlib.sha256(_ENCODE(value).encode("utf-8")).hexdigest()[:16]


def digests(obj: Any, attributes: Iterable[str]) -> dict[str, str]:
    return {name: digest_value(v) for name, v in aspects(obj, attributes).items()}
