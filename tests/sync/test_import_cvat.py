"""Importing CVAT tasks made outside annosync (the reference's ``import_annotations``), and
adopting them as runs that ``plan`` / ``pull`` / ``sync`` / ``cleanup`` then work on."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from annosync.api import dataset_runs
from annosync.cli.main import cli
from annosync.cvat import Credentials, CvatClient
from annosync.dataset.folder import DatasetFolder
from annosync.emulator import Emulator
from annosync.errors import InputError, StateError
from annosync.model.labels import Detection, Keypoint
from annosync.model.sample import Sample
from annosync.sync.adopt import import_cvat
from annosync.sync.apply import ApplyResult
from annosync.sync.engine import Engine, apply_plan, make_plan
from annosync.sync.plan import RunPlan
from annosync.sync.record import RunRecord, load_record
from annosync.sync.session import Connection, RunSession, SyncOptions

from .conftest import FIXTURES, Workspace

VIDEO = FIXTURES / "traffic" / "media" / "day.mp4"  # 20 frames, 160x120
SIZES = {"a.jpg": (64, 48), "b.jpg": (80, 60), "c.png": (40, 30)}
LABELS: list[dict[str, Any]] = [
    {"name": "car", "type": "any", "attributes": [
        {"name": "color", "input_type": "select", "mutable": True, "values": ["red", "blue"],
         "default_value": "red"}]},
    {"name": "lane", "type": "any", "attributes": []},
    {"name": "person", "type": "points", "attributes": []},
    {"name": "sunny", "type": "tag", "attributes": []},
]


def image_bytes(name: str) -> bytes:
    w, h = SIZES[name]
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (len(name) * 40 % 256, w, h)).save(
        buf, format="PNG" if name.endswith(".png") else "JPEG")
    return buf.getvalue()


@pytest.fixture
def client(emu: Emulator) -> Iterator[CvatClient]:
    with CvatClient(emu.url, Credentials(username=emu.admin_username,
                                         password=emu.admin_password),
                    poll_interval=(0.02, 0.2)) as c:
        yield c


def connection(emu: Emulator) -> Connection:
    return Connection(url=emu.url, username=emu.admin_username, password=emu.admin_password,
                      interactive=False)


def ids_of(client: CvatClient, task_id: int) -> tuple[dict[str, int], dict[str, int]]:
    labels = client.get_labels(task_id=task_id)
    return ({lb["name"]: lb["id"] for lb in labels},
            {a["name"]: a["id"] for lb in labels for a in lb["attributes"]})


def make_image_task(client: CvatClient, name: str, project_id: int | None = None,
                    prefix: str = "") -> int:
    """An image task as someone makes it in CVAT's UI: labels, three images, annotations of
    every kind (box with an attribute, polygon, polyline, points, mask, tag)."""
    body: dict[str, Any] = {"project_id": project_id} if project_id else {"labels": LABELS}
    task = client.create_task(name, segment_size=2, **body)
    tid = int(task["id"])
    client.upload_task_data(tid, [(prefix + n, image_bytes(n)) for n in SIZES])
    label, attr = ids_of(client, tid)
    shape = {"occluded": False, "z_order": 0, "rotation": 0.0, "group": 0, "source": "manual",
             "attributes": []}
    client.put_annotations({"version": 0, "tracks": [], "tags": [
        {"frame": 0, "label_id": label["sunny"], "group": 0, "source": "manual",
         "attributes": []},
    ], "shapes": [
        {**shape, "type": "rectangle", "frame": 0, "label_id": label["car"],
         "points": [8.0, 12.0, 40.0, 36.0],
         "attributes": [{"spec_id": attr["color"], "value": "blue"}]},
        {**shape, "type": "polygon", "frame": 0, "label_id": label["lane"],
         "points": [1.0, 1.0, 30.0, 2.0, 20.0, 40.0]},
        {**shape, "type": "polyline", "frame": 1, "label_id": label["lane"],
         "points": [0.0, 50.0, 70.0, 10.0]},
        {**shape, "type": "points", "frame": 1, "label_id": label["person"],
         "points": [40.0, 30.0, 44.0, 35.0]},
        {**shape, "type": "mask", "frame": 2, "label_id": label["car"],
         "points": [0.0, 12.0, 10.0, 10.0, 13.0, 12.0]},
    ]}, task_id=tid)
    return tid


def make_video_task(client: CvatClient, name: str) -> int:
    """A video task with a track (two keyframes, then outside) and a standalone box."""
    task = client.create_task(name, labels=[{"name": "vehicle", "type": "rectangle",
                                             "attributes": []}])
    tid = int(task["id"])
    client.upload_task_data(tid, [("day.mp4", VIDEO)])
    label, _ = ids_of(client, tid)

    def key(frame: int, x: float, outside: bool = False) -> dict[str, Any]:
        return {"type": "rectangle", "frame": frame, "points": [x, 40.0, x + 30, 70.0],
                "outside": outside, "occluded": False, "z_order": 0, "rotation": 0.0,
                "attributes": []}

    client.put_annotations({"version": 0, "tags": [], "shapes": [
        {"type": "rectangle", "frame": 3, "label_id": label["vehicle"], "points": [5, 5, 25, 25],
         "occluded": False, "z_order": 0, "rotation": 0.0, "group": 0, "source": "manual",
         "attributes": []},
    ], "tracks": [
        {"frame": 0, "label_id": label["vehicle"], "group": 0, "source": "manual",
         "attributes": [], "shapes": [key(0, 10.0), key(10, 60.0), key(15, 60.0, True)]},
    ]}, task_id=tid)
    return tid


def engine(emu: Emulator, root: Path, **options: Any) -> Engine:
    runs = dataset_runs(DatasetFolder.open(root))
    return Engine([RunSession(r, SyncOptions(progress=False, **options), connection(emu))
                   for r in runs])


def plan(emu: Emulator, root: Path, **options: Any) -> RunPlan:
    with engine(emu, root, **options) as eng:
        (rp,) = make_plan(eng).runs
        return rp


def run(emu: Emulator, root: Path, **options: Any) -> tuple[RunPlan, ApplyResult]:
    with engine(emu, root, **options) as eng:
        p = make_plan(eng)
        (result,) = apply_plan(eng, p)
        return p.runs[0], result


def record(root: Path, key: str) -> RunRecord:
    found = load_record(DatasetFolder(root).state_dir, key)
    assert found is not None
    return found


def read(root: Path, key: str) -> Sample:
    return DatasetFolder(root).read(key)


def snapshot(root: Path) -> dict[str, bytes]:
    """The dataset's files (the lock and the plan's caches, like git's index, are not data)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "lock" not in p.name and ".annosync/cache" not in p.as_posix()}


