"""The reliability lab: real processes, real signals, and a from-scratch oracle to compare with.

Everything here runs annosync the way a user does: ``annosync emulator`` in its own process
(``--log-requests`` tells the lab when each request arrives), ``annosync sync`` as a subprocess
killed at a chosen moment, then ``annosync sync`` again. The end state is compared with the same
scenario run without interruption (the oracle): duplicate tasks, orphan tasks, lost or extra
labels (local and in CVAT), corrupt files, temporary files left, lock state.

Kill moments: a time (uniform over an uninterrupted run's duration), the arrival of the n-th
request, the n-th TUS chunk, the n-th poll of a CVAT request, the n-th label-file write and the
n-th run-record write (before or after the rename). To see those writes, the subprocess runs the
real CLI through a probe that reports each ``os.replace`` of a label file or run record on
stderr and pauses 20 ms around it; the probe also lowers the TUS threshold to 4 KB so small
images take CVAT's TUS path as 100 MB files do.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result
from PIL import Image

from annosync.cli.main import cli
from annosync.cvat import Credentials, CvatClient
from annosync.dataset.folder import DatasetFolder, parse_sample
from annosync.model.ids import new_id
from annosync.model.labels import Detection, Detections
from annosync.model.sample import MediaMetadata, Sample
from annosync.sync.engine import apply_plan, locked, make_plan, open_sessions
from annosync.sync.journal import Journal
from annosync.sync.lock import OWNER_FILE, dataset_lock
from annosync.sync.record import load_record
from annosync.sync.session import Connection, SyncOptions

ADMIN = ("admin", "admin-password-1")

#: rows of the results table (conftest.py prints and saves them at the end of the session)
RESULTS: list[dict[str, Any]] = []


def record(experiment: str, tried: str, counts: dict[str, Any], survived: str) -> None:
    """One row of the results table: what was tried, what was counted, what survived."""
    RESULTS.append({"experiment": experiment, "tried": tried, "counts": counts,
                    "survived": survived})
CLASSES = ("car", "person", "truck")

PROBE = r"""
try:  # as annosync.cli.entry does: an interrupt while the CLI loads stops quietly
    import os, sys, time, signal
    from annosync.cli.main import _terminate, main
except KeyboardInterrupt:
    import sys  # built in, always loaded: cannot be interrupted half-way
    sys.stderr.write("Interrupted.\n")
    raise SystemExit(130) from None
signal.signal(signal.SIGTERM, _terminate)  # what main() does first, before the probe's work
_replace = os.replace
def _kind(dst):
    d = os.fspath(dst)
    if os.sep + "labels" + os.sep in d:
        return "label"
    if os.sep + ".annosync" + os.sep + "runs" + os.sep in d:
        return "record"
    return None
def replace(src, dst, *a, **k):
    kind = _kind(dst)
    if kind:
        sys.stderr.write("@write %s before\n" % kind); sys.stderr.flush(); time.sleep(0.02)
    out = _replace(src, dst, *a, **k)
    if kind:
        sys.stderr.write("@write %s after\n" % kind); sys.stderr.flush(); time.sleep(0.02)
    return out
os.replace = replace
try:
    import annosync.cvat.uploads as up
except KeyboardInterrupt:  # the probe's own set-up, interrupted: leave as main() would
    sys.stderr.write("Interrupted.\n")
    sys.exit(143 if type(sys.exc_info()[1]).__name__ == "Terminated" else 130)
