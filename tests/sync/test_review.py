"""Review-aware pulls (emulator or real CVAT): load.stages/states hold jobs back, reopened jobs
are reported, job stages change only where asked (``annosync review``, ``cvat.on_push``).

The stage/state changes are the PATCH bodies of tests/data/cvat/recordings2/07_jobs.json, sent
the way CVAT's own UI sends them.
"""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner

from annosync.cli.main import cli
from annosync.model.labels import Detection

from .conftest import Workspace
from .test_e2e_images import shape_of

# recordings2/07_jobs.json: PATCH /api/jobs/93 bodies, in the order the recording sent them
TO_VALIDATION = {"stage": "validation"}
IN_PROGRESS = {"state": "in progress"}
ACCEPT = {"stage": "acceptance", "state": "completed"}
BACK_TO_ANNOTATION = {"stage": "annotation", "state": "in progress"}


def setup_run(ws: Workspace, **manifest: Any) -> list[str]:
    """Five street images in one task, jobs of two frames (0-1, 2-3, 4); returns task order."""
    ws.copy("street")
    ws.manifest(label_field="ground_truth", attributes=["iscrowd"],
                cvat={"segment_size": 2, **manifest.pop("cvat", {})}, **manifest)
    ws.run()
    (task,) = ws.record.tasks
    assert [(j.start_frame, j.stop_frame) for j in task.jobs] == [(0, 1), (2, 3), (4, 4)]
    return task.samples


def first_box(ws: Workspace, key: str) -> Detection:
    value = ws.sample(key).fields["ground_truth"]
    return value.detections[0]


def move(ws: Workspace, key: str, x: float) -> None:
    """An annotator moves the first box of a sample in CVAT."""
    shape = shape_of(ws, first_box(ws, key).id)
    ws.annotator.update_shape(shape["id"], points=[x, 10, x + 40, 50])


def job_ids(ws: Workspace) -> list[int]:
    return [j.id for j in ws.record.tasks[0].jobs]


def test_only_accepted_jobs_come_back(ws: Workspace) -> None:
    keys = setup_run(ws, load={"stages": ["acceptance"], "states": ["completed"]})
    first, second, _ = job_ids(ws)
    files = {k: ws.folder.label_path(k).read_bytes() for k in keys}
    move(ws, keys[0], 11)  # job `first`
    move(ws, keys[2], 12)  # job `second`
    for body in (TO_VALIDATION, IN_PROGRESS, ACCEPT):
        ws.api.update_job(first, **body)

    plan = ws.plan()
    jobs = {j.job_id: j for j in plan.jobs}
    assert (jobs[first].stage, jobs[first].state, jobs[first].held) == (
        "acceptance", "completed", None)
    assert jobs[second].changed and jobs[second].stage == "annotation"
    assert jobs[second].held == "stage annotation not in load.stages [acceptance]"
    assert not jobs[_third(ws)].changed
    assert [j.job_id for j in plan.jobs_changed] == [first]
    assert [s.sample for s in plan.samples] == [keys[0]]

    ws.run()
    now = {k: ws.folder.label_path(k).read_bytes() for k in keys}
    assert now[keys[0]] != files[keys[0]]
    assert {k: v for k, v in now.items() if k != keys[0]} == {
        k: v for k, v in files.items() if k != keys[0]}  # held-back jobs never written
    # the held job keeps the date of the last pull: it is pulled once accepted
    again = ws.plan()
    assert {j.job_id: j.held for j in again.jobs if j.changed} == {
        second: "stage annotation not in load.stages [acceptance]"}
    ws.api.update_job(second, **TO_VALIDATION)
    assert "stage validation not in" in next(j.held for j in ws.plan().jobs if j.job_id == second)
    ws.api.update_job(second, **ACCEPT)
    ws.run()
    assert ws.folder.label_path(keys[2]).read_bytes() != files[keys[2]]
    assert not ws.plan().has_changes


def _third(ws: Workspace) -> int:
    return job_ids(ws)[2]


def test_a_job_sent_back_is_reported_not_repulled(ws: Workspace) -> None:
    keys = setup_run(ws, load={"stages": ["acceptance"]})
    first = job_ids(ws)[0]
    move(ws, keys[0], 11)
    ws.api.update_job(first, **ACCEPT)
    ws.run()
    pulled = ws.folder.label_path(keys[0]).read_bytes()
    assert ws.record.tasks[0].jobs[0].stage == "acceptance"

    ws.api.update_job(first, **BACK_TO_ANNOTATION)  # a reviewer sends it back
    move(ws, keys[0], 33)
    plan = ws.plan()
    (job,) = [j for j in plan.jobs if j.job_id == first]
    assert job.held and job.reopened == (
        "sent back to annotation (was acceptance/completed when last pulled)")
    assert not plan.samples
    ws.run()
    assert ws.folder.label_path(keys[0]).read_bytes() == pulled
    assert ws.record.tasks[0].jobs[0].stage == "acceptance"  # as of the last pull


