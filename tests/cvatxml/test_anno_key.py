"""``export-xml --anno-key KEY`` writes videos cut as the dataset's annotation run cut its CVAT
tasks (frame_start/stop/step from the run's record, else its manifest) and names mask values
with the run's mask_targets; explicit options win (issue 15, item 4)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from annosync.cli.main import cli
from annosync.cvatxml import read_document
from annosync.dataset.folder import DatasetFolder
from annosync.model.labels import Detection, Detections, IndexMask, Segmentation
from annosync.model.sample import MediaMetadata, Sample
from annosync.sync.record import RunRecord, TaskRecord, save_record

MANIFEST = """anno_key: r1
dataset: .
label_schema:
  frames.gt:
    type: detections
  seg:
    type: segmentation
    mask_targets: {1: road, 2: car}
cvat:
  frame_start: {clip3: 5}
  frame_step: 1
"""


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def _video(folder: DatasetFolder, key: str) -> None:
    det = Detections(detections=[Detection(label="car", bounding_box=(0.1, 0.1, 0.2, 0.2))])
    folder.write(key, Sample(media=f"media/{key}.mp4", metadata=MediaMetadata(
        media_type="video", width=100, height=50, frame_count=40),
        frames={n: {"gt": det} for n in range(1, 41)}))


def _run(root: Path) -> DatasetFolder:
    folder = DatasetFolder.init(root)
    for key in ("clip", "clip2", "clip3"):
        _video(folder, key)
    folder.write("img", Sample(media="media/img.jpg", metadata=MediaMetadata(width=4, height=2),
                               fields={"seg": Segmentation(mask=IndexMask(
                                   size=(2, 4), runs=[(0, 2), (1, 3), (2, 3)]))}))
    (root / "run.yaml").write_text(MANIFEST)
    save_record(folder.state_dir, RunRecord(anno_key="r1", manifest="run.yaml", tasks=[
        TaskRecord(index=0, name="t1", media_type="video", samples=["clip"], frame_start=4,
                   frame_stop=33, frame_step=2),
        TaskRecord(index=1, name="t2", media_type="video", samples=["clip2"], frame_start=1,
                   frame_step=3)]))
    return folder


def _frames(path: Path) -> list[int]:
    doc = read_document(path)
    return sorted({s.frame or 0 for t in doc.tracks for s in t.shapes}) or \
        [int(i.name.removeprefix("frame_")) for i in doc.images]


def test_videos_are_cut_as_the_run_cut_them(tmp_path: Path) -> None:
    _run(tmp_path / "ds")
    out = tmp_path / "out"
    result = invoke("export-xml", str(out), "--dataset", str(tmp_path / "ds"), "-s", "clip*",
                    "--anno-key", "r1")
    assert result.exit_code == 0, result.output
    assert _frames(out / "clip.xml") == list(range(4, 33, 2))  # 33 is off the step grid
    assert _frames(out / "clip2.xml") == list(range(1, 40, 3))
    assert _frames(out / "clip3.xml") == list(range(5, 40))  # from the manifest, by sample
    meta = read_document(out / "clip.xml").meta
    assert meta is not None and meta.task is not None
    assert (meta.task.start_frame, meta.task.stop_frame, meta.task.frame_filter) == \
        ("4", "32", "step=2")
    # explicit options win over the run's
    one = tmp_path / "one.xml"
    result = invoke("export-xml", str(one), "--dataset", str(tmp_path / "ds"), "-s", "clip",
                    "--anno-key", "r1", "--frame-step", "5")
    assert result.exit_code == 0, result.output
    assert _frames(one) == list(range(4, 30, 5))


def test_mask_targets_come_from_the_run(tmp_path: Path) -> None:
    _run(tmp_path / "ds")
    out = tmp_path / "seg.xml"
    result = invoke("export-xml", str(out), "--dataset", str(tmp_path / "ds"), "-s", "img",
                    "--anno-key", "r1")
    assert result.exit_code == 0, result.output
    (image,) = read_document(out).images
    assert sorted(s.label for s in image.shapes if s.kind == "mask") == ["car", "road"]
    plain = tmp_path / "plain.xml"
    result = invoke("export-xml", str(plain), "--dataset", str(tmp_path / "ds"), "-s", "img")
    assert result.exit_code == 0 and not read_document(plain).images[0].shapes


def test_a_run_the_dataset_does_not_have_is_a_message(tmp_path: Path) -> None:
    _run(tmp_path / "ds")
    result = invoke("export-xml", str(tmp_path / "x.xml"), "--dataset", str(tmp_path / "ds"),
                    "--anno-key", "nope")
    assert result.exit_code != 0
    assert "no annotation run 'nope'" in result.output and "r1" in result.output
