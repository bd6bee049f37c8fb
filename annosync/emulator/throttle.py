"""Rate limits as CVAT applies them: Django REST framework's throttles, off unless asked for.

Why a module: a real CVAT throttles anonymous requests, login included (``cvat/settings/
base.py``: ``DEFAULT_THROTTLE_CLASSES = [AnonRateThrottle]``, ``DEFAULT_THROTTLE_RATES =
{"anon": "100/minute"}``), and deployments may add DRF's ``UserRateThrottle``. A client that
logs in often (a test suite, several runs at once) meets ``429 Request was throttled. Expected
available in 1 second.`` The emulator reproduces DRF's algorithm (``rest_framework/
throttling.py``, ``SimpleRateThrottle``) so that path stays covered; it is off by default so
ordinary tests are not slowed down (``Emulator(throttle=...)``, ``emu.throttle.configure``,
``annosync emulator --throttle anon=100/minute``).

DRF's rules, kept here: throttles run after authentication and permissions, before the view
(so a throttled request did nothing); the anonymous throttle ignores authenticated users and
keys the others by ``X-Forwarded-For`` (spaces removed) or the remote address; the user throttle
keys by user id; every configured throttle records the request even when another refuses it;
a refused request is not recorded; the wait is ``(duration - age of the oldest request) /
(requests still allowed + 1)``, rounded up, sent as ``Retry-After`` and in the detail text.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .context import Ctx
from .errors import ApiError

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """DRF's ``parse_rate``: ``"100/minute"`` -> (100 requests, 60 seconds)."""
    num, _, period = rate.partition("/")
    if not num.strip().isdigit() or not period or period[0] not in _PERIODS:
        raise ValueError(f"invalid throttle rate {rate!r}: expected N/second|minute|hour|day")
    return int(num), _PERIODS[period[0]]


@dataclass
class _Rate:
    scope: str
    num: int
    duration: int
    history: dict[str, list[float]] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> tuple[bool, float | None]:
        """(allowed, DRF's ``wait()``): an allowed request is recorded, a refused one not."""
        history = self.history.setdefault(key, [])
        while history and history[-1] <= now - self.duration:
            history.pop()
        if len(history) >= self.num:
            remaining = self.duration - (now - history[-1]) if history else self.duration
            available = self.num - len(history) + 1
            return False, (remaining / available if available > 0 else None)
        history.insert(0, now)
        return True, None


class Throttles:
    """The throttles of one emulator. ``anon`` / ``user``: DRF rates such as ``"100/minute"``
    (None: that throttle is off)."""

    def __init__(self, anon: str | None = None, user: str | None = None,
                 timer: Callable[[], float] = time.monotonic) -> None:
        self.timer = timer
        self._rates: list[_Rate] = []
        self.refused = 0
        self.configure(anon, user)

    def configure(self, anon: str | None = None, user: str | None = None) -> None:
        self._rates = [
            _Rate(scope, *parse_rate(rate))
            for scope, rate in (("anon", anon), ("user", user)) if rate
        ]

    @property
    def enabled(self) -> bool:
        return bool(self._rates)

    def check(self, ctx: Ctx) -> None:
        """DRF's ``check_throttles``: raise the 429 answer if any throttle refuses."""
        if not self._rates:
            return
        now = self.timer()
        waits: list[float | None] = []
        for rate in self._rates:
            key = self._key(rate.scope, ctx)
            if key is None:
                continue
            allowed, wait = rate.allow(f"throttle_{rate.scope}_{key}", now)
            if not allowed:
                waits.append(wait)
        if waits:
            self.refused += 1
            known = [w for w in waits if w is not None]
            raise throttled(max(known) if known else None)

    @staticmethod
    def _key(scope: str, ctx: Ctx) -> str | None:
        if scope == "anon":
            if ctx.user is not None:
                return None
            return ident(ctx)
        return str(ctx.user.id) if ctx.user is not None else ident(ctx)


def ident(ctx: Ctx) -> str:
    """DRF's ``get_ident`` with ``NUM_PROXIES`` unset."""
    xff = ctx.req.headers.get("X-Forwarded-For")
    if xff:
        return "".join(xff.split())
    return ctx.req.client or ""


def throttled(wait: float | None) -> ApiError:
    """DRF's ``Throttled`` exception as its exception handler renders it."""
    text = "Request was throttled."
    headers: dict[str, str] = {}
    if wait is not None:
        seconds = math.ceil(wait)
        unit = "second" if seconds == 1 else "seconds"
        text += f" Expected available in {seconds} {unit}."
        if seconds:
            headers["Retry-After"] = str(seconds)
    return ApiError(429, {"detail": text}, headers=headers)
