"""Annotations of tasks and jobs: validation, storage per job, reads and writes.

Why a module: this is what a sync tool exercises most. The rules are CVAT's:

* request bodies are validated like ``LabeledDataSerializer`` (nested error bodies per item,
  ``invalid length for shape type 'rectangle'``, ids absent for create/PUT, present for delete);
* labels and attribute specs are checked per job (``["label_id `N` is invalid"]``,
  ``["spec_id `N` is invalid"]``; track attributes must be immutable, shape ones mutable);
* objects are stored per job with ids from per-table counters; task-level writes are sliced
  into jobs and the answer is the merge of the job results (``tracks.py``);
* write answers echo the request numbers, reads return floats and fill omitted attributes
  with the label defaults (tracks: immutable at track level, then the previous keyframe);
* ``version`` is always 0 and ``intervals`` is always ``[]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .context import Ctx
from .copying import json_copy
from .errors import ApiError, bad_request, html
from .state import Job, Label, State, Task
from .tracks import merge_data, slice_data
from .wire import Response, empty, json_response

SHAPE_TYPES = ("rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask",
               "skeleton")
ACTIONS = ("create", "update", "delete")

Obj = dict[str, Any]

# -- field validators (DRF semantics) ----------------------------------------------------------


def _bool(value: Any) -> tuple[bool | None, str | None]:
    if value in (True, "true", "True", "TRUE", "1", 1, "on", "yes", "y", "t"):
        return True, None
    if value in (False, "false", "False", "FALSE", "0", 0, "off", "no", "n", "f"):
        return False, None
    return None, "Must be a valid boolean."


def _int(value: Any, *, minimum: int | None = None, allow_null: bool = False
         ) -> tuple[int | None, str | None]:
    if value is None:
        return (None, None) if allow_null else (None, "This field may not be null.")
    if isinstance(value, bool):
        return None, "A valid integer is required."
    if isinstance(value, float):
        if not value.is_integer():
            return None, "A valid integer is required."
        value = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(".0"):
            text = text[:-2]
        try:
            value = int(text)
        except ValueError:
            return None, "A valid integer is required."
    elif not isinstance(value, int):
        return None, "A valid integer is required."
    if minimum is not None and value < minimum:
        return None, f"Ensure this value is greater than or equal to {minimum}."
    return value, None


def _float(value: Any, *, minimum: float, maximum: float) -> tuple[float | None, str | None]:
    if isinstance(value, bool) or value is None:
        return None, "A valid number is required."
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, "A valid number is required."
    if number < minimum:
        return None, f"Ensure this value is greater than or equal to {_num(minimum)}."
    if number > maximum:
        return None, f"Ensure this value is less than or equal to {_num(maximum)}."
    return number, None


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _not_dict(value: Any) -> Obj:
    return {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(value).__name__}."]}


def _not_list(value: Any) -> list[str]:
    return [f'Expected a list of items but got type "{type(value).__name__}".']


def _items(raw: Any, parse: Callable[[Any], tuple[Obj, Obj]], errors: Obj, key: str
           ) -> list[Obj]:
    """A nested list field (DRF ``ListSerializer``): each item parsed; errors per item, or one
    ``non_field_errors`` when the value is not a list."""
    if not isinstance(raw, list):
        errors[key] = {"non_field_errors": _not_list(raw)}
        return []
    out, item_errors = [], []
    for item in raw:
        obj, err = parse(item)
        out.append(obj)
        item_errors.append(err)
    if any(item_errors):
        errors[key] = item_errors
    return out


def _attributes(raw: Any, errors: Obj) -> list[Obj]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors["attributes"] = {"non_field_errors": _not_list(raw)}
        return []
    out, item_errors = [], []
    for item in raw:
        err: Obj = {}
        if not isinstance(item, dict):
            item_errors.append(_not_dict(item))
            continue
        spec_id, msg = _int(item.get("spec_id"))
        if "spec_id" not in item:
            err["spec_id"] = ["This field is required."]
        elif msg:
            err["spec_id"] = [msg]
        if "value" not in item:
            err["value"] = ["This field is required."]
            value = ""
        else:
            value = "None" if item["value"] is None else str(item["value"])
            if isinstance(item["value"], bool):
                value = str(item["value"])
            if len(value) > 4096:
                err["value"] = ["Ensure this field has no more than 4096 characters."]
        item_errors.append(err)
        out.append({"spec_id": spec_id, "value": value})
    if any(item_errors):
        errors["attributes"] = item_errors
    return out


def _common(raw: Obj, errors: Obj, out: Obj, action: str | None, *, annotation: bool = True) -> None:
    """``AnnotationSerializer`` fields: id, label_id, group, source, frame (in that order)."""
    raw_id = raw.get("id")
    ident, msg = _int(raw_id, allow_null=True)
    if msg:
        errors["id"] = [msg]
    elif annotation and action == "create" and ident is not None:
        errors["id"] = ["must be absent"]
    elif annotation and action == "delete" and ident is None:
        errors["id"] = ["must be present and not null"]
    out["id"] = ident
    if "label_id" not in raw:
        errors["label_id"] = ["This field is required."]
        out["label_id"] = None
    else:
        out["label_id"], msg = _int(raw["label_id"], minimum=0)
        if msg:
            errors["label_id"] = [msg]
    group, msg = _int(raw.get("group"), minimum=0, allow_null=True)
    if msg:
        errors["group"] = [msg]
    out["group"] = group
    source = raw.get("source", "manual")
    if source is None:
        errors["source"] = ["This field may not be null."]
    elif str(source).strip() == "":
        errors["source"] = ["This field may not be blank."]
    out["source"] = str(source) if source is not None else "manual"
    if "frame" not in raw:
        errors["frame"] = ["This field is required."]
        out["frame"] = None
    else:
        out["frame"], msg = _int(raw["frame"], minimum=0)
        if msg:
            errors["frame"] = [msg]


def _geometry(raw: Obj, errors: Obj, out: Obj) -> None:
    """``ShapeSerializer`` fields: type, occluded, outside, z_order, rotation, points."""
    kind = raw.get("type")
    if "type" not in raw:
        errors["type"] = ["This field is required."]
    elif kind not in SHAPE_TYPES:
        errors["type"] = [f'"{kind}" is not a valid choice.']
    out["type"] = kind
    for name in ("occluded", "outside"):
        if name in raw:
            value, msg = _bool(raw[name])
            if msg:
                errors[name] = [msg]
            out[name] = value
        else:
            out[name] = False
    if "z_order" in raw:
        out["z_order"], msg = _int(raw["z_order"])
        if msg:
            errors["z_order"] = [msg]
    else:
        out["z_order"] = 0
    if "rotation" in raw:
        out["rotation"], msg = _float(raw["rotation"], minimum=0, maximum=360)
        if msg:
            errors["rotation"] = [msg]
    else:
        out["rotation"] = 0
    points = raw.get("points", [])
    if points is None:
        errors["points"] = ["This field may not be null."]
        points = []
    if not isinstance(points, list):
        errors["points"] = _not_list(points)
        points = []
    bad = {str(i): ["Value must be a float or an integer"] for i, p in enumerate(points)
           if type(p) not in (int, float)}
    if bad:
        errors["points"] = bad
    out["points"] = list(points)


def _points_ok(kind: str, n: int) -> bool:
    if kind in ("rectangle", "ellipse"):
        return n == 4
    if kind == "polygon":
        return n >= 6 and n % 2 == 0
    if kind == "polyline":
        return n >= 4 and n % 2 == 0
    if kind == "points":
        return n >= 2 and n % 2 == 0
    if kind == "cuboid":
        return n == 16
    if kind == "mask":
        return n >= 5
    if kind == "skeleton":
        return n == 0
    return True


def _score(raw: Obj, errors: Obj, out: Obj) -> None:
    if "score" in raw:
        out["score"], msg = _float(raw["score"], minimum=0, maximum=1)
        if msg:
            errors["score"] = [msg]
    else:
        out["score"] = 1


def _shape(raw: Any, action: str | None, *, element: bool = False) -> tuple[Obj, Obj]:
    if not isinstance(raw, dict):
        return {}, _not_dict(raw)
    errors: Obj = {}
    out: Obj = {}
    _geometry(raw, errors, out)
    _common(raw, errors, out, action)
    _score(raw, errors, out)
    out["attributes"] = _attributes(raw.get("attributes", []), errors)
    if not element:
        elements_raw = raw.get("elements")
        out["elements"] = [] if elements_raw is None else _items(
            elements_raw, lambda item: _shape(item, action, element=True), errors, "elements")
    if errors:
        return out, errors
    if not _points_ok(out["type"], len(out["points"])):
        return out, {"points": [f"invalid length for shape type '{out['type']}'"]}
    if not element:
        if out["type"] == "skeleton" and not out["elements"]:
            return out, {"elements": ["at least one required for skeleton shape"]}
        if out["type"] != "skeleton" and out["elements"]:
            return out, {"elements": ["not allowed for non-skeleton shape"]}
    return out, {}


_GEOMETRY = frozenset(SHAPE_TYPES) - {"skeleton"}


def _plain_shape(raw: Any) -> tuple[Obj, Obj] | None:
    """``_shape(raw, "create")`` of a shape every field of which is of its plain JSON type and in
    range (what a client sends): the same object, built without the per-field validators that
    find nothing to say; None for anything else (``_shape`` then decides, errors and all).
    A 10,000-shape ``PUT`` spent a quarter of its handler's time in them."""
    if type(raw) is not dict:
        return None
    get = raw.get
    kind = get("type")
    if type(kind) is not str or kind not in _GEOMETRY:
        return None
    occluded = get("occluded", False)
    outside = get("outside", False)
    z_order = get("z_order", 0)
    rotation = get("rotation", 0)
    points = get("points", [])
    label_id = get("label_id")
    group = get("group")
    source = get("source", "manual")
    frame = get("frame")
    score = get("score", 1)
    attributes = get("attributes", [])
    elements = get("elements")
    if (type(occluded) is not bool or type(outside) is not bool or type(z_order) is not int
            or get("id") is not None or type(label_id) is not int or label_id < 0
            or type(frame) is not int or frame < 0 or type(source) is not str
            or not source.strip() or type(points) is not list
            or not (group is None or (type(group) is int and group >= 0))
            or not (elements is None or (type(elements) is list and not elements))):
        return None
    kind_r = type(rotation)
    if (kind_r is not float and kind_r is not int) or not 0 <= rotation <= 360:
        return None
    kind_s = type(score)
    if (kind_s is not float and kind_s is not int) or not 0 <= score <= 1:
        return None
    for p in points:
        if type(p) is not float and type(p) is not int:
            return None
    if not _points_ok(kind, len(points)):
        return None
    attrs = []
    if attributes is not None:
        if type(attributes) is not list:
            return None
        for item in attributes:
            if type(item) is not dict:
                return None
            spec_id = item.get("spec_id")
            value = item.get("value")
            if type(spec_id) is not int or type(value) is not str or len(value) > 4096:
                return None
            attrs.append({"spec_id": spec_id, "value": value})
    return {
        "type": kind, "occluded": occluded, "outside": outside, "z_order": z_order,
        "rotation": float(rotation) if "rotation" in raw else 0, "points": list(points),
        "id": None, "label_id": label_id, "group": group, "source": source, "frame": frame,
        "score": float(score) if "score" in raw else 1, "attributes": attrs, "elements": [],
    }, {}


