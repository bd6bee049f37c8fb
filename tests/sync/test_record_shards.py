"""The run record in a head and one shard per task (format 2): round trips, migration from
format 1, crash safety of a save, lazy loading (a warm no-op plan loads no shard; a plan with
lazy shards equals one with every shard loaded), and clear errors for broken shards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annosync.cli.main import cli
from annosync.convert.id_map import IdEntry, TaskIdMap
from annosync.dataset import jsonfmt
from annosync.errors import AnnosyncError, InputError
from annosync.sync import record as record_mod
from annosync.sync import shards as shards_mod
from annosync.sync.engine import make_plan, open_sessions
from annosync.sync.merge import BaseEntry
from annosync.sync.record import (
    RECORD_FORMAT,
    RunRecord,
    SampleRef,
    TaskRecord,
    load_record,
    record_path,
    save_record,
    shard_dir,
)
from annosync.sync.session import SyncOptions
from annosync.sync.shards import label_counts

from .conftest import Workspace
from .test_plan_index import edit, path_of, restore, settle, short_racy_window  # noqa: F401

DATA = Path(__file__).resolve().parents[1] / "data" / "records"


def old_writer(record: RunRecord) -> bytes:
    """How format 1 wrote a record (``record_to_bytes`` before the split), kept for the tests."""
    data = record.model_dump(mode="json", exclude_none=True)
    data["format"] = 1
    return jsonfmt.dump_bytes(data)


def dump(record: RunRecord) -> dict[str, Any]:
    """The record as plain data, every shard loaded (what "equal" means here)."""
    data = record.model_dump(mode="json", exclude_none=True)
    data.pop("format")
    data.pop("updated_at")
    return data


class Reads:
    """Counts the shard files read (the seam ``shards.read_shard_bytes``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[Path] = []
        real = shards_mod.read_shard_bytes

        def spy(path: Path) -> bytes:
            self.paths.append(path)
            return real(path)

        monkeypatch.setattr(shards_mod, "read_shard_bytes", spy)

    def take(self) -> list[str]:
        out = sorted(p.name for p in self.paths)
        self.paths.clear()
        return out


# -- records as models ----------------------------------------------------------------------------

digests = st.dictionaries(st.sampled_from(["label", "spatial", "index", "attr:x"]),
                          st.text("0123456789abcdef", min_size=4, max_size=4), min_size=1)
entries = st.builds(BaseEntry, digests, st.none() | digests)
base_fields = st.dictionaries(st.sampled_from(["ground_truth", "frames.vehicles"]),
                              st.dictionaries(st.text("abcdef0123", min_size=1, max_size=6),
                                              entries, min_size=1, max_size=3),
                              min_size=1, max_size=2)
id_entries = st.builds(IdEntry, kind=st.sampled_from(["tag", "shape", "track"]),
                       cvat_id=st.integers(1, 10**6), field=st.just("ground_truth"),
                       label_id=st.none() | st.text("abcdef0123", min_size=1, max_size=6))


@st.composite
def run_records(draw: Any) -> RunRecord:
    record = RunRecord(anno_key="run", manifest="manifests/run.yaml")
    keys = iter(f"{n:04d}" for n in range(1000))
    for index in range(draw(st.integers(0, 4))):
        samples = [next(keys) for _ in range(draw(st.integers(1, 4)))]
        id_map = draw(st.none() | st.builds(TaskIdMap, task_id=st.integers(1, 99),
                                            entries=st.lists(id_entries, max_size=3)))
        record.tasks.append(TaskRecord(index=index, name=f"task{index}", id=index + 1,
                                       samples=samples, id_map=id_map))
        for frame, key in enumerate(samples):
            record.samples[key] = SampleRef(task=index, frame=frame)
            if draw(st.booleans()):
                record.base[key] = draw(base_fields)
    if draw(st.booleans()):  # an entry of no sample (kept, never dropped)
        record.base["stray"] = draw(base_fields)
    if record.samples and draw(st.booleans()):  # refs the tasks do not give: written out
        record.samples[draw(st.sampled_from(sorted(record.samples)))].frame = 99
    return record


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=run_records(), data=st.data())
def test_a_sharded_record_round_trips_equal_to_the_model(tmp_path: Path, record: RunRecord,
                                                         data: Any) -> None:
    state = tmp_path / f"s{data.draw(st.integers(0, 10**9))}"
    expected = dump(record)
    assert save_record(state, record)
    head = json.loads(record_path(state, "run").read_bytes())
    assert head["format"] == RECORD_FORMAT and "base" not in head
    assert ("samples" in head) == any(r.frame == 99 for r in record.samples.values())
    assert all("id_map" not in t for t in head["tasks"])
    loaded = load_record(state, "run")
    assert loaded is not None and loaded._store is not None
    # what --max-delete needs comes from the head: no shard loaded for it
    assert loaded.base_sizes() == label_counts(record.base.values())
    assert not loaded._store.loaded
    # lazily: one key at a time, the same as the model
    for key in [*record.samples, "stray", "nothing"]:
        assert loaded.base.get(key) == record.base.get(key)
    assert dump(loaded) == expected and loaded == record

    # change some of a lazily loaded record, save, load: only what changed changed
    again = load_record(state, "run")
    assert again is not None
    touched = [t for t in record.tasks if data.draw(st.booleans())]
    for task in touched:
        key = task.samples[0]
        again.base[key] = {"ground_truth": {"new": BaseEntry({"label": "ffff"})}}
        record.base[key] = {"ground_truth": {"new": BaseEntry({"label": "ffff"})}}
        if data.draw(st.booleans()):
            again.tasks[task.index].id_map = record.tasks[task.index].id_map = None
    save_record(state, again)
    final = load_record(state, "run")
    assert final is not None and dump(final) == dump(record)
    named = {r.file for r in final.shards}
    assert {p.name for p in shard_dir(state, "run").glob("*.json")} == named  # no stale shard


