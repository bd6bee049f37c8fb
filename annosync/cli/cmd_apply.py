"""``annosync apply``: execute a saved plan (refused if stale), or plan and apply at once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from annosync.cli.boundary import guarded
from annosync.cli.options import (
    Common,
    Output,
    common_options,
    confirm,
    execute,
    load_runs,
    needs_apply,
    plan_and_apply,
)

if TYPE_CHECKING:
    from annosync.sync.plan import Plan


def _is_plan_file(paths: tuple[Path, ...]) -> bool:
    return len(paths) == 1 and paths[0].is_file() and paths[0].suffix == ".json"


def _sources_of(plan: Plan) -> list[Path]:
    """Where a saved plan's runs come from: their manifests, else their dataset folders."""
    out: list[Path] = []
    for rp in plan.runs:
        manifest = Path(rp.manifest) if rp.manifest else None
        if manifest is not None and manifest.suffix in (".yaml", ".yml") and manifest.is_file():
            out.append(manifest)
        else:
            out.append(Path(rp.dataset))
    return list(dict.fromkeys(out))


def apply_saved(path: Path, common: Common) -> None:
    from annosync.sync.engine import Engine, load_plan
    from annosync.sync.session import RunSession

    out = Output(common)
    plan = load_plan(path)
    keys = [rp.anno_key for rp in plan.runs]
    runs = load_runs(_sources_of(plan), keys)
    options = common.options(plan.mode, tracker=out.tracker)
    conn = common.connection()
    with Engine([RunSession(r, options, conn) for r in runs]) as engine:
        if not needs_apply(plan):
            out.echo("No changes. CVAT and the dataset agree.")
            return
        execute(out, engine, plan)


@click.command("apply")
@click.argument("plan_or_sources", nargs=-1, type=click.Path(path_type=Path, exists=True))
@click.option("-y", "--yes", is_flag=True, help="Apply a fresh plan without asking.")
@common_options()
@guarded
def command(plan_or_sources: tuple[Path, ...], yes: bool, common: Common) -> None:
    """Apply PLAN_FILE (saved by `annosync plan -o`), or plan SOURCES (default: manifests/)
    and apply that plan at once.

    A saved plan is refused as stale if a label file, a manifest, a run record or a CVAT job
    changed since it was made. A fresh plan is shown first and applied after a yes on a
    terminal (or with --yes; without a terminal --yes is required).
    """
    if _is_plan_file(plan_or_sources):
        apply_saved(plan_or_sources[0], common)
        return

    def ask(plan: Plan) -> bool:
        if yes:
            return True
        import sys

        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise click.UsageError("not on a terminal: pass --yes to apply a fresh plan")
        return confirm("Apply this plan?", yes, default_when_no_terminal=False)

    plan_and_apply(plan_or_sources, common, "sync", ask=ask)
