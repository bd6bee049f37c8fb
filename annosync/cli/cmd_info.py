"""``annosync info``: one run's record (``get_annotation_info``): config, schema, tasks, jobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from annosync.dataset.folder import DatasetFolder
from annosync.cli.boundary import guarded
from annosync.cli.options import datasets_of
from annosync.errors import StateError


def find_run(anno_key: str, sources: tuple[Path, ...]) -> DatasetFolder:
    """The dataset folder holding the record of ``anno_key`` among SOURCES."""
    from annosync.dataset.check import display_path
    from annosync.sync.record import load_record

    found = [f for f in datasets_of(sources) if load_record(f.state_dir, anno_key) is not None]
    if not found:
        raise StateError(f"no recorded annotation run {anno_key!r} "
                         f"(looked in {', '.join(map(str, sources)) or 'manifests/'}; "
                         "use -d DATASET)")
    if len(found) > 1:
        where = ", ".join(display_path(f.root) for f in found)
        raise StateError(f"run {anno_key!r} is recorded in several datasets ({where}): use -d")
    return found[0]


def dataset_option(f: Any) -> Any:
    return click.option(
        "-d", "--dataset", "sources", multiple=True,
        type=click.Path(path_type=Path, exists=True),
        help="Dataset folder, or manifests naming it (default: manifests/ or .).")(f)


@click.command("info")
@click.argument("anno_key")
@dataset_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--full", is_flag=True, help="The whole record (id maps, base digests) as JSON.")
@guarded
def command(anno_key: str, sources: tuple[Path, ...], as_json: bool, full: bool) -> None:
    """Show run ANNO_KEY: its config, label schema as sent, server, project, tasks and jobs."""
    from annosync.api import run_info
    from annosync.dataset.check import display_path
    from annosync.sync.record import load_record

    folder = find_run(anno_key, sources)
    record = load_record(folder.state_dir, anno_key)
    assert record is not None
    info = run_info(record, full=full)
    if as_json or full:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    server = info["server"] or {}
    click.echo(f"Run {anno_key} (dataset {display_path(folder.root)})")
    for name in ("timestamp", "updated_at", "pulled_at", "pushed_at", "cleaned_at", "manifest"):
        if info.get(name):
            click.echo(f"  {name.replace('_', ' ')}: {info[name]}")
    if server:
        version = f" (CVAT {server['version']})" if server.get("version") else ""
        click.echo(f"  server: {server.get('url')}{version}")
    if info["project"]:
        p = info["project"]
        click.echo(f"  project: {p.get('id')} {p.get('name') or ''}".rstrip()
                   + ("  (created by this run)" if p.get("created") else ""))
    click.echo("  config:")
    for line in json.dumps(info["config"], indent=2, sort_keys=True).splitlines():
        click.echo(f"    {line}")
    fields = (info["label_schema"] or {}).get("fields", {})
    click.echo("  label schema:")
    for path, spec in fields.items():
        classes = [c.get("name") for c in spec.get("classes", [])]
        attrs = sorted({a["name"] for c in spec.get("classes", []) for a in c.get("attributes", [])})
        click.echo(f"    {path}: {spec.get('type')} ({spec.get('cvat_type')}), "
                   f"classes {', '.join(map(str, classes)) or '-'}"
                   + (f", attributes {', '.join(attrs)}" if attrs else ""))
    click.echo(f"  tasks: {len(info['tasks'])}")
    for t in info["tasks"]:
        click.echo(f"    task {t['id'] if t['id'] is not None else '-'} {t['name']}: {t['state']}, "
                   f"{len(t['samples'])} sample(s)")
        for j in t["jobs"]:
            who = f", {j['assignee']}" if j.get("assignee") else ""
            click.echo(f"      job {j['id']}: frames {j['start_frame']}-{j['stop_frame']}, "
                       f"{j.get('stage') or '?'}/{j.get('state') or '?'}{who}")
