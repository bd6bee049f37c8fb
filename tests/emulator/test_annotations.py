"""Annotation endpoints: CVAT's validation errors, defaults, PATCH actions, job cuts, cascades."""

from __future__ import annotations

from typing import Any

import pytest

from annosync.emulator import Emulator

from .conftest import CAR, PERSON, Api


@pytest.fixture
def setup(api: Api) -> tuple[Api, dict[str, Any], dict[str, dict[str, Any]]]:
    task = api.task([CAR, PERSON], images=4, segment_size=2)
    return api, task, api.labels(task["id"])


def _rect(label_id: int, frame: int = 0, **extra: Any) -> dict[str, Any]:
    return {"type": "rectangle", "frame": frame, "label_id": label_id, "points": [0, 0, 5, 5],
            **extra}


@pytest.mark.parametrize(("shape", "status", "body"), [
    ({"label_id": 9999}, 400, ["label_id `9999` is invalid"]),
    ({"points": [0, 0, 1]}, 400,
     {"shapes": [{"points": ["invalid length for shape type 'rectangle'"]}]}),
    ({"type": "polygon", "points": [0, 0, 1, 1]}, 400,
     {"shapes": [{"points": ["invalid length for shape type 'polygon'"]}]}),
    ({"type": "mask", "points": [0, 0, 1, 1]}, 400,
     {"shapes": [{"points": ["invalid length for shape type 'mask'"]}]}),
    ({"rotation": 400}, 400,
     {"shapes": [{"rotation": ["Ensure this value is less than or equal to 360."]}]}),
])
def test_validation_errors(setup: Any, shape: dict[str, Any], status: int, body: Any) -> None:
    api, task, labels = setup
    resp = api.call("PUT", f"/api/tasks/{task['id']}/annotations",
                    json={"shapes": [{**_rect(labels["car"]["id"]), **shape}]})
    assert (resp.status_code, resp.json()) == (status, body)


def test_spec_of_another_label_and_select_values(setup: Any) -> None:
    api, task, labels = setup
    foreign = labels["person"]["attributes"][0]["id"]
    resp = api.call("PUT", f"/api/tasks/{task['id']}/annotations", json={"shapes": [
        _rect(labels["car"]["id"], attributes=[{"spec_id": foreign, "value": "x"}])]})
    assert (resp.status_code, resp.json()) == (400, [f"spec_id `{foreign}` is invalid"])
    color = next(a["id"] for a in labels["car"]["attributes"] if a["name"] == "color")
    ok = api.put(f"/api/tasks/{task['id']}/annotations", json={"shapes": [
        _rect(labels["car"]["id"], attributes=[{"spec_id": color, "value": "green"}])]})
    assert ok["shapes"][0]["attributes"] == [{"spec_id": color, "value": "green"}]


def test_defaults_floats_and_dropped_frames(setup: Any) -> None:
    api, task, labels = setup
    car = labels["car"]
    written = api.put(f"/api/tasks/{task['id']}/annotations", json={"shapes": [
        _rect(car["id"], frame=1), _rect(car["id"], frame=99)]})
    assert written["version"] == 0 and written["intervals"] == []
    assert len(written["shapes"]) == 1  # frame 99 is outside the task: silently dropped
    assert written["shapes"][0]["points"] == [0, 0, 5, 5]
    assert written["shapes"][0]["attributes"] == []
    got = api.get(f"/api/tasks/{task['id']}/annotations")
    (shape,) = got["shapes"]
    assert all(isinstance(p, float) for p in shape["points"])
    by_name = {a["name"]: a["id"] for a in car["attributes"]}
    assert {a["spec_id"]: a["value"] for a in shape["attributes"]} == {
        by_name["color"]: "red", by_name["moving"]: "false", by_name["note"]: ""}


