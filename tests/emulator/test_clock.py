"""The emulator's injectable clock: every date it writes, compares or expires comes from it.

These tests run the server on fixed fake clocks (years before and after today) on purpose: the
answers must depend on the server's "now", never on the machine's calendar.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest

from annosync.emulator import Emulator, clock_from
from annosync.emulator.state import Clock

from .conftest import Api

PAST = datetime(2001, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
FUTURE = datetime(2093, 9, 10, 11, 12, 13, tzinfo=timezone.utc)


def test_clock_from_starts_at_the_given_moment_and_moves_forward() -> None:
    clock = Clock(clock_from(PAST))
    first, second = clock.now(), clock.now()
    assert PAST <= first < PAST + timedelta(seconds=5)
    assert second > first


def test_naive_start_is_taken_as_utc() -> None:
    assert clock_from(datetime(2030, 1, 1))().tzinfo is not None


@pytest.mark.parametrize("start", [PAST, FUTURE], ids=["2001", "2093"])
def test_server_dates_and_cookie_expiry_follow_the_injected_clock(start: datetime) -> None:
    with Emulator(clock=clock_from(start)) as emu:
        api = Api(emu.url, emu.admin_username, emu.admin_password)
        project = api.post("/api/projects", json={"name": "p", "labels": []})
        created = datetime.fromisoformat(project["created_date"].replace("Z", "+00:00"))
        assert start <= created < start + timedelta(minutes=1)
        login = api.http.post(f"{emu.url}/api/auth/login", json={
            "username": emu.admin_username, "password": emu.admin_password})
        expires = [part.split("=", 1)[1] for cookie in login.raw.headers.getlist("set-cookie")
                   for part in cookie.split("; ") if part.startswith("expires=")]
        assert expires and all(
            parsedate_to_datetime(e) > start and parsedate_to_datetime(e) < start + timedelta(days=400)
            for e in expires)


@pytest.mark.parametrize("start", [PAST, FUTURE], ids=["2001", "2093"])
def test_token_expiry_is_judged_by_the_servers_now(start: datetime) -> None:
    """An expiry two days after the server's now works; one a day before it is refused."""
    with Emulator(clock=clock_from(start)) as emu:
        api = Api(emu.url, emu.admin_username, emu.admin_password)
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        fresh = api.post("/api/auth/access_tokens", json={
            "name": "fresh", "read_only": True,
            "expiry_date": (start + timedelta(days=2)).strftime(stamp)})
        stale = api.post("/api/auth/access_tokens", json={
            "name": "stale", "read_only": True,
            "expiry_date": (start - timedelta(days=1)).strftime(stamp)})
        for token, status in ((fresh, 200), (stale, 401)):
            resp = api.http.get(f"{emu.url}/api/users/self", headers={
                "Authorization": f"Bearer {token['value']}"})
            assert resp.status_code == status, resp.text
