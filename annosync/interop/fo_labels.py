"""FiftyOne label documents (as in ``samples.json``) <-> annosync labels. Pure, no I/O.

A FiftyOne label is ``{"_id": {"$oid"}, "_cls": "Detection", "tags": [...], "label": ...}`` plus
its *dynamic attributes* (any other key: ``iscrowd``, ``occluded``), which are what FiftyOne's
CVAT integration reads and writes as CVAT attributes; annosync keeps them in ``attributes``.
The legacy ``attributes`` dict (``{"name": {"_cls": "CategoricalAttribute", "value": v}}``)
is read too. annosync fields FiftyOne lacks (``rotation``, ``z_order``, ``keyframe``) travel as
dynamic attributes of those names; an id that is not a 24-hex ObjectId as ``annosync_id``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from annosync.interop.ejson import decode_array, double, encode_array, is_nan, number, oid
from annosync.model.ids import derived_id, is_valid_id
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

#: FiftyOne's ``_cls`` -> annosync's ``_type``.
TYPES = {
    "Classification": "classification", "Classifications": "classifications",
    "Detection": "detection", "Detections": "detections", "Polyline": "polyline",
    "Polylines": "polylines", "Keypoint": "keypoint", "Keypoints": "keypoints",
    "Segmentation": "segmentation",
}
CLASSES = {v: k for k, v in TYPES.items()}
#: container class -> (item class, list key)
CONTAINER_ITEMS = {"Classifications": ("Classification", "classifications"),
                   "Detections": ("Detection", "detections"),
                   "Polylines": ("Polyline", "polylines"),
                   "Keypoints": ("Keypoint", "keypoints")}
#: The keys of each class that are not dynamic attributes (FiftyOne 1.x ``fiftyone.core.labels``).
OWN_KEYS = {
    "Classification": {"label", "confidence", "logits"},
    "Detection": {"label", "bounding_box", "mask", "mask_path", "confidence", "index"},
    "Polyline": {"label", "points", "confidence", "index", "closed", "filled"},
    "Keypoint": {"label", "points", "confidence", "index"},
    "Segmentation": {"mask", "mask_path"},
}
COMMON_KEYS = {"_id", "_cls", "tags", "attributes"}
#: annosync fields FiftyOne has no field for, carried as dynamic attributes.
EXTRA = {"Detection": ("rotation", "z_order", "keyframe"), "Polyline": ("z_order", "keyframe"),
         "Keypoint": ("z_order", "keyframe")}
ID_ATTR = "annosync_id"


class LabelError(ValueError):
    """A label that cannot be converted; ``where`` is its JSON path inside the sample."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def tags_of(doc: dict[str, Any], where: str) -> list[str]:
    """A document's ``tags`` (a list of strings; absent or null: none)."""
    tags = doc.get("tags")
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise LabelError(f"{where}.tags", "expected a list of strings")
    return list(tags)


def _attributes(doc: dict[str, Any], cls: str, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    legacy = doc.get("attributes") or {}
    if not isinstance(legacy, dict):
        raise LabelError(f"{where}.attributes", "expected an object")
    for name, attr in legacy.items():
        value = attr.get("value") if isinstance(attr, dict) else attr
        if not _scalar(number(value)):
            raise LabelError(f"{where}.attributes.{name}", "only scalar attribute values are "
                             "supported")
        out[name] = number(value)
    for name, value in doc.items():
        if name in COMMON_KEYS or name in OWN_KEYS[cls] or name in EXTRA.get(cls, ()):
            continue
        if name == ID_ATTR:
            continue
        value = number(value)
        if not _scalar(value) or (isinstance(value, float) and not math.isfinite(value)):
            raise LabelError(f"{where}.{name}", f"attribute {name!r} is not a finite scalar "
                             "(annosync keeps bool, int, float and str attributes)")
        out[name] = value
    return out


def _point(p: Any, where: str) -> tuple[float, float] | None:
    if not isinstance(p, list) or len(p) != 2:
        raise LabelError(where, "expected a point [x, y]")
    if is_nan(p[0]) or is_nan(p[1]):
        return None
    x, y = number(p[0]), number(p[1])
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y)):
        raise LabelError(where, "point coordinates must be numbers")
    return float(x), float(y)


