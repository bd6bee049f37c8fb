"""The label schema of one run, resolved: what annosync sends to CVAT and reads back with.

Why a separate, explicit form: a manifest's label schema is shorthand (classes and attributes
inferred from the labels, ``attributes: true``, per-class groups, run-wide ``occluded_attr``...).
Label specs, conversion both ways and the merge restrictions all need the same explicit answer,
and the reconciler stores it in the run record as "the schema as sent", so a pull reads CVAT's
answers with the schema the push used even if the manifest changed since.

``resolve_schema`` (``annosync/model/schema_rules.py``) builds it; the observation types here are
what ``annosync/convert/infer.py`` gathers from existing labels (streaming) to fill the gaps.
Pure data: no I/O, no CVAT ids (those live in ``annosync.convert.binding.BoundSchema``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from annosync.model.cvat_types import LabelType
from annosync.model.manifest import SchemaValue

#: The label types of the reference, in their canonical (plural) form. Singular forms
#: (``detection``, ``polyline``...) resolve to the plural type with ``single=True``.
CanonicalType = Literal[
    "classification", "classifications", "detections", "instances", "polylines", "polygons",
    "keypoints", "segmentation", "scalar",
]
AttributeKind = Literal["text", "select", "radio", "checkbox", "number", "occluded", "group_id"]
#: The Python type of an attribute's (or scalar field's) values, to parse CVAT's strings back.
ValueType = Literal["bool", "int", "float", "str"]

#: Label types that become CVAT tags (no geometry, no occluded flag, no tracks).
TAG_TYPES = frozenset({"classification", "classifications", "scalar"})
#: Label types whose objects are shapes (and, in videos, tracks).
SPATIAL_TYPES = frozenset(
    {"detections", "instances", "polylines", "polygons", "keypoints", "segmentation"}
)
#: Attribute kinds wired to a CVAT object's own fields instead of being sent as attributes.
WIRED_KINDS = frozenset({"occluded", "group_id"})
#: The attribute annosync writes on every object that has a label id.
LABEL_ID_ATTR = "label_id"
#: CVAT's limit on label and attribute names (``LabelSerializer`` / ``AttributeSpec`` max_length).
MAX_NAME_LENGTH = 64


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)


class ResolvedAttribute(_Model):
    """One attribute of one class, fully specified.

    ``values``: the choices of a select/radio (in their original Python types), or
    ``[min, max, step]`` of a number. ``value_type`` says how to parse CVAT's strings back.
    ``occluded`` / ``group_id`` kinds are not sent as attributes: they ride on the shape's own
    ``occluded`` flag and ``group`` number.
    """

    name: str
    type: AttributeKind
    values: list[SchemaValue] | None = None
    default: SchemaValue | None = None
    mutable: bool = True
    read_only: bool = False
    value_type: ValueType | None = None

    @property
    def wired(self) -> bool:
        return self.type in WIRED_KINDS


class ResolvedClass(_Model):
    """A class of a field: its name in the labels and its (possibly disambiguated) CVAT name."""

    name: str
    cvat_name: str
    attributes: list[ResolvedAttribute] = Field(default_factory=list)

    def attribute(self, name: str) -> ResolvedAttribute | None:
        for attr in self.attributes:
            if attr.name == name:
                return attr
        return None

    @property
    def occluded_attr(self) -> str | None:
        """The label attribute wired to CVAT's occluded flag, if any."""
        return next((a.name for a in self.attributes if a.type == "occluded"), None)

    @property
    def group_id_attr(self) -> str | None:
        """The label attribute wired to CVAT's group number, if any."""
        return next((a.name for a in self.attributes if a.type == "group_id"), None)

    @property
    def sent_attributes(self) -> list[ResolvedAttribute]:
        """Attributes sent as CVAT attribute specs (everything but the wired ones)."""
        return [a for a in self.attributes if not a.wired]


