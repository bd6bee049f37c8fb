"""The label index (sync/index.py) never answers with a stale digest, whatever happens to the
files: edits, renames, same-size rewrites in the same timestamp tick (on a file system whose
clock is one second coarse), truncation, deletion, torn or foreign cache files.

The property: after any sequence of such operations, interleaved with index saves and reloads
(a new process), the digest the index gives for every label file equals the digest of the
file's bytes computed from scratch; and a clean memo only vouches for bytes it has seen.
The end-to-end check (a plan on the index equals a plan from scratch) is in
``test_plan_uses_the_index``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from annosync.dataset.folder import DatasetFolder, is_valid_key
from annosync.sync import index as index_mod
from annosync.sync.index import CleanMemo, LabelIndex, content_digest

KEYS = ("a", "b", "c", "d/e")


def coarse_stat(path: Path) -> os.stat_result:
    """A file system with a 1-second clock that does not move ctime on in-place writes."""
    st = os.stat(path)
    fields = list(st)
    mtime = st.st_mtime_ns // 1_000_000_000 * 1_000_000_000
    return _Stat(fields, st.st_size, mtime, mtime, st.st_ino)


class _Stat:
    def __init__(self, fields: list[Any], size: int, mtime_ns: int, ctime_ns: int,
                 ino: int) -> None:
        self.st_size, self.st_mtime_ns, self.st_ctime_ns, self.st_ino = size, mtime_ns, \
            ctime_ns, ino


def label_bytes(n: int, width: int = 0) -> bytes:
    """Label file content; ``width`` pads so two contents can have the same size."""
    body = {"media": f"media/{n}.jpg", "tags": [str(n).rjust(width, "0")],
            # a label without an ``_id`` when ``n`` is odd (same size either way)
            "fields": {"w": {"_type": "classification", "label": "x",
                             ("_id" if n % 2 == 0 else "_no"): "1"}}}
    return (json.dumps(body) + "\n").encode()


#: a user's edits of the folder, shared by both sequences of steps below
edits = (
    st.tuples(st.just("write"), st.sampled_from(KEYS), st.integers(0, 99)),
    st.tuples(st.just("same_size"), st.sampled_from(KEYS), st.integers(0, 99)),
    st.tuples(st.just("keep_mtime"), st.sampled_from(KEYS), st.integers(0, 99)),
    st.tuples(st.just("rename"), st.sampled_from(KEYS), st.sampled_from(KEYS)),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.just(0)),
)

ops = st.lists(st.one_of(
    *edits,
    st.tuples(st.just("truncate"), st.sampled_from(KEYS), st.integers(0, 20)),
    st.tuples(st.just("look"), st.sampled_from(KEYS), st.just(0)),
    st.tuples(st.just("save"), st.just(""), st.just(0)),
    st.tuples(st.just("reload"), st.just(""), st.just(0)),
    st.tuples(st.just("tear"), st.just(""), st.integers(1, 200)),
), min_size=1, max_size=30)


def apply_op(folder: DatasetFolder, op: tuple[str, str, int | str]) -> None:
    kind, key, arg = op
    path = folder.labels_dir / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "write":
        path.write_bytes(label_bytes(int(arg)))
    elif kind == "same_size":
        # rewrite in place (same inode), same size, within the same clock tick
        path.write_bytes(label_bytes(int(arg), width=4))
    elif kind == "keep_mtime" and path.exists():
        st0 = path.stat()
        with open(path, "r+b") as fh:  # in place, same size, mtime restored (like `touch -d`)
            fh.write(label_bytes(int(arg), width=4)[: st0.st_size].ljust(st0.st_size, b" "))
        os.utime(path, ns=(st0.st_atime_ns, st0.st_mtime_ns))
    elif kind == "truncate" and path.exists():
        with open(path, "r+b") as fh:
            fh.truncate(int(arg))
    elif kind == "rename" and path.exists() and key != arg:
        target = folder.labels_dir / f"{arg}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    elif kind == "delete" and path.exists():
        path.unlink()


def check(folder: DatasetFolder, idx: LabelIndex) -> None:
    for key in KEYS:
        path = folder.labels_dir / f"{key}.json"
        if path.exists():
            assert idx.sha(key) == content_digest(path.read_bytes()), key


@pytest.mark.parametrize("coarse", [False, True], ids=["real-clock", "coarse-clock"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=ops)
def test_index_digests_equal_digests_from_scratch(tmp_path_factory: pytest.TempPathFactory,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  coarse: bool,
                                                  steps: list[tuple[str, str, Any]]) -> None:
    if coarse:
        monkeypatch.setattr(index_mod, "stat_of", coarse_stat)
    root = tmp_path_factory.mktemp("ds")
    folder = DatasetFolder.init(root)
    for key in KEYS[:2]:
        apply_op(folder, ("write", key, 1))
    idx = LabelIndex(folder)
    check(folder, idx)
    for step in steps:
        kind = step[0]
        if kind == "save":
            idx.save()
        elif kind == "reload":
            idx = LabelIndex(folder)
        elif kind == "tear":  # a crash left a torn cache file behind
            idx.save()
            if idx.path.exists():
                data = idx.path.read_bytes()
                idx.path.write_bytes(data[: int(step[2]) % max(1, len(data))])
            idx = LabelIndex(folder)
        elif kind == "look":
            check(folder, idx)
        else:
            apply_op(folder, step)
    check(folder, idx)
    idx.save()
    check(folder, LabelIndex(folder))


def test_racy_entries_are_rehashed_until_old_enough(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_mod, "stat_of", coarse_stat)
    folder = DatasetFolder.init(tmp_path / "ds")
    path = folder.labels_dir / "a.json"
    path.write_bytes(label_bytes(1, width=4))
    idx = LabelIndex(folder)
    assert idx.entry("a").racy  # just written: the stat cannot vouch for the content yet
    path.write_bytes(label_bytes(2, width=4))  # same size, same (coarse) second, same inode
    assert idx.sha("a") == content_digest(label_bytes(2, width=4))
    # once the file is old enough, the stat is trusted and the file is no longer read
    old = (os.stat(path).st_mtime_ns // 10**9 - 10) * 10**9
    os.utime(path, ns=(old, old))
    entry = idx.entry("a")
    assert not entry.racy
    hashed = idx.hashed
    assert idx.entry("a") is entry and idx.hashed == hashed


def test_foreign_or_torn_cache_files_are_rebuilt(tmp_path: Path) -> None:
    folder = DatasetFolder.init(tmp_path / "ds")
    (folder.labels_dir / "a.json").write_bytes(label_bytes(1))
    idx = LabelIndex(folder)
    idx.sha("a")
    idx.save()
    assert (idx.path.parent / ".gitignore").read_text().strip().endswith("*")
    # a copy of the dataset elsewhere (other root): its index is not used
    other = DatasetFolder.init(tmp_path / "copy")
    other.state_dir.mkdir(parents=True, exist_ok=True)
    (other.state_dir / "cache").mkdir()
    (other.state_dir / "cache" / "index.json").write_bytes(idx.path.read_bytes())
    (other.labels_dir / "a.json").write_bytes(label_bytes(2))
    assert LabelIndex(other).sha("a") == content_digest(label_bytes(2))
    # a body that does not match its checksum
    raw = idx.path.read_bytes().replace(content_digest(label_bytes(1)).encode(), b"0" * 32)
    idx.path.write_bytes(raw)
    fresh = LabelIndex(folder)
    assert fresh.sha("a") == content_digest(label_bytes(1)) and fresh.hashed == 1


def test_clean_memo_is_bound_to_its_context_and_content(tmp_path: Path) -> None:
    memo = CleanMemo(tmp_path, "run", "ctx1")
    memo.mark("a", "sha-a")
    memo.save()
    assert CleanMemo(tmp_path, "run", "ctx1").is_clean("a", "sha-a")
    assert not CleanMemo(tmp_path, "run", "ctx1").is_clean("a", "sha-other")
    assert not CleanMemo(tmp_path, "run", "ctx2").is_clean("a", "sha-a")  # record changed
    again = CleanMemo(tmp_path, "run", "ctx1")
    again.mark("a", None)
    again.save()
    assert not CleanMemo(tmp_path, "run", "ctx1").is_clean("a", "sha-a")


@settings(max_examples=300, deadline=None)
@given(value=st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=4),
    max_leaves=12))
def test_digests_are_the_documented_json_digest(value: Any) -> None:
    """Run records hold these digests: the faster encoder must give the very same bytes."""
    import hashlib

    from annosync.sync.digest import digest_value

    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert digest_value(value) == hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _format1(path: Path, kind: str, data: dict[str, Any]) -> None:
    """A cache file as annosync wrote it before format 2 (one JSON body under the header)."""
    body = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    header = json.dumps({"kind": kind, "format": 1, "checksum": content_digest(body)})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.encode() + b"\n" + body)


def test_format1_caches_load_and_are_rewritten_in_format2(tmp_path: Path) -> None:
    folder = DatasetFolder.init(tmp_path / "ds")
    path = folder.labels_dir / "a.json"
    path.write_bytes(label_bytes(1))
    old = (os.stat(path).st_mtime_ns // 10**9 - 10) * 10**9
    os.utime(path, ns=(old, old))
    st0 = os.stat(path)
    sha = content_digest(label_bytes(1))
    idx_path = folder.state_dir / "cache" / "index.json"
    _format1(idx_path, "label-index", {"root": str(folder.root), "entries": {
        "a": [st0.st_size, st0.st_mtime_ns, st0.st_ctime_ns, st0.st_ino, sha, 2, 0],
        "bad": ["not", "a", "row"]}})
    memo_path = folder.state_dir / "cache" / "clean-run.json"
    _format1(memo_path, "clean-memo", {"context": "ctx", "clean": {"a": sha}})

    idx = LabelIndex(folder)
    entry = idx.entry("a")  # from the old file: not read again
    assert (entry.sha, entry.missing_ids, idx.hashed) == (sha, 2, 0)
    memo = CleanMemo(folder.state_dir, "run", "ctx")
    assert memo.is_clean("a", sha)
    idx.save()
    memo.save()
    for p in (idx_path, memo_path):
        assert json.loads(p.read_bytes().partition(b"\n")[0])["format"] == 2
    again = LabelIndex(folder)
    assert again.entry("a") == entry and again.hashed == 0
    assert CleanMemo(folder.state_dir, "run", "ctx").items() == [("a", sha)]


def test_a_format2_cache_that_does_not_add_up_is_rebuilt(tmp_path: Path) -> None:
    """A body whose checksum holds but whose counts do not match (never written by annosync,
    but a cache is never trusted blindly): ignored."""
    folder = DatasetFolder.init(tmp_path / "ds")
    (folder.labels_dir / "a.json").write_bytes(label_bytes(1))
    (folder.labels_dir / "b.json").write_bytes(label_bytes(2))
    idx = LabelIndex(folder)
    idx.sha("a"), idx.sha("b")
    idx.save()
    memo = CleanMemo(folder.state_dir, "run", "ctx")
    memo.mark("a", "x")
    memo.mark("b", "y")
    memo.save()
    for p, field, value in ((idx.path, "count", 3), (idx.path, "keys", 1),
                            (memo.path, "count", 1), (memo.path, "keys", 10**6)):
        good = p.read_bytes()
        head, _, body = good.partition(b"\n")
        header = json.loads(head)
        header[field] = value
        p.write_bytes(json.dumps(header).encode() + b"\n" + body)
        if p == idx.path:
            fresh = LabelIndex(folder)
            assert fresh.sha("a") == content_digest(label_bytes(1)) and fresh.hashed == 1
        else:
            assert CleanMemo(folder.state_dir, "run", "ctx").items() == []
        p.write_bytes(good)
    assert sorted(CleanMemo(folder.state_dir, "run", "ctx").items()) == [("a", "x"), ("b", "y")]
    intact = LabelIndex(folder)
    assert [intact._get(k).sha for k in "ab"] == [content_digest(label_bytes(n)) for n in (1, 2)]


def test_a_pin_holds_one_stat_per_file_for_one_plan(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Within a pin (one plan: refresh, then fingerprint) a file is stat'ed once and the
    plan sees it as it was then; the index's save ends the pin."""
    monkeypatch.setattr(index_mod, "RACY_NS", -10**9)  # no racy window: the stat vouches
    folder = DatasetFolder.init(tmp_path / "ds")
    path = folder.labels_dir / "a.json"
    path.write_bytes(label_bytes(1))
    idx = LabelIndex(folder)
    first = idx.entry("a")
    idx.save()
    idx = LabelIndex(folder)
    calls: list[str] = []
    real = index_mod.stat_of
    monkeypatch.setattr(index_mod, "stat_of", lambda p: calls.append(str(p)) or real(p))
    idx.pin()
    seen = idx.known("a")
    assert seen is not None and seen.sha == first.sha
    path.write_bytes(label_bytes(22))  # changed during the plan
    assert idx.entry("a").sha == first.sha and idx.known("a") is seen
    assert [c for c in calls if c.endswith("a.json")] == [str(path)]  # one stat
    idx.save()  # the plan is over: the next look sees the change
    assert idx.entry("a").sha == content_digest(label_bytes(22))