def test_no_change_writes_nothing(tmp_path: Path) -> None:
    record = RunRecord(anno_key="run")
    record.tasks.append(TaskRecord(index=0, name="t", samples=["a"]))
    record.samples["a"] = SampleRef(task=0)
    record.base["a"] = {"f": {"x": BaseEntry({"label": "0000"})}}
    assert save_record(tmp_path, record)
    files = {p: p.stat().st_ino for p in (tmp_path / "runs").rglob("*.json")}
    loaded = load_record(tmp_path, "run")
    assert loaded is not None
    loaded.base.get("a")  # loaded, unchanged
    assert not save_record(tmp_path, loaded)
    assert {p: p.stat().st_ino for p in (tmp_path / "runs").rglob("*.json")} == files


# -- migration from format 1 ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["street-format1.json", "traffic-format1.json"])
def test_a_format_1_record_loads_and_is_rewritten_in_format_2(tmp_path: Path, name: str) -> None:
    original = (DATA / name).read_bytes()
    key = json.loads(original)["anno_key"]
    (tmp_path / "runs").mkdir()
    record_path(tmp_path, key).write_bytes(original)
    record = load_record(tmp_path, key)
    assert record is not None and record.format == 1
    assert old_writer(record) == original  # nothing of the file was lost in the model
    expected = dump(record)
    assert save_record(tmp_path, record)
    head = json.loads(record_path(tmp_path, key).read_bytes())
    assert head["format"] == RECORD_FORMAT and len(head["shards"]) == len(record.tasks)
    migrated = load_record(tmp_path, key)
    assert migrated is not None and dump(migrated) == expected
    assert sum(len(t.id_map.entries) for t in migrated.tasks if t.id_map) > 0
    stamped = json.loads(original)
    stamped["updated_at"] = migrated.updated_at
    assert json.loads(old_writer(migrated)) == stamped


# -- crash safety -----------------------------------------------------------------------------------

class Crash(Exception):
    pass


