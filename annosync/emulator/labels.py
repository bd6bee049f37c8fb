"""Labels and attribute specs: validation, creation, PATCH updates, colors and ``/api/labels``.

Why a module: projects and tasks share CVAT's ``LabelSerializer`` logic (nested error bodies,
``All label names must be unique``, sublabels created before the parent's attributes, skeleton
SVGs rewritten to ``data-label-id``, colors from CVAT's predefined colormap and name hash).
Sources: ``cvat/apps/engine/serializers.py`` (LabelSerializer.create_labels/update_label) and
``cvat/apps/engine/label_colors.py``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from hashlib import blake2s
from importlib import resources
from typing import Any

from .context import Ctx
from .errors import ApiError, bad_request, detail, no_match
from .pagination import ListSpec, apply_filters, paginate
from .state import AttrSpec, Label, State
from .wire import Response, empty, json_response

LABEL_TYPES = ("any", "cuboid", "ellipse", "mask", "points", "polygon", "polyline", "rectangle",
               "skeleton", "interval", "tag")
INPUT_TYPES = ("checkbox", "radio", "number", "text", "select")

# -- colors -------------------------------------------------------------------------------------


@cache
def _predefined() -> dict[str, tuple[int, int, int]]:
    raw = json.loads(resources.files(__package__).joinpath("label_colors.json").read_text())
    return {k: (v[0], v[1], v[2]) for k, v in raw["colors"].items()}


def _color_from_index(index: int) -> tuple[int, int, int]:
    color = [0, 0, 0]
    for j in range(7, -1, -1):
        for c in range(3):
            color[c] |= ((index >> c) & 1) << j
        index >>= 3
    return (color[0], color[1], color[2])


def _normalize(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    text = re.sub(r"[-\s]+", "-", text)
    return text.replace("-", "_")


def _hex2rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    try:
        return (int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16))
    except ValueError:
        return (-1, -1, -1)


def _generate_color(color: tuple[int, int, int],
                    used: set[tuple[int, int, int]]) -> tuple[int, int, int]:
    for added in (255, 0):
        for factor in range(1, 10):
            candidate = tuple(int(c + (added - c) * factor / 10) for c in color)
            if candidate not in used:
                return (candidate[0], candidate[1], candidate[2])
    ordered = [sorted(used, key=lambda c, i=i: c[i]) for i in range(3)]  # type: ignore[misc]
    out = []
    for i in range(3):
        pairs = list(zip(ordered[i], ordered[i][1:], strict=False))
        a, b = max(pairs, key=lambda p, i=i: p[1][i] - p[0][i])  # type: ignore[misc]
        out.append((a[i] + b[i]) // 2)
    return (out[0], out[1], out[2])


def label_color(name: str, other_colors: list[str]) -> str:
    """CVAT's ``get_label_color``: predefined by name, else a hash of the name; never reused."""
    predefined = _predefined()
    used_rgb = tuple(_hex2rgb(c) for c in other_colors if c)
    used = set(predefined.values()) | set(used_rgb)
    norm = _normalize(name)
    color = predefined.get(norm)
    if color is None:
        digest = blake2s(norm.encode(), digest_size=3).digest()
        color = _color_from_index(int.from_bytes(digest, "big"))
    if color in used_rgb:
        color = _generate_color(color, used)
    return "#{:02x}{:02x}{:02x}".format(*color)


# -- validation ----------------------------------------------------------------------------------

def _choice_error(value: Any) -> list[str]:
    return [f'"{value}" is not a valid choice.']


