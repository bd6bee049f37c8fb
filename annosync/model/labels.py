"""The label model: every label type of the reference (FiftyOne's CVAT integration), no I/O.

Coordinates are relative to the frame, in [0, 1], as FiftyOne stores them, so labels do not depend
on the resolution of the media. Each label has a stable ``_id`` (see ``ids.py``). Custom scalar
attributes live in ``attributes`` (an explicit dict rather than FiftyOne's dynamic fields, so a
typo in a core field is an error instead of a new attribute).

On disk a field value carries ``_type`` (``"detections"``, ``"classification"``, ...); the items of
a container (the detections of a ``Detections``) do not repeat it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    field_validator,
    model_serializer,
    model_validator,
)

if TYPE_CHECKING:  # numpy is imported where masks are converted (the CLI starts without it)
    import numpy as np

from annosync.model.ids import new_id

#: A scalar attribute or field value. Strict: ``true`` stays a bool, ``1`` an int, ``1.0`` a float.
Scalar = Union[StrictBool, StrictInt, StrictFloat, StrictStr, None]

LABEL_ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*$"

#: Relative point [x, y]; components are finite floats (not clamped: CVAT allows shapes that
#: leave the frame, and clamping would break the round trip).
Point = tuple[float, float]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, allow_inf_nan=False, validate_default=False,
        defer_build=True,
    )


class BinaryMask(_Strict):
    """An instance mask: the pixels of the label's box, row-major run lengths.

    ``counts`` alternate runs of 0 and 1 pixels, starting with a (possibly empty) run of 0s; they
    sum to ``height * width``. This is CVAT's own RLE (FACTS A.5) minus the box, so conversion is
    exact and the JSON diff of an edited mask stays small.
    """

    size: tuple[int, int] = Field(description="[height, width] of the mask in pixels")
    counts: list[int]

    @model_validator(mode="after")
    def _check(self) -> BinaryMask:
        h, w = self.size
        if h < 0 or w < 0:
            raise ValueError("mask size must be non-negative")
        if any(c < 0 for c in self.counts):
            raise ValueError("mask run lengths must be non-negative")
        if sum(self.counts) != h * w:
            raise ValueError(
                f"mask run lengths sum to {sum(self.counts)}, expected height*width = {h * w}"
            )
        return self

    @classmethod
    def from_array(cls, array: Any) -> BinaryMask:
        import numpy as np

        arr = np.asarray(array).astype(bool)
        if arr.ndim != 2:
            raise ValueError("a mask must be a 2-D array")
        return cls(size=(int(arr.shape[0]), int(arr.shape[1])), counts=bool_runs(arr.reshape(-1)))

    def to_array(self) -> np.ndarray:
        h, w = self.size
        return runs_to_bools(self.counts).reshape(h, w)


def bool_runs(flat: Any) -> list[int]:
    """Run lengths of a flat bool array, alternating False and True, starting with False
    (a leading 0 when it starts True): the ``counts`` of a :class:`BinaryMask` (row-major) and
    of a COCO RLE (column-major)."""
    import numpy as np

    if not flat.size:
        return []
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    counts: list[int] = np.diff(bounds).astype(int).tolist()
    if flat[0]:
        counts.insert(0, 0)
    return counts


def runs_to_bools(counts: list[int]) -> np.ndarray:
    """The flat bool array of :func:`bool_runs`' run lengths."""
    import numpy as np

    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    return np.repeat(values, counts)