up.UploadLimits.__init__.__defaults__ = (64 * 1024 * 1024, 4096, 2048, 5)
sys.argv = ["annosync", *sys.argv[1:]]
main()
"""


# -- the server ---------------------------------------------------------------------------------

class EmulatorProcess:
    """``annosync emulator`` in its own process; every request's arrival is seen here."""

    def __init__(self, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from annosync.cli.main import main; main()", "emulator",
             "--port", "0", "--log-requests", "--user", "alice", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if "listening on" not in first:
            raise RuntimeError(f"emulator did not start: {first!r}")
        self.url = first.rsplit(" ", 1)[-1].strip()
        self.requests: list[tuple[float, str, str]] = []
        self.listeners: list[Callable[[str, str], None]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not line.startswith("> "):
                continue
            method, _, path = line[2:].rstrip("\n").partition(" ")
            with self._lock:
                self.requests.append((time.monotonic(), method, path))
                listeners = list(self.listeners)
            for listen in listeners:
                listen(method, path)

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def client(self) -> CvatClient:
        return CvatClient(self.url, Credentials(username=ADMIN[0], password=ADMIN[1]))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- a workspace --------------------------------------------------------------------------------

_JPEG_CACHE: dict[int, bytes] = {}


def jpeg(seed: int, size: tuple[int, int] = (48, 32)) -> bytes:
    """A small noisy JPEG (a few KB: over the probe's 4 KB TUS threshold when ``seed`` is
    even)."""
    key = seed % 4
    if key not in _JPEG_CACHE:
        rng = random.Random(key)
        w, h = size if key % 2 else (size[0] * 2, size[1] * 2)
        img = Image.new("RGB", (w, h))
        img.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256))
                     for _ in range(w * h)])
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=95)
        _JPEG_CACHE[key] = buf.getvalue()
    return _JPEG_CACHE[key]


@dataclass
class Workspace:
    """A dataset folder and a manifest for one run, reached through ``url``."""

    root: Path
    url: str
    key: str
    images: int = 6
    boxes: int = 3
    task_size: int = 2
    segment_size: int = 1
    project: bool = True

    def __post_init__(self) -> None:
        self.dataset = self.root / "ds"
        self.manifest = self.root / "manifests" / "run.yaml"

    @property
    def folder(self) -> DatasetFolder:
        return DatasetFolder(self.dataset)

    @property
    def state(self) -> Path:
        return self.dataset / ".annosync"

    def create(self, seed: int = 0) -> Workspace:
        rng = random.Random(seed)
        folder = DatasetFolder.init(self.dataset, name="ds")
        for i in range(self.images):
            key = f"{i:04d}"
            data = jpeg(i)
            (self.dataset / "media" / f"{key}.jpg").write_bytes(data)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
            dets = []
            for _ in range(self.boxes):
                w, h = rng.uniform(0.1, 0.3), rng.uniform(0.1, 0.3)
                dets.append(Detection(
                    _id=new_id(), label=rng.choice(CLASSES),
                    bounding_box=(round(rng.uniform(0, 1 - w), 4), round(rng.uniform(0, 1 - h), 4),
                                  round(w, 4), round(h, 4)),
                    attributes={"iscrowd": rng.random() < 0.3}))
            folder.write(key, Sample(media=f"media/{key}.jpg",
                                     metadata=MediaMetadata(width=width, height=height),
                                     fields={"ground_truth": Detections(detections=dets)}))
        cvat: dict[str, Any] = {"url": "${ANNOSYNC_CVAT_URL}", "task_size": self.task_size,
                                "segment_size": self.segment_size}
        if self.project:
            cvat["project_name"] = f"p-{self.key}"
        self.manifest.parent.mkdir(parents=True, exist_ok=True)
        self.manifest.write_text(yaml.safe_dump({
            "anno_key": self.key, "dataset": "../ds", "label_field": "ground_truth",
            "classes": list(CLASSES), "attributes": ["iscrowd"], "cvat": cvat,
        }, sort_keys=False))
        return self

    def env(self) -> dict[str, str]:
        return {**os.environ, "ANNOSYNC_CVAT_URL": self.url, "ANNOSYNC_CVAT_USERNAME": ADMIN[0],
                "ANNOSYNC_CVAT_PASSWORD": ADMIN[1],
                "ANNOSYNC_CONFIG": str(self.root / "no-config.yaml"),
                "PYTHONUNBUFFERED": "1"}

    def popen(self, *args: str, probe: bool = True) -> subprocess.Popen[str]:
        code = PROBE if probe else "from annosync.cli.entry import run; run()"
        return subprocess.Popen([sys.executable, "-c", code, *args], cwd=self.root,
                                env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, bufsize=1)

    def connection(self) -> Connection:
        return Connection(url=self.url, username=ADMIN[0], password=ADMIN[1],
                          interactive=False)

    def sync_here(self) -> None:
        """An uninterrupted sync in this process (setting a scene up quickly)."""
        with open_sessions([self.manifest], SyncOptions(), self.connection(),
                           env=self.env()) as engine, locked(engine):
            apply_plan(engine, make_plan(engine, save_ids=True))

    def plan_here(self) -> list[str]:
        """What a plan in this process finds to do (empty: CVAT and the dataset agree)."""
        with open_sessions([self.manifest], SyncOptions(), self.connection(),
                           env=self.env()) as engine:
            plan = make_plan(engine)
        out = []
        for rp in plan.runs:
            out += rp.blocked + ([rp.error] if rp.error else [])
            if rp.has_changes or rp.jobs_changed:
                out.append(f"changes: {rp.model_dump_json(include={'samples', 'create_tasks', 'resume', 'jobs_changed'})}")
        return out

    def run(self, *args: str, probe: bool = False, timeout: float = 300) -> Completed:
        proc = self.popen(*args, probe=probe)
        out, err = proc.communicate(timeout=timeout)
        return Completed(proc.returncode, out, err)


