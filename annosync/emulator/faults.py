"""Fault injection for reliability tests: error statuses, latency, dropped connections,
truncated answers, at random or by rule.

Why a module: clients must survive 5xx answers, slow answers, connections closed without a
reply and answers cut short. ``emu.faults.add(...)`` registers a rule matched (by method and a
regex on the path) before any routing; ``times`` limits how often it fires (``None`` =
forever), ``rate`` makes it fire at random (seeded). ``after=True`` lets the server act first
and then loses or spoils the answer: the case where a client cannot know whether its request
was processed. ``emu.faults.chaos(rate)`` mixes every kind at random, as a flaky network and
proxy in front of CVAT would.
"""

from __future__ import annotations

import random
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
    rate: float | None = None
    after: bool = False
    truncate: bool = False


@dataclass
class Action:
    """What to do with one request: wait, then answer ``status``/``body``, drop it or cut its
    answer short; ``after``: only once the server has handled it."""

    latency: float = 0.0
    status: int | None = None
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    after: bool = False
    truncate: bool = False
    kind: str = ""


#: what ``chaos`` mixes: (name, weight)
CHAOS_KINDS = ("5xx", "5xx-after", "reset", "reset-after", "truncated", "stall", "429")


def _default_body(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return (f"<html><head><title>{status} {phrase}</title></head><body><center><h1>{status} "
            f"{phrase}</h1></center></body></html>\n").encode()


class Faults:
    """The registry behind ``Emulator.faults``."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self._random = random.Random(seed)
        self._chaos: tuple[float, tuple[str, ...], float, re.Pattern[str]] | None = None
        self.injected: dict[str, int] = {}

    def add(self, method: str | None = None, path: str = r".*", status: int | None = None,
            times: int | None = None, latency: float = 0.0, drop: bool = False,
            body: str | bytes | None = None, content_type: str = "text/html; charset=utf-8",
            headers: dict[str, str] | None = None, *, rate: float | None = None,
            after: bool = False, truncate: bool = False) -> Fault:
        """Register a fault; ``path`` is a regular expression searched in the URL path."""
        raw = body.encode() if isinstance(body, str) else body
        fault = Fault(method.upper() if method else None, re.compile(path), status, times,
                      latency, drop, raw, content_type, dict(headers or {}), rate=rate,
                      after=after, truncate=truncate)
        with self._lock:
            self._rules.append(fault)
        return fault

    def chaos(self, rate: float, *, kinds: tuple[str, ...] = CHAOS_KINDS, stall: float = 30.0,
              seed: int | None = None, path: str = r"^/api/") -> None:
        """Fail ``rate`` of all requests (0 turns it off), each with one kind picked at random:
        a 5xx before or after the server acted, a connection reset before or after, an answer
        cut short, a ``stall``-second delay, or a 429 with ``Retry-After``."""
        unknown = set(kinds) - set(CHAOS_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}: {', '.join(CHAOS_KINDS)}")
        with self._lock:
            if seed is not None:
                self._random.seed(seed)
            self._chaos = (rate, tuple(kinds), stall, re.compile(path)) if rate > 0 else None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._chaos = None

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
                if fault.rate is not None and self._random.random() >= fault.rate:
                    continue
                fault.hits += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._rules.remove(fault)
                if action is None:
                    action = Action()
                action.latency += fault.latency
                if action.status is None and not action.drop and not action.truncate:
                    action.after = fault.after
                    if fault.drop:
                        action.drop = True
                    elif fault.truncate:
                        action.truncate = action.after = True
                    elif fault.status is not None:
                        action.status = fault.status
                        action.body = fault.body if fault.body is not None else _default_body(fault.status)
                        action.content_type = fault.content_type
                        action.headers = dict(fault.headers)
            if action is None and self._chaos is not None:
                rate, kinds, stall, where = self._chaos
                if where.search(path) and self._random.random() < rate:
                    action = self._chaos_action(self._random.choice(kinds), stall)
                    self.injected[action.kind] = self.injected.get(action.kind, 0) + 1
        return action

    def _chaos_action(self, kind: str, stall: float) -> Action:
        if kind == "stall":
            return Action(latency=stall, kind=kind)
        if kind == "429":
            body = b'{"detail":"Request was throttled. Expected available in 1 second."}'
            return Action(status=429, body=body, content_type="application/vnd.cvat+json",
                          headers={"Retry-After": "1"}, kind=kind)
        if kind.startswith("reset"):
            return Action(drop=True, after=kind.endswith("after"), kind=kind)
        if kind == "truncated":
            return Action(truncate=True, after=True, kind=kind)
        status = self._random.choice((500, 502, 503, 504))
        return Action(status=status, body=_default_body(status), after=kind.endswith("after"),
                      kind=kind)