def test_patch_actions(setup: Any) -> None:
    api, task, labels = setup
    path = f"/api/tasks/{task['id']}/annotations"
    created = api.patch(path, params={"action": "create"}, json={
        "shapes": [_rect(labels["car"]["id"], frame=0), _rect(labels["person"]["id"], frame=3)],
        "tags": [{"frame": 2, "label_id": labels["person"]["id"]}]})
    ids = [s["id"] for s in created["shapes"]]
    assert len(set(ids)) == 2
    moved = dict(created["shapes"][0], points=[1, 1, 6, 6])
    api.patch(path, params={"action": "update"}, json={"shapes": [moved]})
    got = api.get(path)
    assert [s["points"] for s in got["shapes"] if s["id"] == ids[0]] == [[1.0, 1.0, 6.0, 6.0]]
    api.patch(path, params={"action": "delete"}, json={"shapes": [created["shapes"][1]]})
    assert [s["id"] for s in api.get(path)["shapes"]] == [ids[0]]
    bad = api.call("PATCH", path, params={"action": "nope"}, json={})
    assert (bad.status_code, bad.json()) == (400, ["Please specify a correct 'action' for the request"])


def test_job_level_writes_touch_dates_and_tracks_are_cut(emu: Emulator, setup: Any) -> None:
    api, task, labels = setup
    jobs = {j["start_frame"]: j for j in api.jobs(task["id"])}
    car = labels["car"]["id"]
    api.put(f"/api/jobs/{jobs[2]['id']}/annotations", json={"shapes": [_rect(car, frame=2)]})
    after = {j["start_frame"]: j for j in api.jobs(task["id"])}
    assert after[2]["updated_date"] > jobs[2]["updated_date"]
    assert after[0]["updated_date"] == jobs[0]["updated_date"]
    assert api.get(f"/api/tasks/{task['id']}")["updated_date"] > task["updated_date"]

    api.put(f"/api/tasks/{task['id']}/annotations", json={"tracks": [{
        "frame": 0, "label_id": car, "shapes": [
            {"type": "rectangle", "frame": 0, "points": [0, 0, 4, 4]},
            {"type": "rectangle", "frame": 3, "points": [3, 3, 7, 7]}]}]})
    first = api.get(f"/api/jobs/{jobs[0]['id']}/annotations")["tracks"]
    second = api.get(f"/api/jobs/{jobs[2]['id']}/annotations")["tracks"]
    assert next(s["frame"] for t in first for s in t["shapes"]) == 0
    assert all(s["frame"] >= 2 for t in second for s in t["shapes"])
    assert api.get(f"/api/jobs/{jobs[2]['id']}/annotations")["shapes"] == []  # PUT replaced


def test_delete_cascades(setup: Any) -> None:
    api, task, labels = setup
    project = api.post("/api/projects", json={"name": "p", "labels": [PERSON]})
    other = api.task(name="in project", images=1, project_id=project["id"])
    api.put(f"/api/tasks/{task['id']}/annotations", json={"shapes": [_rect(labels["car"]["id"])]})
    job_ids = [j["id"] for j in api.jobs(task["id"])]
    assert api.call("DELETE", f"/api/tasks/{task['id']}").status_code == 204
    assert api.call("GET", f"/api/tasks/{task['id']}").status_code == 404
    assert all(api.call("GET", f"/api/jobs/{j}").status_code == 404 for j in job_ids)
    assert api.call("DELETE", f"/api/projects/{project['id']}").status_code == 204
    assert api.call("GET", f"/api/tasks/{other['id']}").status_code == 404
    assert api.get("/api/jobs")["count"] == 0


def test_task_patch_and_filters(emu: Emulator, api: Api) -> None:
    alice = api.get("/api/users", params={"username": "alice"})["results"][0]
    task = api.task([CAR], name="findme", subset="train")
    api.task([CAR], name="other")
    patched = api.patch(f"/api/tasks/{task['id']}", json={
        "assignee_id": alice["id"], "bug_tracker": "https://bugs.example/1", "name": "found"})
    assert patched["assignee"]["username"] == "alice"
    assert (patched["bug_tracker"], patched["name"], patched["subset"]) == (
        "https://bugs.example/1", "found", "train")
    assert [t["id"] for t in api.get("/api/tasks", params={"name": "found"})["results"]] == [
        task["id"]]
    assert api.get("/api/tasks", params={"search": "oth"})["count"] == 1
