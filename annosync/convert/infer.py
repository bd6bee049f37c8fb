"""Schema inference: what existing labels say about a field, gathered in one streaming pass.

Why streaming: a run may cover many thousands of video frames; the reference assumes everything
fits in memory, we do not. An observer keeps a bounded summary per field (kinds, classes,
attribute value types and a capped set of distinct values, mask values, keyframe use) and is fed
one field value at a time, so the caller can iterate samples lazily and observe many fields in a
single pass. ``resolve_schema`` turns the summaries into attribute types.

Attribute values that are not scalars (lists, dicts: possible in raw label JSON) are skipped with
a note, as the reference omits them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from annosync.model.labels import Detection, Polyline, Segmentation, label_objects
from annosync.model.schema import ObservedAttribute, ObservedField, ValueType
from annosync.model.schema_rules import value_type_of

#: Distinct values kept per attribute (one more than a select may have, to know it's "many").
MAX_KEPT_VALUES = 64
_MAX_MASK_VALUES = 256

_CONTAINER_KINDS = {"classifications", "detections", "polylines", "keypoints"}
_ITEM_KEY = {
    "classifications": "classifications", "detections": "detections",
    "polylines": "polylines", "keypoints": "keypoints",
}


class _Attr:
    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.types: set[ValueType] = set()
        self.values: dict[tuple[str, Any], Any] = {}
        self.truncated = False
        self.minimum: float | None = None
        self.maximum: float | None = None
        self.classes: set[str] = set()

    def add(self, value: Any, cls: str | None) -> None:
        vt = value_type_of(value)
        if vt is None:
            return
        self.count += 1
        self.types.add(vt)
        if cls is not None:
            self.classes.add(cls)
        key = (vt, value)
        if key not in self.values:
            if len(self.values) < MAX_KEPT_VALUES:
                self.values[key] = value
            else:
                self.truncated = True
        if vt in ("int", "float"):
            f = float(value)
            self.minimum = f if self.minimum is None else min(self.minimum, f)
            self.maximum = f if self.maximum is None else max(self.maximum, f)

    def result(self) -> ObservedAttribute:
        order = {"bool": 0, "int": 1, "float": 1, "str": 2}
        values = sorted(self.values.values(), key=lambda v: (order[value_type_of(v) or "str"], v))
        return ObservedAttribute(
            name=self.name, count=self.count, types=sorted(self.types), values=values,
            truncated=self.truncated, minimum=self.minimum, maximum=self.maximum,
            classes=sorted(self.classes),
        )


class FieldObserver:
    """Feed it a field's values (``add``) or a video field's ``{frame: value}`` (``add_frames``);
    ``result()`` is the ``ObservedField`` summary. Accepts label models or raw label JSON."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.count = 0
        self.kinds: set[str] = set()
        self.labels = 0
        self.classes: set[str] = set()
        self.attrs: dict[str, _Attr] = {}
        self.masks = 0
        self.unmasked = 0
        self.filled: set[bool] = set()
        self.keyframes = False
        self.indexed = False
        self.mask_values: set[int] = set()
        self.scalar_types: set[ValueType] = set()
        self.scalar_values: dict[tuple[str, Any], Any] = {}
        self.skipped: dict[str, str] = {}

    def add_frames(self, frames: Mapping[int, Any]) -> None:
        for value in frames.values():
            self.add(value)

    def add(self, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, BaseModel):
            self._add_model(value)
        elif isinstance(value, dict):
            self._add_raw(value)
        else:
            vt = value_type_of(value)
            if vt is None:
                self.skipped.setdefault("<value>", type(value).__name__)
                return
            self.count += 1
            self.kinds.add("scalar")
            self.scalar_types.add(vt)
            if len(self.scalar_values) < MAX_KEPT_VALUES:
                self.scalar_values.setdefault((vt, value), value)

    # -- label models ------------------------------------------------------------------------
    def _add_model(self, value: BaseModel) -> None:
        kind = str(getattr(value, "type", "unknown"))
        self.count += 1
        self.kinds.add(kind)
        if isinstance(value, Segmentation):
            if value.mask is not None:
                self._mask_values(v for v, _ in value.mask.runs)
            return
        for obj in label_objects(value):
            self._object(
                cls=getattr(obj, "label", None), attributes=obj.attributes,
                mask=isinstance(obj, Detection) and (obj.mask is not None or obj.mask_path),
                is_detection=isinstance(obj, Detection),
                filled=obj.filled if isinstance(obj, Polyline) else None,
                keyframe=getattr(obj, "keyframe", None), index=getattr(obj, "index", None),
            )

    # -- raw JSON (as stored on disk) ------------------------------------------------------------
    def _add_raw(self, value: dict[str, Any]) -> None:
        kind = value.get("_type")
        if not isinstance(kind, str):
            self.skipped.setdefault("<value>", "dict without _type")
            return
        self.count += 1
        self.kinds.add(kind)
        if kind == "segmentation":
            mask = value.get("mask")
            if isinstance(mask, dict):
                self._mask_values(r[0] for r in mask.get("runs", []) if r)
            return
        items = value.get(_ITEM_KEY[kind], []) if kind in _CONTAINER_KINDS else [value]
        for obj in items:
            if not isinstance(obj, dict):
                continue
            attrs = obj.get("attributes") or {}
            self._object(
                cls=obj.get("label"), attributes=attrs if isinstance(attrs, dict) else {},
                mask=kind in ("detection", "detections") and bool(obj.get("mask")
                                                                   or obj.get("mask_path")),
                is_detection=kind in ("detection", "detections"),
                filled=bool(obj.get("filled")) if kind in ("polyline", "polylines") else None,
                keyframe=obj.get("keyframe"), index=obj.get("index"),
            )

    def _object(self, *, cls: Any, attributes: Mapping[str, Any], mask: Any, is_detection: bool,
                filled: bool | None, keyframe: Any, index: Any) -> None:
        self.labels += 1
        name = cls if isinstance(cls, str) else None
        if name is not None:
            self.classes.add(name)
        if is_detection:
            if mask:
                self.masks += 1
            else:
                self.unmasked += 1
        if filled is not None:
            self.filled.add(filled)
        if keyframe is True:
            self.keyframes = True
        if index is not None:
            self.indexed = True
        for attr, v in attributes.items():
            if v is None:
                continue
            if value_type_of(v) is None:
                self.skipped.setdefault(attr, type(v).__name__)
                continue
            self.attrs.setdefault(attr, _Attr(attr)).add(v, name)

    def _mask_values(self, values: Iterable[Any]) -> None:
        for v in values:
            if isinstance(v, int) and len(self.mask_values) < _MAX_MASK_VALUES:
                self.mask_values.add(v)

    def result(self) -> ObservedField:
        notes = [
            f"attribute {name!r} skipped: only scalar attributes are supported (found {kind})"
            for name, kind in sorted(self.skipped.items()) if name != "<value>"
        ]
        if "<value>" in self.skipped:
            notes.append(f"values that are neither labels nor scalars skipped "
                         f"({self.skipped['<value>']})")
        order = {"bool": 0, "int": 1, "float": 1, "str": 2}
        return ObservedField(
            path=self.path, count=self.count, kinds=sorted(self.kinds), labels=self.labels,
            classes=sorted(self.classes),
            attributes={n: a.result() for n, a in sorted(self.attrs.items())},
            masks=self.masks, unmasked=self.unmasked, filled=sorted(self.filled),
            keyframes=self.keyframes, indexed=self.indexed,
            mask_values=sorted(self.mask_values), scalar_types=sorted(self.scalar_types),
            scalar_values=sorted(self.scalar_values.values(),
                                 key=lambda v: (order[value_type_of(v) or "str"], v)),
            notes=notes,
        )


def infer_field(path: str, values: Iterable[Any]) -> ObservedField:
    """Observe one field over an iterable (streamed) of its values.

    For a video frame field (``frames.x``) each item may be a ``{frame: value}`` mapping (what
    ``Sample.get_field`` returns) or a single frame's value.
    """
    observer = FieldObserver(path)
    for value in values:
        if isinstance(value, Mapping) and value and all(isinstance(k, int) for k in value):
            observer.add_frames(value)
        else:
            observer.add(value)
    return observer.result()


def infer_fields(paths: Iterable[str], samples: Iterable[Any]) -> dict[str, ObservedField]:
    """Observe several fields over a stream of samples (``Sample`` models), in one pass."""
    observers = {p: FieldObserver(p) for p in paths}
    for sample in samples:
        for path, observer in observers.items():
            value = sample.get_field(path)
            if path.startswith("frames."):
                observer.add_frames(value or {})
            else:
                observer.add(value)
    return {p: o.result() for p, o in observers.items()}
