"""``annosync demo``: the reference's basic recipe end to end on the bundled CVAT emulator."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from annosync.sync.render import Line
from annosync.cli.boundary import guarded


@click.command("demo")
@click.option("--dir", "work_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Work in this (new or empty) folder and keep it; default: a temporary one.")
@click.option("--keep", is_flag=True, help="Keep the temporary folder (its path is printed).")
@guarded
def command(work_dir: Path | None, keep: bool) -> None:
    """Run the basic recipe on a local CVAT emulator: select a sample by a label query, upload
    it with its ground truth, let a scripted annotator edit it in CVAT, plan and pull the
    changes, show the before/after diff, clean up. Needs no server and no network."""
    from annosync import demo
    from annosync.sync.render import emit


    def out(lines: list[Line]) -> None:
        emit(lines)

    kept = demo.run(out, work_dir, keep)
    if kept is not None:
        click.echo(f"The demo's folder is kept at {kept}.")
