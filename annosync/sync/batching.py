"""How a run's samples become CVAT tasks and jobs: pure, deterministic, no server.

Images are batched ``task_size`` per task (one task when unset); every video is its own task,
since CVAT allows one video per task. Per-task options that the reference accepts as a scalar, a
list (round-robin over tasks/videos) or a dict (by sample) are resolved here: ``task_assignee``,
``issue_tracker``, ``frame_start`` / ``frame_stop`` / ``frame_step``. Job assignees and reviewers
go round-robin over the jobs of the run, in task then job order, as the reference does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from annosync.errors import InputError
from annosync.model.manifest import CvatOptions
from annosync.sync.record import TaskRecord


@dataclass(frozen=True)
class SampleInfo:
    """What batching needs to know of a sample."""

    key: str
    media: str
    media_type: str  # "image" | "video"
    frame_count: int | None = None


def _pick(option: Any, position: int, sample: SampleInfo | None, name: str) -> Any:
    """Resolve a scalar / list (round-robin) / dict (by sample key or media path) option."""
    if option is None:
        return None
    if isinstance(option, list):
        return option[position % len(option)] if option else None
    if isinstance(option, dict):
        if sample is None:
            raise InputError.at(f"cvat.{name}: a dict form needs one sample per task (videos)")
        for key in (sample.key, sample.media):
            if key in option:
                return option[key]
        return None
    return option


def default_task_base(dataset_name: str, anno_key: str) -> str:
    return f"annosync_{dataset_name}_{anno_key}"


def plan_tasks(
    samples: Sequence[SampleInfo],
    options: CvatOptions,
    dataset_name: str,
    anno_key: str,
    first_index: int = 0,
) -> list[TaskRecord]:
    """The tasks to create for ``samples`` (new samples of a run start at ``first_index``).

    Names are ``task_name`` (or ``annosync_<dataset>_<anno_key>``) for a run of one task, and
    ``<name>_<n>`` (n from 1) when a run has several: deterministic, so an interrupted apply finds
    the tasks it created by name when it resumes.
    """
    images = [s for s in samples if s.media_type == "image"]
    videos = [s for s in samples if s.media_type == "video"]
    if images and videos:
        raise InputError.at(
            "a run cannot mix images and videos (CVAT tasks hold one kind); split the manifest"
        )
    batches: list[list[SampleInfo]]
    if videos:
        batches = [[v] for v in videos]
    else:
        size = options.task_size or len(images) or 1
        batches = [images[i : i + size] for i in range(0, len(images), size)]
    base = options.task_name or default_task_base(dataset_name, anno_key)
    single = first_index == 0 and len(batches) == 1
    tasks = []
    for i, batch in enumerate(batches):
        position = first_index + i
        one = batch[0] if len(batch) == 1 else None
        record = TaskRecord(
            index=position,
            name=base if single else f"{base}_{position + 1}",
            media_type="video" if videos else "image",
            samples=[s.key for s in batch],
            assignee=_pick(options.task_assignee, position, one, "task_assignee"),
            bug_tracker=_pick(options.issue_tracker, position, one, "issue_tracker"),
        )
        if videos:
            video = batch[0]
            record.frame_start = _pick(options.frame_start, position, video, "frame_start")
            record.frame_stop = _pick(options.frame_stop, position, video, "frame_stop")
            record.frame_step = _pick(options.frame_step, position, video, "frame_step")
        tasks.append(record)
    return tasks


def round_robin(people: Sequence[str], count: int, offset: int = 0) -> list[str | None]:
    """``count`` assignments cycling through ``people`` (None when nobody is given)."""
    if not people:
        return [None] * count
    return [people[(offset + i) % len(people)] for i in range(count)]


def video_frames(
    frame_count: int, start: int | None, stop: int | None, step: int | None
) -> list[int]:
    """The 1-based sample frame numbers a video task holds, in task frame order.

    ``start``/``stop`` are 0-based source frames as CVAT takes them (``stop`` inclusive, clipped
    to the video as CVAT normalises it); ``step`` keeps every Nth frame.
    """
    first = start or 0
    last = frame_count - 1 if stop is None else min(stop, frame_count - 1)
    every = step or 1
    if every < 1:
        raise InputError.at("cvat.frame_step must be >= 1")
    if first > last:
        raise InputError.at(f"cvat.frame_start {first} is after the last frame {last}")
    return [f + 1 for f in range(first, last + 1, every)]
