"""The in-process annotator: edits show up through the REST API exactly like UI saves."""

from __future__ import annotations

import pytest

from annosync.emulator import Emulator

from .conftest import CAR, PERSON, TRUCK, Api


def _attrs(api: Api, task_id: int, label: str, values: list[dict[str, str]]) -> dict[str, str]:
    names = {a["id"]: a["name"] for a in api.labels(task_id)[label]["attributes"]}
    return {names[v["spec_id"]]: v["value"] for v in values}


def test_add_shape_fills_defaults_and_touches_dates(emu: Emulator, api: Api) -> None:
    project = api.post("/api/projects", json={"name": "p", "labels": [CAR, PERSON]})
    task = api.task(name="t", images=4, segment_size=2, project_id=project["id"])
    jobs = {j["start_frame"]: j for j in api.jobs(task["id"])}
    before_project = api.get(f"/api/projects/{project['id']}")["updated_date"]

    a = emu.annotator("alice")
    shape = a.add_shape(task["id"], frame=3, label="car", type="rectangle", points=[1, 2, 30, 40],
                        attributes={"note": "hi", "moving": True})
    assert shape["points"] == [1.0, 2.0, 30.0, 40.0]
    assert _attrs(api, task["id"], "car", shape["attributes"]) == {
        "note": "hi", "moving": "true", "color": "red"}

    got = api.get(f"/api/tasks/{task['id']}/annotations")
    assert [s["id"] for s in got["shapes"]] == [shape["id"]]
    assert got["version"] == 0 and got["tracks"] == [] and got["tags"] == []
    after = {j["start_frame"]: j for j in api.jobs(task["id"])}
    assert after[2]["updated_date"] > jobs[2]["updated_date"]  # the job holding frame 3
    assert after[0]["updated_date"] == jobs[0]["updated_date"]
    assert api.get(f"/api/tasks/{task['id']}")["updated_date"] > task["updated_date"]
    assert api.get(f"/api/projects/{project['id']}")["updated_date"] > before_project

    tag = a.add_tag(task["id"], frame=0, label="person", attributes={"label_id": "abc"})
    assert a.tags(task["id"]) == [tag]
    job0 = api.get(f"/api/jobs/{jobs[0]['id']}/annotations")
    assert [t["id"] for t in job0["tags"]] == [tag["id"]]


def test_update_change_label_and_delete(emu: Emulator, api: Api) -> None:
    task = api.task([CAR, TRUCK, PERSON], images=2)
    a = emu.annotator("alice")
    shape = a.add_shape(task["id"], frame=1, label="car", type="polygon",
                        points=[0, 0, 10, 0, 10, 10], attributes={"color": "blue", "note": "x"})

    moved = a.update_shape(shape["id"], points=[1, 1, 11, 1, 11, 11], occluded=True,
                           attributes={"note": "y"})
    assert moved["id"] == shape["id"] and moved["occluded"] is True
    assert moved["points"] == [1.0, 1.0, 11.0, 1.0, 11.0, 11.0]
    assert _attrs(api, task["id"], "car", moved["attributes"])["note"] == "y"

    # same attribute schema: values carried over by name
    truck = a.change_label(shape["id"], "truck")
    assert _attrs(api, task["id"], "truck", truck["attributes"]) == {
        "color": "blue", "note": "y", "moving": "false"}
    # different schema: cleared, then the new label's defaults (label_id included)
    person = a.change_label(shape["id"], "person")
    assert _attrs(api, task["id"], "person", person["attributes"]) == {"label_id": ""}
    assert a.shapes(task["id"])[0]["label_id"] == api.labels(task["id"])["person"]["id"]

    a.delete(shape["id"])
    assert a.shapes(task["id"]) == []
    with pytest.raises(KeyError):
        a.delete(shape["id"])


def test_split_and_merge_tracks(emu: Emulator, api: Api) -> None:
    task = api.task([CAR, PERSON], images=6)
    a = emu.annotator("alice")
    track = a.add_track(task["id"], label="car", attributes={"color": "blue"}, shapes=[
        {"frame": 0, "type": "rectangle", "points": [0, 0, 10, 10]},
        {"frame": 4, "type": "rectangle", "points": [8, 8, 18, 18]},
    ])
    assert [s["frame"] for s in track["shapes"]] == [0, 4]

    first, second = a.split_track(track["id"], 2)
    tracks = {t["id"]: t for t in a.tracks(task["id"])}
    assert set(tracks) == {first, second}
    assert [(s["frame"], s["outside"]) for s in tracks[first]["shapes"]] == [(0, False), (2, True)]
    assert [(s["frame"], s["outside"]) for s in tracks[second]["shapes"]] == [(2, False), (4, False)]
    assert tracks[second]["shapes"][0]["points"] == [4.0, 4.0, 14.0, 14.0]  # interpolated
    for t in tracks.values():  # immutable attributes copied to both halves
        assert _attrs(api, task["id"], "car", t["attributes"]) == {"color": "blue"}

    merged = a.merge_tracks([second, first])
    (only,) = a.tracks(task["id"])
    assert only["id"] == merged
    assert [(s["frame"], s["outside"]) for s in only["shapes"]] == [
        (0, False), (2, False), (4, False)]

    with pytest.raises(ValueError):
        a.split_track(merged, 0)


def test_set_job_state(emu: Emulator, api: Api) -> None:
    task = api.task([CAR], images=1)
    (job,) = api.jobs(task["id"])
    a = emu.annotator("alice")
    assert a.set_job_state(job["id"], state="in progress")["status"] == "annotation"
    got = api.get(f"/api/jobs/{job['id']}")
    assert (got["stage"], got["state"]) == ("annotation", "in progress")
    assert got["updated_date"] > job["updated_date"]
    result = a.set_job_state(job["id"], stage="acceptance", state="completed")
    assert result == {"id": job["id"], "stage": "acceptance", "state": "completed",
                      "status": "completed"}
    with pytest.raises(ValueError):
        a.set_job_state(job["id"], stage="nope")


def test_unknown_names_are_errors(emu: Emulator, api: Api) -> None:
    task = api.task([CAR], images=1)
    a = emu.annotator("alice")
    with pytest.raises(KeyError):
        emu.annotator("nobody")
    with pytest.raises(KeyError):
        a.add_shape(task["id"], frame=0, label="bus", type="rectangle", points=[0, 0, 1, 1])
    with pytest.raises(KeyError):
        a.add_shape(task["id"], frame=0, label="car", type="rectangle", points=[0, 0, 1, 1],
                    attributes={"speed": 3})
    with pytest.raises(ValueError, match="CVAT refused"):
        a.add_shape(task["id"], frame=0, label="car", type="rectangle", points=[0, 0, 1])
    with pytest.raises(ValueError):
        a.add_shape(task["id"], frame=5, label="car", type="rectangle", points=[0, 0, 1, 1])
