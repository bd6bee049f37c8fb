"""Push and pull hold what they change, not every sample of the tasks they touch (issue 11:
memory flat in the number of samples). Counted as live ``Sample`` objects at the moment a task
is pushed / the pulled labels are written (not RSS, not time), on a run of several tasks; and
the outcome is the same as before: the next plan has nothing to do.
"""

from __future__ import annotations

import gc
import io
import json
import random
import threading
import time
import weakref
from typing import Any

import pytest
import yaml

from annosync.cvat import CvatClient
from annosync.dataset.folder import DatasetFolder
from annosync.model.sample import Sample
from annosync.sync import apply as apply_mod
from annosync.sync import session as session_mod
from annosync.sync.engine import apply_plan, make_plan, open_sessions
from annosync.sync.session import SyncOptions

from .conftest import Workspace

TASKS, PER_TASK, BOXES = 3, 8, 3
KEYS = [f"{i:04d}" for i in range(TASKS * PER_TASK)]
FIRSTS = KEYS[::PER_TASK]  # one sample in each task


def _jpeg(width: int = 64, height: int = 48) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buf, "JPEG")
    return buf.getvalue()


def make_run(ws: Workspace) -> None:
    root = ws.root / "many"
    (root / "labels").mkdir(parents=True)
    (root / "media").mkdir()
    (root / "dataset.yaml").write_text(yaml.safe_dump({"name": "many", "media_dir": "media"}))
    image, rng = _jpeg(), random.Random(0)
    for i, key in enumerate(KEYS):
        (root / "media" / f"{key}.jpg").write_bytes(image)
        dets = [{"_id": f"{i:012x}{b:012x}", "label": rng.choice(["car", "person"]),
                 "attributes": {"iscrowd": False},
                 "bounding_box": [0.05 + 0.1 * b, 0.1, 0.08, 0.2]} for b in range(BOXES)]
        (root / "labels" / f"{key}.json").write_text(json.dumps({
            "fields": {"ground_truth": {"_type": "detections", "detections": dets}},
            "media": f"media/{key}.jpg",
            "metadata": {"height": 48, "media_type": "image", "width": 64}}))
    ws.dataset = root
    ws.manifest(label_field="ground_truth", attributes=["iscrowd"],
                cvat={"task_size": PER_TASK})
    ws.run()
    assert len(ws.task_ids()) == TASKS


@pytest.fixture(autouse=True)
def small_parsed_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """The session keeps up to ``PARSED_CACHE`` (2,048) parsed samples the plan read, whatever
    the dataset's size: bounded, so flat. With 24 samples here that bound would hold them all
    whenever the plan's reads are older than the racy window (a slow run: the test failed now
    and then under load), so it is made smaller than a task here."""
    monkeypatch.setattr(session_mod, "PARSED_CACHE", 2)


def live_samples() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Sample))


def move_first_box(ws: Workspace, key: str) -> None:
    path = DatasetFolder(ws.dataset).labels_dir / f"{key}.json"  # type: ignore[arg-type]
    data = json.loads(path.read_text())
    data["fields"]["ground_truth"]["detections"][0]["bounding_box"][0] += 0.05
    path.write_text(json.dumps(data))


def assert_nothing_to_do(ws: Workspace) -> None:
    rp = ws.plan()
    assert (rp.pull_counts.total, rp.push_counts.total, rp.conflicts) == (0, 0, [])
    assert rp.jobs_changed == []


