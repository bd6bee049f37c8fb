"""A sample: one media file (image or video) and its fields, as stored in one JSON file.

Video samples keep frame-level fields in ``frames``, keyed by frame number (1-based, as in
FiftyOne). The sample's *key* is the label file's path relative to ``labels/`` without ``.json``;
it is not stored in the file, so moving a file renames the sample and nothing else.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer

from annosync.model.labels import NAME_PATTERN, FieldValue, label_objects

_FIELD_NAME = re.compile(NAME_PATTERN)


class MediaMetadata(BaseModel):
    """What the media is: recorded once so planning never needs to open the media again."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)

    media_type: Literal["image", "video"] = "image"
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    fps: float | None = Field(default=None, gt=0)
    frame_count: int | None = Field(default=None, ge=0)
    size_bytes: int | None = Field(default=None, ge=0)

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: Any) -> Any:
        return {k: v for k, v in handler(self).items() if v is not None}


def _check_field_names(fields: dict[str, Any]) -> dict[str, Any]:
    for name in fields:
        if not _FIELD_NAME.match(name):
            raise ValueError(
                f"invalid field name {name!r}: use letters, digits, '_' or '-', not starting "
                "with a digit"
            )
        if name == "frames":
            raise ValueError("'frames' is reserved for video frame fields")
    return fields


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    media: str = Field(description="media path, relative to the dataset root, '/'-separated")
    metadata: MediaMetadata | None = None
    fields: dict[str, FieldValue] = Field(default_factory=dict)
    frames: dict[int, dict[str, FieldValue]] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)

    @field_validator("media")
    @classmethod
    def _media(cls, value: str) -> str:
        if not value or value.startswith("/") or "\\" in value:
            raise ValueError("media must be a relative '/'-separated path inside the dataset")
        if any(part == ".." for part in value.split("/")):
            raise ValueError("media must not leave the dataset folder ('..')")
        return value

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_field_names(value)

    @field_validator("frames")
    @classmethod
    def _frames(cls, value: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
        for number, fields in value.items():
            if number < 1:
                raise ValueError(f"frame numbers start at 1 (got {number})")
            _check_field_names(fields)
        return value

    @model_serializer(mode="wrap")
    def _drop_empty(self, handler: Any) -> Any:
        data = handler(self)
        for key in ("metadata", "frames", "tags"):
            if not data.get(key):
                data.pop(key, None)
        return data

    @property
    def is_video(self) -> bool:
        return self.metadata is not None and self.metadata.media_type == "video"

    def get_field(self, path: str) -> Any:
        """A sample field (``name``) or, for ``frames.name``, {frame: value} over all frames."""
        if path.startswith("frames."):
            name = path[len("frames.") :]
            return {n: f[name] for n, f in sorted(self.frames.items()) if name in f}
        return self.fields.get(path)

    def label_ids(self) -> list[str]:
        """Every label id in the sample (sample fields then frames in order)."""
        ids = [o.id for v in self.fields.values() for o in label_objects(v)]
        for _, frame in sorted(self.frames.items()):
            ids.extend(o.id for v in frame.values() for o in label_objects(v))
        return ids
