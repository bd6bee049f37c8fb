"""``export-xml``'s direct path (``export_fast.py``: label-file JSON straight to XML text) gives
the bytes of the general path (pydantic models -> ``xmlmap`` -> ``writer``), or leaves the
sample to it: Hypothesis label files with every label kind the direct path writes, every
optional key, values the models convert or refuse (ints for floats, NaN, bools for ints,
negative sizes, bad ids, field names, media paths), text lxml escapes or refuses, kinds it does
not write (masks, segmentations, ellipses, skeletons), broken JSON; new tasks and recorded
tasks; both number styles. The same output file, report and warnings, or the same error."""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annosync.cvatxml import export as ex
from annosync.cvatxml import export_xml
from annosync.cvatxml import record as records
from annosync.cvatxml.encoding import fmt_cvat, fmt_exact
from annosync.cvatxml.export_fast import FastFrames, pixel_text
from annosync.cvatxml.pixels import snap
from annosync.cvatxml.record import Record, RecordFrame, RecordTask
from annosync.dataset.folder import DatasetFolder

SIZES = st.sampled_from([1920, 1080, 1280, 720, 37, 1])
PIX = st.integers(-500, 200_000).map(lambda n: n / 100)
GOOD_REL = st.builds(lambda p, s: p / s, PIX, SIZES)


def rare(draw: st.DrawFn, one_in: int) -> bool:
    """True about once in ``one_in`` draws (False is the simplest value: Hypothesis leans
    to it and shrinks to it, so files are mostly valid and failures shrink to the odd part)."""
    return bool(draw(st.sampled_from([False] * (one_in - 1) + [True])))


def odd(draw: st.DrawFn, good: Any, bad: Any, one_in: int = 12) -> Any:
    """Mostly ``good``; one draw in ``one_in`` from ``bad`` (something odd or invalid)."""
    return draw(bad if rare(draw, one_in) else good)


REL = st.one_of(
    GOOD_REL, st.floats(-2, 3, allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, 0.0, -0.0, 0.5, 1e300, -1e-12, True, "0.5", None, float("nan"),
                     float("inf"), 2 ** 60]))
IDS = st.sampled_from(["5f1d7c9e0000000000000001", "5f1d7c9e0000000000000002", "my-id.1",
                       "a:b_c", "x" * 64])
BAD_IDS = st.sampled_from(["", "bad id!", "x" * 65, "id\n", 7, None])
LABELS = st.sampled_from(["car", "person", "car", 'a&b<"c>', "tab\there"])
BAD_LABELS = st.sampled_from(["bad\x01", "", 3, None])
NAMES = st.sampled_from(["color", "parked", "n", "note", "label_id", "é\"<", "cvat.other"] * 4
                        + ["cvat.source", "cvat.occluded", "cvat.group_id", "cvat.rotation"] * 6
                        + ["", "cvat.shape"])
ATTR_VALUES = st.one_of(
    st.sampled_from(["red", "true", "", "a&b", "x\ry", "manual", "auto", True, False, 0, 1,
                     2, -3, 0.0, -0.0, 1.5, 12.5, 1e300, None]),
    st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False, width=32))
BAD_VALUES = st.sampled_from(["bad\x02", float("nan"), [1], {"a": 1}, "ellipse"])


@st.composite
def attributes(draw: st.DrawFn) -> Any:
    if rare(draw, 30):
        return draw(st.sampled_from([None, [], "x"]))
    names = draw(st.lists(NAMES, max_size=4))
    return {n: draw(SPECIAL[n]) if n in SPECIAL else odd(draw, ATTR_VALUES, BAD_VALUES, 25)
            for n in names}


#: the ``cvat.`` attributes the export reads, with the values that test how it reads them
SPECIAL = {
    "cvat.source": st.sampled_from(["manual", "auto", "file", "", 3, None, "a&b"]),
    "cvat.occluded": st.sampled_from([True, False, 1, 0, "true", None, 1.0]),
    "cvat.group_id": st.sampled_from([0, 3, -1, True, "2", 1.5, None]),
    "cvat.rotation": st.sampled_from([0, 0.0, 12.5, 30, -0.0, True, "x", None]),
}


