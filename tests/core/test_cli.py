"""The verbs of issue 2 (validate, init, ls, show, schema, fmt), and no traceback on bad input."""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from annosync.cli.main import cli
from annosync.dataset.folder import DatasetFolder

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("ANNOSYNC_FUZZ_ROUNDS", "12"))
STREET = ROOT / "fixtures" / "street"
TRAFFIC = ROOT / "fixtures" / "traffic"


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.fixture
def street_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "street"
    shutil.copytree(STREET, dest)
    return dest


# -- validate -------------------------------------------------------------------------------------


def test_validate_default_is_manifests_and_they_are_clean(at_root: None) -> None:
    result = invoke("validate")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 0 error(s), 0 warning(s) in 15 manifest file(s)")


def test_validate_json(at_root: None) -> None:
    result = invoke("validate", "--json", "manifests", "fixtures/street", "fixtures/traffic")
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["ok"] is True and report["problems"] == []
    assert report["checked"]["datasets"] == 2 and report["checked"]["label_files"] == 7


def test_validate_strict_makes_warnings_errors(at_root: None) -> None:
    path = "tests/core/broken/dataset/labels/missing_id.json"
    assert invoke("validate", path).exit_code == 0
    strict = invoke("validate", "--strict", "--json", path)
    assert strict.exit_code == 1
    assert json.loads(strict.output)["problems"][0]["severity"] == "warning"


def test_validate_probe_media_finds_stale_metadata(street_copy: Path) -> None:
    path = street_copy / "labels" / "0001.json"
    path.write_text(path.read_text().replace('"width": 320', '"width": 321'))
    assert invoke("validate", str(street_copy)).exit_code == 0
    result = invoke("validate", "--probe-media", str(street_copy))
    assert "warning: $.metadata.width: metadata says 321 but the media has 320" in result.output


def test_validate_without_manifests_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("validate")
    assert result.exit_code == 2 and "no PATHS given" in result.output
    assert invoke("validate", "nothing.yaml").exit_code == 1
    (tmp_path / "notes.txt").write_text("hi")
    assert "not a manifest" in invoke("validate", "notes.txt").output


def test_internal_errors_exit_2_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("oops")

    # the verb imports its work when it runs (a light start-up): patch it where it lives
    monkeypatch.setattr("annosync.manifest.validate.validate_paths", boom)
    result = CliRunner().invoke(cli, ["validate", "x.yaml"])
    assert result.exit_code == 2
    assert "internal error: ZeroDivisionError: oops" in result.output
    assert "this is a bug in annosync" in result.output
    assert "Traceback" not in result.output


# -- init / ls / show -----------------------------------------------------------------------------


