"""The rules of the reference that a manifest (and the samples it selects) must satisfy.

Every rule is a pure function of a ``RuleContext`` (the loaded manifest, its folded field
schemas, and a ``DatasetFacts`` summary of the selected samples, or None when the dataset could
not be read) yielding located ``Problem``s. ``RULES`` lists them all, with a one-line summary;
``check_run`` applies them. The text of the reference each rule enforces is quoted in its
docstring.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from annosync.errors import Problem
from annosync.manifest.load import LoadedManifest
from annosync.manifest.observe import DatasetFacts, FieldFacts
from annosync.model.labels import NAME_PATTERN
from annosync.model.manifest import (
    RESERVED_ATTRIBUTES,
    AttributeSchema,
    ClassGroup,
    FieldSchema,
    Restrictions,
)

Loc = tuple[Any, ...]

#: label_type -> the ``_type`` stored on disk for it.
STORED_KIND = {
    "classification": "classification",
    "classifications": "classifications",
    "detection": "detection",
    "detections": "detections",
    "instance": "detection",
    "instances": "detections",
    "polyline": "polyline",
    "polylines": "polylines",
    "polygon": "polyline",
    "polygons": "polylines",
    "keypoint": "keypoint",
    "keypoints": "keypoints",
    "segmentation": "segmentation",
}
SPATIAL_TYPES = {
    "detection", "detections", "instance", "instances", "polyline", "polylines", "polygon",
    "polygons", "keypoint", "keypoints",
}
VALUE_TYPES = {"select", "radio"}
NO_VALUE_TYPES = {"text", "checkbox", "occluded", "group_id", "number"}
_FIELD_NAME = re.compile(NAME_PATTERN)
MAX_MASK_TARGET = 255


@dataclass
class RuleContext:
    run: LoadedManifest
    schemas: dict[str, FieldSchema]
    facts: DatasetFacts | None

    @property
    def m(self) -> Any:
        return self.run.manifest

    def p(self, loc: Loc, message: str, severity: str = "error") -> Problem:
        return self.run.problem(loc, message, severity)

    # -- where a field's settings were written --------------------------------------------------
    def field_loc(self, name: str, part: str | None = None) -> Loc:
        """The manifest location of ``part`` (type, classes, ...) of field ``name``."""
        m = self.m
        shorthand = {"type": "label_type"}
        if m.label_schema is not None and name in m.label_schema:
            spec = m.label_schema[name]
            if part is None:
                return ("label_schema", name)
            if part in spec.model_fields_set:
                return ("label_schema", name, part)
            if part in m.model_fields_set and part in ("classes", "attributes"):
                return (part,)
            if part in Restrictions.model_fields and part in m.model_fields_set:
                return (part,)
            return ("label_schema", name)
        if part is None:
            return ("label_field",)
        key = shorthand.get(part, part)
        return (key,) if key in m.model_fields_set else ("label_field",)

    def field_type(self, name: str) -> str | None:
        """Declared label type, else the one the existing labels imply (None if unknown)."""
        spec = self.schemas[name]
        if spec.type is not None:
            return spec.type
        facts = self.existing(name)
        if facts is None or len(facts.kinds) != 1:
            return None
        (kind,) = facts.kinds
        if kind.startswith("scalar:"):
            return "scalar"
        if kind in ("detections", "detection") and facts.masks:
            return "instances" if kind == "detections" else "instance"
        if kind in ("polylines", "polyline") and facts.filled == {True}:
            return "polygons" if kind == "polylines" else "polygon"
        return kind

    def existing(self, name: str) -> FieldFacts | None:
        if self.facts is None or not self.facts.readable:
            return None
        return self.facts.fields.get(name)

    def is_new(self, name: str) -> bool:
        return self.facts is not None and self.facts.readable and name not in self.facts.fields


Rule = Callable[[RuleContext], Iterator[Problem]]
RULES: list[tuple[str, str, Rule]] = []


def rule(code: str, summary: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES.append((code, summary, fn))
        return fn

    return register


def _attribute_specs(spec: FieldSchema) -> Iterator[tuple[Loc, list[str] | None, str, Any]]:
    """(location suffix, classes scope or None, name, spec or None) of declared attributes."""
    attrs = spec.attributes
    if isinstance(attrs, dict):
        for name, a in attrs.items():
            yield ("attributes", name), None, name, a
    elif isinstance(attrs, list):
        for i, name in enumerate(attrs):
            yield ("attributes", i), None, name, None
    for i, item in enumerate(spec.classes or []):
        if isinstance(item, ClassGroup):
            if isinstance(item.attributes, dict):
                for name, a in item.attributes.items():
                    yield ("classes", i, "attributes", name), item.classes, name, a
            elif isinstance(item.attributes, list):
                for j, name in enumerate(item.attributes):
                    yield ("classes", i, "attributes", j), item.classes, name, None


def _attr_loc(ctx: RuleContext, name: str, suffix: Loc) -> Loc:
    base = ctx.field_loc(name, suffix[0])
    if base and base[-1] == suffix[0]:
        return base + suffix[1:]
    return base


# -- manifest-only rules --------------------------------------------------------------------------


@rule("nothing-to-annotate", "a run needs label fields (or an existing project to inherit from)")
def _nothing(ctx: RuleContext) -> Iterator[Problem]:
    m = ctx.m
    if not ctx.schemas and m.cvat.project_name is None and m.cvat.project_id is None:
        yield ctx.p((), "nothing to annotate: give label_field (with label_type and classes for "
                    "a new field) or label_schema, or upload to an existing CVAT project with "
                    "cvat.project_name / cvat.project_id")


@rule("shorthand-ignored", "label_field/label_type/mask_targets are ignored next to label_schema")
def _shorthand(ctx: RuleContext) -> Iterator[Problem]:
    m = ctx.m
    if m.label_schema is not None:
        for key in ("label_field", "label_type", "mask_targets"):
            if key in m.model_fields_set and getattr(m, key) is not None:
                yield ctx.p((key,), f"ignored: label_schema is given and takes precedence over "
                            f"{key}", "warning")
    elif m.label_field is None:
        for key in ("label_type", "mask_targets"):
            if getattr(m, key) is not None:
                yield ctx.p((key,), f"ignored: {key} applies to label_field, which is not set",
                            "warning")


@rule("field-name", "field names are identifiers, 'frames.<name>' for video frame fields")
def _field_names(ctx: RuleContext) -> Iterator[Problem]:
    for name in ctx.schemas:
        bare = name[len("frames."):] if name.startswith("frames.") else name
        if not _FIELD_NAME.match(bare) or bare == "frames":
            yield ctx.p(ctx.field_loc(name), f"invalid field name {name!r}: use letters, digits, "
                        "'_' or '-' (not starting with a digit), with a 'frames.' prefix for "
                        "frame-level fields")


@rule("reserved-attribute", "'label_id' is reserved (it carries label ids through CVAT)")
def _reserved(ctx: RuleContext) -> Iterator[Problem]:
    for name, spec in ctx.schemas.items():
        for suffix, _, attr, _ in _attribute_specs(spec):
            if attr in RESERVED_ATTRIBUTES:
                yield ctx.p(_attr_loc(ctx, name, suffix), f"{attr!r} is a reserved attribute "
                            "name: annosync stores each label's id in CVAT under it")
    for key in ("occluded_attr", "group_id_attr"):
        if getattr(ctx.m.cvat, key) in RESERVED_ATTRIBUTES:
            yield ctx.p(("cvat", key), f"{getattr(ctx.m.cvat, key)!r} is a reserved attribute "
                        "name: annosync stores each label's id in CVAT under it")


def _one_of_type(ctx: RuleContext, kind: str, what: str) -> Iterator[Problem]:
    for name, spec in ctx.schemas.items():
        field_level: list[Loc] = []
        by_group: dict[int, list[Loc]] = {}
        for suffix, scope, _, a in _attribute_specs(spec):
            if isinstance(a, AttributeSchema) and a.type == kind:
                if scope is None:
                    field_level.append(suffix)
                else:
                    by_group.setdefault(int(suffix[1]), []).append(suffix)
        if len(field_level) > 1:
            yield ctx.p(_attr_loc(ctx, name, field_level[1]),
                        f"at most one attribute of a field may have type {kind!r} ({what})")
        for found in by_group.values():
            if len(field_level) + len(found) > 1:
                yield ctx.p(_attr_loc(ctx, name, found[-1]),
                            f"at most one attribute per class may have type {kind!r} ({what}); "
                            "this class group already has one"
                            + (" from the field's attributes" if field_level else ""))


@rule("one-occluded", "at most one 'occluded' attribute per field/class")
def _one_occluded(ctx: RuleContext) -> Iterator[Problem]:
    yield from _one_of_type(ctx, "occluded", "CVAT's occlusion widget")


@rule("one-group-id", "at most one 'group_id' attribute per field/class")
def _one_group(ctx: RuleContext) -> Iterator[Problem]:
    yield from _one_of_type(ctx, "group_id", "CVAT's group id")


@rule("attribute-values", "select/radio need values; default must be one of them; no repeats")
def _values(ctx: RuleContext) -> Iterator[Problem]:
    for name, spec in ctx.schemas.items():
        for suffix, _, attr, a in _attribute_specs(spec):
            if not isinstance(a, AttributeSchema) or a.type is None:
                continue
            loc = _attr_loc(ctx, name, suffix)
            if a.type in VALUE_TYPES:
                if not a.values:
                    yield ctx.p((*loc, "type"), f"attribute {attr!r} of type {a.type!r} needs "
                                "'values' (the options to choose from)")
                    continue
                repeated = sorted({repr(v) for v in a.values if a.values.count(v) > 1})
                if repeated:
                    yield ctx.p((*loc, "values"), f"repeated value(s) {', '.join(repeated)}")
                if a.default is not None and a.default not in a.values:
                    yield ctx.p((*loc, "default"), f"default {a.default!r} is not one of the "
                                f"values {a.values!r}")
            elif a.values is not None:
                yield ctx.p((*loc, "values"), f"'values' are unused for type {a.type!r}",
                            "warning")
            if a.type in ("checkbox", "occluded") and a.default is not None \
                    and not isinstance(a.default, bool):
                yield ctx.p((*loc, "default"), f"the default of a {a.type!r} attribute must be "
                            "true or false")
            if a.type == "group_id" and a.default is not None and (
                    isinstance(a.default, bool) or not isinstance(a.default, int)):
                yield ctx.p((*loc, "default"), "the default of a 'group_id' attribute must be "
                            "an integer")


@rule("spatial-widgets", "occluded/group_id attributes need a spatial label type")
def _spatial_widgets(ctx: RuleContext) -> Iterator[Problem]:
    for name, spec in ctx.schemas.items():
        kind = ctx.field_type(name)
        if kind is None or kind in SPATIAL_TYPES:
            continue
        for suffix, _, attr, a in _attribute_specs(spec):
            if isinstance(a, AttributeSchema) and a.type in ("occluded", "group_id"):
                yield ctx.p((*_attr_loc(ctx, name, suffix), "type"),
                            f"attribute {attr!r}: type {a.type!r} needs a spatial label type "
                            f"(detections, polylines, keypoints, ...), not {kind!r}")


@rule("mask-targets", "mask_targets only for segmentation; pixel values 0..255, names unique")
def _mask_targets(ctx: RuleContext) -> Iterator[Problem]:
    for name, spec in ctx.schemas.items():
        if not spec.mask_targets:
            continue
        loc = ctx.field_loc(name, "mask_targets")
        kind = ctx.field_type(name)
        if kind is not None and kind != "segmentation":
            yield ctx.p(loc, f"mask_targets only apply to segmentation fields; {name!r} is "
                        f"{kind!r}")
        for value, target in spec.mask_targets.items():
            if not 0 <= value <= MAX_MASK_TARGET:
                yield ctx.p((*loc, value), f"pixel value {value} is out of range "
                            f"(0..{MAX_MASK_TARGET})")
            if not target.strip():
                yield ctx.p((*loc, value), "a mask target needs a non-empty name")
        names = list(spec.mask_targets.values())
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            yield ctx.p(loc, f"mask target name(s) used for several pixel values: "
                        f"{', '.join(repeated)} (each becomes one CVAT label)")


@rule("classes-unique", "a class appears once per field (plain or in a class group)")
def _classes_unique(ctx: RuleContext) -> Iterator[Problem]:
    for name, spec in ctx.schemas.items():
        seen: dict[str, Loc] = {}
        for i, item in enumerate(spec.classes or []):
            names = [item] if isinstance(item, str) else item.classes
            for j, cls in enumerate(names):
                suffix: Loc = ("classes", i) if isinstance(item, str) else ("classes", i, "classes", j)
                if cls in seen:
                    yield ctx.p(_attr_loc(ctx, name, suffix), f"class {cls!r} is listed more "
                                "than once (each class belongs to at most one class group)")
                else:
                    seen[cls] = suffix
            if isinstance(item, str) and not item:
                yield ctx.p(_attr_loc(ctx, name, ("classes", i)), "a class name cannot be empty")


@rule("scalar-attributes", "scalar fields take no attributes")
def _scalar_attrs(ctx: RuleContext) -> Iterator[Problem]:
    for name, spec in ctx.schemas.items():
        if ctx.field_type(name) == "scalar" and spec.attributes not in (True, False, {}, []):
            yield ctx.p(ctx.field_loc(name, "attributes"), "attributes are unused for scalar "
                        "fields (the value itself is the annotation)", "warning")


@rule("project-exclusive", "project_name and project_id are exclusive")
def _project(ctx: RuleContext) -> Iterator[Problem]:
    c = ctx.m.cvat
    if c.project_name is not None and c.project_id is not None:
        yield ctx.p(("cvat", "project_id"), "give either project_name or project_id, not both")


@rule("project-schema", "with project_id the project's schema wins: classes/attributes ignored")
def _project_schema(ctx: RuleContext) -> Iterator[Problem]:
    if ctx.m.cvat.project_id is None:
        return
    for name, spec in ctx.schemas.items():
        for part in ("classes", "attributes"):
            loc = ctx.field_loc(name, part)
            if loc and loc[-1] == part and (part != "attributes" or spec.attributes is not True):
                yield ctx.p(loc, f"ignored: tasks uploaded to an existing project inherit its "
                            f"label schema, so {part} here have no effect (use "
                            "cvat.occluded_attr / cvat.group_id_attr for those widgets)",
                            "warning")


@rule("job-reviewers", "job_reviewers only work on CVAT v1 servers")
def _reviewers(ctx: RuleContext) -> Iterator[Problem]:
    if ctx.m.cvat.job_reviewers:
        yield ctx.p(("cvat", "job_reviewers"), "job_reviewers are only available on CVAT v1 "
                    "servers; CVAT 2 ignores them", "warning")


@rule("widget-attrs", "occluded_attr and group_id_attr name different attributes")
def _widget_attrs(ctx: RuleContext) -> Iterator[Problem]:
    c = ctx.m.cvat
    if c.occluded_attr is not None and c.occluded_attr == c.group_id_attr:
        yield ctx.p(("cvat", "group_id_attr"), "occluded_attr and group_id_attr cannot be the "
                    "same attribute")


@rule("dest-field", "dest_field: a name for one field, or a mapping from schema fields")
def _dest_field(ctx: RuleContext) -> Iterator[Problem]:
    dest = ctx.m.load.dest_field
    if dest is None:
        return
    loc: Loc = ("load", "dest_field")
    if isinstance(dest, str):
        if len(ctx.schemas) > 1:
            yield ctx.p(loc, "with several label fields, dest_field must map each schema field "
                        "to its destination (field: destination)")
            return
        pairs = [(next(iter(ctx.schemas), None), dest, loc)]
    else:
        pairs = [(src, dst, (*loc, src)) for src, dst in dest.items()]
    targets: dict[str, str] = {}
    for src, dst, where in pairs:
        if src is not None and src not in ctx.schemas:
            yield ctx.p(where, f"{src!r} is not a field of this run's label schema "
                        f"({', '.join(sorted(ctx.schemas)) or 'none'})")
            continue
        bare = dst[len("frames."):] if dst.startswith("frames.") else dst
        if not _FIELD_NAME.match(bare) or bare == "frames":
            yield ctx.p(where, f"invalid destination field name {dst!r}")
            continue
        if src is not None and src.startswith("frames.") != dst.startswith("frames."):
            yield ctx.p(where, f"{src!r} and {dst!r}: a frame field loads into a frame field "
                        "('frames.' prefix on both) and a sample field into a sample field")
        if dst in targets:
            yield ctx.p(where, f"{targets[dst]!r} and {src!r} would both load into {dst!r}")
        targets[dst] = str(src)
        if src is not None and dst != src:
            have, want = ctx.existing(dst), ctx.field_type(src)
            if have is not None and want is not None and want != "scalar":
                stored = STORED_KIND.get(want)
                if stored is not None and have.kinds and have.kinds != {stored}:
                    yield ctx.p(where, f"destination {dst!r} already holds "
                                f"{', '.join(sorted(have.kinds))}, not {stored}")


@rule("review-filter", "load.stages/load.states: non-empty lists of CVAT job stages/states")
def _review_filter(ctx: RuleContext) -> Iterator[Problem]:
    """A job is pulled only in the listed stages and states (docs/review-and-git.md)."""
    for key in ("stages", "states"):
        values = getattr(ctx.m.load, key)
        if values is None:
            continue
        if not values:
            yield ctx.p(("load", key), f"an empty {key} list would hold every job back: leave "
                        f"load.{key} out to pull jobs in any {key[:-1]}")
        seen: set[str] = set()
        for i, value in enumerate(values):
            if value in seen:
                yield ctx.p(("load", key, i), f"{value!r} is listed twice", "warning")
            seen.add(value)


def _frame_values(option: Any) -> list[tuple[Loc, int]]:
    if isinstance(option, int):
        return [((), option)]
    if isinstance(option, list):
        return [((i,), v) for i, v in enumerate(option)]
    if isinstance(option, dict):
        return [((k,), v) for k, v in option.items()]
    return []


@rule("frame-values", "frame_start/stop >= 0, frame_step >= 1, start <= stop")
def _frame_values_rule(ctx: RuleContext) -> Iterator[Problem]:
    c = ctx.m.cvat
    for key, low in (("frame_start", 0), ("frame_stop", 0), ("frame_step", 1)):
        for sub, value in _frame_values(getattr(c, key)):
            if value < low:
                yield ctx.p(("cvat", key, *sub), f"{key} must be >= {low} (got {value})")
    if isinstance(c.frame_start, int) and isinstance(c.frame_stop, int) \
            and c.frame_start > c.frame_stop:
        yield ctx.p(("cvat", "frame_stop"), f"frame_stop {c.frame_stop} is before frame_start "
                    f"{c.frame_start}")


# -- rules that need the selected samples ---------------------------------------------------------


@rule("dataset", "the dataset folder exists and the selection finds samples")
def _dataset(ctx: RuleContext) -> Iterator[Problem]:
    if ctx.facts is None:
        return
    if not ctx.facts.readable:
        return  # reported where the folder was opened
    if not ctx.facts.samples and not ctx.facts.unreadable:
        yield ctx.p(("samples",) if "samples" in ctx.m.model_fields_set else ("dataset",),
                    "the sample selection is empty: this run would annotate nothing", "warning")


@rule("new-field-type", "a new field (on no selected sample) needs a label type")
def _new_type(ctx: RuleContext) -> Iterator[Problem]:
    for name, spec in ctx.schemas.items():
        if ctx.is_new(name) and spec.type is None and not _project_inherits(ctx):
            yield ctx.p(ctx.field_loc(name), f"{name!r} is a new field (no selected sample has "
                        "it): give its type (label_type / type: detections, classifications, "
                        "..., scalar)")


def _project_inherits(ctx: RuleContext) -> bool:
    return ctx.m.cvat.project_id is not None


@rule("new-field-classes", "a new field needs classes (not scalar; not segmentation with "
      "mask_targets)")
def _new_classes(ctx: RuleContext) -> Iterator[Problem]:
    for name, spec in ctx.schemas.items():
        if not ctx.is_new(name) or _project_inherits(ctx) or spec.classes:
            continue
        if spec.type == "scalar" or (spec.type == "segmentation" and spec.mask_targets):
            continue
        if spec.type is None:
            continue  # reported by new-field-type
        hint = " (or mask_targets)" if spec.type == "segmentation" else ""
        yield ctx.p(ctx.field_loc(name, "classes") if spec.classes is not None
                    else ctx.field_loc(name),
                    f"{name!r} is a new field: give its classes{hint}; there are no existing "
                    "labels to take them from")


@rule("attribute-types", "new attributes need a type; list/True forms only infer existing ones")
def _attribute_types(ctx: RuleContext) -> Iterator[Problem]:
    for name, spec in ctx.schemas.items():
        if ctx.facts is None or not ctx.facts.readable or _project_inherits(ctx):
            continue
        kind = ctx.field_type(name)
        if kind == "scalar":
            continue
        facts = ctx.existing(name)
        for suffix, scope, attr, a in _attribute_specs(spec):
            if a is not None and getattr(a, "type", None) is not None:
                continue
            observed = facts.attribute_types(attr, scope) if facts is not None else set()
            if observed:
                continue
            loc = _attr_loc(ctx, name, suffix)
            if facts is None:
                yield ctx.p(loc, f"attribute {attr!r} of new field {name!r} needs a type "
                            "(attributes: {name: {type: select, values: [...]}}); there are no "
                            "labels to infer it from")
            else:
                yield ctx.p(loc, f"attribute {attr!r} is not on any existing {name!r} label: "
                            "give its type (text, select, radio, checkbox, occluded, group_id)")


@rule("type-compatible", "a declared type must match what an existing field stores")
def _type_compatible(ctx: RuleContext) -> Iterator[Problem]:
    for name, spec in ctx.schemas.items():
        facts = ctx.existing(name)
        if facts is None or spec.type is None:
            continue
        loc = ctx.field_loc(name, "type")
        kinds = set(facts.kinds)
        if spec.type == "scalar":
            labels = sorted(k for k in kinds if not k.startswith("scalar:"))
            if labels:
                yield ctx.p(loc, f"{name!r} holds {', '.join(labels)} labels, not scalars")
            continue
        stored = STORED_KIND[spec.type]
        if kinds != {stored}:
            have = ", ".join(sorted(k.replace("scalar:", "scalar ") for k in kinds))
            yield ctx.p(loc, f"{name!r} holds {have}; type {spec.type!r} needs {stored} "
                        f"(use another field, or dest_field, to annotate it as {spec.type})")
            continue
        if spec.type in ("instance", "instances") and not facts.masks:
            yield ctx.p(loc, f"{name!r} has no instance masks: annotate it as 'detections', or "
                        "give a new field for instances")
        if spec.type in ("polygon", "polygons") and False in facts.filled:
            yield ctx.p(loc, f"{name!r} holds unfilled polylines; as polygons they would be "
                        "closed and filled on load", "warning")
        if spec.type in ("polyline", "polylines") and True in facts.filled:
            yield ctx.p(loc, f"{name!r} holds filled polygons; as polylines they would be "
                        "loaded unfilled", "warning")


@rule("widget-values", "existing occluded values are booleans, group_id values integers")
def _widget_values(ctx: RuleContext) -> Iterator[Problem]:
    want = {"occluded": ({"bool"}, "booleans"), "group_id": ({"int"}, "integers")}
    for name, spec in ctx.schemas.items():
        facts = ctx.existing(name)
        if facts is None:
            continue
        for suffix, scope, attr, a in _attribute_specs(spec):
            if not isinstance(a, AttributeSchema) or a.type not in want:
                continue
            types, words = want[a.type]
            seen = facts.attribute_types(attr, scope)
            if seen - types:
                yield ctx.p((*_attr_loc(ctx, name, suffix), "type"),
                            f"attribute {attr!r} has type {a.type!r}, so its existing values "
                            f"must be {words}; found {', '.join(sorted(seen - types))}")
    c = ctx.m.cvat
    for key, kind in (("occluded_attr", "occluded"), ("group_id_attr", "group_id")):
        attr = getattr(c, key)
        if attr is None:
            continue
        types, words = want[kind]
        for name in ctx.schemas:
            facts = ctx.existing(name)
            if facts is None:
                continue
            seen = facts.attribute_types(attr)
            if seen - types:
                yield ctx.p(("cvat", key), f"{attr!r} on existing {name!r} labels must hold "
                            f"{words}; found {', '.join(sorted(seen - types))}")


@rule("frames-video", "frames.* fields only for videos; sample-level labels on videos warn")
def _frames_video(ctx: RuleContext) -> Iterator[Problem]:
    if ctx.facts is None or not ctx.facts.samples:
        return
    images = ctx.facts.images
    videos = ctx.facts.videos
    for name in ctx.schemas:
        if name.startswith("frames.") and images:
            yield ctx.p(ctx.field_loc(name), f"{name!r} is a frame-level field but "
                        f"{len(images)} selected sample(s) are images (first: {images[0].key})")
        elif not name.startswith("frames.") and videos and ctx.field_type(name) not in (
                None, "scalar"):
            yield ctx.p(ctx.field_loc(name), f"{name!r} is a sample-level label field on "
                        "videos: CVAT has no straightforward way to annotate those; prefer a "
                        "frame-level field ('frames.<name>')", "warning")


@rule("frame-options", "frame_start/stop/step: videos only; dict keys name selected samples; "
      "list lengths fit; within the video")
def _frame_options(ctx: RuleContext) -> Iterator[Problem]:
    c = ctx.m.cvat
    options = {k: getattr(c, k) for k in ("frame_start", "frame_stop", "frame_step")}
    if ctx.facts is None or not ctx.facts.samples or all(v is None for v in options.values()):
        return
    videos = ctx.facts.videos
    if not videos:
        for key, value in options.items():
            if value is not None:
                yield ctx.p(("cvat", key), f"{key} only applies to videos; the selected samples "
                            "are images")
        return
    names = {s.key: s for s in videos}
    names.update({s.media: s for s in videos})
    per_video: dict[str, dict[str, int]] = {s.key: {} for s in videos}
    for key, value in options.items():
        if isinstance(value, dict):
            for k, v in value.items():
                target = names.get(k)
                if target is None:
                    yield ctx.p(("cvat", key, k), f"{k!r} is not a selected video (give a sample "
                                "key or its media path)")
                else:
                    per_video[target.key][key] = v
        elif isinstance(value, list):
            if len(value) > len(videos):
                yield ctx.p(("cvat", key), f"{key} lists {len(value)} values for "
                            f"{len(videos)} selected video(s)")
            elif len(value) < len(videos):
                yield ctx.p(("cvat", key), f"{key} lists {len(value)} values for "
                            f"{len(videos)} selected videos: they are applied round-robin",
                            "warning")
            for i, s in enumerate(videos):
                if value:
                    per_video[s.key][key] = value[i % len(value)]
        elif isinstance(value, int):
            for s in videos:
                per_video[s.key][key] = value
    for s in videos:
        got = per_video[s.key]
        start, stop = got.get("frame_start"), got.get("frame_stop")
        if start is not None and stop is not None and start > stop:
            yield ctx.p(("cvat", "frame_stop"), f"{s.key}: frame_stop {stop} is before "
                        f"frame_start {start}")
        if s.frame_count:
            last = s.frame_count - 1
            if start is not None and start > last:
                yield ctx.p(("cvat", "frame_start"), f"{s.key}: frame_start {start} is past the "
                            f"last frame (frames are numbered 0..{last}): nothing to annotate")
            if stop is not None and stop > last:
                yield ctx.p(("cvat", "frame_stop"), f"{s.key}: frame_stop {stop} is past the "
                            f"last frame (0..{last}); CVAT stops at the last frame", "warning")


@rule("frame-step-tracks", "frame_step cannot be combined with uploading existing tracks")
def _step_tracks(ctx: RuleContext) -> Iterator[Problem]:
    step = ctx.m.cvat.frame_step
    if step is None or all(v == 1 for _, v in _frame_values(step)):
        return
    for name in ctx.schemas:
        facts = ctx.existing(name)
        if name.startswith("frames.") and facts is not None and facts.tracks:
            yield ctx.p(("cvat", "frame_step"), f"frame_step cannot be used when uploading "
                        f"existing tracks ({name!r} has {facts.tracks} labels with an index); "
                        "annotate a new field, or drop frame_step")
            return


@rule("task-options", "task_size/segment_size are for images (videos: one per task)")
def _task_options(ctx: RuleContext) -> Iterator[Problem]:
    c = ctx.m.cvat
    if ctx.facts is None or not ctx.facts.samples:
        return
    videos = ctx.facts.videos
    if c.task_size is not None and videos:
        yield ctx.p(("cvat", "task_size"), "task_size only applies to images: videos are "
                    "always uploaded one per task", "warning" if ctx.facts.images else "error")
    if c.segment_size is not None and videos and not ctx.facts.images:
        yield ctx.p(("cvat", "segment_size"), "segment_size is not applicable to videos",
                    "warning")
    if isinstance(c.task_assignee, list) and not videos and c.task_size is None:
        yield ctx.p(("cvat", "task_assignee"), "a list of task assignees needs several tasks "
                    "(videos, or images with task_size); only the first is used", "warning")


@rule("media-field", "media_field names a string path field on every selected sample")
def _media_field(ctx: RuleContext) -> Iterator[Problem]:
    mf = ctx.m.media_field
    if ctx.facts is None or mf in ("filepath", "media"):
        return
    missing = [s.key for s in ctx.facts.samples if not s.strings.get(mf)]
    if missing:
        yield ctx.p(("media_field",), f"{mf!r} is not a path string on {len(missing)} selected "
                    f"sample(s) (first: {missing[0]})")
        return
    root = ctx.run.dataset_root
    absent = [s for s in ctx.facts.samples if not (root / s.strings[mf]).is_file()]
    if absent:
        yield ctx.p(("media_field",), f"{len(absent)} alternate media file(s) not found "
                    f"(first: {absent[0].strings[mf]} of {absent[0].key})")


@rule("restrictions-existing", "allow_* = false only restricts edits of existing fields")
def _restrictions(ctx: RuleContext) -> Iterator[Problem]:
    m = ctx.m
    for name in ctx.schemas:
        if not ctx.is_new(name):
            continue
        spec = m.label_schema.get(name) if m.label_schema else None
        for flag in Restrictions.model_fields:
            explicit_field = spec is not None and flag in spec.model_fields_set
            explicit_run = flag in m.model_fields_set
            value = getattr(spec, flag) if explicit_field else getattr(m, flag)
            if (explicit_field or explicit_run) and value is False:
                loc = ("label_schema", name, flag) if explicit_field else (flag,)
                yield ctx.p(loc, f"{flag}: false has no effect on {name!r}: it is a new field "
                            "(restrictions apply when editing existing labels)", "warning")


@rule("read-only", "read_only attributes/fields must exist to be uploaded")
def _read_only(ctx: RuleContext) -> Iterator[Problem]:
    for name, spec in ctx.schemas.items():
        facts = ctx.existing(name)
        if spec.read_only and ctx.is_new(name):
            yield ctx.p(ctx.field_loc(name, "read_only"), f"read_only has nothing to show: "
                        f"{name!r} is a new field", "warning")
        for suffix, scope, attr, a in _attribute_specs(spec):
            if isinstance(a, AttributeSchema) and a.read_only and (
                    facts is None or not facts.attribute_types(attr, scope)):
                if ctx.facts is None or not ctx.facts.readable:
                    continue
                yield ctx.p((*_attr_loc(ctx, name, suffix), "read_only"),
                            f"read_only attribute {attr!r} is on no existing label, so there "
                            "is nothing to upload for reference", "warning")


_PATH_TOKEN = re.compile(
    r"\.([^.\[]+)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]|\[\"((?:[^\"\\]|\\.)*)\"\]"
)


def parse_json_path(text: str) -> Loc | None:
    """``$.label_schema['frames.v'].classes[1]`` -> ``("label_schema", "frames.v", "classes", 1)``."""
    if not text.startswith("$"):
        return None
    out: list[Any] = []
    pos = 1
    while pos < len(text):
        m = _PATH_TOKEN.match(text, pos)
        if m is None:
            return tuple(out)
        name, index, single, double = m.groups()
        if index is not None:
            out.append(int(index))
        else:
            out.append(name if name is not None else (single if single is not None else double))
        pos = m.end()
    return tuple(out)


def locate_schema_problems(run: LoadedManifest, problems: list[Problem]) -> list[Problem]:
    """Place problems located by JSON path into the folded label schema (``$.label_schema.<f>
    ...``, as the reconciler's schema rules report them) at the manifest line where that part
    of the schema was written (a shorthand key, a run-wide key, or the field's own entry)."""
    ctx = RuleContext(run=run, schemas=run.manifest.field_schemas(), facts=None)
    out: list[Problem] = []
    for p in problems:
        loc = parse_json_path(p.location.json_path or "") or ()
        if len(loc) >= 2 and loc[0] == "label_schema" and loc[1] in ctx.schemas:
            rest = loc[2:]
            where = _attr_loc(ctx, loc[1], rest) if rest and isinstance(rest[0], str) \
                else ctx.field_loc(loc[1])
        else:
            where = loc
        out.append(run.problem(where, p.message, p.severity))
    return out


def check_run(run: LoadedManifest, facts: DatasetFacts | None) -> list[Problem]:
    """Apply every rule to one run; problems in rule order, then by location."""
    ctx = RuleContext(run=run, schemas=run.manifest.field_schemas(), facts=facts)
    problems: list[Problem] = []
    for _, _, fn in RULES:
        problems.extend(fn(ctx))
    return problems