def _plain_items(raw: list[Any], parse: Callable[[Any], tuple[Obj, Obj]], errors: Obj
                 ) -> list[Obj]:
    """``_items(raw, parse, errors, "shapes")`` of a create's shapes: each by ``_plain_shape``
    in one loop while all are plain (what a client sends), the rest by ``_items``."""
    out: list[Obj] = []
    append = out.append
    for item in raw:
        plain = _plain_shape(item)
        if plain is None:
            break
        append(plain[0])
    else:
        return out
    return _items(raw, lambda item: _plain_shape(item) or parse(item), errors, "shapes")


def _tag(raw: Any, action: str | None) -> tuple[Obj, Obj]:
    if not isinstance(raw, dict):
        return {}, _not_dict(raw)
    errors: Obj = {}
    out: Obj = {}
    _common(raw, errors, out, action)
    out["attributes"] = _attributes(raw.get("attributes", []), errors)
    return out, errors


def _tracked_shape(raw: Any) -> tuple[Obj, Obj]:
    if not isinstance(raw, dict):
        return {}, _not_dict(raw)
    errors: Obj = {}
    out: Obj = {}
    _geometry(raw, errors, out)
    out["id"], msg = _int(raw.get("id"), allow_null=True)
    if msg:
        errors["id"] = [msg]
    if "frame" not in raw:
        errors["frame"] = ["This field is required."]
        out["frame"] = None
    else:
        out["frame"], msg = _int(raw["frame"], minimum=0)
        if msg:
            errors["frame"] = [msg]
    out["attributes"] = _attributes(raw.get("attributes", []), errors)
    if not errors and not _points_ok(out["type"], len(out["points"])):
        return out, {"points": [f"invalid length for shape type '{out['type']}'"]}
    return out, errors


