"""The resolved schema bound to a server's labels: CVAT label id <-> (field, class), spec id <->
attribute. Serializable, so the reconciler can store it with the task it describes.

Why a binding step: CVAT answers in ids (``label_id``, ``spec_id``) that exist only once the
labels were created, and differ per project/task. ``bind`` matches by name (labels by CVAT name,
attributes by name), as ``GET /api/labels?task_id=`` returns them.

An *existing project* brings its own labels (the reference's "uploading to existing projects":
classes and attributes come from the project, the manifest only names the fields and their
types). ``schema_from_project`` builds the resolved schema from those labels; every project label
is then a class of every (non-scalar) field, and a CVAT object is routed to the field whose label
type accepts its shape (each field of such a run must have a different label type, as in the
reference).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from annosync.convert.attrs import parse_number
from annosync.errors import InputError, Location, Problem
from annosync.model.cvat import LabelSpec, LabelType
from annosync.model.manifest import AttributeSchema, ClassGroup, FieldSchema, SchemaValue
from annosync.model.schema import (
    LABEL_ID_ATTR,
    ObservedField,
    ResolvedAttribute,
    ResolvedClass,
    ResolvedField,
    ResolvedSchema,
)
from annosync.model.schema_rules import canonical_type, resolve_schema, value_type_of

#: Which CVAT object kinds (shape types, or "tag") each field type takes.
ACCEPTS: dict[str, frozenset[str]] = {
    "classification": frozenset({"tag"}),
    "classifications": frozenset({"tag"}),
    "scalar": frozenset({"tag"}),
    "detections": frozenset({"rectangle", "mask", "polygon"}),
    "instances": frozenset({"rectangle", "mask", "polygon"}),
    "polylines": frozenset({"polyline", "polygon"}),
    "polygons": frozenset({"polygon", "polyline"}),
    "keypoints": frozenset({"points"}),
    "segmentation": frozenset({"mask", "polygon"}),
}
#: Shapes a field type holds without loss though it would not draw them (second choice).
LOSSLESS: dict[str, frozenset[str]] = {
    "detections": frozenset({"mask"}), "instances": frozenset({"rectangle"}),
    "polylines": frozenset({"polygon"}), "polygons": frozenset({"polyline"}),
}
#: The natural shape of each field type (first choice when routing a shared project label).
NATURAL: dict[str, frozenset[str]] = {
    "classification": frozenset({"tag"}), "classifications": frozenset({"tag"}),
    "scalar": frozenset({"tag"}), "detections": frozenset({"rectangle"}),
    "instances": frozenset({"mask"}), "polylines": frozenset({"polyline"}),
    "polygons": frozenset({"polygon"}), "keypoints": frozenset({"points"}),
    "segmentation": frozenset({"mask"}),
}


class Target(BaseModel):
    """Where a CVAT label's objects go: a field and a class (None: a scalar ``value`` label)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    field: str
    cls: str | None = None


