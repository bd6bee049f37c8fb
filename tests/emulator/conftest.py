"""Fixtures for emulator tests: a running emulator and a tiny token-authenticated HTTP client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from annosync.emulator import Emulator

from . import media_factory

CVAT_JSON = "application/vnd.cvat+json"


class Api:
    """``requests`` with CVAT's headers; ``call`` returns the response, helpers return JSON."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.headers["Accept"] = CVAT_JSON
        resp = self.http.post(f"{url}/api/auth/login",
                              json={"username": username, "password": password})
        assert resp.status_code == 200, resp.text
        self.key = resp.json()["key"]
        self.http.cookies.clear()
        self.http.headers["Authorization"] = f"Token {self.key}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, self.url + path, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        resp = self.call("GET", path, **kwargs)
        assert resp.status_code == 200, (path, resp.status_code, resp.text)
        return resp.json()

    def post(self, path: str, expect: int = 201, **kwargs: Any) -> Any:
        resp = self.call("POST", path, **kwargs)
        assert resp.status_code == expect, (path, resp.status_code, resp.text)
        return resp.json() if resp.content else None

    def patch(self, path: str, expect: int = 200, **kwargs: Any) -> Any:
        resp = self.call("PATCH", path, **kwargs)
        assert resp.status_code == expect, (path, resp.status_code, resp.text)
        return resp.json() if resp.content else None

    def put(self, path: str, expect: int = 200, **kwargs: Any) -> Any:
        resp = self.call("PUT", path, **kwargs)
        assert resp.status_code == expect, (path, resp.status_code, resp.text)
        return resp.json() if resp.content else None

    def wait(self, rq_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """Poll ``/api/requests/<rq_id>`` until it is finished or failed."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.get(f"/api/requests/{quote(rq_id, safe='')}")
            if body["status"] in ("finished", "failed"):
                return dict(body)
            assert time.monotonic() < deadline, body
            time.sleep(0.02)

    # -- building blocks ------------------------------------------------------------------

    def task(self, labels: list[dict[str, Any]] | None = None, *, name: str = "t",
             images: int = 0, segment_size: int | None = None, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, **extra}
        if labels is not None:
            body["labels"] = labels
        if segment_size is not None:
            body["segment_size"] = segment_size
        task = self.post("/api/tasks", json=body)
        if images:
            files = {f"client_files[{i}]": (f"img_{i:03d}.jpg", media_factory.jpeg(64, 48, i),
                                            "image/jpeg") for i in range(images)}
            rq = self.post(f"/api/tasks/{task['id']}/data", expect=202,
                           data={"image_quality": "70"}, files=files)
            assert self.wait(rq["rq_id"])["status"] == "finished"
            task = self.get(f"/api/tasks/{task['id']}")
        return dict(task)

    def jobs(self, task_id: int) -> list[dict[str, Any]]:
        return list(self.get("/api/jobs", params={"task_id": task_id, "page_size": 100})["results"])

    def labels(self, task_id: int) -> dict[str, dict[str, Any]]:
        found = self.get("/api/labels", params={"task_id": task_id, "page_size": 100})["results"]
        return {label["name"]: label for label in found}


CAR = {"name": "car", "attributes": [
    {"name": "color", "mutable": False, "input_type": "select", "default_value": "red",
     "values": ["red", "blue"]},
    {"name": "moving", "mutable": True, "input_type": "checkbox", "default_value": "false",
     "values": ["false"]},
    {"name": "note", "mutable": True, "input_type": "text", "values": []},
]}
PERSON = {"name": "person", "attributes": [
    {"name": "label_id", "mutable": True, "input_type": "text", "values": []},
]}
TRUCK = {"name": "truck", "attributes": [
    {"name": "color", "mutable": False, "input_type": "select", "default_value": "red",
     "values": ["red", "blue"]},
    {"name": "moving", "mutable": True, "input_type": "checkbox", "default_value": "false",
     "values": ["false"]},
    {"name": "note", "mutable": True, "input_type": "text", "values": []},
]}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(users=["alice"]) as server:
        yield server


@pytest.fixture
def api(emu: Emulator) -> Api:
    return Api(emu.url, emu.admin_username, emu.admin_password)