def _track(raw: Any, action: str | None, *, element: bool = False) -> tuple[Obj, Obj]:
    if not isinstance(raw, dict):
        return {}, _not_dict(raw)
    errors: Obj = {}
    out: Obj = {}
    _common(raw, errors, out, action)
    out["attributes"] = _attributes(raw.get("attributes", []), errors)
    shapes_raw = raw.get("shapes")
    if shapes_raw is None:
        errors["shapes"] = ["This field is required."]
        out["shapes"] = []
    else:
        out["shapes"] = _items(shapes_raw, _tracked_shape, errors, "shapes")
    if not element:
        elements_raw = raw.get("elements")
        out["elements"] = [] if elements_raw is None else _items(
            elements_raw, lambda item: _track(item, action, element=True), errors, "elements")
    return out, errors


def validate_payload(raw: Any, action: str | None) -> Obj:
    """``LabeledDataSerializer`` with the ``annotation_action`` context."""
    if not isinstance(raw, dict):
        raise bad_request(_not_dict(raw))
    errors: Obj = {}
    out: Obj = {"version": 0, "tags": [], "shapes": [], "tracks": []}
    if "version" in raw:
        _, msg = _int(raw["version"])
        if msg:
            errors["version"] = [msg]
    parsers: dict[str, Callable[[Any], tuple[Obj, Obj]]] = {
        "tags": lambda item: _tag(item, action),
        "shapes": lambda item: _shape(item, action),
        "tracks": lambda item: _track(item, action),
    }
    for key, parse in parsers.items():
        items = raw.get(key, [])
        if items is None:
            errors[key] = ["This field may not be null."]
            continue
        if key == "shapes" and action == "create" and type(items) is list:
            out[key] = _plain_items(items, parse, errors)
        else:
            out[key] = _items(items, parse, errors, key)
    if errors:
        raise bad_request(errors)
    return out


