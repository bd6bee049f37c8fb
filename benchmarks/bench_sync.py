"""Benchmark the reconciler end to end on the bundled emulator.

Generates a dataset of N small images with K boxes each, then times:
upload (plan + apply of a new run), an unchanged re-plan (which must download nothing), and a
pull after an annotator edited one sample in a few jobs (only those jobs are downloaded).
Reports wall time, HTTP requests per phase and peak RSS.

    python benchmarks/bench_sync.py --samples 1000 --boxes 5 --task-size 200 --segment-size 50
"""

from __future__ import annotations

import argparse
import io
import random
import resource
import tempfile
import time
from pathlib import Path

import yaml
from PIL import Image
from requests.adapters import HTTPAdapter

from annosync.cvat import Credentials, CvatClient
from annosync.dataset.folder import DatasetFolder
from annosync.emulator import Emulator
from annosync.model.labels import Detection, Detections
from annosync.model.sample import MediaMetadata, Sample
from annosync.sync.engine import apply_plan, make_plan, open_sessions
from annosync.sync.session import RunSession, SyncOptions


class CountingAdapter(HTTPAdapter):
    count = 0

    def send(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        CountingAdapter.count += 1
        return super().send(*args, **kwargs)


def make_dataset(root: Path, samples: int, boxes: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    folder = DatasetFolder.init(root, name="bench")
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(buf, "JPEG", quality=70)
    jpeg = buf.getvalue()
    for i in range(samples):
        key = f"{i:06d}"
        (root / "media" / f"{key}.jpg").write_bytes(jpeg)
        dets = []
        for _ in range(boxes):
            w, h = rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3)
            dets.append(Detection(label=rng.choice(["car", "person", "truck"]),
                                  bounding_box=(rng.uniform(0, 1 - w), rng.uniform(0, 1 - h), w, h),
                                  attributes={"iscrowd": rng.random() < 0.1}))
        folder.write(key, Sample(media=f"media/{key}.jpg",
                                 metadata=MediaMetadata(width=64, height=48),
                                 fields={"ground_truth": Detections(detections=dets)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--boxes", type=int, default=5)
    ap.add_argument("--task-size", type=int, default=200)
    ap.add_argument("--segment-size", type=int, default=50)
    ap.add_argument("--edits", type=int, default=4, help="samples an annotator edits")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp, Emulator() as emu:
        root = Path(tmp) / "bench"
        t0 = time.perf_counter()
        make_dataset(root, args.samples, args.boxes)
        print(f"dataset: {args.samples} samples x {args.boxes} boxes in "
              f"{time.perf_counter() - t0:.1f}s")
        manifest = Path(tmp) / "run.yaml"
        manifest.write_text(yaml.safe_dump({
            "anno_key": "bench", "dataset": str(root), "label_field": "ground_truth",
            "cvat": {"task_size": args.task_size, "segment_size": args.segment_size},
        }))

        def factory(_: RunSession) -> CvatClient:
            return CvatClient(emu.url, Credentials(username=emu.admin_username,
                                                   password=emu.admin_password),
                              adapter=CountingAdapter(pool_maxsize=16),
                              poll_interval=(0.05, 0.5))

        def phase(name: str, apply: bool) -> None:
            CountingAdapter.count = 0
            start = time.perf_counter()
            with open_sessions([manifest], SyncOptions(), client_factory=factory) as eng:
                plan = make_plan(eng)
                planned = time.perf_counter() - start
                if apply:
                    apply_plan(eng, plan)
            total = time.perf_counter() - start
            rp = plan.runs[0]
            print(f"{name:<28} plan {planned:6.2f}s  total {total:6.2f}s  "
                  f"requests {CountingAdapter.count:5d}  jobs downloaded "
                  f"{len(rp.jobs_changed):3d}  label changes {rp.pull_counts.total:4d}")

        phase("upload (new run)", apply=True)
        phase("re-plan, nothing changed", apply=False)
        annotator = emu.annotator("admin")
        tasks = sorted(emu.annotator("admin").state.tasks)
        for n in range(args.edits):
            task_id = tasks[n % len(tasks)]
            shapes = annotator.shapes(task_id)
            target = shapes[(n * 97) % len(shapes)]
            x1, y1, x2, y2 = target["points"]
            annotator.update_shape(target["id"], points=[x1 + 1, y1, x2 + 1, y2])
        phase(f"pull after {args.edits} edits", apply=True)
        phase("re-plan after the pull", apply=False)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS (this process, emulator included): {peak:.0f} MB")


if __name__ == "__main__":
    main()
