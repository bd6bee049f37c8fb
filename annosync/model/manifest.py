"""Manifests: the declared annotation runs (YAML, git-tracked), as pydantic models. No I/O.

One manifest = one annotation run of the reference's ``annotate()``: an anno key, a dataset
folder, a sample selection, a label schema (the full ``label_schema`` form or the
``label_field`` / ``label_type`` / ``classes`` / ``attributes`` / ``mask_targets`` shorthands),
edit restrictions, CVAT options and load options. Loading (YAML, line numbers, ``${VAR}``) is in
``annosync/manifest/``; the rules that need the dataset are in ``annosync/manifest/rules.py``.

Secrets never belong here: ``cvat`` refuses ``password``/``token``-like keys with a message that
says where credentials come from instead (see ``docs/credentials.md``).
"""

from __future__ import annotations

import re
from typing import Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

ANNO_KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$"

#: The label types of the reference's ``label_type`` (singular forms accepted as FiftyOne does).
LabelTypeName = Literal[
    "classification", "classifications",
    "detection", "detections",
    "instance", "instances",
    "polyline", "polylines",
    "polygon", "polygons",
    "keypoint", "keypoints",
    "segmentation",
    "scalar",
]
AttributeType = Literal["text", "select", "radio", "checkbox", "number", "occluded", "group_id"]
SchemaValue = Union[StrictBool, StrictInt, StrictFloat, StrictStr]

#: Attribute names annosync itself writes on CVAT shapes.
RESERVED_ATTRIBUTES = frozenset({"label_id"})

#: Keys that would hold a credential: refused anywhere in a manifest.
SECRET_KEY = re.compile(r"(pass(word)?|token|secret|api[_-]?key|credential)", re.IGNORECASE)
_SECRET_KEY = SECRET_KEY


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False, defer_build=True)


class AttributeSchema(_Model):
    """One attribute: its CVAT widget, values, default, mutability and read-only flag.

    ``type`` may be omitted for an attribute that exists on the labels: it is then inferred
    from the observed values (booleans -> checkbox, few values -> select, else text).
    """

    type: AttributeType | None = None
    values: list[SchemaValue] | None = None
    default: SchemaValue | None = None
    mutable: bool = True
    read_only: bool = False


#: ``attributes`` may be True (all observed), False (none), a list of names, or full specs.
AttributesSpec = Union[StrictBool, list[str], dict[str, AttributeSchema]]


def _normalize_attribute_dict(value: Any) -> Any:
    # ``{"iscrowd": {}}`` and ``{"iscrowd": null}`` both mean "infer this attribute".
    if isinstance(value, dict):
        return {k: ({} if v is None else v) for k, v in value.items()}
    return value


class ClassGroup(_Model):
    """Per-class attributes: these ``attributes`` apply only to these ``classes``."""

    classes: list[str] = Field(min_length=1)
    attributes: AttributesSpec = Field(default_factory=dict)

    @field_validator("attributes", mode="before")
    @classmethod
    def _attrs(cls, value: Any) -> Any:
        return _normalize_attribute_dict(value)


class Restrictions(_Model):
    """Edit restrictions, enforced on load (CVAT's editor cannot enforce them)."""

    allow_additions: bool | None = None
    allow_deletions: bool | None = None
    allow_label_edits: bool | None = None
    allow_index_edits: bool | None = None
    allow_spatial_edits: bool | None = None


class FieldSchema(Restrictions):
    """The schema of one label field (``label_schema[<field>]``); ``frames.<name>`` for video."""

    type: LabelTypeName | None = None
    classes: list[Union[str, ClassGroup]] | None = None
    attributes: AttributesSpec = True
    mask_targets: dict[int, str] | None = None
    read_only: bool = Field(
        default=False, description="upload the field for reference; never load edits back"
    )

    @field_validator("attributes", mode="before")
    @classmethod
    def _attrs(cls, value: Any) -> Any:
        return _normalize_attribute_dict(value)

    @field_validator("mask_targets", mode="before")
    @classmethod
    def _targets(cls, value: Any) -> Any:
        # YAML keys may be ints or digit strings; both mean the pixel value.
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if isinstance(k, str) and k.strip().isascii() and k.strip().isdigit():
                    k = int(k)
                out[k] = v
            return out
        return value

    def class_names(self) -> list[str] | None:
        if self.classes is None:
            return None
        names: list[str] = []
        for item in self.classes:
            names.extend([item] if isinstance(item, str) else item.classes)
        return names


FrameOption = Union[StrictInt, list[StrictInt], dict[str, StrictInt]]


