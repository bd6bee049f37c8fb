"""Every reconciler verb, end to end through the CLI against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

from annosync.model.labels import Detection

from .conftest import Workspace


def edit_in_cvat(ws: Workspace) -> None:
    """An annotator moves a box, deletes one and draws one (task of samples 0001, 0003)."""
    a = ws.annotator
    shapes = sorted(a.shapes(ws.task_id()), key=lambda s: s["id"])
    x1, y1, x2, y2 = shapes[0]["points"]
    a.update_shape(shapes[0]["id"], points=[x1 + 8, y1, x2 + 8, y2])
    a.delete(shapes[1]["id"])
    a.add_shape(ws.task_id(), 1, "person", "rectangle", [10, 10, 60, 120])


def test_plan_exit_codes_and_json(ws: Workspace) -> None:
    ws.manifest()
    res = ws.invoke("plan")
    assert res.exit_code == 2, res.output
    assert f"{ws.anno_key} (street -> {ws.emu.url})" in res.output
    assert f"+ task  annosync_street_{ws.anno_key}  2 samples" in res.output
    assert res.output.rstrip().endswith("Plan: 1 task to create; 6 labels to upload.")

    res = ws.invoke("plan", "--json")
    assert res.exit_code == 2
    data = json.loads(res.output)
    assert data["runs"][0]["anno_key"] == ws.anno_key
    assert data["runs"][0]["create_tasks"][0]["samples"] == 2

    assert ws.invoke("sync").exit_code == 0
    res = ws.invoke("plan")
    assert res.exit_code == 0, res.output
    assert "No changes. CVAT and the dataset agree." in res.output
    assert json.loads(ws.invoke("plan", "--json").output)["runs"][0]["samples"] == []


def test_plan_errors_exit_1(ws: Workspace) -> None:
    ws.manifest()
    res = ws.invoke("plan", "--anno-key", "nope")
    assert res.exit_code == 1
    assert "no run nope" in res.output
    (ws.manifests / "bad.yaml").write_text("anno_key: [\n")
    res = ws.invoke("plan")
    assert res.exit_code == 1
    assert "bad.yaml" in res.output
    assert "Traceback" not in res.output


def test_plan_server_down_exit_1(ws: Workspace) -> None:
    ws.manifest()
    assert ws.invoke("sync").exit_code == 0
    res = ws.invoke("plan", "--url", "http://127.0.0.1:9")
    assert res.exit_code == 1
    assert "Traceback" not in res.output


def test_sync_dry_run_changes_nothing(ws: Workspace) -> None:
    ws.manifest()
    res = ws.invoke("sync", "--dry-run")
    assert res.exit_code == 0
    assert "Plan: 1 task to create; 6 labels to upload." in res.output
    assert not (ws.folder.state_dir / "runs" / f"{ws.anno_key}.json").exists()


def test_saved_plan_applies_and_stale_plan_is_refused(ws: Workspace) -> None:
    ws.manifest()
    assert ws.invoke("plan", "-o", "first.json").exit_code == 2
    assert ws.invoke("plan", "-o", "second.json").exit_code == 2
    res = ws.invoke("apply", "first.json")
    assert res.exit_code == 0, res.output
    assert "Apply complete: 1 task(s) created." in res.output
    res = ws.invoke("apply", "second.json")
    assert res.exit_code == 1
    assert "stale" in res.output
    # a label file changed after the plan: stale too
    edit_in_cvat(ws)
    assert ws.invoke("plan", "-o", "pull.json").exit_code == 2
    sample = ws.folder.read("0001")
    sample.tags.append("touched")
    ws.folder.write("0001", sample)
    res = ws.invoke("apply", "pull.json")
    assert res.exit_code == 1 and "stale" in res.output


def test_apply_fresh_needs_yes_off_a_terminal(ws: Workspace) -> None:
    ws.manifest()
    res = ws.invoke("apply")
    assert res.exit_code == 2
    assert "--yes" in res.output
    assert ws.invoke("apply", "--yes").exit_code == 0
    assert ws.record.tasks[0].id is not None


def test_pull_merges_annotator_edits(ws: Workspace) -> None:
    ws.manifest()
    assert ws.invoke("sync", "-q").exit_code == 0
    before = {k: ws.folder.read(k) for k in ("0001", "0003")}
    edit_in_cvat(ws)
    res = ws.invoke("plan", "-v")
    assert res.exit_code == 2
    assert "~ labels/0001.json  ground_truth: 1 edited, 1 deleted (by CVAT), 0 conflicts" in res.output
    assert "~ labels/0003.json  ground_truth: 1 added (by CVAT), 0 conflicts" in res.output
    assert "edited in CVAT (spatial)" in res.output
    assert "Plan: 3 label changes to pull." in res.output
    res = ws.invoke("pull")
    assert res.exit_code == 0, res.output
    assert "Apply complete: 2 label file(s) written." in res.output
    after = ws.folder.read("0001").fields["ground_truth"].detections
    assert len(after) == len(before["0001"].fields["ground_truth"].detections) - 1
    added = ws.folder.read("0003").fields["ground_truth"].detections
    assert [d.label for d in added].count("person") == 1
    assert ws.invoke("plan").exit_code == 0


def test_pull_dest_field_leaves_the_source(ws: Workspace) -> None:
    ws.manifest()
    assert ws.invoke("sync", "-q").exit_code == 0
    original = ws.folder.read("0001").fields["ground_truth"]
    edit_in_cvat(ws)
    res = ws.invoke("pull", "--dest-field", "gt_edited")
    assert res.exit_code == 0, res.output
    sample = ws.folder.read("0001")
    assert sample.fields["ground_truth"] == original
    assert len(sample.fields["gt_edited"].detections) == len(original.detections) - 1


def test_push_sends_local_edits(ws: Workspace) -> None:
    ws.manifest()
    assert ws.invoke("sync", "-q").exit_code == 0
    sample = ws.folder.read("0003")
    sample.fields["ground_truth"].detections.append(
        Detection(label="truck", bounding_box=(0.1, 0.1, 0.2, 0.2)))
    ws.folder.write("0003", sample)
    res = ws.invoke("plan", "--mode", "push")
    assert res.exit_code == 2
    assert "> labels/0003.json  ground_truth: 1 added (locally), to push to CVAT" in res.output
    assert "Plan: 1 label change to push." in res.output
    res = ws.invoke("push")
    assert res.exit_code == 0, res.output
    assert "pushed 1 new, 0 updated, 0 deleted label(s)" in res.output
    trucks = [s for s in ws.annotator.shapes(ws.task_id()) if s["frame"] == 1]
    assert len(trucks) == 4
    assert ws.invoke("plan").exit_code == 0


def test_conflict_is_reported_and_resolved_by_policy(ws: Workspace) -> None:
    ws.manifest()
    assert ws.invoke("sync", "-q").exit_code == 0
    shapes = sorted(ws.annotator.shapes(ws.task_id()), key=lambda s: s["id"])
    first = shapes[0]
    ws.annotator.update_shape(first["id"], points=[1, 1, 40, 40])
    sample = ws.folder.read("0001")
    det = sample.fields["ground_truth"].detections[0]
    sample.fields["ground_truth"].detections[0] = det.model_copy(
        update={"bounding_box": (0.5, 0.5, 0.1, 0.1)})
    ws.folder.write("0001", sample)
    res = ws.invoke("plan")
    assert res.exit_code == 2
    assert "! conflict labels/0001.json  ground_truth" in res.output
    assert "edited locally and in CVAT [spatial] -> unresolved (load.conflicts=fail)" in res.output
    assert "x blocked: 1 conflict(s)" in res.output
    res = ws.invoke("sync")
    assert res.exit_code == 3
    res = ws.invoke("sync", "--conflicts", "prefer-local")
    assert res.exit_code == 0, res.output
    assert "-> prefer-local" in res.output
    assert ws.invoke("plan").exit_code == 0


def test_status_text_and_json(ws: Workspace) -> None:
    ws.manifest(cvat={"url": "${ANNOSYNC_CVAT_URL}", "segment_size": 1,
                      "job_assignees": ["alice", "bob"]})
    assert ws.invoke("sync", "-q").exit_code == 0
    task_id = ws.task_id()
    res = ws.invoke("status")
    assert res.exit_code == 0, res.output
    assert f"Status of run '{ws.anno_key}' (label field 'ground_truth'; {ws.emu.url})" in res.output
    assert f"    Task {task_id} (annosync_street_{ws.anno_key}):" in res.output
    assert f"        URL: {ws.emu.url}/tasks/{task_id}" in res.output
    assert "            Assignee: alice" in res.output
    assert "            Assignee: bob" in res.output
    assert "            Frames: 1-1" in res.output
    data = json.loads(ws.invoke("status", "--json").output)
    (run,) = data
    assert run["anno_key"] == ws.anno_key
    jobs = run["tasks"][0]["jobs"]
    assert [j["assignee"] for j in jobs] == ["alice", "bob"]
    assert [j["frames"] for j in jobs] == [[0, 0], [1, 1]]
    assert run["tasks"][0]["url"] == f"{ws.emu.url}/tasks/{task_id}"


def test_status_of_a_run_not_started(ws: Workspace) -> None:
    ws.manifest()
    res = ws.invoke("status")
    assert res.exit_code == 0
    assert "not started" in res.output


def test_cleanup_deletes_tasks_and_keeps_the_record(ws: Workspace) -> None:
    ws.manifest()
    assert ws.invoke("sync", "-q").exit_code == 0
    task_id = ws.task_id()
    res = ws.invoke("cleanup", "--dry-run")
    assert res.exit_code == 0
    assert f"- cleanup: delete 1 task ({task_id}) from CVAT" in res.output
    assert task_id in ws.emu.state.tasks
    res = ws.invoke("cleanup")  # no terminal: no question
    assert res.exit_code == 0, res.output
    assert task_id not in ws.emu.state.tasks
    assert ws.record.cleaned_at is not None
    assert "missing (deleted in CVAT)" in ws.invoke("status").output
    res = ws.invoke("plan")
    assert "was cleaned up" in res.output
    assert res.exit_code == 0


def test_pull_with_cleanup(ws: Workspace) -> None:
    ws.manifest()
    assert ws.invoke("sync", "-q").exit_code == 0
    task_id = ws.task_id()
    edit_in_cvat(ws)
    res = ws.invoke("pull", "--cleanup")
    assert res.exit_code == 0, res.output
    assert "2 label file(s) written" in res.output and "1 task(s) deleted" in res.output
    assert task_id not in ws.emu.state.tasks


def test_runs_info_rename_forget(ws: Workspace) -> None:
    ws.manifest()
    assert ws.invoke("sync", "-q").exit_code == 0
    res = ws.invoke("runs")
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert lines[0].split() == ["ANNO", "KEY", "DATASET", "CREATED", "TASKS", "SAMPLES", "SERVER"]
    assert lines[1].split()[0] == ws.anno_key
    (row,) = json.loads(ws.invoke("runs", "--json").output)
    assert row["anno_key"] == ws.anno_key and row["samples"] == 2
    assert row["tasks"] == [ws.task_id()] and row["server"] == ws.emu.url
    # the dataset folder works as a source too
    assert json.loads(ws.invoke("runs", "--json", "street").output) == [row]

    res = ws.invoke("info", ws.anno_key)
    assert res.exit_code == 0
    assert "ground_truth: detections (rectangle), classes car, person, truck" in res.output
    info = json.loads(ws.invoke("info", ws.anno_key, "--json").output)
    assert info["key"] == ws.anno_key
    assert info["tasks"][0]["samples"] == ["0001", "0003"]
    assert info["tasks"][0]["jobs"][0]["start_frame"] == 0
    assert "base" not in info
    assert "base" in json.loads(ws.invoke("info", ws.anno_key, "--full").output)

    new = ws.anno_key + "b"
    res = ws.invoke("rename", ws.anno_key, new)
    assert res.exit_code == 0
    assert "still declares" in res.output
    assert json.loads(ws.invoke("runs", "--json").output)[0]["anno_key"] == new
    assert ws.invoke("info", ws.anno_key).exit_code == 1
    res = ws.invoke("forget", new)
    assert res.exit_code == 0
    assert "stay on" in res.output
    assert ws.invoke("runs").output.strip() == "No annotation runs recorded."
    res = ws.invoke("forget", new)
    assert res.exit_code == 1
    assert "no recorded annotation run" in res.output


def test_password_from_stdin(ws: Workspace) -> None:
    ws.manifest()
    env = {"ANNOSYNC_CVAT_PASSWORD": None}
    res = ws.invoke("plan", "--password-stdin", input=ws.emu.admin_password + "\n", env=env)
    assert res.exit_code == 2, res.output
    res = ws.invoke("sync", "--password-stdin", input="wrong\n", env=env)
    assert res.exit_code == 1
    assert "Traceback" not in res.output


def test_watch_once_pulls(ws: Workspace) -> None:
    ws.manifest()
    assert ws.invoke("sync", "-q").exit_code == 0
    res = ws.invoke("watch", "--once")
    assert res.exit_code == 0
    assert "No changes." in res.output
    edit_in_cvat(ws)
    res = ws.invoke("watch", "--once")
    assert res.exit_code == 0, res.output
    assert "Changes found:" in res.output
    assert "Apply complete: 2 label file(s) written." in res.output


def test_dataset_folder_as_source(ws: Workspace, tmp_path: Path) -> None:
    """A run made from a manifest is found from its dataset folder alone (by its record)."""
    ws.manifest()
    assert ws.invoke("sync", "-q").exit_code == 0
    edit_in_cvat(ws)
    (ws.manifests / "run.yaml").unlink()
    res = ws.invoke("pull", "street")
    assert res.exit_code == 0, res.output
    assert "2 label file(s) written" in res.output
