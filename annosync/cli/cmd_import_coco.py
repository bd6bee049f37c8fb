"""``annosync import-coco JSON DATASET``: a COCO instances file and its images into a new
dataset folder."""

from __future__ import annotations

import click

from annosync.cli.bars import choose, progress_flags
from annosync.cli.boundary import guarded


@click.command("import-coco")
@click.argument("annotations", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.argument("dataset", type=click.Path(path_type=str))
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=str),
              help="The images folder (default: data/ or images/ next to the JSON, else its "
                   "folder).")
@click.option("--label-field", default="ground_truth", show_default=True,
              help="Boxes and RLE masks go here; polygons to <field>_polygons, keypoints to "
                   "<field>_keypoints.")
@progress_flags
@guarded
def command(annotations: str, dataset: str, images: str | None, label_field: str,
            no_progress: bool, quiet: bool) -> None:
    """Make the dataset folder DATASET (new or empty) from a COCO instances JSON (boxes,
    polygons, RLE masks, keypoints). Annotation ids stay as the coco_id attribute; image ids,
    categories, info and licenses go to DATASET/.annosync/coco.json for `annosync
    export-coco`. Nothing is written unless the whole file reads cleanly."""
    from annosync.interop.coco import import_coco

    with choose(not no_progress, quiet) as progress:
        report = import_coco(annotations, dataset, images=images, label_field=label_field,
                             progress=progress)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"imported {report.images} image(s), {report.annotations} annotation(s) as "
               f"{report.labels} label(s) into {dataset}")
