"""Make tests/data/coco/ (needs pycocotools, a dev dependency): a small COCO instances file
with every kind of object COCO has, its RLE masks encoded by pycocotools itself.

    .venv/bin/python scripts/make_coco_testdata.py

Objects: a box only; a polygon object in two parts; a crowd region as compressed RLE; an
uncompressed (list) RLE; a person with keypoints (visibility 0, 1 and 2) and a skeleton.
Images are two of fixtures/street's (320x240).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_utils

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "coco"
W, H = 320, 240


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "images").mkdir(parents=True)
    for name in ("0001.jpg", "0002.jpg"):
        shutil.copyfile(ROOT / "fixtures/street/media" / name, OUT / "images" / name)
    crowd = np.zeros((H, W), dtype=np.uint8)
    crowd[150:200, 20:120] = 1
    crowd[170:180, 50:60] = 0
    crowd_rle = mask_utils.encode(np.asfortranarray(crowd))
    blob = np.zeros((H, W), dtype=np.uint8)
    blob[30:60, 200:260] = 1
    flat = blob.T.reshape(-1)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], change, [flat.size]))).tolist()
    data = {
        "info": {"description": "annosync COCO test data", "version": "1.0", "year": 2024},
        "licenses": [{"id": 1, "name": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"}],
        "images": [
            {"id": 397133, "file_name": "0001.jpg", "width": W, "height": H, "license": 1},
            {"id": 37777, "file_name": "0002.jpg", "width": W, "height": H, "license": 1},
        ],
        "categories": [
            {"id": 1, "name": "person", "supercategory": "person",
             "keypoints": ["nose", "left_eye", "right_eye", "left_hip", "right_hip"],
             "skeleton": [[1, 2], [1, 3], [4, 5], [2, 4], [3, 5]]},
            {"id": 3, "name": "car", "supercategory": "vehicle"},
            {"id": 8, "name": "truck", "supercategory": "vehicle"},
            {"id": 90, "name": "crowd", "supercategory": "person"},
        ],
        "annotations": [
            {"id": 1768, "image_id": 397133, "category_id": 3, "iscrowd": 0,
             "bbox": [10.5, 20.25, 100.0, 50.75], "area": 5075.0, "segmentation": [
                 [10.5, 20.25, 110.5, 20.25, 110.5, 71.0, 10.5, 71.0],
             ]},
            {"id": 1769, "image_id": 397133, "category_id": 8, "iscrowd": 0,
             "bbox": [150.0, 80.0, 90.0, 60.0], "area": 3150.0, "segmentation": [
                 [150.0, 80.0, 200.0, 80.0, 200.0, 140.0, 150.0, 140.0],
                 [210.0, 90.0, 240.0, 90.0, 225.0, 120.0],
             ]},
            {"id": 900100581904, "image_id": 397133, "category_id": 90, "iscrowd": 1,
             "bbox": [float(v) for v in mask_utils.toBbox(crowd_rle)],
             "area": float(mask_utils.area(crowd_rle)),
             "segmentation": {"size": [H, W], "counts": crowd_rle["counts"].decode()}},
            {"id": 2001, "image_id": 37777, "category_id": 1, "iscrowd": 0,
             "bbox": [100.0, 40.0, 60.0, 150.0], "area": 4000.0,
             "segmentation": [[100.0, 40.0, 160.0, 40.0, 160.0, 190.0, 100.0, 190.0]],
             "keypoints": [130, 50, 2, 125, 45, 1, 0, 0, 0, 120, 150, 2, 140, 150, 2],
             "num_keypoints": 4},
            {"id": 2002, "image_id": 37777, "category_id": 3, "iscrowd": 1,
             "bbox": [200.0, 30.0, 60.0, 30.0], "area": float(blob.sum()),
             "segmentation": {"size": [H, W], "counts": runs}},
            {"id": 2003, "image_id": 37777, "category_id": 8, "iscrowd": 0,
             "bbox": [5.0, 5.0, 40.0, 20.0], "area": 800.0},
        ],
    }
    (OUT / "instances.json").write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
