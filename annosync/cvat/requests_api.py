"""Bounded waits on CVAT's asynchronous operations (task data, annotation import, export).

Why: these operations answer ``202 {"rq_id": ...}`` and finish later in a worker. FiftyOne polled
without a deadline; here every wait has one and ends in :class:`CvatTimeout` naming the rq id and
its last status, or :class:`CvatRequestFailed` carrying CVAT's own failure message.

CVAT >= 2.16 (``recordings/03_create_image_task.json``, ``recordings2/10_import.json``):
``GET /api/requests/{rq_id}`` with the rq id percent-encoded as ONE path segment (rq ids are
strings like ``action=create&target=task&target_id=11``; ``=`` and ``&`` must become ``%3D``,
``%26``); ``status`` goes ``queued`` -> ``started`` -> ``finished``|``failed``; exports carry
``result_url``; failures a one-line ``message``. An unknown id is a 404 with a text body.

Older servers: task creation is polled with ``GET /api/tasks/{id}/status`` (``state``
Queued|Started|Finished|Failed, ``message``); see :mod:`annosync.cvat.version`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from annosync.cvat.errors import CvatProtocolError, CvatRequestFailed, CvatTimeout

if TYPE_CHECKING:
    from annosync.cvat.session import Transport

__all__ = ["Poller", "StatusCallback", "request_path"]

FINISHED = "finished"
FAILED = "failed"


#: Sees each polled request status (``status``, ``progress`` 0..1): for progress bars.
StatusCallback = Callable[[dict[str, Any]], None]


def request_path(rq_id: str) -> str:
    """``/api/requests/<rq_id>`` with the id encoded as a single path segment."""
    return "/api/requests/" + quote(rq_id, safe="")


class Poller:
    """Polls with a growing interval (``initial`` doubling up to ``maximum`` seconds) until a
    deadline. ``clock``/``sleep`` are injectable for tests."""

    def __init__(
        self,
        transport: Transport,
        *,
        initial: float = 0.5,
        maximum: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._transport = transport
        self.initial = initial
        self.maximum = maximum
        self._clock = clock
        self._sleep = sleep

    def get_request(self, rq_id: str) -> dict[str, Any]:
        resp = self._transport.request("GET", request_path(rq_id))
        body = self._transport.json(resp)
        if not isinstance(body, dict):
            raise CvatProtocolError("unexpected answer for a request status",
                                    path=request_path(rq_id), rq_id=rq_id)
        return body

    def wait_for_request(self, rq_id: str, timeout: float,
                         watch: StatusCallback | None = None, first: float | None = None
                         ) -> dict[str, Any]:
        """Wait for ``rq_id`` to finish; return its final status object. ``watch`` sees every
        status polled (CVAT's ``status`` and ``progress``, for progress bars). ``first``: the
        first interval, if not ``initial`` (it doubles from there).

        Raises :class:`CvatRequestFailed` (status ``failed``, with CVAT's message) or
        :class:`CvatTimeout` when ``timeout`` seconds pass first.
        """
        status: dict[str, Any] = {}

        def check() -> bool:
            nonlocal status
            status = self.get_request(rq_id)
            if watch is not None:
                watch(status)
            state = str(status.get("status", "")).lower()
            if state == FAILED:
                message = (status.get("message") or "").strip() or "no message"
                raise CvatRequestFailed(
                    f"CVAT request {rq_id!r} failed",
                    method="GET", path=request_path(rq_id), detail=message, body=status,
                    rq_id=rq_id,
                )
            return state == FINISHED

        self._loop(check, timeout, rq_id, lambda: str(status.get("status", "unknown")), first)
        return status

    def wait_for_task_status(self, task_id: int, timeout: float,
                             watch: StatusCallback | None = None
                             ) -> dict[str, Any]:
        """Pre-2.16 servers: poll ``GET /api/tasks/{id}/status`` until Finished/Failed."""
        path = f"/api/tasks/{int(task_id)}/status"
        status: dict[str, Any] = {}

        def check() -> bool:
            nonlocal status
            status = self._transport.json(self._transport.request("GET", path))
            if watch is not None:
                watch(status)
            state = str(status.get("state", "")).lower()
            if state == FAILED:
                message = (status.get("message") or "").strip() or "no message"
                raise CvatRequestFailed(
                    f"creating the data of task {task_id} failed", method="GET", path=path,
                    detail=message, body=status,
                )
            return state == FINISHED

        self._loop(check, timeout, f"task {task_id} data",
                   lambda: str(status.get("state", "unknown")))
        return status

    def wait_until(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        """Generic bounded wait for ``check()`` to return True."""
        self._loop(check, timeout, what, lambda: "not ready")

    def _loop(self, check: Callable[[], bool], timeout: float, what: str,
              last: Callable[[], str], first: float | None = None) -> None:
        deadline = self._clock() + timeout
        interval = self.initial if first is None else min(first, self.initial)
        while True:
            if check():
                return
            now = self._clock()
            if now >= deadline:
                raise CvatTimeout(
                    f"CVAT request {what!r} did not finish within {timeout:g}s "
                    f"(last status: {last()})",
                    rq_id=what,
                )
            self._sleep(min(interval, max(0.0, deadline - now)))
            interval = min(interval * 2, self.maximum)
