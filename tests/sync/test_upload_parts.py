"""A new task's labels sent in parts (PUT, then PATCH action=create, overlapped with converting
the answers) leave the same run record and the same CVAT annotations as one PUT."""

from __future__ import annotations

import json
from typing import Any

import pytest

import annosync.sync.create as create_mod
from annosync.convert.results import SentObject, Upload
from annosync.cvat import CvatClient
from annosync.model.cvat import LabeledData, Shape, Tag, Track
from annosync.sync.upload_parts import split_upload

from .conftest import Workspace

SCHEMA = {"ground_truth": {}, "scene_tags": {}, "weather": {}, "lanes": {}, "num_cars": {}}


def _upload(frames: list[int], tag_frames: list[int] = ()) -> Upload:  # type: ignore[assignment]
    up = Upload()
    for i, f in enumerate(frames):
        up.data.shapes.append(Shape(type="rectangle", frame=f, label_id=1, points=[0, 0, 1, 1]))
        up.shapes.append(SentObject(kind="shape", field="d", cvat_label=1, label_ids=[f"s{i}"],
                                    frames=[f]))
    for i, f in enumerate(tag_frames):
        up.data.tags.append(Tag(frame=f, label_id=2))
        up.tags.append(SentObject(kind="tag", field="c", cvat_label=2, label_ids=[f"t{i}"],
                                  frames=[f]))
    return up


def test_split_cuts_at_frames_and_keeps_every_object_once() -> None:
    frames = [0, 0, 1, 2, 2, 2, 3, 5, 5, 6]
    up = _upload(frames, tag_frames=[1, 4, 6])
    parts = split_upload(up, 8, limit=3)
    assert parts is not None and len(parts) >= 2
    # the parts cover the task's frames once, in order
    assert [f for p in parts for f in p.covered] == list(range(8))
    for p in parts:
        objs = p.upload.shapes + p.upload.tags
        assert all(p.start <= s.frames[0] < p.stop for s in objs)
        assert len(p.upload.data.shapes) == len(p.upload.shapes)
        assert len(p.upload.data.tags) == len(p.upload.tags)
        assert all(d.frame == s.frames[0] for d, s in
                   zip(p.upload.data.shapes, p.upload.shapes, strict=True))
    sent = [s.label_ids[0] for p in parts for s in p.upload.shapes + p.upload.tags]
    assert sorted(sent) == sorted(s.label_ids[0] for s in up.shapes + up.tags)
    # frame order within a kind is kept
    assert [s.label_ids[0] for p in parts for s in p.upload.shapes] == \
        [s.label_ids[0] for s in up.shapes]


def test_small_uploads_and_tracks_are_not_split() -> None:
    assert split_upload(_upload([0, 1, 2]), 3, limit=3) is None
    assert split_upload(_upload([0, 0, 0, 0]), 1, limit=2) is None  # one frame: one part
    tracked = _upload([0, 1, 2, 3, 4])
    tracked.data.tracks.append(Track(frame=0, label_id=1))
    assert split_upload(tracked, 5, limit=2) is None
    outside = _upload([0, 1, 2, 9])
    assert split_upload(outside, 4, limit=2) is None  # a frame the task lacks
    twice = _upload([0, 1, 2, 3])
    twice.shapes[3].label_ids = ["s0"]  # one label id on two frames: converted as one task
    assert split_upload(twice, 4, limit=2) is None


def _server_view(ws: Workspace) -> list[tuple[Any, ...]]:
    """The task's annotations without CVAT's ids (label names for label ids), sorted."""
    (task_id,) = ws.task_ids()
    names = {lb["id"]: lb["name"] for lb in ws.labels(task_id)}
    data = ws.api.get_annotations(task_id=task_id)
    out = []
    for kind in ("tags", "shapes"):
        for obj in data[kind]:
            out.append((kind, obj["frame"], names[obj["label_id"]], tuple(obj.get("points", ())),
                        tuple(sorted(a["value"] for a in obj["attributes"]))))
    return sorted(out)


