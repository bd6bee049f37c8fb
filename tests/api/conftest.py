"""API fixtures: one emulator per session; credentials reach it through the environment."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from annosync.emulator import Emulator

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
_keys = itertools.count(1)


@pytest.fixture(scope="session")
def emu() -> Iterator[Emulator]:
    with Emulator(users=["alice"]) as server:
        yield server


@pytest.fixture
def street(tmp_path: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of fixtures/street; ANNOSYNC_CVAT_* point at the emulator."""
    monkeypatch.setenv("ANNOSYNC_CVAT_URL", emu.url)
    monkeypatch.setenv("ANNOSYNC_CVAT_USERNAME", emu.admin_username)
    monkeypatch.setenv("ANNOSYNC_CVAT_PASSWORD", emu.admin_password)
    monkeypatch.setenv("ANNOSYNC_CONFIG", str(tmp_path / "no-config.yaml"))
    root = tmp_path / "street"
    shutil.copytree(FIXTURES / "street", root)
    return root


@pytest.fixture
def anno_key() -> str:
    return f"api{os.getpid()}x{next(_keys)}"