# -- import ------------------------------------------------------------------------------------
def test_download_media_into_a_new_dataset(client: CvatClient, tmp_path: Path) -> None:
    tid = make_image_task(client, "made in the UI")
    root = tmp_path / "new"
    rep = import_cvat(root, client, task_ids=[tid], download_media=True)
    assert sorted(rep.created) == ["a", "b", "c"] and rep.labels == 6 and not rep.unexpected
    assert sorted(rep.media) == ["media/a.jpg", "media/b.jpg", "media/c.png"]
    for name in SIZES:  # the original files, byte for byte
        assert (root / "media" / name).read_bytes() == image_bytes(name)
    a, b, c = (read(root, k) for k in "abc")
    assert a.metadata is not None and (a.metadata.width, a.metadata.height) == (64, 48)
    (box,) = a.fields["ground_truth_detections"].detections
    assert box.label == "car" and box.attributes == {"color": "blue"}
    assert box.bounding_box == pytest.approx((8 / 64, 12 / 48, 32 / 64, 24 / 48))
    (polygon,) = a.fields["ground_truth_polylines"].polylines
    assert polygon.closed and polygon.filled and len(polygon.points[0]) == 3
    assert [c.label for c in a.fields["ground_truth_classifications"].classifications] == ["sunny"]
    (line,) = b.fields["ground_truth_polylines"].polylines
    assert not line.closed and not line.filled
    (kp,) = b.fields["ground_truth_keypoints"].keypoints
    assert isinstance(kp, Keypoint) and kp.label == "person" and len(kp.points) == 2
    (mask,) = c.fields["ground_truth_detections"].detections
    assert isinstance(mask, Detection) and mask.mask is not None
    assert "ground_truth_keypoints" not in a.fields  # empty kinds are not written
    assert not load_record(DatasetFolder(root).state_dir, "x")  # no run without an anno key
    # importing again changes nothing (ids are derived from the CVAT objects)
    before = snapshot(root)
    again = import_cvat(root, client, task_ids=[tid], download_media=True)
    assert sorted(again.unchanged) == ["a", "b", "c"] and not again.media
    assert snapshot(root) == before
    (root / "media" / "b.jpg").unlink()
    (root / "labels" / "b.json").unlink()
    dry = import_cvat(root, client, task_ids=[tid], download_media=True, dry_run=True)
    assert dry.created == ["b"] and sorted(dry.unchanged) == ["a", "c"]
    assert dry.media == ["media/b.jpg"] and not (root / "media" / "b.jpg").exists()


