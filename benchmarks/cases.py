"""One benchmark case in a process of its own (started by ``run.py``): prints one JSON line.

Run in a child so that each measurement starts cold (imports, caches), peak RSS is the case's
own, and the code under test can be another checkout (``run.py --src``, via ``PYTHONPATH``).
Only public entry points are used (``open_sessions`` / ``make_plan`` / ``apply_plan``, the
client, ``merge_field``), so the same case runs against older annosync code for before/after.

    python benchmarks/cases.py CASE '{"json": "arguments"}'
"""

from __future__ import annotations

import json
import re
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    """CPU seconds of this process so far (user + system): steadier than wall time on a
    machine shared with other work."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_ID = re.compile(r"/\d+")


def _kind(method: str, path: str) -> str:
    """A request's kind: method and path with ids and queries folded (``GET /api/jobs``)."""
    path = path.split("?", 1)[0]
    if path.startswith("/api/requests/"):
        return f"{method} /api/requests/ID"
    return f"{method} {_ID.sub('/N', path)}"


class Counting:
    """Counts every HTTP request of this process by kind (``requests``' adapter, patched)."""

    counts: Counter[str] = Counter()
    #: (kind, start, end) of every request, perf_counter seconds
    times: list[tuple[str, float, float]] = []

    @classmethod
    def install(cls) -> None:
        try:
            from requests.adapters import HTTPAdapter
        except ImportError:  # a peer's Python (cvat-sdk speaks urllib3)
            return

        original = HTTPAdapter.send

        def send(self: Any, request: Any, *a: Any, **k: Any) -> Any:
            kind = _kind(request.method, request.path_url)
            cls.counts[kind] += 1
            t0 = time.perf_counter()
            try:
                return original(self, request, *a, **k)
            finally:
                cls.times.append((kind, t0, time.perf_counter()))

        HTTPAdapter.send = send  # type: ignore[method-assign]


def _media_s() -> float | None:
    """Wall seconds from the first ``POST /api/tasks`` (creating a task) to the end of the last
    ``GET .../data/meta`` (its media stored): the part of an upload that cvat-sdk's
    ``create_from_data`` does (create, send the media, wait for CVAT to process it); None when
    the run made no task."""
    starts = [t0 for kind, t0, _ in Counting.times if kind == "POST /api/tasks"]
    ends = [t1 for kind, _, t1 in Counting.times if kind == "GET /api/tasks/N/data/meta"]
    return max(ends) - min(starts) if starts and ends else None


def _requests() -> dict[str, Any]:
    c = Counting.counts
    return {
        "media_s": _media_s(),
        "requests": sum(c.values()),
        "polls": c.get("GET /api/requests/ID", 0),
        "annotation_reads": sum(n for k, n in c.items()
                                if k.startswith("GET") and k.endswith("/annotations/")),
        "by_kind": dict(sorted(c.items())),
    }


def _count_reads() -> Counter[str]:
    """Count label files read (``DatasetFolder.read_bytes``: every reader goes through it)."""
    from annosync.dataset.folder import DatasetFolder

    reads: Counter[str] = Counter()
    original = DatasetFolder.read_bytes

    def read_bytes(self: Any, key: str) -> bytes:
        reads[key] += 1
        return original(self, key)

    DatasetFolder.read_bytes = read_bytes  # type: ignore[method-assign]
    return reads


def case_sync(args: dict[str, Any]) -> dict[str, Any]:
    """plan + apply of one manifest in a mode (what ``annosync sync|pull|push`` runs)."""
    reads = _count_reads()
    t0 = time.perf_counter()
    from annosync.sync.engine import apply_plan, make_plan, open_sessions
    from annosync.sync.session import SyncOptions

    imported = time.perf_counter()
    cpu0 = _cpu_s()
    # the user's path: credentials from the environment, the default client (run.py sets them)
    with open_sessions([args["manifest"]], SyncOptions(mode=args.get("mode", "sync"))) as engine:
        plan = make_plan(engine, verbose=False)
        planned = time.perf_counter()
        if args.get("apply", True):
            apply_plan(engine, plan)
    done = time.perf_counter()
    rp = plan.runs[0]
    if rp.error:
        raise SystemExit(f"plan failed: {rp.error}")
    return {
        "import_s": imported - t0, "plan_s": planned - imported, "apply_s": done - planned,
        "total_s": done - imported, "rss_mb": _rss_mb(), "cpu_s": _cpu_s() - cpu0,
        "files_read": len(reads), "reads": sum(reads.values()),
        "jobs_downloaded": len(rp.jobs_changed), "pull": rp.pull_counts.total,
        "push": rp.push_counts.total, "tasks_created": len(rp.create_tasks),
        **_requests(),
    }


def case_edit_boxes(args: dict[str, Any]) -> dict[str, Any]:
    """An annotator moves ``boxes`` boxes in each of ``jobs`` jobs (over REST, like CVAT's UI)."""
    from annosync.cvat import Credentials, CvatClient

    client = CvatClient(args["url"], Credentials(username=args["username"],
                                                 password=args["password"]))
    step = float(args.get("step", 1))
    edited = 0
    with client:
        for job_id in args["job_ids"]:
            data = client.get_annotations(job_id=job_id)
            shapes = data["shapes"][: args["boxes"]]
            for s in shapes:
                x1, y1, x2, y2 = s["points"]
                s["points"] = [x1 + step, y1, x2 + step, y2]
            client.patch_annotations("update", {"shapes": shapes, "tags": [], "tracks": []},
                                     job_id=job_id)
            edited += len(shapes)
    return {"edited": edited}