class CvatOptions(_Model):
    """Every CVAT option of the reference's ``CVATBackendConfig`` (minus credentials)."""

    url: str | None = None
    organization: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    verify_ssl: bool | str = True
    project_name: str | None = None
    project_id: int | None = Field(default=None, ge=1)
    task_name: str | None = None
    task_size: int | None = Field(default=None, ge=1)
    segment_size: int | None = Field(default=None, ge=1)
    image_quality: int = Field(default=75, ge=0, le=100)
    use_cache: bool = True
    use_zip_chunks: bool = True
    chunk_size: int | None = Field(default=None, ge=1)
    task_assignee: str | list[str] | None = None
    job_assignees: list[str] = Field(default_factory=list)
    job_reviewers: list[str] = Field(default_factory=list)
    issue_tracker: str | list[str] | None = None
    occluded_attr: str | None = None
    group_id_attr: str | None = None
    frame_start: FrameOption | None = None
    frame_stop: FrameOption | None = None
    frame_step: FrameOption | None = None
    cloud_storage_id: int | None = Field(
        default=None, ge=1,
        description="create tasks from files already in this CVAT cloud storage (no upload)",
    )
    on_push: JobStatus | None = Field(
        default=None,
        description="give every job annosync pushes local edits to this stage/state",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if isinstance(key, str) and _SECRET_KEY.search(key):
                    raise ValueError(
                        f"{key!r}: credentials are not allowed in manifests; set "
                        "ANNOSYNC_CVAT_USERNAME / ANNOSYNC_CVAT_PASSWORD (or ANNOSYNC_CVAT_TOKEN) "
                        "in the environment, or use the user config file"
                    )
        return data

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("url must start with http:// or https:// and name a host")
        if re.match(r"^https?://[^/]*@", value):
            raise ValueError("url must not embed credentials (user:password@host)")
        return value.rstrip("/")


#: CVAT's job stages and states (``JobStage`` and ``OperationStatus`` in CVAT 2.73's schema).
JobStage = Literal["annotation", "validation", "acceptance"]
JobState = Literal["new", "in progress", "completed", "rejected"]


class JobStatus(_Model):
    """A stage and/or a state to give a CVAT job (what ``PATCH /api/jobs/{id}`` accepts)."""

    stage: JobStage | None = None
    state: JobState | None = None

    @model_validator(mode="after")
    def _something(self) -> JobStatus:
        if self.stage is None and self.state is None:
            raise ValueError("give a stage, a state or both")
        return self


class LoadOptions(_Model):
    """How annotations come back: the reference's ``load_annotations()`` options and more."""

    dest_field: str | dict[str, str] | None = None
    unexpected: Literal["prompt", "ignore", "keep", "return"] = "prompt"
    conflicts: Literal["fail", "prefer-local", "prefer-remote", "keep-both"] = "fail"
    max_delete: float = Field(
        default=50.0, ge=0, le=100,
        description="stop when a pull or push would delete more than this % of a field's labels",
    )
    cleanup: bool = False
    stages: list[JobStage] | None = Field(
        default=None,
        description="pull only jobs in these CVAT stages (default: every stage)",
    )
    states: list[JobState] | None = Field(
        default=None,
        description="pull only jobs in these CVAT states (default: every state)",
    )


class SampleSelection(_Model):
    """Which samples a run covers: globs and lists over sample keys, and a JMESPath filter.

    ``where`` is evaluated on each sample's JSON (``fields``, ``frames``, ``tags``, ``media``,
    ``metadata``, plus ``key``); a truthy result selects it. ``sort_by`` orders the selection
    (JMESPath value, ``reverse`` for most-first); then ``skip`` and ``limit`` apply.
    """

    include: list[str] = Field(default_factory=lambda: ["**"])
    exclude: list[str] = Field(default_factory=list)
    keys: list[str] | None = None
    where: str | None = None
    sort_by: str | None = None
    reverse: bool = False
    skip: int = Field(default=0, ge=0)
    limit: int | None = Field(default=None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"include": [data]}
        if isinstance(data, list):
            return {"keys": data}
        return data


class Manifest(Restrictions):
    """One annotation run."""

    anno_key: str = Field(pattern=ANNO_KEY_PATTERN)
    dataset: str = Field(description="dataset folder, relative to the manifest file")
    samples: SampleSelection = Field(default_factory=SampleSelection)
    backend: Literal["cvat"] = "cvat"
    media_field: str = "filepath"
    launch_editor: bool = False
    label_schema: dict[str, FieldSchema] | None = None
    label_field: str | None = None
    label_type: LabelTypeName | None = None
    classes: list[Union[str, ClassGroup]] | None = None
    attributes: AttributesSpec | None = None
    mask_targets: dict[int, str] | None = None
    cvat: CvatOptions = Field(default_factory=CvatOptions)
    load: LoadOptions = Field(default_factory=LoadOptions)

    @field_validator("attributes", mode="before")
    @classmethod
    def _attrs(cls, value: Any) -> Any:
        return _normalize_attribute_dict(value)

    @field_validator("label_schema", mode="before")
    @classmethod
    def _schema(cls, value: Any) -> Any:
        # ``ground_truth: {}`` and ``ground_truth:`` (null) both mean "infer everything".
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        if isinstance(value, list) and all(isinstance(k, str) for k in value):
            return {k: {} for k in value}  # a list of field names: infer each
        return value

    @field_validator("mask_targets", mode="before")
    @classmethod
    def _targets(cls, value: Any) -> Any:
        return FieldSchema._targets(value)

    def field_schemas(self) -> dict[str, FieldSchema]:
        """The label schema in its full form, shorthands and run-wide flags folded in.

        Precedence as in the reference: an explicit ``label_schema`` wins over ``label_field``;
        run-wide ``classes`` / ``attributes`` fill fields that do not set them; run-wide
        restrictions fill fields that do not set theirs; unset restrictions mean True.
        """
        if self.label_schema is not None:
            fields = {k: v.model_copy(deep=True) for k, v in self.label_schema.items()}
        elif self.label_field is not None:
            fields = {self.label_field: FieldSchema()}
            one = fields[self.label_field]
            one.type = self.label_type
            one.mask_targets = self.mask_targets
        else:
            fields = {}
        for spec in fields.values():
            if spec.classes is None and self.classes is not None:
                spec.classes = list(self.classes)
            if "attributes" not in spec.model_fields_set and self.attributes is not None:
                spec.attributes = self.attributes
            for flag in Restrictions.model_fields:
                if getattr(spec, flag) is None:
                    run_wide = getattr(self, flag)
                    setattr(spec, flag, True if run_wide is None else run_wide)
        return fields
