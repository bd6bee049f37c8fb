"""``annosync rename``: rename a run (``rename_annotation_run``)."""

from __future__ import annotations

from pathlib import Path

import click

from annosync.cli.boundary import guarded
from annosync.cli.cmd_info import dataset_option, find_run


@click.command("rename")
@click.argument("old")
@click.argument("new")
@dataset_option
@guarded
def command(old: str, new: str, sources: tuple[Path, ...]) -> None:
    """Rename run OLD to NEW: its record (and the manifest the Python API wrote for it).

    A manifest of yours that declares OLD must be edited too, or the next sync starts a new run.
    """
    from annosync.api import rename_run

    folder = find_run(old, sources)
    for warning in rename_run(folder, old, new):
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"Renamed run {old} to {new}.")