def crash_after(monkeypatch: pytest.MonkeyPatch, k: int) -> None:
    """``os.replace`` (how every file is put in place atomically) fails after ``k`` calls."""
    real = os.replace
    calls = [0]

    def replace(src: Any, dst: Any) -> None:
        if calls[0] >= k:
            raise Crash(f"crash before {dst}")
        calls[0] += 1
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def saved_or_crashed(monkeypatch: pytest.MonkeyPatch, state: Path, record: Any, k: int) -> bool:
    """``save_record`` with ``os.replace`` failing after ``k`` calls: True if it completed."""
    with monkeypatch.context() as m:
        crash_after(m, k)
        try:
            save_record(state, record)
        except Crash:
            return False
    return True


def two_states(tmp_path: Path, *, format1: bool) -> tuple[dict[str, Any], RunRecord]:
    """An old record on disk (format 1 or 2), and a new version of it in memory."""
    (tmp_path / "runs").mkdir(parents=True, exist_ok=True)
    original = (DATA / "street-format1.json").read_bytes()
    record_path(tmp_path, "format1").write_bytes(original)
    if not format1:
        first = load_record(tmp_path, "format1")
        assert first is not None
        save_record(tmp_path, first)
    old = load_record(tmp_path, "format1")
    assert old is not None
    new = load_record(tmp_path, "format1")
    assert new is not None
    task = new.tasks[1]
    new.base[task.samples[0]] = {"ground_truth": {"x": BaseEntry({"label": "1234"})}}
    task.id_map = None
    new.pulled_at = "2030-01-01T00:00:00.000000Z"
    return dump(old), new


@pytest.mark.parametrize("format1", [True, False])
def test_a_save_interrupted_anywhere_leaves_the_old_or_the_new_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, format1: bool) -> None:
    seen = set()
    for k in range(12):
        state = tmp_path / f"k{k}"
        old, new = two_states(state, format1=format1)
        expected_new = dump(new)
        done = saved_or_crashed(monkeypatch, state, new, k)
        now = load_record(state, "format1")
        assert now is not None
        state_now = dump(now)
        assert state_now in (old, expected_new)
        seen.add("new" if state_now == expected_new else "old")
        if done:
            assert state_now == expected_new
            break
        # the next save completes it and leaves no stray file
        again = load_record(state, "format1")
        assert again is not None
        save_record(state, again)
        heads = {r.file for r in load_record(state, "format1").shards}  # type: ignore[union-attr]
        assert {p.name for p in shard_dir(state, "format1").glob("*.json")} == heads
        assert not [p for p in state.rglob(".*.tmp")]
    assert seen == {"old", "new"}


# -- broken shards ----------------------------------------------------------------------------------

def saved(tmp_path: Path) -> Path:
    (tmp_path / "runs").mkdir(parents=True)
    record_path(tmp_path, "format1").write_bytes((DATA / "street-format1.json").read_bytes())
    record = load_record(tmp_path, "format1")
    assert record is not None
    save_record(tmp_path, record)
    return sorted(shard_dir(tmp_path, "format1").glob("task-1-*.json"))[0]


@pytest.mark.parametrize("damage", ["missing", "edited", "garbled"])
def test_a_broken_shard_is_an_error_naming_it(tmp_path: Path, damage: str) -> None:
    shard = saved(tmp_path)
    if damage == "missing":
        shard.unlink()
    elif damage == "edited":
        shard.write_bytes(shard.read_bytes().replace(b'"l"', b'"x"', 1))
    else:
        shard.write_bytes(b"{not json")
    record = load_record(tmp_path, "format1")  # the head alone: fine
    assert record is not None
    record.base.get(record.tasks[0].samples[0])  # task 0's shard is intact
    with pytest.raises(InputError) as err:
        record.base.get(record.tasks[1].samples[0])
    message = str(err.value)
    assert str(shard) in message and "\n" not in message.strip()


def test_a_shard_replaced_by_another_process_is_said_so(tmp_path: Path) -> None:
    shard = saved(tmp_path)
    record = load_record(tmp_path, "format1")
    other = load_record(tmp_path, "format1")
    assert record is not None and other is not None
    other.base[other.tasks[1].samples[0]] = {"ground_truth": {}}
    save_record(tmp_path, other)  # another process saved: the shard record names is gone
    assert not shard.exists()
    with pytest.raises(AnnosyncError, match="saved by another annosync process"):
        record.tasks[1].id_map  # noqa: B018


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_shard_a_git_merge_dropped_comes_back_from_git(tmp_path: Path) -> None:
    shard = saved(tmp_path)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "-A"], check=True)
    data = shard.read_bytes()
    shard.unlink()
    record = load_record(tmp_path, "format1")
    assert record is not None
    assert record.tasks[1].id_map is not None  # read from git's object store
    save_record(tmp_path, record)  # and written back
    assert shard.read_bytes() == data


