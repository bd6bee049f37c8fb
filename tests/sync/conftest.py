"""End-to-end fixtures: one emulator per test session, a fresh dataset copy per test."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from annosync.cvat import Credentials, CvatClient
from annosync.dataset.folder import DatasetFolder
from annosync.emulator import Emulator
from annosync.model.sample import Sample
from annosync.sync.apply import ApplyResult
from annosync.sync.engine import apply_plan, make_plan, open_sessions
from annosync.sync.plan import RunPlan
from annosync.sync.record import RunRecord, load_record
from annosync.sync.session import Connection, SyncOptions

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
_keys = itertools.count(1)


@pytest.fixture(scope="session")
def emu() -> Iterator[Emulator]:
    with Emulator(users=["alice", "bob", "carol"]) as server:
        yield server


class Workspace:
    """A dataset copy, a manifest and helpers to run the reconciler on the emulator."""

    def __init__(self, root: Path, emu: Emulator) -> None:
        self.root = root
        self.emu = emu
        self.dataset: Path | None = None
        self.manifest_path = root / "manifests" / "run.yaml"
        self.anno_key = f"run{next(_keys)}"

    def copy(self, fixture: str) -> Path:
        self.dataset = self.root / fixture
        shutil.copytree(FIXTURES / fixture, self.dataset)
        return self.dataset

    def manifest(self, **fields: Any) -> dict[str, Any]:
        assert self.dataset is not None
        data = {"anno_key": self.anno_key, "dataset": f"../{self.dataset.name}", **fields}
        self.manifest_path.parent.mkdir(exist_ok=True)
        self.manifest_path.write_text(yaml.safe_dump(data, sort_keys=False))
        return data

    @property
    def connection(self) -> Connection:
        return Connection(url=self.emu.url, username=self.emu.admin_username,
                          password=self.emu.admin_password, interactive=False)

    def plan(self, **options: Any) -> RunPlan:
        with open_sessions([self.manifest_path], SyncOptions(**options), self.connection) as eng:
            return make_plan(eng).runs[0]

    def run(self, **options: Any) -> tuple[RunPlan, ApplyResult]:
        with open_sessions([self.manifest_path], SyncOptions(**options), self.connection) as eng:
            plan = make_plan(eng)
            (result,) = apply_plan(eng, plan)
            return plan.runs[0], result

    @property
    def folder(self) -> DatasetFolder:
        assert self.dataset is not None
        return DatasetFolder(self.dataset)

    @property
    def record(self) -> RunRecord:
        record = load_record(self.folder.state_dir, self.anno_key)
        assert record is not None
        return record

    def sample(self, key: str) -> Sample:
        return self.folder.read(key)

    def save(self, key: str, sample: Sample) -> None:
        self.folder.write(key, sample)

    def client(self) -> CvatClient:
        return CvatClient(self.emu.url, Credentials(username=self.emu.admin_username,
                                                    password=self.emu.admin_password))

    @property
    def annotator(self) -> Any:
        return self.emu.annotator(self.emu.admin_username)

    def task_ids(self) -> list[int]:
        return [t.id for t in self.record.tasks if t.id is not None]


@pytest.fixture
def ws(tmp_path: Path, emu: Emulator) -> Workspace:
    return Workspace(tmp_path, emu)
