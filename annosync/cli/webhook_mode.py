"""``watch --webhook``: CVAT tells the watch loop what changed, instead of being polled.

Why a module: the watch loop stays one loop; this adds a receiver and the runs' webhooks beside
it. :meth:`WebhookMode.start` (after the first cycle, when every run's project exists) starts the
receiver, registers the webhooks (``annosync/sync/webhooks.py``) and pings them; when a ping
does not arrive it removes them and the loop polls every ``--interval`` as before. While the
webhooks work, the loop sleeps until a delivery (or a local file change) wakes it and refreshes
only the tasks the deliveries name; a full sync runs every ``--safety-poll`` seconds, which also
checks CVAT's record of its last delivery and falls back to polling when deliveries fail.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from annosync.cli.options import Common, Output, open_engine
from annosync.errors import InputError


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``PORT`` alone means 127.0.0.1) for the receiver."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", value
    try:
        number = int(port)
    except ValueError:
        raise InputError.at(f"--webhook-listen {value!r}: expected HOST:PORT") from None
    if not 0 <= number <= 65535:
        raise InputError.at(f"--webhook-listen {value!r}: port out of range")
    return host.strip("[]") or "127.0.0.1", number


class WebhookMode:
    def __init__(self, sources: tuple[Path, ...], common: Common, out: Output, *,
                 listen: str, url: str | None, timeout: float, safety_poll: float,
                 wake: Callable[[], None]) -> None:
        self.sources = sources
        self.common = common
        self.out = out
        self.listen = parse_listen(listen)
        self.url = url
        self.timeout = timeout
        self.safety_poll = safety_poll
        self.wake = wake
        self.active = False
        self.started = False
        self.receiver: Any = None
        self.hooks: Any = None
        self._engine: Any = None
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise InputError.at(f"--webhook-url {url!r}: expected an http(s) URL CVAT can "
                                    "reach")

    def interval(self, poll: float) -> float:
        return self.safety_poll if self.active else poll

    def start(self) -> None:
        """Receiver up, webhooks registered and pinged; on any failure: polling, said so."""
        from annosync.errors import AnnosyncError
        from annosync.sync.receiver import Receiver
        from annosync.sync.webhooks import Webhooks, new_secret

        self.started = True
        host, port = self.listen
        path = urlsplit(self.url).path if self.url else f"/annosync/{secrets.token_hex(8)}"
        try:
            self.receiver = Receiver(new_secret(), host, port, path or "/",
                                     on_delivery=lambda _: self.wake()).start()
        except OSError as exc:
            self._fallback(f"cannot listen on {host}:{port} ({exc})")
            return
        target = self.url or self.receiver.local_url()
        self.hooks = Webhooks(self.receiver, target, self.out.report)
        try:
            self._engine = open_engine(self.sources, self.common, self.common.options("sync"))
            self.hooks.register(self._engine.sessions)
        except AnnosyncError as exc:
            self._fallback(f"cannot register webhooks: {exc}")
            return
        for why in self.hooks.uncovered:
            self.out.echo(f"  no webhook for {why}: polled every --interval", "yellow")
        if not self.hooks.hooks:
            self._fallback("no run can have a webhook")
            return
        if not self.hooks.reachable(self.timeout):
            self._fallback(f"CVAT's ping did not reach {target} within {self.timeout:g}s "
                           "(is the receiver reachable from CVAT? see --webhook-url)")
            return
        self.active = not self.hooks.uncovered
        if self.active:
            self.out.echo(f"CVAT reaches {target}: syncing on its webhooks (a full sync every "
                          f"{self.safety_poll:g}s as a safety net).", "dim")
        else:
            self.out.echo(f"CVAT reaches {target}: webhooks for some runs, polling every "
                          "--interval for the rest.", "dim")

    def _fallback(self, why: str) -> None:
        self.active = False
        self.stop()  # the webhooks go first: CVAT must not keep posting into the void
        self.out.echo(f"webhook: {why}; polling CVAT instead.", "yellow")

    def take(self) -> frozenset[int]:
        """The tasks named by deliveries received since the last call."""
        if self.receiver is None:
            return frozenset()
        return frozenset(d.task_id for d in self.receiver.drain() if d.task_id is not None)

    def pending(self) -> bool:
        return self.receiver is not None and not self.receiver.deliveries.empty()

    def check(self) -> None:
        """On a safety poll: still delivering? Else fall back to polling."""
        if not self.active or self.hooks is None:
            return
        why = self.hooks.health()
        if why is not None:
            self._fallback(why)

    def stop(self) -> None:
        if self.hooks is not None:
            self.hooks.remove()
            self.hooks = None
        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None
        if self._engine is not None:
            self._engine.close()
            self._engine = None
