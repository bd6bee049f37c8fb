"""The HTTP annotator gives what the in-process annotator gives, edit for edit.

Two emulators with the same seed get the same tasks (so the same ids); one is edited in-process
(``emu.annotator``), the other over REST (:class:`HttpAnnotator`). After every edit both must
return the same object, raise the same error, hold the same annotations (task and job views)
and have bumped the ``updated_date`` of the same jobs. Attribute lists are compared as sets of
(spec id, value): their order only tells which attributes a save sent (the in-process annotator
stores what was given, the UI and the HTTP annotator send every attribute), not their values.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from annosync.cvat import Credentials, CvatClient
from annosync.emulator import Emulator

from .http_annotator import HttpAnnotator

MEDIA = sorted((Path(__file__).resolve().parents[2] / "fixtures" / "street").glob("*/000?.jpg"))

ATTRS = [
    {"name": "color", "mutable": False, "input_type": "select", "default_value": "red",
     "values": ["red", "blue"]},
    {"name": "moving", "mutable": True, "input_type": "checkbox", "default_value": "false",
     "values": ["false"]},
    {"name": "note", "mutable": True, "input_type": "text", "values": []},
]
SVG = "".join(f'<circle r="1" cx="{i}" cy="{i}" data-type="element node" data-element-id="{i}" '
              f'data-node-id="{i}" data-label-name="{name}"></circle>'
              for i, name in enumerate(["head", "hand"], 1))
LABELS = [
    {"name": "car", "attributes": ATTRS},
    {"name": "truck", "attributes": ATTRS},  # the same schema: a relabel keeps values
    {"name": "person", "attributes": [
        {"name": "label_id", "mutable": True, "input_type": "text", "values": []}]},
    {"name": "scene", "type": "tag", "attributes": [
        {"name": "weather", "mutable": True, "input_type": "radio", "default_value": "sun",
         "values": ["sun", "rain"]}]},
    {"name": "body", "type": "skeleton", "svg": SVG, "attributes": [],
     "sublabels": [{"name": "head", "type": "points", "attributes": []},
                   {"name": "hand", "type": "points", "attributes": [
                       {"name": "side", "mutable": True, "input_type": "text", "values": []}]}]},
    {"name": "figure", "type": "skeleton", "svg": SVG, "attributes": [],
     "sublabels": [{"name": "head", "type": "points", "attributes": []},
                   {"name": "hand", "type": "points", "attributes": []}]},
]
Obj = dict[str, Any]


class Side:
    """One emulator, its tasks, and an annotator acting as alice on it."""

    def __init__(self, emu: Emulator, http: bool) -> None:
        self.emu = emu
        self.admin = CvatClient(emu.url, Credentials(username=emu.admin_username,
                                                     password=emu.admin_password),
                                poll_interval=(0.01, 0.05))
        self.tasks: dict[str, int] = {}
        self.outcomes: list[str] = []  # "ok" or the exception name, per compared step
        if http:
            self.annotator: Any = HttpAnnotator(CvatClient(emu.url, Credentials(
                username="alice", password="alice-password-1")))
        else:
            self.annotator = emu.annotator("alice")

    def make_task(self, name: str, frames: int, segment_size: int, **extra: Any) -> int:
        alice = self.admin.find_user("alice")
        assert alice is not None
        task = self.admin.create_task(name, labels=LABELS, segment_size=segment_size,
                                      assignee_id=alice["id"], **extra)
        self.admin.upload_task_data(task["id"], [(f"{i:02d}.jpg", MEDIA[i]) for i in range(frames)],
                                    sorting_method="predefined")
        self.tasks[name] = int(task["id"])
        return int(task["id"])

    def snapshot(self) -> tuple[Obj, dict[int, str]]:
        """Every task's and job's annotations, and each job's updated_date."""
        views: Obj = {}
        dates = {}
        for task_id in self.tasks.values():
            views[f"task {task_id}"] = self.admin.get_annotations(task_id=task_id)
            for job in self.admin.list_jobs(task_id=task_id):
                views[f"job {job['id']}"] = self.admin.get_annotations(job_id=job["id"])
                dates[int(job["id"])] = str(job["updated_date"])
        return views, dates

    def close(self) -> None:
        self.admin.close()
        if isinstance(self.annotator, HttpAnnotator):
            self.annotator.client.close()


@pytest.fixture
def sides() -> Iterator[tuple[Side, Side]]:
    with Emulator(users=["alice"], seed=7) as a, Emulator(users=["alice"], seed=7) as b:
        local, remote = Side(a, http=False), Side(b, http=True)
        for side in (local, remote):
            side.make_task("images", frames=6, segment_size=3)
            side.make_task("clip", frames=8, segment_size=4)
        yield local, remote
        local.close()
        remote.close()


Step = Callable[[Any, dict[str, int]], Any]


def canonical(value: Any) -> Any:
    """``value`` with every attribute list sorted by spec id."""
    if isinstance(value, dict):
        out = {k: canonical(v) for k, v in value.items()}
        if isinstance(out.get("attributes"), list):
            out["attributes"] = sorted(out["attributes"], key=lambda a: a["spec_id"])
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(canonical(v) for v in value)
    return value