def _validate_attr(raw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(raw, dict):
        return {}, {"non_field_errors": ["Invalid data. Expected a dictionary, but got "
                                         f"{type(raw).__name__}."]}
    errors: dict[str, Any] = {}
    out: dict[str, Any] = {}
    if raw.get("id") is not None:
        out["id"] = raw["id"]
    name = raw.get("name")
    if name is None or name == "":
        errors["name"] = ["This field is required." if name is None else "This field may not be blank."]
    elif len(str(name)) > 64:
        errors["name"] = ["Ensure this field has no more than 64 characters."]
    else:
        out["name"] = str(name)
    if "mutable" in raw:
        out["mutable"] = bool(raw["mutable"])
    elif raw.get("id") is None:
        errors["mutable"] = ["This field is required."]
    if "input_type" in raw:
        if raw["input_type"] not in INPUT_TYPES:
            errors["input_type"] = _choice_error(raw["input_type"])
        else:
            out["input_type"] = raw["input_type"]
    elif raw.get("id") is None:
        errors["input_type"] = ["This field is required."]
    if "default_value" in raw:
        value = raw["default_value"]
        if value is not None and len(str(value)) > 128:
            errors["default_value"] = ["Ensure this field has no more than 128 characters."]
        out["default_value"] = "" if value is None else str(value)
    if "values" in raw:
        values = raw["values"]
        if not isinstance(values, list):
            errors["values"] = [f'Expected a list of items but got type "{type(values).__name__}".']
        else:
            out["values"] = [str(v).strip() for v in values]
    elif raw.get("id") is None:
        errors["values"] = ["This field is required."]
    return out, errors


def _validate_label(raw: Any, *, sub: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(raw, dict):
        return {}, {"non_field_errors": ["Invalid data. Expected a dictionary, but got "
                                         f"{type(raw).__name__}."]}
    errors: dict[str, Any] = {}
    out: dict[str, Any] = {}
    if raw.get("id") is not None:
        try:
            out["id"] = int(raw["id"])
        except (TypeError, ValueError):
            errors["id"] = ["A valid integer is required."]
    name = raw.get("name")
    if name is None or name == "":
        if raw.get("id") is None:
            errors["name"] = ["This field is required." if name is None else "This field may not be blank."]
    elif len(str(name)) > 64:
        errors["name"] = ["Ensure this field has no more than 64 characters."]
    else:
        out["name"] = str(name)
    if raw.get("color"):
        out["color"] = str(raw["color"])
    if "type" in raw and raw["type"] is not None:
        if raw["type"] not in LABEL_TYPES:
            errors["type"] = _choice_error(raw["type"])
        else:
            out["type"] = raw["type"]
    attrs = raw.get("attributes", [])
    if attrs is None:
        attrs = []
    if not isinstance(attrs, list):
        errors["attributes"] = {"non_field_errors": [
            f'Expected a list of items but got type "{type(attrs).__name__}".']}
    else:
        attr_out, attr_errors = [], []
        for item in attrs:
            a, e = _validate_attr(item)
            attr_out.append(a)
            attr_errors.append(e)
        if any(attr_errors):
            errors["attributes"] = attr_errors
        out["attributes"] = attr_out
    if not sub:
        if raw.get("deleted"):
            out["deleted"] = True
        if "svg" in raw:
            out["svg"] = str(raw.get("svg") or "")
        subs = raw.get("sublabels")
        if isinstance(subs, list):
            sub_out, sub_errors = [], []
            for item in subs:
                s, e = _validate_label(item, sub=True)
                sub_out.append(s)
                sub_errors.append(e)
            if any(sub_errors):
                errors["sublabels"] = sub_errors
            out["sublabels"] = sub_out
        if out.get("deleted") and out.get("id") is None:
            errors.setdefault("non_field_errors", []).append("Deleted label must have an ID")
    return out, errors


def validate_labels(raw: Any) -> list[dict[str, Any]]:
    """Validate a ``labels`` list like DRF (nested per-item error bodies)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad_request({"labels": {"non_field_errors": [
            f'Expected a list of items but got type "{type(raw).__name__}".']}})
    out, errors = [], []
    for item in raw:
        label, err = _validate_label(item)
        out.append(label)
        errors.append(err)
    if any(errors):
        raise bad_request({"labels": errors})
    return out


def _check_attr_names(attrs: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for attr in attrs:
        name = attr.get("name")
        if name in seen:
            raise bad_request([f"Duplicate attribute with name '{name}' exists"])
        if name is not None:
            seen.add(name)


# -- creation and update -------------------------------------------------------------------------

def _owner_labels(state: State, project_id: int | None, task_id: int | None) -> list[Label]:
    return sorted((lb for lb in state.labels.values()
                   if lb.project_id == project_id and lb.task_id == task_id),
                  key=lambda lb: lb.id)


def _new_attr(state: State, spec: dict[str, Any]) -> AttrSpec:
    return AttrSpec(id=state.next_id("attribute"), name=spec["name"],
                    mutable=bool(spec.get("mutable", False)),
                    input_type=spec.get("input_type", "text"),
                    default_value=str(spec.get("default_value", "")),
                    values=list(spec.get("values", [])))


def _rewrite_svg(state: State, label: Label, svg: str) -> str:
    for sub in sorted((lb for lb in state.labels.values() if lb.parent_id == label.id),
                      key=lambda lb: lb.id):
        svg = svg.replace(f'data-label-name="{sub.name}"', f'data-label-id="{sub.id}"')
    return svg


def check_unique_names(specs: list[dict[str, Any]], existing: list[str]) -> None:
    names = list(existing)
    for spec in specs:
        if spec.get("id") is None and not spec.get("deleted"):
            if spec.get("name") in names:
                raise bad_request(["All label names must be unique"])
            names.append(spec.get("name", ""))
        subs = [s.get("name") for s in spec.get("sublabels", []) or []]
        if len(subs) != len(set(subs)):
            raise bad_request(["All label names must be unique"])


def create_labels(state: State, specs: list[dict[str, Any]], *, project_id: int | None = None,
                  task_id: int | None = None, parent: Label | None = None) -> list[Label]:
    """``LabelSerializer.create_labels``: ids, colors and attribute ids in CVAT's order."""
    if parent is None:
        check_unique_names(specs, [])
    colors: list[str] = []
    created: list[Label] = []
    for spec in specs:
        attrs = spec.get("attributes", [])
        _check_attr_names(attrs)
        color = spec.get("color") or label_color(spec["name"], colors)
        colors.append(color)
        label = Label(id=state.next_id("label"), name=spec["name"], color=color,
                      type=spec.get("type", "any"), parent_id=parent.id if parent else None,
                      project_id=project_id, task_id=task_id)
        state.labels[label.id] = label
        created.append(label)
        create_labels(state, spec.get("sublabels", []) or [], project_id=project_id,
                      task_id=task_id, parent=label)
        if label.type == "skeleton":
            label.svg = _rewrite_svg(state, label, spec.get("svg", ""))
        for attr in attrs:
            label.attributes.append(_new_attr(state, attr))
    return created


def _delete_label(state: State, label: Label) -> None:
    doomed = {label.id} | {lb.id for lb in state.labels.values() if lb.parent_id == label.id}
    for lid in doomed:
        state.labels.pop(lid, None)
    for job in state.jobs.values():
        job.tags = [t for t in job.tags if t["label_id"] not in doomed]
        job.shapes = [s for s in job.shapes if s["label_id"] not in doomed]
        job.tracks = [t for t in job.tracks if t["label_id"] not in doomed]


def update_labels(state: State, specs: list[dict[str, Any]], *, project_id: int | None = None,
                  task_id: int | None = None, parent: Label | None = None) -> None:
    """``LabelSerializer.update_labels`` (PATCH of a project or a task)."""
    for spec in specs:
        _update_label(state, spec, project_id=project_id, task_id=task_id, parent=parent)


def _update_label(state: State, spec: dict[str, Any], *, project_id: int | None,
                  task_id: int | None, parent: Label | None) -> None:
    attrs = spec.get("attributes", [])
    _check_attr_names(attrs)
    siblings = [lb for lb in _owner_labels(state, project_id, task_id)
                if lb.parent_id == (parent.id if parent else None)]
    if spec.get("id") is not None:
        label = state.labels.get(spec["id"])
        if label is None or label.project_id != project_id or label.task_id != task_id:
            raise detail(404, "Not found label with id #{} to change".format(spec["id"]))
        new_type = spec.get("type") or label.type
        if "skeleton" not in (label.type, new_type):
            label.type = new_type
        new_name = spec.get("name") or label.name
        if new_name != label.name and any(lb.name == new_name for lb in siblings if lb.id != label.id):
            raise bad_request(["All label names must be unique"])
        label.name = new_name
    else:
        name = spec["name"]
        if any(lb.name == name for lb in siblings):
            raise bad_request(["All label names must be unique"])
        label = Label(id=state.next_id("label"), name=name, color="", type=spec.get("type", "any"),
                      parent_id=parent.id if parent else None, project_id=project_id,
                      task_id=task_id)
        state.labels[label.id] = label
        update_labels(state, spec.get("sublabels", []) or [], project_id=project_id,
                      task_id=task_id, parent=label)
        if label.type == "skeleton":
            label.svg = _rewrite_svg(state, label, spec.get("svg", ""))
    if spec.get("deleted"):
        _delete_label(state, label)
        return
    if not spec.get("color"):
        others = [lb.color for lb in _owner_labels(state, project_id, task_id) if lb.id != label.id]
        label.color = label_color(label.name, others)
    else:
        label.color = spec["color"]
    for attr in attrs:
        existing: AttrSpec | None = None
        if attr.get("id") is not None:
            existing = next((a for a in label.attributes if a.id == attr["id"]), None)
            if existing is None:
                raise detail(404, "Attribute with id #{} does not exist".format(attr["id"]))
        else:
            existing = next((a for a in label.attributes if a.name == attr.get("name")), None)
        if existing is None:
            label.attributes.append(_new_attr(state, attr))
            continue
        existing.name = attr.get("name", existing.name)
        existing.default_value = attr.get("default_value", existing.default_value)
        existing.mutable = attr.get("mutable", existing.mutable)
        existing.input_type = attr.get("input_type", existing.input_type)
        existing.values = attr.get("values", existing.values)


# -- representation ------------------------------------------------------------------------------

def attr_json(attr: AttrSpec) -> dict[str, Any]:
    return {"id": attr.id, "name": attr.name, "mutable": attr.mutable,
            "input_type": attr.input_type, "default_value": attr.default_value,
            "values": list(attr.values)}


def sublabels_of(state: State, label: Label) -> list[Label]:
    return sorted((lb for lb in state.labels.values() if lb.parent_id == label.id),
                  key=lambda lb: lb.id)


def label_json(state: State, label: Label) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": label.id,
        "name": label.name,
        "color": label.color,
        "attributes": [attr_json(a) for a in label.attributes],
        "type": label.type,
        "sublabels": [
            {"id": s.id, "name": s.name, "color": s.color,
             "attributes": [attr_json(a) for a in s.attributes], "type": s.type,
             "has_parent": True}
            for s in sublabels_of(state, label)
        ],
    }
    if label.project_id is not None:
        out["project_id"] = label.project_id
    if label.task_id is not None:
        out["task_id"] = label.task_id
    out["parent_id"] = label.parent_id
    out["has_parent"] = label.parent_id is not None
    if label.type == "skeleton":
        out["svg"] = label.svg or ""
    return out


# -- /api/labels ------------------------------------------------------------------------------

LABEL_SPEC = ListSpec(
    fields={
        "id": lambda lb: lb.id,
        "name": lambda lb: lb.name,
        "type": lambda lb: lb.type,
        "color": lambda lb: lb.color,
        "parent_id": lambda lb: lb.parent_id,
        "parent": lambda lb: None,
    },
    search=("name", "parent"),
    simple=("name", "parent", "type", "color", "parent_id"),
    ordering="id",
)


def _labels_of_owner(ctx: Ctx) -> list[Label] | None:
    from .access import can_view_project, can_view_task

    req = ctx.req
    given = [k for k in ("job_id", "task_id", "project_id") if req.q(k) is not None]
    if len(given) > 1:
        raise bad_request(["job_id, task_id and project_id parameters cannot be used together"])
    if not given:
        return None
    key = given[0]
    try:
        ident = int(req.q(key) or "")
    except ValueError:
        raise bad_request({key: ["A valid integer is required."]}) from None
    state = ctx.state
    if key == "job_id":
        job = state.jobs.get(ident)
        if job is None:
            raise no_match("Job")
        task = state.tasks[job.task_id]
        can_view_task(ctx, task)
        return [lb for lb in state.task_labels(task) if lb.parent_id is None]
    if key == "task_id":
        task_or_none = state.tasks.get(ident)
        if task_or_none is None:
            raise no_match("Task")
        can_view_task(ctx, task_or_none)
        return [lb for lb in state.task_labels(task_or_none) if lb.parent_id is None]
    project = state.projects.get(ident)
    if project is None:
        raise no_match("Project")
    can_view_project(ctx, project)
    return [lb for lb in _owner_labels(state, project.id, None) if lb.parent_id is None]


def list_labels(ctx: Ctx) -> Response:
    from .access import visible_label

    items = _labels_of_owner(ctx)
    if items is None:
        items = [lb for lb in ctx.state.labels.values()
                 if lb.parent_id is None and visible_label(ctx, lb)]
    items = apply_filters(ctx, items, LABEL_SPEC)
    return paginate(ctx, items, lambda lb: label_json(ctx.state, lb))


def _get_label(ctx: Ctx) -> Label:
    from .access import visible_label

    lid = ctx.int_param("id", "Label")
    label = ctx.state.labels.get(lid)
    if label is None or not visible_label(ctx, label):
        raise no_match("Label")
    return label


def get_label(ctx: Ctx) -> Response:
    return json_response(label_json(ctx.state, _get_label(ctx)))


def _touch_owner(ctx: Ctx, label: Label) -> None:
    state = ctx.state
    now = state.now()
    if label.project_id is not None and label.project_id in state.projects:
        state.projects[label.project_id].updated = now
        for task in state.tasks.values():
            if task.project_id == label.project_id:
                task.updated = max(task.updated, now)
                for job in state.task_jobs(task.id):
                    job.updated = max(job.updated, now)
    elif label.task_id is not None and label.task_id in state.tasks:
        state.touch_task(state.tasks[label.task_id], now)
        for job in state.task_jobs(label.task_id):
            job.updated = max(job.updated, now)


def patch_label(ctx: Ctx) -> Response:
    label = _get_label(ctx)
    if label.parent_id is not None:
        raise bad_request(["Sublabels cannot be modified this way. Please send a PATCH request "
                           "with updated parent label data instead."])
    raw = ctx.json_body()
    if raw.get("deleted"):
        raise bad_request({"non_field_errors": [
            "Labels cannot be deleted by updating in this endpoint. Please use the DELETE method "
            "instead."]})
    data = dict(raw)
    data["id"] = label.id
    data.setdefault("name", label.name)
    specs = validate_labels([data])
    update_labels(ctx.state, specs, project_id=label.project_id, task_id=label.task_id)
    _touch_owner(ctx, label)
    return json_response(label_json(ctx.state, ctx.state.labels[label.id]))


def delete_label(ctx: Ctx) -> Response:
    label = _get_label(ctx)
    if label.parent_id is not None:
        raise bad_request(["Sublabels cannot be deleted this way. Please send a PATCH request "
                           "with updated parent label data instead."])
    _touch_owner(ctx, label)
    _delete_label(ctx.state, label)
    return empty(204)


def label_error(message: str) -> ApiError:
    return bad_request([message])
