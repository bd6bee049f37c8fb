"""A timeline of one first upload (issue 11): when each phase and request ran, in which thread,
with its wall span and the CPU seconds its thread spent in it.

    python benchmarks/timeline_upload.py MANIFEST   # needs ANNOSYNC_CVAT_* set (run.py's)

Wraps functions by name (those that do not exist in the code under test are skipped, so the
same script times older code) and ``requests``' adapter; plan and apply run in this process
as cases.py's ``sync`` case runs them. Prints one line per span, sorted by start, times in ms
from the start of the plan; ``cpu`` is the thread's CPU time over the span
(``time.thread_time``), so it shows what ran on the client thread and what overlapped it.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
import threading
import time
from typing import Any

#: (module, attribute path) of what to time: modules that import a function by name are
#: patched where it is called
TARGETS = [
    ("annosync.sync.engine", "make_plan"),
    ("annosync.sync.engine", "apply_plan"),
    ("annosync.sync.create", "Creator.start"),
    ("annosync.sync.create", "Creator.run"),
    ("annosync.sync.create", "Creator.launch_editor"),
    ("annosync.sync.apply", "create"),
    ("annosync.sync.apply", "sync_labels"),
    ("annosync.sync.apply", "cleanup"),
    ("annosync.sync.apply", "apply_run"),
    ("annosync.sync.engine", "open_sessions"),
    ("annosync.sync.create", "Creator.create_task"),
    ("annosync.sync.create", "Creator._media"),
    ("annosync.sync.create", "Creator.upload_media"),
    ("annosync.sync.create", "Creator.prepare"),
    ("annosync.sync.create", "Creator._convert"),
    ("annosync.sync.create", "Creator._upload_labels"),
    ("annosync.sync.create", "Creator._put_labels"),
    ("annosync.sync.create", "Creator._prepare_shard"),
    ("annosync.sync.create", "Creator.save"),
    ("annosync.sync.create", "to_cvat"),
    ("annosync.sync.create", "encode_json"),
    ("annosync.sync.create", "echo_form"),
    ("annosync.sync.create", "read_answer"),
    ("annosync.sync.create", "_guess"),
    ("annosync.sync.create", "_echo_ids"),
    ("annosync.sync.create", "boxes_from_sent"),
    ("annosync.sync.create", "bases_from_boxes"),
    ("annosync.sync.create", "bound_schema"),
    ("annosync.sync.create", "frame_map"),
    ("annosync.sync.create", "job_records"),
    ("annosync.sync.create", "save_record"),
    ("annosync.sync.create", "prepare_shard"),
    ("annosync.sync.create", "PreviousLabels.from_samples"),
    ("annosync.convert.labels_to_cvat", "LabeledDataUp.to_api"),
    ("annosync.model.cvat", "LabeledData.to_api"),
    ("annosync.sync.create", "EchoIdMap.given"),
    ("annosync.sync.create", "upload_json"),
    ("annosync.sync.create", "Ahead._run"),
]

SPANS: list[tuple[str, str, float, float, float]] = []  # name, thread, t0, t1, cpu


def _wrap(name: str, fn: Any) -> Any:
    @functools.wraps(fn)
    def timed(*a: Any, **k: Any) -> Any:
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return fn(*a, **k)
        finally:
            SPANS.append((name, threading.current_thread().name, t0, time.perf_counter(),
                          time.thread_time() - c0))
    return timed


def install() -> None:
    for module, path in TARGETS:
        try:
            owner: Any = importlib.import_module(module)
            *parents, attr = path.split(".")
            for p in parents:
                owner = getattr(owner, p)
            fn = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
        except (ImportError, AttributeError, KeyError):
            continue
        if isinstance(fn, (classmethod, staticmethod)):
            setattr(owner, attr, type(fn)(_wrap(path, fn.__func__)))
        else:
            setattr(owner, attr, _wrap(path, fn))
    import gc

    started: dict[str, float] = {}

    def collected(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started["t"], started["c"] = time.perf_counter(), time.thread_time()
        elif "t" in started:
            SPANS.append((f"gc gen{info['generation']}", threading.current_thread().name,
                          started["t"], time.perf_counter(), time.thread_time() - started["c"]))

    gc.callbacks.append(collected)
    from concurrent.futures import ThreadPoolExecutor

    ThreadPoolExecutor.shutdown = _wrap(  # type: ignore[method-assign]
        "pool shutdown", ThreadPoolExecutor.shutdown)
    from requests.adapters import HTTPAdapter

    send = HTTPAdapter.send

    def timed_send(self: Any, request: Any, *a: Any, **k: Any) -> Any:
        kind = f"{request.method} {request.path_url.split('?')[0]}"
        return _wrap(kind, send)(self, request, *a, **k)

    HTTPAdapter.send = timed_send  # type: ignore[method-assign]


def main() -> None:
    install()
    from annosync.sync.engine import apply_plan, make_plan, open_sessions
    from annosync.sync.session import SyncOptions

    t0 = time.perf_counter()
    with open_sessions([sys.argv[1]], SyncOptions(mode="sync")) as engine:
        plan = make_plan(engine, verbose=False)
        apply_plan(engine, plan)
    total = time.perf_counter() - t0
    rows = sorted(SPANS, key=lambda s: s[2])
    if len(sys.argv) > 2 and sys.argv[2] == "--json":
        print(json.dumps({"total": total, "spans": rows}))
        return
    print(f"{'start':>7} {'end':>7} {'wall':>6} {'cpu':>6}  thread        what")
    for name, thread, a, b, cpu in rows:
        print(f"{(a - t0) * 1e3:7.1f} {(b - t0) * 1e3:7.1f} {(b - a) * 1e3:6.1f} "
              f"{cpu * 1e3:6.1f}  {thread[:12]:<12}  {name}")
    print(f"total {total * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