def test_data_map_into_an_existing_dataset(client: CvatClient, tmp_path: Path) -> None:
    tid = make_image_task(client, "mapped")
    root = tmp_path / "ds"
    folder = DatasetFolder.init(root)
    for i, name in enumerate(SIZES):
        path = root / "media" / f"img{i}{Path(name).suffix}"
        path.write_bytes(image_bytes(name))
    folder.scan_media()
    keep = read(root, "img0")
    keep.fields["notes"] = "keep me"
    folder.write("img0", keep)
    data_map = {"a.jpg": "img0", "b.jpg": "media/img1.jpg", "c": "img2"}
    map_file = tmp_path / "map.json"
    map_file.write_text(json.dumps(data_map))
    rep = import_cvat(root, client, task_ids=[tid], data_map=map_file,
                      label_field={"detections": "gt", "polylines": "lines"})
    assert sorted(rep.updated) == ["img0", "img1", "img2"] and not rep.created and not rep.media
    img0 = read(root, "img0")
    assert img0.fields["notes"] == "keep me"
    assert [d.label for d in img0.fields["gt"].detections] == ["car"]
    assert [p.closed for p in img0.fields["lines"].polylines] == [True]
    assert "ground_truth_classifications" not in img0.fields  # only the kinds mapped
    assert rep.unexpected == 2  # the tag and the points fit no field: reported, not written
    assert any("not imported" in w for w in rep.warnings)
    assert sorted(p.name for p in (root / "media").iterdir()) == ["img0.jpg", "img1.jpg",
                                                                   "img2.png"]


def test_unmatched_files_fail_and_nothing_is_written(client: CvatClient, tmp_path: Path) -> None:
    tid = make_image_task(client, "unmatched")
    root = tmp_path / "ds"
    folder = DatasetFolder.init(root)
    (root / "media" / "other.jpg").write_bytes(image_bytes("a.jpg"))
    folder.scan_media()
    before = snapshot(root)
    with pytest.raises(InputError, match="3 CVAT file\\(s\\) match no sample"):
        import_cvat(root, client, task_ids=[tid])
    with pytest.raises(InputError, match="neither a sample key nor a media file"):
        import_cvat(root, client, task_ids=[tid], data_map={"a.jpg": "nope"},
                    download_media=True)
    assert snapshot(root) == before
    fresh = tmp_path / "fresh"
    with pytest.raises(InputError):
        import_cvat(fresh, client, task_ids=[tid])
    assert not fresh.exists()
    dry = import_cvat(fresh, client, task_ids=[tid], download_media=True, anno_key="k",
                      dry_run=True)
    assert sorted(dry.created) == ["a", "b", "c"] and not fresh.exists()


