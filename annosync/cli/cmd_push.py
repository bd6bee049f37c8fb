"""``annosync push``: upload local label edits (and new samples) to CVAT, pulling nothing."""

from __future__ import annotations

from pathlib import Path

import click

from annosync.cli.boundary import guarded
from annosync.cli.options import Common, common_options, plan_and_apply, sources_argument


@click.command("push")
@sources_argument
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@common_options()
@guarded
def command(sources: tuple[Path, ...], dry_run: bool, common: Common) -> None:
    """Create missing tasks and push local edits of SOURCES' runs to CVAT.

    Samples that also changed in CVAT are not pushed (pull or sync them first).
    """
    plan_and_apply(sources, common, "push", dry_run=dry_run)
