"""``annosync watch``: keep syncing: on local file changes (watchdog) and every poll interval.

Local edits are seen at once (debounced: a burst of saves syncs once); CVAT changes are seen at
the next poll, or at once with ``--webhook`` (CVAT posts to a local receiver, and only the tasks
it names are refreshed: ``cli/webhook_mode.py``). Each cycle is an ordinary ``sync`` (plan, then
apply, holding the dataset lock; ``--commit`` commits what it pulled); a failing cycle (a
conflict, a lost connection, a manual sync holding the lock) is reported and watching goes on.

Only events that may change content count: reading a file (``opened``, ``closed_no_write``) or
touching its metadata (``attrib``) does not, so an editor, a training job or a backup reading
the dataset never holds the sync back; and a file rewritten without pause still lets a cycle run
(the debounce has an upper bound). Ctrl-C and SIGTERM (systemd, ``docker stop``) stop cleanly
between or during cycles, releasing the lock. Each line is flushed as it is written, so a log
file shows every cycle at once.
"""

from __future__ import annotations

import datetime as _dt
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from annosync.cli.boundary import guarded
from annosync.cli.options import (
    CommitSpec,
    Common,
    Output,
    commit_options,
    common_options,
    execute,
    load_runs,
    needs_apply,
    open_engine,
    show_plan,
    sources_argument,
)
from annosync.cli.webhook_mode import WebhookMode
from annosync.errors import AnnosyncError

#: watchdog event types that may mean new content (not reads, not metadata)
CHANGING = frozenset({"created", "deleted", "modified", "moved", "closed", "events_lost"})


class Changes:
    """Set by watchdog events that change watched files (machine state under ``.annosync/``,
    ``.git`` and temporary files ignored)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.last = 0.0

    def dispatch(self, event: Any) -> None:
        kind = getattr(event, "event_type", "modified")
        if kind not in CHANGING:
            return
        if kind == "events_lost":  # the OS dropped events: something may have changed
            self._changed()
            return
        paths = [getattr(event, "src_path", ""), getattr(event, "dest_path", "")]
        for raw in paths:
            path = str(raw or "")
            if not path:
                continue
            parts = Path(path).parts
            if ".annosync" in parts or ".git" in parts or path.endswith((".tmp", "~")):
                continue
            if getattr(event, "is_directory", False) and kind == "modified":
                continue
            self._changed()
            return

    def _changed(self) -> None:
        self.last = time.monotonic()
        self.event.set()

    def wait(self, interval: float, debounce: float, max_wait: float | None = None) -> bool:
        """Wait for a change (True) or the poll interval (False); then let a burst settle:
        until ``debounce`` seconds pass without a change, but no longer than ``max_wait``
        (default: ten debounces, at least 1 s), so changes that never pause cannot starve
        the sync."""
        deadline = time.monotonic() + interval
        changed = False
        while not STOP.is_set():  # in slices: a swallowed SIGTERM or Ctrl-C is seen within 0.2 s
            changed = self.event.wait(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
            if changed or time.monotonic() >= deadline:
                break
        if changed:
            limit = max(1.0, 10 * debounce) if max_wait is None else max_wait
            started = time.monotonic()
            while (time.monotonic() - self.last < debounce
                   and time.monotonic() - started < limit):
                time.sleep(min(debounce, 0.05))
        self.event.clear()
        return changed


def _stamp() -> str:
    return _dt.datetime.now().strftime("%H:%M:%S")


def cycle(sources: tuple[Path, ...], common: Common, out: Output,
          commit: CommitSpec | None = None, only: frozenset[int] | None = None,
          interval: float = 0.0) -> None:
    """One sync; ``only``: just these CVAT tasks (named by webhook deliveries)."""
    from annosync.sync.engine import locked, make_plan

    options = common.options("sync", tracker=out.tracker, only_tasks=only)
    # a manual sync holding the lock: wait for it, up to one poll interval
    options.lock_timeout = max(options.lock_timeout, interval)
    with open_engine(sources, common, options) as engine, locked(engine):
        with out.progress():
            plan = make_plan(engine, verbose=common.verbose > 0, save_ids=True,
                             report=out.report)
        what = f"task(s) {', '.join(map(str, sorted(only)))} (webhook)" if only else ""
        if not needs_apply(plan):
            if not common.quiet:
                out.echo(f"[{_stamp()}] No changes{' in ' + what if what else ''}.", "dim")
            return
        out.echo(f"[{_stamp()}] Changes found{' in ' + what if what else ''}:", "bold")
        show_plan(out, plan, common)
        execute(out, engine, plan, commit)


#: set by SIGTERM and Ctrl-C: the interrupt the handler raises can be swallowed (Python
#: ignores exceptions raised while an object's ``__del__`` runs, e.g. in a collection after a
#: cycle), so the loop checks this too; without it a lost Ctrl-C left watch waiting for the
#: next poll (an hour with ``--interval 3600``)
STOP = threading.Event()


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM and Ctrl-C stop watch the same way (the lock and the observer are released)."""
    STOP.set()
    raise KeyboardInterrupt


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
@click.option("--webhook", is_flag=True,
              help="Let CVAT notify annosync (a webhook per project/organization, pointing at a "
                   "local receiver) instead of polling; falls back to polling if unreachable.")
