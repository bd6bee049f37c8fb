"""``annosync import-cvat``: the reference's ``import_annotations()``: bring CVAT tasks made
outside annosync into a dataset folder, and optionally adopt them as an annotation run."""

from __future__ import annotations

from pathlib import Path

import click

from annosync.cli.boundary import guarded
from annosync.cli.options import Common, Output, common_options, kind_field_map


def _label_field(prefix: str, values: tuple[str, ...]) -> str | dict[str, str]:
    """``--label-field PREFIX`` alone, or every kind with ``--field KIND=FIELD`` overrides."""
    from annosync.sync.adopt import KINDS

    if not values:
        return prefix
    return {**{kind: f"{prefix}_{kind}" for kind in KINDS}, **kind_field_map(values)}


@click.command("import-cvat")
@click.argument("dataset", type=click.Path(file_okay=False, path_type=Path))
@click.option("--task-id", "task_ids", type=int, multiple=True, metavar="N",
              help="A CVAT task to import (repeatable).")
@click.option("--project-name", metavar="NAME", help="Import every task of this CVAT project.")
@click.option("--project-id", type=int, metavar="N", help="Import every task of this project.")
@click.option("--data-map", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON/YAML file {CVAT file name: sample key or media path}.")
@click.option("--download-media", is_flag=True,
              help="Download images no data map entry names (original files, from the task's "
                   "export) and create their samples.")
@click.option("--media-dir", metavar="DIR",
              help="Where downloaded images go, relative to the dataset (default: its media "
                   "folder).")
@click.option("--anno-key", metavar="KEY",
              help="Adopt the tasks as this annotation run (pull/sync/status/cleanup then work "
                   "on them).")
@click.option("--label-field", default="ground_truth", show_default=True, metavar="PREFIX",
              help="Labels go to PREFIX_detections, _polylines, _keypoints, _classifications "
                   "(frames.<...> for videos).")
@click.option("--field", "fields", multiple=True, metavar="KIND=FIELD",
              help="Where one kind's labels go instead (repeatable), e.g. detections=gt.")
@click.option("--occluded-attr", metavar="NAME",
              help="Store CVAT's occluded flag as this label attribute.")
@click.option("--group-id-attr", metavar="NAME",
              help="Store CVAT's group number as this label attribute.")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@common_options(sync=False, keys=False)
@guarded
def command(dataset: Path, task_ids: tuple[int, ...], project_name: str | None,
            project_id: int | None, data_map: Path | None, download_media: bool,
            media_dir: str | None, anno_key: str | None, label_field: str,
            fields: tuple[str, ...], occluded_attr: str | None, group_id_attr: str | None,
            dry_run: bool, common: Common) -> None:
    """Import CVAT tasks made outside annosync into DATASET (created if it does not exist):
    the tasks given with --task-id, or every task of a project.

    Each CVAT file is matched to a sample by --data-map, else by name as CVAT does (path
    without extension, or a unique basename); with --download-media, image files are fetched
    into the media folder instead and get new samples. Videos cannot be downloaded (CVAT keeps
    only re-encoded frames): map them to a local file. The receiving fields of matched samples
    are replaced by the tasks' labels. Nothing is written unless everything checks out.

    With --anno-key the tasks become an annotation run, as if annosync had uploaded them: the
    next `annosync plan` shows no changes, and pull, sync, status and cleanup work on them. Like
    the reference's results.cleanup(), `annosync cleanup` then DELETES the adopted tasks from
    CVAT (never their project). A task belongs to one run of a dataset at most.

    Credentials come from ANNOSYNC_CVAT_* variables, the config file, a prompt or
    --password-stdin, never from the command line.
    """
    from annosync.api import connect_to_api
    from annosync.sync.adopt import import_cvat

    if sum(bool(x) for x in (task_ids, project_name, project_id)) != 1:
        raise click.UsageError("give --task-id (repeatable), --project-name or --project-id")
    out = Output(common)
    conn = common.connection()
    with connect_to_api(url=conn.url, username=conn.username, password=conn.password,
                        organization=conn.organization) as client, out.progress() as progress:
        rep = import_cvat(
            dataset, client, task_ids=list(task_ids) or None, project_name=project_name,
            project_id=project_id, data_map=data_map, download_media=download_media,
            anno_key=anno_key, label_field=_label_field(label_field, fields),
            media_dir=media_dir, occluded_attr=occluded_attr, group_id_attr=group_id_attr,
            dry_run=dry_run, report=out.report, progress=progress,
        )
    for warning in rep.warnings:
        click.echo(f"warning: {warning}", err=True)
    verb = "would import" if dry_run else "imported"
    out.echo(
        f"{verb} {rep.labels} label(s) from {len(rep.tasks)} task(s): "
        f"{len(rep.created)} sample(s) created, {len(rep.updated)} updated, "
        f"{len(rep.unchanged)} unchanged"
        + (f", {len(rep.media)} media file(s) downloaded" if rep.media else "")
        + (f", {rep.unexpected} object(s) not imported" if rep.unexpected else ""), "bold")
    if anno_key and not common.quiet:
        out.echo(f"{'would adopt' if dry_run else 'adopted'} the task(s) as run '{anno_key}': "
                 f"`annosync plan {dataset}` shows what changed since; fields: "
                 f"{', '.join(rep.fields)}")
