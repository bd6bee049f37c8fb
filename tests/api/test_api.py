"""The Python API: FiftyOne's names over the engine, on the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import annosync as asy
from annosync.cli.main import cli
from annosync.emulator import Emulator
from annosync.errors import InputError, StateError

FP = "length(fields.predictions.detections[?confidence > `0.8` && attributes.eval == 'fp'])"


def test_views_select_sort_limit(street: Path) -> None:
    ds = asy.load_dataset(street)
    assert ds.keys() == ["0001", "0002", "0003", "0004", "night/0005"]
    view = ds.match(f"{FP} > `0`")
    assert view.keys() == ["0001", "0003", "night/0005"]
    assert view.sort_by(FP, reverse=True).first_key() == "0003"
    assert view.sort_by(FP, reverse=True).limit(2).keys() == ["0003", "0001"]
    assert ds.select(["night/0005", "0001"]).keys() == ["0001", "night/0005"]
    assert ds.select(["night/0005", "0001"], ordered=True).keys() == ["night/0005", "0001"]
    assert ds.skip(3).exclude("0004").keys() == ["night/0005"]
    assert len(view) == 3 and ds.select("0002").first().media == "media/0002.jpg"
    with pytest.raises(InputError):
        ds.match("length(")
    with pytest.raises(InputError):
        ds.select("nope")


def test_basic_recipe_workflow(street: Path, emu: Emulator, anno_key: str) -> None:
    ds = asy.load_dataset(street)
    view = ds.select(ds.match(f"{FP} > `0`").sort_by(FP, reverse=True).first_key())
    results = view.annotate(anno_key, label_field="ground_truth", attributes=["iscrowd"],
                            classes=["car", "person", "truck"], segment_size=1,
                            job_assignees=["alice"])
    # the run is a manifest file the CLI can use
    manifest = street / ".annosync" / "manifests" / f"{anno_key}.yaml"
    data = yaml.safe_load(manifest.read_text())
    assert data["samples"] == {"keys": ["0003"]}
    assert data["cvat"] == {"segment_size": 1, "job_assignees": ["alice"]}
    assert ds.list_annotation_runs() == [anno_key]
    info = ds.get_annotation_info(anno_key)
    assert info.key == anno_key and info.config["label_field"] == "ground_truth"
    assert info["tasks"][0]["samples"] == ["0003"]
    assert json.loads(str(info))["key"] == anno_key

    (task_id,) = results.task_ids
    status = results.get_status()
    assert status["tasks"][0]["id"] == task_id
    assert status["tasks"][0]["url"] == f"{emu.url}/tasks/{task_id}"
    assert status["tasks"][0]["jobs"][0]["assignee"] == "alice"

    alice = emu.annotator("alice")
    shapes = sorted(alice.shapes(task_id), key=lambda s: s["id"])
    alice.delete(shapes[0]["id"])
    alice.change_label(shapes[1]["id"], "truck")
    before = ds.folder.read("0003").fields["ground_truth"].detections
    assert ds.load_annotations(anno_key) is None
    after = ds.folder.read("0003").fields["ground_truth"].detections
    assert len(after) == len(before) - 1
    assert sorted(d.label for d in after) == ["car", "truck"]

    # the CLI sees the API's run through the dataset folder
    res = CliRunner().invoke(cli, ["status", str(street)])
    assert res.exit_code == 0, res.output
    assert f"Task {task_id} (" in res.output

    loaded = ds.load_annotation_results(anno_key)
    assert loaded.task_ids == [task_id]
    assert loaded.cleanup() == [task_id]
    assert task_id not in emu.state.tasks
    ds.delete_annotation_run(anno_key)
    assert ds.list_annotation_runs() == []
    assert not manifest.exists()
    # labels stay
    assert ds.folder.read("0003").fields["ground_truth"].detections == after


def test_print_status(street: Path, emu: Emulator, anno_key: str,
                      capsys: pytest.CaptureFixture[str]) -> None:
    ds = asy.load_dataset(street)
    results = ds.select(["0001", "0003"]).annotate(anno_key, label_field="ground_truth",
                                                   segment_size=1)
    capsys.readouterr()
    results.print_status()
    out = capsys.readouterr().out
    assert f"Status of run '{anno_key}' (label field 'ground_truth'; {emu.url})" in out
    assert out.count("        Job ") == 2
    results.cleanup()


def test_keyword_credentials_beat_the_environment(street: Path, emu: Emulator, anno_key: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNOSYNC_CVAT_PASSWORD", "wrong")
    monkeypatch.delenv("ANNOSYNC_CVAT_URL")
    ds = asy.load_dataset(street)
    results = ds.select("0001").annotate(anno_key, label_field="ground_truth", url=emu.url,
                                         password=emu.admin_password)
    assert len(results.task_ids) == 1
    # no terminal: a missing password is an error, never a prompt
    monkeypatch.delenv("ANNOSYNC_CVAT_PASSWORD")
    with pytest.raises(asy.AnnosyncError):
        ds.load_annotations(anno_key, url=emu.url)
    ds.load_annotations(anno_key, url=emu.url, password=emu.admin_password)


def test_annotate_refuses_reuse_and_unknown_options(street: Path, anno_key: str) -> None:
    ds = asy.load_dataset(street)
    ds.select("0001").annotate(anno_key, label_field="ground_truth")
    with pytest.raises(StateError, match="already exists"):
        ds.select("0002").annotate(anno_key, label_field="ground_truth")
    with pytest.raises(TypeError, match="segmnet_size"):
        ds.select("0002").annotate(anno_key + "b", label_field="ground_truth", segmnet_size=2)
    with pytest.raises(InputError):
        ds.select("0002").annotate(anno_key + "c", label_field="ground_truth", image_quality=101)
    with pytest.raises(ValueError):
        ds.select("0002").annotate(anno_key + "d", label_field="ground_truth", backend="labelbox")
    ds.load_annotation_results(anno_key).cleanup()


def test_new_field_dest_field_and_rename(street: Path, emu: Emulator, anno_key: str) -> None:
    ds = asy.load_dataset(street)
    results = ds.select("0002").annotate(anno_key, label_field="new_boxes",
                                         label_type="detections", classes=["dog", "cat"])
    (task_id,) = results.task_ids
    emu.annotator("alice").add_shape(task_id, 0, "dog", "rectangle", [10, 10, 50, 50])
    new = anno_key + "r"
    ds.rename_annotation_run(anno_key, new)
    assert ds.list_annotation_runs() == [new]
    ds.load_annotations(new, dest_field="new_reviewed")
    sample = ds.folder.read("0002")
    assert [d.label for d in sample.fields["new_reviewed"].detections] == ["dog"]
    assert "new_boxes" not in sample.fields
    view = ds.load_annotation_view(new)
    assert view.keys() == ["0002"]
    ds.load_annotation_results(new).cleanup()
    ds.delete_annotation_run(new)


def test_unexpected_labels_are_returned(street: Path, emu: Emulator, anno_key: str) -> None:
    ds = asy.load_dataset(street)
    results = ds.select("0002").annotate(anno_key, label_field="ground_truth",
                                         classes=["car", "person"])
    (task_id,) = results.task_ids
    emu.annotator("alice").add_tag(task_id, 0, "car")  # a tag fits no detections field
    got = ds.load_annotations(anno_key, unexpected="return")
    assert got is not None
    assert sum(len(v) for v in got.values()) == 1
    (kind,) = got
    assert kind == "classifications"
    saved = street / ".annosync" / "unexpected" / f"{anno_key}.json"
    assert json.loads(saved.read_text())[0]["cvat_label"] == "car"
    results.cleanup()


def test_run_made_by_the_cli_is_managed_from_python(street: Path, emu: Emulator,
                                                    anno_key: str, tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "run.yaml").write_text(yaml.safe_dump({
        "anno_key": anno_key, "dataset": "../street", "samples": ["0004"],
        "label_field": "ground_truth", "cvat": {"url": "${ANNOSYNC_CVAT_URL}"}}))
    res = CliRunner().invoke(cli, ["sync", str(manifests)])
    assert res.exit_code == 0, res.output
    ds = asy.load_dataset(street)
    results = ds.load_annotation_results(anno_key)
    (task_id,) = results.task_ids
    shapes = emu.annotator("alice").shapes(task_id)
    emu.annotator("alice").delete(shapes[0]["id"])
    ds.load_annotations(anno_key)
    assert len(ds.folder.read("0004").fields["ground_truth"].detections) == len(shapes) - 1
    results.cleanup()
    ds.delete_annotation_run(anno_key)
    assert ds.list_annotation_runs() == []


def test_import_annotations_of_a_project_made_elsewhere(street: Path, emu: Emulator,
                                                        anno_key: str, tmp_path: Path) -> None:
    """The reference's "Importing existing tasks": a project's tasks, media downloaded, into a
    new dataset; adopted under an anno key, CVAT's later edits load like any run's."""
    source = asy.load_dataset(street)
    project = f"import-{anno_key}"
    source.select(["0001", "0002"]).annotate(anno_key, label_field="ground_truth",
                                             project_name=project)
    target = tmp_path / "imported"
    report = asy.import_annotations(target, project_name=project, download_media=True,
                                    anno_key="imported", label_field="gt")
    ds = asy.load_dataset(target)
    assert len(ds.keys()) == 2 and report.anno_key == "imported"
    boxes = [d for k in ds for d in ds.select(k).first().fields["gt_detections"].detections]
    originals = [d for k in ("0001", "0002")
                 for d in source.select(k).first().fields["ground_truth"].detections]
    assert sorted(d.id for d in boxes) == sorted(d.id for d in originals)  # label_id travelled
    assert ds.list_annotation_runs() == ["imported"]
    (task_id,) = ds.load_annotation_results("imported").task_ids
    shape = emu.annotator("admin").shapes(task_id)[0]
    emu.annotator("admin").update_shape(shape["id"], points=[1, 1, 20, 20])
    ds.load_annotations("imported")
    moved = [d for k in ds for d in ds.select(k).first().fields["gt_detections"].detections
             if d.bounding_box[0] < 0.01]
    assert len(moved) == 1
