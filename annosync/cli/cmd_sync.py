"""``annosync sync``: make CVAT and the dataset folders agree with the manifests, in one shot."""

from __future__ import annotations

from pathlib import Path

import click

from annosync.cli.boundary import guarded
from annosync.cli.options import (
    CommitSpec,
    Common,
    commit_options,
    common_options,
    plan_and_apply,
    sources_argument,
)


@click.command("sync")
@sources_argument
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option("--recreate-missing", is_flag=True,
              help="Upload again the samples of tasks someone deleted in CVAT (the plan "
                   "stops on them otherwise).")
@commit_options
@common_options()
@guarded
def command(sources: tuple[Path, ...], dry_run: bool, recreate_missing: bool,
            commit: CommitSpec, common: Common) -> None:
    """Plan and apply every run of SOURCES (manifest files or folders, or dataset folders;
    default: manifests/): create what is missing in CVAT, pull annotators' changes, push local
    edits. Conflicts stop the run unless --conflicts says how to resolve them.
    """
    plan_and_apply(sources, common, "sync", dry_run=dry_run, commit=commit,
                   recreate_missing=recreate_missing)
