"""``annosync pull``: the reference's ``load_annotations()``: merge CVAT's work into the labels."""

from __future__ import annotations

from pathlib import Path

import click

from annosync.cli.boundary import guarded
from annosync.cli.options import (
    UNEXPECTED_CHOICES,
    CommitSpec,
    Common,
    commit_options,
    common_options,
    plan_and_apply,
    sources_argument,
)


def parse_dest(values: tuple[str, ...]) -> str | dict[str, str] | None:
    """``--dest-field NAME`` (one field) or ``--dest-field FIELD=NAME`` (repeatable)."""
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    out: dict[str, str] = {}
    for value in values:
        field, sep, dest = value.partition("=")
        if not sep or not field or not dest:
            raise click.BadParameter(f"{value!r}: use FIELD=DEST for several fields",
                                     param_hint="--dest-field")
        out[field] = dest
    return out


@click.command("pull")
@sources_argument
@click.option("--dest-field", multiple=True, metavar="[FIELD=]DEST",
              help="Load into another field instead (FIELD=DEST per field, repeatable).")
@click.option("--unexpected", type=click.Choice(UNEXPECTED_CHOICES),
              help="What to do with labels that fit no field (default: load.unexpected).")
@click.option("--cleanup", is_flag=True, help="Delete the run's CVAT tasks after loading.")
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@commit_options
@common_options()
@guarded
def command(sources: tuple[Path, ...], dest_field: tuple[str, ...], unexpected: str | None,
            cleanup: bool, dry_run: bool, commit: CommitSpec, common: Common) -> None:
    """Download what annotators changed in CVAT and merge it into the label files of SOURCES'
    runs (only jobs updated since the last pull are downloaded). Nothing is pushed.
    """
    plan_and_apply(sources, common, "pull", dry_run=dry_run, dest_field=parse_dest(dest_field),
                   unexpected=unexpected, cleanup=cleanup, commit=commit)
