"""plan --render and diff: the changes a sync would make, or a pull made, drawn and listed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from .conftest import Workspace
from .test_verbs import edit_in_cvat


def test_plan_render_draws_cvats_changes_with_the_job(ws: Workspace) -> None:
    ws.manifest(cvat={"url": "${ANNOSYNC_CVAT_URL}", "job_assignees": ["alice"]})
    assert ws.invoke("sync").exit_code == 0
    edit_in_cvat(ws)
    res = ws.invoke("plan", "--render", "review")
    assert res.exit_code == 2, res.output
    out = ws.root / "review"
    assert f"Drew 2 changed sample(s): {Path('review') / 'index.html'}" in res.stdout
    html = (out / "index.html").read_text()
    job = ws.record.tasks[0].jobs[0].id
    assert html.count('<figure class="card"') == 2  # the samples of edit_in_cvat
    assert 'data-key="0001" data-kinds="edited deleted"' in html
    assert 'data-key="0003" data-kinds="added"' in html
    assert f"added person [ground_truth] by CVAT, job {job} (alice)" in html
    assert sorted(p.name for p in out.glob("*.png")) == ["0001.png", "0003.png"]
    with Image.open(out / "0001.png") as img:
        assert img.width > 400
    # nothing was applied: the label files are as before
    assert ws.invoke("plan").exit_code == 2


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   cwd=cwd, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_diff_against_a_revision_and_against_the_last_pull(ws: Workspace) -> None:
    ws.manifest()
    assert ws.invoke("sync").exit_code == 0
    git(ws.root, "init", "-q")
    git(ws.root, "add", "-A")
    git(ws.root, "commit", "-q", "-m", "synced")
    edit_in_cvat(ws)
    assert ws.invoke("pull").exit_code == 0

    res = ws.invoke("diff", "HEAD", "-d", "street", "--json")
    assert res.exit_code == 0, res.output
    changes = json.loads(res.stdout)
    assert [d["sample"] for d in changes] == ["0001", "0003"]
    kinds = [sorted(c["kind"] for c in d["changes"]) for d in changes]
    assert kinds == [["deleted", "edited"], ["added"]]
    job = ws.record.tasks[0].jobs[0].id
    assert {c["who"] for d in changes for c in d["changes"]} == {f"job {job}"}

    # without git revision: the state before the last pull, which is the same change
    res = ws.invoke("diff", "-d", "street", "-v", "--render", "out")
    assert res.exit_code == 0, res.output
    assert "~ labels/0001.json  1 edited, 1 deleted" in res.stdout
    assert "~ labels/0003.json  1 added" in res.stdout
    assert f"spatial, job {job}" in res.stdout
    assert (ws.root / "out" / "0001.png").is_file() and (ws.root / "out" / "0003.png").is_file()
    assert 'data-kinds="edited deleted"' in (ws.root / "out/index.html").read_text()

    res = ws.invoke("diff", "nope", "-d", "street")
    assert res.exit_code == 1 and "unknown git revision 'nope'" in res.stderr
