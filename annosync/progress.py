"""Progress of long operations, as a small interface handed down to the code doing the work.

Why: uploads, downloads, server-side waits, XML reading/writing and plans over large folders
take long enough that a user wants to see them move, but the core must not know whether it
runs under a terminal, in CI or inside a Python program. So the core only calls a
:class:`Progress` it was given (no globals); the caller chooses the renderer: nothing
(:data:`NULL`, the default), one log line per finished step (:class:`LogProgress`, for pipes
and CI logs) or rich bars on a terminal (``annosync/cli/bars.py``).

A *step* is one thing being done (``upload media task_3``), with an optional total in a unit
(``B`` for bytes, ``files``, ``labels``, ``samples``, ``%`` for CVAT's own request progress).
Steps may run in several threads at once; renderers are thread-safe.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Protocol


class Step(Protocol):
    """One operation in progress. Closing it twice is harmless."""

    def update(self, done: int, total: int | None = None) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def status(self, text: str) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Step: ...

    def __exit__(self, *exc: object) -> None: ...


class Progress(Protocol):
    """Where steps are reported."""

    def step(self, what: str, total: int | None = None, unit: str = "") -> Step: ...


class _NullStep:
    def update(self, done: int, total: int | None = None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def status(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _NullStep:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class NullProgress:
    """Reports nothing (``-q``, ``--json``, the Python API by default)."""

    def step(self, what: str, total: int | None = None, unit: str = "") -> Step:
        return _NullStep()


NULL: Progress = NullProgress()


@dataclass
class StepState:
    """What a renderer knows of a step; :class:`TrackedStep` keeps it up to date."""

    what: str
    total: int | None
    unit: str
    done: int = 0
    text: str = ""
    started: float = 0.0
    closed: bool = False


class TrackedStep:
    """A step that keeps its state and tells its renderer (through ``on_change``/``on_close``)."""

    def __init__(self, state: StepState, on_change: Callable[[StepState], None],
                 on_close: Callable[[StepState], None]) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._on_change = on_change
        self._on_close = on_close

    def update(self, done: int, total: int | None = None) -> None:
        with self._lock:
            if self.state.closed:
                return
            self.state.done = done
            if total is not None:
                self.state.total = total
        self._on_change(self.state)

    def advance(self, n: int = 1) -> None:
        with self._lock:
            done = self.state.done + n
        self.update(done)

    def status(self, text: str) -> None:
        with self._lock:
            if self.state.closed:
                return
            self.state.text = text
        self._on_change(self.state)

    def close(self) -> None:
        with self._lock:
            if self.state.closed:
                return
            self.state.closed = True
        self._on_close(self.state)

    def __enter__(self) -> TrackedStep:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"  # pragma: no cover


def amount(state: StepState) -> str:
    """``12 files``, ``3.4 MB``, ``40%``: how much a step did (for log lines)."""
    if state.unit == "B":
        return human_size(state.done)
    if state.unit == "%":
        return f"{state.done}%"
    if state.total is None and not state.done:
        return ""
    return f"{state.done} {state.unit}".strip()


class LogProgress:
    """One line per finished step (``upload media t1: 5 files, 1.2 MB in 0.3 s``): for pipes,
    files and CI logs, where redrawn bars would be noise."""

    def __init__(self, stream: IO[str] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self._lock = threading.Lock()

    def step(self, what: str, total: int | None = None, unit: str = "") -> Step:
        state = StepState(what, total, unit, started=self.clock())
        return TrackedStep(state, lambda _s: None, self._finished)

    def _finished(self, state: StepState) -> None:
        parts = [p for p in (amount(state), state.text) if p]
        detail = f": {', '.join(parts)}" if parts else ""
        line = f"{state.what}{detail} in {self.clock() - state.started:.1f} s\n"
        stream = self.stream or sys.stderr
        with self._lock:
            stream.write(line)
            stream.flush()


@dataclass
class RecordingProgress:
    """Keeps every step and update in memory: for tests, and for callers that summarise."""

    steps: list[StepState] = field(default_factory=list)
    updates: list[tuple[str, int, int | None, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def step(self, what: str, total: int | None = None, unit: str = "") -> Step:
        state = StepState(what, total, unit)
        with self._lock:
            self.steps.append(state)

        def changed(s: StepState) -> None:
            with self._lock:
                self.updates.append((s.what, s.done, s.total, s.text))

        return TrackedStep(state, changed, lambda _s: None)

    def named(self, prefix: str) -> list[StepState]:
        return [s for s in self.steps if s.what.startswith(prefix)]


def byte_callback(step: Step) -> Callable[[int, int | None], None]:
    """Adapt a step to the client's ``progress(bytes_done, bytes_total)`` callbacks."""

    def callback(done: int, total: int | None) -> None:
        step.update(done, total)

    return callback


def request_callback(step: Step) -> Callable[[dict], None]:
    """Adapt a step to a CVAT request status (``GET /api/requests/{id}``): its ``status`` as
    text, its ``progress`` (0..1, when CVAT reports one) as a percentage."""

    def callback(status: dict) -> None:
        text = str(status.get("status") or status.get("state") or "").lower()
        value = status.get("progress")
        if text == "finished":
            # CVAT 2.73 often reports progress 0.0 on finished requests (recordings)
            step.update(100, 100)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            step.update(round(min(1.0, float(value)) * 100), 100)
        if text:
            step.status(text)

    return callback


class Relay:
    """Forwards steps to the renderer open now (``NULL`` between): lets a CLI verb hand one
    object to the engine and open bars only around planning and applying, never while it
    prints the plan."""

    def __init__(self) -> None:
        self.target: Progress = NULL

    def step(self, what: str, total: int | None = None, unit: str = "") -> Step:
        return self.target.step(what, total, unit)


class Later:
    """A step opened on its first update: a server-side wait that follows an upload inside
    one client call shows up when the upload ends (``on_start`` closes the upload's step)."""

    def __init__(self, progress: Progress, what: str, total: int | None = None, unit: str = "",
                 on_start: Callable[[], None] | None = None) -> None:
        self._args = (progress, what, total, unit)
        self._on_start = on_start
        self._step: Step | None = None
        self._lock = threading.Lock()

    def _open(self) -> Step:
        with self._lock:
            if self._step is None:
                if self._on_start is not None:
                    self._on_start()
                progress, what, total, unit = self._args
                self._step = progress.step(what, total, unit)
            return self._step

    def update(self, done: int, total: int | None = None) -> None:
        self._open().update(done, total)

    def advance(self, n: int = 1) -> None:
        self._open().advance(n)

    def status(self, text: str) -> None:
        self._open().status(text)

    def close(self) -> None:
        with self._lock:
            step = self._step
        if step is not None:
            step.close()

    def __enter__(self) -> Later:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
