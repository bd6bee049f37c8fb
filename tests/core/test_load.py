"""Manifest loading: line numbers, ``${VAR}``, several runs per file, credentials, anno keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from annosync.errors import InputError
from annosync.manifest.load import load_all, load_file, load_manifests
from annosync.manifest.validate import format_problem

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def messages(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [format_problem(p).split(": ", 1)[1] for p in result.problems]


def lines(result) -> list[int | None]:  # type: ignore[no-untyped-def]
    return [p.location.line for p in result.problems]


def test_every_example_manifest_loads() -> None:
    result = load_all([ROOT / "manifests"], env={})
    assert result.problems == []
    keys = [r.anno_key for r in result.runs]
    assert len(keys) == len(set(keys)) >= 15
    for run in result.runs:
        assert run.dataset_root.is_dir(), run.display


def test_lines_of_nested_values(tmp_path: Path) -> None:
    path = write(tmp_path, "anno_key: a\ndataset: .\ncvat:\n  job_assignees:\n    - x\n    - 3\n")
    result = load_file(path, env={})
    assert [format_problem(p) for p in result.problems] == [
        f"{result.files[0]}:6: cvat.job_assignees[1]: must be a string"
    ]


def test_interpolation(tmp_path: Path) -> None:
    env = {"PID": "12", "NAME": "street", "EMPTY": ""}
    path = write(tmp_path, (
        "anno_key: a\n"
        "dataset: ${DATA:-.}\n"
        "label_field: gt\n"
        "cvat:\n"
        "  project_id: ${PID}\n"             # plain scalar: typed after substitution
        "  task_name: \"${PID}\"\n"          # quoted: stays a string
        "  organization: ${EMPTY:-team}\n"   # empty counts as unset for ':-'
        "  issue_tracker: 'https://x/$${NAME}/${NAME}'\n"  # $${ is a literal ${
        "  frame_start:\n"                  # (in a flow list '[...]' '{' is YAML syntax)
        "    - ${PID}\n"
        "    - 3\n"
    ))
    result = load_file(path, env=env)
    assert result.problems == []
    cvat = result.runs[0].manifest.cvat
    assert cvat.project_id == 12
    assert cvat.task_name == "12"
    assert cvat.organization == "team"
    assert cvat.issue_tracker == "https://x/${NAME}/street"
    assert cvat.frame_start == [12, 3]
    assert result.runs[0].dataset_root == tmp_path


def test_undefined_variable_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "anno_key: a\ndataset: .\nlabel_field: gt\ncvat:\n  url: ${NOPE}\n")
    result = load_file(path, env={})
    assert lines(result) == [5]
    assert "environment variable NOPE is not set" in messages(result)[0]


def test_malformed_reference(tmp_path: Path) -> None:
    path = write(tmp_path, "anno_key: a\ndataset: .\nlabel_field: gt\ncvat:\n  url: ${1x}\n")
    result = load_file(path, env={})
    assert lines(result)[0] == 5
    assert "invalid '${' reference" in messages(result)[0]


def test_multi_document_and_runs_with_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, (
        "anno_key: first\n"
        "dataset: .\n"
        "label_field: gt\n"
        "---\n"
        "defaults:\n"
        "  dataset: data\n"
        "  cvat:\n"
        "    segment_size: 5\n"
        "    project_name: p\n"
        "runs:\n"
        "  - anno_key: second\n"
        "    label_field: gt\n"
        "    cvat:\n"
        "      segment_size: 0\n"          # the run wins over defaults ... and is located
        "  - anno_key: third\n"
        "    dataset: other\n"
    ))
    result = load_file(path, env={})
    assert [format_problem(p) for p in result.problems] == [
        f"{result.files[0]}:14: cvat.segment_size: must be >= 1"
    ]
    assert [r.anno_key for r in result.runs] == ["first", "third"]
    third = result.runs[1]
    assert third.manifest.cvat.project_name == "p"       # merged from defaults
    assert third.manifest.cvat.segment_size == 5
    assert third.dataset_root == tmp_path / "other"
    assert third.line(("cvat", "segment_size")) == 8     # defaults' line
    assert third.line(("anno_key",)) == 15


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    path = write(tmp_path, (
        "anno_key: a\n"
        "dataset: .\n"
        "label_field: gt\n"
        "cvat:\n"
        "  <<: {segment_size: 2, project_name: p}\n"
        "  segment_size: 3\n"
    ))
    result = load_file(path, env={})
    assert result.problems == []
    assert result.runs[0].manifest.cvat.segment_size == 3
    assert result.runs[0].manifest.cvat.project_name == "p"


def test_credentials_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, (
        "anno_key: a\n"
        "dataset: .\n"
        "label_field: gt\n"
        "api_token: abc\n"
        "cvat:\n"
        "  headers:\n"
        "    Cookie: sessionid=abc\n"
        "    authorization: ${AUTH}\n"        # from the environment: fine
        "    X-Trace: '1'\n"
    ))
    result = load_file(path, env={"AUTH": "Token x"})
    assert lines(result) == [7, 4]
    assert "'Cookie' header is a credential" in messages(result)[0]
    assert messages(result)[1].startswith("api_token: credentials are not allowed")


def test_anno_keys_unique_across_files(tmp_path: Path) -> None:
    write(tmp_path, "anno_key: same\ndataset: .\nlabel_field: gt\n", "a.yaml")
    write(tmp_path, "# comment\nanno_key: same\ndataset: .\nlabel_field: gt\n", "b.yml")
    result = load_all([tmp_path], env={})
    assert lines(result) == [2]
    assert "already used by" in messages(result)[0]
    with pytest.raises(InputError) as info:
        load_manifests([tmp_path], env={})
    assert "anno_key 'same'" in str(info.value)


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty manifest: no runs"),
    ("- 1\n- 2\n", "a manifest document must be a mapping"),
    ("runs: []\n", "runs: must be a non-empty list of runs"),
    ("runs: [3]\n", "runs[0]: a run must be a mapping"),
    ("anno_key: a\ndataset: .\nlabel_field: !!python/name:os.system\n", "unsupported YAML tag"),
    ("{anno_key: a, anno_key: b}\n", "duplicate key 'anno_key'"),
    ("anno_key: a\n\tdataset: .\n", "invalid YAML"),
])
def test_shapes(tmp_path: Path, text: str, message: str) -> None:
    result = load_file(write(tmp_path, text), env={})
    assert any(message in m for m in messages(result)), messages(result)
    assert all(p.location.line for p in result.problems)


def test_not_utf8_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"anno_key: \xff\n")
    assert "not UTF-8" in messages(load_file(path))[0]
    assert "no such file" in str(load_all([tmp_path / "none.yaml"]).problems[0])


def test_billion_laughs_is_bounded(tmp_path: Path) -> None:
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        rows.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    result = load_file(write(tmp_path, "\n".join(rows) + "\n"), env={})
    assert any("too large" in m for m in messages(result))
