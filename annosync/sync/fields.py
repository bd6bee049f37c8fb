"""Between samples and merge items: read a field as a flat list of items, write items back.

A field value is a container (``Detections``...), a single label, a scalar or nothing; on video,
a ``frames.<name>`` field spreads over frames. The merge works on flat ``Item`` lists; this module
is the only place that knows how to go from one form to the other and back without losing the
container kind the file used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from annosync.model.labels import (
    CONTAINERS,
    Classifications,
    Detections,
    Keypoints,
    Polylines,
    Segmentation,
    label_objects,
)
from annosync.model.sample import Sample
from annosync.model.schema import ResolvedAttribute, ResolvedField
from annosync.sync.digest import ScalarItem
from annosync.sync.merge import FieldRules, Item

#: Label class -> (its container, the container's list attribute), from the model's table.
_CONTAINER_OF: dict[type, tuple[type[BaseModel], str]] = {
    item: (container, attr) for container, (item, attr) in CONTAINERS.items()
}
_CONTAINERS = tuple(CONTAINERS)
_CONTAINER_FOR_TYPE: dict[str, tuple[type[BaseModel], str]] = {
    "classifications": (Classifications, "classifications"),
    "detections": (Detections, "detections"),
    "instances": (Detections, "detections"),
    "polylines": (Polylines, "polylines"),
    "polygons": (Polylines, "polylines"),
    "keypoints": (Keypoints, "keypoints"),
}


def items_of(value: Any, frame: int | None = None) -> list[Item]:
    """The merge items of one field value (at a video frame, or ``None``)."""
    if value is None:
        return []
    objects = label_objects(value)
    if objects or isinstance(value, BaseModel):
        return [Item(o.id, o, frame) for o in objects]
    return [Item(ScalarItem.ID, ScalarItem(value), frame)]


def field_items(sample: Sample, rf: ResolvedField, name: str | None = None) -> list[Item]:
    """Every item of field ``rf`` (or of ``name``, for a ``dest_field``) in a sample."""
    field_name = name or rf.name
    if rf.is_frame_field:
        out: list[Item] = []
        for number, frame in sorted(sample.frames.items()):
            out.extend(items_of(frame.get(field_name), number))
        return out
    return items_of(sample.fields.get(field_name))


def pulled_items(fields: Mapping[str, Any], frames: Mapping[int, Mapping[str, Any]],
                 rf: ResolvedField, covered: Iterable[int] | None = None) -> list[Item]:
    """Items of a field in what ``convert.from_cvat`` returned for one sample."""
    if rf.is_frame_field:
        out: list[Item] = []
        for number in sorted(frames):
            out.extend(items_of(frames[number].get(rf.name), number))
        return out
    return items_of(fields.get(rf.path))


def _value(items: list[Item], rf: ResolvedField, previous: Any) -> Any:
    if not items:
        # An emptied list stays an (empty) list of the kind the file used; anything else goes.
        return type(previous)() if isinstance(previous, _CONTAINERS) else None
    first = items[0].obj
    if isinstance(first, ScalarItem):
        return first.value
    if isinstance(first, Segmentation):
        return first
    single = rf.single if previous is None else not isinstance(previous, _CONTAINERS)
    if single or rf.type == "classification":
        return first
    container, attr = _CONTAINER_OF.get(type(first)) or _CONTAINER_FOR_TYPE[rf.type]
    return container(**{attr: [i.obj for i in items]})


def with_field(sample: Sample, rf: ResolvedField, items: list[Item],
               name: str | None = None) -> Sample:
    """A copy of ``sample`` whose field (or ``name``, a ``dest_field``) holds exactly ``items``."""
    field_name = name or rf.name
    if not rf.is_frame_field:
        fields = dict(sample.fields)
        value = _value(items, rf, fields.get(field_name))
        if value is None:
            fields.pop(field_name, None)
        else:
            fields[field_name] = value
        return sample.model_copy(update={"fields": fields})
    by_frame: dict[int, list[Item]] = {}
    for item in items:
        by_frame.setdefault(int(item.frame or 0), []).append(item)
    frames = {n: dict(f) for n, f in sample.frames.items()}
    for number in sorted(set(frames) | set(by_frame)):
        frame = frames.setdefault(number, {})
        value = _value(by_frame.get(number, []), rf, frame.get(field_name))
        if value is None or (number not in by_frame and field_name not in frame):
            frame.pop(field_name, None)
        else:
            frame[field_name] = value
        if not frame:
            frames.pop(number)
    return sample.model_copy(update={"frames": frames})


def rules_for(rf: ResolvedField) -> FieldRules:
    """What the merge needs of a resolved field: digested attributes and restrictions."""
    names: dict[str, None] = {}
    read_only: set[str] = set()
    defaults: dict[str, Any] = {}
    for cls in rf.classes:
        for attr in cls.attributes:
            names.setdefault(attr.name, None)
            defaults.setdefault(attr.name, _default(attr))
            if attr.read_only:
                read_only.add(attr.name)
    single = rf.single or rf.type in ("classification", "segmentation", "scalar")
    return FieldRules(
        attributes=tuple(sorted(names)),
        read_only_attributes=frozenset(read_only),
        allow_additions=rf.allow_additions,
        allow_deletions=rf.allow_deletions,
        allow_label_edits=rf.allow_label_edits,
        allow_index_edits=rf.allow_index_edits,
        allow_spatial_edits=rf.allow_spatial_edits,
        read_only=rf.read_only,
        single=single and not rf.is_frame_field,
        defaults=tuple(sorted((k, v) for k, v in defaults.items() if v is not None)),
    )


def _default(attr: ResolvedAttribute) -> Any:
    """The value CVAT shows for an attribute nobody set (its default, else the first choice)."""
    if attr.default is not None:
        return attr.default
    if attr.type in ("checkbox", "occluded"):
        return False
    if attr.type in ("select", "radio", "number") and attr.values:
        return attr.values[0]
    return None
