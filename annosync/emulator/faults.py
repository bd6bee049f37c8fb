"""Fault injection for reliability tests: error statuses, latency and dropped connections.

Why a module: clients must survive 5xx answers, slow answers and connections closed without a
reply. ``emu.faults.add(...)`` registers a rule matched (by method and a regex on the path)
before any routing; ``times`` limits how often it fires (``None`` = forever).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http import HTTPStatus


@dataclass
class Fault:
    method: str | None
    path: re.Pattern[str]
    status: int | None = None
    times: int | None = None
    latency: float = 0.0
    drop: bool = False
    body: bytes | None = None
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    hits: int = 0


@dataclass
class Action:
    """What to do with one request: wait, then answer ``status``/``body``, or drop it."""

    latency: float = 0.0
    status: int | None = None
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


def _default_body(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return (f"<html><head><title>{status} {phrase}</title></head><body><center><h1>{status} "
            f"{phrase}</h1></center></body></html>\n").encode()


class Faults:
    """The registry behind ``Emulator.faults``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []

    def add(self, method: str | None = None, path: str = r".*", status: int | None = None,
            times: int | None = None, latency: float = 0.0, drop: bool = False,
            body: str | bytes | None = None, content_type: str = "text/html; charset=utf-8",
            headers: dict[str, str] | None = None) -> Fault:
        """Register a fault; ``path`` is a regular expression searched in the URL path."""
        raw = body.encode() if isinstance(body, str) else body
        fault = Fault(method.upper() if method else None, re.compile(path), status, times,
                      latency, drop, raw, content_type, dict(headers or {}))
        with self._lock:
            self._rules.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._rules)

    def match(self, method: str, path: str) -> Action | None:
        """Consume the faults matching this request and combine them into one action."""
        action: Action | None = None
        with self._lock:
            for fault in list(self._rules):
                if fault.method is not None and fault.method != method.upper():
                    continue
                if not fault.path.search(path):
                    continue
                fault.hits += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._rules.remove(fault)
                if action is None:
                    action = Action()
                action.latency += fault.latency
                if action.status is None and not action.drop:
                    if fault.drop:
                        action.drop = True
                    elif fault.status is not None:
                        action.status = fault.status
                        action.body = fault.body if fault.body is not None else _default_body(fault.status)
                        action.content_type = fault.content_type
                        action.headers = dict(fault.headers)
        return action
