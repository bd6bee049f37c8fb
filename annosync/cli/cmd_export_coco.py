"""``annosync export-coco DATASET OUT.json``: labels as a COCO instances file."""

from __future__ import annotations

import click

from annosync.cli.bars import choose, progress_flags
from annosync.cli.boundary import guarded


@click.command("export-coco")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.argument("output", type=click.Path(dir_okay=False, path_type=str))
@click.option("--label-field", default=None,
              help="The Detections field (default: the one imported, else ground_truth); "
                   "<field>_polygons and <field>_keypoints join it by coco_id.")
@click.option("--images", "images", type=click.Path(file_okay=False, path_type=str),
              help="Also copy the images into this folder, under their file names.")
@progress_flags
@guarded
def command(dataset: str, output: str, label_field: str | None, images: str | None,
            no_progress: bool, quiet: bool) -> None:
    """Write DATASET's labels to OUTPUT as COCO instances JSON: boxes, polygons, instance
    masks as RLE, keypoints; ids and categories kept from an import."""
    from annosync.interop.coco import export_coco

    with choose(not no_progress, quiet) as progress:
        report = export_coco(dataset, output, label_field=label_field, images=images,
                             progress=progress)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"wrote {output}: {report.images} image(s), {report.annotations} "
               f"annotation(s) from {report.labels} label(s)")