def test_push_holds_only_the_samples_it_sends(ws: Workspace,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    make_run(ws)
    for key in FIRSTS:
        move_first_box(ws, key)
    seen: list[tuple[int, int]] = []
    original = apply_mod.push_task

    def counting(client: Any, task: Any, samples: list[Sample], *a: Any, **k: Any) -> Any:
        labelled = {id(s) for s in samples if s.fields}
        seen.append((len(labelled), live_samples() - alive_before))
        return original(client, task, samples, *a, **k)

    monkeypatch.setattr(apply_mod, "push_task", counting)
    reads: list[str] = []
    read_bytes = DatasetFolder.read_bytes

    def read(self: DatasetFolder, key: str) -> bytes:
        reads.append(key)
        return read_bytes(self, key)

    alive_before = live_samples()  # any left by earlier tests in this process
    with open_sessions([ws.manifest_path], SyncOptions(mode="push", concurrency=1),
                       ws.connection) as eng:
        plan = make_plan(eng)
        monkeypatch.setattr(DatasetFolder, "read_bytes", read)  # from here on: apply
        (result,) = apply_plan(eng, plan)
    assert result.pushed.updated == TASKS
    assert len(seen) == TASKS
    for labelled, live in seen:
        assert labelled == 1  # the edited sample; no other sample of the task is sent or read
        assert live < PER_TASK  # and no task's samples are held (before: all of every task)
    assert reads == []  # apply reads no label file (before: every sample of the tasks)
    monkeypatch.undo()
    for key in FIRSTS:
        box = ws.sample(key).fields["ground_truth"].detections[0]
        remote = [s for t in ws.task_ids() for s in ws.annotator.shapes(t)]
        assert any(abs(s["points"][0] - box.bounding_box[0] * 64) < 1e-3 for s in remote)
    assert_nothing_to_do(ws)


def move_one_box_per_task(ws: Workspace) -> None:
    """An annotator moves one box in each task's job."""
    for task_id in ws.task_ids():
        shape = ws.annotator.shapes(task_id)[0]
        x1, y1, x2, y2 = shape["points"]
        ws.annotator.update_shape(shape["id"], points=[x1 + 2, y1, x2 + 2, y2])


def test_pull_holds_only_the_samples_it_changes(ws: Workspace,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    make_run(ws)
    before = {k: ws.folder.label_path(k).read_bytes() for k in KEYS}
    move_one_box_per_task(ws)
    live: list[int] = []
    original = apply_mod.sync_labels

    def counting(session: Any, work: Any, *a: Any, **k: Any) -> Any:
        live.append(live_samples() - alive_before)
        return original(session, work, *a, **k)

    monkeypatch.setattr(apply_mod, "sync_labels", counting)
    alive_before = live_samples()  # any left by earlier tests in this process
    rp, result = ws.run(mode="pull")
    assert len(rp.jobs_changed) == TASKS and rp.pull_counts.total == TASKS
    assert sorted(result.written) == FIRSTS
    # the plan keeps the changed samples (original and merged), not every sample of the jobs
    # CVAT changed (before: all of them)
    assert live and live[0] <= 2 * TASKS + 2 < TASKS * PER_TASK
    for key in KEYS:
        changed = ws.folder.label_path(key).read_bytes() != before[key]
        assert changed == (key in FIRSTS)
    monkeypatch.undo()
    assert_nothing_to_do(ws)


def test_pull_converts_one_downloaded_task_at_a_time(ws: Workspace,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Tasks download in parallel, but each is converted and merged, then let go of, before
    the next is converted: CVAT's labels of one task are held as labels at a time, and the
    answers waiting for their turn are held as text. Counted as live ``PulledSample`` objects
    (one per frame converted) and parsed answers when a conversion has returned and any other
    thread had its chance to finish (before: each pool thread converted its own task, all of
    a window's tasks at once)."""
    from annosync.convert import cvat_to_labels
    from annosync.convert.results import PulledSample

    make_run(ws)
    move_one_box_per_task(ws)
    lock = threading.Lock()
    finished: list[int] = []
    held: list[int] = []
    parsed: list[int] = []
    real = cvat_to_labels.from_cvat

    def converting(*a: Any, **k: Any) -> Any:
        out = real(*a, **k)
        with lock:
            finished.append(1)
            first = len(finished) == 1
        if first:  # give the other tasks' conversions, wherever they run, time to finish
            deadline = time.monotonic() + 3
            while len(finished) < TASKS and time.monotonic() < deadline:
                time.sleep(0.01)
        gc.collect()
        held.append(sum(1 for o in gc.get_objects() if isinstance(o, PulledSample)))
        parsed.append(sum(1 for r in answers if r() is not None))
        return out

    class Answer(dict):  # type: ignore[type-arg]  # an answer as the client parsed it
        pass

    answers: list[weakref.ref[Answer]] = []
    get = CvatClient.get_annotations

    def getting(self: CvatClient, *a: Any, **k: Any) -> Any:
        out = Answer(get(self, *a, **k))
        answers.append(weakref.ref(out))
        return out

    monkeypatch.setattr(CvatClient, "get_annotations", getting)

    monkeypatch.setattr(cvat_to_labels, "from_cvat", converting)
    rp, result = ws.run(mode="pull", concurrency=TASKS)
    assert len(finished) == TASKS and len(rp.jobs_changed) == TASKS
    assert sorted(result.written) == FIRSTS
    assert max(held) <= PER_TASK < TASKS * PER_TASK  # one task's frames, not every task's
    assert max(parsed) == 0  # CVAT's answers wait for their turn as text, not parsed
    monkeypatch.undo()
    assert_nothing_to_do(ws)


def test_a_job_changed_back_is_recorded_with_nothing_kept(ws: Workspace) -> None:
    """CVAT changed a job and changed it back: nothing to write, no sample kept by the plan,
    yet the job's new date is recorded (the next plan downloads nothing) and so is the pull."""
    make_run(ws)
    pulled_at = ws.record.pulled_at
    task_id = ws.task_ids()[1]
    shape = ws.annotator.shapes(task_id)[0]
    ws.annotator.update_shape(shape["id"], points=[p + 1 for p in shape["points"]])
    ws.annotator.update_shape(shape["id"], points=shape["points"])
    rp, result = ws.run(mode="pull")
    assert len(rp.jobs_changed) == 1 and rp.pull_counts.total == 0
    assert result.written == [] and rp._work.samples == {}
    assert ws.record.pulled_at != pulled_at
    assert_nothing_to_do(ws)


def test_push_into_an_image_task_with_a_track(ws: Workspace,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A task holding a track takes the path that reads every sample of the task, one at a
    time, for the previous labels (``apply._previous``), and the push agrees with CVAT
    afterwards. (Here the sparse path would give the same base: the pushed box is no track's
    label; this test runs the path, it does not tell the two apart.)"""
    make_run(ws)
    task_id = ws.task_ids()[0]
    ws.annotator.add_track(task_id, label="car", shapes=[
        {"frame": f, "type": "rectangle", "points": [2.0 + f, 2.0, 12.0 + f, 12.0]}
        for f in (1, 2, 3)])
    ws.run(mode="pull")
    assert_nothing_to_do(ws)
    move_first_box(ws, KEYS[5])
    calls: list[bool] = []
    original = apply_mod._previous

    def spy(session: Any, work: Any, task: Any, tracks: bool) -> Any:
        calls.append(tracks)
        return original(session, work, task, tracks)

    monkeypatch.setattr(apply_mod, "_previous", spy)
    _, result = ws.run(mode="push")
    assert result.pushed.updated == 1 and calls == [True]
    monkeypatch.undo()
    assert_nothing_to_do(ws)