def test_cli_names_a_broken_shard_in_one_line(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", cvat={"segment_size": 2, "task_size": 2})
    ws.run()
    shard = sorted(shard_dir(ws.folder.state_dir, ws.anno_key).glob("task-0-*.json"))[0]
    shard.write_bytes(b"[]")
    env = {"ANNOSYNC_CVAT_URL": ws.server.url, "ANNOSYNC_CVAT_USERNAME": ws.server.admin_username,
           "ANNOSYNC_CVAT_PASSWORD": ws.server.admin_password}
    for args in (["info", ws.anno_key, "-d", str(ws.dataset), "--full"],
                 ["plan", str(ws.manifest_path)]):
        res = CliRunner().invoke(cli, args, env=env)
        assert res.exit_code == 1 and "Traceback" not in res.output, res.output
        lines = [line for line in res.output.splitlines() if shard.name in line]
        assert lines and all("invalid" in line or "field" in line or "shard" in line
                             for line in lines), res.output


# -- lazy loading in plans --------------------------------------------------------------------------

def setup_run(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", attributes=["iscrowd"],
                cvat={"segment_size": 2, "task_size": 2})
    ws.run()


def plan_of(ws: Workspace) -> dict[str, Any]:
    with open_sessions([ws.manifest_path], SyncOptions(), ws.connection) as eng:
        rp = make_plan(eng).runs[0]
    return rp.model_dump(mode="json")


def test_a_warm_noop_plan_loads_no_shard(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    setup_run(ws)
    record = ws.record
    assert len(record.tasks) >= 3 and len(record.shards) == len(record.tasks)
    settle()
    reads = Reads(monkeypatch)
    plan_of(ws)  # cold caches: reads what it must
    reads.take()
    assert not plan_of(ws)["samples"]
    assert reads.take() == []  # warm: the head alone
    # a file of the second task changes: that task's shard alone is read
    key = record.tasks[1].samples[0]
    edit(ws, ("move", key, 0))
    settle()
    changed = plan_of(ws)
    assert [s["sample"] for s in changed["samples"]] == [key]
    assert reads.take() == [Path(record.shards[1].file).name]


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.sampled_from(["move", "delete_label", "remote"]),
                              st.sampled_from(["0001", "0002", "0003", "night/0005"]),
                              st.integers(0, 40)), min_size=1, max_size=4))
def test_a_plan_with_lazy_shards_equals_one_with_every_shard_loaded(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch, ops: list[tuple[str, str, int]]) -> None:
    if ws.dataset is None:
        setup_run(ws)
        ws.originals = {k: path_of(ws, k).read_bytes()  # type: ignore[attr-defined]
                        for k in ("0001", "0002", "0003", "night/0005")}
    try:
        for op in ops:
            if op[0] == "remote":
                ws.emu  # noqa: B018 - skips on a real server
            edit(ws, op)
        settle()
        lazy = plan_of(ws)
        real_load = record_mod.load_record

        def eager(state_dir: Any, anno_key: str) -> RunRecord | None:
            found = real_load(state_dir, anno_key)
            return found.load_all() if found is not None else None

        with monkeypatch.context() as m:
            m.setattr("annosync.sync.session.load_record", eager)
            loaded = plan_of(ws)
        lazy.pop("created_at", None), loaded.pop("created_at", None)
        assert lazy == loaded
    finally:
        restore(ws, ws.originals)  # type: ignore[attr-defined]


# -- a save serializes again only the shards that changed (``record._Written``) -------------------

