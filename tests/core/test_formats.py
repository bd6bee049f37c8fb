"""``formats/``: the committed JSON Schemas match the models and accept the real files; the
fixtures are reproducible and small."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from annosync.manifest.schemas import generated

ROOT = Path(__file__).resolve().parents[2]
FORMATS = ROOT / "formats"


@pytest.mark.parametrize("name", sorted(generated()))
def test_committed_schemas_match_the_models(name: str) -> None:
    committed = (FORMATS / name).read_bytes()
    assert committed == generated()[name], (
        f"formats/{name} is out of date with the pydantic models: run `annosync schema`")


def test_generation_is_deterministic() -> None:
    assert generated() == generated()


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((FORMATS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_fixture_label_files_satisfy_the_sample_schema() -> None:
    validator = _validator("sample.schema.json")
    files = sorted((ROOT / "fixtures").glob("*/labels/**/*.json"))
    assert files
    for path in files:
        errors = list(validator.iter_errors(json.loads(path.read_text())))
        assert not errors, (path, errors[0].message)


def test_sample_schema_rejects_what_the_model_rejects() -> None:
    validator = _validator("sample.schema.json")
    assert not validator.is_valid({"media": "a.jpg", "fields": {"gt": {"label": "x"}}})  # no _type
    assert not validator.is_valid({"media": "a.jpg", "frames": {"x": {}}})
    assert not validator.is_valid({"media": "a.jpg", "fields": {"gt": [1]}})
    assert validator.is_valid({"media": "a.jpg", "fields": {"q": 0.5, "n": None}})


def test_example_manifests_satisfy_the_manifest_schema() -> None:
    validator = _validator("manifest.schema.json")
    files = sorted((ROOT / "manifests").glob("*.yaml"))
    for path in files:
        text = path.read_text()
        assert text.startswith("# yaml-language-server: $schema=../formats/manifest.schema.json")
        for doc in yaml.safe_load_all(text):
            errors = list(validator.iter_errors(doc))
            assert not errors, (path, errors[0].message)
    assert not validator.is_valid({"anno_key": "a"})  # dataset missing
    assert not validator.is_valid({"anno_key": "a", "dataset": ".", "cvat": {"segment_size": 0}})


def test_fixtures_are_small_and_reproducible() -> None:
    total = sum(p.stat().st_size for p in (ROOT / "fixtures").rglob("*") if p.is_file())
    assert total < 5 * 1024 * 1024
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_fixtures.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _examples(kind: str) -> list[str]:
    text = (FORMATS / "README.md").read_text()
    marker = f"<!-- example: {kind} -->\n```"
    out = []
    for chunk in text.split(marker)[1:]:
        body = chunk.split("\n", 1)[1]
        out.append(body.split("```", 1)[0])
    return out


def test_readme_label_file_examples_are_canonical() -> None:
    from annosync.dataset.folder import parse_sample, sample_to_bytes

    examples = _examples("label-file")
    assert len(examples) == 2
    for text in examples:
        assert sample_to_bytes(parse_sample(text)).decode() == text


def test_readme_manifest_examples_load(tmp_path: Path) -> None:
    from annosync.manifest.load import load_file

    examples = _examples("manifest")
    assert len(examples) == 3
    (tmp_path / "manifests").mkdir()
    (tmp_path / "fixtures").symlink_to(ROOT / "fixtures")
    for i, text in enumerate(examples):
        path = tmp_path / "manifests" / f"{i}.yaml"
        path.write_text(text)
        result = load_file(path, env={})
        assert result.problems == [] and result.runs, (text, result.problems)