def optional(draw: st.DrawFn, d: dict[str, Any], keys: dict[str, Any]) -> None:
    for key, values in keys.items():
        if rare(draw, 20):
            d[key] = draw(values)


SPATIAL = {
    "confidence": st.sampled_from([None, 0.5, 1, 0.25, True, "x", float("nan")]),
    "index": st.sampled_from([None, 1, 2, 2.0, True]),
    "keyframe": st.sampled_from([None, True, False, 1]),
    "z_order": st.sampled_from([None, 0, 1, -2, 3, 1, -2, 1.0, True, "1"]),
    "tags": st.sampled_from([[], ["a"], ["a", "b"], [1], None]),
    "foo": st.just(1),
}
POINT = st.lists(GOOD_REL, min_size=2, max_size=2)


@st.composite
def label(draw: st.DrawFn, kind: str) -> Any:
    d: dict[str, Any] = {"_id": odd(draw, IDS, BAD_IDS, 30), "label": odd(draw, LABELS,
                                                                          BAD_LABELS, 30)}
    for key in ("_id", "label"):
        if d[key] is None:
            del d[key]
    if not rare(draw, 4):
        d["attributes"] = draw(attributes())
    if kind == "detection":
        d["bounding_box"] = [odd(draw, GOOD_REL, REL, 40) for _ in range(4)]
        if rare(draw, 40):
            d["bounding_box"] = d["bounding_box"][:3]
        optional(draw, d, {**SPATIAL,
                           "rotation": st.sampled_from([None, 0.0, 12.5, 30, -0.0, "x"]),
                           "mask": st.sampled_from([None, None, {"counts": [1],
                                                                 "size": [1, 1]}]),
                           "mask_path": st.sampled_from([None, "m.png", 3]),
                           "_type": st.sampled_from(["detection", "detection", "polyline"])})
    elif kind == "polyline":
        line = st.lists(POINT, min_size=1, max_size=4)
        d["points"] = odd(draw, st.lists(line, min_size=1, max_size=3),
                          st.sampled_from([None, [], [[]], [[[0.1]]], [[None]]]), 15)
        optional(draw, d, {**SPATIAL, "closed": st.sampled_from([True, False, 1]),
                           "filled": st.sampled_from([True, False, None]),
                           "_type": st.sampled_from(["polyline", "polyline", "keypoint"])})
    elif kind == "keypoint":
        pt = odd(draw, st.just(POINT), st.sampled_from([st.none(), st.just([0.1, "x"])]), 15)
        d["points"] = draw(st.lists(pt, min_size=odd(draw, st.just(1), st.just(0)),
                                    max_size=4))
        optional(draw, d, {**SPATIAL,
                           "confidence": st.sampled_from([None, [0.5, None], [1], "x",
                                                          [float("nan")]]),
                           "_type": st.sampled_from(["keypoint"])})
    else:
        optional(draw, d, {"confidence": st.sampled_from([None, 0.5, "x"]),
                           "tags": st.sampled_from([[], ["a"], [1]]),
                           "_type": st.sampled_from(["classification", "classification",
                                                     "detection"]),
                           "z_order": st.just(1)})
    return d


CONTAINERS = {"detection": "detections", "polyline": "polylines", "keypoint": "keypoints",
              "classification": "classifications"}
OTHER_VALUES = st.sampled_from([
    3, "text", None, 1.5, True, [1, 2], float("nan"),
    {"_type": "segmentation", "mask_path": "m.png"}, {"_type": "nope"}, {},
    {"_type": "detections", "detections": [], "extra": 1},
    {"_type": "detections", "detections": None}])


@st.composite
def field_value(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["detection"] * 6 + ["classification", "polyline", "keypoint",
                                                     "other"]))
    if kind == "other":
        return draw(OTHER_VALUES)
    items = draw(st.lists(label(kind), min_size=1, max_size=5))
    if rare(draw, 5) and items:
        single = dict(items[0])
        single["_type"] = kind
        return single
    return {"_type": CONTAINERS[kind], CONTAINERS[kind]: items}


