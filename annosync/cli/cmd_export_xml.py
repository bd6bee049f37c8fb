"""``annosync export-xml``: write a dataset folder's labels as CVAT XML or a CVAT zip."""

from __future__ import annotations

import click

from annosync.cli.bars import choose, progress_flags
from annosync.cli.boundary import guarded


@click.command("export-xml")
@click.argument("output", type=click.Path(dir_okay=True, path_type=str))
@click.option("--dataset", "dataset", default=".", show_default=True,
              type=click.Path(file_okay=False, path_type=str), help="The dataset folder.")
@click.option("--format", "layout", type=click.Choice(["images", "video"]), default="images",
              show_default=True,
              help='"CVAT for images 1.1" (images) or "CVAT for video 1.1" (video, tracks).')
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
@click.option("--start-frame", default=0, show_default=True, type=click.IntRange(min=0),
              help="Videos: the task's first video frame (0-based).")
@click.option("--frame-step", default=1, show_default=True, type=click.IntRange(min=1),
              help="Videos: the task's frame step (frame_filter step=N).")
@click.option("--task-name", default=None, help="The task name written in the meta.")
@progress_flags
@guarded
def command(output: str, dataset: str, layout: str, as_zip: bool | None, with_media: bool,
            samples: tuple[str, ...], fields: tuple[str, ...], numbers: str, start_frame: int,
            frame_step: int, task_name: str | None, no_progress: bool, quiet: bool) -> None:
    """Export labels to OUTPUT (.xml, .zip, or a folder for several videos) in a form CVAT's
    "CVAT 1.1" importer accepts. Each label's id travels as its label_id attribute."""
    from annosync.cvatxml import export_xml

    with choose(not no_progress, quiet) as progress:
        report = export_xml(
            dataset, output, layout=layout,  # type: ignore[arg-type]
            samples=samples or None, fields=fields or None, as_zip=as_zip,
            include_media=with_media, numbers=numbers,  # type: ignore[arg-type]
            start_frame=start_frame, frame_step=frame_step, task_name=task_name,
            progress=progress,
        )
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    files = ", ".join(str(f) for f in report.files)
    click.echo(
        f"wrote {files}: {report.samples} sample(s), {report.frames} image(s), "
        f"{report.shapes} shape(s), {report.tags} tag(s), {report.tracks} track(s)"
    )
