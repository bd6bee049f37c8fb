"""A plan lists the jobs of all a run's tasks in a few listings (``remote.list_jobs_in_bulk``:
CVAT's JSON-logic ``filter`` with ``in`` on ``task_id``) instead of one per task; a task whose
listed jobs are not exactly the recorded ones is listed alone, as before. The plan is the same
either way."""

from __future__ import annotations

from typing import Any

import pytest

from annosync.cvat import CvatClient
from annosync.cvat.errors import CvatBadRequest
from annosync.sync import remote
from annosync.sync.record import JobRecord, TaskRecord

from .conftest import Workspace


def task(index: int, task_id: int, jobs: list[int]) -> TaskRecord:
    return TaskRecord(index=index, name=f"t{index}", id=task_id, state="labels_uploaded",
                      samples=[f"k{index}"],
                      jobs=[JobRecord(id=j, start_frame=0, stop_frame=0) for j in jobs])


class Listing:
    """A client whose bulk listing answers from ``jobs`` (task id -> job ids)."""

    def __init__(self, jobs: dict[int, list[int]], refuse: bool = False) -> None:
        self.jobs, self.refuse, self.calls = jobs, refuse, []

    def list_jobs_of_tasks(self, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        self.calls.append(list(ids))
        if self.refuse:
            raise CvatBadRequest("filter: in operation is not implemented")
        return {i: [{"id": j, "task_id": i} for j in self.jobs.get(i, [])] for i in ids}


def test_bulk_answers_only_tasks_whose_jobs_are_the_recorded_ones(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote, "TASKS_PER_LISTING", 2)
    tasks = [task(0, 1, [10, 11]), task(1, 2, [20]), task(2, 3, [30]), task(3, 4, [40]),
             task(4, 5, [50])]
    client = Listing({1: [10, 11], 2: [20, 21], 4: [41], 5: [50]})  # 2: a job more; 3: gone
    listed = remote.list_jobs_in_bulk(client, tasks)  # type: ignore[arg-type]
    assert sorted(listed) == [1, 5]
    assert [j["id"] for j in listed[1]] == [10, 11]
    assert client.calls == [[1, 2], [3, 4], [5]]


def test_no_bulk_listing_for_one_task_or_a_server_that_refuses_it() -> None:
    assert remote.list_jobs_in_bulk(Listing({1: [10]}), [task(0, 1, [10])]) == {}  # type: ignore[arg-type]
    refusing = Listing({1: [10], 2: [20]}, refuse=True)
    assert remote.list_jobs_in_bulk(refusing, [task(0, 1, [10]), task(1, 2, [20])]) == {}  # type: ignore[arg-type]


def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    calls = {"bulk": 0, "one": 0}
    bulk, one = CvatClient.list_jobs_of_tasks, CvatClient.list_jobs

    def list_bulk(self: CvatClient, *a: Any, **kw: Any) -> Any:
        calls["bulk"] += 1
        return bulk(self, *a, **kw)

    def list_one(self: CvatClient, *a: Any, **kw: Any) -> Any:
        calls["one"] += 1
        return one(self, *a, **kw)

    monkeypatch.setattr(CvatClient, "list_jobs_of_tasks", list_bulk)
    monkeypatch.setattr(CvatClient, "list_jobs", list_one)
    return calls


def test_a_plan_lists_jobs_once_and_equals_the_plan_listing_per_task(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", attributes=["iscrowd"],
                cvat={"task_size": 2, "segment_size": 1})
    ws.run()
    assert len(ws.record.tasks) >= 3
    calls = counted(monkeypatch)
    bulk = ws.plan().model_dump(mode="json")
    assert calls == {"bulk": 1, "one": 0}
    # CVAT changes a job: the bulk listing sees its new date like a per-task one
    ann = ws.annotator
    shape = ann.shapes(ws.record.tasks[1].id)[0]
    x1, y1, x2, y2 = shape["points"]
    ann.update_shape(shape["id"], points=[x1 + 2, y1, x2 + 2, y2])
    changed = ws.plan().model_dump(mode="json")
    assert changed["jobs_changed"] and changed["samples"]
    monkeypatch.setattr(remote, "list_jobs_in_bulk", lambda client, tasks: {})
    calls.update(bulk=0, one=0)
    assert ws.plan().model_dump(mode="json") == changed
    assert calls == {"bulk": 0, "one": len(ws.record.tasks)}
    ws.run()
    monkeypatch.undo()
    after = ws.plan().model_dump(mode="json")
    assert after["samples"] == [] and after["jobs_changed"] == []
    assert [j["job_id"] for j in after["jobs"]] == [j["job_id"] for j in bulk["jobs"]]


def test_the_bulk_listing_walks_every_page(ws: Workspace) -> None:
    """One page per job (``page_size=1``): every job of the named tasks, none of others."""
    ws.copy("street")
    ws.manifest(label_field="ground_truth", attributes=["iscrowd"],
                cvat={"task_size": 2, "segment_size": 1})
    ws.run()
    ids = [t.id for t in ws.record.tasks if t.id is not None]
    client = ws.api
    listed = client.list_jobs_of_tasks(ids[:-1], page_size=1)
    assert sorted(listed) == sorted(ids[:-1])
    for task_id in ids[:-1]:
        alone = sorted(j["id"] for j in client.list_jobs(task_id=task_id))
        assert sorted(j["id"] for j in listed[task_id]) == alone and alone
