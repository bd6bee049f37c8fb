"""``annosync import-fiftyone DIR DATASET``: a FiftyOneDataset export into a new dataset folder."""

from __future__ import annotations

import click

from annosync.cli.bars import choose, progress_flags
from annosync.cli.boundary import guarded


@click.command("import-fiftyone")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.argument("dataset", type=click.Path(path_type=str))
@click.option("--skip-unsupported", is_flag=True,
              help="Leave out fields of types annosync does not model (with a warning) instead "
                   "of refusing the export.")
@progress_flags
@guarded
def command(source: str, dataset: str, skip_unsupported: bool, no_progress: bool,
            quiet: bool) -> None:
    """Make the dataset folder DATASET from SOURCE, a folder written by FiftyOne's
    `dataset.export(dataset_type=fo.types.FiftyOneDataset)` (metadata.json, samples.json,
    frames.json, data/). FiftyOne need not be installed.

    Label ids, attributes, tags, confidences, masks and track indexes are kept; sample ids and
    the dataset's classes, mask targets and skeletons go to DATASET/.annosync/fiftyone.json, so
    `annosync export-fiftyone` gives them back. DATASET must be new or empty; nothing is
    written unless the whole export reads cleanly.
    """
    from annosync.interop.fiftyone import import_fiftyone

    with choose(not no_progress, quiet) as progress:
        report = import_fiftyone(source, dataset, skip_unsupported=skip_unsupported,
                                 progress=progress)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"imported {report.samples} sample(s), {report.labels} label(s)"
               + (f", {report.frames} frame(s)" if report.frames else "")
               + f", {report.media} media file(s) into {dataset}")
