"""REST plumbing: content negotiation, authentication, pagination and fault injection."""

from __future__ import annotations

import time

import pytest
import requests

from annosync.emulator import Emulator

from .conftest import CVAT_JSON, Api

ADMIN = ("admin", "admin-password-1")


def test_about_and_formats(emu: Emulator, api: Api) -> None:
    about = api.get("/api/server/about")
    assert about["version"] == "2.73.0"
    formats = api.get("/api/server/annotation/formats")
    assert "CVAT for images 1.1" in {f["name"] for f in formats["exporters"]}
    assert "CVAT 1.1" in {f["name"] for f in formats["importers"]}


def test_content_negotiation(emu: Emulator) -> None:
    resp = requests.get(f"{emu.url}/api/projects", auth=ADMIN, headers={"Accept": CVAT_JSON})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == CVAT_JSON
    assert resp.headers["x-request-id"]
    assert b", " not in resp.content and b": " not in resp.content  # compact JSON

    resp = requests.get(f"{emu.url}/api/projects", auth=ADMIN,
                        headers={"Accept": "application/json"})
    assert (resp.status_code, resp.json()) == (
        406, {"detail": "Could not satisfy the request Accept header."})

    resp = requests.post(f"{emu.url}/api/projects", auth=ADMIN, data={"name": "x"})
    assert resp.status_code == 415
    assert resp.json() == {
        "detail": 'Unsupported media type "application/x-www-form-urlencoded" in request.'}

    resp = requests.get(f"{emu.url}/api/projects/", auth=ADMIN)
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("text/html")

    resp = requests.post(f"{emu.url}/api/projects", auth=ADMIN, json={"name": "p"})
    assert resp.status_code == 201
    assert resp.headers["location"] == f"{emu.url}/api/projects/{resp.json()['id']}"


def test_session_login_requires_csrf(emu: Emulator) -> None:
    http = requests.Session()
    resp = http.post(f"{emu.url}/api/auth/login",
                     json={"email": "alice@example.com", "password": "alice-password-1"})
    assert resp.status_code == 200 and len(resp.json()["key"]) == 40
    assert {"csrftoken", "sessionid"} <= set(http.cookies.get_dict())
    assert http.get(f"{emu.url}/api/users/self").json()["username"] == "alice"

    resp = http.post(f"{emu.url}/api/projects", json={"name": "x"})
    assert (resp.status_code, resp.json()) == (403, {"detail": "CSRF Failed: CSRF token missing."})
    resp = http.post(f"{emu.url}/api/projects", json={"name": "x"},
                     headers={"X-CSRFToken": http.cookies["csrftoken"]})
    assert resp.status_code == 201

    bad = requests.post(f"{emu.url}/api/auth/login",
                        json={"username": "alice", "password": "wrong"})
    assert bad.status_code == 400


def test_token_basic_and_personal_access_tokens(emu: Emulator, api: Api) -> None:
    assert requests.get(f"{emu.url}/api/users/self", auth=ADMIN).json()["is_superuser"] is True

    resp = requests.get(f"{emu.url}/api/users/self", headers={"Authorization": "Token nope"})
    assert (resp.status_code, resp.json(), resp.headers["www-authenticate"]) == (
        401, {"detail": "Invalid token."}, "Token")
    resp = requests.get(f"{emu.url}/api/users/self")
    assert resp.status_code == 401

    read_only = api.post("/api/auth/access_tokens", json={"name": "ro"})
    writer = api.post("/api/auth/access_tokens", json={"name": "rw", "read_only": False})
    assert read_only["read_only"] is True and writer["read_only"] is False

    def as_token(token: dict[str, str], method: str, path: str) -> requests.Response:
        return requests.request(method, emu.url + path, json={"name": "t"},
                                headers={"Authorization": f"Bearer {token['value']}"})

    assert as_token(read_only, "GET", "/api/users/self").status_code == 200
    assert as_token(read_only, "POST", "/api/projects").status_code == 403
    assert as_token(writer, "POST", "/api/projects").status_code == 201
    me = as_token(writer, "GET", "/api/auth/access_tokens/self").json()
    assert me["name"] == "rw" and "value" not in me
    listed = api.get("/api/auth/access_tokens")
    assert {t["name"] for t in listed["results"]} == {"ro", "rw"}

    assert api.post("/api/auth/logout", expect=200) == {"detail": "Successfully logged out."}
    assert api.call("GET", "/api/users/self").status_code == 401