# -- adoption ----------------------------------------------------------------------------------
def test_adopted_image_task_syncs_like_a_run(emu: Emulator, client: CvatClient,
                                             tmp_path: Path) -> None:
    tid = make_image_task(client, "adopted")
    root = tmp_path / "ds"
    rep = import_cvat(root, client, task_ids=[tid], download_media=True, anno_key="fix")
    assert rep.anno_key == "fix"
    rec = record(root, "fix")
    (task,) = rec.tasks
    assert task.id == tid and task.state == "labels_uploaded" and task.samples == ["a", "b", "c"]
    assert {j.id: j.updated_date for j in task.jobs} == {
        j["id"]: j["updated_date"] for j in client.list_jobs(task_id=tid)}
    assert {k: (r.task, r.frame) for k, r in rec.samples.items()} == {
        "a": (0, 0), "b": (0, 1), "c": (0, 2)}
    assert task.id_map is not None and len(task.id_map.entries) == 6
    assert rec.project is None and rec.base
    # the very next plan: nothing changed, nothing downloaded
    first = plan(emu, root)
    assert not first.has_changes and not first.jobs_changed and not first.create_tasks
    before = snapshot(root)
    run(emu, root, mode="pull")
    assert snapshot(root) == before
    # an annotator edits the box, deletes the polyline and adds a box
    box_id = read(root, "a").fields["ground_truth_detections"].detections[0].id
    a = emu.annotator(emu.admin_username)
    shapes = {s["type"]: s for s in a.shapes(tid)}
    a.update_shape(shapes["rectangle"]["id"], points=[4.0, 4.0, 20.0, 20.0])
    a.delete(shapes["polyline"]["id"])
    a.add_shape(tid, frame=2, label="car", type="rectangle", points=[1, 1, 9, 9],
                attributes={"color": "red"})
    changed = plan(emu, root)
    assert (changed.pull_counts.add, changed.pull_counts.edit, changed.pull_counts.delete) == (
        1, 1, 1)
    assert not changed.push_counts.total and not changed.conflicts
    run(emu, root, mode="pull")
    (box,) = read(root, "a").fields["ground_truth_detections"].detections
    assert box.id == box_id and box.bounding_box == pytest.approx((4 / 64, 4 / 48, 16 / 64,
                                                                   16 / 48))
    assert read(root, "b").fields["ground_truth_polylines"].polylines == []
    assert len(read(root, "c").fields["ground_truth_detections"].detections) == 2
    assert not plan(emu, root).has_changes
    # a local edit is pushed to the adopted task (found through the id map: no label_id attr)
    sample = read(root, "a")
    det = sample.fields["ground_truth_detections"].detections[0]
    sample.fields["ground_truth_detections"].detections[0] = det.model_copy(
        update={"attributes": {"color": "red"}})
    DatasetFolder(root).write("a", sample)
    _, result = run(emu, root)
    assert result.pushed.updated == 1 and not result.pushed.created
    rect = next(s for s in a.shapes(tid) if s["id"] == shapes["rectangle"]["id"])
    color = ids_of(client, tid)[1]["color"]
    assert [x["value"] for x in rect["attributes"] if x["spec_id"] == color] == ["red"]
    assert not plan(emu, root).has_changes


def test_adopted_video_track_task(emu: Emulator, client: CvatClient, tmp_path: Path) -> None:
    tid = make_video_task(client, "video made in the UI")
    root = tmp_path / "ds"
    (root / "clips").mkdir(parents=True)
    shutil.copy(VIDEO, root / "clips" / "day.mp4")
    rep = import_cvat(root, client, task_ids=[tid], data_map={"day.mp4": "clips/day.mp4"},
                      anno_key="vid", label_field="vehicles")
    assert rep.created == ["clips/day"] and rep.tasks[0].media_type == "video"
    sample = read(root, "clips/day")
    assert sample.is_video and sample.media == "clips/day.mp4"
    tracks: dict[int | None, dict[int, Detection]] = {}
    for number, frame in sample.frames.items():
        for det in frame["vehicles_detections"].detections:
            tracks.setdefault(det.index, {})[number] = det
    (track,) = [t for t in tracks.values() if len(t) > 1]
    assert sorted(track) == list(range(1, 16))  # frames 0..14 (outside from 15), numbered from 1
    assert track[1].keyframe and track[11].keyframe and not track[5].keyframe
    assert any(len(t) == 1 and 4 in t for t in tracks.values())  # the standalone box
    (task,) = record(root, "vid").tasks
    assert task.media_type == "video" and task.samples == ["clips/day"]
    assert not plan(emu, root).has_changes
    # an annotator moves the second keyframe: the track's frames change, ids stay
    ids_before = {n: d.id for n, d in track.items()}
    data = client.get_annotations(task_id=tid)
    moved = data["tracks"][0]
    moved["shapes"][1]["points"] = [70.0, 40.0, 100.0, 70.0]
    client.patch_annotations("update", {"tracks": [moved], "shapes": [], "tags": []},
                             task_id=tid)
    changed = plan(emu, root)
    assert changed.pull_counts.edit >= 1 and not changed.pull_counts.add
    assert not changed.pull_counts.delete and not changed.conflicts
    run(emu, root, mode="pull")
    after = read(root, "clips/day")
    moved_track = {n: d for n, f in after.frames.items()
                   for d in f["vehicles_detections"].detections if d.index == track[1].index}
    assert {n: d.id for n, d in moved_track.items()} == ids_before
    assert moved_track[11].bounding_box[0] == pytest.approx(70 / 160)
    assert not plan(emu, root).has_changes