class IndexMask(_Strict):
    """A semantic segmentation mask: row-major runs of ``[value, length]`` over the frame."""

    size: tuple[int, int] = Field(description="[height, width] of the mask in pixels")
    runs: list[tuple[int, int]]

    @model_validator(mode="after")
    def _check(self) -> IndexMask:
        h, w = self.size
        if h < 0 or w < 0:
            raise ValueError("mask size must be non-negative")
        if any(n <= 0 or v < 0 for v, n in self.runs):
            raise ValueError("mask runs need a value >= 0 and a length > 0")
        total = sum(n for _, n in self.runs)
        if total != h * w:
            raise ValueError(f"mask runs sum to {total}, expected height*width = {h * w}")
        return self

    @classmethod
    def from_array(cls, array: Any) -> IndexMask:
        import numpy as np

        arr = np.asarray(array)
        if arr.ndim != 2:
            raise ValueError("a mask must be a 2-D array")
        flat = arr.reshape(-1).astype(np.int64)
        runs: list[tuple[int, int]] = []
        if flat.size:
            change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
            starts = np.concatenate(([0], change))
            lengths = np.diff(np.concatenate((starts, [flat.size])))
            runs = [(int(flat[s]), int(n)) for s, n in zip(starts, lengths, strict=True)]
        return cls(size=(int(arr.shape[0]), int(arr.shape[1])), runs=runs)

    def to_array(self) -> np.ndarray:
        import numpy as np

        h, w = self.size
        if not self.runs:
            return np.zeros((h, w), dtype=np.int64)
        values = np.array([v for v, _ in self.runs], dtype=np.int64)
        lengths = np.array([n for _, n in self.runs], dtype=np.int64)
        return np.repeat(values, lengths).reshape(h, w)


class _Label(_Strict):
    id: str = Field(default_factory=new_id, alias="_id", pattern=LABEL_ID_PATTERN)
    attributes: dict[str, Scalar] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, value: dict[str, Scalar]) -> dict[str, Scalar]:
        for name, v in value.items():
            if not name:
                raise ValueError("attribute names must not be empty")
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"attribute {name!r} must be a finite number")
        return value

    @model_serializer(mode="wrap")
    def _drop_empty(self, handler: Any) -> Any:
        """Omit ``None`` and empty collections so files stay short and stable."""
        data = handler(self)
        return {
            k: v
            for k, v in data.items()
            if v is not None and not (k in ("attributes", "tags") and not v)
        }


class _Spatial(_Label):
    """What every spatial label shares: a track index and keyframe flag for video, z order."""

    confidence: float | None = None
    index: int | None = Field(default=None, description="track number of a video object")
    keyframe: bool | None = Field(default=None, description="True on a track's keyframes")
    z_order: int | None = None


class Classification(_Label):
    type: Literal["classification"] = Field(default="classification", alias="_type")
    label: str
    confidence: float | None = None


