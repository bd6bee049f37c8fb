"""A small HTTP receiver for CVAT's webhook deliveries: verify, parse, hand on.

Why a module: ``annosync watch --webhook`` reacts to CVAT's webhooks instead of polling. CVAT
POSTs ``json.dumps(payload)`` with ``X-Signature-256: sha256=<HMAC-SHA256(secret, body)>``
(``cvat/apps/webhooks/utils.py``); a delivery whose signature does not match (or that has none)
is answered 403 and ignored, so only CVAT (who knows the secret) can make annosync pull. Each
accepted delivery becomes a :class:`Delivery` naming the task and job it is about, queued for
the watch loop; a ``ping`` marks the receiver as reachable. Nothing here touches a dataset.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("annosync.webhooks")

MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True)
class Delivery:
    """What one webhook delivery is about."""

    event: str
    webhook_id: int | None = None
    task_id: int | None = None
    job_id: int | None = None


def expected_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """CVAT's ``X-Signature-256`` check, in constant time."""
    return bool(header) and hmac.compare_digest(expected_signature(secret, body), str(header))


def parse(payload: Any) -> Delivery | None:
    """The task/job a payload names (``update:job`` carries the job, with its ``task_id``)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        return None
    event = payload["event"]
    hook = payload.get("webhook_id")
    webhook_id = hook if isinstance(hook, int) else None
    if event == "ping":
        inner = payload.get("webhook")
        wid = inner.get("id") if isinstance(inner, dict) else None
        return Delivery(event, wid if isinstance(wid, int) else webhook_id)
    job = payload.get("job")
    if isinstance(job, dict) and isinstance(job.get("id"), int):
        task = job.get("task_id")
        return Delivery(event, webhook_id, task if isinstance(task, int) else None, job["id"])
    task = payload.get("task")
    if isinstance(task, dict) and isinstance(task.get("id"), int):
        return Delivery(event, webhook_id, task["id"])
    return Delivery(event, webhook_id)


class Receiver:
    """Listens on ``host:port`` at ``path``; :attr:`deliveries` is the queue of accepted ones.

    ``on_delivery`` (optional) is called for each accepted delivery, from the server thread
    (the watch loop uses it to wake up at once).
    """

    def __init__(self, secret: str, host: str = "127.0.0.1", port: int = 0,
                 path: str = "/", on_delivery: Any = None) -> None:
        self.secret = secret
        self.path = path or "/"
        self.deliveries: queue.Queue[Delivery] = queue.Queue()
        self.pinged = threading.Event()
        self.rejected = 0
        self.accepted = 0
        self.on_delivery = on_delivery
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    def local_url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    def start(self) -> Receiver:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="annosync-webhook-receiver")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drain(self) -> list[Delivery]:
        out = []
        while True:
            try:
                out.append(self.deliveries.get_nowait())
            except queue.Empty:
                return out

    def _accept(self, body: bytes, signature: str | None) -> int:
        if not verify(self.secret, body, signature):
            self.rejected += 1
            log.warning("webhook delivery with a wrong or missing X-Signature-256: ignored")
            return 403
        try:
            found = parse(json.loads(body))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return 400
        if found is None:
            return 400
        self.accepted += 1
        if found.event == "ping":
            self.pinged.set()
        else:
            self.deliveries.put(found)
        if self.on_delivery is not None:
            self.on_delivery(found)
        return 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "annosync-webhooks"

            def do_POST(self) -> None:
                if urlsplit(self.path).path.rstrip("/") != receiver.path.rstrip("/"):
                    self._answer(404)
                    return
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if not 0 <= length <= MAX_BODY:
                    self._answer(413)
                    return
                body = self.rfile.read(length)
                self._answer(receiver._accept(body, self.headers.get("X-Signature-256")))

            def do_GET(self) -> None:
                self._answer(405)

            def _answer(self, status: int) -> None:
                text = b"ok" if status == 200 else b"refused"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("webhook receiver: " + fmt, *args)

        return Handler