def case_jobs(args: dict[str, Any]) -> dict[str, Any]:
    """The job ids of a run's tasks (from its run record), in task and frame order."""
    from annosync.cvat import Credentials, CvatClient

    record = json.loads(Path(args["record"]).read_text())
    client = CvatClient(args["url"], Credentials(username=args["username"],
                                                 password=args["password"]))
    out = []
    with client:
        for task in record["tasks"]:
            jobs = sorted(client.list_jobs(task_id=task["id"]), key=lambda j: j["start_frame"])
            out.append([j["id"] for j in jobs])
    return {"jobs": out}


def case_merge(args: dict[str, Any]) -> dict[str, Any]:
    """The pure three-way merge of ``samples`` x ``boxes`` labels, 1% edited on each side.

    As in a pull: the local labels, the remote ones and the base come from three different
    places, so they are distinct objects (equal where nothing changed); digest caches are
    emptied before the clock starts (the base was digested from the same boxes)."""
    import random

    from annosync.model.labels import Detection
    from annosync.sync import digest as digest_mod
    from annosync.sync.digest import digests
    from annosync.sync.merge import BaseEntry, FieldRules, Item, merge_field

    rng = random.Random(0)
    rules = FieldRules(attributes=("iscrowd",))
    samples = []
    for s in range(args["samples"]):
        local, remote, base = [], [], {}
        edited = False
        for b in range(args["boxes"]):
            box = (rng.random() * 0.5, rng.random() * 0.5, 0.1, 0.2)
            d = Detection(id=f"{s:012x}{b:012x}", label="car", bounding_box=box,
                          attributes={"iscrowd": False})
            base[d.id] = BaseEntry.of(digests(d, rules.attributes),
                                      digests(d, rules.attributes))
            r = rng.random()
            rem = d.model_copy(update={"label": "truck"}) if r < 0.01 else d.model_copy(deep=True)
            loc = d.model_copy(update={"bounding_box": (0.1, 0.1, 0.1, 0.1)}) if r > 0.99 \
                else d.model_copy(deep=True)
            edited = edited or r > 0.99
            local.append(Item(d.id, loc))
            remote.append(Item(d.id, rem))
        samples.append((base, local, remote, not edited))
    out: dict[str, Any] = {}
    # "merge": nothing known about the local files; "merge_pull": as a pull merges, the clean
    # memo vouching for the files without local edits (``local_agrees``)
    for name, use_memo in (("merge", False), ("merge_pull", True)):
        clear = getattr(digest_mod, "clear_caches", None)
        if clear is not None:
            clear()
        t0, cpu0 = time.perf_counter(), _cpu_s()
        changes = 0
        for base, local, remote, clean in samples:
            m = merge_field(base, local, remote, rules, "fail", local_agrees=use_memo and clean)
            changes += len(m.changes)
        out.update({f"{name}_s": time.perf_counter() - t0, f"{name}_cpu_s": _cpu_s() - cpu0,
                    f"{name}_changes": changes})
    return {**out, "changes": out["merge_changes"], "rss_mb": _rss_mb()}


def case_sdk_create(args: dict[str, Any]) -> dict[str, Any]:
    """cvat-sdk's ``tasks.create_from_data`` of the same media (a peer, if installed)."""
    t0 = time.perf_counter()
    from cvat_sdk import make_client
    from cvat_sdk.core.proxies.tasks import ResourceType

    imported = time.perf_counter()
    cpu0 = _cpu_s()
    files = sorted(str(p) for p in Path(args["media"]).glob("*.jpg"))
    host, port = args["url"].rsplit(":", 1)
    with make_client(host, port=int(port), credentials=(args["username"],
                                                        args["password"])) as client:
        client.config.status_check_period = 0.1
        task = client.tasks.create_from_data(
            spec={"name": f"sdk-{time.time_ns()}", "labels": [{"name": n} for n in
                                                              ("car", "person", "truck")]},
            resource_type=ResourceType.LOCAL, resources=files,
            data_params={"image_quality": 70},
        )
        size = task.size
        if args.get("labels"):  # and the boxes of the label files, as one PUT (what FiftyOne
            # does after creating a task); the ids CVAT gives are not recorded
            label_ids = {lb.name: lb.id for lb in task.get_labels()}
            shapes = []
            for frame, path in enumerate(sorted(Path(args["labels"]).glob("*.json"))):
                sample = json.loads(path.read_text())
                width, height = sample["metadata"]["width"], sample["metadata"]["height"]
                for det in sample["fields"]["ground_truth"]["detections"]:
                    x, y, w, h = det["bounding_box"]
                    shapes.append({"type": "rectangle", "frame": frame,
                                   "label_id": label_ids[det["label"]],
                                   "points": [x * width, y * height, (x + w) * width,
                                              (y + h) * height]})
            task.set_annotations({"shapes": shapes})
    done = time.perf_counter()
    return {"import_s": imported - t0, "total_s": done - imported, "size": size,
            "rss_mb": _rss_mb(), "cpu_s": _cpu_s() - cpu0}


CASES = {
    "sync": case_sync,
    "edit_boxes": case_edit_boxes,
    "jobs": case_jobs,
    "merge": case_merge,
    "sdk_create": case_sdk_create,
}


def main(cases: dict[str, Any] = CASES) -> None:
    """Run the case named in argv[1] with the JSON arguments of argv[2]; print its JSON result."""
    Counting.install()
    name, raw = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "{}"
    result = cases[name](json.loads(raw))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
