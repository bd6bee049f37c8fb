"""FiftyOne's on-disk format: exports made by a real FiftyOne (tests/data/fiftyone, made by
scripts/make_fiftyone_testdata.py) come in with ids, attributes and masks kept; annosync's
exports declare the schema FiftyOne itself writes, load in a real FiftyOne when one is
available, and a round trip gives byte-equal label files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from annosync.dataset.folder import DatasetFolder
from annosync.errors import InputError
from annosync.interop.ejson import decode_array
from annosync.interop.fiftyone import export_fiftyone, import_fiftyone

DATA = Path(__file__).resolve().parents[1] / "data" / "fiftyone"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def fo_samples(name: str) -> list[dict]:
    return json.loads((DATA / name / "samples.json").read_text())["samples"]


def test_image_export_of_a_real_fiftyone_comes_in_whole(tmp_path: Path) -> None:
    report = import_fiftyone(DATA / "images", tmp_path / "ds")
    assert (report.samples, report.media) == (2, 2)
    folder = DatasetFolder.open(tmp_path / "ds")
    assert sorted(folder.keys()) == ["0001", "0002"]
    s = folder.read("0001")
    raw = fo_samples("images")[0]
    assert s.media == "media/0001.jpg" and s.tags == ["train"]
    assert (tmp_path / "ds" / s.media).read_bytes() == (DATA / "images/data/0001.jpg").read_bytes()
    assert (s.metadata.width, s.metadata.height) == (320, 240)
    car, person = s.fields["ground_truth"].detections
    assert car.id == raw["ground_truth"]["detections"][0]["_id"]["$oid"]
    assert car.attributes == {"iscrowd": False, "occluded": True} and car.tags == ["reviewed"]
    assert person.confidence == 0.9
    mask = s.fields["instances"].detections[0].mask.to_array()
    assert np.array_equal(mask, decode_array(raw["instances"]["detections"][0]["mask"]))
    assert mask.sum() == 20  # the 4x5 block the script drew
    road = s.fields["road"]
    assert road.id == raw["road"]["_id"]["$oid"]
    assert np.array_equal(road.mask.to_array(), decode_array(raw["road"]["mask"]))
    pose = s.fields["pose"].keypoints[0]
    assert pose.points == [(0.47, 0.54), (0.47, 0.6), None]  # FiftyOne's [nan, nan]
    assert pose.confidence == [0.9, 0.8, None]
    lanes = s.fields["lanes"].polylines
    assert lanes[1].closed and lanes[1].filled and lanes[1].attributes == {"kind": "painted"}
    assert s.fields["weather"].label == "sunny" and s.fields["weather"].confidence == 0.8
    assert [c.label for c in s.fields["scene"].classifications] == ["urban"]
    assert s.fields["box"].label == "sign" and s.fields["point"].points == [(0.3, 0.3)]
    assert (s.fields["quality"], s.fields["reviewed"], s.fields["note"], s.fields["count"]) == (
        0.92, True, "clear view", 2)


def test_video_export_keeps_frames_tracks_and_ids(tmp_path: Path) -> None:
    report = import_fiftyone(DATA / "video", tmp_path / "ds")
    assert (report.samples, report.frames) == (1, 3)
    s = DatasetFolder.open(tmp_path / "ds").read("day")
    assert s.is_video and s.metadata.frame_count and s.fields["location"] == "main street"
    assert sorted(s.frames) == [1, 2, 3]
    tracks = {(n, d.index, d.label) for n, f in s.frames.items()
              for d in f["vehicles"].detections}
    assert tracks == {(1, 1, "car"), (2, 1, "car"), (2, 2, "bus"), (3, 1, "car")}
    assert s.frames[2]["vehicles"].detections[0].attributes == {"type": "sedan"}
    assert s.frames[3]["light"].label == "red"
    side = json.loads((tmp_path / "ds/.annosync/fiftyone.json").read_text())
    frames = json.loads((DATA / "video/frames.json").read_text())["frames"]
    assert sorted(side["frames"]["day"].values()) == sorted(f["_id"]["$oid"] for f in frames)


@pytest.mark.parametrize("name", ["images", "video"])
def test_round_trip_is_lossless(tmp_path: Path, name: str) -> None:
    import_fiftyone(DATA / name, tmp_path / "a")
    export_fiftyone(tmp_path / "a", tmp_path / "fo")
    import_fiftyone(tmp_path / "fo", tmp_path / "b")
    a, b = DatasetFolder.open(tmp_path / "a"), DatasetFolder.open(tmp_path / "b")
    assert sorted(a.keys()) == sorted(b.keys())
    for key in a:
        assert a.read_bytes(key) == b.read_bytes(key), key
    # sample and label ids are FiftyOne's own, on the way out too
    original = {d["_id"]["$oid"] for d in fo_samples(name)}
    assert {d["_id"]["$oid"] for d in json.loads((tmp_path / "fo/samples.json").read_text())[
        "samples"]} == original


def _field_types(fields: list[dict]) -> dict[str, object]:
    return {f["name"]: (f["ftype"], f["embedded_doc_type"], f["subfield"], f["db_field"],
                        _field_types(f["fields"])) for f in fields}


@pytest.mark.parametrize("name", ["images", "video"])
def test_export_declares_the_schema_fiftyone_writes(tmp_path: Path, name: str) -> None:
    import_fiftyone(DATA / name, tmp_path / "a")
    export_fiftyone(tmp_path / "a", tmp_path / "fo")
    ours = json.loads((tmp_path / "fo/metadata.json").read_text())
    theirs = json.loads((DATA / name / "metadata.json").read_text())
    assert set(ours) == set(theirs)
    assert ours["media_type"] == theirs["media_type"]
    for key in ("sample_fields", "frame_fields"):
        mine, real = _field_types(ours[key]), _field_types(theirs[key])
        if name == "video" and key == "sample_fields":
            # FiftyOne without ffprobe left the video's metadata empty, so it never declared
            # VideoMetadata's sub-fields; annosync knows them
            mine.pop("metadata"), real.pop("metadata")
        assert mine == real


def test_a_native_dataset_with_every_label_type_goes_out_and_back(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "street", tmp_path / "street")
    report = export_fiftyone(tmp_path / "street", tmp_path / "fo")
    assert report.samples == len(list(DatasetFolder.open(tmp_path / "street").keys()))
    import_fiftyone(tmp_path / "fo", tmp_path / "back")
    a, b = DatasetFolder.open(tmp_path / "street"), DatasetFolder.open(tmp_path / "back")
    assert sorted(a.keys()) == sorted(b.keys())
    for key in a:
        assert a.read_bytes(key) == b.read_bytes(key), key


def test_broken_exports_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(DATA / "images", src)
    (src / "samples.json").write_text('{"samples": [\n{"filepath": "data/0001.jpg",\n')
    with pytest.raises(InputError) as err:
        import_fiftyone(src, tmp_path / "out")
    assert str(err.value).startswith(f"{src / 'samples.json'}:3: not valid JSON")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"]  # no partial folder either

    docs = fo_samples("images")
    docs[1]["ground_truth"]["detections"][0]["bounding_box"] = [0.1, 0.2, -0.3, 0.1]
    (src / "samples.json").write_text(json.dumps({"samples": docs}))
    with pytest.raises(InputError) as err:
        import_fiftyone(src, tmp_path / "out")
    assert str(err.value).startswith(
        f"{src / 'samples.json'}: samples[1].ground_truth.detections[0]: ")
    assert "width and height must be >= 0" in str(err.value)
    assert "\n" not in str(err.value) and not (tmp_path / "out").exists()

    docs = fo_samples("images")
    docs[0]["heat"] = {"_cls": "Heatmap", "map": None}
    (src / "samples.json").write_text(json.dumps({"samples": docs}))
    with pytest.raises(InputError, match=r"samples\[0\]\.heat: field 'heat' holds Heatmap"):
        import_fiftyone(src, tmp_path / "out")
    report = import_fiftyone(src, tmp_path / "out", skip_unsupported=True)
    assert report.warnings == ["samples[0].heat: field 'heat' holds Heatmap, which annosync "
                               "does not model: left out"]
    with pytest.raises(InputError, match="already exists and is not an empty folder"):
        import_fiftyone(DATA / "images", tmp_path / "out")


def test_malformed_tags_and_numbers_are_refused_with_their_place(tmp_path: Path) -> None:
    """These were internal errors (TypeError, ValueError tracebacks) before."""
    src = tmp_path / "src"
    shutil.copytree(DATA / "images", src)
    cases = [
        (lambda d: d[0]["ground_truth"]["detections"][0].update(tags=3),
         "samples[0].ground_truth.detections[0].tags: expected a list of strings"),
        (lambda d: d[1].update(tags=5), "samples[1].tags: expected a list of strings"),
        (lambda d: d[0]["ground_truth"]["detections"][0].update(size={"$numberInt": "big"}),
         "samples[0].ground_truth.detections[0]: invalid literal for int() with base 10: 'big'"),
    ]
    for change, message in cases:
        docs = fo_samples("images")
        change(docs)
        (src / "samples.json").write_text(json.dumps({"samples": docs}))
        with pytest.raises(InputError) as err:
            import_fiftyone(src, tmp_path / "out")
        assert str(err.value) == f"{src / 'samples.json'}: {message}"
        assert not (tmp_path / "out").exists()


FO_PYTHON = os.environ.get("ANNOSYNC_TEST_FIFTYONE_PYTHON")
LOAD = """
import sys, fiftyone as fo
ds = fo.Dataset.from_dir(sys.argv[1], dataset_type=fo.types.FiftyOneDataset)
s = ds.first()
out = {"n": len(ds), "media_type": ds.media_type, "id": s.id}
if ds.media_type == "image":
    d = s.ground_truth.detections[0]
    out.update(label=d.label, det_id=d.id, iscrowd=d["iscrowd"], mask=s.instances.detections[0].mask.tolist(),
               pose=[[None if p != p else p for p in pt] for pt in s.pose.keypoints[0].points])