def check_bulk(folder: DatasetFolder, idx: LabelIndex) -> None:
    """``survey`` and ``digests`` (the bulk path of a plan), inside a pin and outside one,
    give the digests and the missing-id counts computed from scratch."""
    from annosync.sync.ids import missing_ids

    present = [k for k in KEYS if (folder.labels_dir / f"{k}.json").exists()]
    data = {k: (folder.labels_dir / f"{k}.json").read_bytes() for k in present}
    scratch = {k: content_digest(d) for k, d in data.items()}
    lacking_scratch = {k: n for k, d in data.items() if (n := missing_ids(d))}
    lacking: dict[str, int] = {}
    assert idx.digests(present, lacking) == [scratch[k] for k in present]
    assert lacking == lacking_scratch
    idx.pin()
    vouched = idx.survey(present)
    assert all(scratch[k] == sha for k, sha in vouched.items())
    lacking = {}
    assert idx.digests(present, lacking) == [scratch[k] for k in present]
    assert lacking == lacking_scratch
    assert [idx.entry(k).sha for k in present] == [scratch[k] for k in present]


@pytest.mark.parametrize("coarse", [False, True], ids=["real-clock", "coarse-clock"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=ops)
def test_bulk_digests_equal_digests_from_scratch(tmp_path_factory: pytest.TempPathFactory,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 coarse: bool,
                                                 steps: list[tuple[str, str, Any]]) -> None:
    """The same property for the bulk comparison a no-op plan makes (``survey``: one stat
    per file compared with the rows at C speed; ``digests``: the fingerprint's)."""
    if coarse:  # every entry racy (2 s window): the bulk path must hand them all back
        monkeypatch.setattr(index_mod, "stat_of", coarse_stat)
    else:  # a nanosecond clock, no racy window: files older than the index are vouched for
        monkeypatch.setattr(index_mod, "RACY_NS", 0)
    monkeypatch.setattr(index_mod, "SURVEY_CHUNK", 3)  # several chunks for four files
    root = tmp_path_factory.mktemp("ds")
    folder = DatasetFolder.init(root)
    for key in KEYS[:2]:
        apply_op(folder, ("write", key, 1))
    idx = LabelIndex(folder)
    for step in steps:
        kind = step[0]
        if kind == "save":
            idx.save()
        elif kind == "reload":
            idx = LabelIndex(folder)
        elif kind == "tear":
            idx.save()
            if idx.path.exists():
                data = idx.path.read_bytes()
                idx.path.write_bytes(data[: int(step[2]) % max(1, len(data))])
            idx = LabelIndex(folder)
        elif kind == "look":
            check_bulk(folder, idx)
            idx.save()  # ends the pin
        else:
            apply_op(folder, step)
    idx.save()
    check_bulk(folder, LabelIndex(folder))
    idx.save()
    check_bulk(folder, idx)


def one_by_one(folder: DatasetFolder, idx: LabelIndex, keys: list[str]
               ) -> tuple[dict[str, str], dict[str, int]]:
    """What ``survey`` must vouch for, by the rules written out per file: a file whose stat
    (size, mtime_ns, ctime_ns, inode) equals its row's, the row not racy, and no entry made
    by this process; with the row's digest and count of labels lacking ids."""
    found: dict[str, str] = {}
    lacking: dict[str, int] = {}
    for key in keys:
        try:
            st = index_mod.stat_of(folder.labels_dir / f"{key}.json")
        except FileNotFoundError:
            continue
        if key in idx._entries or key not in idx._pos:
            continue
        row = idx._get(key)
        assert row is not None
        if not row.racy and (row.size, row.mtime_ns, row.ctime_ns, row.ino) == (
                st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino):
            found[key] = row.sha
            if row.missing_ids:
                lacking[key] = row.missing_ids
    return found, lacking


@pytest.mark.parametrize("coarse", [False, True], ids=["real-clock", "coarse-clock"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=ops, chunk=st.integers(1, 5), racy_ns=st.sampled_from([0, index_mod.RACY_NS]))
def test_survey_in_row_order_equals_the_rules_file_by_file(
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, coarse: bool,
        steps: list[tuple[str, str, Any]], chunk: int, racy_ns: int) -> None:
    """A plan's keys usually come in the order of the index's rows: ``survey`` then compares
    each chunk of stats with one slice of the rows at once (packed, one XOR). Whatever was
    done to the files (edits in place with the mtime kept, same-size rewrites in one clock
    tick, truncation, renames, deletion, entries made since the load), it vouches for
    exactly the files the rules vouch for one by one, with the same digests and counts."""
    if coarse:
        monkeypatch.setattr(index_mod, "stat_of", coarse_stat)
    monkeypatch.setattr(index_mod, "RACY_NS", racy_ns)
    monkeypatch.setattr(index_mod, "SURVEY_CHUNK", chunk)
    compared: list[int] = []
    real_compare = index_mod._compare_slice
    monkeypatch.setattr(index_mod, "_compare_slice",
                        lambda *a: compared.append(1) or real_compare(*a))
    root = tmp_path_factory.mktemp("ds")
    folder = DatasetFolder.init(root)
    for n, key in enumerate(KEYS):
        apply_op(folder, ("write", key, n))
    idx = LabelIndex(folder)
    for key in KEYS:
        idx.entry(key)
    idx.save()
    idx = LabelIndex(folder)
    for step in steps:
        kind = step[0]
        if kind in ("save", "reload", "tear"):
            idx.save()
            idx = LabelIndex(folder)
        elif kind == "look":  # read as a plan reads a file (``read_indexed``): an entry
            path = folder.labels_dir / f"{step[1]}.json"  # made by this process supersedes
            if path.exists():  # its loaded row, even one its stat matches
                st_ = index_mod.stat_of(path)
                idx.record(step[1], path.read_bytes(), st_)
        else:
            apply_op(folder, step)
    keys = list(idx._keys)
    lacking: dict[str, int] = {}
    assert idx.survey(keys, lacking) == one_by_one(folder, idx, keys)[0]
    assert lacking == one_by_one(folder, idx, keys)[1]
    if all((folder.labels_dir / f"{k}.json").exists() for k in keys):
        assert compared or not keys  # the bulk path was taken (a file gone: row by row)


memo_keys = st.lists(st.sampled_from(["a", "b", "c", "d/e", "f"]), unique=True)
digest = st.sampled_from(["0" * 32, "1" * 32, "2" * 32])


def _saved_and_loaded(tmp_path_factory: pytest.TempPathFactory, memo: dict[str, str]
                      ) -> tuple[Path, CleanMemo]:
    """A state folder holding ``memo`` saved, and the memo loaded as a later process finds it."""
    state = tmp_path_factory.mktemp("state")
    saved = CleanMemo.fresh(state, "run", "ctx")
    for key, sha in memo.items():
        saved.mark(key, sha)
    saved.save()
    return state, CleanMemo(state, "run", "ctx")


@settings(max_examples=100, deadline=None)
@given(memo=st.dictionaries(st.sampled_from(["a", "b", "c", "d/e", "f"]), digest),
       shas=st.dictionaries(st.sampled_from(["a", "b", "c", "d/e", "f", "g"]), digest),
       order=st.sampled_from(["memo", "sorted", "reversed", "subset"]),
       marked=st.lists(st.tuples(st.sampled_from(["a", "b", "g"]), st.none() | digest),
                       max_size=2))
def test_memo_doubtful_equals_is_clean_key_by_key(
        tmp_path_factory: pytest.TempPathFactory, memo: dict[str, str], shas: dict[str, str],
        order: str, marked: list[tuple[str, str | None]]) -> None:
    """``doubtful`` (in bulk; when the keys come in the memo's own order, one comparison of
    the loaded digests with the index's) returns exactly the keys ``is_clean`` does not
    vouch for with the index's digest, key by key: a key the index does not vouch for is
    always doubtful, whatever the memo holds; entries marked since the load count."""
    state, loaded = _saved_and_loaded(tmp_path_factory, memo)
    for key, sha in marked:
        loaded.mark(key, sha)
        memo = {**memo, key: sha} if sha is not None else \
            {k: v for k, v in memo.items() if k != key}
    keys = sorted(memo) if order in ("memo", "sorted") else sorted(shas, reverse=True) \
        if order == "reversed" else sorted(memo)[::2]
    expected = {k for k in keys if k not in shas or not loaded.is_clean(k, shas[k])}
    assert expected == {k for k in keys if k not in shas or memo.get(k) != shas[k]}
    again = CleanMemo(state, "run", "ctx") if not marked else loaded
    assert again.doubtful(keys, shas) == expected
    # the index's digests as ``survey`` gives them for keys in its rows' order: a list
    listed = index_mod.Vouched(keys, [shas.get(k) for k in keys])
    assert dict(listed) == {k: shas[k] for k in keys if k in shas}
    again = CleanMemo(state, "run", "ctx") if not marked else loaded
    assert again.doubtful(keys, listed) == expected


def test_survey_vouches_for_unchanged_files_only(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk path does vouch (the property above is not vacuous): an unchanged file's
    digest comes from the index without reading it; an edited, a renamed-over and a gone
    file do not, and are judged one by one."""
    folder = _indexed_folder(tmp_path, monkeypatch)
    apply_op(folder, ("write", "a", 50))  # edited
    apply_op(folder, ("rename", "c", "b"))  # b replaced by c's file; c gone
    time.sleep(0.05)
    idx = LabelIndex(folder)
    idx.pin()
    assert set(idx.survey(list(KEYS))) == {"d/e"}
    assert idx.hashed == 0
    assert idx.digests(["d/e", "a", "b"]) == [
        content_digest((folder.labels_dir / f"{k}.json").read_bytes()) for k in ("d/e", "a", "b")]
    assert idx.hashed == 2  # a and b read; d/e vouched for


def test_survey_never_vouches_for_a_racy_row(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A file indexed in the tick it was written in (racy), then rewritten in place with
    the same size in that same tick (its stat unchanged on a one-second clock): the bulk
    path must not vouch for the saved row; the file is read again."""
    monkeypatch.setattr(index_mod, "stat_of", coarse_stat)
    folder = DatasetFolder.init(tmp_path / "ds")
    path = folder.labels_dir / "a.json"
    while time.time_ns() % 1_000_000_000 > 600_000_000:  # room left in this second
        time.sleep(0.05)
    path.write_bytes(label_bytes(1, width=4))
    idx = LabelIndex(folder)
    assert idx.entry("a").racy
    idx.save()
    with open(path, "r+b") as fh:  # same size, same inode, same (coarse) mtime and ctime
        fh.write(label_bytes(2, width=4))
    idx = LabelIndex(folder)
    idx.pin()
    assert idx.survey(["a"]) == {}
    assert idx.digests(["a"]) == [content_digest(label_bytes(2, width=4))]


LISTING_PATHS = ("a", "b", "d/e", "d/f", "d/g/h", ".x/i", "j.json/k")

listing_ops = st.lists(st.one_of(
    st.tuples(st.just("add"), st.sampled_from(LISTING_PATHS)),
    st.tuples(st.just("remove"), st.sampled_from(LISTING_PATHS)),
    st.tuples(st.just("rename"), st.sampled_from(LISTING_PATHS)),
    st.tuples(st.just("rmdir"), st.sampled_from(["d/g", "d", ".x", "j.json"])),
    st.tuples(st.just("edit"), st.sampled_from(LISTING_PATHS)),
    st.tuples(st.just("wait"), st.just("")),
    st.tuples(st.just("list"), st.just("")),
), min_size=1, max_size=25)


def _listing_op(folder: DatasetFolder, op: tuple[str, str]) -> None:
    import shutil

    kind, rel = op
    path = folder.labels_dir / f"{rel}.json"
    if kind == "add":
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"{}")
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            pass
    elif kind == "remove" and path.is_file():
        path.unlink()
    elif kind == "rename" and path.is_file():
        os.replace(path, path.with_name("renamed-" + path.name))
    elif kind == "rmdir":
        shutil.rmtree(folder.labels_dir / rel, ignore_errors=True)
    elif kind == "edit" and path.is_file():
        path.write_bytes(b'{"tags": []}')  # content only: the listing stays valid
    elif kind == "wait":  # older than the racy window: the next listing can be cached
        time.sleep(0.03)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=listing_ops)
@example(steps=[("add", "d/e"), ("wait", ""), ("list", ""), ("add", "d/f"), ("list", "")])
@example(steps=[("add", "d/g/h"), ("wait", ""), ("list", ""), ("rmdir", "d/g"), ("list", "")])
def test_cached_listing_equals_a_scan(tmp_path_factory: pytest.TempPathFactory,
                                      monkeypatch: pytest.MonkeyPatch,
                                      steps: list[tuple[str, str]]) -> None:
    """``listed_keys`` (the listing cached with the directories' stats) gives the keys a scan
    gives, after any files and directories added, removed or renamed, hidden ones, and
    directories named like label files; a short racy window so the cache is used."""
    monkeypatch.setattr(index_mod, "RACY_NS", 20_000_000)
    folder = DatasetFolder.init(tmp_path_factory.mktemp("ds"))
    used = 0
    for step in steps:
        if step[0] == "list":
            before = (folder.state_dir / "cache" / index_mod.LISTING_FILE).exists()
            assert sorted(index_mod.listed_keys(folder)) == sorted(folder.unsorted_keys())
            used += before
        else:
            _listing_op(folder, step)
    assert sorted(index_mod.listed_keys(folder)) == sorted(folder.unsorted_keys())
    time.sleep(0.03)
    index_mod.listed_keys(folder)
    assert sorted(index_mod.listed_keys(folder)) == sorted(folder.unsorted_keys())


def test_listing_is_cached_only_when_old_enough(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """On a one-second clock a file added in the tick of the listing could leave the
    directory's mtime as it was: such a listing is not cached; an older one is, and is used
    (no scan) until a directory changes."""
    monkeypatch.setattr(index_mod, "stat_of", coarse_stat)
    monkeypatch.setattr(index_mod, "RACY_NS", 500_000_000)
    for attempt in range(5):  # a loaded machine may cross into the next second: again
        folder = DatasetFolder.init(tmp_path / f"ds{attempt}")
        # room left in this second, and clear of its start (the file system's clock is a
        # coarse one, a few ms behind time.time_ns(): a write at .001 may be stamped with the
        # second before)
        while not 30_000_000 <= time.time_ns() % 1_000_000_000 <= 130_000_000:
            time.sleep(0.005)
        second = time.time_ns() // 1_000_000_000
        (folder.labels_dir / "a.json").write_bytes(b"{}")
        listing = folder.state_dir / "cache" / index_mod.LISTING_FILE
        assert index_mod.listed_keys(folder) == ["a"]
        cached = listing.exists()
        (folder.labels_dir / "b.json").write_bytes(b"{}")  # same second: same coarse mtime
        assert sorted(index_mod.listed_keys(folder)) == ["a", "b"]
        if time.time_ns() // 1_000_000_000 == second:
            break
    else:
        pytest.skip("every attempt crossed a second: the machine is too loaded")
    assert not cached  # racy: not cached
    time.sleep(1.1)  # the directory is now older than the racy window
    assert sorted(index_mod.listed_keys(folder)) == ["a", "b"] and listing.exists()
    scans: list[int] = []
    real = DatasetFolder.unsorted_keys
    monkeypatch.setattr(DatasetFolder, "unsorted_keys",
                        lambda self, dirs=None: scans.append(1) or real(self, dirs))
    assert sorted(index_mod.listed_keys(folder)) == ["a", "b"] and scans == []
    (folder.labels_dir / "sub").mkdir()  # a later tick: labels/ has a new mtime
    (folder.labels_dir / "sub" / "c.json").write_bytes(b"{}")
    assert sorted(index_mod.listed_keys(folder)) == ["a", "b", "sub/c"] and scans == [1]


@settings(max_examples=500, deadline=None)
@given(keys=st.lists(st.text(alphabet="a./\\\0\n", max_size=6), min_size=1, max_size=5))
def test_key_check_by_substrings_equals_the_regex(keys: list[str]) -> None:
    """``survey`` screens its keys (joined by newlines) for invalid ones with substring
    searches: the same answer as the regex of the rules (``is_valid_key``'s), on any keys
    made of separators, dots, backslashes, NULs and newlines."""
    joined = "\n".join(keys)
    reference = bool(index_mod._INVALID_KEY.search(joined)) or "\0" in joined
    assert index_mod._maybe_invalid(joined) == reference
    if any(not is_valid_key(k) for k in keys):
        assert index_mod._maybe_invalid(joined)  # an invalid key is never let through


read_ops = st.lists(st.one_of(
    *edits,
    st.tuples(st.just("read"), st.sampled_from(KEYS), st.just(0)),
    st.tuples(st.just("pin"), st.just(""), st.just(0)),
    st.tuples(st.just("look"), st.just(""), st.just(0)),
    st.tuples(st.just("save"), st.just(""), st.just(0)),
    st.tuples(st.just("reload"), st.just(""), st.just(0)),
), min_size=1, max_size=30)


@pytest.mark.parametrize("coarse", [False, True], ids=["real-clock", "coarse-clock"])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=read_ops)
def test_files_read_as_a_pull_does_leave_the_digests_from_scratch(
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, coarse: bool,
        steps: list[tuple[str, str, Any]]) -> None:
    """A file read and entered (``record``, what ``read_indexed`` does for every file of a
    changed job) whose row says the same is not entered again (nothing held for it, pu15):
    within a pin or not, before or after a save, the index's digests stay those computed
    from scratch, the pin's survey vouches only for current bytes, and a saved index too."""
    if coarse:
        monkeypatch.setattr(index_mod, "stat_of", coarse_stat)
    else:  # no racy window: rows of files older than the index are trusted (the fast path)
        monkeypatch.setattr(index_mod, "RACY_NS", 0)
    root = tmp_path_factory.mktemp("ds")
    folder = DatasetFolder.init(root)
    for key in KEYS[:3]:
        apply_op(folder, ("write", key, 1))
    idx = LabelIndex(folder)
    idx.digests(list(KEYS[:3]))
    idx.save()
    idx = LabelIndex(folder)
    for step in steps:
        kind, key = step[0], step[1]
        if kind == "read":
            path = folder.labels_dir / f"{key}.json"
            if path.exists():
                st_ = index_mod.stat_of(path)
                data = path.read_bytes()
                assert idx.record(key, data, st_).sha == content_digest(data)
        elif kind == "pin":
            idx.pin()
            present = [k for k in KEYS if (folder.labels_dir / f"{k}.json").exists()]
            for k, sha in idx.survey(present).items():
                assert sha == content_digest((folder.labels_dir / f"{k}.json").read_bytes())
        elif kind == "look":  # a pin answers as its plan saw the files: ended first
            idx.save()
            check(folder, idx)
        elif kind == "save":
            idx.save()
        elif kind == "reload":
            idx = LabelIndex(folder)
        else:
            apply_op(folder, step)
    idx.save()
    check(folder, idx)
    check_bulk(folder, LabelIndex(folder))
    if not coarse:  # every file read and entered: the saved index vouches for each of them
        idx = LabelIndex(folder)
        present = [k for k in KEYS if (folder.labels_dir / f"{k}.json").exists()]
        trusted = []  # (a file written in the clock tick the index takes as "now" is racy)
        for key in present:
            path = folder.labels_dir / f"{key}.json"
            st_ = index_mod.stat_of(path)
            if not idx.record(key, path.read_bytes(), st_).racy:
                trusted.append(key)
        idx.save()
        assert sorted(LabelIndex(folder).survey(present)) == sorted(trusted)


def _indexed_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DatasetFolder:
    monkeypatch.setattr(index_mod, "RACY_NS", 0)
    folder = DatasetFolder.init(tmp_path / "ds")
    for n, key in enumerate(KEYS):
        apply_op(folder, ("write", key, n))
    time.sleep(0.05)  # older than the file system's clock tick at the index's "now"
    idx = LabelIndex(folder)
    assert [idx.entry(k).sha for k in KEYS]
    idx.save()
    return folder


def test_a_pull_holds_no_dict_of_every_key_nor_their_digests(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a pull does with the index (survey every key in the rows' order, then read each
    file of a changed job: ``record``, one edited), answered from the sorted keys and the rows:
    no dict of every key (``_pos``) nor of the digests vouched for, no digest string per key,
    no entry pinned per file vouched for; the same answers as the dict-holding way (the
    property tests above)."""
    folder = _indexed_folder(tmp_path, monkeypatch)
    apply_op(folder, ("write", "c", 70))  # edited since the index was saved
    time.sleep(0.05)
    idx = LabelIndex(folder)
    idx.pin()
    keys = sorted(KEYS)
    vouched = idx.survey(keys)
    assert isinstance(vouched, index_mod.Vouched)
    assert isinstance(vouched._shas, index_mod.RowDigests)
    for key in keys:
        data = (folder.labels_dir / f"{key}.json").read_bytes()
        assert idx.record(key, data, index_mod.stat_of(folder.labels_dir / f"{key}.json")
                          ).sha == content_digest(data)
        assert ("c" in vouched) is False and ("a" in vouched) is True
    assert idx._positions is None and vouched._map is None
    assert idx.known("a") == idx.entry("a") is not None  # vouched for: made from its row,
    assert idx._pinned is not None and "a" not in idx._pinned  # not held by the pin
    expected = [content_digest((folder.labels_dir / f"{k}.json").read_bytes()) for k in keys]
    assert idx.digests(keys) == expected
    assert dict(vouched) == {k: sha for k, sha in zip(keys, expected, strict=True) if k != "c"}


def test_an_index_file_with_keys_out_of_order_is_read_right(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``save`` writes the keys sorted and rows are found by bisection; a file whose keys are
    not sorted (another writer, an older one) still finds each key's own row."""
    folder = _indexed_folder(tmp_path, monkeypatch)
    idx = LabelIndex(folder)
    keys, rows = idx._keys, idx._rows
    order = sorted(range(len(keys)), reverse=True)
    body = "\0".join(keys[i] for i in order).encode() + b"".join(
        rows[i * index_mod.ROW.size:(i + 1) * index_mod.ROW.size] for i in order)
    header = {"kind": "label-index", "root": str(folder.root), "count": len(keys),
              "keys": len("\0".join(keys).encode())}
    index_mod._save(idx.path, header, body)
    again = LabelIndex(folder)
    assert again._keys == [keys[i] for i in order]
    for key in KEYS:
        assert again.known(key) is not None
        assert again.entry(key).sha == content_digest(
            (folder.labels_dir / f"{key}.json").read_bytes())
    assert again.hashed == 0  # every answer from its own row


@settings(max_examples=100, deadline=None)
@given(memo=st.dictionaries(st.sampled_from(["a", "b", "c", "d/e", "f"]), digest),
       steps=st.lists(st.tuples(st.sampled_from(["ask", "mark", "save"]),
                                st.sampled_from(["a", "b", "c", "d/e", "f", "g", ""]),
                                st.none() | digest), max_size=12))
def test_a_loaded_memo_asked_and_marked_key_by_key_holds_no_dict_of_every_key(
        tmp_path_factory: pytest.TempPathFactory, memo: dict[str, str],
        steps: list[tuple[str, str, str | None]]) -> None:
    """A pull asks and marks every sample of the jobs CVAT changed: a loaded memo answers
    ``is_clean`` by bisection in its loaded keys, with ``mark``s since kept apart, and builds
    no dict of every key (~75 bytes a sample of the run); its answers, ``items`` and what it
    saves are those of a dict marked the same way (a plain ``dict`` as reference)."""
    state, loaded = _saved_and_loaded(tmp_path_factory, memo)
    want, whole = dict(memo), False
    for op, key, sha in steps:
        if op == "ask":
            assert loaded.is_clean(key, sha or "0" * 32) == (want.get(key) == (sha or "0" * 32))
        elif op == "mark":
            loaded.mark(key, sha)
            if sha is None:
                want.pop(key, None)
            else:
                want[key] = sha
        else:  # (a save makes the dict: after the plan, not at a pull's peak)
            assert whole or loaded._clean_map is None  # asked and marked, never made whole
            loaded.save()
            whole = True
            assert sorted(CleanMemo(state, "run", "ctx").items()) == sorted(want.items())
    assert whole or loaded._clean_map is None
    assert sorted(loaded.items()) == sorted(want.items())
    loaded.save()
    assert sorted(CleanMemo(state, "run", "ctx").items()) == sorted(want.items())
