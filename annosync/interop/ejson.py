"""MongoDB Extended JSON as FiftyOne writes it (``bson.json_util``), without pymongo.

FiftyOne's ``samples.json``/``frames.json``/``metadata.json`` hold ``{"$oid": ...}`` ids,
``{"$date": ...}`` dates, ``{"$binary": {"base64", "subType"}}`` numpy arrays (``np.save`` then
zlib, ``fiftyone.core.utils.serialize_numpy_array``) and ``{"$numberDouble": "NaN"}``.
"""

from __future__ import annotations

import base64
import io
import math
import zlib
from typing import Any

import numpy as np


def oid(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("$oid"), str):
        return str(value["$oid"])
    return value if isinstance(value, str) else None


def number(value: Any) -> Any:
    """``{"$numberDouble": "NaN"}`` and friends as Python floats; other values unchanged."""
    if isinstance(value, dict):
        for key in ("$numberDouble", "$numberInt", "$numberLong", "$numberDecimal"):
            if key in value:
                return float(value[key]) if key in ("$numberDouble", "$numberDecimal") \
                    else int(value[key])
    return value


def is_nan(value: Any) -> bool:
    value = number(value)
    return isinstance(value, float) and math.isnan(value)


def decode_array(value: Any) -> np.ndarray:
    """A ``$binary`` numpy array (zlib-compressed ``.npy``). Raises ValueError if it is not."""
    if not (isinstance(value, dict) and isinstance(value.get("$binary"), dict)):
        raise ValueError("expected a {\"$binary\": ...} numpy array")
    raw = base64.b64decode(value["$binary"].get("base64", ""), validate=True)
    try:
        data = zlib.decompress(raw)
    except zlib.error:
        data = raw  # FiftyOne reads uncompressed arrays too
    return np.load(io.BytesIO(data), allow_pickle=False)


def encode_array(array: np.ndarray) -> dict[str, Any]:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    packed = base64.b64encode(zlib.compress(buf.getvalue())).decode("ascii")
    return {"$binary": {"base64": packed, "subType": "00"}}


def double(value: float | None) -> Any:
    """A float for JSON: NaN as ``{"$numberDouble": "NaN"}`` (what json_util writes)."""
    if value is None:
        return None
    if math.isnan(value):
        return {"$numberDouble": "NaN"}
    return value
