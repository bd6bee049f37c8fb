"""``annosync import-xml``: read a CVAT XML file or CVAT zip into a dataset folder."""

from __future__ import annotations

import click

from annosync.cli.bars import choose, progress_flags
from annosync.cli.boundary import guarded
from annosync.cli.options import kind_field_map


@click.command("import-xml")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option("--dataset", "dataset", default=".", show_default=True,
              type=click.Path(file_okay=False, path_type=str),
              help="The dataset folder (created if it does not exist).")
@click.option("--data-map", "data_map", type=click.Path(exists=True, dir_okay=False,
                                                        path_type=str),
              help="JSON/YAML file mapping XML image names (or a video's name) to sample keys.")
@click.option("--label-field", default="ground_truth", show_default=True,
              help="New labels go to <label-field>_<kind> (frames.<...> for videos).")
@click.option("--field", "fields", multiple=True,
              help="KIND=FIELD: where new labels of a kind go (repeatable), e.g. "
                   "detections=gt.")
@click.option("--mode", type=click.Choice(["replace", "merge"]), default="replace",
              show_default=True,
              help="replace the receiving fields (as CVAT does) or merge into them.")
@click.option("--unmatched", type=click.Choice(["error", "skip", "create"]), default=None,
              help="An image no sample matches: error (default for an existing dataset), "
                   "skip, or create a sample (default for a new dataset).")
@click.option("--sample", default=None, help="The video sample a video task goes to.")
@click.option("--media", "media", type=click.Path(exists=True, file_okay=False, path_type=str),
              help="Folder to copy the media of new samples from (by the names in the file).")
@click.option("--no-media", is_flag=True, help="Do not extract images from a zip.")
@click.option("--max-zip-size", default="4GiB", show_default=True,
              help="Refuse a zip whose members would expand to more than this in total.")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Processes that read parts of a big file into a new dataset side by side "
                   "[default: the CPUs, up to 4]; the result is the same.")
@progress_flags
@guarded
def command(source: str, dataset: str, data_map: str | None, label_field: str,
            fields: tuple[str, ...], mode: str, unmatched: str | None, sample: str | None,
            media: str | None, no_media: bool, max_zip_size: str, dry_run: bool,
            jobs: int | None, no_progress: bool, quiet: bool) -> None:
    """Import SOURCE (CVAT XML or a CVAT zip, from CVAT's UI or from export-xml).

    Images are matched to samples by name (path without extension, as CVAT does; also the
    basename) or by --data-map. A label_id attribute naming an existing label merges into it.
    Nothing is written unless the whole file is valid.
    """
    from annosync.cvatxml import import_xml
    from annosync.cvatxml.zipio import ZipLimits, parse_size

    limit = parse_size(max_zip_size)
    with choose(not no_progress, quiet) as progress:
        report = import_xml(
            source, dataset, data_map=data_map, label_field=label_field,
            fields=kind_field_map(fields), mode=mode,  # type: ignore[arg-type]
            unmatched=unmatched, sample=sample,  # type: ignore[arg-type]
            extract_media=not no_media, media=media, dry_run=dry_run,
            limits=ZipLimits(max_total_bytes=limit, max_member_bytes=limit),
            progress=progress, jobs=jobs,
        )
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    verb = "would import" if dry_run else "imported"
    click.echo(
        f"{verb} {report.labels} label(s) ({report.merged} merged by id): "
        f"{len(report.created)} sample(s) created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged"
        + (f", {len(report.skipped_images)} image(s) skipped" if report.skipped_images else "")
        + (f", {len(report.media)} media file(s) added" if report.media else "")
    )
    if report.missing_media:
        click.echo(
            f"note: {len(report.missing_media)} new sample(s) have no media file yet (e.g. "
            f"{report.missing_media[0]}): copy the files there, or import again with "
            "--media DIR", err=True)