else:
    out.update(frames=len(s.frames), index=s.frames[2].vehicles.detections[1].index)
ds.delete()
print("RESULT", __import__("json").dumps(out))
"""


def _fiftyone_python() -> str | None:
    if FO_PYTHON:
        return FO_PYTHON
    try:
        import fiftyone  # noqa: F401
    except Exception:
        return None
    return sys.executable


@pytest.mark.parametrize("name", ["images", "video"])
def test_real_fiftyone_loads_the_export(tmp_path: Path, name: str) -> None:
    python = _fiftyone_python()
    if python is None:
        pytest.skip("fiftyone is not importable here (set ANNOSYNC_TEST_FIFTYONE_PYTHON to a "
                    "Python that has it; scripts/make_fiftyone_testdata.py says how)")
    import_fiftyone(DATA / name, tmp_path / "a")
    export_fiftyone(tmp_path / "a", tmp_path / "fo")
    run = subprocess.run([python, "-c", LOAD, str(tmp_path / "fo")], capture_output=True,
                         text=True, timeout=600, env={**os.environ,
                                                      "FIFTYONE_DO_NOT_TRACK": "true"})
    assert run.returncode == 0, run.stderr[-2000:]
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT "))
    got = json.loads(line[len("RESULT "):])
    raw = fo_samples(name)[0]
    assert got["id"] == raw["_id"]["$oid"] and got["media_type"] == name.rstrip("s")
    if name == "images":
        assert got["n"] == 2 and got["label"] == "car" and got["iscrowd"] is False
        assert got["det_id"] == raw["ground_truth"]["detections"][0]["_id"]["$oid"]
        assert np.array_equal(np.array(got["mask"]),
                              decode_array(raw["instances"]["detections"][0]["mask"]))
        assert got["pose"] == [[0.47, 0.54], [0.47, 0.6], [None, None]]
    else:
        assert got["frames"] == 3 and got["index"] == 2


def test_cli_verbs(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from annosync.cli.main import cli

    runner = CliRunner()
    res = runner.invoke(cli, ["import-fiftyone", str(DATA / "video"), str(tmp_path / "ds")])
    assert res.exit_code == 0, res.output
    assert res.stdout == f"imported 1 sample(s), 7 label(s), 3 frame(s), 1 media file(s) into {tmp_path / 'ds'}\n"
    assert "read video: 1 samples in " in res.stderr  # one log line per step off a terminal
    res = runner.invoke(cli, ["export-fiftyone", "-q", str(tmp_path / "ds"), str(tmp_path / "fo")])
    assert res.exit_code == 0 and res.stderr == ""
    assert res.stdout == f"wrote {tmp_path / 'fo'}: 1 sample(s), 7 label(s), 3 frame(s), 1 media file(s)\n"
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metadata.json").write_text("{}")
    res = runner.invoke(cli, ["import-fiftyone", str(tmp_path / "bad"), str(tmp_path / "x")])
    assert res.exit_code == 1
    assert res.stderr.strip() == (f"{tmp_path / 'bad' / 'metadata.json'}: media_type: media_type "
                                  "None: annosync holds image and video datasets")