# -- data-level checks ---------------------------------------------------------------------------

class LabelIndex:
    """Labels and attribute specs of a task, as the dataset manager indexes them."""

    def __init__(self, labels: list[Label]) -> None:
        self.labels = {lb.id: lb for lb in labels}
        self.all_specs = {lb.id: {a.id for a in lb.attributes} for lb in labels}
        self.mutable = {lb.id: {a.id for a in lb.attributes if a.mutable} for lb in labels}
        self.immutable = {lb.id: {a.id for a in lb.attributes if not a.mutable} for lb in labels}
        self._kinds = {"all": self.all_specs, "mutable": self.mutable,
                       "immutable": self.immutable}

    def label(self, label_id: int) -> None:
        if label_id not in self.labels:
            raise bad_request([f"label_id `{label_id}` is invalid"])

    def specs(self, attrs: list[Obj], label_id: int, kind: str) -> None:
        allowed = self._kinds[kind][label_id]
        for attr in attrs:
            if attr["spec_id"] not in allowed:
                raise bad_request([f"spec_id `{attr['spec_id']}` is invalid"])

    def shapes(self, shapes: list[Obj]) -> None:
        """``label`` then ``specs(..., "all")`` of each shape and its elements, in order, in
        one loop (a 10,000-shape PUT made 20,000 method calls here)."""
        all_specs = self.all_specs
        for shape in shapes:
            allowed = all_specs.get(shape["label_id"])
            if allowed is None:
                self.label(shape["label_id"])  # raises
                return
            for attr in shape["attributes"]:
                if attr["spec_id"] not in allowed:
                    raise bad_request([f"spec_id `{attr['spec_id']}` is invalid"])
            elements = shape.get("elements")
            if elements:
                self.shapes(elements)


def check_data(index: LabelIndex, data: Obj) -> None:
    """Label/spec checks in CVAT's order (tags, shapes, tracks)."""
    for tag in data["tags"]:
        index.label(tag["label_id"])
        index.specs(tag["attributes"], tag["label_id"], "all")
    index.shapes(data["shapes"])

    def check_track(track: Obj) -> None:
        index.label(track["label_id"])
        index.specs(track["attributes"], track["label_id"], "immutable")
        for tshape in track["shapes"]:
            index.specs(tshape["attributes"], track["label_id"], "mutable")
        for element in track.get("elements", []):
            check_track(element)

    for track in data["tracks"]:
        check_track(track)


# -- storage -----------------------------------------------------------------------------------

def _fresh_id(state: State, table: str, wanted: int | None, used: set[int]) -> int:
    if wanted is not None and wanted not in used:
        used.add(wanted)
        return wanted
    while True:
        value = state.next_id(table)
        if value not in used:
            used.add(value)
            return value


