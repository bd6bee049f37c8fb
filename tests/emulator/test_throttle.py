"""CVAT's rate limits (DRF throttles) in the emulator: off by default, exact when on."""

from __future__ import annotations

import pytest
import requests

from annosync.emulator import Emulator
from annosync.emulator.throttle import parse_rate

from .conftest import CVAT_JSON

LOGIN = {"username": "alice", "password": "alice-password-1"}


class Timer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def login(url: str, **headers: str) -> requests.Response:
    return requests.post(f"{url}/api/auth/login", json=LOGIN,
                         headers={"Accept": CVAT_JSON, **headers}, timeout=10)


def test_off_by_default(emu: Emulator) -> None:
    assert not emu.throttle.enabled
    for _ in range(120):  # more than CVAT's 100 anonymous requests a minute
        assert requests.get(f"{emu.url}/api/server/about", timeout=10).status_code == 200


def test_rates_parse_like_drf() -> None:
    assert parse_rate("100/minute") == (100, 60)
    assert parse_rate("5/s") == (5, 1)
    assert parse_rate("1000/day") == (1000, 86400)
    with pytest.raises(ValueError):
        parse_rate("lots")


def test_anonymous_requests_login_included_are_throttled_like_cvat() -> None:
    timer = Timer()
    with Emulator(users=["alice"], throttle={"anon": "5/minute"}) as emu:
        emu.throttle.timer = timer
        for _ in range(5):
            assert login(emu.url).status_code == 200
            timer.now += 1
        resp = login(emu.url)
        assert resp.status_code == 429
        # DRF: (60 s - age of the oldest of the 5) / (5 - 5 + 1), rounded up
        assert resp.json() == {"detail": "Request was throttled. Expected available in 55 "
                                         "seconds."}
        assert resp.headers["Retry-After"] == "55"
        assert requests.get(f"{emu.url}/api/server/about", timeout=10).status_code == 429
        # authenticated requests are not anonymous: never counted by this throttle
        key = login(emu.url, **{"X-Forwarded-For": "10.0.0.9"}).json()["key"]
        auth = {"Authorization": f"Token {key}", "Accept": CVAT_JSON}
        for _ in range(10):
            assert requests.get(f"{emu.url}/api/users/self", headers=auth,
                                timeout=10).status_code == 200
        # an unauthenticated request to a protected URL is refused (401) before throttling
        assert requests.get(f"{emu.url}/api/tasks", timeout=10).status_code == 401
        timer.now += 55
        assert login(emu.url).status_code == 200


def test_user_throttle_counts_per_user() -> None:
    timer = Timer()
    with Emulator(users=["alice"], throttle={"user": "3/minute"}) as emu:
        emu.throttle.timer = timer
        key = login(emu.url).json()["key"]  # anonymous: counted under the address
        auth = {"Authorization": f"Token {key}", "Accept": CVAT_JSON}
        codes = [requests.get(f"{emu.url}/api/users/self", headers=auth, timeout=10).status_code
                 for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        admin = requests.get(f"{emu.url}/api/users/self", auth=("admin", "admin-password-1"),
                             headers={"Accept": CVAT_JSON}, timeout=10)
        assert admin.status_code == 200  # another user, another budget


def test_unknown_scope_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown throttle scope"):
        Emulator(throttle={"burst": "1/s"})
