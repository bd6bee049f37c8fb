"""``annosync ls``: list the samples of a dataset folder, or the selection of a manifest run."""

from __future__ import annotations

import json
from pathlib import Path

import click

from annosync.cli.boundary import guarded
from annosync.errors import InputError


@click.command("ls", short_help="List samples of a dataset or of a run.")
@click.argument("dataset", required=False, type=click.Path(path_type=Path))
@click.option("-m", "--manifest", type=click.Path(path_type=Path, dir_okay=False),
              help="List the samples this manifest's run selects.")
@click.option("--run", "anno_key", help="The run (anno_key) of a manifest holding several.")
@click.option("--include", multiple=True, help="Glob over sample keys (repeatable; ** crosses /).")
@click.option("--exclude", multiple=True, help="Glob over sample keys to leave out (repeatable).")
@click.option("--where", help="JMESPath filter over each sample's JSON (plus `key`).")
@click.option("--sort-by", help="JMESPath sort key (a number or a string).")
@click.option("--reverse", is_flag=True, help="Sort descending.")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many samples.")
@click.option("-l", "--long", "long_", is_flag=True,
              help="Also show media, size and label counts (reads each listed label file).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@guarded
def command(dataset: Path | None, manifest: Path | None, anno_key: str | None,
            include: tuple[str, ...], exclude: tuple[str, ...], where: str | None,
            sort_by: str | None, reverse: bool, limit: int | None, long_: bool,
            as_json: bool) -> None:
    """List sample keys of DATASET (default: the current folder), streaming.

    Keys are printed as they are found, so `annosync ls | head` on 100k samples reads no
    label file (unless --where, --sort-by or --long need them). With --manifest, the run's own
    selection (and dataset) is used: the samples `annosync` would send to CVAT.
    """
    from annosync.dataset.folder import DatasetFolder
    from annosync.dataset.summary import sample_summary
    from annosync.manifest.load import load_file
    from annosync.manifest.select import Selection, finish, iter_select
    from annosync.model.manifest import SampleSelection
    from annosync.model.problems import problems_from_validation

    filters = bool(include or exclude or where or sort_by or reverse or limit is not None)
    if manifest is not None:
        if dataset is not None or filters:
            raise click.UsageError("--manifest brings its own dataset and selection")
        loaded = load_file(manifest)
        errors = [p for p in loaded.problems if p.severity == "error"]
        if errors:
            raise InputError(errors)
        runs = [r for r in loaded.runs if anno_key is None or r.anno_key == anno_key]
        if not runs:
            raise click.UsageError(f"no run {anno_key!r} in {manifest}")
        if len(runs) > 1:
            keys = ", ".join(r.anno_key for r in runs)
            raise click.UsageError(f"{manifest} holds several runs ({keys}): choose one with --run")
        folder = DatasetFolder.open(runs[0].dataset_root)
        selection = runs[0].manifest.samples

        def report(loc: tuple, message: str, severity: str):
            return runs[0].problem(("samples", *loc), message, severity)
    else:
        folder = DatasetFolder.open(dataset or Path("."))
        raw = {"include": list(include) or ["**"], "exclude": list(exclude), "where": where,
               "sort_by": sort_by, "reverse": reverse, "limit": limit}
        try:
            selection = SampleSelection.model_validate(raw)
        except Exception as exc:  # pydantic: report as an input error
            from pydantic import ValidationError
            if isinstance(exc, ValidationError):
                raise InputError(problems_from_validation(exc, "<options>")) from None
            raise

        def report(loc: tuple, message: str, severity: str):
            from annosync.errors import Location, Problem
            return Problem(Location("<options>", None, None, "--" + str(loc[0]).replace("_", "-")),
                           message, severity)

    out = Selection()
    first = True
    if as_json:
        click.echo("[", nl=False)
    for key in iter_select(folder, selection, report, out):
        errors = [p for p in out.problems if p.severity == "error"]
        if errors:
            raise InputError(errors)
        if long_ or as_json:
            row = sample_summary(key, folder.read(key)) if long_ else {"key": key}
        if as_json:
            click.echo(("\n  " if first else ",\n  ") + json.dumps(row, sort_keys=True), nl=False)
        elif long_:
            size = f"{row.get('width', '?')}x{row.get('height', '?')}"
            if row.get("media_type") == "video":
                size += f"x{row.get('frame_count', '?')}f"
            click.echo(f"{key}\t{row.get('media_type', '?')}\t{size}\t{row['labels']} labels"
                       f"\t{row['media']}")
        else:
            click.echo(key)
        first = False
    if as_json:
        click.echo("\n]" if not first else "]")
    finish(out, report)
    errors = [p for p in out.problems if p.severity == "error"]
    if errors:
        raise InputError(errors)
    for p in out.problems:
        click.echo(str(p), err=True)