def from_fo(doc: Any, where: str, load_mask: Callable[[str], str]) -> Any:
    """One FiftyOne label document (a field value) as an annosync label model.

    ``load_mask(path)`` maps a ``mask_path`` to the path to store (the caller copies the file).
    Raises :class:`LabelError` for a document that is not one of the supported label types.
    """
    if not isinstance(doc, dict):
        raise LabelError(where, "expected a label object")
    cls = doc.get("_cls")
    if cls in CONTAINER_ITEMS:
        item_cls, key = CONTAINER_ITEMS[cls]
        items = doc.get(key) or []
        if not isinstance(items, list):
            raise LabelError(f"{where}.{key}", "expected a list")
        converted = [_item(i, item_cls, f"{where}.{key}[{n}]", load_mask)
                     for n, i in enumerate(items)]
        containers: dict[str, Any] = {"Classifications": Classifications,
                                      "Detections": Detections, "Polylines": Polylines,
                                      "Keypoints": Keypoints}
        container = containers[cls]
        return container(**{key: converted})
    if cls in OWN_KEYS:
        return _item(doc, cls, where, load_mask)
    raise LabelError(where, f"unsupported FiftyOne label type {cls!r} (annosync models "
                     f"{', '.join(sorted(TYPES))})")


def _item(doc: Any, cls: str, where: str, load_mask: Callable[[str], str]) -> Any:
    if not isinstance(doc, dict):
        raise LabelError(where, "expected a label object")
    if doc.get("_cls", cls) != cls:
        raise LabelError(where, f"expected a {cls}, got {doc.get('_cls')!r}")
    label_id = doc.get(ID_ATTR) or oid(doc.get("_id"))
    try:
        data: dict[str, Any] = {"attributes": _attributes(doc, cls, where),
                                "tags": tags_of(doc, where)}
        if label_id:
            data["_id"] = label_id
        conf = number(doc.get("confidence"))
        if cls == "Classification":
            if doc.get("logits") is not None:
                raise LabelError(f"{where}.logits", "logits are not supported")
            return Classification(label=doc.get("label"), confidence=conf, **data)
        for extra in EXTRA.get(cls, ()):
            if doc.get(extra) is not None:
                data[extra] = number(doc[extra])
        if cls in ("Detection", "Polyline", "Keypoint") and doc.get("index") is not None:
            data["index"] = doc["index"]
        if cls == "Detection":
            if doc.get("mask") is not None:
                data["mask"] = BinaryMask.from_array(_array(doc["mask"], f"{where}.mask"))
            if doc.get("mask_path"):
                data["mask_path"] = load_mask(doc["mask_path"])
            return Detection(label=doc.get("label"), bounding_box=doc.get("bounding_box"),
                             confidence=conf, **data)
        if cls == "Polyline":
            shapes = doc.get("points") or []
            points: Any = [[_point(p, f"{where}.points[{i}][{j}]") for j, p in enumerate(shape)]
                           for i, shape in enumerate(shapes)]
            if any(p is None for shape in points for p in shape):
                raise LabelError(f"{where}.points", "polyline points must not be NaN")
            return Polyline(label=doc.get("label"), points=points, closed=bool(doc.get("closed")),
                            filled=bool(doc.get("filled")), confidence=conf, **data)
        if cls == "Keypoint":
            kp_points = [_point(p, f"{where}.points[{i}]")
                         for i, p in enumerate(doc.get("points") or [])]
            confs = None
            if isinstance(conf, list):
                confs = [None if is_nan(c) or c is None else float(number(c)) for c in conf]
            return Keypoint(label=doc.get("label"), points=kp_points, confidence=confs, **data)
        # Segmentation
        if doc.get("mask") is not None:
            data["mask"] = IndexMask.from_array(_array(doc["mask"], f"{where}.mask"))
        if doc.get("mask_path"):
            data["mask_path"] = load_mask(doc["mask_path"])
        return Segmentation(**data)
    except LabelError:
        raise
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        first = str(exc).splitlines()
        raise LabelError(where, " ".join(first[:3])) from None


