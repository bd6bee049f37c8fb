"""What the conversions return: the upload (JSON + which label each object carries), the pulled
labels, and the unexpected objects. Serializable, so the reconciler can keep them in run records.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from annosync.convert.id_map import ObjectKind
from annosync.model.cvat import LabeledData
from annosync.model.labels import FieldValue

__all__ = ["ObjectKind"]  # re-exported: the conversions name it from here


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class SentObject(_Model):
    """One emitted CVAT object and the label(s) it carries, aligned with the upload's lists.

    Tags and shapes: ``label_ids`` holds the label's id (empty for scalar tags) and ``frames``
    its task frame. Tracks: one entry per keyframe (``outside`` markers excluded), in order.
    ``part`` tells the shapes of one label apart: the part number of a multi-part polyline, or
    the pixel value of a segmentation class.
    """

    kind: ObjectKind
    field: str
    cvat_label: int
    label_ids: list[str] = Field(default_factory=list)
    frames: list[int] = Field(default_factory=list)
    index: int | None = None
    part: int = 0


class Upload(_Model):
    """``to_cvat``'s answer: the body of ``PUT /api/tasks/{id}/annotations`` plus provenance."""

    data: LabeledData = Field(default_factory=LabeledData)
    tags: list[SentObject] = Field(default_factory=list)
    shapes: list[SentObject] = Field(default_factory=list)
    tracks: list[SentObject] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def label_ids(self) -> list[str]:
        """Every label id sent (each once, in order)."""
        seen: dict[str, None] = {}
        for group in (self.tags, self.shapes, self.tracks):
            for obj in group:
                for lid in obj.label_ids:
                    seen.setdefault(lid, None)
        return list(seen)


class UnexpectedLabel(_Model):
    """One converted label of an unexpected object (``frame``: the sample's frame number for
    videos, None for images). ``label`` is the label's JSON (with ``_type``)."""

    frame: int | None = None
    label: dict[str, Any]


class UnexpectedObject(_Model):
    """A CVAT object that fits no field of the schema: a class created in CVAT, a shape type its
    field cannot hold, a second label in a single-label field. Never dropped silently: the
    reconciler stores, returns or ignores it per ``load.unexpected``."""

    reason: str
    kind: ObjectKind
    cvat_id: int | None = None
    cvat_label_id: int
    cvat_label: str | None = Field(default=None, description="the CVAT label's name, if known")
    shape_type: str | None = None
    label_type: str | None = Field(
        default=None, description="what it would be as a label: detections, polylines, ..."
    )
    field: str | None = Field(default=None, description="the field its class belongs to, if any")
    sample: int = Field(description="task frame of the image (images) or 0 (video)")
    labels: list[UnexpectedLabel] = Field(default_factory=list)
    raw: dict[str, Any] = Field(default_factory=dict, description="the CVAT object as received")


class PulledSample(_Model):
    """Labels CVAT holds for one sample (serialize with ``by_alias=True``, like label files). Image samples: every requested field is present (an
    empty list, or None). Videos: ``frames`` lists only frames holding something; ``covered``
    says which sample frames the data covered (absent there = nothing)."""

    fields: dict[str, FieldValue] = Field(default_factory=dict)
    frames: dict[int, dict[str, FieldValue]] = Field(default_factory=dict)
    covered: list[int] = Field(default_factory=list)


class Pulled(_Model):
    """``from_cvat``'s answer. ``samples`` is keyed by task frame for images, ``{0: ...}`` for a
    video task."""

    samples: dict[int, PulledSample] = Field(default_factory=dict)
    unexpected: list[UnexpectedObject] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
