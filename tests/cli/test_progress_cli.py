"""Progress as the verbs show it: log lines on stderr off a terminal, nothing with -q or
--json, and stdout never mixed with it."""

from __future__ import annotations

import json

from .conftest import Workspace


def test_sync_logs_each_long_step_on_stderr(ws: Workspace) -> None:
    ws.manifest()
    res = ws.invoke("sync")
    assert res.exit_code == 0, res.output
    task = f"annosync_street_{ws.anno_key}"
    lines = res.stderr.splitlines()
    media = next(line for line in lines if line.startswith(f"upload media {task}: "))
    size = sum((ws.dataset / "media" / f"{k}.jpg").stat().st_size for k in ("0001", "0003"))
    assert f"{size / 1000:.1f} KB, 2 file(s)" in media
    prepared = next(i for i, line in enumerate(lines) if line.startswith(f"CVAT prepares {task}: "))
    assert lines[prepared].startswith(f"CVAT prepares {task}: 100%, finished in ")
    assert lines.index(media) < prepared  # the wait shows up once the upload ended
    assert any(line.startswith(f"upload labels {task}: 6 labels in ") for line in lines)
    assert any(line.startswith(f"plan {ws.anno_key}: read new samples: 2 samples")
               for line in lines)
    assert "upload media" not in res.stdout  # progress never lands on stdout

    res = ws.invoke("plan")
    assert any(line.startswith(f"plan {ws.anno_key}: compare with CVAT: 1 tasks in ")
               for line in res.stderr.splitlines())


def test_quiet_and_json_show_no_progress(ws: Workspace) -> None:
    ws.manifest()
    res = ws.invoke("plan", "--json")
    assert res.stderr == ""
    assert json.loads(res.stdout)["runs"][0]["anno_key"] == ws.anno_key
    res = ws.invoke("sync", "-q")
    assert res.exit_code == 0 and res.stderr == ""
    res = ws.invoke("sync", "--no-progress")
    assert res.exit_code == 0 and res.stderr == ""
