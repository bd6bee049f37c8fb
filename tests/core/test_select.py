"""Sample selection: globs, explicit keys, JMESPath where/sort_by, skip/limit; and streaming."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import annosync.dataset.folder as folder_module
from annosync.dataset.folder import DatasetFolder, walk_order
from annosync.errors import Location, Problem
from annosync.manifest.select import glob_regex, iter_select, key_matches, select, unrecorded
from annosync.model.manifest import SampleSelection

ROOT = Path(__file__).resolve().parents[2]
STREET = DatasetFolder.open(ROOT / "fixtures" / "street")
RECIPE = {
    "where": "length(fields.predictions.detections[?confidence > `0.8` && "
             "attributes.eval == 'fp']) > `0`",
    "sort_by": "length(fields.predictions.detections[?confidence > `0.8` && "
               "attributes.eval == 'fp'])",
    "reverse": True,
}


def report(loc: tuple[Any, ...], message: str, severity: str) -> Problem:
    return Problem(Location("m.yaml", None, None, ".".join(map(str, loc))), message, severity)


def run(**kwargs: Any) -> list[str]:
    out = select(STREET, SampleSelection(**kwargs), report)
    assert [p for p in out.problems if p.severity == "error"] == []
    return out.keys


def test_basic_recipe_selects_most_false_positives_first() -> None:
    assert run(**RECIPE) == ["0003", "0001", "night/0005"]
    assert run(**RECIPE, limit=1) == ["0003"]
    assert run(**{**RECIPE, "reverse": False}) == ["0001", "night/0005", "0003"]  # ties: key order


def test_globs() -> None:
    assert run() == ["0001", "0002", "0003", "0004", "night/0005"]
    assert run(include=["*"]) == ["0001", "0002", "0003", "0004"]
    assert run(include=["night/*"]) == ["night/0005"]
    assert run(include=["**/0005"]) == ["night/0005"]
    assert run(include=["**"], exclude=["000[12]", "night/**"]) == ["0003", "0004"]
    assert run(include=["000?"], skip=1, limit=2) == ["0002", "0003"]
    assert key_matches("a/b/c", ["a/**"], [])
    assert not key_matches("a/b", ["*"], [])
    assert glob_regex("**/x").match("x") and glob_regex("**/x").match("p/q/x")
    assert glob_regex("[!a]b").match("cb") and not glob_regex("[!a]b").match("ab")


def test_explicit_keys_keep_their_order_and_report_missing() -> None:
    out = select(STREET, SampleSelection(keys=["0004", "nope", "0001", "0004"]), report)
    assert out.keys == ["0004", "0001"]
    assert [(p.location.json_path, p.severity) for p in out.problems] == [
        ("keys.1", "error"), ("keys.3", "warning")]


def test_shorthands() -> None:
    assert SampleSelection.model_validate("night/*").include == ["night/*"]
    assert SampleSelection.model_validate(["0001"]).keys == ["0001"]


def test_where_over_fields_key_and_metadata() -> None:
    assert run(where="fields.weather.label == 'sunny'") == ["0001", "0004"]
    assert run(where="starts_with(key, 'night/')") == ["night/0005"]
    assert run(where="fields.reviewed") == ["0001", "0004"]
    assert run(where="metadata.width == `320`", limit=1) == ["0001"]
    assert run(where="fields.num_cars") == ["0001", "0002", "0003", "0004", "night/0005"]  # 0 is truthy
    assert run(sort_by="fields.quality", reverse=True, limit=2) == ["0004", "0001"]
    assert run(sort_by="fields.note") == ["0002", "0004", "0001", "night/0005", "0003"]
    assert run(sort_by="fields.predictions.detections", reverse=True, limit=1) == ["0003"]


def test_expression_failures_do_not_select_and_warn() -> None:
    out = select(STREET, SampleSelection(where="length(fields.missing.detections) > `0`"), report)
    assert out.keys == []
    assert len(out.problems) == 1 and out.problems[0].severity == "warning"
    assert "5 sample(s) not selected" in out.problems[0].message


def test_syntax_errors_are_reported() -> None:
    out = select(STREET, SampleSelection(where="fields.[", sort_by="length("), report)
    assert out.keys == []
    assert [p.location.json_path for p in out.problems] == ["where", "sort_by"]
    assert all("invalid JMESPath expression" in p.message for p in out.problems)


def test_mixed_sort_values_are_an_error() -> None:
    out = select(STREET, SampleSelection(sort_by="fields.note || fields.num_cars"), report)
    assert "cannot be ordered together" in out.problems[-1].message


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatasetFolder]:
    """100,000 samples whose label files are empty: any parse would fail loudly.

    Made in memory (/dev/shm) when there is one: 100k files on a busy disk take a minute.
    """
    shm = Path("/dev/shm")
    in_memory = shm.is_dir() and os.access(shm, os.W_OK)
    root = Path(tempfile.mkdtemp(prefix="annosync-big-", dir=shm)) if in_memory \
        else tmp_path_factory.mktemp("big")
    try:
        labels = root / "labels"
        for shard in range(10):
            d = labels / f"s{shard}"
            d.mkdir(parents=True)
            for i in range(10_000):
                os.close(os.open(f"{d}/{i:05d}.json", os.O_CREAT | os.O_WRONLY, 0o644))
        yield DatasetFolder.open(root)
    finally:
        if in_memory:
            shutil.rmtree(root, ignore_errors=True)


class Counter:
    def __init__(self) -> None:
        self.calls = 0


def test_keys_and_selection_stream_without_parsing(
    big_folder: DatasetFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses, reads = Counter(), Counter()
    real_parse, real_read = folder_module.parse_sample, DatasetFolder.read_bytes

    def counting_parse(*args: Any, **kwargs: Any) -> Any:
        parses.calls += 1
        return real_parse(*args, **kwargs)

    def counting_read(self: DatasetFolder, key: str) -> bytes:
        reads.calls += 1
        return real_read(self, key)

    monkeypatch.setattr(folder_module, "parse_sample", counting_parse)
    monkeypatch.setattr(DatasetFolder, "read_bytes", counting_read)
    monkeypatch.setattr(json, "loads", _forbidden)

    keys = big_folder.keys()
    assert next(keys) == "s0/00000"           # lazy: the first key comes before the walk ends
    assert sum(1 for _ in big_folder) == 100_000
    out = select(big_folder, SampleSelection(include=["s3/**"], skip=5, limit=3))
    assert out.keys == ["s3/00005", "s3/00006", "s3/00007"]
    assert out.files_read == 0
    assert (parses.calls, reads.calls) == (0, 0)


def _forbidden(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a label file was parsed")


def test_where_reads_only_until_the_limit(tmp_path: Path) -> None:
    folder = DatasetFolder.init(tmp_path)
    for i in range(50):
        (folder.labels_dir / f"{i:02d}.json").write_text(
            json.dumps({"media": f"media/{i}.jpg", "fields": {"n": i}}))
    out = select(folder, SampleSelection(where="fields.n > `9`", limit=2))
    assert out.keys == ["10", "11"]
    assert out.files_read == 12


# -- the bulk path: new keys from one unsorted scan (select.unrecorded) -------------------------

_NAMES = st.sampled_from(["a", "a-b", "a.b", "b", "B", "0", "a0", ".h", "x y", "é", "a.json",
                         "n\nl"])


@st.composite
def _trees(draw: Any) -> list[tuple[str, str]]:
    """(relative path, kind) entries: label files, other files, directories."""
    out = []
    for _ in range(draw(st.integers(0, 14))):
        depth = draw(st.integers(1, 3))
        parts = [draw(_NAMES) for _ in range(depth)]
        kind = draw(st.sampled_from(["json", "json", "json", "txt", "dir"]))
        out.append(("/".join(parts), kind))
    return out


_PATTERNS = st.sampled_from(["**", "*", "a*", "a/**", "**/b", "a-*", "?", "[ab]*", "*/*",
                             "**/a.json/**", "é", "x y/**", ".h", "B/**"])


@settings(max_examples=150, deadline=None)
@given(tree=_trees(), include=st.lists(_PATTERNS, max_size=3),
       exclude=st.lists(_PATTERNS, max_size=2), recorded_share=st.integers(0, 4))
def test_unrecorded_equals_the_selection_minus_the_recorded(
        tree: list[tuple[str, str]], include: list[str], exclude: list[str],
        recorded_share: int) -> None:
    """The bulk path (one unsorted scan, globs through ``filter``, set difference, then
    ``walk_order``) yields exactly what ``iter_select`` yields minus the recorded keys, in
    the same order: sorting, hidden names, directories named like label files, keys that
    sort differently from their file names (``a`` / ``a-b`` / ``a.b``)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = DatasetFolder.init(Path(tmp) / "ds")
        for rel, kind in tree:
            path = folder.labels_dir / rel
            try:
                if kind == "dir":
                    path.mkdir(parents=True, exist_ok=True)
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    target = path.with_name(path.name + (".json" if kind == "json" else ".txt"))
                    if not target.is_dir():
                        target.write_text("{}")
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                continue  # a file where a directory should be (or the reverse): skip it
        selection = SampleSelection(include=include, exclude=exclude)
        reference = list(iter_select(folder, selection))
        recorded = set(reference[::4] if recorded_share == 1 else reference[1::2]
                       if recorded_share == 2 else reference if recorded_share == 3 else [])
        if recorded_share == 4:  # every key of the folder recorded, and one more (a run
            recorded = {*folder.unsorted_keys(), "gone"}  # with nothing new: one pass)
        expected = [k for k in reference if k not in recorded]
        assert unrecorded(folder.unsorted_keys(), selection, recorded) == expected
        assert sorted(folder.unsorted_keys(), key=walk_order) == list(folder.keys())


def test_unrecorded_leaves_content_and_count_selections_to_iter_select() -> None:
    keys = list(STREET.keys())
    for extra in ({"where": "tags"}, {"sort_by": "key"}, {"skip": 1}, {"limit": 2},
                  {"keys": keys[:1]}):
        assert unrecorded(keys, SampleSelection(**extra), set()) is None
    assert unrecorded(keys, SampleSelection(), set()) == keys