class Detection(_Spatial):
    """A box ``[x, y, width, height]`` (relative, top-left origin), optionally an instance mask.

    ``rotation`` is CVAT's box rotation in degrees (clockwise, about the box centre).
    The mask covers exactly the box; its own resolution may differ (it is resized on upload).
    """

    type: Literal["detection"] = Field(default="detection", alias="_type")
    label: str
    bounding_box: tuple[float, float, float, float]
    rotation: float | None = None
    mask: BinaryMask | None = None
    mask_path: str | None = None

    @field_validator("bounding_box")
    @classmethod
    def _box(cls, value: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        if value[2] < 0 or value[3] < 0:
            raise ValueError("bounding box width and height must be >= 0")
        return value


class Polyline(_Spatial):
    """One or more connected point lists. ``closed`` + ``filled`` = a polygon."""

    type: Literal["polyline"] = Field(default="polyline", alias="_type")
    label: str
    points: list[list[Point]]
    closed: bool = False
    filled: bool = False


class Keypoint(_Spatial):
    """Keypoints; a missing point is ``null`` (FiftyOne's ``[nan, nan]``)."""

    type: Literal["keypoint"] = Field(default="keypoint", alias="_type")
    label: str
    points: list[Point | None]
    confidence: list[float | None] | None = None  # type: ignore[assignment]


class Segmentation(_Label):
    """A semantic segmentation: an index mask, inline or as a PNG (``mask_path``, relative to
    the dataset root). Pixel values name classes through the run's ``mask_targets``."""

    type: Literal["segmentation"] = Field(default="segmentation", alias="_type")
    mask: IndexMask | None = None
    mask_path: str | None = None


def _strip_item_types(data: dict[str, Any], key: str) -> dict[str, Any]:
    for item in data.get(key, []):
        item.pop("_type", None)
    return data


class Classifications(_Strict):
    type: Literal["classifications"] = Field(default="classifications", alias="_type")
    classifications: list[Classification] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _items(self, handler: Any) -> Any:
        return _strip_item_types(handler(self), "classifications")


class Detections(_Strict):
    type: Literal["detections"] = Field(default="detections", alias="_type")
    detections: list[Detection] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _items(self, handler: Any) -> Any:
        return _strip_item_types(handler(self), "detections")


class Polylines(_Strict):
    type: Literal["polylines"] = Field(default="polylines", alias="_type")
    polylines: list[Polyline] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _items(self, handler: Any) -> Any:
        return _strip_item_types(handler(self), "polylines")


class Keypoints(_Strict):
    type: Literal["keypoints"] = Field(default="keypoints", alias="_type")
    keypoints: list[Keypoint] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _items(self, handler: Any) -> Any:
        return _strip_item_types(handler(self), "keypoints")


Label = Union[
    Classification,
    Classifications,
    Detection,
    Detections,
    Polyline,
    Polylines,
    Keypoint,
    Keypoints,
    Segmentation,
]

#: One object inside a field: what gets an id, a CVAT shape/tag and a merge decision.
LabelObject = Union[Classification, Detection, Polyline, Keypoint, Segmentation]

LABEL_CLASSES: dict[str, type[BaseModel]] = {
    "classification": Classification,
    "classifications": Classifications,
    "detection": Detection,
    "detections": Detections,
    "polyline": Polyline,
    "polylines": Polylines,
    "keypoint": Keypoint,
    "keypoints": Keypoints,
    "segmentation": Segmentation,
}

#: Container type -> (item class, attribute holding the items).
CONTAINERS: dict[type[BaseModel], tuple[type[BaseModel], str]] = {
    Classifications: (Classification, "classifications"),
    Detections: (Detection, "detections"),
    Polylines: (Polyline, "polylines"),
    Keypoints: (Keypoint, "keypoints"),
}


def _field_kind(value: Any) -> str:
    if isinstance(value, dict):
        kind = value.get("_type")
        return kind if isinstance(kind, str) and kind in LABEL_CLASSES else "unknown"
    if isinstance(value, BaseModel):
        return str(getattr(value, "type", "unknown"))
    return "scalar"


class _UnknownLabel(BaseModel):
    """Never valid: gives a clear error for a dict without a known ``_type``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _fail(cls, value: Any) -> Any:
        kinds = ", ".join(sorted(LABEL_CLASSES))
        got = value.get("_type") if isinstance(value, dict) else None
        if got is None:
            raise ValueError(f"a label needs a '_type' (one of: {kinds})")
        raise ValueError(f"unknown label '_type' {got!r} (expected one of: {kinds})")


#: The value of a sample or frame field: a label, or a scalar (int, float, str, bool, null).
FieldValue = Annotated[
    Annotated[Classification, Tag("classification")] | Annotated[Classifications, Tag("classifications")] | Annotated[Detection, Tag("detection")] | Annotated[Detections, Tag("detections")] | Annotated[Polyline, Tag("polyline")] | Annotated[Polylines, Tag("polylines")] | Annotated[Keypoint, Tag("keypoint")] | Annotated[Keypoints, Tag("keypoints")] | Annotated[Segmentation, Tag("segmentation")] | Annotated[_UnknownLabel, Tag("unknown")] | Annotated[Scalar, Tag("scalar")],
    Discriminator(_field_kind),
]


def label_objects(value: Any) -> list[Any]:
    """The objects of a field value (items of a container, or the label itself; [] for scalars)."""
    for container, (_, attr) in CONTAINERS.items():
        if isinstance(value, container):
            return list(getattr(value, attr))
    if isinstance(value, (Classification, Detection, Polyline, Keypoint, Segmentation)):
        return [value]
    return []
