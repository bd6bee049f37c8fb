"""CLI fixtures: one emulator per session, a workspace (dataset copy + manifests/) per test.

The verbs run in-process through click's CliRunner, pointed at the emulator only through the
environment (ANNOSYNC_CVAT_URL / _USERNAME / _PASSWORD), as a user's shell would be.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from annosync.cli.main import cli
from annosync.dataset.folder import DatasetFolder
from annosync.emulator import Emulator
from annosync.sync.record import RunRecord, load_record

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
_keys = itertools.count(1)


@pytest.fixture(scope="session")
def emu() -> Iterator[Emulator]:
    with Emulator(users=["alice", "bob"]) as server:
        yield server


class Workspace:
    """``<tmp>/street`` (a copy of fixtures/street) and ``<tmp>/manifests/run.yaml``."""

    def __init__(self, root: Path, emu: Emulator) -> None:
        self.root = root
        self.emu = emu
        self.anno_key = f"cli{os.getpid()}x{next(_keys)}"
        self.dataset = root / "street"
        shutil.copytree(FIXTURES / "street", self.dataset)
        self.manifests = root / "manifests"
        self.manifests.mkdir()
        self.env = {
            "ANNOSYNC_CVAT_URL": emu.url,
            "ANNOSYNC_CVAT_USERNAME": emu.admin_username,
            "ANNOSYNC_CVAT_PASSWORD": emu.admin_password,
            "ANNOSYNC_CONFIG": str(root / "no-config.yaml"),
        }

    def manifest(self, **fields: Any) -> Path:
        data = {
            "anno_key": self.anno_key,
            "dataset": "../street",
            "samples": {"keys": ["0001", "0003"]},
            "label_field": "ground_truth",
            "attributes": ["iscrowd"],
            "classes": ["car", "person", "truck"],
            "cvat": {"url": "${ANNOSYNC_CVAT_URL}"},
            **fields,
        }
        path = self.manifests / "run.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def invoke(self, *args: str, input: str | None = None, env: dict[str, Any] | None = None
               ) -> Result:
        runner = CliRunner()
        cwd = os.getcwd()
        os.chdir(self.root)
        try:
            return runner.invoke(cli, list(args), env={**self.env, **(env or {})}, input=input,
                                 catch_exceptions=False)
        finally:
            os.chdir(cwd)

    @property
    def folder(self) -> DatasetFolder:
        return DatasetFolder(self.dataset)

    @property
    def record(self) -> RunRecord:
        record = load_record(self.folder.state_dir, self.anno_key)
        assert record is not None
        return record

    def task_id(self) -> int:
        task_id = self.record.tasks[0].id
        assert task_id is not None
        return task_id

    @property
    def annotator(self) -> Any:
        return self.emu.annotator("alice")


@pytest.fixture
def ws(tmp_path: Path, emu: Emulator) -> Workspace:
    return Workspace(tmp_path, emu)


def write_tiny_run(tmp_path: Path) -> None:
    """A one-sample dataset ``ds`` and its manifest ``run.yaml`` (no server): what the start-up
    tests plan."""
    ds = tmp_path / "ds"
    (ds / "labels").mkdir(parents=True)
    (ds / "labels" / "a.json").write_text(json.dumps({
        "media": "media/a.jpg",
        "metadata": {"width": 10, "height": 10, "media_type": "image"},
        "fields": {"gt": {"_type": "detections", "detections": [
            {"_id": "0" * 24, "label": "car", "bounding_box": [0.1, 0.1, 0.5, 0.5]}]}},
    }))
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(
        {"anno_key": "r", "dataset": "ds", "label_field": "gt"}))
