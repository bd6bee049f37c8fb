"""A task-level annotations write copies each stored object at most once (``task_write``:
slices that share the request's objects, one check, an answer merged from the stored objects):
the same answer bytes and the same stored jobs as the way it was done before (every object
copied for its slice, checked twice, the job results copied again for the merge), on tasks whose
jobs overlap, with tags, shapes and tracks crossing job boundaries; and no stored list or dict
is the request's (unless the request is given away: ``owned``) or another job's."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annosync.emulator import Emulator
from annosync.emulator.annotations import (
    check_data,
    job_write,
    labels_index,
    task_write,
    validate_payload,
    write_answer,
)
from annosync.emulator.copying import json_copy
from annosync.emulator.tracks import merge_data, slice_data
from annosync.emulator.wire import dumps

from .conftest import CAR, PERSON, Api

FRAMES = 7


def _before(state: Any, task: Any, data: dict[str, Any], action: str | None) -> dict[str, Any]:
    """``task_write`` as it was (main at 074b3b9)."""
    jobs = state.task_jobs(task.id)
    pieces = [(job, slice_data(data, job.start_frame, job.stop_frame)) for job in jobs]
    if action != "delete":
        index = labels_index(state, task)
        for _, piece in pieces:
            check_data(index, piece)
    target: dict[str, Any] = {"tags": [], "shapes": [], "tracks": []}
    overlap = task.overlap or 0
    for job, piece in pieces:
        result = job_write(state, task, job, piece, action)
        merge_data(target, json_copy(result), job.start_frame, overlap)
    return target


@st.composite
def bodies(draw: Any, labels: dict[str, Any]) -> dict[str, Any]:
    car, person = labels["car"], labels["person"]
    note = next(a["id"] for a in car["attributes"] if a["name"] == "note")
    moving = next(a["id"] for a in car["attributes"] if a["name"] == "moving")
    frame = st.integers(0, FRAMES - 1)
    coord = st.one_of(st.integers(0, 60), st.floats(0, 60, allow_nan=False))

    def rect() -> dict[str, Any]:
        shape: dict[str, Any] = {
            "type": "rectangle", "frame": draw(frame), "label_id": car["id"],
            "points": [draw(coord), draw(coord), draw(coord), draw(coord)]}
        if draw(st.booleans()):
            shape["attributes"] = [{"spec_id": note, "value": draw(st.text(max_size=3))}]
        if draw(st.booleans()):
            shape["rotation"] = draw(st.sampled_from([0, 15.5, 360]))
        if draw(st.booleans()):
            shape["group"] = draw(st.integers(0, 2))
        return shape

    shapes = [rect() for _ in range(draw(st.integers(0, 8)))]
    tags = [{"frame": draw(frame), "label_id": person["id"]}
            for _ in range(draw(st.integers(0, 3)))]
    tracks = []
    for _ in range(draw(st.integers(0, 2))):
        start = draw(st.integers(0, FRAMES - 2))
        keys = sorted(set(draw(st.lists(st.integers(start, FRAMES - 1), min_size=1,
                                        max_size=3))))
        tracks.append({"frame": keys[0], "label_id": car["id"], "shapes": [
            {"type": "rectangle", "frame": k, "points": [k, k, k + 10.0, k + 5.0],
             "outside": draw(st.booleans()) and k != keys[0],
             "attributes": [{"spec_id": moving, "value": "true"}]} for k in keys]})
    return {"tags": tags, "shapes": shapes, "tracks": tracks}


@pytest.fixture
def task(api: Api) -> dict[str, Any]:
    return api.task([CAR, PERSON], images=FRAMES, segment_size=3, overlap=1)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_task_write_answers_and_stores_as_before(emu: Emulator, api: Api, task: dict[str, Any],
                                                 data: Any) -> None:
    raw = data.draw(bodies(api.labels(task["id"])))
    action = data.draw(st.sampled_from([None, "create"]))
    owned = data.draw(st.booleans())
    state = emu.state
    obj = state.tasks[task["id"]]
    jobs = state.task_jobs(obj.id)
    assert len(jobs) > 1 and obj.overlap
    first = [copy.deepcopy((j.tags, j.shapes, j.tracks)) for j in jobs]
    counters = dict(state._counters)

    before = write_answer(_before(state, obj, validate_payload(copy.deepcopy(raw), action),
                                  action))
    stored_before = [copy.deepcopy((j.tags, j.shapes, j.tracks)) for j in jobs]
    for job, (tags, shapes, tracks) in zip(jobs, first, strict=True):  # as it was
        job.tags, job.shapes, job.tracks = copy.deepcopy((tags, shapes, tracks))
    state._counters.clear()
    state._counters.update(counters)

    request = validate_payload(copy.deepcopy(raw), action)
    after = write_answer(task_write(state, obj, request, action, owned=owned))
    assert dumps(after) == dumps(before)
    assert [(j.tags, j.shapes, j.tracks) for j in jobs] == stored_before
    # no two jobs share a stored list or dict (an object on frames two jobs overlap is one
    # copy each), and unless the request was given away, none is the request's
    held = [{id(c) for c in _containers((j.tags, j.shapes, j.tracks))} for j in jobs]
    assert all(not (a & b) for i, a in enumerate(held) for b in held[i + 1:])
    if not owned:
        sent = {id(c) for c in _containers(request)}
        assert not any(sent & h for h in held)


def _containers(value: Any) -> list[Any]:
    out = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            out.append(item)
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            if isinstance(item, list):
                out.append(item)
            stack.extend(item)
    return out
