"""HTTP 429: CVAT's rate limits (DRF throttles, checked before the view runs) on every request.

The defect (issue 12): under a test run or several runs at once, login failed with ``HTTP 429:
Request was throttled. Expected available in 1 second.`` A throttled request did nothing on
the server, so the client waits as told (``Retry-After``) and repeats it, whatever the method,
within its bounded total wait.
"""

from __future__ import annotations

import pytest
from cvat_fake import FakeCvat, Reply

from annosync.cvat import Credentials, CvatClient, CvatError, RetryPolicy


def throttled(seconds: int) -> Reply:
    unit = "second" if seconds == 1 else "seconds"
    return Reply(429, json={"detail": f"Request was throttled. Expected available in "
                                      f"{seconds} {unit}."},
                 headers={"Retry-After": str(seconds)})


def test_login_waits_out_the_anonymous_throttle(make_client, fake: FakeCvat, clock) -> None:
    # more 429s in a row than the retry count for errors (3): throttling has its own bound
    fake.fault(r"^/api/auth/login$", method="POST", times=6, reply=throttled(1))
    client: CvatClient = make_client(credentials=Credentials(username="admin",
                                                             password="secret"))
    client.login()
    logins = [c for c in fake.calls if c.path == "/api/auth/login"]
    assert len(logins) == 7
    assert len(clock.sleeps) == 6 and all(1.0 <= s <= 1.2 for s in clock.sleeps)


def test_a_throttled_create_is_repeated_and_creates_once(client: CvatClient, fake: FakeCvat,
                                                         clock) -> None:
    client.login()
    fake.fault(r"^/api/projects$", method="POST", times=2, reply=throttled(2))
    assert client.create_project("once")["name"] == "once"
    assert len(fake.projects) == 1
    assert [round(s) for s in clock.sleeps] == [2, 2]


def test_throttled_without_retry_after_backs_off(client: CvatClient, fake: FakeCvat,
                                                 clock) -> None:
    client.login()
    fake.fault(r"^/api/jobs$", times=5, reply=Reply(429, json={"detail": "slow down"}))
    assert client.list_jobs() == []
    assert len(clock.sleeps) == 5 and all(s > 0 for s in clock.sleeps)


def test_the_wait_is_bounded_and_the_error_says_so(make_client, fake: FakeCvat,
                                                   clock) -> None:
    client = make_client(retries=RetryPolicy(retries=3, backoff=0.1, max_total=30.0))
    client.login()
    fake.fault(r"^/api/tasks$", times=1000, reply=throttled(7))
    with pytest.raises(CvatError) as info:
        client.list_tasks()
    assert info.value.status == 429 and type(info.value).__name__ == "CvatThrottled"
    assert sum(clock.sleeps) <= 30.0
    text = str(info.value)
    assert "HTTP 429" in text and "throttled" in text and "Expected available in 7" in text
    assert "\n" not in text


def test_a_retry_after_beyond_the_bound_fails_at_once(client: CvatClient, fake: FakeCvat,
                                                      clock) -> None:
    client.login()
    fake.fault(r"^/api/tasks$", times=1, reply=throttled(9999))
    with pytest.raises(CvatError) as info:
        client.list_tasks()
    assert info.value.status == 429 and clock.sleeps == []
