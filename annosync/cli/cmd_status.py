"""``annosync status``: the tasks and jobs of each run, live from CVAT (``print_status``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from annosync.cli.boundary import guarded
from annosync.cli.options import Common, Output, common_options, open_engine, sources_argument


@click.command("status")
@sources_argument
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@common_options(sync=False)
@guarded
def command(sources: tuple[Path, ...], as_json: bool, common: Common) -> None:
    """Show each run's CVAT tasks (status, assignee, last update, URL) and jobs (stage,
    state, assignee, frames) for SOURCES (default: manifests/)."""
    from annosync.sync.render import Line
    from annosync.sync.review import ReviewFilter
    from annosync.sync.status import get_status, status_lines

    out = Output(common)
    statuses: list[dict[str, Any]] = []
    with open_engine(sources, common, common.options()) as engine:
        for session in engine.sessions:
            record = session.record
            if record is None:
                statuses.append({"anno_key": session.anno_key, "started": False, "tasks": []})
                continue
            status = get_status(record, session.client, ReviewFilter.of(session.manifest.load))
            status["started"] = True
            statuses.append(status)
    if as_json:
        click.echo(json.dumps(statuses, indent=2, sort_keys=True))
        return
    for i, status in enumerate(statuses):
        if i:
            out.echo()
        if not status["started"]:
            out.lines([Line().add(f"Run '{status['anno_key']}': not started "
                                  "(`annosync sync` uploads it)", "dim")])
            continue
        out.lines(status_lines(status))
