"""Peak memory of push and pull at several run sizes, before/after code interleaved.

For each size N (samples of 10 boxes, tasks of 1,000 images, one job each), a run is made once
(reused from ``--workdir``); then, for each round and each Python given (interleaved: same
window, same data, same server): 10 label files spread over the run are edited and pushed, and
one box is moved in each of 10 jobs spread over the run and pulled (``--changed``: how many
jobs; case ``plan``: the same, planned and not applied, so its edits are pulled by the next
pull). Each push/pull/plan runs in a fresh process (``cases.py sync``): CPU seconds (user +
system), peak RSS, wall.

    annosync emulator --port 18811 &
    python benchmarks/bench_memory.py --server http://127.0.0.1:18811 --workdir W \\
        --sizes 5000,20000 --python /before/.venv/bin/python --python .venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from data import edit_files, make_dataset, write_manifest  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--sizes", default="5000,20000")
    ap.add_argument("--python", action="append", default=[])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cases", default="push,pull", help="push, pull, plan (comma-separated)")
    ap.add_argument("--changed", default="10",
                    help="jobs a pull finds changed, spread over the run: a number, or 'all' "
                         "(every task touched)")
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    pythons = args.python or [sys.executable]
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env.update({"ANNOSYNC_CVAT_URL": args.server.rstrip("/"), "ANNOSYNC_CVAT_USERNAME": "admin",
                "ANNOSYNC_CVAT_PASSWORD": "admin-password-1"})
    creds = {"url": env["ANNOSYNC_CVAT_URL"], "username": "admin",
             "password": "admin-password-1"}

    def child(python: str, case: str, **kw: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        proc = subprocess.run([python, str(HERE / "cases.py"), case, json.dumps({**creds, **kw})],
                              env=env, capture_output=True, text=True, cwd=work)
        if proc.returncode:
            raise RuntimeError(f"{case} failed:\n{proc.stderr[-3000:]}")
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        out["wall_s"] = time.perf_counter() - t0
        return out

    results: list[dict[str, Any]] = []
    step = 1
    for n in [int(s) for s in args.sizes.split(",")]:
        ds = make_dataset(work / f"mem{n}", n, 10, width=64, height=48)
        manifest = work / f"mem{n}.yaml"
        if not manifest.exists():
            write_manifest(manifest, f"mem{n}_{time.time_ns()}", ds, task_size=1000)
            t0 = time.perf_counter()
            child(pythons[-1], "sync", manifest=str(manifest))
            print(f"(run of {n} samples made in {time.perf_counter() - t0:.0f} s)", flush=True)
        key = next(ln.split(":", 1)[1].strip() for ln in manifest.read_text().splitlines()
                   if ln.startswith("anno_key:"))
        jobs = child(pythons[-1], "jobs", record=str(ds / ".annosync/runs" / f"{key}.json"))
        flat = [j for t in jobs["jobs"] for j in t]
        for python in pythons:  # warm-up: each code's caches (label index, clean memo) made
            child(python, "sync", manifest=str(manifest), apply=False)
        for _ in range(args.rounds):
            for python in pythons:
                for case in args.cases.split(","):
                    if case == "push":
                        keys = [f"{i:06d}" for i in range(0, n, max(1, n // 10))][:10]
                        edit_files(ds, keys, step)
                    else:  # pull, or plan: the plan of a pull (compared, nothing applied)
                        want = len(flat) if args.changed == "all" else int(args.changed)
                        child(python, "edit_boxes",
                              job_ids=flat[:: max(1, len(flat) // want)][:want],
                              boxes=1, step=step)
                    step += 1
                    mode = {"plan": "pull"}.get(case, case)
                    got = child(python, "sync", manifest=str(manifest), mode=mode,
                                apply=case != "plan")
                    load = os.getloadavg()[0]
                    row = {"n": n, "python": python, "case": case, "cpu_s": got["cpu_s"],
                           "rss_mb": got["rss_mb"], "wall_s": got["wall_s"],
                           "pull": got["pull"], "push": got["push"],
                           "jobs_downloaded": got["jobs_downloaded"],
                           "requests": got["requests"], "load": load}
                    results.append(row)
                    print(f"{n:>7} {case:<5} {got['cpu_s']:7.2f} CPU s {got['rss_mb']:7.0f} MB "
                          f"{got['wall_s']:7.2f} s  pull {got['pull']:>3} push {got['push']:>3} "
                          f"jobs {got['jobs_downloaded']:>3} req {got['requests']:>4} "
                          f"load {load:.1f}  {python}", flush=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