@dataclass
class Completed:
    rc: int
    out: str
    err: str


def invoke(ws: Workspace, *args: str) -> Result:
    """``annosync <args>`` in this process (click's runner) inside the workspace, with only the
    workspace's ``ANNOSYNC_*`` settings: for the cases that monkeypatch annosync's internals."""
    cwd = os.getcwd()
    os.chdir(ws.root)
    try:
        env = {k: v for k, v in ws.env().items() if k.startswith("ANNOSYNC_")}
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    finally:
        os.chdir(cwd)


# -- edits made between runs ----------------------------------------------------------------------

def edit_in_cvat(client: CvatClient, ws: Workspace) -> None:
    """An annotator moves a box (sample 0), deletes one (sample 1) and draws one (sample 4)."""
    record = load_record(ws.state, ws.key)
    assert record is not None
    tasks = {t.index: t for t in record.tasks}

    def job_of(task_index: int, frame: int) -> int:
        task = tasks[task_index]
        return next(j.id for j in task.jobs if j.start_frame <= frame <= j.stop_frame)

    def shapes(job_id: int) -> list[dict[str, Any]]:
        return sorted(client.get_annotations(job_id=job_id)["shapes"], key=lambda s: s["id"])

    empty = {"version": 0, "tags": [], "tracks": []}
    moved = shapes(job_of(0, 0))[0]
    moved["points"] = [p + 2.0 for p in moved["points"]]
    client.patch_annotations("update", {**empty, "shapes": [moved]}, job_id=job_of(0, 0))
    gone = shapes(job_of(0, 1))[-1]
    client.patch_annotations("delete", {**empty, "shapes": [gone]}, job_id=job_of(0, 1))
    task_id = tasks[2].id
    assert task_id is not None
    person = next(lb["id"] for lb in client.get_labels(task_id=task_id) if lb["name"] == "person")
    new = {"type": "rectangle", "frame": 0, "label_id": person, "points": [3.0, 4.0, 20.0, 18.0],
           "attributes": [], "group": 0, "source": "manual", "occluded": False, "z_order": 0}
    client.patch_annotations("create", {**empty, "shapes": [new]}, job_id=job_of(2, 0))


def edit_locally(ws: Workspace) -> None:
    """The user moves a box (sample 2), deletes one (sample 3) and adds one (sample 5)."""
    folder = ws.folder
    s2 = folder.read("0002")
    dets = list(s2.fields["ground_truth"].detections)
    x, y, w, h = dets[0].bounding_box
    dets[0] = dets[0].model_copy(update={"bounding_box": (round(x + 0.01, 4), y, w, h)})
    folder.write("0002", s2.model_copy(update={"fields": {
        **s2.fields, "ground_truth": Detections(detections=dets)}}))
    s3 = folder.read("0003")
    folder.write("0003", s3.model_copy(update={"fields": {
        **s3.fields, "ground_truth": Detections(detections=s3.fields["ground_truth"].detections[:-1])}}))
    s5 = folder.read("0005")
    added = Detection(_id=new_id(), label="truck", bounding_box=(0.5, 0.5, 0.2, 0.2),
                      attributes={"iscrowd": False})
    folder.write("0005", s5.model_copy(update={"fields": {**s5.fields, "ground_truth": Detections(
        detections=[*s5.fields["ground_truth"].detections, added])}}))


# -- what the end state is ------------------------------------------------------------------------

Content = dict[str, Counter[tuple[Any, ...]]]


