"""The CLI's choice of progress renderer (see ``annosync/progress.py``), and rich's bars.

On a terminal (stderr): rich progress bars, one per running step, cleared when done. Off a
terminal: one log line per finished step on stderr. Nothing with ``-q``, ``--no-progress`` or
``--json`` (whose stdout must stay one JSON document, and whose stderr stays for errors).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from annosync.progress import NULL, LogProgress, Progress, Step, StepState, TrackedStep, amount


class RichProgress:
    """Rich bars: bytes as sizes and speed, counts as ``done/total unit``, CVAT's ``%``."""

    def __init__(self, bars: Any) -> None:
        self.bars = bars
        self._lock = threading.Lock()

    def step(self, what: str, total: int | None = None, unit: str = "") -> Step:
        with self._lock:
            task_id = self.bars.add_task(what, total=total, unit=unit, amount="")
        state = StepState(what, total, unit)

        def changed(s: StepState) -> None:
            text = amount(s) if s.unit == "B" or s.total is None else \
                f"{s.done}/{s.total} {s.unit}".strip()
            if s.text:
                text = f"{text} {s.text}".strip()
            with self._lock:
                self.bars.update(task_id, completed=s.done, total=s.total, amount=text)

        def closed(s: StepState) -> None:
            with self._lock:
                self.bars.remove_task(task_id)

        return TrackedStep(state, changed, closed)


@contextmanager
def rich_progress(stream: IO[str] | None = None) -> Iterator[RichProgress]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )
    from rich.text import Text

    class Speed(ProgressColumn):
        """Transfer speed for byte steps only."""

        def render(self, task: Any) -> Any:
            if task.fields.get("unit") != "B":
                return Text("")
            return TransferSpeedColumn().render(task)

    console = Console(file=stream or sys.stderr)
    bars = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.fields[amount]}"), Speed(), TimeElapsedColumn(),
                    console=console, transient=True)
    with bars:
        yield RichProgress(bars)


def is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextmanager
def choose(enabled: bool = True, quiet: bool = False, as_json: bool = False,
           stream: IO[str] | None = None) -> Iterator[Progress]:
    """The renderer for this invocation, open for the duration of the ``with`` block."""
    stream = stream or sys.stderr
    if not enabled or quiet or as_json:
        yield NULL
    elif is_terminal(stream):
        with rich_progress(stream) as bars:
            yield bars
    else:
        yield LogProgress(stream)


def progress_flags(f: Any) -> Any:
    """``--no-progress`` and ``-q/--quiet`` for verbs outside the reconciler (import/export)."""
    import click

    f = click.option("-q", "--quiet", is_flag=True, help="No progress; only errors and the "
                     "summary.")(f)
    return click.option("--no-progress", is_flag=True, help="No progress bars or lines.")(f)
