"""Review filters: manifest validation of load.stages/states and cvat.on_push (file:line), and
the pure rules of annosync/sync/review.py."""

from __future__ import annotations

from pathlib import Path

from annosync.manifest.validate import format_problem, validate_paths
from annosync.sync.record import JobRecord, TaskRecord
from annosync.sync.review import (
    ReviewFilter,
    held_frames,
    held_jobs,
    keep_held,
    reopened,
    status_body,
)

STREET = Path(__file__).resolve().parents[2] / "fixtures" / "street"


def problems(tmp_path: Path, load: str, cvat: str = "") -> list[str]:
    path = tmp_path / "m.yaml"
    path.write_text(f"anno_key: a\ndataset: {STREET}\nlabel_field: ground_truth\n{load}{cvat}")
    report = validate_paths([path], env={})
    return [format_problem(p).replace(str(path), "m.yaml") for p in report.problems]


def test_stages_and_states_are_checked_at_their_lines(tmp_path: Path) -> None:
    assert problems(tmp_path, "load:\n  stages: [acceptance, review]\n  states:\n    - done\n") == [
        "m.yaml:5: load.stages[1]: must be one of: annotation, validation, acceptance "
        "(got 'review')",
        "m.yaml:7: load.states[0]: must be one of: new, in progress, completed, rejected "
        "(got 'done')",
    ]
    assert problems(tmp_path, "load:\n  stages: []\n  states: [completed, completed]\n") == [
        "m.yaml:5: load.stages: an empty stages list would hold every job back: leave "
        "load.stages out to pull jobs in any stage",
        "m.yaml:6: warning: load.states[1]: 'completed' is listed twice",
    ]
    assert problems(tmp_path, "", "cvat:\n  on_push: {}\n") == [
        "m.yaml:5: cvat.on_push: give a stage, a state or both"]
    assert problems(tmp_path, "load:\n  stages: [acceptance]\n",
                    "cvat:\n  on_push: {stage: annotation, state: in progress}\n") == []


def job(id: int, start: int, stop: int, stage: str = "annotation", state: str = "new",
        date: str = "d0") -> JobRecord:
    return JobRecord(id=id, start_frame=start, stop_frame=stop, stage=stage, state=state,
                     updated_date=date)


def test_filter_reasons() -> None:
    flt = ReviewFilter(("acceptance",), ("completed",))
    assert flt.active and not ReviewFilter().active
    assert ReviewFilter().why_held(job(1, 0, 1)) is None
    assert flt.why_held(job(1, 0, 1)) == "stage annotation not in load.stages [acceptance]"
    assert flt.why_held(job(1, 0, 1, "acceptance", "rejected")) == (
        "state rejected not in load.states [completed]")
    assert flt.why_held(job(1, 0, 1, "acceptance", "completed")) is None


def test_video_tasks_are_held_whole_and_frames_map_to_jobs() -> None:
    flt = ReviewFilter(("acceptance",))
    jobs = [job(1, 0, 7, "acceptance"), job(2, 4, 11), job(3, 8, 14, "acceptance")]
    image = TaskRecord(index=0, name="t", samples=["a"], media_type="image")
    video = TaskRecord(index=0, name="t", samples=["v"], media_type="video")
    assert held_jobs(image, jobs, flt) == {2: "stage annotation not in load.stages [acceptance]"}
    assert set(held_jobs(video, jobs, flt)) == {1, 2, 3}
    assert held_jobs(video, jobs, flt)[3].startswith("video task: job 2 is held back")
    frames = held_frames(jobs[:2], {2: "why"})
    assert sorted(frames) == list(range(4, 12)) and frames[4] == "job 2: why"


def test_held_jobs_keep_the_last_pulled_record() -> None:
    old = [job(1, 0, 1, date="d0"), job(2, 2, 3, date="d0")]
    fresh = [job(1, 0, 1, "acceptance", date="d1"), job(2, 2, 3, "validation", date="d2")]
    kept = keep_held(fresh, old, {2: "why"})
    assert [(j.id, j.stage, j.updated_date) for j in kept] == [
        (1, "acceptance", "d1"), (2, "annotation", "d0")]


def test_reopened_only_when_the_stage_goes_back() -> None:
    was = job(1, 0, 1, "acceptance", "completed")
    assert reopened(was, job(1, 0, 1, "annotation", "in progress")) == (
        "sent back to annotation (was acceptance/completed when last pulled)")
    assert reopened(was, job(1, 0, 1, "acceptance", "rejected")) is None
    assert reopened(job(1, 0, 1), job(1, 0, 1, "validation")) is None
    assert reopened(None, was) is None


def test_status_body_sends_only_what_is_given() -> None:
    assert status_body({"stage": "acceptance", "state": None}) == {"stage": "acceptance"}
