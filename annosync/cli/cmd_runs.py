"""``annosync runs``: the annotation runs recorded in dataset folders (``list_annotation_runs``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from annosync.cli.boundary import guarded
from annosync.cli.options import datasets_of, sources_argument


def run_rows(sources: tuple[Path, ...]) -> list[dict[str, Any]]:
    from annosync.dataset.check import display_path
    from annosync.sync.record import list_records, load_record

    rows = []
    for folder in datasets_of(sources):
        for key in list_records(folder.state_dir):
            record = load_record(folder.state_dir, key)
            if record is None:
                continue
            rows.append({
                "anno_key": key,
                "dataset": display_path(folder.root),
                "created": record.created_at,
                "pulled": record.pulled_at,
                "pushed": record.pushed_at,
                "cleaned": record.cleaned_at,
                "tasks": record.created_task_ids(),
                "samples": sum(len(t.samples) for t in record.tasks),
                "server": record.server.url if record.server else None,
                "manifest": record.manifest,
            })
    return rows


@click.command("runs")
@sources_argument
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@guarded
def command(sources: tuple[Path, ...], as_json: bool) -> None:
    """List the runs recorded in SOURCES (dataset folders, or the datasets of manifests;
    default: manifests/ or the current dataset folder): anno key, created, tasks, server."""
    rows = run_rows(sources)
    if as_json:
        click.echo(json.dumps(rows, indent=2, sort_keys=True))
        return
    if not rows:
        click.echo("No annotation runs recorded.")
        return
    header = ("ANNO KEY", "DATASET", "CREATED", "TASKS", "SAMPLES", "SERVER")
    table = [header] + [
        (r["anno_key"], r["dataset"], r["created"][:19].replace("T", " "),
         ",".join(map(str, r["tasks"])) or "-", str(r["samples"]),
         (r["server"] or "-") + ("  (cleaned up)" if r["cleaned"] else ""))
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        cells = [cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)] + [row[-1]]
        click.echo("  ".join(cells).rstrip())