class ResolvedField(_Model):
    """One label field (``name``, or ``frames.name`` for video frame labels)."""

    path: str
    type: CanonicalType
    single: bool = Field(
        default=False, description="holds one label (Detection) rather than a list (Detections)"
    )
    existing: bool = Field(default=False, description="the field held values when resolved")
    classes: list[ResolvedClass] = Field(default_factory=list)
    mask_targets: dict[int, str] | None = None
    scalar_type: ValueType | None = Field(
        default=None, description="scalar fields: the Python type of the values"
    )
    cvat_type: LabelType = Field(default="any", description="the CVAT label type hint")
    value_cvat_name: str | None = Field(
        default=None, description="scalar fields without classes: the CVAT label's name"
    )
    read_only: bool = False
    allow_additions: bool = True
    allow_deletions: bool = True
    allow_label_edits: bool = True
    allow_index_edits: bool = True
    allow_spatial_edits: bool = True

    @property
    def is_frame_field(self) -> bool:
        return self.path.startswith("frames.")

    @property
    def name(self) -> str:
        """The field's name inside a sample (or inside a frame)."""
        return self.path[len("frames.") :] if self.is_frame_field else self.path

    @property
    def is_tag_type(self) -> bool:
        return self.type in TAG_TYPES

    @property
    def scalar_as_value(self) -> bool:
        """A scalar field without classes: one CVAT tag label (``value_cvat_name``, the field's
        name) whose ``value`` text attribute holds the value, as the reference does."""
        return self.type == "scalar" and not self.classes

    def class_by_name(self, name: str) -> ResolvedClass | None:
        for cls in self.classes:
            if cls.name == name:
                return cls
        return None

    def class_by_cvat_name(self, cvat_name: str) -> ResolvedClass | None:
        for cls in self.classes:
            if cls.cvat_name == cvat_name:
                return cls
        return None


class ResolvedSchema(_Model):
    """The whole run's schema: fields in manifest order, plus the run-wide wiring options."""

    fields: dict[str, ResolvedField] = Field(default_factory=dict)
    occluded_attr: str | None = None
    group_id_attr: str | None = None
    from_project: bool = Field(
        default=False, description="classes and attributes were taken from an existing project"
    )
    notes: list[str] = Field(default_factory=list)

    def field(self, path: str) -> ResolvedField:
        return self.fields[path]


# -- what existing labels look like (gathered by annosync/convert/infer.py) --------------------
class ObservedAttribute(_Model):
    """The scalar values one attribute takes over a field's labels."""

    name: str
    count: int = 0
    types: list[ValueType] = Field(default_factory=list)
    #: Distinct non-null values, sorted; at most ``MAX_KEPT_VALUES`` (then ``truncated``).
    values: list[SchemaValue] = Field(default_factory=list)
    truncated: bool = False
    minimum: float | None = None
    maximum: float | None = None
    classes: list[str] = Field(default_factory=list)


class ObservedField(_Model):
    """What a field holds over the selected samples (one streaming pass)."""

    path: str
    count: int = Field(default=0, description="samples (or frames) where the field is set")
    kinds: list[str] = Field(
        default_factory=list, description="stored kinds: label _types, or 'scalar'"
    )
    labels: int = 0
    classes: list[str] = Field(default_factory=list)
    attributes: dict[str, ObservedAttribute] = Field(default_factory=dict)
    masks: int = Field(default=0, description="detections carrying an instance mask")
    unmasked: int = Field(default=0, description="detections without an instance mask")
    filled: list[bool] = Field(default_factory=list, description="polylines' filled flags seen")
    keyframes: bool = False
    indexed: bool = Field(default=False, description="some labels carry a track index")
    mask_values: list[int] = Field(default_factory=list, description="segmentation pixel values")
    scalar_types: list[ValueType] = Field(default_factory=list)
    scalar_values: list[SchemaValue] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @property
    def existing(self) -> bool:
        return self.count > 0
