"""``annosync cleanup``: delete a run's CVAT tasks (the reference's ``results.cleanup()``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from annosync.cli.boundary import guarded
from annosync.cli.options import Common, common_options, confirm, plan_and_apply, sources_argument

if TYPE_CHECKING:
    from annosync.sync.plan import Plan


@click.command("cleanup")
@sources_argument
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; change nothing.")
@common_options()
@guarded
def command(sources: tuple[Path, ...], yes: bool, dry_run: bool, common: Common) -> None:
    """Delete from CVAT the tasks (and the project, if the run created it) of SOURCES' runs.

    Labels and run records stay: `annosync forget` removes a record. Use --anno-key to pick
    runs. Asks first on a terminal unless --yes.
    """

    def ask(plan: Plan) -> bool:
        n = sum(len(r.cleanup.tasks) for r in plan.runs if r.cleanup is not None)
        return confirm(f"Delete {n} task(s) from CVAT?", yes, default_when_no_terminal=True)

    plan_and_apply(sources, common, "cleanup", dry_run=dry_run, ask=ask)
