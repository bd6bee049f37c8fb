"""Emulator answers validate against CVAT 2.73's OpenAPI schema.

The traffic is the full replay of the recordings (every recorded endpoint and error) plus a
few extra calls; every JSON answer whose status the schema documents is validated.
"""

from __future__ import annotations

from typing import Any

import requests

from annosync.emulator import Emulator

from . import media_factory
from .conftest import CAR, Api
from .replay import Replayer, replay_emulator
from .schema_check import SchemaReport


def test_replayed_answers_match_the_schema() -> None:
    report = SchemaReport()
    for folder in ("recordings", "recordings2"):
        with replay_emulator(folder) as emu:
            replayer = Replayer(emu, folder, on_response=report.check)
            replayer.run()
    print(f"\nschema: {report.validated} JSON answers validated, "
          f"{len(report.undocumented_status)} with statuses the schema does not document, "
          f"{len(report.unknown_path)} on paths outside the schema")
    assert report.validated > 200
    assert not report.errors, "\n".join(report.errors)


def test_other_endpoints_match_the_schema() -> None:
    """Endpoints the recordings do not reach (or reach little), called the way clients do."""
    report = SchemaReport()
    with Emulator(users=["alice"]) as emu:
        api = Api(emu.url, emu.admin_username, emu.admin_password)
        plain_call = api.call

        def call(method: str, path: str, **kwargs: Any) -> requests.Response:
            resp = plain_call(method, path, **kwargs)
            ctype = resp.headers.get("content-type", "")
            body = resp.json() if "json" in ctype and resp.content else None
            report.check(method, path.split("?")[0], resp.status_code, ctype, body)
            return resp

        api.call = call  # type: ignore[method-assign]
        emu.add_bucket("b", {"x.jpg": media_factory.jpeg(10, 10)})
        api.get("/api/server/plugins")
        api.get("/api/users")
        alice = api.get("/api/users", params={"username": "alice"})["results"][0]
        api.get(f"/api/users/{alice['id']}")
        api.patch(f"/api/users/{alice['id']}", json={"first_name": "Alice"})
        token = api.post("/api/auth/access_tokens", json={"name": "t"})
        api.get(f"/api/auth/access_tokens/{token['id']}")
        api.patch(f"/api/auth/access_tokens/{token['id']}", json={"name": "t2"})
        org = api.post("/api/organizations", json={"slug": "o"})
        api.get(f"/api/organizations/{org['id']}")
        api.patch(f"/api/organizations/{org['id']}", json={"name": "O"})
        members = api.get("/api/memberships", params={"org_id": org["id"]})
        api.get(f"/api/memberships/{members['results'][0]['id']}")
        storage = api.post("/api/cloudstorages", json={
            "provider_type": "AWS_S3_BUCKET", "resource": "b", "display_name": "b",
            "credentials_type": "ANONYMOUS_ACCESS"})
        api.get("/api/cloudstorages")
        api.get(f"/api/cloudstorages/{storage['id']}")
        api.patch(f"/api/cloudstorages/{storage['id']}", json={"display_name": "bb"})
        api.get(f"/api/cloudstorages/{storage['id']}/status")
        api.get(f"/api/cloudstorages/{storage['id']}/content-v2")
        project = api.post("/api/projects", json={"name": "p", "labels": [CAR]})
        task = api.task(name="t", images=3, segment_size=2, project_id=project["id"])
        labels = api.get("/api/labels", params={"project_id": project["id"]})
        label = labels["results"][0]
        api.get(f"/api/labels/{label['id']}")
        api.get("/api/labels", params={"task_id": task["id"]})
        job = api.jobs(task["id"])[0]
        api.get("/api/labels", params={"job_id": job["id"]})
        api.get(f"/api/jobs/{job['id']}")
        api.get(f"/api/jobs/{job['id']}/data/meta")
        api.patch(f"/api/jobs/{job['id']}", json={"assignee": alice["id"], "stage": "validation"})
        api.get(f"/api/tasks/{task['id']}/status")
        shape = {"type": "rectangle", "frame": 0, "label_id": label["id"], "points": [0, 0, 1, 1]}
        api.patch(f"/api/jobs/{job['id']}/annotations", params={"action": "create"},
                  json={"shapes": [shape]})
        api.get(f"/api/jobs/{job['id']}/annotations")
        api.put(f"/api/jobs/{job['id']}/annotations", json={"shapes": [shape]})
        rq = api.post(f"/api/projects/{project['id']}/dataset/export", expect=202,
                      params={"format": "CVAT for images 1.1", "save_images": "false"})
        api.wait(rq["rq_id"])
        api.get("/api/requests")
        api.get("/api/requests", params={"action": "export"})
        api.call("DELETE", f"/api/jobs/{job['id']}/annotations")
        api.call("DELETE", f"/api/cloudstorages/{storage['id']}")
        api.call("DELETE", f"/api/auth/access_tokens/{token['id']}")
    print(f"\nschema: {report.validated} extra JSON answers validated")
    assert report.validated >= 35
    assert not report.errors, "\n".join(report.errors)
    assert not report.unknown_path, report.unknown_path
