"""``annosync watch``: keep syncing: on local file changes (watchdog) and every poll interval.

Local edits are seen at once (debounced: a burst of saves syncs once); CVAT changes are seen at
the next poll, since CVAT cannot notify us. Each cycle is an ordinary ``sync`` (plan, then
apply); a failing cycle (a conflict, a lost connection) is reported and watching goes on.
Ctrl-C stops cleanly between or during cycles.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from pathlib import Path
from typing import Any

import click

from annosync.cli.boundary import guarded
from annosync.cli.options import (
    Common,
    Output,
    common_options,
    execute,
    load_runs,
    needs_apply,
    open_engine,
    show_plan,
    sources_argument,
)
from annosync.errors import AnnosyncError


class Changes:
    """Set by watchdog events on watched files (machine state under ``.annosync/`` ignored)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.last = 0.0

    def dispatch(self, event: Any) -> None:
        paths = [getattr(event, "src_path", ""), getattr(event, "dest_path", "")]
        for raw in paths:
            path = str(raw or "")
            if not path:
                continue
            parts = Path(path).parts
            if ".annosync" in parts or ".git" in parts or path.endswith((".tmp", "~")):
                continue
            if getattr(event, "is_directory", False) and event.event_type == "modified":
                continue
            self.last = time.monotonic()
            self.event.set()
            return

    def wait(self, interval: float, debounce: float) -> bool:
        """Wait for a change (True) or the poll interval (False); then let a burst settle."""
        changed = self.event.wait(timeout=interval)
        if changed:
            while time.monotonic() - self.last < debounce:
                time.sleep(min(debounce, 0.05))
        self.event.clear()
        return changed


def _stamp() -> str:
    return _dt.datetime.now().strftime("%H:%M:%S")


def cycle(sources: tuple[Path, ...], common: Common, out: Output) -> None:
    from annosync.sync.engine import make_plan

    with open_engine(sources, common, common.options("sync", tracker=out.tracker)) as engine:
        with out.progress():
            plan = make_plan(engine, verbose=common.verbose > 0)
        if not needs_apply(plan):
            if not common.quiet:
                out.echo(f"[{_stamp()}] No changes.", "dim")
            return
        out.echo(f"[{_stamp()}] Changes found:", "bold")
        show_plan(out, plan, common)
        execute(out, engine, plan)


def watched_paths(sources: tuple[Path, ...], common: Common) -> list[Path]:
    runs = load_runs(sources, common.anno_keys)
    paths = {r.dataset_root.resolve() for r in runs}
    paths |= {r.file.resolve().parent for r in runs if r.file.suffix in (".yaml", ".yml")}
    return sorted(paths)


@click.command("watch")
@sources_argument
@click.option("--interval", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              metavar="SECONDS", help="How often to ask CVAT for changes.")
@click.option("--debounce", type=click.FloatRange(min=0.0), default=1.0, show_default=True,
              metavar="SECONDS", help="Quiet time after a local change before syncing.")
@click.option("--once", is_flag=True, help="One cycle, then exit (for scripts and tests).")
@common_options()
@guarded
def command(sources: tuple[Path, ...], interval: float, debounce: float, once: bool,
            common: Common) -> None:
    """Sync SOURCES (default: manifests/) now, then again whenever a file in their dataset
    folders or manifests changes, and every --interval seconds for changes made in CVAT."""
    out = Output(common)
    if once:
        cycle(sources, common, out)
        return
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    changes = Changes()

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: Any) -> None:
            changes.dispatch(event)

    observer = Observer()
    for path in watched_paths(sources, common):
        observer.schedule(Handler(), str(path), recursive=True)
    observer.start()
    out.echo(f"Watching {len(observer.emitters)} folder(s); CVAT every {interval:g}s. "
             "Ctrl-C stops.", "dim")
    try:
        while True:
            try:
                cycle(sources, common, out)
            except AnnosyncError as exc:
                out.echo(f"[{_stamp()}] error: {exc}", "red")
            # our own writes during the cycle are not news
            time.sleep(min(debounce, 0.2))
            changes.event.clear()
            changes.wait(interval, debounce)
    except KeyboardInterrupt:
        out.echo("Stopped watching.")
    finally:
        observer.stop()
        observer.join(timeout=5)
