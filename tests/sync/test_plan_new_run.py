"""The plan of a new run reads its samples once, with the cyclic collector paused: each label
file is parsed once even when it is too recent for its stat to be trusted (a dataset just
made: ``sync/index.py``'s racy window), and the plan is the one counting them again made."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from annosync.sync import index as index_mod
from annosync.sync import planned as planned_mod
from annosync.sync import session as session_mod

from .conftest import Workspace


def _new_run(ws: Workspace) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", attributes=["iscrowd"], cvat={"segment_size": 2})


def _plan_json(ws: Workspace) -> dict[str, Any]:
    out = ws.plan().model_dump(mode="json")
    out.pop("fingerprint")  # holds the index's view (racy files are read again): compared apart
    return out


def test_a_new_run_parses_each_sample_once_and_plans_as_before(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    _new_run(ws)
    monkeypatch.setattr(index_mod, "RACY_NS", 10**12)  # every file too recent to trust
    parsed: list[str] = []
    collector: list[bool] = []
    real = session_mod.parse_sample

    def parse(data: bytes | str, path: str | None = None) -> Any:
        parsed.append(str(path))
        collector.append(gc.isenabled())
        return real(data, path)

    monkeypatch.setattr(session_mod, "parse_sample", parse)
    plan = _plan_json(ws)
    assert plan["is_new"] and sum(t["samples"] for t in plan["create_tasks"]) == len(parsed)
    assert len(parsed) == len(set(parsed)) > 1  # once each
    assert not any(collector) and gc.isenabled()  # paused while parsing, resumed after

    # the reference: each sample counted from a second read (what the plan did before)
    real_infos = planned_mod.sample_infos
    monkeypatch.setattr(planned_mod, "sample_infos",
                        lambda session, keys, seen=None: real_infos(session, keys))
    parsed.clear()
    assert _plan_json(ws) == plan
    assert len(parsed) == 2 * len(set(parsed))
