"""``annosync init``: create a dataset folder and a label file for each media file in it."""

from __future__ import annotations

from pathlib import Path

import click

from annosync.cli.boundary import guarded
from annosync.errors import InputError


@click.command("init", short_help="Create a dataset folder and scan its media.")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--media", "media", default="media", show_default=True,
              help="Media folder, inside DIRECTORY (relative to it, or an absolute path).")
@click.option("--name", default=None, help="Dataset name (default: the folder name).")
@guarded
def command(directory: Path, media: str, name: str | None) -> None:
    """Create a dataset folder (or update one) and scan its media into label files.

    Creates DIRECTORY/dataset.yaml, DIRECTORY/labels/ and the media folder if missing, then
    writes one label file (with width, height, and fps and frame count for videos) for every
    image or video under the media folder that has none yet. Existing label files are never
    touched, so running it again after adding media only adds the new samples.
    """
    from annosync.dataset.folder import DatasetFolder

    root = directory.absolute()
    media_path = Path(media)
    if media_path.is_absolute():
        try:
            media_path = media_path.resolve().relative_to(root.resolve())
        except ValueError:
            raise InputError.at(
                "the media folder must be inside the dataset folder (copy or link the media "
                f"into {directory})", str(media)) from None
    if any(part == ".." for part in media_path.parts):
        raise InputError.at("the media folder must be inside the dataset folder", str(media))
    folder = DatasetFolder.init(root, name=name, media_dir=media_path.as_posix())
    if folder.info.media_dir != media_path.as_posix():
        click.echo(f"note: dataset.yaml already names media folder {folder.info.media_dir!r}; "
                   "using it", err=True)
    created = folder.scan_media()
    total = sum(1 for _ in folder)
    click.echo(f"{directory}: {len(created)} new sample(s), {total} in all "
               f"(media in {folder.info.media_dir}/)")
