"""``annosync schema``: write (or check) the JSON Schemas in ``formats/``."""

from __future__ import annotations

from pathlib import Path

import click

from annosync.cli.boundary import guarded


@click.command("schema", short_help="Write or check the JSON Schemas in formats/.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("formats"), show_default=True, help="Folder for the schema files.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 if a file is missing or differs from the models.")
@guarded
def command(out_dir: Path, check: bool) -> None:
    """Generate formats/manifest.schema.json and formats/sample.schema.json from the models.

    The output is deterministic; commit it. Editors use the manifest schema for completion:
    put `# yaml-language-server: $schema=../formats/manifest.schema.json` at the top of a
    manifest.
    """
    from annosync.dataset.atomic import write_if_changed
    from annosync.manifest.schemas import generated

    stale: list[str] = []
    for name, data in generated().items():
        target = out_dir / name
        if check:
            try:
                same = target.read_bytes() == data
            except FileNotFoundError:
                same = False
            if not same:
                stale.append(str(target))
        elif write_if_changed(target, data):
            click.echo(f"wrote {target}")
        else:
            click.echo(f"{target} is up to date")
    if stale:
        for path in stale:
            click.echo(f"{path}: out of date with the models; run `annosync schema`", err=True)
        raise click.exceptions.Exit(1)
    if check:
        click.echo("schemas are up to date")
