"""The body of a CVAT XML 1.1 document (images, tracks, shapes, tags) as plain data, no I/O.

Why not ``annosync.model.cvat``: the XML speaks a different dialect than the JSON API. Labels are
names (not ids), frames are absolute (``start_frame + idx*step``), shapes carry ``source`` and an
XML-specific coordinate form (an ellipse is ``cx cy rx ry``, a mask is ``rle left top width
height``), and a video track lists *every* frame, keyframe or not. ``bridge.py`` converts between
the two. These are slotted dataclasses rather than pydantic models because a file can hold
millions of shapes and the reader/writer must stream them cheaply.

Losslessness: every field is ``None`` when its XML attribute was absent, so read -> write -> read
gives equal objects and the writer emits exactly what was read (in CVAT's attribute order).
Attributes the format does not define are kept in ``extra`` and unknown child elements in
``passthrough`` (serialized XML), both written back after the known ones. ``line`` (the source
line) is informational and not compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Union

#: XML element names of spatial shapes (``box`` is the API's ``rectangle``).
ShapeKind = Literal[
    "box", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton"
]
SHAPE_KINDS: tuple[str, ...] = (
    "box", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton"
)

#: XML element name -> API ``type`` and back.
KIND_TO_TYPE: dict[str, str] = {
    "box": "rectangle", "polygon": "polygon", "polyline": "polyline", "points": "points",
    "ellipse": "ellipse", "cuboid": "cuboid", "mask": "mask", "skeleton": "skeleton",
}
TYPE_TO_KIND: dict[str, str] = {v: k for k, v in KIND_TO_TYPE.items()}

#: Coordinate attributes of each kind, in the dumper's order; ``points`` kinds use one
#: ``points="x,y;x,y"`` attribute instead, masks their own five.
COORD_ATTRS: dict[str, tuple[str, ...]] = {
    "box": ("xtl", "ytl", "xbr", "ybr"),
    "ellipse": ("cx", "cy", "rx", "ry"),
    "cuboid": (
        "xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1",
        "xtl2", "ytl2", "xbl2", "ybl2", "xtr2", "ytr2", "xbr2", "ybr2",
    ),
}
POINTS_KINDS = frozenset({"polygon", "polyline", "points", "skeleton"})
MASK_ATTRS = ("rle", "left", "top", "width", "height")

#: Minimum number of coordinate values per kind of a ``points=`` shape (FACTS B.1).
MIN_POINT_VALUES = {"polygon": 6, "polyline": 4, "points": 2, "skeleton": 0}


class Attr(NamedTuple):
    """``<attribute name="...">value</attribute>``: values are plain text, as in the XML."""

    name: str
    value: str


@dataclass(slots=True)
class Mask:
    """CVAT's mask RLE (FACTS A.5): runs alternate 0/1 starting with 0s, row-major over the
    tight box; ``sum(rle) == width * height``."""

    rle: list[int]
    left: int
    top: int
    width: int
    height: int

    def to_api_points(self) -> list[float]:
        """The JSON API form: ``rle + [left, top, right, bottom]`` (inclusive corners)."""
        return [float(v) for v in self.rle] + [
            float(self.left), float(self.top),
            float(self.left + self.width - 1), float(self.top + self.height - 1),
        ]

    @classmethod
    def from_api_points(cls, points: list[float]) -> Mask:
        if len(points) < 5:
            raise ValueError("a mask needs at least one run and its box (5 numbers)")
        left, top, right, bottom = (int(v) for v in points[-4:])
        return cls(
            rle=[int(v) for v in points[:-4]], left=left, top=top,
            width=right - left + 1, height=bottom - top + 1,
        )


@dataclass(slots=True)
class Shape:
    """One shape: standalone (inside ``<image>``), one frame of a ``<track>``, or a skeleton
    element. ``points`` holds the coordinate values in XML order: ``[xtl, ytl, xbr, ybr]`` for a
    box, ``[cx, cy, rx, ry]`` for an ellipse, the 16 cuboid values, or the flat ``x,y`` list."""

    kind: str
    label: str | None = None
    source: str | None = None
    frame: int | None = None
    keyframe: bool | None = None
    outside: bool | None = None
    occluded: bool | None = None
    points: list[float] | None = None
    mask: Mask | None = None
    rotation: float | None = None
    z_order: int | None = None
    group_id: int | None = None
    attributes: list[Attr] = field(default_factory=list)
    elements: list[Shape] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)
    passthrough: list[str] = field(default_factory=list)
    line: int | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class Tag:
    """``<tag label source [group_id]>`` inside an image."""

    label: str
    source: str | None = None
    group_id: int | None = None
    attributes: list[Attr] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)
    passthrough: list[str] = field(default_factory=list)
    line: int | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class Image:
    """``<image id name [subset task_id] width height>``: one frame of the images layout.
    ``id`` is the absolute frame number; ``name`` the frame's path with extension."""

    id: int
    name: str
    width: int | None = None
    height: int | None = None
    subset: str | None = None
    task_id: int | None = None
    shapes: list[Shape] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)
    passthrough: list[str] = field(default_factory=list)
    line: int | None = field(default=None, compare=False, repr=False)
    #: the reader vouches that ``shapes`` are CVAT's plain boxes (four finite values, no
    #: elements), none inverted (``xtl <= xbr``, ``ytl <= ybr``): an import skips those
    #: checks per box (False: not known; like ``line``, not compared)
    plain: bool = field(default=False, compare=False, repr=False)


@dataclass(slots=True)
class Track:
    """``<track id label source [task_id subset] [group_id]>`` of the video layout. Its shapes
    list every written frame (absolute numbers), keyframes and interpolated ones."""

    label: str
    id: int | None = None
    source: str | None = None
    task_id: int | None = None
    subset: str | None = None
    group_id: int | None = None
    shapes: list[Shape] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)
    passthrough: list[str] = field(default_factory=list)
    line: int | None = field(default=None, compare=False, repr=False)

    @property
    def keyframes(self) -> list[Shape]:
        """The shapes CVAT's importer keeps (``keyframe="1"``)."""
        return [s for s in self.shapes if s.keyframe]


Item = Union[Image, Track]
