"""Which task frame is which sample (or video frame), and how big each frame is.

Why explicit: CVAT's JSON uses task-relative frame indexes (0..size-1); a video task made with
``frame_start/stop/step`` shows source frames ``start + i*step`` (``data/meta`` reports them in
source numbering, FACTS B.2, recordings2/09), while samples number video frames from 1. And the
frame size must come from ``data/meta``, never from the sample's metadata: CVAT measures what it
decoded, which is what its pixel coordinates refer to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_STEP = re.compile(r"step\s*=\s*(\d+)")


class FrameSize(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    width: int = Field(gt=0)
    height: int = Field(gt=0)


class FrameMap(BaseModel):
    """Task frames of one task. Images: task frame ``i`` is the ``i``-th sample of the task.
    Video: task frame ``i`` is the sample's frame ``start + i*step + 1``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    media_type: Literal["image", "video"]
    size: int = Field(ge=0, description="number of task frames")
    sizes: list[FrameSize] = Field(
        description="images: one per task frame; video: one (or one per task frame)"
    )
    start: int = Field(default=0, ge=0, description="video: first source frame (0-based)")
    step: int = Field(default=1, ge=1)
    deleted: list[int] = Field(default_factory=list, description="task frames deleted in CVAT")

    @property
    def is_video(self) -> bool:
        return self.media_type == "video"

    def frame_size(self, task_frame: int) -> FrameSize:
        if len(self.sizes) == 1:
            return self.sizes[0]
        return self.sizes[task_frame]

    def sample_frame(self, task_frame: int) -> int:
        """Video: the sample's (1-based) frame number of a task frame."""
        return self.start + task_frame * self.step + 1

    def task_frame(self, sample_frame: int) -> int | None:
        """Video: the task frame showing a sample frame, or None if the task skips it."""
        offset = sample_frame - 1 - self.start
        if offset < 0 or offset % self.step:
            return None
        index = offset // self.step
        return index if index < self.size else None

    def is_deleted(self, task_frame: int) -> bool:
        return task_frame in self._deleted_set

    @property
    def _deleted_set(self) -> frozenset[int]:
        return frozenset(self.deleted)

    @classmethod
    def from_data_meta(cls, meta: Mapping[str, Any],
                       media_type: Literal["image", "video"]) -> FrameMap:
        """From ``GET /api/tasks/{id}/data/meta``."""
        frames = meta.get("frames") or []
        sizes = [FrameSize(width=int(f["width"]), height=int(f["height"])) for f in frames]
        match = _STEP.search(str(meta.get("frame_filter") or ""))
        size = int(meta.get("size") or len(sizes))
        if media_type == "image" and len(sizes) != size:
            raise ValueError(f"data/meta lists {len(sizes)} frames for a task of size {size}")
        return cls(
            media_type=media_type, size=size, sizes=sizes,
            start=int(meta.get("start_frame") or 0) if media_type == "video" else 0,
            step=int(match.group(1)) if match and media_type == "video" else 1,
            deleted=sorted(int(d) for d in meta.get("deleted_frames") or []),
        )