def test_without_a_filter_a_reopened_job_is_pulled_with_a_warning(ws: Workspace) -> None:
    keys = setup_run(ws)
    first = job_ids(ws)[0]
    ws.api.update_job(first, **ACCEPT)
    ws.run()
    ws.api.update_job(first, **BACK_TO_ANNOTATION)
    move(ws, keys[0], 21)
    plan = ws.plan()
    assert [s.sample for s in plan.samples] == [keys[0]]
    assert any(w.startswith(f"job {first} was sent back to annotation") for w in plan.warnings)


def test_local_edits_wait_for_a_held_job(ws: Workspace) -> None:
    keys = setup_run(ws, load={"stages": ["acceptance"]})
    second = job_ids(ws)[1]
    move(ws, keys[3], 40)  # CVAT changed job `second`: its side is unknown until accepted
    sample = ws.sample(keys[2])
    box = sample.fields["ground_truth"].detections[0]
    before_cvat = shape_of(ws, box.id)["points"]
    box.label = "bus" if box.label != "bus" else "car"
    ws.save(keys[2], sample)

    plan = ws.plan()
    assert not plan.samples and any("held-back jobs" in w for w in plan.warnings)
    _, result = ws.run()
    assert result.pushed.updated == 0
    assert shape_of(ws, box.id)["points"] == before_cvat
    ws.api.update_job(second, **ACCEPT)
    plan = ws.plan()
    assert {s.sample: (s.pull.total, s.push.total) for s in plan.samples} == {
        keys[2]: (0, 1), keys[3]: (1, 0)}


def test_on_push_moves_only_the_jobs_pushed_to(ws: Workspace) -> None:
    keys = setup_run(ws, cvat={"on_push": {"stage": "validation", "state": "in progress"}})
    sample = ws.sample(keys[4])
    sample.fields["ground_truth"].detections[0].attributes["iscrowd"] = True
    ws.save(keys[4], sample)
    _, result = ws.run()
    third = job_ids(ws)[2]
    assert result.pushed.updated == 1 and result.reviewed == [third]
    states = {int(j["id"]): (j["stage"], j["state"], j["status"])
              for j in ws.api.list_jobs(task_id=ws.task_ids()[0])}
    assert states.pop(third) == ("validation", "in progress", "validation")
    assert set(states.values()) == {("annotation", "new", "annotation")}
    assert not ws.plan().has_changes


def test_review_verb_and_status(ws: Workspace) -> None:
    keys = setup_run(ws, load={"stages": ["acceptance"]})
    first, second, _ = job_ids(ws)
    move(ws, keys[2], 5)
    env = {"ANNOSYNC_CVAT_URL": ws.server.url, "ANNOSYNC_CVAT_USERNAME": ws.server.admin_username,
           "ANNOSYNC_CVAT_PASSWORD": ws.server.admin_password}
    runner = CliRunner()
    manifest = str(ws.manifest_path)
    got = runner.invoke(cli, ["review", manifest, "--accept", str(first), "--reject", str(second)],
                        env=env)
    assert got.exit_code == 0, got.output
    assert f"job {first}: annotation/new -> acceptance/completed" in got.output
    assert f"job {second}: annotation/in progress -> annotation/rejected" in got.output or \
        f"job {second}: annotation/new -> annotation/rejected" in got.output
    jobs = {int(j["id"]): j for j in ws.api.list_jobs(task_id=ws.task_ids()[0])}
    assert (jobs[first]["stage"], jobs[first]["state"]) == ("acceptance", "completed")
    assert (jobs[second]["stage"], jobs[second]["state"]) == ("annotation", "rejected")

    got = runner.invoke(cli, ["status", manifest, "--json"], env=env)
    assert got.exit_code == 0, got.output
    import json

    (run,) = json.loads(got.output)
    status = {j["id"]: j for j in run["tasks"][0]["jobs"]}
    assert status[first]["held"] is None and status[first]["changed"]
    assert status[second]["held"] == "stage annotation not in load.stages [acceptance]"

    got = runner.invoke(cli, ["review", manifest, "--accept", "999999"], env=env)
    assert got.exit_code == 1 and "999999 belong to none of the runs" in got.output
    got = runner.invoke(cli, ["review", manifest, "--stage", "validation"], env=env)
    assert got.exit_code == 2 and "--stage/--state need --job" in got.output
