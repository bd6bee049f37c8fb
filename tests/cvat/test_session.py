"""Transport: timeouts on every call, retries with backoff only where repeating is safe."""

from __future__ import annotations

import pytest
from cvat_fake import FakeCvat, Reply, connection_dropped, connection_refused, read_timeout

from annosync.cvat import (
    CvatClient,
    CvatConnectionError,
    CvatServerError,
    CvatTimeout,
    RetryPolicy,
    Timeouts,
)
from annosync.cvat.session import Transport


def test_every_call_has_connect_and_read_timeouts(client: CvatClient, fake: FakeCvat) -> None:
    client.login()
    client.list_projects()
    assert fake.calls
    for call in fake.calls:
        connect, read = call.timeout
        assert 0 < connect <= 60 and 0 < read <= 600


def test_custom_timeouts(make_client, fake: FakeCvat) -> None:
    c = make_client(timeout=(3, 7))
    c.login()
    assert all(call.timeout == (3.0, 7.0) for call in fake.calls)
    assert Timeouts.coerce(5) == Timeouts(5.0, 5.0, 600.0)


def test_get_retried_on_503_with_backoff(client: CvatClient, fake: FakeCvat, clock) -> None:
    client.login()
    fake.fault(r"^/api/projects$", method="GET", times=2, status=503)
    assert client.list_projects() == []
    gets = [c for c in fake.calls if c.path == "/api/projects"]
    assert len(gets) == 3
    # exponential backoff with jitter: 0.1*2**(n-1) minus up to half of it
    assert 0.05 <= clock.sleeps[0] <= 0.1 and 0.1 <= clock.sleeps[1] <= 0.2


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_retried_statuses(client: CvatClient, fake: FakeCvat, status: int) -> None:
    client.login()
    fake.fault(r"^/api/tasks$", method="GET", times=1, status=status)
    assert client.list_tasks() == []


def test_retries_are_bounded(client: CvatClient, fake: FakeCvat) -> None:
    client.login()
    fake.fault(r"^/api/projects$", method="GET", times=100, status=502)
    with pytest.raises(CvatServerError) as info:
        client.list_projects()
    assert info.value.status == 502 and "Server Error (502)" in str(info.value)
    assert len([c for c in fake.calls if c.path == "/api/projects"]) == 4  # 1 + 3 retries


def test_retry_after_is_honoured_and_capped(client: CvatClient, fake: FakeCvat, clock) -> None:
    client.login()
    fake.fault(r"^/api/projects$", times=1,
               reply=Reply(503, json={"detail": "down"}, headers={"Retry-After": "3"}))
    fake.fault(r"^/api/tasks$", times=1,
               reply=Reply(503, json={"detail": "down"}, headers={"Retry-After": "9999"}))
    client.list_projects()
    client.list_tasks()
    assert clock.sleeps == [3.0, 20.0]  # 429 has its own rules: tests/cvat/test_throttle.py


def test_create_is_never_repeated_after_5xx(client: CvatClient, fake: FakeCvat) -> None:
    client.login()
    fake.fault(r"^/api/projects$", method="POST", times=1, status=503)
    with pytest.raises(CvatServerError):
        client.create_project("once")
    assert len([c for c in fake.calls if c.method == "POST" and c.path == "/api/projects"]) == 1
    assert fake.projects == {}


def test_create_is_never_repeated_after_a_dropped_connection(client: CvatClient,
                                                             fake: FakeCvat) -> None:
    client.login()
    fake.fault(r"^/api/tasks$", method="POST", times=1, exc=connection_dropped)
    with pytest.raises(CvatConnectionError) as info:
        client.create_task("once")
    assert "may have been processed" in str(info.value)
    assert len([c for c in fake.calls if c.method == "POST"]) == 1  # one create, not repeated


def test_patch_is_never_repeated_after_timeout(client: CvatClient, fake: FakeCvat) -> None:
    client.login()
    p = client.create_project("x")
    fake.fault(r"^/api/projects/\d+$", method="PATCH", times=1, exc=read_timeout)
    with pytest.raises(CvatTimeout) as info:
        client.update_project(p["id"], name="y")
    assert "not repeated" in str(info.value)
    assert len([c for c in fake.calls if c.method == "PATCH"]) == 1


