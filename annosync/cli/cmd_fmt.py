"""``annosync fmt``: re-save label files in canonical form, assigning missing label ids."""

from __future__ import annotations

from pathlib import Path

import click

from annosync.cli.boundary import guarded
from annosync.errors import InputError


@click.command("fmt", short_help="Re-save label files canonically; assign ids.")
@click.argument("datasets", nargs=-1, type=click.Path(path_type=Path, file_okay=False))
@click.option("--check", is_flag=True,
              help="Change nothing; list files that are not canonical and exit 1 if any.")
@click.option("--probe", is_flag=True, help="Fill in missing metadata by reading the media.")
@guarded
def command(datasets: tuple[Path, ...], check: bool, probe: bool) -> None:
    """Re-save every label file of DATASETS (default: the current folder) deterministically.

    Keys sorted, fixed indent and float format, newline at the end; labels without an `_id`
    get one (once: it never changes afterwards). Unchanged files are not touched. Files that
    do not parse are reported and left alone (exit 1).
    """
    from annosync.dataset.fmt import format_folder
    from annosync.dataset.folder import DatasetFolder

    problems = []
    changed_any = False
    for root in datasets or (Path("."),):
        folder = DatasetFolder.open(root)
        result = format_folder(folder, check=check, probe_media=probe)
        problems.extend(result.problems)
        for key in result.changed:
            changed_any = True
            path = folder.label_path(key)
            click.echo(f"{'would reformat' if check else 'reformatted'} {path}")
        click.echo(f"{root}: {len(result.changed)} file(s) {'to reformat' if check else 'reformatted'}, "
                   f"{result.unchanged} unchanged", err=True)
    if problems:
        raise InputError(problems)
    if check and changed_any:
        raise click.exceptions.Exit(1)
