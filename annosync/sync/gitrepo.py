"""The few git operations attribution needs, done by git itself (subprocess, no library).

Why a module: annosync commits pulled work without touching what the user has staged. A commit
is built in a temporary index (``GIT_INDEX_FILE``) from ``HEAD`` plus annosync's own files, made
with ``git commit-tree`` (author from CVAT, committer from the user's git config), and ``HEAD``
moves with ``git update-ref`` only if nobody moved it meanwhile. The user's index is then told
about annosync's files only (``git reset -- <files>``), so their staged changes stay staged and
are never committed. No hook runs (``commit-tree`` runs none); ``commit.gpgSign`` is honoured.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from annosync.errors import StateError


class GitError(StateError):
    """git refused or is missing; the message says which command and why."""


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


@dataclass(frozen=True)
class Change:
    """One line of ``git status --porcelain=v1``: index and work-tree flags, repo-relative."""

    index: str
    worktree: str
    path: str

    @property
    def untracked(self) -> bool:
        return self.index == "?"


def _git() -> str:
    exe = shutil.which("git")
    if exe is None:
        raise GitError("--commit needs git on PATH")
    return exe


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def containing(cls, path: str | os.PathLike[str]) -> Repo:
        where = Path(path).resolve()
        try:
            out = subprocess.run([_git(), "-C", str(where), "rev-parse", "--show-toplevel"],
                                 capture_output=True, text=True, check=False)
        except OSError as exc:
            raise GitError(f"cannot run git: {exc}") from None
        if out.returncode != 0:
            raise GitError(f"--commit: {where} is not inside a git repository (git init, or "
                           "drop --commit)")
        return cls(Path(out.stdout.strip()).resolve())

    def run(self, *args: str, env: Mapping[str, str] | None = None, input: bytes | None = None,
            check: bool = True) -> str:
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.run([_git(), "-C", str(self.root), *args], capture_output=True,
                              env=full_env, input=input, check=False)
        if check and proc.returncode != 0:
            why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise GitError(f"git {args[0]} failed: {why[-1] if why else proc.returncode}")
        return proc.stdout.decode("utf-8", "surrogateescape")

    def relative(self, path: str | os.PathLike[str]) -> str:
        return Path(path).resolve().relative_to(self.root).as_posix()

    def head(self) -> str | None:
        out = self.run("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False).strip()
        return out or None

    def status(self, untracked: bool = False) -> list[Change]:
        """Staged and unstaged changes (and untracked files when asked), repo-relative paths."""
        out = self.run("status", "--porcelain=v1", "-z", "--no-renames",
                       f"--untracked-files={'all' if untracked else 'no'}")
        return [Change(entry[0], entry[1], entry[3:]) for entry in out.split("\0") if entry]

    def tracked(self, paths: Iterable[str]) -> set[str]:
        """Which of these repo-relative paths ``HEAD`` holds."""
        wanted = list(paths)
        if not wanted or self.head() is None:
            return set()
        out = self.run("ls-tree", "-r", "-z", "--name-only", "HEAD", "--", *wanted)
        return {p for p in out.split("\0") if p}

    def show(self, path: str) -> bytes | None:
        """``HEAD:path`` (None when HEAD does not hold it)."""
        if self.head() is None:
            return None
        proc = subprocess.run([_git(), "-C", str(self.root), "cat-file", "blob", f"HEAD:{path}"],
                              capture_output=True, check=False)
        return proc.stdout if proc.returncode == 0 else None

    def committer(self) -> Identity:
        """The user's identity (``git var GIT_COMMITTER_IDENT``), or a clear error."""
        out = self.run("var", "GIT_COMMITTER_IDENT", check=False).strip()
        if "<" not in out:
            raise GitError("--commit: git does not know who you are: set user.name and "
                           "user.email (git config), or GIT_COMMITTER_NAME/GIT_COMMITTER_EMAIL")
        name, _, rest = out.partition(" <")
        return Identity(name, rest.split(">", 1)[0])

    def commit(self, files: Mapping[str, bytes | None], message: str, *,
               author: Identity | None = None, date: str | None = None,
               replace: Sequence[str] = ()) -> str:
        """Commit ``files`` (repo-relative path -> content, None: as in the work tree) on top of
        HEAD, leaving every other index entry and the work tree as they are; the new commit.
        ``replace``: folders that hold exactly the ``files`` under them after the commit
        (others tracked there are removed, e.g. a run record's shards no head names)."""
        parent = self.head()
        removed: list[str] = []
        with tempfile.TemporaryDirectory(prefix="annosync-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self.run("read-tree", *([parent] if parent else ["--empty"]), env=env)
            if replace:
                listed = self.run("ls-files", "-z", "--", *replace, env=env)
                removed = sorted(p for p in listed.split("\0") if p and p not in files)
                if removed:
                    self.run("update-index", "--force-remove", "--", *removed, env=env)
            on_disk = sorted(p for p, blob in files.items() if blob is None)
            if on_disk:
                self.run("update-index", "--add", "--", *on_disk, env=env)
            for path, blob in sorted(files.items()):
                if blob is not None:
                    sha = self.run("hash-object", "-w", "--stdin", input=blob).strip()
                    self.run("update-index", "--add", "--cacheinfo", f"100644,{sha},{path}",
                             env=env)
            tree = self.run("write-tree", env=env).strip()
        ident: dict[str, str] = {}
        if author is not None:
            ident = {"GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email}
        if date:
            ident["GIT_AUTHOR_DATE"] = date
        args = ["commit-tree", tree, *(["-p", parent] if parent else []), "-F", "-"]
        sha = self.run(*args, env=ident, input=message.encode("utf-8")).strip()
        self.run("update-ref", "-m", f"annosync: {message.splitlines()[0]}", "HEAD", sha,
                 parent or "0" * 40)
        # the user's index learns about our files only (their staged work stays staged)
        self.run("reset", "-q", "--", *sorted({*files, *removed}))
        return sha