def test_users_listing(emu: Emulator, api: Api) -> None:
    emu.add_user("bob", email="bob@corp.example")
    found = api.get("/api/users", params={"search": "bo"})
    assert [u["username"] for u in found["results"]] == ["bob"]
    assert api.get("/api/users", params={"username": "alice"})["count"] == 1
    with pytest.raises(ValueError):
        emu.add_user("bob")


def test_pagination(emu: Emulator, api: Api) -> None:
    for i in range(5):
        api.post("/api/projects", json={"name": f"p{i}"})
    first = api.get("/api/projects", params={"page_size": 2, "search": "p"})
    assert first["count"] == 5 and len(first["results"]) == 2
    assert first["previous"] is None
    assert first["next"] == f"{emu.url}/api/projects?page=2&page_size=2&search=p"
    second = api.get("/api/projects", params={"page": 2, "page_size": 2, "search": "p"})
    assert second["previous"] == f"{emu.url}/api/projects?page_size=2&search=p"
    last = api.get("/api/projects", params={"page": 3, "page_size": 2, "search": "p"})
    assert last["next"] is None and len(last["results"]) == 1
    names = [p["name"] for page in (first, second, last) for p in page["results"]]
    assert sorted(names) == [f"p{i}" for i in range(5)] and len(set(names)) == 5
    past = api.call("GET", "/api/projects", params={"page": 4, "page_size": 2})
    assert (past.status_code, past.json()) == (404, {"detail": "Invalid page."})
    assert api.get("/api/projects", params={"name": "p3"})["count"] == 1


def test_fault_status_times(emu: Emulator, api: Api) -> None:
    emu.faults.add(method="GET", path=r"^/api/jobs", status=503, times=2)
    assert [api.call("GET", "/api/jobs").status_code for _ in range(3)] == [503, 503, 200]
    assert api.call("GET", "/api/projects").status_code == 200
    emu.faults.add(path=r"^/api/projects$", status=500)  # times=None: forever
    assert api.call("GET", "/api/projects").status_code == 500
    assert api.call("GET", "/api/projects").status_code == 500
    emu.faults.clear()
    assert api.call("GET", "/api/projects").status_code == 200


def test_fault_latency_and_drop(emu: Emulator, api: Api) -> None:
    emu.faults.add(path=r"^/api/server/about$", latency=0.3, times=1)
    started = time.monotonic()
    assert api.call("GET", "/api/server/about").status_code == 200
    assert time.monotonic() - started >= 0.3

    emu.faults.add(method="POST", path=r"^/api/projects$", drop=True, times=1)
    with pytest.raises(requests.ConnectionError):
        api.call("POST", "/api/projects", json={"name": "lost"})
    assert api.get("/api/projects")["count"] == 0  # a dropped request does nothing
    assert api.call("POST", "/api/projects", json={"name": "kept"}).status_code == 201


def test_organizations_scope(emu: Emulator, api: Api) -> None:
    org = api.post("/api/organizations", json={"slug": "acme", "name": "Acme"})
    api.post("/api/projects", json={"name": "personal"})
    api.post("/api/projects", json={"name": "org"}, headers={"X-Organization": "acme"})
    in_org = api.get("/api/projects", headers={"X-Organization": "acme"})
    assert [p["name"] for p in in_org["results"]] == ["org"]
    assert in_org["results"][0]["organization"] == org["id"]
    by_query = api.get("/api/projects", params={"org_id": org["id"]})
    assert [p["name"] for p in by_query["results"]] == ["org"]
    assert api.get("/api/projects", params={"org": ""})["results"][0]["name"] == "personal"