def _record_view(ws: Workspace) -> tuple[Any, ...]:
    record = ws.record
    (task,) = record.tasks
    assert task.id_map is not None
    entries = sorted((e.kind, e.field, e.label_id or "", e.index or 0, e.part, e.frame or 0)
                     for e in task.id_map.entries)
    return record.base, entries, task.state, task.size


def test_parts_give_what_one_put_gives(workspaces: list[Workspace], server: Any,
                                       tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    one = Workspace(tmp_path / "one", server)
    many = Workspace(tmp_path / "many", server)
    workspaces.extend([one, many])
    sent: list[str] = []
    put, patch = CvatClient.put_annotations, CvatClient.patch_annotations

    def put_spy(self: CvatClient, data: Any, *a: Any, **k: Any) -> Any:
        body = json.loads(data) if isinstance(data, bytes) else data  # one PUT: encoded
        sent.append(f"PUT {len(body['shapes']) + len(body['tags'])}")
        return put(self, data, *a, **k)

    def patch_spy(self: CvatClient, action: str, data: Any, *a: Any, **k: Any) -> Any:
        sent.append(f"PATCH {action} {len(data['shapes']) + len(data['tags'])}")
        return patch(self, action, data, *a, **k)

    monkeypatch.setattr(CvatClient, "put_annotations", put_spy)
    monkeypatch.setattr(CvatClient, "patch_annotations", patch_spy)
    for ws in (one, many):
        (tmp_path / ws.root.name).mkdir()
        ws.copy("street")
        ws.manifest(label_schema=SCHEMA)
    one.run()
    single = list(sent)
    sent.clear()
    monkeypatch.setattr(create_mod, "PART_OBJECTS", 7)
    many.run()
    assert len(single) == 1 and single[0].startswith("PUT")
    assert sent[0].startswith("PUT") and len(sent) >= 3
    assert all(s.startswith("PATCH create") for s in sent[1:])
    assert sum(int(s.rsplit(" ", 1)[1]) for s in sent) == int(single[0].split()[1])
    assert _record_view(many) == _record_view(one)
    assert _server_view(many) == _server_view(one)
    for ws in (one, many):
        assert not ws.plan().has_changes
    # label files untouched by the upload, in both
    for key in one.record.samples:
        assert one.sample(key) == many.sample(key)


def test_a_failed_part_is_resumed_from_a_clean_task(ws: Workspace,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A part refused mid-way fails the apply; the next apply starts over with the PUT (which
    replaces the parts that made it) and ends with each label once."""
    ws.copy("street")
    ws.manifest(label_schema=SCHEMA)
    monkeypatch.setattr(create_mod, "PART_OBJECTS", 7)
    patch = CvatClient.patch_annotations
    calls = {"n": 0}

    def flaky(self: CvatClient, action: str, data: Any, *a: Any, **k: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("connection dropped")
        return patch(self, action, data, *a, **k)

    monkeypatch.setattr(CvatClient, "patch_annotations", flaky)
    with pytest.raises(RuntimeError, match="connection dropped"):
        ws.run()
    assert ws.record.tasks[0].state == "data_uploaded"
    ws.run()
    assert ws.record.tasks[0].state == "labels_uploaded"
    (task_id,) = ws.task_ids()
    data = LabeledData.model_validate(ws.api.get_annotations(task_id=task_id))
    carried = [a.value for o in [*data.shapes, *data.tags] for a in o.attributes
               if len(a.value) == 24]
    assert carried and len(carried) == len(set(carried))
    assert not ws.plan().has_changes


def test_the_echo_path_gives_what_converting_the_answer_gives(
        workspaces: list[Workspace], server: Any, tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The labels converted back from the PUT's body while CVAT stores them (``from_sent``,
    used when the answer echoes the body) leave the record that converting the answer leaves."""
    fast = Workspace(tmp_path / "fast", server)
    slow = Workspace(tmp_path / "slow", server)
    workspaces.extend([fast, slow])
    converted: list[int] = []
    original = create_mod.from_cvat

    def spy(data: Any, *a: Any, **k: Any) -> Any:
        converted.append(1)
        return original(data, *a, **k)

    monkeypatch.setattr(create_mod, "from_cvat", spy)
    for ws in (fast, slow):
        (tmp_path / ws.root.name).mkdir()
        ws.copy("street")
        ws.manifest(label_schema=SCHEMA)
    fast.run()
    assert converted == []  # the answer echoed the body: nothing converted after it
    monkeypatch.setattr(create_mod, "from_sent", lambda *a, **k: None)
    slow.run()
    assert converted == [1]
    assert _record_view(fast) == _record_view(slow)
    assert _server_view(fast) == _server_view(slow)
    for ws in (fast, slow):
        assert not ws.plan().has_changes


def test_labels_converted_during_the_media_upload_are_used_only_if_cvat_agrees(
        workspaces: list[Workspace], server: Any, tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The labels are converted while the media goes up, with the frame sizes the samples'
    metadata predicts; when CVAT's data/meta reports other sizes (metadata wrong), they are
    converted again with CVAT's, and the task ends as if nothing had been guessed."""
    right = Workspace(tmp_path / "right", server)
    wrong = Workspace(tmp_path / "wrong", server)
    workspaces.extend([right, wrong])
    sizes: list[list[tuple[int, int]]] = []
    original = create_mod.to_cvat

    def spy(samples: Any, fields: Any, frames: Any, *a: Any, **k: Any) -> Any:
        sizes.append([(s.width, s.height) for s in frames.sizes])
        return original(samples, fields, frames, *a, **k)

    monkeypatch.setattr(create_mod, "to_cvat", spy)
    for ws in (right, wrong):
        (tmp_path / ws.root.name).mkdir()
        ws.copy("street")
        ws.manifest(label_schema=SCHEMA)
    right.run()
    assert len(sizes) == 1 and sizes[0][0][0] > 0  # converted once, during the media upload
    assert wrong.dataset is not None
    key = sorted(p.stem for p in (wrong.dataset / "labels").glob("*.json"))[0]
    sample = wrong.sample(key)
    assert sample.metadata is not None
    sample.metadata.width += 7  # the metadata says another width than the image has
    wrong.save(key, sample)
    sizes.clear()
    wrong.run()
    assert len(sizes) == 2 and sizes[0] != sizes[1]  # guessed, then CVAT's sizes
    assert _server_view(wrong) == _server_view(right)
    assert not wrong.plan().has_changes


def test_the_labels_conversion_starts_once_the_media_bytes_are_sent(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The conversion during the media upload starts when every byte of the media is sent
    (it then overlaps CVAT's processing, not the reading and sending of the files): the
    upload holds back for a while before sending, and no conversion may start meanwhile."""
    import threading

    sent: list[tuple[int, int | None]] = []
    started = threading.Event()
    seen: list[list[tuple[int, int | None]]] = []
    original_upload = CvatClient.upload_task_data
    original_convert = create_mod.to_cvat

    def upload(self: CvatClient, task_id: int, files: Any, *a: Any, **k: Any) -> Any:
        report = k["progress"]

        def progress(done: int, total: int | None) -> None:
            sent.append((done, total))
            report(done, total)

        started.wait(0.5)  # a conversion started before the media is sent has time to show
        return original_upload(self, task_id, files, *a, **{**k, "progress": progress})

    def convert(*a: Any, **k: Any) -> Any:
        seen.append(list(sent))
        started.set()
        return original_convert(*a, **k)

    monkeypatch.setattr(CvatClient, "upload_task_data", upload)
    monkeypatch.setattr(create_mod, "to_cvat", convert)
    ws.copy("street")
    ws.manifest(label_schema=SCHEMA)
    ws.run()
    assert len(seen) == 1  # converted once, during the media upload (frame sizes as guessed)
    assert seen[0] and seen[0][-1][0] == seen[0][-1][1]  # after every byte was sent
    assert ws.record.tasks[0].state == "labels_uploaded"
    assert not ws.plan().has_changes


@pytest.mark.parametrize("assignees", [False, True])
def test_jobs_are_listed_before_the_labels_only_to_assign_them(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch, assignees: bool) -> None:
    """One job listing per task (after the labels, for the record) unless jobs are assigned,
    which needs them listed first (round-robin over the run)."""
    listed: list[int] = []
    original = CvatClient.list_jobs

    def spy(self: CvatClient, *a: Any, **k: Any) -> Any:
        listed.append(int(k["task_id"]))
        return original(self, *a, **k)

    monkeypatch.setattr(CvatClient, "list_jobs", spy)
    ws.copy("street")
    ws.manifest(label_schema=SCHEMA, cvat={"segment_size": 2, **(
        {"job_assignees": [ws.user("alice")]} if assignees else {})})
    ws.run()
    (task,) = ws.record.tasks
    assert listed == [task.id] * (2 if assignees else 1)
    assert len(task.jobs) >= 2 and task.state == "labels_uploaded"
    assert all(j.assignee == (ws.user("alice") if assignees else None) for j in task.jobs)
    assert not ws.plan().has_changes


class _Killed(BaseException):
    pass


def test_a_resume_waits_for_the_jobs_of_a_task_whose_creation_it_did_not_see_end(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed right after sending the media (CVAT still creating the task, its jobs not yet
    made), then resumed at once: the resume waits for the jobs before recording them."""
    original = CvatClient._finish_task_data

    def killed(self: CvatClient, *a: Any, **k: Any) -> Any:
        raise _Killed

    ws.copy("street")
    ws.manifest(label_schema=SCHEMA, cvat={"segment_size": 2})
    monkeypatch.setattr(CvatClient, "_finish_task_data", killed)
    with pytest.raises(_Killed):
        ws.run()
    monkeypatch.setattr(CvatClient, "_finish_task_data", original)
    ws.run()
    (task,) = ws.record.tasks
    assert task.state == "labels_uploaded" and len(task.jobs) >= 2
    assert not ws.plan().has_changes


def test_the_boxes_read_back_as_values_give_the_same_record(
        workspaces: list[Workspace], server: Any, tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An upload of boxes only takes the bases from the boxes sent (``boxes_from_sent``), and
    leaves the record that ``from_sent``'s labels leave, and that converting the answer leaves."""
    lean, labels, answer = (Workspace(tmp_path / n, server) for n in ("lean", "labels", "answer"))
    workspaces.extend([lean, labels, answer])
    taken: list[int] = []
    original = create_mod.bases_from_boxes

    def spy(*a: Any, **k: Any) -> Any:
        taken.append(1)
        return original(*a, **k)

    monkeypatch.setattr(create_mod, "bases_from_boxes", spy)
    for ws in (lean, labels, answer):
        (tmp_path / ws.root.name).mkdir()
        ws.copy("street")
        ws.manifest(label_schema={"ground_truth": {}})
    lean.run()
    assert taken == [1]
    monkeypatch.setattr(create_mod, "boxes_from_sent", lambda *a, **k: None)
    labels.run()
    monkeypatch.setattr(create_mod, "from_sent", lambda *a, **k: None)
    answer.run()
    assert taken == [1]
    assert _record_view(lean) == _record_view(labels) == _record_view(answer)
    assert lean.record.base  # (something to compare)
    assert _server_view(lean) == _server_view(labels) == _server_view(answer)
    for ws in (lean, labels, answer):
        assert not ws.plan().has_changes
