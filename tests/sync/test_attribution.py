"""Git attribution on real git repositories: one commit per pulled job, authored by its CVAT
assignee, committed by the user, with the run state; the user's own changes never committed."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from annosync.cli.main import cli
from annosync.errors import StateError
from annosync.sync.attribution import Attribution, _git_date
from annosync.sync.engine import apply_plan, make_plan, open_sessions
from annosync.sync.record import record_path, shard_dir, source_digest
from annosync.sync.session import SyncOptions
from annosync.sync.shards import RECORD_FORMAT

from .conftest import Workspace
from .test_review import first_box, move

COMMITTER = {"GIT_COMMITTER_NAME": "Dana Reviewer", "GIT_COMMITTER_EMAIL": "dana@example.org"}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture(autouse=True)
def committer(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in COMMITTER.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Dana Reviewer")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "dana@example.org")


def repo_run(ws: Workspace, **cvat: Any) -> list[str]:
    """A git repository holding a street dataset whose run is on CVAT: jobs 0-1 (alice),
    2-3 (bob), 4 (alice); everything committed."""
    ws.copy("street")
    ws.manifest(label_field="ground_truth", attributes=["iscrowd"],
                cvat={"segment_size": 2, "job_assignees": [ws.user("alice"), ws.user("bob")],
                      **cvat})
    ws.run()
    git(ws.root, "init", "-q", "-b", "main")
    git(ws.root, "add", "-A")
    git(ws.root, "commit", "-q", "-m", "start")
    return ws.record.tasks[0].samples


def pull(ws: Workspace, paths: tuple[Path, ...] = (), mode: str = "pull") -> list[str]:
    with open_sessions([ws.manifest_path], SyncOptions(mode=mode), ws.connection) as eng:  # type: ignore[arg-type]
        plan = make_plan(eng)
        attribution = Attribution(eng, paths)
        attribution.prepare(plan)
        results = apply_plan(eng, plan)
        return [c.sha for c in attribution.commit(results)]


def rel(ws: Workspace, key: str) -> str:
    return ws.folder.label_path(key).relative_to(ws.root).as_posix()


def record_rel(ws: Workspace) -> str:
    return record_path(ws.folder.state_dir, ws.anno_key).relative_to(ws.root).as_posix()


def committed(ws: Workspace, sha: str) -> list[str]:
    """The files a commit changed, the run record's shards left out; they are checked here:
    the commit holds exactly the shards its record head names, with the bytes it names."""
    shards = shard_dir(ws.folder.state_dir, ws.anno_key).relative_to(ws.root).as_posix() + "/"
    head = json.loads(git(ws.root, "show", f"{sha}:{record_rel(ws)}"))
    assert head["format"] == RECORD_FORMAT
    for ref in head["shards"]:
        data = subprocess.run(["git", "-C", str(ws.root), "cat-file", "blob",
                               f"{sha}:{shards}{ref['file']}"], check=True,
                              capture_output=True).stdout
        assert source_digest(data) == ref["digest"]
    held = git(ws.root, "ls-tree", "-r", "--name-only", sha, "--", shards).split()
    assert sorted(held) == sorted(shards + r["file"] for r in head["shards"])
    names = git(ws.root, "show", "--name-only", "--format=", sha).split()
    return [n for n in names if not n.startswith(shards)]


def test_one_commit_per_pulled_job_by_its_assignee(ws: Workspace) -> None:
    keys = repo_run(ws)
    jobs = ws.record.tasks[0].jobs
    assert [j.assignee for j in jobs] == [ws.user("alice"), ws.user("bob"), ws.user("alice")]
    old_dates = [j.updated_date for j in jobs]
    edited = first_box(ws, keys[1]).id
    move(ws, keys[1], 11)  # job 0 (alice)
    move(ws, keys[2], 12)  # job 1 (bob)

    shas = pull(ws)
    assert len(shas) == 2
    log = git(ws.root, "log", "--format=%an|%ae|%cn|%ce|%s", "-3").splitlines()
    alice, bob = ws.user("alice"), ws.user("bob")
    assert log[1].split("|")[:4] == [alice, f"{alice}@example.com", "Dana Reviewer",
                                     "dana@example.org"]
    assert log[0].split("|")[:4] == [bob, f"{bob}@example.com", "Dana Reviewer",
                                     "dana@example.org"]
    assert log[2].endswith("|start")
    first, second = shas
    assert committed(ws, first) == sorted(
        [rel(ws, keys[1]), record_rel(ws)])
    assert committed(ws, second) == sorted(
        [rel(ws, keys[2]), record_rel(ws)])
    message = git(ws.root, "show", "-s", "--format=%B", first)
    task = ws.record.tasks[0]
    assert message.startswith(f"pull {ws.anno_key}: job {jobs[0].id} of task {task.id} ({alice})")
    assert f"Job:      {ws.server.url}/tasks/{task.id}/jobs/{jobs[0].id}" in message
    assert "Stage:    annotation (new)" in message
    assert "Labels:   ground_truth: 1 edited" in message
    assert f"Annosync-Run: {ws.anno_key}" in message
    # author date = the job's last update in CVAT
    assert int(git(ws.root, "show", "-s", "--format=%at", first)) == int(
        _git_date(ws.record.tasks[0].jobs[0].updated_date)[1:].split()[0])  # type: ignore[index]

    # the first commit's run record has pulled job 0 only: a consistent state
    staged = json.loads(git(ws.root, "show", f"{first}:{record_rel(ws)}"))
    dates = [j["updated_date"] for j in staged["tasks"][0]["jobs"]]
    assert dates[0] != old_dates[0] and dates[1:] == old_dates[1:]
    final = json.loads(git(ws.root, "show", f"{second}:{record_rel(ws)}"))
    assert final == json.loads(Path(ws.root, record_rel(ws)).read_text())
    assert git(ws.root, "status", "--porcelain", "--untracked-files=no") == ""

    # blame: the edited box's lines come from alice's commit
    blame = git(ws.root, "blame", "--line-porcelain", rel(ws, keys[1]))
    authors = {line.split(" ", 1)[1] for line in blame.splitlines() if line.startswith("author ")}
    assert authors == {alice, "Dana Reviewer"}
    assert edited in ws.folder.label_path(keys[1]).read_text()
    assert pull(ws) == []  # nothing new: no commit


def test_users_staged_work_is_never_committed(ws: Workspace) -> None:
    keys = repo_run(ws)
    notes = ws.root / "notes.txt"
    notes.write_text("mine\n")
    git(ws.root, "add", "notes.txt")  # staged by the user, outside the dataset
    move(ws, keys[0], 7)
    with pytest.raises(StateError, match=r"notes.txt .*commit or stash"):
        pull(ws)
    assert git(ws.root, "log", "--format=%s") == "start\n"
    assert ws.plan().samples  # nothing was applied

    shas = pull(ws, paths=(ws.dataset,))  # annosync may commit inside the dataset only
    assert len(shas) == 1
    assert "notes.txt" not in git(ws.root, "show", "--name-only", "--format=", shas[0])
    assert git(ws.root, "diff", "--cached", "--name-only") == "notes.txt\n"


def test_hand_edits_in_the_dataset_refuse(ws: Workspace) -> None:
    keys = repo_run(ws)
    sample = ws.sample(keys[0])
    sample.tags = ["checked"]
    ws.save(keys[0], sample)  # changed by hand, not committed
    move(ws, keys[0], 9)
    before = ws.folder.label_path(keys[0]).read_bytes()
    for paths in ((), (ws.dataset,)):
        with pytest.raises(StateError, match=rel(ws, keys[0])):
            pull(ws, paths)  # type: ignore[arg-type]
    assert ws.folder.label_path(keys[0]).read_bytes() == before
    assert git(ws.root, "log", "--format=%s") == "start\n"


def test_names_and_fallback_addresses(ws: Workspace) -> None:
    emu = ws.emu
    keys = repo_run(ws)
    with emu.state.lock:
        alice = emu.state.user_by_name("alice")
        bob = emu.state.user_by_name("bob")
        assert alice is not None and bob is not None
        alice.first_name, alice.last_name = "Alice", "Liddell"
        saved = bob.email
        bob.email = ""
    try:
        move(ws, keys[0], 3)
        move(ws, keys[3], 3)
        pull(ws)
    finally:  # the emulator is shared by the session
        bob.email = saved
        alice.first_name = alice.last_name = ""
    host = ws.server.url.split("//")[1].split(":")[0]
    log = git(ws.root, "log", "--format=%an <%ae>", "-2").splitlines()
    assert log == [f"bob <bob@{host}>", "Alice Liddell <alice@example.com>"]


def test_cli_pull_commit(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = repo_run(ws)
    move(ws, keys[4], 20)
    monkeypatch.chdir(ws.root)
    env = {"ANNOSYNC_CVAT_URL": ws.server.url, "ANNOSYNC_CVAT_USERNAME": ws.server.admin_username,
           "ANNOSYNC_CVAT_PASSWORD": ws.server.admin_password}
    got = CliRunner().invoke(cli, ["pull", "--commit", "manifests"], env=env)
    assert got.exit_code == 0, got.output
    assert "committed job" in got.output
    assert git(ws.root, "log", "--format=%an", "-1").strip() == ws.user("alice")
    outside = ws.root.parent / f"{ws.root.name}-elsewhere"
    outside.mkdir()
    move(ws, keys[0], 30)
    got = CliRunner().invoke(cli, ["pull", "--commit-paths", str(outside), "manifests"], env=env)
    assert got.exit_code == 1 and "must lie inside the repository" in got.output


def test_a_video_is_one_commit_by_its_jobs_assignee(ws: Workspace) -> None:
    ws.copy("traffic")
    alice = ws.user("alice")
    ws.manifest(label_field="frames.vehicles", samples={"keys": ["day"]},
                cvat={"job_assignees": [alice]})
    ws.run()
    git(ws.root, "init", "-q", "-b", "main")
    git(ws.root, "add", "-A")
    git(ws.root, "commit", "-q", "-m", "start")
    (task_id,) = ws.task_ids()
    with ws.client() as client:  # an annotator moves a track's first keyframe
        data = client.get_annotations(task_id=task_id)
        track = data["tracks"][0]
        track["shapes"][0]["points"][0] += 8
        track["shapes"][0]["points"][2] += 8
        client.patch_annotations("update", {"tracks": [track], "shapes": [], "tags": []},
                                 task_id=task_id)
    (sha,) = pull(ws)
    assert git(ws.root, "show", "-s", "--format=%an <%ae>", sha).strip() == (
        f"{alice} <{alice}@example.com>")
    assert committed(ws, sha) == sorted(
        [rel(ws, "day"), record_rel(ws)])
    message = git(ws.root, "show", "-s", "--format=%B", sha)
    assert re.search(r"Labels:   frames\.vehicles: \d+ edited\n", message), message


def test_sync_commit_pushes_then_commits_the_run_state_as_the_user(ws: Workspace) -> None:
    keys = repo_run(ws)
    sample = ws.sample(keys[4])
    box = sample.fields["ground_truth"].detections[0]
    box.attributes["iscrowd"] = not box.attributes.get("iscrowd")
    ws.save(keys[4], sample)
    git(ws.root, "commit", "-qam", "my edit")  # the user's own edit, committed by them
    move(ws, keys[0], 5)
    shas = pull(ws, mode="sync")
    assert len(shas) == 2
    log = git(ws.root, "log", "--format=%an|%s", "-3").splitlines()
    assert log[0] == f"Dana Reviewer|sync {ws.anno_key}: run state"
    assert log[1].startswith(f"{ws.user('alice')}|sync {ws.anno_key}: job ")
    assert log[2] == "Dana Reviewer|my edit"
    assert committed(ws, shas[1]) == [record_rel(ws)]
    assert git(ws.root, "status", "--porcelain", "--untracked-files=no") == ""
    assert not ws.plan().has_changes


def test_an_unassigned_job_is_authored_by_the_committer(ws: Workspace,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ws.copy("street")
    ws.manifest(label_field="ground_truth", attributes=["iscrowd"], cvat={"segment_size": 2})
    ws.run()
    git(ws.root, "init", "-q", "-b", "main")
    git(ws.root, "add", "-A")
    git(ws.root, "commit", "-q", "-m", "start")
    assert ws.record.tasks[0].assignee is None
    assert {j.assignee for j in ws.record.tasks[0].jobs} == {None}
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Not Used")  # the author is named explicitly
    move(ws, ws.record.tasks[0].samples[1], 11)
    (sha,) = pull(ws)
    assert git(ws.root, "show", "-s", "--format=%an|%ae|%cn", sha).strip() == (
        "Dana Reviewer|dana@example.org|Dana Reviewer")
    assert "(unassigned)" in git(ws.root, "show", "-s", "--format=%s", sha)
