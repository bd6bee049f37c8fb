"""Samples -> tasks: task_size batching, one task per video, per-task option forms, round-robin."""

from __future__ import annotations

import pytest

from annosync.errors import InputError
from annosync.model.manifest import CvatOptions
from annosync.sync.batching import SampleInfo, plan_tasks, round_robin, video_frames


def images(n: int) -> list[SampleInfo]:
    return [SampleInfo(f"{i:04d}", f"media/{i:04d}.jpg", "image") for i in range(n)]


def videos(n: int) -> list[SampleInfo]:
    return [SampleInfo(f"v{i}", f"media/v{i}.mp4", "video", 100) for i in range(n)]


def test_task_size_batches_images_in_order() -> None:
    tasks = plan_tasks(images(20), CvatOptions(task_size=6), "street", "k")
    assert [len(t.samples) for t in tasks] == [6, 6, 6, 2]
    assert [t.name for t in tasks] == [f"annosync_street_k_{i}" for i in range(1, 5)]
    assert [k for t in tasks for k in t.samples] == [s.key for s in images(20)]


def test_one_task_without_task_size_keeps_the_plain_name() -> None:
    (task,) = plan_tasks(images(5), CvatOptions(task_name="review"), "street", "k")
    assert task.name == "review" and len(task.samples) == 5


def test_new_samples_of_an_existing_run_continue_numbering() -> None:
    tasks = plan_tasks(images(3), CvatOptions(task_name="review"), "street", "k", first_index=1)
    assert [t.name for t in tasks] == ["review_2"] and tasks[0].index == 1


def test_videos_are_one_task_each_with_list_and_dict_options() -> None:
    opts = CvatOptions(
        frame_start={"v0": 10, "media/v1.mp4": 5}, frame_step=[1, 10], frame_stop=100,
        task_assignee=["ann", "bob"], issue_tracker="https://bugs/1",
    )
    tasks = plan_tasks(videos(3), opts, "d", "k")
    assert [(t.frame_start, t.frame_step, t.frame_stop) for t in tasks] == [
        (10, 1, 100), (5, 10, 100), (None, 1, 100)
    ]
    assert [t.assignee for t in tasks] == ["ann", "bob", "ann"]
    assert {t.bug_tracker for t in tasks} == {"https://bugs/1"} and tasks[0].media_type == "video"


def test_mixed_media_is_refused() -> None:
    with pytest.raises(InputError, match="mix images and videos"):
        plan_tasks(images(1) + videos(1), CvatOptions(), "d", "k")


def test_round_robin_cycles_and_tolerates_nobody() -> None:
    assert round_robin(["a", "b"], 5) == ["a", "b", "a", "b", "a"]
    assert round_robin(["a", "b"], 3, offset=1) == ["b", "a", "b"]
    assert round_robin([], 2) == [None, None]


def test_video_frames_follow_start_stop_step() -> None:
    assert video_frames(20, None, None, None) == list(range(1, 21))
    assert video_frames(20, 10, None, 3) == [11, 14, 17, 20]
    assert video_frames(20, 2, 50, None)[-1] == 20  # stop clipped to the video, as CVAT does
    with pytest.raises(InputError):
        video_frames(20, 30, None, None)
