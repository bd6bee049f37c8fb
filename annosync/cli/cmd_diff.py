"""``annosync diff [REV]``: what changed in the label files, label by label, and drawn.

Against a git revision (``annosync diff HEAD``), or without one against the state before the
run's last pull (kept in ``.annosync/previous``). ``--render OUT`` draws every changed sample
before/after into OUT (one PNG each and an ``index.html`` gallery, see ``annosync/visual``).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from annosync.cli.bars import choose, progress_flags
from annosync.cli.boundary import guarded


@click.command("diff")
@click.argument("rev", required=False)
@click.option("-d", "--dataset", "dataset", default=".", show_default=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The dataset folder.")
@click.option("--anno-key", default=None, metavar="KEY",
              help="Without REV: the run whose last pull to compare with.")
@click.option("--render", "render_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Draw each changed sample before/after into this folder (PNGs and "
                   "index.html).")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@click.option("-v", "--verbose", count=True, help="One line per changed label.")
@progress_flags
@guarded
def command(rev: str | None, dataset: Path, anno_key: str | None, render_dir: Path | None,
            as_json: bool, verbose: int, no_progress: bool, quiet: bool) -> None:
    """Show how the label files differ from git revision REV (e.g. HEAD, main~1), or, with
    no REV, from the state before the run's last pull: labels added, edited (which aspects),
    deleted, with the CVAT job and assignee that hold each sample."""
    from annosync.dataset.folder import DatasetFolder
    from annosync.visual.sources import git_diffs, previous_diffs, skeletons_of

    folder = DatasetFolder.open(dataset)
    if rev is not None:
        title, diffs = f"{folder.name}: {rev} -> working tree", git_diffs(folder, rev)
    else:
        since, diffs = previous_diffs(folder, anno_key)
        title = f"{folder.name}: {since} -> now"
    if as_json:
        click.echo(json.dumps([{"sample": d.key, "changes": [
            {"field": c.field, "label_id": c.label_id, "kind": c.kind, "label": c.label,
             "frame": c.frame, "aspects": list(c.aspects), "who": c.who or None}
            for c in d.changes]} for d in diffs], indent=2, sort_keys=True))
    elif not quiet:
        click.echo(title)
        for d in diffs:
            counts = ", ".join(f"{sum(1 for c in d.changes if c.kind == k)} {k}" for k in d.kinds)
            click.echo(f"  ~ labels/{d.key}.json  {counts}")
            if verbose:
                for c in d.changes:
                    click.echo(f"      {c.describe()}")
        if not diffs:
            click.echo("  (no label changes)")
    if render_dir is not None:
        from annosync.visual.gallery import write_review

        with choose(not no_progress, quiet, as_json) as progress:
            review = write_review([(d, folder.root) for d in diffs], render_dir, title=title,
                                  skeletons=skeletons_of(folder), progress=progress)
        if not as_json:
            click.echo(f"Drew {len(review.images)} sample(s): {review.index}")
