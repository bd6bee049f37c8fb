"""The webhook receiver: CVAT's signature is checked (HMAC-SHA256, X-Signature-256), payloads
name the task and job, anything unsigned or misaddressed is refused."""

from __future__ import annotations

import json

import requests

from annosync.sync.receiver import Delivery, Receiver, expected_signature, parse, verify

# cvat/apps/webhooks docs: an empty body signed with "mykey"
DOCUMENTED = "e1b24265bf2e0b20c81837993b4f1415f7b68c503114d100a40601eca6a2745f"


def test_signature_as_cvat_documents_it() -> None:
    assert expected_signature("mykey", b"") == f"sha256={DOCUMENTED}"
    assert verify("mykey", b"", f"sha256={DOCUMENTED}")
    assert not verify("mykey", b"", DOCUMENTED)  # the prefix is part of the header
    assert not verify("other", b"", f"sha256={DOCUMENTED}")
    assert not verify("mykey", b"", None)


def test_parse_names_task_and_job() -> None:
    assert parse({"event": "update:job", "job": {"id": 9, "task_id": 4}, "webhook_id": 2}) == \
        Delivery("update:job", 2, 4, 9)
    assert parse({"event": "update:task", "task": {"id": 4}}) == Delivery("update:task", None, 4)
    assert parse({"event": "ping", "webhook": {"id": 2}}) == Delivery("ping", 2)
    assert parse({"event": "update:project", "project": {"id": 1}}) == \
        Delivery("update:project")
    assert parse(["event"]) is None and parse({"job": {}}) is None


def test_receiver_accepts_only_signed_deliveries_on_its_path() -> None:
    woke: list[Delivery] = []
    with Receiver("s3cret", path="/annosync/abc", on_delivery=woke.append) as rx:
        body = json.dumps({"event": "update:job", "job": {"id": 9, "task_id": 4},
                           "webhook_id": 1}).encode()
        url = rx.local_url()
        headers = {"Content-Type": "application/json",
                   "X-Signature-256": expected_signature("s3cret", body)}
        assert requests.post(url, data=body, headers=headers, timeout=5).status_code == 200
        bad = {**headers, "X-Signature-256": expected_signature("guess", body)}
        assert requests.post(url, data=body, headers=bad, timeout=5).status_code == 403
        assert requests.post(url, data=body, timeout=5).status_code == 403
        elsewhere = url.replace("/annosync/abc", "/other")
        assert requests.post(elsewhere, data=body, headers=headers, timeout=5).status_code == 404
        junk = b"{not json"
        assert requests.post(url, data=junk, timeout=5, headers={
            "X-Signature-256": expected_signature("s3cret", junk)}).status_code == 400
        ping = json.dumps({"event": "ping", "webhook": {"id": 1}}).encode()
        requests.post(url, data=ping, timeout=5,
                      headers={"X-Signature-256": expected_signature("s3cret", ping)})
        assert rx.pinged.is_set()
        assert rx.drain() == [Delivery("update:job", 1, 4, 9)]
        assert (rx.accepted, rx.rejected) == (2, 2)
        assert [d.event for d in woke] == ["update:job", "ping"]