def save_into_job(state: State, job: Job, data: Obj, keep: frozenset[int] = frozenset()
                  ) -> Obj:
    """Insert validated objects into a job, assigning ids in CVAT's order; returns them.
    The tags and shapes whose ``id()`` is in ``keep`` are stored themselves (the caller's to
    give away: nothing else holds them), the others as copies."""
    tag_ids = {t["id"] for t in job.tags}
    shape_ids = {s["id"] for s in job.shapes} | {e["id"] for s in job.shapes
                                                  for e in s.get("elements", [])}
    track_ids: set[int] = set()
    tshape_ids: set[int] = set()
    for t in job.tracks:
        for tr in [t, *t.get("elements", [])]:
            track_ids.add(tr["id"])
            tshape_ids.update(s["id"] for s in tr["shapes"])
    used_tags: set[int] = set(tag_ids)
    used_shapes: set[int] = set(shape_ids)
    used_tracks: set[int] = set(track_ids)
    used_tshapes: set[int] = set(tshape_ids)
    out: Obj = {"version": 0, "tags": [], "shapes": [], "tracks": []}

    for tag in data["tags"]:
        item = tag if id(tag) in keep else json_copy(tag)
        item["id"] = _fresh_id(state, "labeled_image", item.get("id"), used_tags)
        item["group"] = item.get("group") or 0
        job.tags.append(item)
        out["tags"].append(item)

    shapes = [s if id(s) in keep else json_copy(s) for s in data["shapes"]]
    next_id = state.next_id
    for shape in shapes:
        wanted = shape.get("id")
        if wanted is None:  # _fresh_id's loop, without a call per shape
            value = next_id("labeled_shape")
            while value in used_shapes:
                value = next_id("labeled_shape")
            used_shapes.add(value)
            shape["id"] = value
        else:
            shape["id"] = _fresh_id(state, "labeled_shape", wanted, used_shapes)
        shape["group"] = shape.get("group") or 0
    for shape in shapes:
        for element in shape.get("elements", []):
            element["id"] = _fresh_id(state, "labeled_shape", element.get("id"), used_shapes)
            element["group"] = element.get("group") or 0
            element["frame"] = shape["frame"]
        shape.setdefault("elements", [])
        job.shapes.append(shape)
        out["shapes"].append(shape)

    tracks = [json_copy(t) for t in data["tracks"]]

    def assign_track(track: Obj) -> None:
        track["id"] = _fresh_id(state, "labeled_track", track.get("id"), used_tracks)
        track["group"] = track.get("group") or 0
        for tshape in track["shapes"]:
            tshape["id"] = _fresh_id(state, "tracked_shape", tshape.get("id"), used_tshapes)

    for track in tracks:
        assign_track(track)
    for track in tracks:
        for element in track.get("elements", []):
            assign_track(element)
        track.setdefault("elements", [])
        job.tracks.append(track)
        out["tracks"].append(track)
    return out


def delete_from_job(job: Job, data: Obj) -> None:
    for key in ("tags", "shapes", "tracks"):
        ids = {o["id"] for o in data[key] if o.get("id") is not None}
        if ids:
            setattr(job, key, [o for o in getattr(job, key) if o["id"] not in ids])


def clear_job(job: Job) -> None:
    job.tags, job.shapes, job.tracks = [], [], []


# -- representations ---------------------------------------------------------------------------

def _attrs(values: list[Obj]) -> list[Obj]:
    return [{"spec_id": a["spec_id"], "value": a["value"]} for a in values]


def _extend(values: list[Obj], defaults: list[Obj]) -> list[Obj]:
    out = _attrs(values)
    known = {a["spec_id"] for a in out}
    for attr in defaults:
        if attr["spec_id"] not in known:
            out.append({"spec_id": attr["spec_id"], "value": attr["value"]})
    return out


def _defaults(state: State, label_id: int, kind: str) -> list[Obj]:
    label = state.labels.get(label_id)
    if label is None:
        return []
    return [{"spec_id": a.id, "value": a.default_value} for a in label.attributes
            if kind == "all" or (kind == "mutable") == a.mutable]


def _floats(points: list[Any]) -> list[float]:
    return [float(p) for p in points]


def shape_read(state: State, shape: Obj, *, element: bool = False) -> Obj:
    out = {
        "id": shape["id"],
        "label_id": shape["label_id"],
        "type": shape["type"],
        "frame": shape["frame"],
        "group": shape.get("group") or 0,
        "source": shape.get("source", "manual"),
        "score": float(shape.get("score", 1)),
        "occluded": bool(shape.get("occluded", False)),
        "outside": bool(shape.get("outside", False)),
        "z_order": shape.get("z_order", 0),
        "rotation": float(shape.get("rotation", 0)),
        "points": _floats(shape.get("points", [])),
        "attributes": _extend(shape["attributes"], _defaults(state, shape["label_id"], "all")),
    }
    if not element:
        out["elements"] = [shape_read(state, e, element=True)
                           for e in sorted(shape.get("elements", []), key=lambda e: e["id"])]
    return out