def _array(value: Any, where: str) -> np.ndarray:
    try:
        array = decode_array(value)
    except (ValueError, TypeError, OSError) as exc:
        raise LabelError(where, f"not a FiftyOne numpy array: {exc}") from None
    if array.ndim == 3:  # RGB masks: FiftyOne allows them for segmentations; take channel 0
        array = array[..., 0]
    if array.ndim != 2:
        raise LabelError(where, f"a mask must be 2-D, got shape {array.shape}")
    return array


# -- annosync -> FiftyOne -----------------------------------------------------------------------

def fo_id(label_id: str) -> tuple[str, str | None]:
    """The ObjectId to write and, for ids that are not one, the original (``annosync_id``)."""
    if is_valid_id(label_id):
        return label_id, None
    return derived_id(label_id), label_id


def to_fo(label: Any, save_mask: Callable[[str], str]) -> dict[str, Any]:
    """An annosync label (container or single) as a FiftyOne label document."""
    kind = label.type
    cls = CLASSES[kind]
    if cls in CONTAINER_ITEMS:
        item_cls, key = CONTAINER_ITEMS[cls]
        return {"_cls": cls, key: [_to_item(i, item_cls, save_mask) for i in getattr(label, key)]}
    return _to_item(label, cls, save_mask)


def _to_item(obj: Any, cls: str, save_mask: Callable[[str], str]) -> dict[str, Any]:
    oid_value, original = fo_id(obj.id)
    out: dict[str, Any] = {"_id": {"$oid": oid_value}, "_cls": cls}
    if cls != "Classification" and cls != "Segmentation":
        out["attributes"] = {}
    out["tags"] = list(obj.tags)
    if cls == "Classification":
        out["label"] = obj.label
        if obj.confidence is not None:
            out["confidence"] = double(obj.confidence)
    elif cls == "Detection":
        out["label"] = obj.label
        out["bounding_box"] = list(obj.bounding_box)
        if obj.mask is not None:
            out["mask"] = encode_array(obj.mask.to_array())
        if obj.mask_path:
            out["mask_path"] = save_mask(obj.mask_path)
    elif cls == "Polyline":
        out["label"] = obj.label
        out["points"] = [[list(p) for p in shape] for shape in obj.points]
        out["closed"] = obj.closed
        out["filled"] = obj.filled
    elif cls == "Keypoint":
        out["label"] = obj.label
        nan = {"$numberDouble": "NaN"}
        out["points"] = [[nan, nan] if p is None else list(p) for p in obj.points]
        if obj.confidence is not None:
            out["confidence"] = [nan if c is None else c for c in obj.confidence]
    else:  # Segmentation
        if obj.mask is not None:
            array = obj.mask.to_array()
            dtype = np.uint8 if array.max(initial=0) < 256 else np.uint16
            out["mask"] = encode_array(array.astype(dtype))
        if obj.mask_path:
            out["mask_path"] = save_mask(obj.mask_path)
    if cls in ("Detection", "Polyline") and obj.confidence is not None:
        out["confidence"] = double(obj.confidence)
    if cls in ("Detection", "Polyline", "Keypoint"):
        if obj.index is not None:
            out["index"] = obj.index
        for extra in EXTRA[cls]:
            if getattr(obj, extra) is not None:
                out[extra] = getattr(obj, extra)
    for name, value in obj.attributes.items():
        out[name] = value
    if original is not None:
        out[ID_ATTR] = original
    return out