changes = st.lists(st.tuples(
    st.sampled_from(["replace_entry", "nested_in_place", "drop_key", "add_key", "id_map_new",
                     "id_map_append", "same_entry_copy", "nothing"]),
    st.integers(0, 10**6)), min_size=1, max_size=6)


def _mutate(record: RunRecord, kind: str, n: int, draw: Any) -> None:
    keys = sorted(dict.keys(record.base))
    if kind in ("replace_entry", "nested_in_place", "same_entry_copy") and keys:
        fields = record.base[keys[n % len(keys)]]
        path = sorted(fields)[n % len(fields)]
        labels = fields[path]
        label = sorted(labels)[n % len(labels)]
        if kind == "replace_entry":  # a new entry object with other digests
            labels[label] = draw(entries)
        elif kind == "nested_in_place":  # a dict changed in place, below the top level
            labels[f"new{n % 7}"] = draw(entries)
        else:  # an equal entry, another object: same bytes either way
            old = labels[label]
            labels[label] = BaseEntry(dict(old.l), None if old.r is None else dict(old.r))
    elif kind == "drop_key" and keys:
        del record.base[keys[n % len(keys)]]
    elif kind == "add_key" and record.samples:
        key = sorted(record.samples)[n % len(record.samples)]
        record.base[key] = draw(base_fields)
    elif kind in ("id_map_new", "id_map_append") and record.tasks:
        task = record.tasks[n % len(record.tasks)]
        if kind == "id_map_new" or task.id_map is None:
            task.id_map = draw(st.builds(TaskIdMap, task_id=st.integers(1, 99),
                                         entries=st.lists(id_entries, max_size=3)))
        else:  # changed in place (no writer does this; the memo still sees it)
            task.id_map.entries.append(draw(id_entries))


def assert_saved_as_from_scratch(record: RunRecord) -> None:
    """What a save would write (head, shards) equals a serialization that remembers nothing."""
    got = record_mod._serialize(record)
    remembered = record._written
    record._written = {}
    fresh = record_mod._serialize(record)
    record._written = remembered
    assert got[0] == fresh[0] and dict(got[1]) == dict(fresh[1])


@settings(max_examples=80, deadline=None)
@given(record=run_records(), steps=st.lists(changes, min_size=1, max_size=4), data=st.data())
def test_a_save_reuses_only_the_bytes_of_unchanged_shards(record: RunRecord,
                                                          steps: list[Any], data: Any) -> None:
    """After any changes between saves, the head and shards a save writes are byte for byte
    those of a record serialized from scratch (nothing remembered)."""
    record_mod._serialize(record)
    for batch in steps:
        for kind, n in batch:
            _mutate(record, kind, n, data.draw)
        assert_saved_as_from_scratch(record)


def test_unchanged_shards_are_not_serialized_again(monkeypatch: pytest.MonkeyPatch) -> None:
    record = RunRecord(anno_key="run")
    for index in range(3):
        key = f"k{index}"
        record.tasks.append(TaskRecord(index=index, name=f"t{index}", id=index + 1,
                                       samples=[key], id_map=TaskIdMap(task_id=index + 1)))
        record.samples[key] = SampleRef(task=index, frame=0)
        record.base[key] = {"gt": {"a": BaseEntry({"label": "0001"})}}
    record_mod._serialize(record)
    made: list[Any] = []
    real = record_mod._Written.of
    monkeypatch.setattr(record_mod._Written, "of",
                        staticmethod(lambda *a: made.append(a[0]) or real(*a)))
    record.base["k1"]["gt"]["b"] = BaseEntry({"label": "0002"})
    record_mod._serialize(record)
    assert made == [1]  # task 1's shard only


# -- a changed shard is written again from the bytes it was read from ----------------------------

