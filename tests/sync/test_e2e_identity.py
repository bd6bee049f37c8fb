"""Upload then download with no edits is the identity, for every label type, images and video."""

from __future__ import annotations

from pathlib import Path

import yaml

from annosync.sync.record import save_record

from .conftest import Workspace

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


def forget_job_dates(ws: Workspace) -> None:
    """Make every job look changed, so the next plan downloads and merges everything."""
    record = ws.record
    for task in record.tasks:
        for job in task.jobs:
            job.updated_date = None
    save_record(ws.folder.state_dir, record)


def assert_identity(ws: Workspace) -> None:
    keys = list(ws.folder.keys())
    before = {k: ws.folder.read_bytes(k) for k in keys}
    forget_job_dates(ws)
    plan = ws.plan()
    assert plan.jobs_changed, "everything should have been downloaded"
    assert not plan.samples and not plan.conflicts and not plan.unexpected, plan.samples
    _, result = ws.run()
    assert not result.written
    assert {k: ws.folder.read_bytes(k) for k in keys} == before
    assert not ws.plan().has_changes


def test_every_image_label_type_round_trips(ws: Workspace) -> None:
    ws.copy("street")
    spec = yaml.safe_load((MANIFESTS / "every_type.yaml").read_text())
    ws.manifest(**{k: v for k, v in spec.items() if k not in ("anno_key", "dataset")})
    plan, _ = ws.run()
    assert plan.create_tasks and not plan.warnings, plan.warnings
    counts = {path: 0 for path in ws.record.label_schema["fields"]}
    for fields in ws.record.base.values():
        for path, entries in fields.items():
            counts[path] += len(entries)
    assert all(counts.values()), counts  # every field went up and came back
    assert_identity(ws)


def test_video_tracks_and_frame_labels_round_trip(ws: Workspace) -> None:
    ws.copy("traffic")
    ws.manifest(label_schema={"frames.vehicles": {}, "frames.activity": {}})
    ws.run()
    assert_identity(ws)
