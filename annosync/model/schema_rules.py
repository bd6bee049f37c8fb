"""``resolve_schema``: the reference's label-schema rules, applied to manifest + observed labels.

Why here (model layer) rather than in ``convert``: the manifest validator sits above ``convert``
in the layer order and must be able to call these rules; they need nothing but pydantic models.
Every violation becomes a located ``Problem`` (JSON path into the manifest's ``label_schema``);
``resolve_schema`` raises them all at once as one ``InputError``, ``check_schema`` returns them.

Rules (FiftyOne's CVAT integration, "Label schema" / "Label attributes" / "Scalar labels" /
occluded and group id sections), plus the checks FiftyOne forgets:

- a new field needs a type and classes (scalars: classes optional; segmentation: mask_targets);
- an existing field's type must match what it stores (detections/instances and
  polylines/polygons are interchangeable; single vs list must match);
- existing labels' classes must be in the class list; class and attribute names <= 64 chars;
- ``label_id`` is reserved; ``mask_targets`` only for segmentation; no attributes on
  segmentation; attributes on scalar fields are ignored (noted);
- at most one ``occluded`` (booleans) and one ``group_id`` (integers) attribute per field/class;
  an attribute named ``occluded`` holding booleans (spatial fields), or ``group_id`` holding
  integers, is linked automatically when its type is inferred, unless a run-wide
  ``occluded_attr`` / ``group_id_attr`` names another attribute; those fill spatial fields (and
  classes) that wire none explicitly, ``group_id_attr`` classification fields too (CVAT tags have
  groups);
- select/radio need values (given or observed), a default must be one of them, values must stay
  distinct as CVAT strings; checkbox holds booleans; number is ``[min, max(, step)]``;
- a class shared by several fields is renamed ``<class>_<field>`` in CVAT for every field that
  has it (as fiftyone/utils/cvat.py ``_build_cvat_schema`` does); a rename that collides with
  another CVAT name is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from annosync.errors import InputError, Location, Problem
from annosync.model.cvat_types import LabelType
from annosync.model.manifest import AttributeSchema, ClassGroup, FieldSchema, SchemaValue
from annosync.model.schema import (
    LABEL_ID_ATTR,
    MAX_NAME_LENGTH,
    SPATIAL_TYPES,
    TAG_TYPES,
    CanonicalType,
    ObservedAttribute,
    ObservedField,
    ResolvedAttribute,
    ResolvedClass,
    ResolvedField,
    ResolvedSchema,
    ValueType,
)

#: An attribute with at most this many distinct observed values becomes a ``select``.
MAX_SELECT_VALUES = 16

#: label_type (as written in a manifest) -> (canonical type, holds a single label)
_CANON: dict[str, tuple[CanonicalType, bool]] = {
    "classification": ("classification", True),
    "classifications": ("classifications", False),
    "detection": ("detections", True),
    "detections": ("detections", False),
    "instance": ("instances", True),
    "instances": ("instances", False),
    "polyline": ("polylines", True),
    "polylines": ("polylines", False),
    "polygon": ("polygons", True),
    "polygons": ("polygons", False),
    "keypoint": ("keypoints", True),
    "keypoints": ("keypoints", False),
    "segmentation": ("segmentation", True),
    "scalar": ("scalar", True),
}
#: Canonical types that store the same model, so declaring one on a field of the other is fine.
_FAMILY: dict[str, str] = {
    "detections": "detections", "instances": "detections",
    "polylines": "polylines", "polygons": "polylines",
    "classification": "classification", "classifications": "classifications",
    "keypoints": "keypoints", "segmentation": "segmentation", "scalar": "scalar",
}
#: CVAT label type hint per canonical type.
_CVAT_TYPE: dict[str, LabelType] = {
    "classification": "tag", "classifications": "tag", "scalar": "tag",
    "detections": "rectangle", "instances": "mask", "polylines": "polyline",
    "polygons": "polygon", "keypoints": "points", "segmentation": "mask",
}


def canonical_type(label_type: str) -> tuple[CanonicalType, bool]:
    """``("detections", True)`` for ``"detection"``; KeyError for an unknown type."""
    return _CANON[label_type]


def value_type_of(value: Any) -> ValueType | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return None


def stringify(value: SchemaValue) -> str:
    """A schema value as CVAT stores it: booleans ``true``/``false`` (CVAT's checkbox spelling),
    numbers as Python writes them (``repr`` of a float parses back to the same float)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _common_type(types: set[str]) -> ValueType | None:
    if len(types) == 1:
        return cast(ValueType, next(iter(types)))
    if types == {"int", "float"}:
        return "float"
    return None


def _sort_key(value: Any) -> tuple[int, Any]:
    order = {"bool": 0, "int": 1, "float": 1, "str": 2}
    return (order.get(value_type_of(value) or "str", 3), value)


class _Rules:
    def __init__(self, observed: Mapping[str, ObservedField] | None, json_root: str) -> None:
        self.observed = observed or {}
        self.root = json_root
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.occluded_attr: str | None = None
        self.group_id_attr: str | None = None
        self.field_type: str | None = None

    def error(self, where: str, message: str) -> None:
        """``where`` is relative to the label schema (``.gt.classes``), or absolute (``$...``)."""
        path = where if where.startswith("$") else f"$.{self.root}{where}"
        self.problems.append(Problem(Location(json_path=path), message))

    # -- one attribute -------------------------------------------------------------------------
    def attribute(
        self, path: str, name: str, spec: AttributeSchema | None, obs: ObservedAttribute | None,
        where: str, auto_link: bool,
    ) -> ResolvedAttribute | None:
        if name == LABEL_ID_ATTR:
            self.error(where, f"attribute name '{LABEL_ID_ATTR}' is reserved: annosync stores each "
                              "label's id in it")
            return None
        if not name:
            self.error(where, "attribute names must not be empty")
            return None
        if len(name) > MAX_NAME_LENGTH:
            self.error(where, f"attribute name {name!r} is longer than CVAT's "
                              f"{MAX_NAME_LENGTH}-character limit")
            return None
        seen: set[str] = set(obs.types) if obs else set()
        kind = spec.type if spec else None
        values = list(spec.values) if spec and spec.values is not None else None
        default = spec.default if spec else None
        if kind is None:
            if obs is None or not obs.count:
                self.error(where, f"attribute {name!r} has no type and field '{path}' has no "
                                  "values of it to infer one from: give its type")
                return None
            kind, inferred = self._infer(name, obs, auto_link)
            if values is None:
                values = inferred
        problems_before = len(self.problems)
        value_type: ValueType | None = None
        if kind == "occluded":
            if seen - {"bool"}:
                self.error(where, f"occluded attribute {name!r} must hold booleans (true/false); "
                                  f"field '{path}' has {', '.join(sorted(seen - {'bool'}))} values")
            value_type = "bool"
            values = None
        elif kind == "group_id":
            if seen - {"int"}:
                self.error(where, f"group_id attribute {name!r} must hold integers; field "
                                  f"'{path}' has {', '.join(sorted(seen - {'int'}))} values")
            value_type = "int"
            values = None
        elif kind == "checkbox":
            if seen - {"bool"}:
                self.error(where, f"checkbox attribute {name!r} must hold booleans; field "
                                  f"'{path}' has {', '.join(sorted(seen - {'bool'}))} values")
            if default is not None and not isinstance(default, bool):
                self.error(where, f"checkbox attribute {name!r}: default must be true or false")
            value_type = "bool"
            values = None
            default = bool(default) if isinstance(default, bool) else False
        elif kind in ("select", "radio"):
            if not values:
                self.error(where, f"{kind} attribute {name!r} needs a list of values")
            else:
                strings = [stringify(v) for v in values]
                if len(set(strings)) != len(strings):
                    self.error(where, f"{kind} attribute {name!r}: values must be distinct as "
                                      f"text (CVAT stores them as strings): {strings}")
                if any(s == "" for s in strings):
                    self.error(where, f"{kind} attribute {name!r}: values must not be empty "
                                      "(CVAT uses an empty value for 'unset')")
                if default is not None and stringify(default) not in strings:
                    self.error(where, f"{kind} attribute {name!r}: default {default!r} is not "
                                      "one of its values")
                if obs is not None and not obs.truncated:
                    missing = [v for v in obs.values if stringify(v) not in strings]
                    if missing:
                        self.error(where, f"{kind} attribute {name!r}: existing labels have "
                                          f"values not in the list: {missing[:5]}")
                value_type = _common_type({value_type_of(v) or "str" for v in values})
        elif kind == "number":
            value_type = self._number(name, values, seen, where)
            if values is None and obs is not None and obs.minimum is not None:
                lo, hi = obs.minimum, obs.maximum
                step: SchemaValue = 1
                if value_type == "int":
                    values = [int(lo), int(hi if hi is not None and hi > lo else lo + 1), 1]
                else:
                    values = [lo, hi if hi is not None and hi > lo else lo + 1, step]
            if values is None:
                self.error(where, f"number attribute {name!r} needs values [min, max] or "
                                  "[min, max, step]")
            elif len(values) == 2:
                values = [*values, 1]
        elif kind == "text":
            value_type = _common_type(seen) if seen else ("str" if obs is None else None)
            values = None
        if len(self.problems) != problems_before:
            return None
        if kind == "text" and spec is not None and spec.values:
            self.notes.append(f"{path}: attribute {name!r} is text; its 'values' are unused")
        return ResolvedAttribute(
            name=name, type=kind, values=values, default=default,
            mutable=spec.mutable if spec else True, read_only=spec.read_only if spec else False,
            value_type=value_type,
        )

    def _number(self, name: str, values: list[SchemaValue] | None, seen: set[str],
                where: str) -> ValueType | None:
        if seen - {"int", "float"}:
            self.error(where, f"number attribute {name!r} must hold numbers; found "
                              f"{', '.join(sorted(seen - {'int', 'float'}))} values")
        if values is None:
            return _common_type(seen) or "int"
        if len(values) not in (2, 3) or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) for v in values
        ):
            self.error(where, f"number attribute {name!r}: values must be [min, max] or "
                              "[min, max, step] numbers")
            return None
        lo, hi = float(values[0]), float(values[1])
        step = float(values[2]) if len(values) == 3 else 1.0
        if not lo < hi:
            self.error(where, f"number attribute {name!r}: min must be less than max")
        if step <= 0:
            self.error(where, f"number attribute {name!r}: step must be positive")
        if "float" in seen or any(isinstance(v, float) for v in values):
            return "float"
        return "int"

    def _infer(self, name: str, obs: ObservedAttribute,
               auto_link: bool) -> tuple[Any, list[SchemaValue] | None]:
        types = set(obs.types)
        # auto-linking by name yields to a run-wide occluded_attr / group_id_attr (the reference
        # lets those fill every field that does not *explicitly* wire one)
        link_occluded = auto_link and name == "occluded" and self.field_type in SPATIAL_TYPES \
            and self.occluded_attr in (None, name)
        link_group = auto_link and name == "group_id" and self.field_type not in (None, "scalar") \
            and self.group_id_attr in (None, name)
        if types == {"bool"}:
            return ("occluded" if link_occluded else "checkbox"), None
        if link_group and types == {"int"}:
            return "group_id", None
        strings = [stringify(v) for v in obs.values]
        if (obs.values and not obs.truncated and len(obs.values) <= MAX_SELECT_VALUES
                and len(set(strings)) == len(strings) and "" not in strings):
            return "select", sorted(obs.values, key=_sort_key)
        if types == {"int"}:
            return "number", None
        return "text", None

    # -- attribute specs (True / False / list / dict) -------------------------------------------
    def attributes(
        self, path: str, spec: Any, obs: ObservedField | None, where: str,
        classes: list[str] | None = None,
    ) -> list[ResolvedAttribute]:
        observed = dict(obs.attributes) if obs else {}
        if classes is not None:
            observed = {
                k: v for k, v in observed.items() if not v.classes or set(v.classes) & set(classes)
            }
        items: list[tuple[str, AttributeSchema | None, bool]] = []
        if spec is True:
            items = [(n, None, True) for n in sorted(observed)]
        elif spec is False or spec is None:
            items = []
        elif isinstance(spec, list):
            for name in spec:
                items.append((name, None, True))
        elif isinstance(spec, dict):
            for name, one in spec.items():
                items.append((name, one, one.type is None))
        out: list[ResolvedAttribute] = []
        for name, one, auto in items:
            res = self.attribute(path, name, one, observed.get(name),
                                 f"{where}.attributes.{name}", auto)
            if res is not None:
                out.append(res)
        return out

    # -- one field -----------------------------------------------------------------------------
    def field(self, path: str, fs: FieldSchema, occluded_attr: str | None,
              group_id_attr: str | None) -> ResolvedField | None:
        where = f".{path}" if path.replace("_", "a").isalnum() else f"[{path!r}]"
        obs = self.observed.get(path)
        existing = obs is not None and obs.existing
        before = len(self.problems)
        kind = self._field_type(path, fs, obs, where)
        if kind is None:
            return None
        ctype, single = kind
        self.field_type = ctype
        if fs.mask_targets is not None and ctype != "segmentation":
            self.error(f"{where}.mask_targets", f"mask_targets only apply to segmentation fields; "
                                                f"'{path}' is {ctype}")
        rf = ResolvedField(
            path=path, type=ctype, single=single, existing=existing,
            read_only=fs.read_only, cvat_type=_CVAT_TYPE[ctype],
            allow_additions=fs.allow_additions is not False,
            allow_deletions=fs.allow_deletions is not False,
            allow_label_edits=fs.allow_label_edits is not False,
            allow_index_edits=fs.allow_index_edits is not False,
            allow_spatial_edits=fs.allow_spatial_edits is not False,
        )
        if ctype == "scalar":
            self._scalar(rf, fs, obs, where)
        elif ctype == "segmentation":
            self._segmentation(rf, fs, obs, where)
        else:
            self._classes(rf, fs, obs, where, occluded_attr, group_id_attr)
            if ctype == "instances" and obs is not None and obs.unmasked:
                rf.cvat_type = "any"  # boxes without masks must stay drawable as rectangles
            if ctype == "detections" and obs is not None and obs.masks:
                self.notes.append(f"{path}: label type 'detections' uploads boxes only; the "
                                  f"{obs.masks} instance mask(s) are neither sent nor changed")
        return rf if len(self.problems) == before else None

    def _field_type(self, path: str, fs: FieldSchema, obs: ObservedField | None,
                    where: str) -> tuple[CanonicalType, bool] | None:
        declared = _CANON[fs.type] if fs.type else None
        stored: tuple[CanonicalType, bool] | None = None
        if obs is not None and obs.kinds:
            kinds = set(obs.kinds)
            if len(kinds) > 1:
                self.error(f"{where}", f"field '{path}' holds different kinds of values "
                                       f"({', '.join(sorted(kinds))}); one field, one label type")
                return None
            stored = self._stored_type(next(iter(kinds)), obs)
        if declared is None and stored is None:
            self.error(f"{where}.type", f"'{path}' is a new field: give its label type "
                                        "(classification, detections, polylines, ...)")
            return None
        if declared is not None and stored is not None:
            if _FAMILY[declared[0]] != _FAMILY[stored[0]]:
                self.error(f"{where}.type", f"field '{path}' stores {stored[0]} but its label "
                                            f"type is {fs.type}")
                return None
            if declared[1] != stored[1] and stored[0] not in ("segmentation", "scalar"):
                one = "one label per sample" if stored[1] else "a list of labels"
                self.error(f"{where}.type", f"field '{path}' stores {one} but its label type is "
                                            f"{fs.type!r}")
                return None
            return declared
        return declared or stored

    @staticmethod
    def _stored_type(kind: str, obs: ObservedField) -> tuple[CanonicalType, bool]:
        if kind in ("detection", "detections"):
            ctype: CanonicalType = "instances" if obs.masks else "detections"
            return ctype, kind == "detection"
        if kind in ("polyline", "polylines"):
            ctype = "polygons" if obs.filled and all(obs.filled) else "polylines"
            return ctype, kind == "polyline"
        if kind == "scalar":
            return "scalar", True
        return _CANON[kind]

    def _scalar(self, rf: ResolvedField, fs: FieldSchema, obs: ObservedField | None,
                where: str) -> None:
        if fs.attributes not in (True, False) and fs.attributes:
            self.notes.append(f"{rf.path}: attributes are unused for scalar fields (ignored)")
        types: set[str] = set(obs.scalar_types) if obs else set()
        rf.scalar_type = _common_type(types) if types else None
        if fs.classes is not None:
            names: list[str] = []
            for i, item in enumerate(fs.classes):
                if isinstance(item, ClassGroup):
                    self.error(f"{where}.classes[{i}]", "scalar fields take a plain list of "
                                                        "classes (no per-class attributes)")
                    continue
                names.append(item)
            self._check_class_names(rf.path, names, f"{where}.classes")
            rf.classes = [ResolvedClass(name=n, cvat_name=n) for n in names]
            if obs is not None and obs.scalar_values:
                have = {stringify(n) for n in names}
                missing = [v for v in obs.scalar_values if stringify(v) not in have]
                if missing:
                    self.error(f"{where}.classes", f"field '{rf.path}' has values not in its "
                                                   f"classes: {missing[:5]}")
            if rf.scalar_type is None:
                rf.scalar_type = "str"
        else:
            rf.value_cvat_name = rf.path

    def _segmentation(self, rf: ResolvedField, fs: FieldSchema, obs: ObservedField | None,
                      where: str) -> None:
        if fs.attributes not in (True, False) and fs.attributes:
            self.error(f"{where}.attributes", "segmentation fields take no attributes (a mask "
                                              "has no per-object attributes in CVAT)")
        targets = fs.mask_targets
        if targets is None:
            if obs is None or not obs.existing:
                self.error(f"{where}.mask_targets", f"'{rf.path}' is a new segmentation field: "
                                                    "give its mask_targets ({value: class})")
                return
            targets = {v: str(v) for v in obs.mask_values if v != 0}
            self.notes.append(f"{rf.path}: no mask_targets; pixel values are used as classes")
        bad = [v for v in targets if not isinstance(v, int) or v < 0]
        if bad:
            self.error(f"{where}.mask_targets", f"mask target keys must be pixel values >= 0: {bad}")
            return
        names = [targets[v] for v in sorted(targets) if v != 0]
        self._check_class_names(rf.path, names, f"{where}.mask_targets")
        if fs.classes is not None:
            self.notes.append(f"{rf.path}: classes of a segmentation field come from its "
                              "mask_targets (classes ignored)")
        if obs is not None:
            unknown = [v for v in obs.mask_values if v != 0 and v not in targets]
            if unknown:
                self.error(f"{where}.mask_targets", f"masks of '{rf.path}' have pixel values "
                                                    f"without a target: {unknown[:10]}")
        rf.mask_targets = dict(sorted(targets.items()))
        rf.classes = [ResolvedClass(name=n, cvat_name=n) for n in names]

    def _check_class_names(self, path: str, names: list[str], where: str) -> None:
        seen: set[str] = set()
        for name in names:
            if not name:
                self.error(where, f"field '{path}': class names must not be empty")
            elif name in seen:
                self.error(where, f"field '{path}': class {name!r} is listed twice")
            elif len(name) > MAX_NAME_LENGTH:
                self.error(where, f"field '{path}': class name {name!r} is longer than CVAT's "
                                  f"{MAX_NAME_LENGTH}-character limit")
            seen.add(name)

    def _classes(self, rf: ResolvedField, fs: FieldSchema, obs: ObservedField | None, where: str,
                 occluded_attr: str | None, group_id_attr: str | None) -> None:
        if fs.classes is None:
            if obs is None or not obs.existing:
                self.error(f"{where}.classes", f"'{rf.path}' is a new field: give its classes")
                return
            names = list(obs.classes)
            self._check_class_names(rf.path, names, f"{where}.classes")
        else:
            # a class may appear in several groups (it gets the attributes of each); a plain
            # name listed twice is a mistake
            plain = [c for c in fs.classes if isinstance(c, str)]
            self._check_class_names(rf.path, plain, f"{where}.classes")
            grouped = [n for c in fs.classes if isinstance(c, ClassGroup) for n in c.classes]
            self._check_class_names(rf.path, sorted(set(grouped) - set(plain)),
                                    f"{where}.classes")
            names = list(dict.fromkeys(n for c in fs.classes
                                       for n in ([c] if isinstance(c, str) else c.classes)))
        if obs is not None:
            missing = [c for c in obs.classes if c not in names]
            if missing:
                self.error(f"{where}.classes", f"field '{rf.path}' has labels of classes not in "
                                               f"its class list: {missing[:10]}")
        shared = self.attributes(rf.path, fs.attributes, obs, where)
        per_class: dict[str, list[ResolvedAttribute]] = {}
        for i, item in enumerate(fs.classes or []):
            if isinstance(item, ClassGroup):
                group = self.attributes(rf.path, item.attributes, obs,
                                        f"{where}.classes[{i}]", classes=item.classes)
                for cls in item.classes:
                    per_class.setdefault(cls, []).extend(group)
        for cls in names:
            attrs = {a.name: a for a in shared}
            for a in per_class.get(cls, []):
                attrs[a.name] = a
            resolved = list(attrs.values())
            self._wire(rf, cls, resolved, obs, where, occluded_attr, group_id_attr)
            rf.classes.append(ResolvedClass(name=cls, cvat_name=cls, attributes=resolved))

    def _wire(self, rf: ResolvedField, cls: str, attrs: list[ResolvedAttribute],
              obs: ObservedField | None, where: str, occluded_attr: str | None,
              group_id_attr: str | None) -> None:
        for kind, run_wide in (("occluded", occluded_attr), ("group_id", group_id_attr)):
            wired = [a.name for a in attrs if a.type == kind]
            if len(wired) > 1:
                self.error(f"{where}.attributes", f"field '{rf.path}', class {cls!r}: at most one "
                                                  f"{kind} attribute (found {wired})")
            if kind == "occluded" and wired and rf.type in TAG_TYPES:
                self.error(f"{where}.attributes", f"field '{rf.path}' is {rf.type}: CVAT tags have "
                                                  "no occluded flag")
            takes = rf.type in SPATIAL_TYPES or (
                kind == "group_id" and rf.type in ("classification", "classifications"))
            if not wired and run_wide and takes:
                if any(a.name == run_wide for a in attrs):
                    # an attribute of that name is already sent: wire it instead
                    attrs[:] = [a for a in attrs if a.name != run_wide]
                obs_attr = obs.attributes.get(run_wide) if obs else None
                spec = AttributeSchema(type=kind)
                res = self.attribute(rf.path, run_wide, spec, obs_attr,
                                     f"$.cvat.{kind}_attr", auto_link=False)
                if res is not None:
                    attrs.append(res)