class BoundLabel(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    id: int
    name: str
    type: LabelType = "any"
    targets: list[Target] = Field(default_factory=list)
    specs: dict[str, int] = Field(default_factory=dict, description="attribute name -> spec id")

    @property
    def label_id_spec(self) -> int | None:
        return self.specs.get(LABEL_ID_ATTR)


class BoundSchema(BaseModel):
    """A resolved schema plus the server's ids for its labels and attributes."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    resolved: ResolvedSchema
    labels: list[BoundLabel] = Field(default_factory=list)
    missing: list[str] = Field(
        default_factory=list, description="CVAT label names the schema needs but the server lacks"
    )
    _by_id: dict[int, BoundLabel] = PrivateAttr(default_factory=dict)
    _by_target: dict[tuple[str, str | None], BoundLabel] = PrivateAttr(default_factory=dict)

    def model_post_init(self, __context: Any) -> None:
        for label in self.labels:
            self._by_id[label.id] = label
            for t in label.targets:
                self._by_target.setdefault((t.field, t.cls), label)

    def label(self, cvat_id: int) -> BoundLabel | None:
        return self._by_id.get(cvat_id)

    def label_for(self, field: str, cls: str | None) -> BoundLabel | None:
        return self._by_target.get((field, cls))

    def field(self, path: str) -> ResolvedField:
        return self.resolved.fields[path]

    def route(self, label: BoundLabel, kind: str,
              fields: Iterable[str] | None = None) -> Target | None:
        """The target of an object of ``kind`` (a shape type or ``"tag"``) with this label: the
        field that naturally holds it, else one that holds it without loss (a polygon in a
        polylines field), else one that accepts it at all (a polygon rasterised into an instance
        mask), else None (unexpected)."""
        wanted = set(fields) if fields is not None else None
        options = [t for t in label.targets if wanted is None or t.field in wanted]
        for table in (NATURAL, LOSSLESS, ACCEPTS):
            for t in options:
                if kind in table.get(self.resolved.fields[t.field].type, frozenset()):
                    return t
        return None


def _as_label(value: LabelSpec | Mapping[str, Any]) -> LabelSpec:
    return value if isinstance(value, LabelSpec) else LabelSpec.model_validate(value)


def bind(schema: ResolvedSchema,
         server_labels: Iterable[LabelSpec | Mapping[str, Any]]) -> BoundSchema:
    """Match the schema's CVAT names with the server's labels (ids from ``GET /api/labels``)."""
    targets: dict[str, list[Target]] = {}
    for rf in schema.fields.values():
        if rf.scalar_as_value and rf.value_cvat_name:
            targets.setdefault(rf.value_cvat_name, []).append(Target(field=rf.path))
        for cls in rf.classes:
            targets.setdefault(cls.cvat_name, []).append(Target(field=rf.path, cls=cls.name))
    labels: list[BoundLabel] = []
    seen: set[str] = set()
    for raw in server_labels:
        spec = _as_label(raw)
        if spec.id is None or spec.parent_id is not None:
            continue
        seen.add(spec.name)
        labels.append(BoundLabel(
            id=spec.id, name=spec.name, type=spec.type, targets=targets.get(spec.name, []),
            specs={a.name: a.id for a in spec.attributes if a.id is not None},
        ))
    missing = [name for name in targets if name not in seen]
    return BoundSchema(resolved=schema, labels=labels, missing=missing)


# -- existing projects ---------------------------------------------------------------------------
def _coerce(values: Sequence[str], observed: Sequence[Any]) -> list[SchemaValue]:
    """Spec strings as the observed Python type, when every one of them parses as it."""
    types = {value_type_of(v) for v in observed} - {None}
    out: list[SchemaValue] = []
    if types == {"int"} and all(parse_number(v, True) is not None and "." not in v
                                for v in values):
        out = [int(v) for v in values]
    elif types <= {"int", "float"} and types and all(parse_number(v, False) is not None
                                                     for v in values):
        out = [float(v) for v in values]
    elif types == {"bool"} and all(v in ("true", "false", "True", "False") for v in values):
        out = [v in ("true", "True") for v in values]
    else:
        out = list(values)
    return out


def _attribute_schema(spec: Any, observed: Sequence[Any]) -> AttributeSchema:
    kind = spec.input_type
    values: list[SchemaValue] | None = None
    default: SchemaValue | None = None
    if kind in ("select", "radio"):
        values = _coerce([v for v in spec.values if v != ""], observed)
        if spec.default_value:
            default = _coerce([spec.default_value], observed)[0]
    elif kind == "number":
        nums = [parse_number(v, True) for v in spec.values]
        if len(nums) == 3 and all(n is not None for n in nums):
            values = [n for n in nums if n is not None]
    elif kind == "checkbox":
        default = spec.default_value == "true"
    elif spec.default_value:
        default = spec.default_value
    return AttributeSchema(type=kind, values=values, default=default, mutable=spec.mutable)


def schema_from_project(
    project_labels: Iterable[LabelSpec | Mapping[str, Any]],
    field_schemas: Mapping[str, FieldSchema],
    observed: Mapping[str, ObservedField] | None = None,
    occluded_attr: str | None = None,
    group_id_attr: str | None = None,
) -> ResolvedSchema:
    """The resolved schema of a run uploading to an existing project: classes and attributes
    from the project's labels (``classes`` / ``attributes`` in the manifest are ignored, as in the
    reference); ``occluded_attr`` / ``group_id_attr`` wire the shapes' flags.
    Raises ``InputError`` if two fields would compete for the same shapes."""
    labels = [s for s in (_as_label(x) for x in project_labels) if s.parent_id is None]
    problems: list[Problem] = []
    families: dict[str, str] = {}
    rewritten: dict[str, FieldSchema] = {}
    for path, fs in field_schemas.items():
        obs = (observed or {}).get(path)
        kind = fs.type or _observed_kind(obs)
        if kind is None:
            problems.append(Problem(Location(json_path=f"$.label_schema['{path}'].type"),
                                    f"'{path}' is a new field: give its label type"))
            continue
        ctype, _ = canonical_type(kind)
        family: str = "tag" if ctype in ("classification", "classifications", "scalar") else ctype
        family = {"instances": "detections", "polygons": "polylines"}.get(family, family)
        if family in families and ctype != "scalar":
            problems.append(Problem(
                Location(json_path=f"$.label_schema['{path}']"),
                f"fields '{families[family]}' and '{path}' both take {family} shapes; with an "
                "existing project (shared labels) each field needs a different label type"))
            continue
        if ctype != "scalar":
            families[family] = path
        copy = fs.model_copy(deep=True)
        if ctype == "scalar":
            rewritten[path] = copy
            continue
        obs_attrs = obs.attributes if obs else {}
        groups: list[str | ClassGroup] = []
        for label in labels:
            attrs = {a.name: _attribute_schema(a, obs_attrs[a.name].values if a.name in obs_attrs
                                               else [])
                     for a in label.attributes if a.name != LABEL_ID_ATTR}
            groups.append(ClassGroup(classes=[label.name], attributes=attrs))
        copy.classes = groups
        copy.attributes = {}
        copy.mask_targets = None if ctype != "segmentation" else copy.mask_targets
        rewritten[path] = copy
    if problems:
        raise InputError(problems)
    schema = resolve_schema(rewritten, observed, occluded_attr, group_id_attr, disambiguate=False)
    for rf in schema.fields.values():  # project names are what they are: no renaming
        for cls in rf.classes:
            cls.cvat_name = cls.name
        if rf.value_cvat_name:
            rf.value_cvat_name = rf.path
        rf.cvat_type = "any"
    schema.from_project = True
    return schema


def _observed_kind(obs: ObservedField | None) -> str | None:
    if obs is None or len(obs.kinds) != 1:
        return None
    kind = obs.kinds[0]
    if kind in ("detection", "detections") and obs.masks:
        return "instances" if kind == "detections" else "instance"
    if kind in ("polyline", "polylines") and obs.filled and all(obs.filled):
        return "polygons" if kind == "polylines" else "polygon"
    return kind


def class_attribute(schema: ResolvedSchema, field: str, cls: str | None,
                    name: str) -> ResolvedAttribute | None:
    rf = schema.fields.get(field)
    if rf is None or cls is None:
        return None
    rc: ResolvedClass | None = rf.class_by_name(cls)
    return rc.attribute(name) if rc else None