def tag_read(state: State, tag: Obj) -> Obj:
    return {
        "id": tag["id"],
        "label_id": tag["label_id"],
        "frame": tag["frame"],
        "group": tag.get("group") or 0,
        "source": tag.get("source", "manual"),
        "attributes": _extend(tag["attributes"], _defaults(state, tag["label_id"], "all")),
    }


def track_read(state: State, track: Obj, *, element: bool = False) -> Obj:
    shapes = []
    prev: list[Obj] | None = None
    for s in sorted(track["shapes"], key=lambda s: s["frame"]):
        base = prev if prev is not None else _defaults(state, track["label_id"], "mutable")
        attrs = _extend(s["attributes"], base)
        prev = attrs
        shapes.append({
            "id": s["id"],
            "type": s["type"],
            "frame": s["frame"],
            "occluded": bool(s.get("occluded", False)),
            "outside": bool(s.get("outside", False)),
            "z_order": s.get("z_order", 0),
            "rotation": float(s.get("rotation", 0)),
            "points": _floats(s.get("points", [])),
            "attributes": attrs,
        })
    out = {
        "id": track["id"],
        "label_id": track["label_id"],
        "frame": track["frame"],
        "group": track.get("group") or 0,
        "source": track.get("source", "manual"),
        "shapes": shapes,
        "attributes": _extend(track["attributes"], _defaults(state, track["label_id"], "immutable")),
    }
    if not element:
        out["elements"] = [track_read(state, e, element=True)
                           for e in sorted(track.get("elements", []), key=lambda e: e["id"])]
    return out


def job_read(state: State, job: Job) -> Obj:
    """A job's annotations as ``GET /api/jobs/<id>/annotations`` answers them."""
    return {
        "version": 0,
        "tags": [tag_read(state, t) for t in sorted(job.tags, key=lambda t: t["frame"])],
        "shapes": [shape_read(state, s) for s in sorted(job.shapes, key=lambda s: s["frame"])],
        "tracks": [track_read(state, t) for t in sorted(job.tracks, key=lambda t: t["id"])],
        "intervals": [],
    }


def task_read(state: State, task: Task) -> Obj:
    """The task view: job reads merged like CVAT's ``TaskAnnotation.init_from_db``."""
    target: Obj = {"tags": [], "shapes": [], "tracks": []}
    overlap = task.overlap or 0
    for job in state.task_jobs(task.id):
        merge_data(target, job_read(state, job), job.start_frame, overlap)
    return {"version": 0, "tags": target["tags"], "shapes": target["shapes"],
            "tracks": target["tracks"], "intervals": []}


def shape_write(shape: Obj, *, element: bool = False, delete: bool = False) -> Obj:
    out = {
        "type": shape["type"],
        "occluded": shape.get("occluded", False),
        "outside": shape.get("outside", False),
        "z_order": shape.get("z_order", 0),
        "rotation": shape.get("rotation", 0),
        "points": shape.get("points", []),
        "id": shape.get("id"),
        "label_id": shape["label_id"],
        "group": shape.get("group") or 0,
        "source": shape.get("source", "manual"),
        "frame": shape["frame"],
    }
    if delete:
        out["attributes"] = _attrs(shape["attributes"])
        out["score"] = shape.get("score", 1)
    else:
        out["score"] = shape.get("score", 1)
        out["attributes"] = _attrs(shape["attributes"])
    if not element:
        out["elements"] = [shape_write(e, element=True, delete=delete)
                           for e in shape.get("elements", [])]
    return out


def tag_write(tag: Obj) -> Obj:
    return {"id": tag.get("id"), "label_id": tag["label_id"], "group": tag.get("group") or 0,
            "source": tag.get("source", "manual"), "frame": tag["frame"],
            "attributes": _attrs(tag["attributes"])}