def test_init_scans_media(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    shutil.copytree(STREET / "media", root / "images")
    shutil.copy(TRAFFIC / "media" / "day.mp4", root / "images" / "clip.mp4")
    result = invoke("init", str(root), "--media", "images")
    assert result.exit_code == 0, result.output
    assert "6 new sample(s), 6 in all" in result.output
    folder = DatasetFolder.open(root)
    assert list(folder.keys()) == ["0001", "0002", "0003", "0004", "clip", "night/0005"]
    clip = folder.read("clip")
    assert clip.media == "images/clip.mp4"
    assert clip.metadata is not None and clip.metadata.frame_count == 20
    assert invoke("init", str(root), "--media", "images").output.startswith(f"{root}: 0 new")
    assert invoke("validate", str(root)).exit_code == 0
    outside = invoke("init", str(tmp_path / "other"), "--media", str(tmp_path))
    assert outside.exit_code == 1 and "inside the dataset folder" in outside.output


def test_ls(at_root: None) -> None:
    assert invoke("ls", "fixtures/street").output.split() == [
        "0001", "0002", "0003", "0004", "night/0005"]
    assert invoke("ls", "fixtures/street", "--include", "night/**").output.split() == ["night/0005"]
    listed = json.loads(invoke("ls", "fixtures/street", "--json", "--limit", "2").output)
    assert listed == [{"key": "0001"}, {"key": "0002"}]
    long = json.loads(invoke("ls", "fixtures/traffic", "--json", "--long").output)
    assert [(r["key"], r["media_type"], r["frame_count"]) for r in long] == [
        ("day", "video", 20), ("dusk", "video", 10)]
    assert invoke("ls", "-m", "manifests/basic_recipe.yaml").output.split() == ["0003"]
    several = invoke("ls", "-m", "manifests/new_field.yaml")
    assert several.exit_code == 2 and "choose one with --run" in several.output
    assert invoke("ls", "-m", "manifests/new_field.yaml", "--run", "cvat_new_field").output == "0001\n"
    bad = invoke("ls", "fixtures/street", "--where", "fields.[")
    assert bad.exit_code == 1 and "invalid JMESPath expression" in bad.output
    assert invoke("ls", "no/such/folder").exit_code == 1


def test_show(at_root: None) -> None:
    result = invoke("show", "day", "-d", "fixtures/traffic")
    assert result.exit_code == 0
    assert "type    video (160x120, 20 frames at 10 fps)" in result.output
    assert "frames.vehicles  detections: 31 label(s) in 20 frame(s), tracks 1, 2" in result.output
    raw = invoke("show", "0001", "-d", "fixtures/street", "--json")
    assert raw.output == (STREET / "labels" / "0001.json").read_text()
    summary = json.loads(invoke("show", "night/0005", "-d", "fixtures/street",
                                "--summary-json").output)
    assert summary["fields"]["weather"]["classes"] == ["night"]
    missing = invoke("show", "nope", "-d", "fixtures/street")
    assert missing.exit_code == 1 and "no such sample 'nope'" in missing.output
    outside = invoke("show", "../../README", "-d", "fixtures/street")
    assert outside.exit_code == 1 and "invalid sample key '../../README'" in outside.output


# -- schema / fmt ---------------------------------------------------------------------------------


def test_schema_check_and_write(tmp_path: Path, at_root: None) -> None:
    assert invoke("schema", "--check").exit_code == 0
    out = tmp_path / "formats"
    assert invoke("schema", "--check", "--out", str(out)).exit_code == 1
    assert "wrote" in invoke("schema", "--out", str(out)).output
    for name in ("manifest.schema.json", "sample.schema.json"):
        assert (out / name).read_bytes() == (ROOT / "formats" / name).read_bytes()
    assert "up to date" in invoke("schema", "--out", str(out)).output


def test_fmt_assigns_missing_ids_once(street_copy: Path) -> None:
    path = street_copy / "labels" / "0002.json"
    data = json.loads(path.read_text())
    del data["fields"]["weather"]["_id"]
    path.write_text(json.dumps(data))  # unsorted, one line, an id missing
    check = invoke("fmt", "--check", str(street_copy))
    assert check.exit_code == 1 and "would reformat" in check.output
    assert invoke("fmt", str(street_copy)).exit_code == 0
    first = path.read_bytes()
    new_id = json.loads(first)["fields"]["weather"]["_id"]
    assert len(new_id) == 24
    assert invoke("fmt", "--check", str(street_copy)).exit_code == 0
    assert invoke("fmt", str(street_copy)).exit_code == 0
    assert path.read_bytes() == first  # assigned once, stable afterwards


def test_fmt_probe_fills_metadata_and_reports_bad_files(street_copy: Path) -> None:
    path = street_copy / "labels" / "0004.json"
    data = json.loads(path.read_text())
    del data["metadata"]
    path.write_text(json.dumps(data))
    (street_copy / "labels" / "broken.json").write_text("{")
    result = invoke("fmt", "--probe", str(street_copy))
    assert result.exit_code == 1
    assert "broken.json:1:2: invalid JSON" in result.output
    assert json.loads(path.read_text())["metadata"]["width"] == 320


def test_help_is_readable() -> None:
    for verb in ("validate", "init", "ls", "show", "schema", "fmt"):
        result = invoke(verb, "--help")
        assert result.exit_code == 0 and "Usage: " in result.output


# -- fuzzing: bad input never shows a traceback ---------------------------------------------------


def _mutations(text: str, rng: random.Random) -> str:
    ops = rng.randint(1, 4)
    for _ in range(ops):
        if not text:
            break
        i = rng.randrange(len(text))
        op = rng.randrange(7)
        if op == 0:
            text = text[:i] + text[i + rng.randint(1, 20):]
        elif op == 1:
            text = text[:i] + rng.choice(["{", "}", "[", "]", ":", "- ", "\n", "\t", '"', "`",
                                          "${", "$${X}", "&a ", "*a", "!!binary ", "null", "-1",
                                          "1e400", "NaN", "\x00", "é", "0" * 30]) + text[i:]
        elif op == 2:
            text = text[:i]
        elif op == 3:
            j = rng.randrange(len(text))
            text = text[:min(i, j)] + text[max(i, j):] + text[min(i, j):max(i, j)]
        elif op == 4:
            text = text.replace("true", "3", 1).replace("0.", "\"x\"", 1)
        elif op == 5:
            text = text[:i] + text[i:].upper()
        else:
            text = text + text[: rng.randint(0, len(text))]
    return text


def test_fuzzed_corpus_never_tracebacks(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("ANNOSYNC_FUZZ_SEED", "20240611")))
    ds = tmp_path / "street"
    shutil.copytree(STREET, ds)
    (tmp_path / "manifests").mkdir()
    sources = sorted((ROOT / "manifests").glob("*.yaml"))
    labels = sorted((ds / "labels").rglob("*.json"))
    originals = {p: p.read_text() for p in labels}
    for round_ in range(ROUNDS):
        for p, text in originals.items():
            p.write_text(_mutations(text, rng) if rng.random() < 0.6 else text,
                         errors="surrogateescape")
        for src in sources:
            text = src.read_text().replace("../fixtures/street", "../street")
            (tmp_path / "manifests" / src.name).write_text(_mutations(text, rng))
        for args in (["validate", str(tmp_path / "manifests"), str(ds)],
                     ["validate", "--json", "--probe-media", *map(str, labels[:2])],
                     ["ls", "-l", str(ds)],
                     ["fmt", "--check", str(ds)]):
            result = CliRunner().invoke(cli, args)
            assert result.exit_code in (0, 1), (round_, args, result.output, result.exception)
            assert "internal error" not in result.output, (round_, args, result.output)
            assert not isinstance(result.exception, Exception) or isinstance(
                result.exception, SystemExit), (round_, args, repr(result.exception))


