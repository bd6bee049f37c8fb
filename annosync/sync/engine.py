"""The reconciler's front door: manifests in, a plan out, the plan applied. Used by CLI and API.

``open_sessions`` loads manifests (all problems at once) and opens one ``RunSession`` each;
``make_plan`` plans every run; ``apply_plan`` applies a fresh plan (or a saved one, checked
against its fingerprint). Runs are independent: one failing run does not stop the others from
being planned, and its error is reported with its anno key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from annosync.dataset import jsonfmt
from annosync.dataset.atomic import write_bytes_atomic
from annosync.errors import AnnosyncError, InputError, StateError
from annosync.manifest.load import load_manifests
from annosync.sync.plan import Plan, RunPlan
from annosync.sync.planner import plan_run
from annosync.sync.record import now_iso
from annosync.sync.session import ClientFactory, Connection, RunSession, SyncOptions

if TYPE_CHECKING:  # apply (creation, conversion, the client) loads only when a plan is applied
    from annosync.sync.apply import ApplyResult

Report = Callable[[str], None]


@dataclass
class Engine:
    sessions: list[RunSession] = field(default_factory=list)

    def close(self) -> None:
        for s in self.sessions:
            s.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def session(self, anno_key: str) -> RunSession:
        for s in self.sessions:
            if s.anno_key == anno_key:
                return s
        raise StateError(f"no manifest declares anno key {anno_key!r}")


def open_sessions(
    paths: Iterable[str | os.PathLike[str]],
    options: SyncOptions | None = None,
    connection: Connection | None = None,
    anno_keys: Iterable[str] | None = None,
    env: Mapping[str, str] | None = None,
    client_factory: ClientFactory | None = None,
) -> Engine:
    """One session per manifest run (optionally only the given anno keys)."""
    runs = load_manifests(paths, env)
    wanted = set(anno_keys or [])
    if wanted:
        unknown = wanted - {r.anno_key for r in runs}
        if unknown:
            raise InputError.at(f"no manifest declares anno key(s): {', '.join(sorted(unknown))}")
        runs = [r for r in runs if r.anno_key in wanted]
    if not runs:
        raise InputError.at(f"no annotation runs found in {', '.join(map(str, paths))}")
    return Engine([RunSession(r, options, connection, client_factory) for r in runs])


def make_plan(engine: Engine, verbose: bool = True, save_ids: bool = False,
              report: Report | None = None) -> Plan:
    """Plan every run; a run that cannot be planned carries its error and blocks only itself.

    ``save_ids`` (sync, push and pull; not a dry run): labels without ``_id`` get one, saved
    under the dataset lock, before the run is planned (``sync/ids.py`` says why).
    """
    mode = engine.sessions[0].options.mode if engine.sessions else "sync"
    runs = []
    for s in engine.sessions:
        try:
            rp = plan_run(s, verbose)
            if save_ids and rp.unsaved_ids and s.options.mode in ("sync", "push", "pull"):
                _save_ids(s, rp.unsaved_ids, report or (lambda _: None))
                rp = plan_run(s, verbose)
            runs.append(rp)
        except AnnosyncError as exc:
            runs.append(RunPlan(anno_key=s.anno_key, dataset=str(s.folder.root),
                                manifest=s.loaded.display, error=str(exc),
                                blocked=[str(exc)]))
    return Plan(created_at=now_iso(), mode=mode, runs=runs)


def _save_ids(session: RunSession, keys: list[str], report: Report) -> None:
    from annosync.sync.ids import assign_ids
    from annosync.sync.lock import dataset_lock

    with dataset_lock(session.state_dir, session.options.lock_timeout):
        record = session.record
        done = assign_ids(session.folder, keys, session.schema, record.base if record else None)
    if done.files:
        restored = f" ({done.restored} took back the id CVAT knows them by)" if done.restored else ""
        report(f"gave {done.fresh + done.restored} label(s) without `_id` an id in "
               f"{len(done.files)} file(s){restored}")


@contextmanager
def locked(engine: Engine) -> Iterator[None]:
    """Hold every dataset's lock of the engine's runs (in a fixed order) from planning to the
    end of apply, so a second process waits (or fails naming this one) instead of applying a
    plan made before this one changed the dataset."""
    from annosync.sync.lock import dataset_lock  # filelock: only when something is written

    with ExitStack() as stack:
        roots = sorted({s.state_dir.resolve(): s for s in engine.sessions}.items())
        for state_dir, s in roots:
            stack.enter_context(dataset_lock(state_dir, s.options.lock_timeout))
        for s in engine.sessions:  # what the previous holder wrote is the state now
            s.reload()
        yield


def apply_plan(engine: Engine, plan: Plan, report: Report | None = None) -> list[ApplyResult]:
    """Apply every run that could be planned; then raise the first error, if any."""
    from annosync.sync.apply import apply_run

    results = []
    errors = []
    for rp in plan.runs:
        if rp.error:
            errors.append(f"{rp.anno_key}: {rp.error}")
            continue
        session = engine.session(rp.anno_key)
        results.append(apply_run(session, rp, report or (lambda _: None)))
    if errors:
        raise StateError("\n".join(errors))
    return results


def save_plan(plan: Plan, path: str | os.PathLike[str]) -> None:
    write_bytes_atomic(path, jsonfmt.dump_bytes(plan.model_dump(mode="json")))


def load_plan(path: str | os.PathLike[str]) -> Plan:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError.at(f"cannot read plan: {exc}", str(p)) from None
    try:
        return Plan.model_validate(data)
    except ValueError as exc:
        raise InputError.at(f"not an annosync plan: {exc}", str(p)) from None
