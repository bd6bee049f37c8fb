"""``annosync demo``: the reference's basic recipe, end to end, on the bundled CVAT emulator.

Why a module: it is the README's first command, so it must work on a fresh machine with no CVAT
and no network, finish in seconds and read like a walkthrough. It runs the same engine the CLI
does (no demo-only shortcuts) on a copy of ``fixtures/street``:

1. select the sample with the most high-confidence false positives (the manifest's JMESPath);
2. ``plan`` and ``sync``: create the CVAT task, upload the image and its ground truth;
3. a scripted annotator edits one box, adds one, deletes one and changes a class in CVAT;
4. ``plan`` shows those changes; ``pull`` merges them into the label file;
5. a before/after summary (labels per class, what changed, a unified diff of the label file);
6. ``status`` and ``cleanup`` (the CVAT task is deleted; labels and the run record stay).
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from annosync.api import load_dataset
from annosync.dataset.folder import DatasetFolder
from annosync.errors import StateError
from annosync.model.sample import Sample
from annosync.sync.engine import apply_plan, make_plan, open_sessions
from annosync.sync.plan import Plan
from annosync.sync.record import load_record
from annosync.sync.render import STYLES, Line, plan_lines
from annosync.sync.session import Connection, SyncOptions
from annosync.sync.status import get_status, status_lines

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "fixtures" / "street"
RECIPE = REPO / "manifests" / "basic_recipe.yaml"
FIELD = "ground_truth"
ANNOTATOR = "alice"

Emit = Callable[[list[Line]], None]


class Demo:
    def __init__(self, root: Path, emit: Emit) -> None:
        self.root = root
        self.emit = emit
        self.dataset = root / "datasets" / "street"
        self.manifest = root / "manifests" / "basic_recipe.yaml"
        self.anno_key = "cvat_basic_recipe"
        self.step_no = 0

    # -- output ----------------------------------------------------------------------------
    def say(self, text: str = "", style: str | None = None) -> None:
        self.emit([Line().add(text, style)])

    def step(self, title: str, command: str | None = None) -> None:
        self.step_no += 1
        self.say()
        self.say(f"{self.step_no}. {title}", "bold cyan")
        if command:
            self.say(f"   $ {command}", STYLES["dim"])

    def indented(self, lines: list[Line]) -> None:
        self.emit([Line([("   ", None), *line.segments]) for line in lines])

    def show_plan(self, plan: Plan, verbose: bool = False) -> None:
        self.indented(plan_lines(plan, verbose))

    # -- set-up ----------------------------------------------------------------------------
    def prepare(self) -> dict[str, Any]:
        if not FIXTURE.is_dir() or not RECIPE.is_file():
            raise StateError(
                f"the demo needs the repository's fixtures/street and manifests/ (looked in "
                f"{REPO}); install annosync from a checkout with `pip install -e .`"
            )
        shutil.copytree(FIXTURE, self.dataset)
        recipe = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
        recipe["dataset"] = "../datasets/street"
        recipe["launch_editor"] = False  # the demo prints the task URL instead
        # every class of the dataset, so the annotator can relabel a car as a truck
        recipe["classes"] = ["car", "person", "truck"]
        recipe.setdefault("cvat", {})["job_assignees"] = [ANNOTATOR]
        self.manifest.parent.mkdir(parents=True, exist_ok=True)
        text = ("# The reference's basic recipe (manifests/basic_recipe.yaml), as the demo runs "
                "it\n" + yaml.safe_dump(recipe, sort_keys=False))
        self.manifest.write_text(text, encoding="utf-8")
        return dict(recipe)

    def engine(self, conn: Connection, mode: str = "sync") -> Any:
        env = {**os.environ, "ANNOSYNC_CVAT_URL": conn.url or ""}
        return open_sessions([self.manifest], SyncOptions(mode=mode, progress=False),  # type: ignore[arg-type]
                             conn, env=env)

    # -- the walkthrough -------------------------------------------------------------------
    def run(self, emu: Any) -> None:
        started = time.monotonic()
        conn = Connection(url=emu.url, username=emu.admin_username,
                          password=emu.admin_password, interactive=False)
        recipe = self.prepare()
        self.say(f"annosync demo: the basic recipe on a CVAT emulator at {emu.url}", "bold")
        self.say(f"working folder: {self.root}", STYLES["dim"])

        self.step("Find the sample with the most high-confidence false positives",
                  f"annosync ls datasets/street --where \"{recipe['samples']['where']}\"")
        ds = load_dataset(self.dataset)
        where, sort_by = recipe["samples"]["where"], recipe["samples"]["sort_by"]
        ranked = ds.match(where).sort_by(sort_by, reverse=True)
        for key, sample in ranked.iter_samples():
            fps = [d for d in _detections(sample, "predictions")
                   if (d.confidence or 0) > 0.8 and d.attributes.get("eval") == "fp"]
            self.say(f"   {key}: {len(fps)} high-confidence false positive(s)")
        key = ranked.first_key()
        self.say(f"   -> the manifest selects {key} (limit: 1)", "green")

        self.step("Plan the upload", "annosync plan manifests/")
        with self.engine(conn) as engine:
            plan = make_plan(engine)
            self.show_plan(plan)
            self.step("Sync: create the CVAT task, upload the image and its ground truth",
                      "annosync sync manifests/")
            apply_plan(engine, plan, report=lambda m: self.say(f"   {m}", STYLES["dim"]))
        record = load_record(DatasetFolder(self.dataset).state_dir, self.anno_key)
        assert record is not None and record.tasks and record.tasks[0].id is not None
        task_id = record.tasks[0].id
        self.say(f"   open it in CVAT: {emu.url}/tasks/{task_id}", "green")

        label_path = self.dataset / "labels" / f"{key}.json"
        before_text = label_path.read_text(encoding="utf-8")
        before = DatasetFolder(self.dataset).read(key)

        self.step(f"In CVAT, {ANNOTATOR} edits a box, adds one, deletes one, relabels one "
                  "(scripted)")
        for line in annotate(emu, task_id, before):
            self.say(f"   {line}")

        self.step("Plan again: annosync sees what changed in CVAT", "annosync plan -v manifests/")
        with self.engine(conn) as engine:
            plan = make_plan(engine)
            self.show_plan(plan, verbose=True)

        self.step("Pull: merge CVAT's changes into the label file", "annosync pull manifests/")
        with self.engine(conn, "pull") as engine:
            plan = make_plan(engine)
            apply_plan(engine, plan, report=lambda m: self.say(f"   {m}", STYLES["dim"]))
        after_text = label_path.read_text(encoding="utf-8")
        after = DatasetFolder(self.dataset).read(key)

        self.step("Before and after", f"git diff datasets/street/labels/{key}.json")
        self.compare(before, after)
        diff = difflib.unified_diff(before_text.splitlines(), after_text.splitlines(),
                                    f"a/labels/{key}.json", f"b/labels/{key}.json", lineterm="",
                                    n=2)
        for line in diff:
            style = None
            if line.startswith(("+++", "---")):
                style = "bold"
            elif line.startswith("+"):
                style = "green"
            elif line.startswith("-"):
                style = "red"
            elif line.startswith("@@"):
                style = "cyan"
            self.say(f"   {line}", style)

        self.step("Task status in CVAT", "annosync status manifests/")
        with self.engine(conn) as engine:
            session = engine.sessions[0]
            assert session.record is not None
            status = get_status(session.record, session.client)
        self.indented(status_lines(status))

        self.step("Clean up: delete the CVAT task (labels and run record stay)",
                  "annosync cleanup --yes manifests/")
        with self.engine(conn, "cleanup") as engine:
            plan = make_plan(engine)
            apply_plan(engine, plan, report=lambda m: self.say(f"   {m}", STYLES["dim"]))
        self.say()
        self.say(f"Done in {time.monotonic() - started:.1f}s. The same steps against your own "
                 "CVAT: set ANNOSYNC_CVAT_URL, ANNOSYNC_CVAT_USERNAME and "
                 "ANNOSYNC_CVAT_PASSWORD, then `annosync sync manifests/`.", "bold")

    def compare(self, before: Sample, after: Sample) -> None:
        old = {d.id: d for d in _detections(before, FIELD)}
        new = {d.id: d for d in _detections(after, FIELD)}
        classes_before = Counter(d.label for d in old.values())
        classes_after = Counter(d.label for d in new.values())
        self.say(f"   {FIELD} labels per class:", "bold")
        for name in sorted(set(classes_before) | set(classes_after)):
            a, b = classes_before.get(name, 0), classes_after.get(name, 0)
            mark = "" if a == b else f"  ({b - a:+d})"
            self.say(f"     {name:<8} {a} -> {b}{mark}", None if a == b else "yellow")
        self.say("   what changed:", "bold")
        for label_id in sorted(set(old) | set(new)):
            o, n = old.get(label_id), new.get(label_id)
            if o is None and n is not None:
                self.say(f"     + {n.label} {label_id} added", "green")
            elif n is None and o is not None:
                self.say(f"     - {o.label} {label_id} deleted", "red")
            elif o is not None and n is not None:
                parts = []
                if o.label != n.label:
                    parts.append(f"relabeled {o.label} -> {n.label}")
                if o.bounding_box != n.bounding_box:
                    box = ", ".join(f"{v:.3f}" for v in n.bounding_box or ())
                    parts.append(f"box moved to [{box}]")
                if parts:
                    self.say(f"     ~ {label_id} {'; '.join(parts)}", "yellow")


def _detections(sample: Sample, field: str) -> list[Any]:
    value = sample.fields.get(field)
    return list(getattr(value, "detections", None) or [])


def annotate(emu: Any, task_id: int, sample: Sample) -> list[str]:
    """The scripted annotator's work on the task; returns what it did, in words."""
    annotator = emu.annotator(ANNOTATOR)
    shapes = sorted(annotator.shapes(task_id), key=lambda s: s["id"])
    if len(shapes) < 3:
        raise StateError(f"the demo expects 3+ boxes in task {task_id}, found {len(shapes)}")
    width = sample.metadata.width if sample.metadata else 640
    height = sample.metadata.height if sample.metadata else 480
    done = []
    first, second, third = shapes[0], shapes[1], shapes[2]
    x1, y1, x2, y2 = first["points"]
    dx = 0.03 * width
    annotator.update_shape(first["id"], points=[x1 + dx, y1, x2 + dx, y2])
    done.append(f"~ moved box {first['id']} right by {dx:.0f} px")
    annotator.delete(second["id"])
    done.append(f"- deleted box {second['id']}")
    annotator.change_label(third["id"], "truck")
    done.append(f"~ relabeled box {third['id']} as a truck")
    box = [0.05 * width, 0.1 * height, 0.2 * width, 0.4 * height]
    added = annotator.add_shape(task_id, 0, "person", "rectangle", box,
                                attributes={"iscrowd": False})
    done.append(f"+ drew a person, box {added['id']}")
    return done


def run(emit: Emit, work_dir: Path | None = None, keep: bool = False) -> Path | None:
    """Run the demo; returns the working folder if it was kept."""
    from annosync.emulator import Emulator

    temp = work_dir is None
    root = Path(tempfile.mkdtemp(prefix="annosync-demo-")) if work_dir is None else work_dir
    if not temp:
        if root.exists() and any(root.iterdir()):
            raise StateError(f"{root}: the demo needs an empty or new folder")
        root.mkdir(parents=True, exist_ok=True)
    cwd = Path.cwd()
    try:
        with Emulator(users=[ANNOTATOR]) as emu:
            os.chdir(root)  # paths print as the commands shown would see them
            Demo(root.resolve(), emit).run(emu)
    finally:
        os.chdir(cwd)
        if temp and not keep:
            shutil.rmtree(root, ignore_errors=True)
    return None if temp and not keep else root
