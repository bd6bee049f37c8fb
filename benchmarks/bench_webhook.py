"""Benchmark ``watch --webhook`` on the bundled emulator: how soon an annotator's save in CVAT
is in the label file, and how much work each pull does.

Uploads a dataset of N images (task_size/segment_size as given) to a CVAT project, starts
``annosync watch --webhook --interval 3600`` in a child process (so polling cannot explain a
pull), then an annotator moves one box R times, each in a random task, and the time from the save
to the label file being replaced is measured (the file is watched with ``stat`` only). A full
poll-based re-plan of the same run is timed for comparison (what each poll costs).

    python benchmarks/bench_webhook.py --samples 400 --task-size 20 --segment-size 10 --rounds 20
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from annosync.dataset.folder import DatasetFolder
from annosync.emulator import Emulator
from annosync.sync.engine import apply_plan, make_plan, open_sessions
from annosync.sync.record import load_record
from annosync.sync.session import Connection, SyncOptions

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sync import make_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--task-size", type=int, default=20)
    ap.add_argument("--segment-size", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp, Emulator() as emu:
        root = Path(tmp) / "bench"
        make_dataset(root, args.samples, 3)
        manifest = Path(tmp) / "run.yaml"
        manifest.write_text(yaml.safe_dump({
            "anno_key": "bench", "dataset": str(root), "label_field": "ground_truth",
            "cvat": {"project_name": "bench", "task_size": args.task_size,
                     "segment_size": args.segment_size}}))
        conn = Connection(url=emu.url, username=emu.admin_username,
                          password=emu.admin_password, interactive=False)
        with open_sessions([manifest], SyncOptions(), conn) as eng:
            apply_plan(eng, make_plan(eng))
        start = time.perf_counter()
        with open_sessions([manifest], SyncOptions(), conn) as eng:
            make_plan(eng)
        full = time.perf_counter() - start
        record = load_record(DatasetFolder(root).state_dir, "bench")
        assert record is not None
        print(f"{args.samples} samples in {len(record.tasks)} tasks; a full re-plan (one poll) "
              f"takes {full * 1000:.0f} ms")

        env = {**os.environ, "PYTHONUNBUFFERED": "1", "ANNOSYNC_CVAT_URL": emu.url,
               "ANNOSYNC_CVAT_USERNAME": emu.admin_username,
               "ANNOSYNC_CVAT_PASSWORD": emu.admin_password}
        proc = subprocess.Popen(
            [sys.executable, "-c", "from annosync.cli.main import main; main()", "watch",
             "--webhook", "--interval", "3600", "--safety-poll", "3600", "-q", str(manifest)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        ready = threading.Event()
        lines: list[str] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if "syncing on its webhooks" in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60):
            proc.kill()
            raise SystemExit("watch did not start:\n" + "".join(lines))
        time.sleep(0.5)
        annotator = emu.annotator("admin")
        folder = DatasetFolder(root)
        took = []
        try:
            for _ in range(args.rounds):
                task = rng.choice(record.tasks)
                assert task.id is not None
                position = rng.randrange(len(task.samples))
                shape = next(s for s in annotator.shapes(task.id) if s["frame"] == position)
                path = folder.label_path(task.samples[position])
                before = path.stat()
                x1, y1, x2, y2 = shape["points"]
                t0 = time.perf_counter()
                annotator.update_shape(shape["id"], points=[x1 + 1, y1, x2 + 1, y2])
                while (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino,
                                                                        before.st_mtime_ns):
                    if time.perf_counter() - t0 > 30:
                        raise SystemExit("no pull within 30 s:\n" + "".join(lines))
                    time.sleep(0.002)
                took.append((time.perf_counter() - t0) * 1000)
                time.sleep(1.2)  # let the watch settle (its debounce) before the next save
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
        took.sort()
        p95 = took[min(len(took) - 1, int(0.95 * len(took)))]
        print(f"save in CVAT -> label file replaced, {len(took)} rounds: median "
              f"{statistics.median(took):.0f} ms, p95 {p95:.0f} ms, max {took[-1]:.0f} ms")
        print(f"webhooks left on the server after a clean stop: {len(emu.state.webhooks)}")


if __name__ == "__main__":
    main()
