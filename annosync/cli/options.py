"""Options and plumbing shared by the reconciler's verbs (sync, plan, apply, pull, push, ...).

Why a module: every verb takes the same run filter (``--anno-key``), connection (``--url``,
``--username``, ``--org``, ``--password-stdin``), safety (``--conflicts``, ``--force``,
``--lock-timeout``) and output (``--no-progress``, ``-q``, ``-v``) options, finds its runs the
same way (manifest files and folders, or dataset folders whose runs were made by the Python API
or are known by their run records), and reports the same way (plain text off a terminal, rich
colours and progress bars on one).

Secrets never come from a command-line value (it would land in shell history): the password or
token comes from ``ANNOSYNC_CVAT_*`` variables, the user config file, a prompt on a terminal, or
one line of stdin with ``--password-stdin``.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from annosync.cli.bars import choose
from annosync.errors import InputError
from annosync.progress import NULL, Progress, Relay

if TYPE_CHECKING:  # imported where used: the CLI's start-up stays light (see cli/main.py)
    from annosync.dataset.folder import DatasetFolder
    from annosync.manifest.load import LoadedManifest
    from annosync.sync.apply import ApplyResult
    from annosync.sync.engine import Engine
    from annosync.sync.plan import Plan
    from annosync.sync.render import Line
    from annosync.sync.session import Connection, Mode, SyncOptions

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_MANIFESTS = Path("manifests")
CONFLICT_CHOICES = ("fail", "prefer-local", "prefer-remote", "keep-both")
UNEXPECTED_CHOICES = ("prompt", "ignore", "keep", "return")


@dataclass
class Common:
    """The shared options of one invocation."""

    anno_keys: tuple[str, ...] = ()
    conflicts: str | None = None
    force: bool = False
    url: str | None = None
    username: str | None = None
    organization: str | None = None
    password_stdin: bool = False
    lock_timeout: float = 0.0
    progress: bool = True
    quiet: bool = False
    verbose: int = 0
    _password: str | None = None

    def connection(self) -> Connection:
        from annosync.sync.session import Connection

        if self.password_stdin and self._password is None:
            line = sys.stdin.readline()
            self._password = line.rstrip("\r\n")
            if not self._password:
                raise click.UsageError("--password-stdin: stdin gave an empty line")
        return Connection(url=self.url, username=self.username, password=self._password,
                          organization=self.organization, interactive=None)

    def options(self, mode: Mode = "sync", **extra: Any) -> SyncOptions:
        """Sync options; progress goes to ``tracker`` (an ``Output``'s relay) if given."""
        from annosync.sync.session import SyncOptions

        return SyncOptions(mode=mode, conflicts=self.conflicts,  # type: ignore[arg-type]
                           force=self.force, lock_timeout=self.lock_timeout,
                           progress=self.progress, **extra)


def _connection_params(f: F) -> F:
    f = click.option("--org", "organization", metavar="ORG",
                     help="CVAT organization (default: manifest, env, config).")(f)
    f = click.option("--password-stdin", is_flag=True,
                     help="Read the password (or token) from the first line of stdin.")(f)
    f = click.option("--username", metavar="NAME",
                     help="CVAT username (default: ANNOSYNC_CVAT_USERNAME / config).")(f)
    f = click.option("--url", metavar="URL",
                     help="CVAT server (default: manifest, ANNOSYNC_CVAT_URL, config, record).")(f)
    return f


def common_options(sync: bool = True, keys: bool = True) -> Callable[[F], F]:
    """Add the shared options; the command receives them as one ``common: Common`` argument."""

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            common = Common(
                anno_keys=tuple(kwargs.pop("anno_keys", ()) or ()),
                conflicts=kwargs.pop("conflicts", None),
                force=kwargs.pop("force", False),
                url=kwargs.pop("url", None),
                username=kwargs.pop("username", None),
                organization=kwargs.pop("organization", None),
                password_stdin=kwargs.pop("password_stdin", False),
                lock_timeout=kwargs.pop("lock_timeout", 0.0),
                progress=not kwargs.pop("no_progress", False),
                quiet=kwargs.pop("quiet", False),
                verbose=kwargs.pop("verbose", 0),
            )
            return f(*args, common=common, **kwargs)

        g: Any = wrapper
        g = click.option("-v", "--verbose", count=True,
                         help="More detail (per-label lines in plans).")(g)
        g = click.option("-q", "--quiet", is_flag=True, help="Only errors and the summary.")(g)
        if sync:
            g = click.option("--no-progress", is_flag=True, help="No progress bars.")(g)
            g = click.option("--lock-timeout", type=float, default=0.0, show_default=True,
                             metavar="SECONDS",
                             help="Wait this long for another annosync applying to a dataset.")(g)
            g = click.option("--force", is_flag=True,
                             help="Lift the load.max_delete safety limit for this run.")(g)
            g = click.option("--conflicts", type=click.Choice(CONFLICT_CHOICES),
                             help="Conflict policy (default: the manifest's load.conflicts).")(g)
        g = _connection_params(g)
        if keys:
            g = click.option("--anno-key", "anno_keys", multiple=True, metavar="KEY",
                             help="Only this run (repeatable).")(g)
        return g

    return decorate


def sources_argument(f: F) -> F:
    return click.argument("sources", nargs=-1,
                          type=click.Path(path_type=Path, exists=True))(f)


# -- finding runs ---------------------------------------------------------------------------------

def default_sources() -> list[Path]:
    from annosync.dataset.folder import is_dataset_folder

    if DEFAULT_MANIFESTS.is_dir():
        return [DEFAULT_MANIFESTS]
    if is_dataset_folder(Path(".")):
        return [Path(".")]
    raise click.UsageError(
        "no manifests/ folder here: name manifest files or folders, or a dataset folder"
    )


def load_runs(sources: Sequence[Path], anno_keys: Sequence[str] = ()) -> list[LoadedManifest]:
    """The runs named by manifest files/folders and dataset folders, optionally filtered."""
    from annosync.dataset.folder import DatasetFolder, is_dataset_folder
    from annosync.manifest.load import load_manifests

    paths = list(sources) or default_sources()
    runs: list[LoadedManifest] = []
    manifest_paths = [p for p in paths if not is_dataset_folder(p)]
    if manifest_paths:
        runs += load_manifests(manifest_paths)
    for p in paths:
        if is_dataset_folder(p):
            from annosync.api import dataset_runs  # runs made by annotate() (Python API)

            runs += dataset_runs(DatasetFolder.open(p))
    unique: dict[tuple[Path, str], LoadedManifest] = {}
    for r in runs:
        unique.setdefault((r.dataset_root.resolve(), r.anno_key), r)
    runs = list(unique.values())
    if anno_keys:
        found = {r.anno_key for r in runs}
        missing = sorted(set(anno_keys) - found)
        if missing:
            raise InputError.at(f"no run {', '.join(missing)} in {', '.join(map(str, paths))} "
                                f"(runs: {', '.join(sorted(found)) or 'none'})")
        runs = [r for r in runs if r.anno_key in set(anno_keys)]
    if not runs:
        raise InputError.at(f"no annotation runs found in {', '.join(map(str, paths))}")
    return runs


def open_engine(sources: Sequence[Path], common: Common, options: SyncOptions) -> Engine:
    from annosync.sync.engine import Engine
    from annosync.sync.session import RunSession

    runs = load_runs(sources, common.anno_keys)
    conn = common.connection()
    return Engine([RunSession(r, options, conn) for r in runs])


def datasets_of(sources: Sequence[Path]) -> list[DatasetFolder]:
    """Dataset folders named directly, or by the manifests given (default: manifests/ or .)."""
    from annosync.dataset.folder import DatasetFolder, is_dataset_folder
    from annosync.manifest.load import load_manifests

    paths = list(sources) or default_sources()
    roots: dict[Path, DatasetFolder] = {}
    manifest_paths = [p for p in paths if not is_dataset_folder(p)]
    for p in paths:
        if is_dataset_folder(p):
            folder = DatasetFolder.open(p)
            roots.setdefault(folder.root, folder)
    if manifest_paths:
        for r in load_manifests(manifest_paths):
            folder = DatasetFolder.open(r.dataset_root)
            roots.setdefault(folder.root, folder)
    return list(roots.values())


# -- output ---------------------------------------------------------------------------------------

class Output:
    """Where a verb's messages go: stdout, plain or styled; quiet hides reports. Progress goes
    to stderr through ``tracker`` while a :meth:`progress` block is open."""

    def __init__(self, common: Common, as_json: bool = False) -> None:
        from annosync.sync.render import use_color

        self.common = common
        self.as_json = as_json
        self.color = use_color(sys.stdout)
        self.tracker = Relay()
        self._live: Any = None  # a rich Progress while bars are shown

    def lines(self, lines: Sequence[Line]) -> None:
        from annosync.sync.render import emit

        emit(lines, self.color)

    def echo(self, text: str = "", style: str | None = None) -> None:
        if self._live is not None:
            self._live.console.print(text, style=style or "", highlight=False, markup=False)
        elif self.color and style:
            from annosync.sync.render import Line, emit

            emit([Line().add(text, style)], True)
        else:
            click.echo(text)

    def report(self, message: str) -> None:
        """A progress message from the engine (hidden by -q)."""
        if not self.common.quiet:
            self.echo(f"  {message}", "dim")

    @contextmanager
    def progress(self) -> Iterator[Progress]:
        """Open the renderer (``cli/bars.py``: rich bars on a terminal, log lines elsewhere,
        nothing with -q/--no-progress/--json); ``tracker`` forwards to it meanwhile."""
        with choose(self.common.progress, self.common.quiet, self.as_json) as renderer:
            self.tracker.target = renderer
            self._live = getattr(renderer, "bars", None)
            try:
                yield renderer
            finally:
                self.tracker.target = NULL
                self._live = None


def confirm(question: str, yes: bool, default_when_no_terminal: bool) -> bool:
    """Ask on a terminal unless ``--yes``; off a terminal, answer ``default_when_no_terminal``."""
    if yes:
        return True
    if sys.stdin.isatty() and sys.stdout.isatty():
        return click.confirm(question, default=False)
    return default_when_no_terminal


# -- plan, then apply -----------------------------------------------------------------------------

def needs_apply(plan: Plan) -> bool:
    """Apply has work: changes, unexpected labels to handle, or new job dates to record."""
    return plan.has_changes or any(r.unexpected or r.jobs_changed for r in plan.runs)


def shows_changes(plan: Plan) -> bool:
    """What ``plan``'s exit code reports (2): changes a user would want applied."""
    return plan.has_changes or any(r.unexpected for r in plan.runs)


def apply_summary(results: Sequence[ApplyResult]) -> str:
    created = sum(len(r.created_tasks) for r in results)
    written = sum(len(r.written) for r in results)
    pushed = [r.pushed for r in results]
    p_created = sum(p.created for p in pushed)
    p_updated = sum(p.updated for p in pushed)
    p_deleted = sum(p.deleted for p in pushed)
    cleaned = sum(len(r.cleaned) for r in results)
    unexpected = sum(len(r.unexpected) for r in results)
    parts = []
    if created:
        parts.append(f"{created} task(s) created")
    if written:
        parts.append(f"{written} label file(s) written")
    if p_created or p_updated or p_deleted:
        parts.append(f"pushed {p_created} new, {p_updated} updated, {p_deleted} deleted label(s)")
    if unexpected:
        parts.append(f"{unexpected} unexpected label(s) handled")
    if cleaned:
        parts.append(f"{cleaned} task(s) deleted from CVAT")
    return "Apply complete: " + ("; ".join(parts) if parts else "the run records are up to date") + "."


def show_plan(out: Output, plan: Plan, common: Common) -> None:
    from annosync.sync.render import plan_lines, summary

    if common.quiet:
        out.echo(summary(plan), "bold")
    else:
        out.lines(plan_lines(plan, verbose=common.verbose > 0))


@dataclass
class CommitSpec:
    """``--commit`` / ``--commit-paths``: one git commit per pulled job (sync/attribution.py)."""

    enabled: bool = False
    paths: tuple[Path, ...] = ()


def commit_options(f: F) -> F:
    """``--commit`` and ``--commit-paths``; the command receives ``commit: CommitSpec``."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        paths = tuple(kwargs.pop("commit_paths", ()) or ())
        spec = CommitSpec(bool(kwargs.pop("commit_flag", False)) or bool(paths), paths)
        return f(*args, commit=spec, **kwargs)

    g: Any = wrapper
    g = click.option("--commit-paths", "commit_paths", multiple=True, metavar="PATH",
                     type=click.Path(path_type=Path),
                     help="With --commit: the paths annosync may commit (repeatable); changes "
                          "elsewhere in the tree are left alone (implies --commit).")(g)
    g = click.option("--commit", "commit_flag", is_flag=True,
                     help="One git commit per pulled CVAT job, authored by its assignee "
                          "(refuses a dirty tree; see --commit-paths).")(g)
    return g


def execute(out: Output, engine: Engine, plan: Plan,
            commit: CommitSpec | None = None) -> list[ApplyResult]:
    from annosync.sync.engine import apply_plan

    attribution = None
    if commit is not None and commit.enabled:
        from annosync.sync.attribution import Attribution

        attribution = Attribution(engine, commit.paths)
        attribution.prepare(plan)  # refuses before anything is applied
    with out.progress():
        results = apply_plan(engine, plan, report=out.report)
    out.echo(apply_summary(results), "bold green")
    if attribution is not None:
        made = attribution.commit(results, out.report)
        if not made and not out.common.quiet:
            out.echo("Nothing to commit.")
    return results


def plan_and_apply(sources: Sequence[Path], common: Common, mode: Mode, *, dry_run: bool = False,
                   ask: Callable[[Plan], bool] | None = None, commit: CommitSpec | None = None,
                   **extra: Any) -> list[ApplyResult]:
    """The one-shot verbs (sync, pull, push, cleanup): plan, show it, apply it."""
    from annosync.sync.engine import locked, make_plan

    out = Output(common)
    with contextlib.ExitStack() as stack:
        engine = stack.enter_context(open_engine(
            sources, common, common.options(mode, tracker=out.tracker, **extra)))
        if not dry_run:
            stack.enter_context(locked(engine))
        with out.progress():
            plan = make_plan(engine, verbose=common.verbose > 0, save_ids=not dry_run,
                             report=out.report)
        show_plan(out, plan, common)
        if dry_run or not needs_apply(plan):
            return []
        if ask is not None and not ask(plan):
            out.echo("Cancelled: nothing applied.")
            raise click.exceptions.Exit(1)
        return execute(out, engine, plan, commit)


def kind_field_map(values: tuple[str, ...]) -> dict[str, str]:
    """``--field KIND=FIELD`` values of the import verbs, checked against the import's kinds."""
    from annosync.cvatxml.import_ import KINDS

    out: dict[str, str] = {}
    for value in values:
        kind, sep, name = value.partition("=")
        if not sep or kind not in KINDS or not name:
            raise click.BadParameter(
                f"{value!r}: expected KIND=FIELD with KIND one of {', '.join(KINDS)}",
                param_hint="--field")
        out[kind] = name
    return out