@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=run_records(), steps=st.lists(changes, min_size=1, max_size=3), data=st.data())
def test_a_shard_read_from_disk_is_written_again_as_from_scratch(
        tmp_path: Path, record: RunRecord, steps: list[Any], data: Any) -> None:
    """A shard loaded from disk and then changed is written from its old bytes, only the
    changed samples serialized (``record._Written``): byte for byte what a serialization from
    scratch gives, after any changes, save after save."""
    state = tmp_path / f"s{data.draw(st.integers(0, 10**9))}"
    save_record(state, record)
    loaded = load_record(state, "run")
    assert loaded is not None and loaded._store is not None
    loaded._store.load_all()
    assert set(loaded._written) == set(loaded._store.refs)  # each read shard is remembered
    for batch in steps:
        for kind, n in batch:
            _mutate(loaded, kind, n, data.draw)
        assert_saved_as_from_scratch(loaded)
        if data.draw(st.booleans()):
            save_record(state, loaded)


def _big_record(samples: int = 40) -> RunRecord:
    record = RunRecord(anno_key="run")
    keys = [f"{i:06d}" for i in range(samples)]
    entries = [IdEntry("shape", i + 1, "gt", f"{i:024d}") for i in range(samples)]
    record.tasks.append(TaskRecord(index=0, name="t", id=7, samples=keys,
                                   id_map=TaskIdMap(task_id=7, entries=entries)))
    for frame, key in enumerate(keys):
        record.samples[key] = SampleRef(task=0, frame=frame)
        record.base[key] = {"gt": {f"{frame:024d}": BaseEntry({"label": "00aa", "spatial": key},
                                                              {"label": "00bb"})}}
    return record


def test_a_pull_of_a_few_samples_serializes_only_those(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    save_record(tmp_path, _big_record())
    loaded = load_record(tmp_path, "run")
    assert loaded is not None
    made: list[Any] = []
    real = record_mod._fields_text
    monkeypatch.setattr(record_mod, "_fields_text", lambda f: made.append(f) or real(f))
    dumped: list[Any] = []
    monkeypatch.setattr(TaskIdMap, "model_dump", lambda self, **kw: dumped.append(self) or
                        BaseModel_dump(self, **kw))
    for key in ("000003", "000017", "000039"):  # what a pull of three changed samples does
        loaded.base[key] = {"gt": {"x": BaseEntry({"label": "ffff"})}}
    assert save_record(tmp_path, loaded)
    assert len(made) == 3 and dumped == []  # the other 37 samples and the id map: old bytes
    (ref,) = loaded.shards
    data = (shard_dir(tmp_path, "run") / ref.file).read_bytes()
    assert data == record_mod._reference_bytes(0, dict.copy(loaded.base), loaded.tasks[0].id_map)
    again = load_record(tmp_path, "run")
    assert again is not None and again == loaded


BaseModel_dump = TaskIdMap.model_dump


@pytest.mark.parametrize("how", ["layout", "changed"])
def test_a_shard_not_as_written_is_serialized_from_scratch(tmp_path: Path, how: str) -> None:
    """A shard in another layout (valid JSON, named by its digest: say, re-indented by a tool)
    or changed on disk after it was read: the next save writes it from its content."""
    save_record(tmp_path, _big_record(5))
    head = record_path(tmp_path, "run")
    (ref,) = json.loads(head.read_bytes())["shards"]
    path = shard_dir(tmp_path, "run") / ref["file"]
    if how == "layout":
        data = json.dumps(json.loads(path.read_bytes()), indent=4, sort_keys=True).encode()
        digest = shards_mod.source_digest(data)
        name = shards_mod.shard_name(0, digest)
        (shard_dir(tmp_path, "run") / name).write_bytes(data)
        path.unlink()
        raw = json.loads(head.read_bytes())
        raw["shards"][0].update(file=name, digest=digest, blob=shards_mod.git_blob_id(data))
        head.write_bytes(jsonfmt.dump_bytes(raw))
    loaded = load_record(tmp_path, "run")
    assert loaded is not None
    loaded.base["000001"] = {"gt": {"x": BaseEntry({"label": "ffff"})}}
    if how == "changed":
        path.write_bytes(path.read_bytes().replace(b"00aa", b"00ab"))
    assert save_record(tmp_path, loaded)
    (new,) = loaded.shards
    data = (shard_dir(tmp_path, "run") / new.file).read_bytes()
    assert data == record_mod._reference_bytes(0, dict.copy(loaded.base), loaded.tasks[0].id_map)
    assert load_record(tmp_path, "run") == loaded
