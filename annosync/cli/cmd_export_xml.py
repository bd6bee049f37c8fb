"""``annosync export-xml``: write a dataset folder's labels as CVAT XML or a CVAT zip."""

from __future__ import annotations

from typing import Any

import click

from annosync.cli.bars import choose, progress_flags
from annosync.cli.boundary import guarded


@click.command("export-xml")
@click.argument("output", type=click.Path(dir_okay=True, path_type=str))
@click.option("--dataset", "dataset", default=".", show_default=True,
              type=click.Path(file_okay=False, path_type=str), help="The dataset folder.")
@click.option("--format", "layout", type=click.Choice(["images", "video"]), default=None,
              help='"CVAT for images 1.1" (images) or "CVAT for video 1.1" (video, tracks); '
                   "default: the imported file's layout, else images.")
@click.option("--zip/--xml", "as_zip", default=None,
              help="Write a zip (annotations.xml inside) or plain XML; default: by OUTPUT's "
                   "extension.")
@click.option("--with-media", is_flag=True,
              help="Put the images into the zip (images/), as CVAT's save_images does.")
@click.option("-s", "--sample", "samples", multiple=True,
              help="Sample key or glob to export (repeatable); default: all samples.")
@click.option("-f", "--field", "fields", multiple=True,
              help="Label field to export, e.g. gt or frames.gt (repeatable); default: all.")
@click.option("--numbers", type=click.Choice(["exact", "cvat"]), default="exact",
              show_default=True,
              help="exact: {:.2f} unless that changes a value; cvat: always {:.2f}.")
@click.option("--start-frame", default=None, type=click.IntRange(min=0),
              help="New video tasks: the task's first video frame (0-based; default 0).")
@click.option("--stop-frame", default=None, type=click.IntRange(min=0),
              help="New video tasks: the task's last video frame (default: the video's last).")
@click.option("--frame-step", default=None, type=click.IntRange(min=1),
              help="New video tasks: the frame step (frame_filter step=N; default 1).")
@click.option("--task-name", default=None, help="The task name written in a new task's meta.")
@click.option("--label-ids/--no-label-ids", default=None,
              help="Add each label's id as a label_id attribute (the key import-xml merges "
                   "labels back by). Default: on for a new task, off when an imported CVAT "
                   "file is written again; --no-label-ids: a clean file, as CVAT writes it.")
@click.option("--mask-targets", default=None, metavar="1=road,2=car|FILE",
              help="Write segmentations as mask shapes, naming pixel values (0 is background).")
@click.option("--record", "record", default=None, metavar="NAME",
              help="The imported CVAT file to write again (.annosync/cvat/NAME.json), or "
                   "'none' for a new task; default: the one the samples came from.")
@click.option("--anno-key", "anno_key", default=None, metavar="KEY",
              help="Cut videos (frame_start/stop/step) and name mask values (mask_targets) as "
                   "the dataset's annotation run KEY did; explicit options win.")
@click.option("--jobs", "jobs", default=None, type=click.IntRange(min=1),
              help="Processes reading and rendering label files (default: the CPUs, up to "
                   "4; 1: this process only). The file is the same either way.")
@progress_flags
@guarded
def command(output: str, dataset: str, layout: str | None, as_zip: bool | None,
            with_media: bool, samples: tuple[str, ...], fields: tuple[str, ...], numbers: str,
            start_frame: int | None, stop_frame: int | None, frame_step: int | None,
            task_name: str | None, label_ids: bool | None, mask_targets: str | None,
            record: str | None, anno_key: str | None, jobs: int | None,
            no_progress: bool, quiet: bool) -> None:
    """Export labels to OUTPUT (.xml, .zip, or a folder for several videos) in a form CVAT's
    "CVAT 1.1" importer accepts. Samples imported from a CVAT file are written as that task
    again (same meta, frames and ids)."""
    from annosync.cvatxml import export_xml

    with choose(not no_progress, quiet) as progress:
        options: dict[str, Any] = dict(
            layout=layout, samples=samples or None, fields=fields or None, as_zip=as_zip,
            include_media=with_media, numbers=numbers, start_frame=start_frame,
            frame_step=frame_step, stop_frame=stop_frame, task_name=task_name,
            label_ids=label_ids, record=record, mask_targets=mask_targets, progress=progress,
            jobs=jobs)
        if anno_key is None:
            report = export_xml(dataset, output, **options)
        else:
            from annosync.api import run_manifest
            from annosync.dataset.folder import DatasetFolder
            from annosync.sync.record import load_record
            from annosync.sync.xml_options import export_run_xml

            folder = DatasetFolder.open(dataset)
            run = run_manifest(folder, anno_key)
            report = export_run_xml(folder, output, anno_key, run.manifest,
                                    load_record(folder.state_dir, anno_key), **options)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    files = ", ".join(str(f) for f in report.files)
    click.echo(
        f"wrote {files}: {report.samples} sample(s), {report.frames} image(s), "
        f"{report.shapes} shape(s), {report.tags} tag(s), {report.tracks} track(s)"
    )