@st.composite
def label_file(draw: st.DrawFn, i: int) -> str:
    raw: dict[str, Any] = {"media": odd(draw, st.sampled_from(
        [f"media/img_{i}.jpg", f"other/x{i}.png", f'media/q&{i}".jpg']), st.sampled_from(
        [f"/abs{i}.jpg", f"a/../b{i}.jpg", "", f"a\\b{i}.jpg", f"media/bad\x01{i}.jpg"]), 25)}
    meta: dict[str, Any] = {"width": draw(SIZES), "height": draw(SIZES)}
    if rare(draw, 20):
        optional(draw, meta, {"width": st.sampled_from([0, -1, 1.5, True, "9"]),
                              "media_type": st.sampled_from(["image", "video", "x"]),
                              "fps": st.sampled_from([None, 25, 0, 29.97, float("nan")]),
                              "frame_count": st.sampled_from([None, 3, -1]),
                              "size_bytes": st.sampled_from([None, 10, 1.0]),
                              "other": st.just(1)})
    if not rare(draw, 30):
        raw["metadata"] = meta
    names = draw(st.lists(st.sampled_from(["gt"] * 12 + ["pred"] * 12 + ["ok-name"] * 5
                                          + ["frames", "1bad"]), min_size=1, max_size=3,
                          unique=True))
    raw["fields"] = {n: draw(field_value()) for n in names}
    if rare(draw, 10):
        optional(draw, raw, {"frames": st.sampled_from([{}, {"1": {}}]),
                             "tags": st.sampled_from([[], ["x"], [1], None]),
                             "extra": st.just(1)})
    text = json.dumps(raw, indent=draw(st.sampled_from([None, 2])))
    if rare(draw, 40):
        text = draw(st.sampled_from([text[: len(text) // 2], "\ufeff" + text]))
    return text


def _outcome(root: Path, out: Path, fast: bool, options: dict[str, Any]) -> Any:
    old = ex._FAST
    ex._FAST = fast
    try:
        report = export_xml(root, out, **options)
    except Exception as exc:  # compared, whatever it is
        return ("error", type(exc).__name__, str(exc))
    finally:
        ex._FAST = old
    data = out.read_bytes()
    return ("ok", data, report.samples, report.frames, report.shapes, report.tags,
            report.tracks, report.record, report.warnings)


def _fresh_masked(outcome: Any, files: list[str]) -> Any:
    """``outcome`` with the label ids no label file carried masked: a label without an
    ``_id`` is given a fresh random one when read, by either path, so two exports differ
    there (found by Hypothesis: a file with a box without ``_id``)."""
    if outcome[0] != "ok":
        return outcome
    text = outcome[1].decode("utf-8")
    masked = re.sub(r'<attribute name="label_id">([^<]*)</attribute>',
                    lambda m: m.group(0) if any(m.group(1) in f for f in files)
                    else '<attribute name="label_id">NEW</attribute>', text)
    return (outcome[0], masked, *outcome[2:])


def _dataset(tmp: Path, files: list[str]) -> Path:
    root = tmp / "ds"
    DatasetFolder.init(root)
    for i, text in enumerate(files):
        (root / "labels" / f"s{i}.json").write_text(text, encoding="utf-8")
    return root


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_direct_path_writes_what_the_general_path_writes(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 3))
    files = [data.draw(label_file(i)) for i in range(n)]
    options: dict[str, Any] = {
        "numbers": data.draw(st.sampled_from(["exact", "cvat"])),
        "label_ids": data.draw(st.sampled_from([None, True, False])),
        "fields": data.draw(st.sampled_from([None, ["gt"], ["gt", "pred"]])),
    }
    recorded = data.draw(st.booleans())
    tmp = Path(tempfile.mkdtemp(prefix="xe11-"))
    try:
        root = _dataset(tmp, files)
        if recorded:
            project = data.draw(st.booleans())
            frames = [RecordFrame(10 + i, data.draw(st.sampled_from([f"img{i}.jpg", "a&b"])),
                                  f"s{i}", None,
                                  data.draw(st.sampled_from([None, 640, 0])),
                                  data.draw(st.sampled_from([None, 480])))
                      for i in range(n)]
            task = RecordTask(id=5 if project else None, subset="train" if project else None,
                              frames=frames, size=n)
            records.save(root, Record(name="task_5", layout="images", meta_xml=None,
                                      fields=["gt"], tasks=[task],
                                      kind="project" if project else "task"))
        general = _outcome(root, tmp / "general.xml", False, options)
        fast = _outcome(root, tmp / "fast.xml", True, options)
        assert _fresh_masked(fast, files) == _fresh_masked(general, files)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _plain_files(n: int) -> list[str]:
    out = []
    for i in range(n):
        dets = [{"_id": f"5f1d7c9e00000000000000{j:02d}",
                 "attributes": {"color": "red", "parked": j % 2 == 0,
                                "cvat.occluded": j % 3 == 0},
                 "bounding_box": [j / 100 + 0.013, 0.25, 0.1, 0.2], "label": "car"}
                for j in range(5)]
        out.append(json.dumps({"fields": {"gt": {"_type": "detections", "detections": dets},
                                          "tagged": {"_type": "classifications",
                                                     "classifications": [
                                                         {"_id": "t1", "label": "day"}]}},
                               "media": f"media/img_{i}.jpg",
                               "metadata": {"width": 1920, "height": 1080}}))
    return out


def test_common_files_take_the_direct_path(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a vacuous comparison: boxes and tags of ordinary label files are written by the
    direct path (and the same bytes come out either way)."""
    root = _dataset(tmp_path, _plain_files(4))
    taken: list[bool] = []
    real = FastFrames.image

    def spy(self: FastFrames, raw: Any, head: Any) -> Any:
        got = real(self, raw, head)
        taken.append(got is not None)
        return got

    monkeypatch.setattr(FastFrames, "image", spy)
    fast = _outcome(root, tmp_path / "fast.xml", True, {})
    assert taken == [True] * 4
    general = _outcome(root, tmp_path / "general.xml", False, {})
    assert fast == general
    assert fast[0] == "ok" and b'<box label="car" source="manual" occluded="1"' in fast[1]


def test_a_declined_sample_leaves_no_notes(tmp_path: Path) -> None:
    """A sample declined half-way (a box, then a mask) adds nothing to the meta's notes: its
    attribute values are noted by the general path alone."""
    ff = FastFrames(None, False, fmt_exact)
    raw = json.loads(_plain_files(1)[0])
    raw["fields"]["gt"]["detections"].append(
        {"_id": "m1", "label": "car", "bounding_box": [0, 0, 0.1, 0.1],
         "mask": {"counts": [1], "size": [1, 1]}})
    assert ff.image(raw, lambda m, w, h: ("<image>", w, h)) is None
    assert ff.notes == []
    good = json.loads(_plain_files(1)[0])
    assert ff.image(good, lambda m, w, h: ("<image>", w, h)) is not None
    assert ("car", None, "color", "red") in ff.notes


@settings(max_examples=1500, deadline=None)
@given(st.one_of(
    st.builds(lambda p, s, k: math.nextafter(p / s, math.inf * k) * s if k else p / s * s,
              PIX, SIZES, st.sampled_from([0, 1, -1])),
    st.floats(-2e6, 2e6, allow_nan=False), st.floats(allow_nan=False),
    st.sampled_from([0.0, -0.0, -1e-300, 5e-324, -0.004, -0.005, 0.005, 999999.995,
                     -999999.995, 1e6, -1e6, 123456.785])))
def test_pixel_text_is_fmt_of_snap(a: float) -> None:
    for fmt in (fmt_exact, fmt_cvat):
        assert pixel_text(fmt)(a) == fmt(snap(a)), (a, fmt)


def test_pixel_text_sweep() -> None:
    """Every two-decimal pixel below 2,000 through sizes CVAT tasks have, and a few ulps off."""
    fast, cvat = pixel_text(fmt_exact), pixel_text(fmt_cvat)
    for size in (1920, 1080, 37):
        for n in range(0, 200_000, 11):
            r = n / 100 / size
            for v in (r, math.nextafter(r, 1), math.nextafter(r, -1)):
                a = v * size
                assert fast(a) == fmt_exact(snap(a)), (a, size)
                assert cvat(a) == fmt_cvat(snap(a)), (a, size)


# -- worker processes (export_pool.py) ----------------------------------------------------------
def _mixed_files(n: int) -> list[str]:
    """Plain files with, here and there, what the workers leave to the parent: a segmentation
    (a warning), a mask, tags only, a file without metadata of a missing media (an error)."""
    files = _plain_files(n)
    odd_ones = {
        3: {"_type": "segmentation", "mask_path": "m.png"},
        7: {"_type": "detections", "detections": [
            {"_id": "mask1", "label": "car", "bounding_box": [0.1, 0.1, 0.1, 0.1],
             "mask": {"counts": [0, 4], "size": [2, 2]}}]},
        11: {"_type": "classification", "_id": "c1", "label": "night",
             "attributes": {"cvat.group_id": 2}},
    }
    for i, value in odd_ones.items():
        raw = json.loads(files[i])
        raw["fields"]["odd"] = value
        files[i] = json.dumps(raw)
    return files


@pytest.mark.parametrize("recorded", [False, True])
def test_workers_write_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     recorded: bool) -> None:
    """Two worker processes, batches of 3: the bytes, report and warnings of one process and
    of the general path, samples the workers leave to the parent written in their place."""
    from annosync.cvatxml import export_pool

    monkeypatch.setattr(export_pool, "MIN_PARALLEL", 0)
    monkeypatch.setattr(export_pool, "BATCH", 3)
    root = _dataset(tmp_path, _mixed_files(40))
    if recorded:
        task = RecordTask(frames=[RecordFrame(100 + i, f"f{i}.jpg", f"s{i}", None,
                                              640 if i % 2 else None, 480 if i % 2 else None)
                                  for i in range(40)], size=40)
        records.save(root, Record(name="task_1", layout="images", meta_xml=None,
                                  fields=["gt", "odd"], tasks=[task], kind="task"))
    forked: list[int] = []
    real = export_pool._init

    def spy(*args: Any) -> None:
        forked.append(1)
        real(*args)

    monkeypatch.setattr(export_pool, "_init", spy)
    general = _outcome(root, tmp_path / "general.xml", False, {"jobs": 1})
    one = _outcome(root, tmp_path / "one.xml", True, {"jobs": 1})
    two = _outcome(root, tmp_path / "two.xml", True, {"jobs": 2})
    assert one == general
    assert two == general
    assert general[0] == "ok" and general[4] == 40 * 5 + 1 and general[8]  # shapes, warnings
    assert not forked  # the spy runs in the workers; this process never initialises one


def test_workers_stop_at_the_first_bad_file(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The error is the first bad file's in key order, as with one process, and no output
    file is left behind."""
    from annosync.cvatxml import export_pool

    monkeypatch.setattr(export_pool, "MIN_PARALLEL", 0)
    monkeypatch.setattr(export_pool, "BATCH", 2)
    files = _plain_files(30)
    files[12] = files[12][:40]  # broken JSON
    raw = json.loads(files[25])
    raw["fields"]["gt"]["detections"][0]["bounding_box"][2] = -0.5
    files[25] = json.dumps(raw)
    root = _dataset(tmp_path, files)
    general = _outcome(root, tmp_path / "general.xml", False, {"jobs": 1})
    two = _outcome(root, tmp_path / "two.xml", True, {"jobs": 2})
    assert two == general
    assert general[0] == "error" and "s12.json" in general[2] and "invalid JSON" in general[2]
    assert not (tmp_path / "two.xml").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".two.xml")]


@pytest.mark.timeout(120)
def test_a_stuck_worker_is_given_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that never answers (a fork can inherit a lock another thread held) does not
    hang the export: after ``STALL`` seconds the pool is terminated and this process renders
    the rest; the file is the one process's, byte for byte."""
    import os
    import time

    from annosync.cvatxml import export_pool

    monkeypatch.setattr(export_pool, "MIN_PARALLEL", 0)
    monkeypatch.setattr(export_pool, "BATCH", 2)
    monkeypatch.setattr(export_pool, "STALL", 1.0)
    parent, real = os.getpid(), export_pool.render

    def stuck(frames: Any, batch: list[Any]) -> Any:  # in a worker: for ever on s7.json
        if os.getpid() != parent and any(j and j[0].endswith("s7.json") for j in batch):
            time.sleep(3600)
        return real(frames, batch)

    monkeypatch.setattr(export_pool, "render", stuck)
    root = _dataset(tmp_path, _plain_files(20))
    general = _outcome(root, tmp_path / "general.xml", False, {"jobs": 1})
    two = _outcome(root, tmp_path / "two.xml", True, {"jobs": 2})  # hangs without STALL
    assert two == general and two[0] == "ok"


@pytest.mark.timeout(120)
def test_workers_die_on_sigterm_whatever_the_parent_handles(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers are forked from a process whose SIGTERM handler raises in Python (the CLI's,
    left installed by any in-process CLI call): they must not inherit it, or the pool's
    terminate() can wait for ever on a worker running cleanup code (a hang seen in the
    suite). Each worker reports the SIGTERM and SIGINT actions it runs with."""
    import os
    import signal

    from annosync.cli.main import _terminate
    from annosync.cvatxml import export_pool

    monkeypatch.setattr(export_pool, "MIN_PARALLEL", 0)
    monkeypatch.setattr(export_pool, "BATCH", 2)
    parent, real = os.getpid(), export_pool.render
    seen = tmp_path / "seen"
    seen.mkdir()

    def spy(frames: Any, batch: list[Any]) -> Any:
        if os.getpid() != parent:
            term, intr = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
            (seen / str(os.getpid())).write_text(
                f"{term == signal.SIG_DFL} {intr == signal.SIG_IGN}")
        return real(frames, batch)

    monkeypatch.setattr(export_pool, "render", spy)
    previous = signal.signal(signal.SIGTERM, _terminate)
    interrupt = signal.getsignal(signal.SIGINT)
    try:
        root = _dataset(tmp_path, _plain_files(20))
        general = _outcome(root, tmp_path / "general.xml", False, {"jobs": 1})
        assert _outcome(root, tmp_path / "two.xml", True, {"jobs": 2}) == general
    finally:
        signal.signal(signal.SIGTERM, previous)
    reports = [p.read_text() for p in seen.iterdir()]
    assert reports and set(reports) == {"True True"}
    assert signal.getsignal(signal.SIGINT) == interrupt  # the parent's are untouched


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_workers_on_hypothesis_files(data: st.DataObject) -> None:
    """Odd label files through two workers (batches of 1): what the general path writes."""
    from annosync.cvatxml import export_pool

    files = [data.draw(label_file(i)) for i in range(data.draw(st.integers(2, 5)))]
    tmp = Path(tempfile.mkdtemp(prefix="xe11-"))
    old = export_pool.MIN_PARALLEL, export_pool.BATCH
    export_pool.MIN_PARALLEL, export_pool.BATCH = 0, 1
    try:
        root = _dataset(tmp, files)
        general = _outcome(root, tmp / "general.xml", False, {"jobs": 1})
        assert _outcome(root, tmp / "two.xml", True, {"jobs": 2}) == general
    finally:
        export_pool.MIN_PARALLEL, export_pool.BATCH = old
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.parametrize("fields", [None, ["gt"]])
def test_null_attributes_are_refused_as_by_the_model(tmp_path: Path, fields: Any) -> None:
    """``"attributes": null`` on a box (exported or not) is the model's error, not ``{}``
    (found by the Hypothesis test above)."""
    raw = json.loads(_plain_files(1)[0])
    raw["fields"]["pred"] = {"_type": "detections", "detections": [
        {"_id": "p1", "label": "car", "attributes": None, "bounding_box": [0, 0, 0.1, 0.1]}]}
    root = _dataset(tmp_path, [json.dumps(raw)])
    fast = _outcome(root, tmp_path / "fast.xml", True, {"fields": fields})
    assert fast == _outcome(root, tmp_path / "general.xml", False, {"fields": fields})
    assert fast[0] == "error" and "attributes" in fast[2]