def test_post_repeated_when_never_sent(client: CvatClient, fake: FakeCvat) -> None:
    client.login()
    fake.fault(r"^/api/projects$", method="POST", times=2, exc=connection_refused)
    assert client.create_project("after refusals")["name"] == "after refusals"
    assert len(fake.projects) == 1


def test_get_repeated_after_dropped_connection_and_timeout(client: CvatClient,
                                                           fake: FakeCvat) -> None:
    client.login()
    fake.fault(r"^/api/jobs$", times=1, exc=connection_dropped)
    fake.fault(r"^/api/jobs$", times=1, exc=read_timeout)
    assert client.list_jobs() == []


def test_unreachable_server_gives_clear_error(client: CvatClient, fake: FakeCvat) -> None:
    fake.fault(r".*", times=100, exc=connection_refused)
    with pytest.raises(CvatConnectionError) as info:
        client.login()
    assert "cannot connect to https://cvat.example.com" in str(info.value)
    assert "after 4 attempts" in str(info.value)


def test_put_and_delete_are_retried(client: CvatClient, fake: FakeCvat) -> None:
    client.login()
    t = client.create_task("t", labels=[{"name": "a"}])
    fake.fault(r"/annotations/$", method="PUT", times=1, status=502)
    client.put_annotations({"shapes": [], "tags": [], "tracks": []}, task_id=t["id"])
    # the first DELETE succeeded but its answer was lost: the repeat gets 404 = done
    fake.fault(r"^/api/tasks/\d+$", method="DELETE", times=1, exc=connection_dropped)
    real = fake.handle

    def drop_after_delete(call):
        if call.method == "DELETE" and fake.faults[-1].times == 0 and t["id"] in fake.tasks:
            fake.tasks.pop(t["id"])
        return real(call)

    fake.adapter.handler = drop_after_delete
    assert client.delete_task(t["id"]) is False  # gone, though not by the last attempt


def test_pool_is_sized_for_threads() -> None:
    tr = Transport("https://cvat.example.com", pool_size=24)
    adapter = tr.session.get_adapter("https://cvat.example.com/api")
    assert adapter._pool_maxsize == 24  # type: ignore[attr-defined]
    assert tr.session.verify is True
    tr2 = Transport("https://cvat.example.com", verify="/etc/ssl/my-ca.pem")
    assert tr2.session.verify == "/etc/ssl/my-ca.pem"


def test_server_urls_are_rebased_onto_the_configured_url() -> None:
    tr = Transport("https://cvat.example.com/prefix")
    assert tr.url("/api/tasks") == "https://cvat.example.com/prefix/api/tasks"
    assert (tr.url("http://127.0.0.1:8080/api/tasks/1/dataset/download?rq_id=a%3Db")
            == "https://cvat.example.com/prefix/api/tasks/1/dataset/download?rq_id=a%3Db")


def test_retry_policy_coercion() -> None:
    assert RetryPolicy.coerce(0).retries == 0
    assert RetryPolicy.coerce(None) == RetryPolicy()
    policy = RetryPolicy(backoff=1, backoff_max=4, jitter=0)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 4]


def test_no_retries_configured(make_client, fake: FakeCvat) -> None:
    c = make_client(retries=0)
    c.login()
    fake.fault(r"^/api/projects$", times=1, status=503)
    with pytest.raises(CvatServerError):
        c.list_projects()


def test_redirected_writes_are_not_followed(client: CvatClient, fake: FakeCvat) -> None:
    from annosync.cvat import CvatBadRequest

    client.login()
    fake.fault(r"^/api/projects$", method="POST", times=1,
               reply=Reply(301, body=b"", headers={"Location": "https://other/api/projects"}))
    with pytest.raises(CvatBadRequest, match=r"redirected POST to another host \(https://other\)"):
        client.create_project("x")
    assert fake.projects == {}


def test_urls_with_secrets_or_bad_schemes_are_refused() -> None:
    from annosync.cvat import CvatError

    with pytest.raises(CvatError) as info:
        Transport("https://admin:hunter2@cvat.example.com")
    assert "hunter2" not in str(info.value)
    for bad in ("ftp://cvat.example.com", "https://", "cvat.example.com"):
        with pytest.raises(CvatError):
            Transport(bad)
