"""CVAT's own data shapes (REST API v2, as CVAT 2.73 sends and accepts them), as pydantic models.

These are the lingua franca between the pure layers: ``convert`` turns labels into these and
back, ``cvatxml`` reads and writes them, ``sync`` stores and diffs them. The client itself deals
in plain JSON; ``model_validate`` / ``model_dump(exclude_none=True)`` cross the boundary.

Field names and meanings follow ``LabeledDataSerializer`` and ``LabelSerializer`` in
cvat/apps/engine/serializers.py (see ../shared/cvat/FACTS.md B.1). Frames here are task-relative
indexes (0..size-1), as in the JSON API; XML uses absolute frame numbers.
Unknown keys from a newer server are ignored rather than refused.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# defined apart (a plan's schema needs the names without these models); named here too
from annosync.model.cvat_types import LabelType as LabelType
from annosync.model.cvat_types import ShapeType as ShapeType

InputType = Literal["checkbox", "radio", "number", "text", "select"]
Source = Literal["auto", "semi-auto", "manual", "file", "consensus"]


class _Cvat(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)


# -- label specs -------------------------------------------------------------------------------
class AttributeSpec(_Cvat):
    """One attribute of a CVAT label (``AttributeSerializer``). ``id`` is the spec id."""

    id: int | None = None
    name: str
    mutable: bool = False
    input_type: InputType
    default_value: str = ""
    values: list[str] = Field(default_factory=list)


class LabelSpec(_Cvat):
    """One CVAT label (``LabelSerializer``) with its attributes; ``id`` once created."""

    id: int | None = None
    name: str
    color: str | None = None
    type: LabelType = "any"
    attributes: list[AttributeSpec] = Field(default_factory=list)
    sublabels: list[LabelSpec] = Field(default_factory=list)
    svg: str | None = None
    parent_id: int | None = None
    project_id: int | None = None
    task_id: int | None = None


# -- annotations -------------------------------------------------------------------------------
class AttributeValue(_Cvat):
    spec_id: int
    value: str


class _Annotation(_Cvat):
    id: int | None = None
    frame: int = Field(ge=0)
    label_id: int
    group: int | None = 0
    source: Source | None = "manual"
    attributes: list[AttributeValue] = Field(default_factory=list)


class Tag(_Annotation):
    pass


class Shape(_Annotation):
    """A standalone shape. ``points`` meaning depends on ``type`` (FACTS B.1)."""

    type: ShapeType
    occluded: bool = False
    outside: bool = False
    z_order: int = 0
    rotation: float = 0.0
    score: float | None = None
    points: list[float] = Field(default_factory=list)
    elements: list[Shape] = Field(default_factory=list)


class TrackedShape(_Cvat):
    """One keyframe of a track: no label, group or source of its own."""

    id: int | None = None
    type: ShapeType
    frame: int = Field(ge=0)
    occluded: bool = False
    outside: bool = False
    z_order: int = 0
    rotation: float = 0.0
    points: list[float] = Field(default_factory=list)
    attributes: list[AttributeValue] = Field(default_factory=list)
    #: Only in answers: CVAT adds it to the pieces of a track cut at a job boundary (recordings2
    #: 09_video); every stored tracked shape is a keyframe, so ``None`` means ``True``.
    keyframe: bool | None = None


class Track(_Annotation):
    """An object over time; ``attributes`` are the immutable ones, shapes carry mutable ones."""

    shapes: list[TrackedShape] = Field(default_factory=list)
    elements: list[Track] = Field(default_factory=list)


class LabeledData(_Cvat):
    """The body of ``/api/{tasks,jobs}/{id}/annotations``. ``version`` is always 0 in 2.73."""

    version: int = 0
    tags: list[Tag] = Field(default_factory=list)
    shapes: list[Shape] = Field(default_factory=list)
    tracks: list[Track] = Field(default_factory=list)

    def to_api(self) -> dict[str, object]:
        """JSON for a write request: no ``None``s (ids absent on create, as CVAT requires)."""
        return self.model_dump(mode="json", exclude_none=True)


class FrameInfo(_Cvat):
    """One entry of ``data/meta`` ``frames``."""

    name: str
    width: int
    height: int