@dataclass
class Snapshot:
    local: Content
    remote: Content
    server_tasks: list[dict[str, Any]]
    record_task_ids: set[int]
    projects: int
    corrupt: list[str]
    temporaries: list[str]
    pending: int

    @property
    def duplicate_tasks(self) -> int:
        names = Counter(t["name"] for t in self.server_tasks)
        return sum(n - 1 for n in names.values() if n > 1)

    @property
    def orphan_tasks(self) -> int:
        return sum(1 for t in self.server_tasks if int(t["id"]) not in self.record_task_ids)


def _round(values: Any, digits: int) -> tuple[float, ...]:
    return tuple(round(float(v), digits) for v in values)


def snapshot(ws: Workspace, client: CvatClient) -> Snapshot:
    folder = ws.folder
    local: Content = {}
    corrupt: list[str] = []
    for key in folder:
        path = folder.label_path(key)
        try:
            sample = parse_sample(path.read_bytes(), str(path))
        except Exception as exc:  # any failure to read back is corruption
            corrupt.append(f"{path}: {exc}")
            continue
        value = sample.fields.get("ground_truth")
        local[key] = Counter(
            (d.label, _round(d.bounding_box, 3),
             tuple(sorted((k, str(v)) for k, v in (d.attributes or {}).items())))
            for d in getattr(value, "detections", []))
    try:
        record = load_record(ws.state, ws.key)
        if record is not None:
            record.load_all()  # every shard the head names exists with the bytes it names
    except Exception as exc:
        corrupt.append(f"run record: {exc}")
        record = None
    try:
        pending = len(Journal(ws.state, ws.key).pending())
    except Exception as exc:
        corrupt.append(f"journal: {exc}")
        pending = -1
    temporaries = [str(p) for p in ws.dataset.rglob(".*") if p.is_file()
                   and re.search(r"\.(tmp|part)$", p.name)]
    server_tasks = [t for t in client.list_tasks(search=ws.key) if ws.key in t["name"]]
    projects = len([p for p in client.find_projects(f"p-{ws.key}")])
    remote: Content = {}
    record_ids: set[int] = set()
    if record is not None:
        for task in record.tasks:
            if task.id is None:
                continue
            record_ids.add(task.id)
            specs: dict[int, str] = {}
            names: dict[int, str] = {}
            for label in client.get_labels(task_id=task.id):
                names[label["id"]] = label["name"]
                for attr in label.get("attributes", []):
                    specs[attr["id"]] = attr["name"]
            meta = client.get_data_meta(task.id)
            sizes = [(f["width"], f["height"]) for f in meta["frames"]]
            for shape in client.get_annotations(task_id=task.id)["shapes"]:
                key = task.samples[shape["frame"]]
                w, h = sizes[shape["frame"]] if shape["frame"] < len(sizes) else sizes[0]
                x1, y1, x2, y2 = shape["points"]
                rel = (x1 / w, y1 / h, (x2 - x1) / w, (y2 - y1) / h)
                attrs = tuple(sorted((specs.get(a["spec_id"], "?"), str(a["value"]).lower())
                                     for a in shape["attributes"]
                                     if specs.get(a["spec_id"]) != "label_id"))
                remote.setdefault(key, Counter())[(names.get(shape["label_id"]),
                                                   _round(rel, 3), attrs)] += 1
    return Snapshot(local, remote, server_tasks, record_ids, projects, corrupt, temporaries,
                    pending)


def missing(oracle: Content, got: Content) -> int:
    return sum(sum((oracle[k] - got.get(k, Counter())).values()) for k in oracle)


def extra(oracle: Content, got: Content) -> int:
    return missing(got, oracle)


# -- killing a run --------------------------------------------------------------------------------

TUS_CHUNK = re.compile(r"^/api/tasks/\d+/data/\d+_[0-9a-f-]{36}$")
RQ_POLL = re.compile(r"^/api/requests/")


@dataclass
class Trigger:
    """When to signal the run: ``kind`` is time | request | tus | poll | label-write |
    record-write; ``n``: the seconds or the ordinal; ``when``: before/after for writes."""

    kind: str
    n: float
    when: str = "before"
    fired: threading.Event = field(default_factory=threading.Event)
    _count: int = 0

    def describe(self) -> str:
        if self.kind == "time":
            return f"after {self.n:.2f}s"
        if self.kind.endswith("write"):
            return f"{self.kind} #{int(self.n)} ({self.when} the rename)"
        return f"{self.kind} #{int(self.n)}"

    def on_request(self, method: str, path: str) -> bool:
        hit = (self.kind == "request"
               or (self.kind == "tus" and method == "PATCH" and TUS_CHUNK.match(path))
               or (self.kind == "poll" and method == "GET" and RQ_POLL.match(path)))
        return bool(hit) and self._tick()

    def on_write(self, kind: str, when: str) -> bool:
        return self.kind == f"{kind}-write" and when == self.when and self._tick()

    def _tick(self) -> bool:
        self._count += 1
        return self._count == int(self.n)