_POOL: list[object] = [None, -1, 0, 1, 2, 300, 1.5, "x", "", "label_id", "frames.x", "0001",
                       "day", True, False, [], {}, [1, "a"], ["car", "car"], {"a": 1},
                       {"type": "occluded"}, {"type": "select"}, {"classes": ["a"]},
                       {"0": "a", "1": "a"}, "${ANNOSYNC_FUZZ_UNSET}", "**", "fields.["]


def _paths(data: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def _set(data: object, path: tuple, value: object) -> object:
    if not path:
        return value
    head, rest = path[0], path[1:]
    assert isinstance(data, (dict, list))
    data[head] = _set(data[head], rest, value)  # type: ignore[index]
    return data


def test_structured_mutations_of_valid_manifests(tmp_path: Path) -> None:
    """Type confusion at every depth: values that load but make the rules think hard."""
    import yaml

    from annosync.cli.cmd_validate import reconciler_schema_check
    from annosync.manifest.validate import validate_paths

    rng = random.Random(int(os.environ.get("ANNOSYNC_FUZZ_SEED", "7")))
    docs = []
    for src in sorted((ROOT / "manifests").glob("*.yaml")):
        for doc in yaml.safe_load_all(src.read_text()):
            if isinstance(doc, dict) and "dataset" in doc:
                doc["dataset"] = str(ROOT / "fixtures" / Path(doc["dataset"]).name)
                docs.append(doc)
    for i in range(ROUNDS * 15):
        doc = json.loads(json.dumps(rng.choice(docs)))
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(_paths(doc)[1:])
            if rng.random() < 0.3 and isinstance(path[-1], str):  # add a sibling key instead
                path = (*path[:-1], rng.choice(["type", "values", "default", "classes",
                                                "attributes", "mask_targets", "frame_step",
                                                "dest_field", "read_only", "where"]))
                parent = doc
                for part in path[:-1]:
                    parent = parent[part]
                if not isinstance(parent, dict):
                    continue
                parent[path[-1]] = None
            doc = _set(doc, path, copy.deepcopy(rng.choice(_POOL)))  # type: ignore[assignment]
        target = tmp_path / f"m{i}.yaml"
        target.write_text(yaml.safe_dump(doc))
        report = validate_paths([target], env={}, schema_check=reconciler_schema_check)
        for p in report.problems:
            assert p.location.path and p.message


def test_validate_applies_the_reconcilers_schema_rules_too(tmp_path: Path) -> None:
    """What `plan` would reject, `validate` reports: here existing classes missing from the list
    (a rule of ``model/schema_rules.py``), placed at the manifest line of ``classes``."""
    path = tmp_path / "m.yaml"
    path.write_text(
        f"anno_key: narrow\ndataset: {STREET}\nsamples: {{keys: ['0001']}}\n"
        "label_field: ground_truth\nclasses: [person]\n"
    )
    result = invoke("validate", str(path))
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        f"{path}:5: classes: field 'ground_truth' has labels of classes not in its class list: "
        "['car', 'truck']"
    )