def test_a_task_is_adopted_once(client: CvatClient, tmp_path: Path) -> None:
    tid = make_image_task(client, "twice")
    root = tmp_path / "ds"
    import_cvat(root, client, task_ids=[tid], download_media=True, anno_key="one")
    before = snapshot(root)
    with pytest.raises(StateError, match="belongs to run 'one'"):
        import_cvat(root, client, task_ids=[tid], download_media=True, anno_key="two")
    with pytest.raises(StateError, match="already exists"):
        import_cvat(root, client, task_ids=[make_image_task(client, "other")],
                    download_media=True, anno_key="one", media_dir="media/other")
    with pytest.raises(StateError, match="belongs to run 'one'"):
        import_cvat(root, client, task_ids=[tid])  # a plain import would bypass the merge
    assert snapshot(root) == before


def test_project_import_adopts_every_task(emu: Emulator, client: CvatClient,
                                          tmp_path: Path) -> None:
    name = f"made elsewhere {tmp_path.name}"  # unique in the session's server
    project = client.create_project(name, labels=LABELS)
    pid = int(project["id"])
    first = make_image_task(client, "part 1", project_id=pid, prefix="p1_")
    second = make_image_task(client, "part 2", project_id=pid, prefix="p2_")
    root = tmp_path / "ds"
    rep = import_cvat(root, client, project_name=name, download_media=True,
                      anno_key="proj")
    assert [t.task_id for t in rep.tasks] == [first, second] and len(rep.created) == 6
    rec = record(root, "proj")
    assert [t.id for t in rec.tasks] == [first, second]
    assert rec.samples["p2_b"].task == 1 and rec.samples["p2_b"].frame == 1
    assert rec.project is not None and rec.project.id == pid and not rec.project.created
    assert not plan(emu, root).has_changes
    # cleanup deletes the adopted tasks (as the reference's results.cleanup()), never a
    # project annosync did not create
    cleanup = plan(emu, root, mode="cleanup")
    assert cleanup.cleanup is not None and cleanup.cleanup.tasks == [first, second]
    assert cleanup.cleanup.project is None
    run(emu, root, mode="cleanup")
    assert not client.exists("tasks", first) and not client.exists("tasks", second)
    assert client.exists("projects", pid)


def test_same_file_names_in_two_tasks_need_a_media_dir_each(client: CvatClient,
                                                           tmp_path: Path) -> None:
    one, two = make_image_task(client, "one"), make_image_task(client, "two")
    root = tmp_path / "ds"
    with pytest.raises(InputError, match="task"):
        import_cvat(root, client, task_ids=[one, two], download_media=True)
    assert not root.exists()
    import_cvat(root, client, task_ids=[one], download_media=True, media_dir="media/one")
    rep = import_cvat(root, client, task_ids=[two], download_media=True, media_dir="media/two")
    assert sorted(rep.created) == ["two/a", "two/b", "two/c"]
    assert sorted(DatasetFolder(root).keys()) == ["one/a", "one/b", "one/c", "two/a", "two/b",
                                                   "two/c"]


def test_video_media_cannot_be_downloaded(client: CvatClient, tmp_path: Path) -> None:
    tid = make_video_task(client, "video")
    with pytest.raises(InputError, match="original file"):
        import_cvat(tmp_path / "ds", client, task_ids=[tid], download_media=True)
    assert not (tmp_path / "ds").exists()


def test_cli_import_cvat_then_plan(emu: Emulator, client: CvatClient, tmp_path: Path) -> None:
    tid = make_image_task(client, "from the cli")
    root = tmp_path / "ds"
    env = {"ANNOSYNC_CVAT_PASSWORD": emu.admin_password, "ANNOSYNC_CONFIG": str(tmp_path / "no")}
    runner = CliRunner()
    res = runner.invoke(cli, ["import-cvat", str(root), "--task-id", str(tid), "--download-media",
                              "--anno-key", "ui", "--label-field", "gt", "--url", emu.url,
                              "--username", emu.admin_username], env=env)
    assert res.exit_code == 0, res.output
    assert "3 sample(s) created" in res.output and "run 'ui'" in res.output
    assert "gt_detections" in read(root, "a").fields
    res = runner.invoke(cli, ["plan", str(root), "--url", emu.url, "--username",
                              emu.admin_username], env=env)
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["status", str(root), "--json", "--url", emu.url, "--username",
                              emu.admin_username], env=env)
    assert res.exit_code == 0, res.output
    assert [t["id"] for t in json.loads(res.output)[0]["tasks"]] == [tid]
    res = runner.invoke(cli, ["import-cvat", "--help"])
    assert "DELETES the adopted tasks" in " ".join(res.output.split())
    res = runner.invoke(cli, ["import-cvat", str(root), "--url", emu.url], env=env)
    assert res.exit_code != 0 and "--task-id" in res.output


