"""``annosync plan``: what ``sync`` would do, like ``terraform plan -detailed-exitcode``.

Exit codes: 0 no changes, 2 changes to apply, 1 error (any error, so scripts can tell "2" means
"changes" and nothing else).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from annosync.cli.boundary import guarded
from annosync.cli.options import (
    Common,
    Output,
    common_options,
    open_engine,
    show_plan,
    shows_changes,
    sources_argument,
)

MODES = ("sync", "pull", "push", "cleanup")


def render_plan(plan: Any, sessions: list[Any], out: Path, progress: Any) -> int:
    """Draw the plan's changed samples (imports Pillow and PyAV only when asked)."""
    from annosync.visual.gallery import write_review
    from annosync.visual.sources import plan_diffs, skeletons_of

    skeletons: dict[str, Any] = {}
    for session in sessions:
        skeletons.update(skeletons_of(session.folder))
    title = "annosync plan: " + ", ".join(rp.anno_key for rp in plan.runs)
    review = write_review(plan_diffs(plan, sessions), out, title=title, skeletons=skeletons,
                          progress=progress)
    return len(review.images)


@click.command("plan")
@sources_argument
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("-o", "--out", "out_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Save the plan, to apply later with `annosync apply FILE`.")
@click.option("--mode", type=click.Choice(MODES), default="sync", show_default=True,
              help="Plan a sync, a pull, a push or a cleanup.")
@click.option("--render", "render_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Draw every sample the plan changes, before/after, into this folder (one "
                   "PNG each and an index.html gallery).")
@common_options()
def command(sources: tuple[Path, ...], as_json: bool, out_file: Path | None, mode: str,
            render_dir: Path | None, common: Common) -> None:
    """Show what `annosync sync` would do for SOURCES (manifest files or folders, or dataset
    folders; default: manifests/), reading the dataset and CVAT and writing nothing.

    Exit code 0: no changes; 2: changes to apply; 1: error.
    """
    from annosync.sync.engine import make_plan, save_plan

    changes = False
    failed = False

    @guarded
    def body() -> None:
        nonlocal changes, failed
        out = Output(common, as_json=as_json)
        options = common.options(mode, tracker=out.tracker)  # type: ignore[arg-type]
        with open_engine(sources, common, options) as engine, out.progress():
            plan = make_plan(engine, verbose=common.verbose > 0 or as_json)
            if render_dir is not None:
                drawn = render_plan(plan, engine.sessions, render_dir, out.tracker)
        changes = shows_changes(plan)
        failed = any(rp.error for rp in plan.runs)
        if out_file is not None:
            save_plan(plan, out_file)
        if as_json:
            click.echo(json.dumps(plan.model_dump(mode="json"), indent=2, sort_keys=True))
            return
        show_plan(out, plan, common)
        if render_dir is not None and not common.quiet:
            out.echo(f"Drew {drawn} changed sample(s): {render_dir / 'index.html'}")
        if out_file is not None and not common.quiet:
            out.echo(f"Saved the plan to {out_file}: `annosync apply {out_file}` applies it "
                     "(refused if anything changes first).")

    try:
        body()
    except click.exceptions.Exit as exc:
        if exc.exit_code:
            raise click.exceptions.Exit(1) from None
        raise
    raise click.exceptions.Exit(1 if failed else 2 if changes else 0)
