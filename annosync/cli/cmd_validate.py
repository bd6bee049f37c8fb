"""``annosync validate``: check manifests, dataset folders and label files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from annosync.cli.boundary import guarded

if TYPE_CHECKING:
    from annosync.dataset.folder import DatasetFolder
    from annosync.manifest.load import LoadedManifest
from annosync.errors import Problem

DEFAULT_PATH = "manifests"


def reconciler_schema_check(run: LoadedManifest, folder: DatasetFolder,
                            keys: list[str]) -> list[Problem]:
    """The label-schema rules ``plan`` applies (``model/schema_rules.py``, with what
    ``convert/infer.py`` observes on the selected samples), at the manifest's lines."""
    from annosync.convert.infer import infer_fields
    from annosync.manifest.rules import locate_schema_problems
    from annosync.model.schema_rules import check_schema

    schemas = run.manifest.field_schemas()
    if not schemas or run.manifest.cvat.project_id is not None:
        return []  # an existing project's schema is the CVAT project's, checked by `plan`
    observed = infer_fields(list(schemas), (folder.read(k) for k in keys))
    problems = check_schema(schemas, observed, run.manifest.cvat.occluded_attr,
                            run.manifest.cvat.group_id_attr)
    return locate_schema_problems(run, problems)


@click.command("validate", short_help="Check manifests, dataset folders and label files.")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report instead of text.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@click.option("--probe-media", is_flag=True,
              help="Also open every media file and compare it with the recorded metadata (slow).")
@click.option("--no-media", is_flag=True, help="Do not check that media and mask files exist.")
@guarded
def command(paths: tuple[str, ...], as_json: bool, strict: bool, probe_media: bool,
            no_media: bool) -> None:
    """Check manifests and label files against every rule; print file:line: message.

    PATHS may be manifest files or folders of them (default: manifests/), dataset folders
    (every label file is checked) and single label files. For each manifest run the dataset is
    opened, the sample selection applied and the selected label files checked.

    Exit status: 0 when there are no errors (warnings are allowed unless --strict), 1 when
    there are, 2 on an internal error.
    """
    from annosync.manifest.validate import format_problem, validate_paths

    if not paths:
        if not Path(DEFAULT_PATH).is_dir():
            raise click.UsageError(
                f"no PATHS given and no {DEFAULT_PATH}/ folder here: name manifests, "
                "dataset folders or label files to check"
            )
        paths = (DEFAULT_PATH,)
    report = validate_paths(list(paths), check_media=not no_media, probe_media=probe_media,
                            schema_check=reconciler_schema_check)
    ok = report.ok(strict)
    if as_json:
        click.echo(json.dumps(report.to_json(strict), indent=2, sort_keys=True))
    else:
        for p in report.problems:
            click.echo(format_problem(p))
        checked = (
            f"{report.manifest_files} manifest file(s), {report.runs} run(s), "
            f"{report.datasets} dataset folder(s), {report.label_files} label file(s)"
        )
        status = "ok" if ok else "FAILED"
        click.echo(f"{status}: {report.errors} error(s), {report.warnings} warning(s) in {checked}")
    if not ok:
        raise click.exceptions.Exit(1)