def _disambiguate(rules: _Rules, fields: dict[str, ResolvedField]) -> None:
    """Rename classes shared by several fields to ``<class>_<field>`` (FiftyOne's rule)."""
    owners: dict[str, list[str]] = {}
    for rf in fields.values():
        names = [c.name for c in rf.classes] or ([rf.path] if rf.scalar_as_value else [])
        for name in names:
            owners.setdefault(name, []).append(rf.path)
    shared = {n for n, paths in owners.items() if len(paths) > 1}
    taken: dict[str, str] = {}
    for rf in fields.values():
        for cls in rf.classes:
            if cls.name in shared:
                cls.cvat_name = f"{cls.name}_{rf.path}"
        if rf.scalar_as_value and rf.path in shared:
            rf.value_cvat_name = f"{rf.path}_{rf.path}"
        cvat_names = [c.cvat_name for c in rf.classes]
        if rf.value_cvat_name:
            cvat_names.append(rf.value_cvat_name)
        renamed = {c.cvat_name for c in rf.classes if c.cvat_name != c.name}
        if rf.value_cvat_name and rf.value_cvat_name != rf.path:
            renamed.add(rf.value_cvat_name)
        for name in cvat_names:
            where = (f".{rf.path}" if rf.path.replace("_", "a").isalnum()
                     else f"[{rf.path!r}]") + ".classes"
            if name in renamed and len(name) > MAX_NAME_LENGTH:
                rules.error(where, f"CVAT label name {name!r} is longer than CVAT's "
                                   f"{MAX_NAME_LENGTH}-character limit")
            if name in taken and taken[name] != rf.path:
                rules.error(where, f"CVAT label name {name!r} of field '{rf.path}' collides with "
                                   f"one of field '{taken[name]}' (after renaming shared classes "
                                   "to <class>_<field>); rename a class")
            taken[name] = rf.path


