"""Fixtures for the CVAT client unit tests: the recorded-response fake, a fake clock, the
schema validator and a client wired to them (no sockets, no real sleeping)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cvat_fake import SHARED, FakeCvat
from schema_check import SchemaValidator

from annosync.cvat import Credentials, CvatClient, RetryPolicy

PAT = "pat_" + "Qw7" * 12


class FakeClock:
    """``sleep`` advances ``now``; both are recorded so waits are bounded without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="session")
def schema_validator() -> SchemaValidator:
    return SchemaValidator(str(SHARED / "schema.yml"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(schema_validator: SchemaValidator) -> FakeCvat:
    f = FakeCvat()
    f.tokens[f"Bearer {PAT}"] = ("Bearer", "admin")
    f.adapter.validator = schema_validator
    return f


@pytest.fixture
def make_client(fake: FakeCvat, clock: FakeClock) -> Iterator[Callable[..., CvatClient]]:
    made: list[CvatClient] = []

    def make(**kw: Any) -> CvatClient:
        # recordings2 authenticates with a personal access token (Bearer); so do most tests
        creds = kw.pop("credentials", None) or Credentials(token=PAT)
        kw.setdefault("retries", RetryPolicy(retries=3, backoff=0.1))
        c = CvatClient(
            kw.pop("url", "https://cvat.example.com"), creds, adapter=fake.adapter,
            sleep=clock.sleep, clock=clock, **kw,
        )
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def client(make_client: Callable[..., CvatClient]) -> CvatClient:
    return make_client()
