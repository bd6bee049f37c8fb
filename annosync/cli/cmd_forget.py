"""``annosync forget``: delete a run's record only (``delete_annotation_run``)."""

from __future__ import annotations

from pathlib import Path

import click

from annosync.cli.boundary import guarded
from annosync.cli.cmd_info import dataset_option, find_run


@click.command("forget")
@click.argument("anno_key")
@dataset_option
@guarded
def command(anno_key: str, sources: tuple[Path, ...]) -> None:
    """Delete the record of run ANNO_KEY (and its journal): labels stay as they are, and so do
    its CVAT tasks (`annosync cleanup --anno-key ANNO_KEY` deletes those first)."""
    from annosync.api import forget_run
    from annosync.sync.record import load_record

    folder = find_run(anno_key, sources)
    record = load_record(folder.state_dir, anno_key)
    forget_run(folder, anno_key)
    click.echo(f"Forgot run {anno_key}.")
    if record is not None and not record.cleaned_at and record.created_task_ids():
        ids = ", ".join(map(str, record.created_task_ids()))
        click.echo(f"note: its CVAT task(s) {ids} stay on {record.server.url if record.server else 'the server'}",
                   err=True)
