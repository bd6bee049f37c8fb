"""``annosync export-fiftyone DATASET DIR``: a dataset folder as a FiftyOneDataset export."""

from __future__ import annotations

import click

from annosync.cli.bars import choose, progress_flags
from annosync.cli.boundary import guarded


@click.command("export-fiftyone")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.argument("output", type=click.Path(path_type=str))
@progress_flags
@guarded
def command(dataset: str, output: str, no_progress: bool, quiet: bool) -> None:
    """Write DATASET to OUTPUT (new or empty) in FiftyOne's own format, media included, so
    `fo.Dataset.from_dir(OUTPUT, dataset_type=fo.types.FiftyOneDataset)` loads it with every
    label id, attribute, mask and track kept."""
    from annosync.interop.fiftyone import export_fiftyone

    with choose(not no_progress, quiet) as progress:
        report = export_fiftyone(dataset, output, progress=progress)
    click.echo(f"wrote {output}: {report.samples} sample(s), {report.labels} label(s)"
               + (f", {report.frames} frame(s)" if report.frames else "")
               + f", {report.media} media file(s)")