def track_write(track: Obj, *, element: bool = False) -> Obj:
    out: Obj = {
        "id": track.get("id"),
        "label_id": track["label_id"],
        "group": track.get("group") or 0,
        "source": track.get("source", "manual"),
        "frame": track["frame"],
        "attributes": _attrs(track["attributes"]),
        "shapes": [{
            "type": s["type"],
            "occluded": s.get("occluded", False),
            "outside": s.get("outside", False),
            "z_order": s.get("z_order", 0),
            "rotation": s.get("rotation", 0),
            "points": s.get("points", []),
            "id": s.get("id"),
            "frame": s["frame"],
            "attributes": _attrs(s["attributes"]),
            # CVAT leaks the interpolation flag of the overlap merge into write answers
            **({"keyframe": s["keyframe"]} if "keyframe" in s else {}),
        } for s in track["shapes"]],
    }
    if not element:
        out["elements"] = [track_write(e, element=True) for e in track.get("elements", [])]
    return out


#: A stored shape's keys in the order ``shape_write`` writes them (not for a delete answer)
_WRITTEN_SHAPE = ("type", "occluded", "outside", "z_order", "rotation", "points", "id",
                  "label_id", "group", "source", "frame", "score", "attributes", "elements")
_WRITTEN_ATTR = ("spec_id", "value")


def _in_written_form(shape: Obj) -> bool:
    """Whether ``shape_write(shape)`` would be ``shape`` itself, key for key and value for
    value (so its JSON, byte for byte): what a ``PUT`` or ``PATCH action=create`` stores of
    a plain shape (``_plain_shape``, then an id and group). Then the answer, serialized at
    once under the state lock, writes the stored shape instead of a copy: a 10,000-shape
    ``PUT`` spent 0.06-0.1 CPU s copying them."""
    if (tuple(shape) != _WRITTEN_SHAPE or shape["elements"] != []
            or type(shape["group"]) is not int
            or type(shape["elements"]) is not list or type(shape["attributes"]) is not list):
        return False
    for attr in shape["attributes"]:
        if type(attr) is not dict or tuple(attr) != _WRITTEN_ATTR:
            return False
    return True


def write_answer(data: Obj, *, delete: bool = False) -> Obj:
    """The answer to a write: the objects in their write form (``answer_data`` of CVAT's
    ``LabeledDataSerializer``); to be serialized at once (it may share stored objects)."""
    return {
        "version": 0,
        "tags": [tag_write(t) for t in data["tags"]],
        "shapes": [s if not delete and _in_written_form(s) else shape_write(s, delete=delete)
                   for s in data["shapes"]],
        "tracks": [track_write(t) for t in data["tracks"]],
        "intervals": [],
    }


# -- operations (used by the endpoints, the importer and the annotator API) --------------------

def labels_index(state: State, task: Task) -> LabelIndex:
    return LabelIndex(state.task_labels(task))


def job_write(state: State, task: Task, job: Job, data: Obj, action: str | None, *,
              checked: bool = False, keep: frozenset[int] = frozenset()) -> Obj:
    """PUT (``action=None``) or PATCH a single job; returns the job result (write form).
    ``checked``: ``data``'s labels and specs were checked already (``task_write``); ``keep``:
    see ``save_into_job``."""
    if action != "delete" and not checked:
        check_data(labels_index(state, task), data)
    if action is None:
        clear_job(job)
        result = save_into_job(state, job, data, keep)
    elif action == "create":
        result = save_into_job(state, job, data, keep)
    elif action == "update":
        delete_from_job(job, data)
        result = save_into_job(state, job, data, keep)
    else:
        delete_from_job(job, data)
        result = json_copy(data)
    state.touch_job(job)
    return result


def task_write(state: State, task: Task, data: Obj, action: str | None, *,
               owned: bool = False) -> Obj:
    """PUT/PATCH at task level: slice per job, write every job, merge the job results.

    ``data`` is the request's own (validated, never kept): its slices share its tags and
    shapes, which every job write copies before storing them (one copy per stored object, not
    two); the answer merges the stored objects themselves but for tracks (the merge changes
    tracks: those it gets are copies), and is only read to write the answer. ``owned``: ``data``
    is the caller's to give away (a request's, validated): a tag or shape that goes to one job
    only is stored itself, not a copy of it (one on frames two jobs overlap is copied)."""
    jobs = state.task_jobs(task.id)
    pieces = [(job, slice_data(data, job.start_frame, job.stop_frame, copies=False))
              for job in jobs]
    if action != "delete":
        index = labels_index(state, task)
        for _, piece in pieces:
            check_data(index, piece)
    if action == "update":
        ids = {key: {o["id"] for o in data[key] if o.get("id") is not None}
               for key in ("tags", "shapes", "tracks")}
        for job in jobs:
            for key in ("tags", "shapes", "tracks"):
                if ids[key]:
                    setattr(job, key, [o for o in getattr(job, key) if o["id"] not in ids[key]])
    target: Obj = {"tags": [], "shapes": [], "tracks": []}
    overlap = task.overlap or 0
    keep: frozenset[int] = frozenset()
    if owned:
        seen: dict[int, int] = {}
        for _, piece in pieces:
            for obj in (*piece["tags"], *piece["shapes"]):
                seen[id(obj)] = seen.get(id(obj), 0) + 1
        keep = frozenset(k for k, n in seen.items() if n == 1)
    for job, piece in pieces:
        result = job_write(state, task, job, piece, action, checked=True, keep=keep)
        merge_data(target, {"tags": list(result["tags"]), "shapes": list(result["shapes"]),
                            "tracks": json_copy(result["tracks"])}, job.start_frame, overlap)
    if not jobs:
        state.touch_task(task)
    return target


