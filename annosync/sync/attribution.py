"""Git attribution: one commit per pulled CVAT job, authored by the job's assignee.

Why a module: a team that keeps labels in git wants ``git log`` / ``git blame`` on a label file
to say who annotated what, from which job. ``pull --commit`` (and ``sync``, ``watch``) turns
each downloaded job into a commit: author = the job's assignee as CVAT knows them (name, e-mail
when CVAT shows one, else a stable ``username@<cvat host>``), author date = the job's last
update, committer = the user (git config), message = run, task, job URL, stage and label
counts, with ``Annosync-*`` trailers. Each commit carries the run record as it would be had only
the jobs so far been pulled, so every commit is a consistent state (``annosync plan`` at any
of them shows exactly the jobs still to pull); a last commit (by the user) takes what no job
explains (pushes, new tasks). Nothing the user staged or changed by hand is ever committed:
:meth:`Attribution.prepare` refuses a dirty tree before anything is applied, unless the user
names the paths annosync may commit (``--commit-paths``), and then still refuses to write a
label file that has uncommitted changes.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from annosync.cvat.errors import CvatError
from annosync.errors import StateError
from annosync.sync.apply import ApplyResult
from annosync.sync.engine import Engine
from annosync.sync.gitrepo import GitError, Identity, Repo
from annosync.sync.plan import Counts, Plan, RunPlan
from annosync.sync.record import (
    JobRecord,
    RunRecord,
    TaskRecord,
    record_files,
    record_path,
    shard_dir,
)
from annosync.sync.refresh import RunWork
from annosync.sync.render import label_file
from annosync.sync.review import job_url
from annosync.sync.session import RunSession

Report = Callable[[str], None]


@dataclass
class JobWork:
    """What one pulled job brought: its task, the job (co-authors for a video), written files."""

    task: TaskRecord
    jobs: list[JobRecord]
    keys: list[str]


@dataclass
class Committed:
    sha: str
    summary: str


@dataclass
class _Run:
    session: RunSession
    rp: RunPlan
    repo: Repo
    old: RunRecord | None
    committed: list[Committed] = field(default_factory=list)


def _git_date(iso: str | None) -> str | None:
    """CVAT's ``2026-11-25T15:11:23.260736Z`` as git's own ``@<seconds> +0000``."""
    if not iso:
        return None
    try:
        when = _dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return f"@{int(when.timestamp())} +0000"


def _within(path: str, scope: Sequence[str] | None) -> bool:
    if scope is None:
        return True
    return any(s in ("", ".") or path == s or path.startswith(s.rstrip("/") + "/") for s in scope)


def _counts(c: Counts) -> str:
    parts = [f"{n} {w}" for n, w in ((c.edit, "edited"), (c.add, "added"), (c.delete, "deleted"))
             if n]
    return ", ".join(parts) or "no label changes"


def pulled_jobs(record: RunRecord, work: RunWork, written: set[str]) -> list[JobWork]:
    """The downloaded jobs that changed label files, in task and frame order."""
    out = []
    for index in sorted(work.views):
        view = work.views[index]
        task = record.tasks[index]
        changed = sorted(view.changed, key=lambda j: (j.start_frame, j.id))
        if not changed:
            continue
        if task.media_type == "video":
            keys = [k for k in task.samples if k in written]
            if keys:  # one file for the whole video: one commit, later jobs as co-authors
                out.append(JobWork(task, changed, keys))
            continue
        for job in changed:
            frames = range(job.start_frame, min(job.stop_frame + 1, len(task.samples)))
            keys = [task.samples[f] for f in frames if task.samples[f] in written]
            if keys:
                out.append(JobWork(task, [job], keys))
    return out


def staged_record(old: RunRecord | None, new: RunRecord, keys: set[str],
                  jobs: set[int]) -> RunRecord:
    """The run record as if only these samples and jobs had been pulled (the rest as before)."""
    if old is None:
        return new
    staged = old.model_copy(deep=True)
    staged.base = {k: v for k, v in old.base.items() if k not in keys}
    staged.base.update({k: new.base[k] for k in keys if k in new.base})
    staged.base = dict(sorted(staged.base.items()))
    by_id = {t.id: t for t in new.tasks if t.id is not None}
    for task in staged.tasks:
        fresh = by_id.get(task.id) if task.id is not None else None
        if fresh is None or not any(j.id in jobs for j in fresh.jobs):
            continue
        done = {j.id: j for j in fresh.jobs if j.id in jobs}
        task.jobs = [done.get(j.id, j) for j in task.jobs] + [
            j for j in fresh.jobs if j.id in jobs and j.id not in {o.id for o in task.jobs}]
        task.jobs.sort(key=lambda j: j.start_frame)
        task.id_map = fresh.id_map
    staged.pulled_at = new.pulled_at
    staged.updated_at = new.updated_at
    return staged


class Attribution:
    """Check the tree before an apply (:meth:`prepare`), commit what it pulled after
    (:meth:`commit`). ``paths``: what annosync may commit around (default: the whole tree must
    be clean)."""

    def __init__(self, engine: Engine, paths: Sequence[str | os.PathLike[str]] = ()) -> None:
        self.engine = engine
        self.paths = [Path(p) for p in paths]
        self.runs: list[_Run] = []
        self._people: dict[tuple[str, str], Identity] = {}

    # -- before apply --------------------------------------------------------------------------
    def prepare(self, plan: Plan) -> None:
        """Refuse (before anything is applied) if committing would take the user's changes."""
        self.runs = []
        for rp in plan.runs:
            if rp.error:
                continue
            session = self.engine.session(rp.anno_key)
            repo = Repo.containing(session.folder.root)
            old = session.record.model_copy(deep=True) if session.record else None
            self.runs.append(_Run(session, rp, repo, old))
        for repo in {r.repo.root: r.repo for r in self.runs}.values():
            self._check(repo, [r for r in self.runs if r.repo.root == repo.root])

    def _scope(self, repo: Repo) -> list[str] | None:
        if not self.paths:
            return None
        try:
            return [repo.relative(p) for p in self.paths]
        except ValueError:
            raise GitError(f"--commit-paths must lie inside the repository {repo.root}") from None

    def _check(self, repo: Repo, runs: list[_Run]) -> None:
        scope = self._scope(repo)
        ours: set[str] = set()
        shards: list[str] = []  # the runs' shard folders (annosync's own files too)
        writes: set[str] = set()
        for run in runs:
            try:
                ours.add(repo.relative(record_path(run.session.state_dir, run.session.anno_key)))
                shards.append(repo.relative(shard_dir(run.session.state_dir,
                                                      run.session.anno_key)) + "/")
                work = run.rp._work
                if isinstance(work, RunWork) and run.session.options.mode in ("sync", "pull"):
                    writes |= {repo.relative(run.session.folder.label_path(k))
                               for k, sw in work.samples.items() if sw.changed_locally}
            except ValueError:
                raise GitError(f"--commit: {run.session.folder.root} is not inside the "
                               f"repository {repo.root}") from None
        outside = sorted(p for p in writes if not _within(p, scope))
        if outside:
            raise StateError(f"--commit: annosync would write {_some(outside)} outside "
                             "--commit-paths: name those paths too")
        changes = repo.status()
        dirty = sorted(c.path for c in changes if _within(c.path, scope) and c.path not in ours
                       and not c.path.startswith(tuple(shards)))
        if dirty:
            hint = ("commit or stash them first" if scope is None else
                    "commit or stash them first, or leave them out of --commit-paths")
            raise StateError(
                f"--commit: the work tree has changes annosync must not commit: {_some(dirty)} "
                f"({hint}; --commit-paths PATH names what annosync may commit, leaving the "
                "rest of the tree alone)")
        new = sorted(writes - repo.tracked(writes))
        if new:
            raise StateError(f"--commit: {_some(new)} not committed yet: commit them first, so "
                             "annosync commits only what it pulls")

    # -- after apply ---------------------------------------------------------------------------
    def commit(self, results: Sequence[ApplyResult], report: Report | None = None
               ) -> list[Committed]:
        """One commit per pulled job, then one for whatever else changed in annosync's files."""
        say = report or (lambda _: None)
        by_key = {r.anno_key: r for r in results}
        out: list[Committed] = []
        for run in self.runs:
            result = by_key.get(run.rp.anno_key)
            if result is None:
                continue
            out += self._commit_run(run, result, say)
        return out

    def _commit_run(self, run: _Run, result: ApplyResult, say: Report) -> list[Committed]:
        session, repo = run.session, run.repo
        record = session.record
        work = run.rp._work
        if record is None:
            return []
        record_rel = repo.relative(record_path(session.state_dir, session.anno_key))
        shard_rel = repo.relative(shard_dir(session.state_dir, session.anno_key))
        written = set(result.written)
        done_keys: set[str] = set()
        done_jobs: set[int] = set()
        made: list[Committed] = []
        jobs = pulled_jobs(record, work, written) if isinstance(work, RunWork) else []
        for jw in jobs:
            done_keys |= set(jw.keys)
            done_jobs |= {j.id for j in jw.jobs}
            staged = staged_record(run.old, record, done_keys, done_jobs)
            files: dict[str, bytes | None] = {
                repo.relative(session.folder.label_path(k)): None for k in jw.keys}
            head, shards = record_files(staged)
            files[record_rel] = head
            files.update({f"{shard_rel}/{name}": data for name, data in shards.items()})
            author, co_authors = self._authors(run, jw)
            message = self._message(run, jw, author, co_authors)
            sha = repo.commit(files, message, author=author, date=_git_date(jw.jobs[0].updated_date),
                              replace=[shard_rel])
            summary = (f"committed job {jw.jobs[0].id} of task {jw.task.id} as {sha[:10]} "
                       f"(author {author.name} <{author.email}>, {len(jw.keys)} file(s))")
            made.append(Committed(sha, summary))
            say(summary)
        rest: dict[str, bytes | None] = {}
        for key in sorted(written - done_keys):
            rest[repo.relative(session.folder.label_path(key))] = None
        rest[record_rel] = None
        on_disk = repo.root / shard_rel
        current = {f"{shard_rel}/{p.name}" for p in on_disk.glob("*.json")} if \
            on_disk.is_dir() else set()
        rest.update(dict.fromkeys(sorted(current)))
        changed = {p: b for p, b in rest.items() if _differs(repo, p)}
        stale = repo.tracked([shard_rel]) - current
        if changed or stale:
            first = f"{session.options.mode} {session.anno_key}: run state"
            body = [f"Run: {session.anno_key} (run {record.run_id})",
                    *(f"File: {p}" for p in sorted(changed)), "",
                    f"Annosync-Run: {session.anno_key}"]
            everything = {**changed, **dict.fromkeys(current)}  # the folder as on disk
            sha = repo.commit(everything, "\n".join([first, "", *body]) + "\n",
                              replace=[shard_rel])
            summary = f"committed the run state of {session.anno_key} as {sha[:10]}"
            made.append(Committed(sha, summary))
            say(summary)
        run.committed = made
        return made

    def _authors(self, run: _Run, jw: JobWork) -> tuple[Identity, list[Identity]]:
        people = []
        for job in jw.jobs:
            who = job.assignee or jw.task.assignee
            if who:
                people.append(self._person(run.session, who))
        if not people:  # no assignee on the job nor the task: the committer is the author
            people.append(run.repo.committer())
        first, rest = people[0], []
        for p in people[1:]:
            if p != first and p not in rest:
                rest.append(p)
        return first, rest

    def _person(self, session: RunSession, username: str) -> Identity:
        """A CVAT user as git should name them (looked up once per server)."""
        server = session.server_url() or ""
        cached = self._people.get((server, username))
        if cached is not None:
            return cached
        host = urlsplit(server).hostname or "cvat"
        user: dict[str, Any] | None = None
        try:
            user = session.client.find_user(username)
        except CvatError:
            user = None
        name = username
        email = f"{username}@{host}"
        if user:
            full = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p)
            name = full.strip() or username
            email = str(user.get("email") or "").strip() or email
        person = Identity(name, email)
        self._people[(server, username)] = person
        return person

    def _message(self, run: _Run, jw: JobWork, author: Identity,
                 co_authors: list[Identity]) -> str:
        session, rp = run.session, run.rp
        record = session.record
        assert record is not None
        job = jw.jobs[0]
        totals: dict[str, Counts] = {}
        for change in rp.samples:
            if change.sample in jw.keys and change.pull.total:
                name = change.dest_field or change.field
                c = totals.setdefault(name, Counts())
                c.add += change.pull.add
                c.edit += change.pull.edit
                c.delete += change.pull.delete
        url = job_url(session.server_url(), jw.task.id or 0, job.id) or f"job {job.id}"
        assignees = ", ".join(j.assignee or "unassigned" for j in jw.jobs)
        labels = "; ".join(f"{f}: {_counts(c)}" for f, c in sorted(totals.items())) or \
            "no label changes"
        files = [label_file(k) for k in jw.keys]
        first = (f"{session.options.mode} {session.anno_key}: job {job.id} of task "
                 f"{jw.task.id} ({assignees})")
        body = [
            f"Run:      {session.anno_key} (run {record.run_id})",
            f"Task:     {jw.task.id} {jw.task.name}",
            *(f"Job:      {job_url(session.server_url(), jw.task.id or 0, j.id) or j.id}"
              for j in jw.jobs),
            f"Stage:    {job.stage} ({job.state})",
            f"Assignee: {assignees}",
            f"Labels:   {labels}",
            f"Files:    {', '.join(files[:5])}{' ...' if len(files) > 5 else ''}",
            "",
            f"Annosync-Run: {session.anno_key}",
            f"Annosync-Job: {url}",
            *(f"Co-authored-by: {p.name} <{p.email}>" for p in co_authors),
        ]
        return "\n".join([first, "", *body]) + "\n"


def _differs(repo: Repo, path: str) -> bool:
    disk = repo.root / path
    try:
        data = disk.read_bytes()
    except FileNotFoundError:
        return False
    return repo.show(path) != data


def _some(paths: Sequence[str], n: int = 5) -> str:
    shown = ", ".join(paths[:n])
    return shown + (f" and {len(paths) - n} more" if len(paths) > n else "")