@dataclass
class Profile:
    """What an uninterrupted run of a phase does: how long, how many of each event."""

    seconds: float
    requests: int
    tus: int
    polls: int
    label_writes: int
    record_writes: int

    def pick(self, rng: random.Random, kind: str) -> Trigger:
        if kind == "time":
            return Trigger("time", rng.uniform(0.0, self.seconds))
        top = {"request": self.requests, "tus": self.tus, "poll": self.polls,
               "label-write": self.label_writes, "record-write": self.record_writes}[kind]
        return Trigger(kind, rng.randint(1, max(1, top)), rng.choice(("before", "after")))


@dataclass
class Killed:
    rc: int
    landed: bool
    err: str
    seconds: float
    requests: int = 0  # requests the run made before it ended
    finished: bool = False  # the run had printed its last line when the signal came

    def before_startup(self, sig: int) -> bool:
        """The signal took the process down before annosync began (interpreter start-up,
        importing the entry point): the default action, nothing done, nothing to clean."""
        return self.rc == -sig and self.requests == 0


def run_and_signal(ws: Workspace, emu: EmulatorProcess, trigger: Trigger, sig: int,
                   *args: str) -> Killed:
    """Start ``annosync sync`` (probed) and send ``sig`` when ``trigger`` fires."""
    first = emu.count()
    proc = ws.popen("sync", *args, probe=True)
    started = time.monotonic()
    fire = threading.Event()

    def listen(method: str, path: str) -> None:
        if not fire.is_set() and trigger.on_request(method, path):
            fire.set()
            _signal(proc, sig)

    with emu._lock:
        emu.listeners.append(listen)
    lines: queue.Queue[str] = queue.Queue()

    def read_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("@write "):
                _, kind, when = line.split()
                if not fire.is_set() and trigger.on_write(kind, when):
                    fire.set()
                    _signal(proc, sig)
                continue
            lines.put(line)

    reader = threading.Thread(target=read_err, daemon=True)
    reader.start()
    try:
        if trigger.kind == "time":
            deadline = started + trigger.n
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.001)
            if proc.poll() is None:
                fire.set()
                _signal(proc, sig)
        assert proc.stdout is not None
        out = proc.stdout.read()
        rc = proc.wait(timeout=300)
    finally:
        with emu._lock:
            emu.listeners.remove(listen)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=5)
    err = "".join(lines.queue)
    return Killed(rc, fire.is_set(), err, time.monotonic() - started, emu.count() - first,
                  finished="Apply complete" in out or "No changes" in out)


def _signal(proc: subprocess.Popen[str], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)


def profile(ws: Workspace, emu: EmulatorProcess) -> Profile:
    """Run one uninterrupted (probed) sync and count what it did."""
    first = emu.count()
    proc = ws.popen("sync", probe=True)
    started = time.monotonic()
    out, err = proc.communicate(timeout=300)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"oracle sync failed ({proc.returncode}): {err}{out}")
    time.sleep(0.05)
    with emu._lock:
        reqs = emu.requests[first:]
    writes = Counter(line.split()[1] for line in err.splitlines()
                     if line.startswith("@write ") and line.endswith("before"))
    return Profile(
        seconds=seconds, requests=len(reqs),
        tus=sum(1 for _, m, p in reqs if m == "PATCH" and TUS_CHUNK.match(p)),
        polls=sum(1 for _, m, p in reqs if m == "GET" and RQ_POLL.match(p)),
        label_writes=writes["label"], record_writes=writes["record"])


def lock_free(ws: Workspace) -> bool:
    try:
        with dataset_lock(ws.state, timeout=0):
            return True
    except Exception:
        return False


def owner_note_left(ws: Workspace) -> bool:
    return (ws.state / OWNER_FILE).exists()


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, default=str)
