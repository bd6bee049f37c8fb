"""The emulator's webhooks: CVAT 2.73's endpoints (schema-checked) and deliveries as CVAT sends
them (``cvat/apps/webhooks``: JSON body, ``X-Signature-256`` HMAC-SHA256, payload shape)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from annosync.emulator import Emulator

from .conftest import CAR, Api
from .schema_check import SchemaReport


class Catcher:
    """A webhook target that records every POST (headers, raw body)."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.cond = threading.Condition()
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with catcher.cond:
                    catcher.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    catcher.cond.notify_all()
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n: int, timeout: float = 10.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.got) < n and time.monotonic() < deadline:
                self.cond.wait(0.05)
            return list(self.got)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.got]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def catcher() -> Iterator[Catcher]:
    c = Catcher()
    yield c
    c.close()


def recorded(emu: Emulator, n: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(emu.state.deliveries) < n:
        assert time.monotonic() < deadline, f"{len(emu.state.deliveries)} deliveries recorded"
        time.sleep(0.01)


def checked(api: Api, report: SchemaReport) -> Api:
    plain = api.call

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        resp = plain(method, path, **kwargs)
        ctype = resp.headers.get("content-type", "")
        body = resp.json() if "json" in ctype and resp.content else None
        report.check(method, path.split("?")[0], resp.status_code, ctype, body)
        return resp

    api.call = call  # type: ignore[method-assign]
    return api


def test_deliveries_are_signed_and_shaped_like_cvats(emu: Emulator, api: Api,
                                                     catcher: Catcher) -> None:
    report = SchemaReport()
    checked(api, report)
    project = api.post("/api/projects", json={"name": "p", "labels": [CAR]})
    task = api.task(name="t", images=2, segment_size=1, project_id=project["id"])
    job = api.jobs(task["id"])[0]
    hook = api.post("/api/webhooks", json={
        "target_url": catcher.url, "type": "project", "project_id": project["id"],
        "events": ["update:job", "update:task"], "secret": "mykey", "description": "d"})
    assert hook["events"] == ["update:job", "update:task"] and "secret" not in hook
    assert "last_status" not in hook and hook["organization"] is None
    label = api.labels(task["id"])["car"]
    shape = {"type": "rectangle", "frame": 0, "label_id": label["id"], "points": [0, 0, 4, 4]}
    api.patch(f"/api/jobs/{job['id']}/annotations", params={"action": "create"},
              json={"shapes": [shape]})
    got = catcher.wait(2)
    assert [json.loads(b)["event"] for _, b in got] == ["update:job", "update:task"]
    headers, body = got[0]
    assert headers["content-type"] == "application/json"
    assert headers["x-signature-256"] == "sha256=" + hmac.new(
        b"mykey", body, hashlib.sha256).hexdigest()
    payload = json.loads(body)
    assert body == json.dumps(payload).encode()  # requests' json= body, byte for byte
    assert list(payload) == ["event", "job", "sender", "before_update", "webhook_id"]
    now = api.get(f"/api/jobs/{job['id']}")
    assert payload["job"] == now and payload["webhook_id"] == hook["id"]
    assert payload["sender"]["username"] == emu.admin_username
    assert payload["before_update"] == {"updated_date": job["updated_date"]}
    assert json.loads(got[1][1])["task"]["id"] == task["id"]

    api.patch(f"/api/jobs/{job['id']}", json={"stage": "acceptance", "state": "completed"})
    staged = catcher.wait(3)[2]
    event = json.loads(staged[1])
    assert event["job"]["status"] == "completed"
    assert set(event["before_update"]) == {"stage", "state", "status", "updated_date"}
    assert event["before_update"]["stage"] == "annotation"

    recorded(emu, 3)  # CVAT records a delivery once the target has answered
    deliveries = api.get(f"/api/webhooks/{hook['id']}/deliveries")
    assert [d["event"] for d in deliveries["results"]] == ["update:job", "update:task",
                                                           "update:job"][::-1]
    first = deliveries["results"][-1]
    assert (first["status_code"], first["response"], first["changed_fields"]) == (
        200, "ok", "updated_date")
    assert api.get(f"/api/webhooks/{hook['id']}/deliveries/{first['id']}")["request"] == payload
    pinged = api.post(f"/api/webhooks/{hook['id']}/ping", expect=200)
    assert pinged["event"] == "ping" and pinged["status_code"] == 200
    assert json.loads(catcher.wait(4)[3][1])["webhook"]["id"] == hook["id"]
    assert api.post(f"/api/webhooks/{hook['id']}/deliveries/{first['id']}/redelivery",
                    expect=200) == {}
    assert json.loads(catcher.wait(5)[4][1]) == payload
    recorded(emu, 5)
    again = api.get(f"/api/webhooks/{hook['id']}")
    assert again["last_status"] == 200 and again["last_delivery_date"]
    api.get("/api/webhooks")
    assert api.get("/api/webhooks/events", params={"type": "project"})["webhook_type"] == "project"
    api.patch(f"/api/webhooks/{hook['id']}", json={"is_active": False})
    api.patch(f"/api/jobs/{job['id']}", json={"state": "rejected"})
    resp = api.call("DELETE", f"/api/webhooks/{hook['id']}")
    assert resp.status_code == 204
    time.sleep(0.2)
    assert len(catcher.got) == 5  # inactive, then deleted: nothing sent
    assert not report.errors, "\n".join(report.errors)
    assert not report.unknown_path, report.unknown_path
    assert report.validated >= 10


def test_refusals(emu: Emulator, api: Api, catcher: Catcher) -> None:
    project = api.post("/api/projects", json={"name": "p", "labels": [CAR]})
    base = {"target_url": catcher.url, "type": "project", "project_id": project["id"]}
    resp = api.call("POST", "/api/webhooks", json={**base, "events": ["update:organization"]})
    assert (resp.status_code, resp.json()) == (
        400, {"non_field_errors": ["Invalid events list for project webhook"]})
    resp = api.call("POST", "/api/webhooks", json={**base, "events": ["update:thing"]})
    assert resp.json() == {"events": ['"update:thing" is not a valid choice.']}
    resp = api.call("POST", "/api/webhooks", json={"type": "project"})
    assert set(resp.json()) == {"target_url", "events"}
    resp = api.call("POST", "/api/webhooks", json={**base, "events": [], "target_url": "x"})
    assert resp.json() == {"target_url": ["Enter a valid URL."]}
    # an organization webhook needs an organization (the model's constraint: Django's 500)
    resp = api.call("POST", "/api/webhooks", json={"target_url": catcher.url,
                                                   "type": "organization", "events": []})
    assert resp.status_code == 500
    assert api.call("GET", "/api/webhooks/events", params={"type": "x"}).status_code == 400
    hook = api.post("/api/webhooks", json={**base, "events": ["update:job"]})
    alice = Api(emu.url, "alice", "alice-password-1")
    assert alice.call("POST", "/api/webhooks", json={**base, "events": []}).status_code == 403
    assert alice.call("GET", f"/api/webhooks/{hook['id']}").status_code == 404
    assert alice.get("/api/webhooks")["count"] == 0


def test_an_unreachable_target_is_recorded_as_502(emu: Emulator, api: Api) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nobody listens there
    project = api.post("/api/projects", json={"name": "p", "labels": [CAR]})
    hook = api.post("/api/webhooks", json={
        "target_url": f"http://127.0.0.1:{port}/", "type": "project",
        "project_id": project["id"], "events": ["update:job"]})
    pinged = api.post(f"/api/webhooks/{hook['id']}/ping", expect=200)
    assert pinged["status_code"] == 502
