"""``annosync show``: inspect one sample."""

from __future__ import annotations

import json
from pathlib import Path

import click

from annosync.cli.boundary import guarded


@click.command("show", short_help="Show one sample.")
@click.argument("key")
@click.option("-d", "--dataset", type=click.Path(path_type=Path, file_okay=False),
              default=Path("."), show_default=True, help="The dataset folder.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the sample's label file in canonical form.")
@click.option("--summary-json", is_flag=True, help="Print the summary as JSON.")
@guarded
def command(key: str, dataset: Path, as_json: bool, summary_json: bool) -> None:
    """Show sample KEY: media, size, and each field's type, label count and classes.

    KEY is the label file's path below labels/ without .json (as `annosync ls` prints it);
    only that one file is read.
    """
    from annosync.dataset.folder import DatasetFolder, sample_to_bytes
    from annosync.dataset.summary import format_summary, sample_summary

    folder = DatasetFolder.open(dataset)
    key = key[: -len(".json")] if key.endswith(".json") else key
    sample = folder.read(key)
    if as_json:
        click.echo(sample_to_bytes(sample).decode("utf-8"), nl=False)
        return
    summary = sample_summary(key, sample)
    if summary_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    for line in format_summary(summary):
        click.echo(line)
