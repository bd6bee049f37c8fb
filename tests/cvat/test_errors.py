"""Every error body shape a real CVAT 2.73 answered becomes a precise CvatError."""

from __future__ import annotations

import json
import pickle

import pytest
from cvat_fake import SHARED, recordings2

from annosync.cvat.errors import (
    CvatAuthError,
    CvatBadRequest,
    CvatConflict,
    CvatError,
    CvatForbidden,
    CvatNotFound,
    CvatServerError,
    describe_body,
    error_from_response,
)
from annosync.errors import AnnosyncError


def _recorded_errors() -> list[dict]:
    out = [e for e in recordings2() if e["status"] >= 400]
    with open(SHARED / "recordings" / "all.jsonl", encoding="utf-8") as fh:
        out += [e for e in map(json.loads, fh) if e["status"] >= 400 and "response_body" in e]
    return out


def _raw(exchange: dict) -> tuple[bytes, str | None]:
    body = exchange["response_body"]
    ctype = (exchange.get("response_headers") or {}).get("content-type")
    if body is None or body == "":
        return b"", ctype
    if isinstance(body, str):
        data = body if (ctype or "").startswith("text/") else json.dumps(body)
        return data.encode(), ctype
    return json.dumps(body).encode(), ctype


ERRORS = _recorded_errors()


@pytest.mark.parametrize("exchange", ERRORS, ids=lambda e: f"{e.get('seq', 'r1')}-{e['status']}")
def test_every_recorded_error_body_is_described(exchange: dict) -> None:
    content, ctype = _raw(exchange)
    err = error_from_response(exchange["status"], exchange["method"], exchange["path"],
                              content, ctype)
    assert isinstance(err, CvatError) and isinstance(err, AnnosyncError)
    assert err.status == exchange["status"]
    expected_cls = {401: CvatAuthError, 403: CvatForbidden, 404: CvatNotFound,
                    409: CvatConflict}.get(exchange["status"])
    if expected_cls is not None:
        assert type(err) is expected_cls
    elif exchange["status"] >= 500:
        assert type(err) is CvatServerError
    else:
        assert type(err) is CvatBadRequest
    text = str(err)
    assert exchange["method"] in text and exchange["path"].split("?")[0] in text
    assert f"HTTP {exchange['status']}" in text
    body = exchange["response_body"]
    if content:  # CVAT said something: its words are in the error
        assert err.detail
        if isinstance(body, dict) and "detail" in body:
            assert err.detail == body["detail"]
        if isinstance(body, list):
            assert all(str(m) in err.detail for m in body)
        if isinstance(body, str) and not (ctype or "").startswith("text/html"):
            assert body.strip().splitlines()[0][:40] in err.detail


def test_error_shapes_cover_what_the_server_sends() -> None:
    shapes = set()
    for e in ERRORS:
        body = e["response_body"]
        ctype = (e.get("response_headers") or {}).get("content-type") or ""
        if isinstance(body, dict):
            shapes.add("detail" if "detail" in body else "fields")
        elif isinstance(body, list):
            shapes.add("list")
        elif isinstance(body, str) and body:
            shapes.add("html" if "html" in ctype else "string")
    assert {"detail", "fields", "list", "html", "string"} <= shapes


@pytest.mark.parametrize(
    ("content", "ctype", "expected"),
    [
        (b'{"detail":"Invalid token."}', "application/vnd.cvat+json", "Invalid token."),
        (b'{"name":["This field is required."]}', "application/vnd.cvat+json",
         "name: This field is required."),
        (b'{"labels":[{"attributes":[{"input_type":["\\"slider\\" is not a valid choice."]}]}]}',
         "application/vnd.cvat+json",
         'labels[0].attributes[0].input_type: "slider" is not a valid choice.'),
        (b'{"shapes":[{},{"points":["invalid length for shape type \'rectangle\'"]}]}',
         "application/vnd.cvat+json",
         "shapes[1].points: invalid length for shape type 'rectangle'"),
        (b'["label_id `999999` is invalid"]', "application/vnd.cvat+json",
         "label_id `999999` is invalid"),
        (b'"Metadata is expected to contain \'filename\' key"', "application/vnd.cvat+json",
         "Metadata is expected to contain 'filename' key"),
        (b'{"non_field_errors":["Unable to log in with provided credentials."]}', None,
         "Unable to log in with provided credentials."),
        (b"\n<!doctype html>\n<html><head>\n  <title>Server Error (500)</title>\n</head>"
         b"<body><h1>Server Error (500)</h1></body></html>", "text/html; charset=utf-8",
         "Server Error (500)"),
        (b"<html><body><h1>Bad &amp; Gateway</h1></body></html>", "text/html", "Bad & Gateway"),
        (b"There is no request with specified id", "text/html; charset=utf-8",
         "There is no request with specified id"),
        (b"", None, ""),
    ],
)
def test_describe_body(content: bytes, ctype: str | None, expected: str) -> None:
    assert describe_body(content, ctype)[0] == expected


def test_long_bodies_are_truncated() -> None:
    text, _ = describe_body(b"x" * 10000, "text/plain")
    assert len(text) <= 2000 and text.endswith("...")


def test_error_pickles_and_keeps_fields() -> None:
    err = error_from_response(404, "GET", "/api/tasks/9", b'{"detail":"No Task matches"}', None)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is CvatNotFound
    assert (again.status, again.method, again.path, again.detail) == (
        404, "GET", "/api/tasks/9", "No Task matches")
    assert str(again) == str(err) == "GET /api/tasks/9 -> HTTP 404: not found: No Task matches"
