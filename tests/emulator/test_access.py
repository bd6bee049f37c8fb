"""CVAT 2.73's IAM rules in the emulator (``cvat/apps/*/rules/*.rego``): privileges admin /
user / worker, organization roles owner / maintainer / supervisor / worker, task and project
owner and assignee, job assignee. Each case is a line of CVAT's own policy tables
(``cvat/apps/engine/rules/tests/configs/tasks.csv`` and the rego ``allow`` blocks)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from annosync.cvat import Credentials, CvatClient, CvatForbidden
from annosync.emulator import Emulator

from . import media_factory
from .conftest import CVAT_JSON


class As:
    """Requests as one user (basic auth), in an organization or the sandbox."""

    def __init__(self, emu: Emulator, name: str, org: str | None = None) -> None:
        self.url, self.auth, self.org = emu.url, (name, f"{name}-password-1"), org
        if name == "admin":
            self.auth = ("admin", "admin-password-1")

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Accept": CVAT_JSON}
        if self.org is not None:
            headers["X-Organization"] = self.org
        return requests.request(method, self.url + path, auth=self.auth, headers=headers,
                                timeout=30, **kw)

    def code(self, method: str, path: str, **kw: Any) -> int:
        return self.call(method, path, **kw).status_code

    def ids(self, path: str) -> set[int]:
        resp = self.call("GET", path, params={"page_size": 100})
        assert resp.status_code == 200, resp.text
        return {int(x["id"]) for x in resp.json()["results"]}


def make_task(who: As, name: str, **extra: Any) -> dict[str, Any]:
    resp = who.call("POST", "/api/tasks", json={
        "name": name, "labels": [] if "project_id" in extra else [{"name": "car"}],
        "segment_size": 1, **extra})
    assert resp.status_code == 201, resp.text
    task = resp.json()
    files = [("client_files[0]", ("a.jpg", media_factory.jpeg(32, 24), "image/jpeg")),
             ("client_files[1]", ("b.jpg", media_factory.jpeg(32, 24, seed=1), "image/jpeg"))]
    resp = who.call("POST", f"/api/tasks/{task['id']}/data", files=files,
                    data={"image_quality": 70})
    assert resp.status_code == 202, resp.text
    # as on CVAT, the task's jobs exist once its creation request has finished
    rq_path = f"/api/requests/{quote(resp.json()['rq_id'], safe='')}"
    for _ in range(100):
        status = who.call("GET", rq_path).json()["status"]
        if status in ("finished", "failed"):
            break
    assert status == "finished", status
    return task


@pytest.fixture(scope="module")
def iam() -> Iterator[Emulator]:
    emu = Emulator(users=["owner1", "other1", "maint1", "superv1", "orgwork1"])
    emu.add_user("worker1")
    with emu.state.lock:
        emu.state.user_by_name("worker1").groups = ["worker"]  # type: ignore[union-attr]
    with emu:
        boss = As(emu, "admin")
        org = boss.call("POST", "/api/organizations", json={"slug": "acme", "name": "Acme"})
        assert org.status_code == 201, org.text
        for name, role in (("maint1", "maintainer"), ("superv1", "supervisor"),
                           ("orgwork1", "worker"), ("worker1", "worker")):
            user = emu.state.user_by_name(name)
            assert user is not None
            with emu.state.lock:
                from annosync.emulator.state import Membership

                mid = emu.state.next_id("membership")
                emu.state.memberships[mid] = Membership(mid, user.id, org.json()["id"], role,
                                                        emu.state.now())
        yield emu


def test_sandbox_tasks_belong_to_their_staff(iam: Emulator) -> None:
    owner, other = As(iam, "owner1"), As(iam, "other1")
    task = make_task(owner, "t-sandbox")
    tid = task["id"]
    assert owner.code("GET", f"/api/tasks/{tid}") == 200
    assert tid not in other.ids("/api/tasks")                       # tasks.rego filter
    assert other.code("GET", f"/api/tasks/{tid}") == 403            # view: task staff only
    assert other.code("GET", f"/api/tasks/{tid}/annotations") == 403
    assert other.code("PUT", f"/api/tasks/{tid}/annotations",
                      json={"version": 0, "tags": [], "shapes": [], "tracks": []}) == 403
    assert other.code("DELETE", f"/api/tasks/{tid}") == 403
    assert owner.code("PATCH", f"/api/tasks/{tid}", json={"assignee_id": None}) == 200
    # the owner makes other1 assignee of one job: a job assignee works on that job only
    job = min(owner.ids(f"/api/jobs?task_id={tid}"))
    other_id = iam.state.user_by_name("other1").id  # type: ignore[union-attr]
    assert owner.code("PATCH", f"/api/jobs/{job}", json={"assignee": other_id}) == 200
    assert other.ids("/api/jobs") >= {job}
    assert other.code("GET", f"/api/jobs/{job}/annotations") == 200
    assert other.code("PATCH", f"/api/jobs/{job}/annotations", params={"action": "create"},
                      json={"version": 0, "tags": [], "shapes": [], "tracks": []}) == 200
    assert other.code("GET", f"/api/tasks/{tid}") == 403            # not task staff
    assert other.code("PATCH", f"/api/jobs/{job}", json={"assignee": None}) == 403
    assert As(iam, "admin").code("GET", f"/api/tasks/{tid}") == 200


def test_privileges_admin_user_worker(iam: Emulator) -> None:
    worker = As(iam, "worker1")
    assert worker.code("POST", "/api/tasks", json={"name": "w", "labels": [{"name": "x"}]}) == 403
    assert worker.code("POST", "/api/projects", json={"name": "w"}) == 403
    assert As(iam, "other1").code("POST", "/api/projects", json={"name": "p-other"}) == 201


def test_outside_an_organization_a_user_sees_only_themselves(iam: Emulator) -> None:
    other = As(iam, "other1")
    me = iam.state.user_by_name("other1").id  # type: ignore[union-attr]
    assert other.ids("/api/users") == {me}                          # users.rego filter
    owner_id = iam.state.user_by_name("owner1").id  # type: ignore[union-attr]
    assert other.code("GET", f"/api/users/{owner_id}") == 403
    assert len(As(iam, "admin").ids("/api/users")) >= 6
    members = As(iam, "orgwork1", org="acme").ids("/api/users")     # in an organization
    assert members == {iam.state.user_by_name(n).id  # type: ignore[union-attr]
                       for n in ("admin", "maint1", "superv1", "orgwork1", "worker1")}


def test_organization_roles(iam: Emulator) -> None:
    maint, superv = As(iam, "maint1", "acme"), As(iam, "superv1", "acme")
    orgwork = As(iam, "orgwork1", "acme")
    task = make_task(superv, "t-org")                               # supervisor may create
    tid = task["id"]
    assert orgwork.code("POST", "/api/tasks", json={"name": "x", "labels": [{"name": "x"}]}) \
        == 403                                                      # worker may not
    assert tid in maint.ids("/api/tasks")                           # maintainer sees all
    assert maint.code("PUT", f"/api/tasks/{tid}/annotations",
                      json={"version": 0, "tags": [], "shapes": [], "tracks": []}) == 200
    assert tid not in orgwork.ids("/api/tasks")                     # worker: own work only
    assert orgwork.code("GET", f"/api/tasks/{tid}") == 403
    assert As(iam, "other1", "acme").code("GET", "/api/tasks") == 403  # not a member
    assert As(iam, "superv1").code("GET", f"/api/tasks/{tid}") == 200  # its owner, sandbox
    orgwork_id = iam.state.user_by_name("orgwork1").id  # type: ignore[union-attr]
    job = min(superv.ids(f"/api/jobs?task_id={tid}"))
    assert superv.code("PATCH", f"/api/jobs/{job}", json={"assignee": orgwork_id}) == 200
    assert orgwork.code("GET", f"/api/jobs/{job}/annotations") == 200
    assert orgwork.code("DELETE", f"/api/tasks/{tid}") == 403
    assert maint.code("DELETE", f"/api/tasks/{tid}") == 204


def test_tasks_in_a_project(iam: Emulator) -> None:
    owner, other = As(iam, "owner1"), As(iam, "other1")
    project = owner.call("POST", "/api/projects", json={"name": "p-owner",
                                                        "labels": [{"name": "car"}]}).json()
    assert other.code("POST", "/api/tasks", json={"name": "x", "project_id": project["id"]}) \
        == 403                                                      # create@project: staff
    task = make_task(owner, "t-in-project", project_id=project["id"])
    other_id = iam.state.user_by_name("other1").id  # type: ignore[union-attr]
    assert owner.code("PATCH", f"/api/projects/{project['id']}",
                      json={"assignee_id": other_id}) == 200
    # the project's assignee is staff of its tasks
    assert other.code("GET", f"/api/tasks/{task['id']}/annotations") == 200
    assert other.code("DELETE", f"/api/tasks/{task['id']}") == 204  # project staff may delete
    assert other.code("DELETE", f"/api/projects/{project['id']}") == 403  # owner only


def test_the_client_says_which_permission_is_missing(iam: Emulator) -> None:
    task = make_task(As(iam, "owner1"), "t-message")
    creds = Credentials(username="other1", password="other1-password-1")
    with CvatClient(iam.url, creds) as client, pytest.raises(CvatForbidden) as info:
        client.put_annotations({"version": 0, "tags": [], "shapes": [], "tracks": []},
                               task_id=task["id"])
    text = str(info.value)
    assert "HTTP 403" in text and "changing a task's annotations" in text
    assert "its owner or assignee" in text and "\n" not in text