def same(sides: tuple[Side, Side], step: Step) -> Any:
    """Run ``step`` with both annotators; assert identical outcomes; return the result."""
    local, remote = sides
    before = [side.snapshot()[1] for side in sides]
    outcomes = []
    for side in sides:
        try:
            outcomes.append(("ok", canonical(step(side.annotator, side.tasks))))
        except (KeyError, ValueError) as exc:
            outcomes.append((type(exc).__name__, "CVAT refused" in str(exc)))
    assert outcomes[0] == outcomes[1]
    local.outcomes.append(outcomes[0][0])
    (views_a, dates_a), (views_b, dates_b) = local.snapshot(), remote.snapshot()
    assert canonical(views_a) == canonical(views_b)
    touched = [{j for j, d in after.items() if d != old[j]}
               for after, old in ((dates_a, before[0]), (dates_b, before[1]))]
    assert touched[0] == touched[1]
    return outcomes[0][1]


def test_drawing_editing_relabelling_and_deleting(sides: tuple[Side, Side]) -> None:
    box = same(sides, lambda a, t: a.add_shape(
        t["images"], frame=4, label="car", type="rectangle", points=[1, 2, 30, 40],
        attributes={"note": "hi", "moving": True}, occluded=True, z_order=2, group=1))
    poly = same(sides, lambda a, t: a.add_shape(
        t["images"], frame=1, label="truck", type="polygon", points=[0, 0, 10, 0, 10, 10],
        attributes={"color": "blue"}, rotation=0.0, source="auto"))
    body = same(sides, lambda a, t: a.add_shape(
        t["images"], frame=2, label="body", type="skeleton", points=[], elements=[
            {"label": "head", "points": [5, 5]},
            {"label": "hand", "points": [9, 9], "outside": True, "attributes": {"side": "left"}}]))
    tag = same(sides, lambda a, t: a.add_tag(t["images"], frame=0, label="scene",
                                             attributes={"weather": "rain"}))
    same(sides, lambda a, t: a.add_tag(t["images"], frame=5, label="person", group=2))
    assert {x["id"] for x in (box, poly, body, tag)} and box["occluded"] is True
    assert same(sides, lambda a, t: a.shapes(t["images"]))
    assert same(sides, lambda a, t: a.tags(t["images"]))
    assert same(sides, lambda a, t: a.job_annotations(min(
        j["id"] for j in sides[0].admin.list_jobs(task_id=t["images"]))))

    same(sides, lambda a, t: a.update_shape(box["id"], points=[2, 3, 31, 41], occluded=False,
                                            attributes={"note": "moved"}, z_order=0))
    same(sides, lambda a, t: a.update_shape(box["id"], rotation=45.0, group=0))
    same(sides, lambda a, t: a.update_shape(body["id"], frame=3))  # elements follow
    same(sides, lambda a, t: a.update_shape(poly["id"], outside=True))
    same(sides, lambda a, t: a.change_label(box["id"], "truck"))  # same schema: values kept
    same(sides, lambda a, t: a.change_label(box["id"], "person"))  # cleared, then defaults
    same(sides, lambda a, t: a.change_label(box["id"], "car"))
    same(sides, lambda a, t: a.change_label(body["id"], "figure"))  # sublabels by name
    same(sides, lambda a, t: a.change_label(tag["id"], "person", kind="tag"))
    same(sides, lambda a, t: a.delete(poly["id"], kind="shape"))
    same(sides, lambda a, t: a.delete(tag["id"], kind="tag"))


def test_tracks_split_merge_and_relabel(sides: tuple[Side, Side]) -> None:
    track = same(sides, lambda a, t: a.add_track(
        t["clip"], label="car", attributes={"color": "blue", "note": "mutable: dropped"}, shapes=[
            {"frame": 0, "type": "rectangle", "points": [0, 0, 10, 10],
             "attributes": {"note": "a", "color": "immutable: dropped"}},
            {"frame": 2, "type": "rectangle", "points": [8, 8, 18, 18], "occluded": True},
            {"frame": 6, "type": "rectangle", "points": [20, 8, 30, 18]},
            {"frame": 7, "type": "rectangle", "points": [20, 8, 30, 18], "outside": True},
        ]))  # crosses the job boundary at frame 4: CVAT keeps one piece per job
    assert same(sides, lambda a, t: a.tracks(t["clip"]))
    first, second = same(sides, lambda a, t: a.split_track(track["id"], 1))
    merged = same(sides, lambda a, t: a.merge_tracks([second, first]))
    same(sides, lambda a, t: a.change_label(merged, "truck"))
    same(sides, lambda a, t: a.change_label(merged, "person"))
    pieces = sorted(t["id"] for t in sides[0].annotator.tracks(sides[0].tasks["clip"]))
    same(sides, lambda a, t: a.delete(pieces[-1], kind="track"))
    other = same(sides, lambda a, t: a.add_track(t["clip"], label="person", shapes=[
        {"frame": 5, "type": "points", "points": [1, 1]},
        {"frame": 6, "type": "points", "points": [2, 2], "outside": True}]))
    same(sides, lambda a, t: a.split_track(other["id"], 6))  # not visible there


