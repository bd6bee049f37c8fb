"""Benchmark data: dataset folders of N images with K boxes each, written fast and deterministically.

Label files are plain JSON with sorted keys (annosync reads any valid JSON; it rewrites a file in
its canonical form only when it changes it). Every image is the same small JPEG, so what is timed
is annosync and the server, not the disk. Deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import yaml

CLASSES = ("car", "person", "truck")


def jpeg(width: int = 320, height: int = 240) -> bytes:
    """A small noisy JPEG (a few KB, like a thumbnail): real decoding work for the server."""
    from PIL import Image

    rng = random.Random(width * 7 + height)
    img = Image.new("RGB", (width, height), (90, 120, 150))
    px = img.load()
    for _ in range(width * height // 20):
        px[rng.randrange(width), rng.randrange(height)] = (rng.randrange(256),) * 3
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=70)
    return buf.getvalue()


def label_id(sample: int, box: int) -> str:
    return f"{sample:012x}{box:012x}"


def sample_json(i: int, boxes: int, width: int, height: int, rng: random.Random) -> dict:
    dets = []
    for b in range(boxes):
        w, h = rng.randint(8, width // 3), rng.randint(8, height // 3)
        x, y = rng.randint(0, width - w), rng.randint(0, height - h)
        dets.append({
            "_id": label_id(i, b),
            "attributes": {"iscrowd": rng.random() < 0.1},
            "bounding_box": [x / width, y / height, w / width, h / height],
            "label": rng.choice(CLASSES),
        })
    key = f"{i:06d}"
    return {
        "fields": {"ground_truth": {"_type": "detections", "detections": dets}},
        "media": f"media/{key}.jpg",
        "metadata": {"height": height, "media_type": "image", "width": width},
    }


def make_dataset(root: Path, samples: int, boxes: int, *, width: int = 320,
                 height: int = 240, seed: int = 0) -> Path:
    """A dataset folder ``root`` (made once: an existing one with the same shape is reused)."""
    stamp = root / ".bench.json"
    shape = {"samples": samples, "boxes": boxes, "width": width, "height": height, "seed": seed}
    if stamp.is_file() and json.loads(stamp.read_text()) == shape:
        return root
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "media").mkdir(parents=True, exist_ok=True)
    (root / "dataset.yaml").write_text(yaml.safe_dump({"name": root.name, "media_dir": "media"}))
    image = jpeg(width, height)
    rng = random.Random(seed)
    for i in range(samples):
        key = f"{i:06d}"
        (root / "media" / f"{key}.jpg").write_bytes(image)
        data = sample_json(i, boxes, width, height, rng)
        (root / "labels" / f"{key}.json").write_text(
            json.dumps(data, sort_keys=True, indent=2) + "\n")
    stamp.write_text(json.dumps(shape))
    return root


def write_manifest(path: Path, anno_key: str, dataset: Path, *, task_size: int | None = None,
                   segment_size: int | None = None) -> Path:
    cvat: dict = {}
    if task_size:
        cvat["task_size"] = task_size
    if segment_size:
        cvat["segment_size"] = segment_size
    body: dict = {"anno_key": anno_key, "dataset": str(dataset), "label_field": "ground_truth",
                  "attributes": ["iscrowd"]}
    if cvat:
        body["cvat"] = cvat
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def edit_files(root: Path, keys: list[str], step: int) -> None:
    """Move the first box of each sample a little (a local edit to push)."""
    for key in keys:
        path = root / "labels" / f"{key}.json"
        data = json.loads(path.read_text())
        box = data["fields"]["ground_truth"]["detections"][0]["bounding_box"]
        box[0] = round(min(0.6, box[0] + 0.01 * (1 + step % 5)), 6)
        path.write_text(json.dumps(data, sort_keys=True, indent=2) + "\n")