@click.option("--webhook-listen", default="127.0.0.1:0", show_default=True, metavar="HOST:PORT",
              help="Where the receiver listens (port 0: any free port).")
@click.option("--webhook-url", metavar="URL",
              help="The URL CVAT posts to, when it reaches the receiver by another address "
                   "(e.g. http://host.docker.internal:8765/annosync); its path is served.")
@click.option("--webhook-timeout", type=click.FloatRange(min=0.1), default=5.0,
              show_default=True, metavar="SECONDS", help="How long to wait for CVAT's ping.")
@click.option("--safety-poll", type=click.FloatRange(min=1.0), default=600.0,
              show_default=True, metavar="SECONDS",
              help="With working webhooks: a full sync this often anyway.")
@commit_options
@common_options()
@guarded
def command(sources: tuple[Path, ...], interval: float, debounce: float, once: bool,
            webhook: bool, webhook_listen: str, webhook_url: str | None,
            webhook_timeout: float, safety_poll: float, commit: CommitSpec,
            common: Common) -> None:
    """Sync SOURCES (default: manifests/) now, then again whenever a file in their dataset
    folders or manifests changes, and every --interval seconds for changes made in CVAT (or,
    with --webhook, as soon as CVAT reports them)."""
    out = Output(common)
    if once:
        cycle(sources, common, out, commit)
        return
    main_thread = threading.current_thread() is threading.main_thread()
    STOP.clear()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    previous_int = signal.signal(signal.SIGINT, _terminate) if main_thread else None
    observer: Any = None
    hooks: WebhookMode | None = None
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        from annosync.sync.lock import LockBusy

        changes = Changes()

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                changes.dispatch(event)

        observer = Observer()
        for path in watched_paths(sources, common):
            observer.schedule(Handler(), str(path), recursive=True)
        hooks = WebhookMode(sources, common, out, listen=webhook_listen, url=webhook_url,
                            timeout=webhook_timeout, safety_poll=safety_poll,
                            wake=changes.event.set) if webhook else None
        only: frozenset[int] | None = None
        observer.start()
        out.echo(f"Watching {len(observer.emitters)} folder(s); CVAT every {interval:g}s. "
                 "Ctrl-C stops.", "dim")
        while not STOP.is_set():
            try:
                cycle(sources, common, out, commit, only, interval)
            except LockBusy as exc:
                out.echo(f"[{_stamp()}] busy, trying again at the next change or poll: {exc}",
                         "dim")
            except AnnosyncError as exc:
                out.echo(f"[{_stamp()}] error: {exc}", "red")
            if hooks is not None and not hooks.started:
                hooks.start()  # after the first cycle: every run's project exists
            sys.stdout.flush()  # a log shows each cycle as it ends, not at exit
            # our own writes during the cycle are not news
            time.sleep(min(debounce, 0.2))
            changes.event.clear()
            if hooks is not None and hooks.pending():
                changes.event.set()  # deliveries that came in during the cycle
            before = changes.last
            woke = changes.wait(hooks.interval(interval) if hooks else interval, debounce)
            only = None
            if hooks is not None:
                named = hooks.take()
                if woke and changes.last == before and named:
                    only = named  # only deliveries woke us: refresh just their tasks
                elif not woke:
                    hooks.check()  # a (safety) poll: are deliveries still arriving?
        out.echo("Stopped watching.")
    except KeyboardInterrupt:
        out.echo("Stopped watching.")
    finally:
        if hooks is not None:
            hooks.stop()
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)
        STOP.clear()  # a process (the API, tests) may watch again
        if observer is not None:
            observer.stop()
            if observer.is_alive():
                observer.join(timeout=5)
        sys.stdout.flush()
