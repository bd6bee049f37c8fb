"""COCO instances JSON in and out, checked against pycocotools' reading of the same files
(tests/data/coco, made by scripts/make_coco_testdata.py with pycocotools' own RLE)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from annosync.dataset.folder import DatasetFolder
from annosync.errors import InputError
from annosync.interop.coco import crop_box, export_coco, import_coco
from annosync.interop.rle import decode_counts, encode_counts, mask_to_rle, rle_to_mask

pycoco = pytest.importorskip("pycocotools.coco", reason="pycocotools is a dev dependency")
mask_utils = pytest.importorskip("pycocotools.mask")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")

DATA = Path(__file__).resolve().parents[1] / "data" / "coco"
JSON = DATA / "instances.json"


def coco(path: Path):
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return pycoco.COCO(str(path))


@settings(max_examples=60, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 30), st.integers(1, 30))))
def test_rle_matches_pycocotools(mask: np.ndarray) -> None:
    ref = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    ours = mask_to_rle(mask)
    assert ours["counts"] == ref["counts"].decode() and ours["size"] == list(ref["size"])
    assert np.array_equal(rle_to_mask(ours), mask_utils.decode(ref).astype(bool))
    assert encode_counts(decode_counts(ours["counts"])) == ours["counts"]


def test_import_reads_what_pycocotools_reads(tmp_path: Path) -> None:
    report = import_coco(JSON, tmp_path / "ds")
    assert (report.images, report.annotations) == (2, 6)
    folder = DatasetFolder.open(tmp_path / "ds")
    ref = coco(JSON)
    keys = {img["id"]: img["file_name"].rsplit(".", 1)[0] for img in ref.dataset["images"]}
    cats = {c["id"]: c["name"] for c in ref.dataset["categories"]}
    for ann in ref.dataset["annotations"]:
        img = ref.imgs[ann["image_id"]]
        w, h = img["width"], img["height"]
        sample = folder.read(keys[ann["image_id"]])
        (det,) = [d for d in sample.fields["ground_truth"].detections
                  if d.attributes["coco_id"] == ann["id"]]
        assert det.label == cats[ann["category_id"]]
        assert det.attributes["iscrowd"] == ann["iscrowd"] and det.attributes["area"] == ann["area"]
        x, y, bw, bh = ann["bbox"]
        assert det.bounding_box == pytest.approx((x / w, y / h, bw / w, bh / h))
        seg = ann.get("segmentation")
        if isinstance(seg, dict):  # RLE: the instance mask is pycocotools' mask inside the box
            x0, y0, x1, y1 = crop_box(ann["bbox"], w, h)
            full = ref.annToMask(ann).astype(bool)
            assert np.array_equal(det.mask.to_array(), full[y0:y1, x0:x1])
            assert full.sum() == det.mask.to_array().sum()  # nothing outside the box was lost
        elif seg:
            (poly,) = [p for p in sample.fields["ground_truth_polygons"].polylines
                       if p.attributes["coco_id"] == ann["id"]]
            assert poly.closed and poly.filled and len(poly.points) == len(seg)
            for shape, flat in zip(poly.points, seg, strict=True):
                assert [v for x_, y_ in shape for v in (x_ * w, y_ * h)] == pytest.approx(flat)
        if "keypoints" in ann:
            (kp,) = sample.fields["ground_truth_keypoints"].keypoints
            flat = ann["keypoints"]
            for i, p in enumerate(kp.points):
                if flat[3 * i + 2] == 0:
                    assert p is None
                else:
                    assert p == pytest.approx((flat[3 * i] / w, flat[3 * i + 1] / h))
    side = json.loads((tmp_path / "ds/.annosync/coco.json").read_text())
    assert side["categories"] == ref.dataset["categories"]


def test_export_round_trip_keeps_ids_categories_and_masks(tmp_path: Path) -> None:
    import_coco(JSON, tmp_path / "ds")
    report = export_coco(tmp_path / "ds", tmp_path / "out.json", images=tmp_path / "imgs")
    assert report.annotations == 6
    a, b = coco(JSON), coco(tmp_path / "out.json")
    assert b.dataset["categories"] == a.dataset["categories"]
    assert b.dataset["info"] == a.dataset["info"] and b.dataset["licenses"] == a.dataset["licenses"]
    assert sorted(b.imgs) == sorted(a.imgs)
    for image_id, img in a.imgs.items():
        assert b.imgs[image_id] == img
        assert (tmp_path / "imgs" / img["file_name"]).read_bytes() == \
            (DATA / "images" / img["file_name"]).read_bytes()
    assert sorted(b.anns) == sorted(a.anns)
    for ann_id, ann in a.anns.items():
        got = b.anns[ann_id]
        for key in ("image_id", "category_id", "iscrowd", "area", "bbox"):
            assert got[key] == ann[key], (ann_id, key)
        if "segmentation" in ann:
            assert np.array_equal(b.annToMask(got), a.annToMask(ann)), ann_id
            if isinstance(ann["segmentation"], list):
                assert got["segmentation"] == ann["segmentation"]  # polygons exactly
        else:
            assert "segmentation" not in got
        if "keypoints" in ann:
            # visibility 1 (labelled, hidden) comes back as 2, as in FiftyOne
            want = [2 if i % 3 == 2 and v == 1 else v for i, v in enumerate(ann["keypoints"])]
            assert got["keypoints"] == want and got["num_keypoints"] == ann["num_keypoints"]
    # a second export is byte-identical (deterministic)
    export_coco(tmp_path / "ds", tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "out.json").read_bytes()


def test_export_of_a_native_dataset_reads_in_pycocotools(tmp_path: Path) -> None:
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "street"
    shutil.copytree(fixtures, tmp_path / "street")
    folder = DatasetFolder.open(tmp_path / "street")
    export_coco(tmp_path / "street", tmp_path / "out.json", label_field="instances")
    b = coco(tmp_path / "out.json")
    masked = [(k, d) for k, s in folder.iter_samples()
              for d in (s.fields["instances"].detections if "instances" in s.fields else [])
              if d.mask is not None]
    assert masked and len(b.anns) >= len(masked)
    by_name = {img["file_name"]: img["id"] for img in b.dataset["images"]}
    for key, det in masked:
        sample = folder.read(key)
        image_id = by_name[sample.media.removeprefix("media/")]
        (ann,) = [a for a in b.imgToAnns[image_id] if a["segmentation"] and
                  a["bbox"] == pytest.approx([det.bounding_box[0] * sample.metadata.width,
                                              det.bounding_box[1] * sample.metadata.height,
                                              det.bounding_box[2] * sample.metadata.width,
                                              det.bounding_box[3] * sample.metadata.height])]
        assert b.annToMask(ann).sum() > 0
        assert b.dataset["categories"][ann["category_id"] - 1]["name"] == det.label


def test_broken_files_are_refused_with_their_place(tmp_path: Path) -> None:
    data = json.loads(JSON.read_text())
    bad = tmp_path / "bad.json"
    cases = [
        (lambda d: d["annotations"][2]["segmentation"].update(counts="!!"),
         "annotations[2].segmentation: not a COCO RLE: invalid character '!' in RLE string"),
        (lambda d: d["annotations"][0].update(category_id=77),
         "annotations[0].category_id: no category has id 77"),
        (lambda d: d["annotations"][1]["segmentation"][1].pop(),
         "annotations[1].segmentation[1]: a polygon needs 3+ x, y pairs"),
        (lambda d: d["images"][1].update(file_name="missing.jpg"),
         f"images[1].file_name: no file {DATA / 'images' / 'missing.jpg'}"),
        (lambda d: d["annotations"][3].update(bbox=[1, 2, -3, 4]),
         "annotations[3].bbox: expected [x, y, width, height], sizes >= 0"),
        # these were tracebacks ("internal error") before
        (lambda d: d["images"][0].update(width=0),
         "images[0].width: expected a positive integer"),
        (lambda d: d["annotations"][0].update(attributes=["occluded"]),
         "annotations[0].attributes: expected an object"),
        (lambda d: d["annotations"][0].update(iscrowd=float("nan")),
         "annotations[0].iscrowd: expected a number"),
        (lambda d: d["annotations"][0].update(difficulty=float("inf")),
         "annotations[0].difficulty: expected a finite number"),
    ]
    for change, message in cases:
        broken = json.loads(json.dumps(data))
        change(broken)
        bad.write_text(json.dumps(broken))
        with pytest.raises(InputError) as err:
            import_coco(bad, tmp_path / "ds", images=DATA / "images")
        assert str(err.value) == f"{bad}: {message}"
        assert not (tmp_path / "ds").exists()
    bad.write_text('{"images": [}')
    with pytest.raises(InputError, match=r"bad\.json:1: not valid JSON"):
        import_coco(bad, tmp_path / "ds", images=DATA / "images")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


def test_cli_verbs(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from annosync.cli.main import cli

    runner = CliRunner()
    res = runner.invoke(cli, ["import-coco", "-q", str(JSON), str(tmp_path / "ds")])
    assert res.exit_code == 0 and res.stderr == ""
    assert res.stdout == (f"imported 2 image(s), 6 annotation(s) as 10 label(s) into "
                          f"{tmp_path / 'ds'}\n")
    res = runner.invoke(cli, ["export-coco", str(tmp_path / "ds"), str(tmp_path / "o.json")])
    assert res.exit_code == 0, res.output
    assert res.stdout == f"wrote {tmp_path / 'o.json'}: 2 image(s), 6 annotation(s) from 10 label(s)\n"
    assert sorted(coco(tmp_path / "o.json").anns) == sorted(coco(JSON).anns)