def _schema(field_schemas: Mapping[str, FieldSchema], observed: Mapping[str, ObservedField] | None,
            occluded_attr: str | None, group_id_attr: str | None,
            json_root: str, disambiguate: bool = True) -> tuple[ResolvedSchema, list[Problem]]:
    rules = _Rules(observed, json_root)
    rules.occluded_attr, rules.group_id_attr = occluded_attr, group_id_attr
    fields: dict[str, ResolvedField] = {}
    for path, fs in field_schemas.items():
        rf = rules.field(path, fs, occluded_attr, group_id_attr)
        if rf is not None:
            fields[path] = rf
    if disambiguate:
        _disambiguate(rules, fields)
    for obs in (observed or {}).values():
        rules.notes.extend(f"{obs.path}: {n}" for n in obs.notes)
    schema = ResolvedSchema(fields=fields, occluded_attr=occluded_attr,
                            group_id_attr=group_id_attr, notes=rules.notes)
    return schema, rules.problems


def check_schema(
    field_schemas: Mapping[str, FieldSchema],
    observed: Mapping[str, ObservedField] | None = None,
    occluded_attr: str | None = None,
    group_id_attr: str | None = None,
    *,
    json_root: str = "label_schema",
) -> list[Problem]:
    """Every schema violation, located by JSON path under ``json_root`` (nothing raised)."""
    return _schema(field_schemas, observed, occluded_attr, group_id_attr, json_root)[1]


def resolve_schema(
    field_schemas: Mapping[str, FieldSchema],
    observed: Mapping[str, ObservedField] | None = None,
    occluded_attr: str | None = None,
    group_id_attr: str | None = None,
    *,
    json_root: str = "label_schema",
    disambiguate: bool = True,
) -> ResolvedSchema:
    """The explicit schema for a run (see the module docstring for the rules).

    ``field_schemas`` is ``Manifest.field_schemas()``; ``observed`` maps field paths to what
    ``annosync.convert.infer`` saw on the selected samples (missing = new field). Raises one
    ``InputError`` carrying every problem found. ``disambiguate=False`` keeps class names as they
    are (an existing project's labels are shared by the run's fields on purpose).
    """
    schema, problems = _schema(field_schemas, observed, occluded_attr, group_id_attr, json_root,
                               disambiguate)
    if problems:
        raise InputError(problems)
    return schema
