"""End to end (emulator or real CVAT): video tracks (new and edited), frame start/stop/step,
projects, assignees, tasks from a cloud storage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from annosync.model.labels import Detection

from .conftest import Workspace, is_emulator


def track_labels(ws: Workspace, key: str, field: str) -> dict[int, dict[int, Detection]]:
    """{index: {frame: detection}} of a frame field."""
    out: dict[int, dict[int, Detection]] = {}
    for number, frame in ws.sample(key).frames.items():
        value = frame.get(field)
        for det in getattr(value, "detections", []):
            out.setdefault(det.index, {})[number] = det
    return out


def test_existing_tracks_round_trip_unchanged(ws: Workspace) -> None:
    ws.copy("traffic")
    ws.manifest(label_field="frames.vehicles", samples={"keys": ["day"]})
    before = track_labels(ws, "day", "vehicles")
    original = ws.folder.read_bytes("day")
    plan, _ = ws.run()
    assert plan.create_tasks[0].media_type == "video"
    (task_id,) = ws.task_ids()
    tracks = ws.annotator.tracks(task_id)
    assert len(tracks) == len(before)
    again = ws.plan()
    assert not again.has_changes
    assert track_labels(ws, "day", "vehicles") == before
    assert ws.folder.read_bytes("day") == original


def test_edited_track_is_pulled_with_ids_kept(ws: Workspace) -> None:
    ws.copy("traffic")
    ws.manifest(label_field="frames.vehicles", samples={"keys": ["day"]})
    ws.run()
    before = track_labels(ws, "day", "vehicles")
    (task_id,) = ws.task_ids()
    # an annotator moves a track's first keyframe 8 px right (a UI save is a PATCH update)
    with ws.client() as client:
        data = client.get_annotations(task_id=task_id)
        track = data["tracks"][0]
        first = track["shapes"][0]
        first["points"] = [first["points"][0] + 8, first["points"][1],
                           first["points"][2] + 8, first["points"][3]]
        client.patch_annotations("update", {"tracks": [track], "shapes": [], "tags": []},
                                 task_id=task_id)
    plan = ws.plan()
    assert plan.pull_counts.edit >= 1 and not plan.pull_counts.add and not plan.pull_counts.delete
    ws.run()
    after = track_labels(ws, "day", "vehicles")
    assert {i: sorted(f) for i, f in after.items()} == {i: sorted(f) for i, f in before.items()}
    ids_before = {d.id for frames in before.values() for d in frames.values()}
    ids_after = {d.id for frames in after.values() for d in frames.values()}
    assert ids_after == ids_before  # interpolated frames keep their ids too
    moved = [(i, f) for i, frames in after.items() for f, d in frames.items()
             if d.bounding_box != before[i][f].bounding_box]
    assert moved and all(after[i][f].bounding_box[0] > before[i][f].bounding_box[0]
                         for i, f in moved)
    assert not ws.plan().has_changes


def test_local_track_edit_is_pushed(ws: Workspace) -> None:
    ws.copy("traffic")
    ws.manifest(label_field="frames.vehicles", samples={"keys": ["day"]})
    ws.run()
    sample = ws.sample("day")
    number = min(sample.frames)
    dets = sample.frames[number]["vehicles"]
    det = dets.detections[0]
    dets.detections[0] = det.model_copy(update={"attributes": {**det.attributes, "make": "zeta"}})
    ws.save("day", sample)
    plan = ws.plan()
    assert plan.push_counts.edit == 1
    ws.run()
    assert not ws.plan().has_changes
    (task_id,) = ws.task_ids()
    values = {a["value"] for t in ws.annotator.tracks(task_id) for a in t["attributes"]}
    values |= {a["value"] for t in ws.annotator.tracks(task_id) for s in t["shapes"]
               for a in s["attributes"]}
    assert "zeta" in values


def test_new_frame_field_with_frame_start_stop_step(ws: Workspace) -> None:
    ws.copy("traffic")
    ws.manifest(
        label_field="frames.new_detections", label_type="detections",
        classes=["person", "vehicle"],
        attributes={"type": {"type": "select", "values": ["sedan", "suv"], "mutable": False}},
        cvat={"frame_start": {"day": 2, "dusk": 5}, "frame_step": [1, 2], "frame_stop": 12},
    )
    plan, _ = ws.run()
    assert len(plan.create_tasks) == 2
    tasks = {t.samples[0]: t for t in ws.record.tasks}
    assert (tasks["day"].frame_start, tasks["day"].frame_step) == (2, 1)
    assert (tasks["dusk"].frame_start, tasks["dusk"].frame_step) == (5, 2)
    day = tasks["day"].id
    # task frame 0 of "day" is source frame 2, the sample's frame 3
    ws.annotator.add_track(day, label="vehicle", attributes={"type": "suv"}, shapes=[
        {"frame": 0, "type": "rectangle", "points": [10, 10, 50, 40], "outside": False},
        {"frame": 4, "type": "rectangle", "points": [30, 10, 70, 40], "outside": False},
        {"frame": 6, "type": "rectangle", "points": [30, 10, 70, 40], "outside": True},
    ])
    ws.run()
    got = track_labels(ws, "day", "new_detections")
    (frames,) = got.values()
    assert sorted(frames) == [3, 4, 5, 6, 7, 8]
    assert {f for f, d in frames.items() if d.keyframe} == {3, 7}
    assert frames[3].attributes["type"] == "suv"
    assert frames[5].bounding_box[0] > frames[3].bounding_box[0]  # interpolated


def test_project_is_created_once_and_reused(ws: Workspace) -> None:
    ws.copy("street")
    name = f"proj-{ws.anno_key}"
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001", "0002"]},
                cvat={"project_name": name, "task_size": 1})
    plan, _ = ws.run()
    assert plan.create_project == name and len(plan.create_tasks) == 2
    record = ws.record
    assert record.project.created and len({t.id for t in record.tasks}) == 2
    assert [p["id"] for p in ws.api.find_projects(name)] == [record.project.id]
    assert {ws.api.get_task(t)["project_id"] for t in ws.task_ids()} == {record.project.id}

    # a second run uploading to the existing project takes its schema
    first_key = ws.anno_key
    ws.anno_key = f"{first_key}b"
    ws.manifest(label_field="predictions", samples={"keys": ["0003"]},
                cvat={"project_name": name})
    plan = ws.plan()
    assert plan.use_project == record.project.id and plan.create_project is None
    ws.run()
    assert ws.record.project.id == record.project.id and not ws.record.project.created
    assert ws.record.label_schema.get("from_project") is True


def test_assignees_task_size_segment_size(ws: Workspace) -> None:
    ws.copy("street")
    alice, bob, carol = ws.user("alice"), ws.user("bob"), ws.user("carol")
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001", "0002", "0003"]},
                cvat={"task_size": 2, "segment_size": 1, "task_assignee": alice,
                      "job_assignees": [bob, carol]})
    ws.run()
    tasks = ws.record.tasks
    assert [len(t.samples) for t in tasks] == [2, 1]
    assert [len(t.jobs) for t in tasks] == [2, 1]
    assert {ws.api.get_task(t.id)["assignee"]["username"] for t in tasks} == {alice}
    job_users = [ws.api.get_job(j.id)["assignee"]["username"] for t in tasks for j in t.jobs]
    assert job_users == [bob, carol, bob]


def cloud_storage(ws: Workspace, dataset: Path) -> int:
    """A CVAT cloud storage holding the dataset's media at the same relative paths.

    The emulator serves a local folder as an S3 bucket; a real server needs one prepared
    beforehand: ``ANNOSYNC_TEST_CVAT_CLOUD_STORAGE_ID`` (see tests/README.md).
    """
    if not is_emulator(ws.server):
        storage = os.environ.get("ANNOSYNC_TEST_CVAT_CLOUD_STORAGE_ID")
        if not storage:
            pytest.skip("a real server needs ANNOSYNC_TEST_CVAT_CLOUD_STORAGE_ID: a cloud "
                        "storage holding fixtures/street/media/ as media/")
        return int(storage)
    bucket = f"bucket-{ws.anno_key}"
    ws.emu.add_bucket(bucket, dataset)
    key = requests.post(f"{ws.emu.url}/api/auth/login", json={
        "username": ws.emu.admin_username, "password": ws.emu.admin_password}, timeout=10,
    ).json()["key"]
    storage_json = requests.post(
        f"{ws.emu.url}/api/cloudstorages", timeout=10,
        headers={"Authorization": f"Token {key}", "Accept": "application/vnd.cvat+json"},
        json={"provider_type": "AWS_S3_BUCKET", "resource": bucket, "display_name": bucket,
              "credentials_type": "ANONYMOUS_ACCESS"},
    ).json()
    return int(storage_json["id"])


def test_tasks_from_a_cloud_storage_upload_no_media(ws: Workspace) -> None:
    """cloud_storage_id: CVAT reads the files from its own storage (no upload)."""
    dataset = ws.copy("street")
    storage_id = cloud_storage(ws, dataset)
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001", "0002"]},
                cvat={"cloud_storage_id": storage_id})
    ws.run()
    (task_id,) = ws.task_ids()
    task = ws.api.get_task(task_id)
    assert task["data_cloud_storage_id"] == storage_id and task["size"] == 2
    assert ws.plan().has_changes is False
