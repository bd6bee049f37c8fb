"""The emulator answers each request with the cyclic collector paused (``gcpause.py``), and
puts the collector back as it found it: on after the last of concurrent requests ends, off if
someone else had turned it off, on again after a handler that failed."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from annosync.emulator.faults import Faults
from annosync.emulator.server import App, route
from annosync.emulator.state import State
from annosync.emulator.wire import Headers, Request, Response, json_response
from annosync.gcpause import gc_paused


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()


def _app(seen: list[bool], fail: bool = False) -> App:
    def handler(_ctx: object) -> Response:
        seen.append(gc.isenabled())
        if fail:
            raise RuntimeError("a bug in a handler")
        return json_response({"ok": True})

    return App(State(), [route("/api/probe", auth="public", get=handler)], Faults())


def _get(app: App) -> Response:
    return app.handle(Request("GET", "/api/probe", "", Headers([]), b""), "http://emu")


def test_a_request_is_answered_with_the_collector_paused(collector_on: None) -> None:
    seen: list[bool] = []
    resp = _get(_app(seen))
    assert resp.status == 200 and seen == [False]
    assert gc.isenabled()


def test_a_failing_handler_still_resumes_the_collector(collector_on: None) -> None:
    seen: list[bool] = []
    resp = _get(_app(seen, fail=True))
    assert resp.status == 500 and seen == [False]
    assert gc.isenabled()


def test_a_collector_turned_off_by_someone_else_stays_off(collector_on: None) -> None:
    gc.disable()
    seen: list[bool] = []
    _get(_app(seen))
    assert seen == [False] and not gc.isenabled()


def test_concurrent_pauses_resume_when_the_last_one_ends(collector_on: None) -> None:
    first, second = gc_paused(), gc_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled()  # the second request is still being answered
    second.__exit__(None, None, None)
    assert gc.isenabled()