def test_readopting_a_forgotten_runs_task_keeps_its_label_ids(ws: Workspace) -> None:
    """A task annosync made (its objects carry label_id attributes) adopted again after the
    run was forgotten: the labels keep their ids and nothing changes."""
    from annosync.api import forget_run

    ws.copy("street")
    ws.manifest(label_field="ground_truth", samples={"keys": ["0001", "0002"]})
    ws.run()
    (tid,) = ws.task_ids()
    before = {k: ws.folder.read_bytes(k) for k in ("0001", "0002")}
    ids = {k: [d.id for d in ws.sample(k).fields["ground_truth"].detections]
           for k in ("0001", "0002")}
    assert forget_run(ws.folder, ws.anno_key)
    assert ws.dataset is not None
    with ws.client() as client:
        # the reference's example: CVAT names are the index-prefixed upload names
        names = [f["name"] for f in client.get_data_meta(tid)["frames"]]
        rep = import_cvat(ws.dataset, client, task_ids=[tid], anno_key="again",
                          data_map=dict(zip(names, ["0001", "0002"], strict=True)),
                          label_field={"detections": "ground_truth"})
    assert sorted(rep.unchanged + rep.updated) == ["0001", "0002"] and not rep.created
    assert {k: [d.id for d in ws.sample(k).fields["ground_truth"].detections]
            for k in ("0001", "0002")} == ids
    assert {k: ws.folder.read_bytes(k) for k in ("0001", "0002")} == before
    assert not plan(ws.emu, ws.dataset).has_changes
    # the base holds CVAT's side as CVAT returns it: an edit elsewhere in the job is the only
    # change the next plan sees (not the attributes CVAT reads back as their default)
    shape = next(s for s in ws.annotator.shapes(tid)
                 if any(a["value"] == ids["0001"][0] for a in s["attributes"]))
    ws.annotator.update_shape(shape["id"], points=[10.0, 20.0, 60.0, 80.0])
    changed = plan(ws.emu, ws.dataset)
    assert [(c.sample, c.pull.edit, c.pull.total) for c in changed.samples] == [("0001", 1, 1)]
    assert [line.aspects for line in changed.samples[0].labels] == [["spatial"]]


def test_a_frame_deleted_in_cvat_stays_in_the_run(emu: Emulator, client: CvatClient,
                                                  tmp_path: Path) -> None:
    """Exports leave deleted frames out: the image comes from the frame endpoint; its labels
    are none (CVAT shows none there), and the run still covers it."""
    tid = make_image_task(client, "deleted frame")
    client.transport.request("PATCH", f"/api/tasks/{tid}/data/meta",
                             json={"deleted_frames": [1]})
    root = tmp_path / "ds"
    rep = import_cvat(root, client, task_ids=[tid], download_media=True, anno_key="del")
    assert sorted(rep.created) == ["a", "b", "c"]
    assert (root / "media" / "b.jpg").read_bytes() == image_bytes("b.jpg")
    assert not read(root, "b").fields
    assert record(root, "del").tasks[0].samples == ["a", "b", "c"]
    assert not plan(emu, root).has_changes


def test_occluded_flag_as_an_attribute(emu: Emulator, client: CvatClient,
                                       tmp_path: Path) -> None:
    tid = make_image_task(client, "occluded")
    a = emu.annotator(emu.admin_username)
    rect = next(s for s in a.shapes(tid) if s["type"] == "rectangle")
    a.update_shape(rect["id"], occluded=True)
    root = tmp_path / "ds"
    import_cvat(root, client, task_ids=[tid], download_media=True, occluded_attr="hidden",
                anno_key="occ")
    (box,) = read(root, "a").fields["ground_truth_detections"].detections
    assert box.attributes == {"color": "blue", "hidden": True}
    assert record(root, "occ").config["cvat"]["occluded_attr"] == "hidden"
    assert not plan(emu, root).has_changes
    a.update_shape(rect["id"], occluded=False)
    run(emu, root, mode="pull")
    (box,) = read(root, "a").fields["ground_truth_detections"].detections
    assert box.attributes["hidden"] is False
