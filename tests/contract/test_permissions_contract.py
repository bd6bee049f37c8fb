"""CVAT's IAM rules as a client meets them, on the emulator or a real server.

Outside an organization (the sandbox) a task belongs to its staff: its owner and assignee, its
project's owner and assignee; a job's assignee works on that job only; a regular user lists
only themselves among users. Each 403 the client raises says which permission is missing.

On a real server, two regular users with known passwords are needed: the first two of
``ANNOSYNC_TEST_CVAT_USERS`` (``name:password,...``); without them the test is skipped.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator

import pytest
from PIL import Image

from annosync.cvat import Credentials, CvatClient, CvatForbidden

from .conftest import Server

EMPTY = {"version": 0, "tags": [], "shapes": [], "tracks": []}


def two_users(server: Server) -> list[tuple[str, str]]:
    if server.emulator is not None:
        return [("alice", "alice-password-1"), ("bob", "bob-password-1")]
    given = [u.strip() for u in os.environ.get("ANNOSYNC_TEST_CVAT_USERS", "").split(",")
             if ":" in u]
    if len(given) < 2:
        pytest.skip("needs two regular users with passwords in ANNOSYNC_TEST_CVAT_USERS")
    return [(u.split(":", 1)[0], u.split(":", 1)[1]) for u in given[:2]]


@pytest.fixture
def users(cvat_server: Server, connect: Callable[..., CvatClient]) -> Iterator[
        tuple[CvatClient, CvatClient]]:
    (a, pa), (b, pb) = two_users(cvat_server)
    yield (connect(credentials=Credentials(username=a, password=pa)),
           connect(credentials=Credentials(username=b, password=pb)))


def jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (i * 60 % 256, 90, 120)).save(buf, format="JPEG")
    return buf.getvalue()


def test_sandbox_rules_and_what_the_client_says(users: tuple[CvatClient, CvatClient],
                                                name: Callable[[str], str]) -> None:
    alice, bob = users
    task = alice.create_task(name("iam"), labels=[{"name": "car", "attributes": []}],
                             segment_size=1)
    try:
        alice.upload_task_data(task["id"], [("a.jpg", jpeg(1)), ("b.jpg", jpeg(2))],
                               image_quality=70)
        assert task["id"] not in {t["id"] for t in bob.list_tasks(search=name("iam"))}
        with pytest.raises(CvatForbidden) as info:
            bob.get_task(task["id"])
        assert "seeing a task" in str(info.value)
        with pytest.raises(CvatForbidden) as info:
            bob.put_annotations(EMPTY, task_id=task["id"])
        assert "changing a task's annotations only to its owner or assignee" in str(info.value)

        # a job assignee may work on the job, not on the rest of the task
        job = min(j["id"] for j in alice.list_jobs(task_id=task["id"]))
        bob_id = bob.get_self()["id"]
        alice.update_job(job, assignee=bob_id)
        assert bob.get_annotations(job_id=job)["shapes"] == []
        bob.patch_annotations("create", EMPTY, job_id=job)
        with pytest.raises(CvatForbidden) as info:
            bob.update_job(job, assignee=None)
        assert "assigning a job" in str(info.value)

        # outside an organization a regular user sees only themselves
        assert [u["id"] for u in bob.list_users()] == [bob_id]
    finally:
        alice.delete_task(task["id"], missing_ok=True)