def test_errors_match(sides: tuple[Side, Side]) -> None:
    shape = same(sides, lambda a, t: a.add_shape(t["images"], frame=0, label="car",
                                                 type="rectangle", points=[0, 0, 1, 1]))
    same(sides, lambda a, t: a.add_shape(t["images"], frame=0, label="bus", type="rectangle",
                                         points=[0, 0, 1, 1]))
    same(sides, lambda a, t: a.add_shape(t["images"], frame=0, label="car", type="rectangle",
                                         points=[0, 0, 1, 1], attributes={"speed": 3}))
    same(sides, lambda a, t: a.add_shape(t["images"], frame=0, label="car", type="rectangle",
                                         points=[0, 0, 1]))
    same(sides, lambda a, t: a.add_shape(t["images"], frame=9, label="car", type="rectangle",
                                         points=[0, 0, 1, 1]))
    same(sides, lambda a, t: a.add_track(t["clip"], label="car", shapes=[
        {"frame": 20, "type": "rectangle", "points": [0, 0, 1, 1]}]))
    same(sides, lambda a, t: a.change_label(shape["id"], "body"))
    same(sides, lambda a, t: a.split_track(123456, 1))
    same(sides, lambda a, t: a.merge_tracks([123456]))
    same(sides, lambda a, t: a.update_shape(123456, points=[0, 0, 1, 1]))
    same(sides, lambda a, t: a.shapes(987654))
    same(sides, lambda a, t: a.delete(shape["id"]))
    same(sides, lambda a, t: a.delete(shape["id"]))


def test_job_workflow(sides: tuple[Side, Side]) -> None:
    job_id = min(j["id"] for j in sides[0].admin.list_jobs(task_id=sides[0].tasks["images"]))
    same(sides, lambda a, t: a.set_job_state(job_id, state="in progress"))
    same(sides, lambda a, t: a.set_job_state(job_id, stage="validation"))
    same(sides, lambda a, t: a.set_job_state(job_id, stage="acceptance", state="completed"))
    same(sides, lambda a, t: a.set_job_state(job_id, stage="nope"))
    same(sides, lambda a, t: a.set_job_state(job_id, state="nope"))
    same(sides, lambda a, t: a.set_job_state(987654, state="new"))


def on(task: str, method: str, *args: Any, **kwargs: Any) -> Step:
    """A step calling ``method(<id of task>, *args, **kwargs)``."""
    return lambda a, t: getattr(a, method)(t[task], *args, **kwargs)


def at(method: str, *args: Any, **kwargs: Any) -> Step:
    """A step calling ``method(*args, **kwargs)``."""
    return lambda a, t: getattr(a, method)(*args, **kwargs)


@pytest.mark.parametrize("seed", range(3))
def test_random_edit_sequences(sides: tuple[Side, Side], seed: int) -> None:
    """Random draws, edits, relabels and deletions, decided from the (shared) current state."""
    rng = random.Random(seed)
    local = sides[0]

    def pick(kind: str) -> Obj | None:
        objs = [o for task_id in local.tasks.values()
                for o in getattr(local.annotator, kind)(task_id)]
        return rng.choice(objs) if objs else None

    for _ in range(30):
        op = rng.choice(["shape", "shape", "tag", "track", "move", "attr", "relabel", "delete"])
        task = rng.choice(["images", "clip"])
        frame = rng.randrange(6)
        x, y = rng.randrange(50), rng.randrange(50)
        label = rng.choice(["car", "truck", "person"])
        if op == "shape":
            same(sides, on(task, "add_shape", frame=frame, label=label, type="rectangle",
                           points=[x, y, x + 9, y + 9]))
        elif op == "tag":
            same(sides, on(task, "add_tag", frame=frame, label="scene",
                           attributes={"weather": rng.choice(["sun", "rain"])}))
        elif op == "track":
            same(sides, on(task, "add_track", label=label, shapes=[
                {"frame": frame, "type": "rectangle", "points": [x, y, x + 5, y + 5]},
                {"frame": frame + 2, "type": "rectangle", "points": [x + 4, y, x + 9, y + 5]}]))
        elif op in ("move", "attr"):
            shape = pick("shapes")
            if shape is not None:  # "note" is no attribute of a person: a KeyError on both
                same(sides, at("update_shape", shape["id"], points=[x, y, x + 3, y + 3],
                               attributes={"note": f"n{x}"} if op == "attr" else None))
        else:
            kind = rng.choice(["shapes", "tracks"] if op == "relabel" else
                              ["shapes", "tags", "tracks"])
            obj = pick(kind)
            if obj is not None and op == "relabel":
                same(sides, at("change_label", obj["id"], label, kind=kind[:-1]))
            elif obj is not None:
                same(sides, at("delete", obj["id"], kind=kind[:-1]))
    assert local.outcomes.count("ok") >= 20, local.outcomes  # mostly edits that CVAT took