def task_clear(state: State, task: Task) -> None:
    for job in state.task_jobs(task.id):
        clear_job(job)
        state.touch_job(job)
    state.touch_task(task)


# -- endpoints -------------------------------------------------------------------------------

RETIRED_QUERY = {"format", "filename", "action", "location", "cloud_storage_id"}


def _retired(ctx: Ctx, kind: str) -> None:
    from .errors import EXPORT_410

    if RETIRED_QUERY & {k for k, _ in ctx.req.query}:
        raise html(410, EXPORT_410.format(path=f"/api/{kind}/id/dataset/export?save_images=False"))


def _action(ctx: Ctx) -> str:
    action = ctx.req.q("action")
    if action not in ACTIONS:
        raise bad_request(["Please specify a correct 'action' for the request"])
    return action


def get_task_annotations(ctx: Ctx) -> Response:
    from .tasks import get_task_obj

    task = get_task_obj(ctx)
    if task.data_id is None:
        raise html(400, "Exporting annotations from a task without data is not allowed")
    _retired(ctx, "tasks")
    return json_response(task_read(ctx.state, task))


def put_task_annotations(ctx: Ctx) -> Response:
    from .tasks import get_task_obj

    task = get_task_obj(ctx)
    if ctx.req.has_q("format") or ctx.req.has_q("rq_id"):
        raise _import_status_410()
    data = validate_payload(ctx.req.data(), "create")
    result = task_write(ctx.state, task, data, None, owned=True)
    return json_response(write_answer(result))


def patch_task_annotations(ctx: Ctx) -> Response:
    from .tasks import get_task_obj

    task = get_task_obj(ctx)
    action = _action(ctx)
    data = validate_payload(ctx.req.data(), action)
    result = task_write(ctx.state, task, data, action, owned=True)
    return json_response(write_answer(result, delete=action == "delete"))


def delete_task_annotations(ctx: Ctx) -> Response:
    from .tasks import get_task_obj

    task = get_task_obj(ctx)
    task_clear(ctx.state, task)
    return empty(204)


def get_job_obj(ctx: Ctx) -> tuple[Job, Task]:
    from .access import can_view_job
    from .errors import no_match

    jid = ctx.int_param("id", "Job")
    job = ctx.state.jobs.get(jid)
    if job is None:
        raise no_match("Job")
    can_view_job(ctx, job)
    return job, ctx.state.tasks[job.task_id]


def get_job_annotations(ctx: Ctx) -> Response:
    job, _ = get_job_obj(ctx)
    _retired(ctx, "jobs")
    return json_response(job_read(ctx.state, job))


def put_job_annotations(ctx: Ctx) -> Response:
    job, task = get_job_obj(ctx)
    if ctx.req.has_q("format") or ctx.req.has_q("rq_id"):
        raise _import_status_410()
    data = validate_payload(ctx.req.data(), "create")
    return json_response(write_answer(job_write(ctx.state, task, job, data, None)))


def patch_job_annotations(ctx: Ctx) -> Response:
    job, task = get_job_obj(ctx)
    action = _action(ctx)
    data = validate_payload(ctx.req.data(), action)
    result = job_write(ctx.state, task, job, data, action)
    return json_response(write_answer(result, delete=action == "delete"))


def delete_job_annotations(ctx: Ctx) -> Response:
    job, _ = get_job_obj(ctx)
    clear_job(job)
    ctx.state.touch_job(job)
    return empty(204)


def _import_status_410() -> ApiError:
    return html(410, "This endpoint no longer supports checking the status of the import "
                     "process.\nTo check the process status, use GET /api/requests/rq_id,\n"
                     "where rq_id is obtained from the response of the previous request.\n")
