"""Plan rendering (pure): terraform-like lines, summaries and deterministic plain text."""

from __future__ import annotations

import io

from annosync.sync.plan import (
    Cleanup,
    ConflictInfo,
    Counts,
    LabelLine,
    Plan,
    RejectionInfo,
    RunPlan,
    SampleChange,
    TaskCreation,
)
from annosync.sync.render import emit, plan_lines, render_text, summary


def run(**fields: object) -> RunPlan:
    base = {"anno_key": "fix_fp", "dataset": "/data/street", "server": "http://cvat:8080"}
    return RunPlan.model_validate({**base, **fields})


def test_new_run_with_project() -> None:
    rp = run(is_new=True, create_project="street-review", create_tasks=[
        TaskCreation(index=0, name="fix_fp-0001", samples=1, media_type="image", objects=14)])
    text = render_text(Plan(created_at="t", runs=[rp]))
    assert text == (
        "fix_fp (/data/street -> http://cvat:8080, project street-review)\n"
        "  + project street-review\n"
        "  + task  fix_fp-0001  1 sample, 14 labels to upload\n"
        "Plan: 1 project, 1 task to create; 14 labels to upload.\n"
    )


def test_pull_push_conflicts_and_verbose_lines() -> None:
    change = SampleChange(
        sample="0001", field="ground_truth", pull=Counts(add=1, edit=3, delete=1),
        push=Counts(edit=2),
        labels=[LabelLine(side="pull", kind="edit", label_id="a" * 24, aspects=["spatial"]),
                LabelLine(side="push", kind="edit", label_id="b" * 24, aspects=["label"])])
    rp = run(samples=[change], conflicts=[ConflictInfo(
        sample="0001", field="ground_truth", label_id="c" * 24, kind="edit/edit",
        aspects=["spatial"], resolution="prefer-local")])
    plan = Plan(created_at="t", runs=[rp])
    text = render_text(plan)
    assert ("  ~ labels/0001.json  ground_truth: 3 edited, 1 added, 1 deleted (by CVAT), "
            "1 conflict\n") in text
    assert "  > labels/0001.json  ground_truth: 2 edited (locally), to push to CVAT\n" in text
    assert (f"  ! conflict labels/0001.json  ground_truth {'c' * 24}: edited locally and in "
            "CVAT [spatial] -> prefer-local\n") in text
    assert text.endswith("Plan: 5 label changes to pull; 2 to push.\n")
    assert "aaaa" not in text
    verbose = render_text(plan, verbose=True)
    assert f"      ~ {'a' * 24}  edited in CVAT (spatial)\n" in verbose
    assert f"      ~ {'b' * 24}  edited locally (label)\n" in verbose


def test_rejections_unexpected_blocked_warnings_cleanup() -> None:
    rp = run(
        rejections=[RejectionInfo(sample="night/0005", field="ground_truth", label_id="d" * 24,
                                  reason="label edits are not allowed")],
        unexpected=2, blocked=["ground_truth: 3 of 4 labels (75%) would be deleted"],
        warnings=["something to know"], cleanup=Cleanup(tasks=[3, 4], project=7),
        conflicts=[ConflictInfo(sample="0001", field="ground_truth", label_id="e" * 24,
                                kind="delete/edit", aspects=["label"], resolution="unresolved")],
    )
    text = render_text(Plan(created_at="t", runs=[rp]))
    assert ("  ! rejected labels/night/0005.json  ground_truth " + "d" * 24
            + ": label edits are not allowed (kept local; revert it in CVAT)") in text
    assert "  ? 2 unexpected labels in CVAT" in text
    assert "deleted locally, edited in CVAT [label] -> unresolved (load.conflicts=fail)" in text
    assert "  - cleanup: delete 2 tasks (3, 4) and project 7 from CVAT" in text
    assert "  x blocked: ground_truth: 3 of 4 labels (75%) would be deleted" in text
    assert "  warning: something to know" in text
    assert text.endswith("Plan: 2 tasks to delete; 1 unresolved conflict. Blocked: fix_fp "
                         "(apply will refuse; see above).\n")


def test_no_changes() -> None:
    plan = Plan(created_at="t", runs=[run(), run(anno_key="other")])
    assert render_text(plan) == (
        "fix_fp (/data/street -> http://cvat:8080)\n  (no changes)\n"
        "other (/data/street -> http://cvat:8080)\n  (no changes)\n"
        "No changes. CVAT and the dataset agree.\n"
    )
    assert summary(plan.runs) == "No changes. CVAT and the dataset agree."


def test_dest_field_and_frames() -> None:
    change = SampleChange(sample="clip", field="frames.detections", dest_field="edited",
                          pull=Counts(add=1),
                          labels=[LabelLine(side="pull", kind="add", label_id="f" * 24, frame=7)])
    text = render_text(Plan(created_at="t", runs=[run(samples=[change])]), verbose=True)
    assert "  ~ labels/clip.json  frames.detections -> edited: 1 added (by CVAT), 0 conflicts" in text
    assert f"      + {'f' * 24} frame 7  added in CVAT" in text
    assert text.endswith("Plan: 1 label change to pull.\n")


def test_emit_plain_and_colour() -> None:
    plan = Plan(created_at="t", runs=[run(create_project="p")])
    plain = io.StringIO()
    emit(plan_lines(plan), color=False, stream=plain)
    assert plain.getvalue() == render_text(plan)
    coloured = io.StringIO()
    emit(plan_lines(plan), color=True, stream=coloured)
    assert "\x1b[" in coloured.getvalue()
    assert "+ project p" in coloured.getvalue()
