"""``annosync validate``: check manifests, dataset folders and label files; collect problems.

Paths may be manifest files, folders of manifests, dataset folders (a ``labels/`` folder or a
``dataset.yaml`` inside) or single label files. For every manifest run, the dataset it names is
opened, the selection applied, the selected label files checked, and every rule of ``rules.py``
applied. A dataset folder given directly has all of its label files checked, including label
ids that repeat across files. Nothing here prints: the CLI formats the ``Report``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annosync.dataset.check import check_folder, check_label_bytes, display_path
from annosync.dataset.folder import INFO_FILE, LABELS_DIR, DatasetFolder, is_dataset_folder
from annosync.errors import AnnosyncError, Location, Problem
from annosync.manifest.load import MANIFEST_SUFFIXES, LoadedManifest, load_all
from annosync.manifest.observe import DatasetFacts, observe
from annosync.manifest.rules import check_run
from annosync.manifest.select import select

#: An extra check of a run against its selected samples, returning located problems. The CLI
#: passes the reconciler's own label-schema rules (they need ``annosync.convert``, a layer below
#: this one), so ``validate`` rejects what ``plan`` would.
SchemaCheck = Callable[[LoadedManifest, DatasetFolder, list[str]], list[Problem]]


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    manifest_files: int = 0
    runs: int = 0
    label_files: int = 0
    datasets: int = 0

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for p in self.problems if p.severity != "error")

    def ok(self, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)

    def to_json(self, strict: bool = False) -> dict[str, Any]:
        return {
            "ok": self.ok(strict),
            "errors": self.errors,
            "warnings": self.warnings,
            "checked": {
                "manifest_files": self.manifest_files,
                "runs": self.runs,
                "datasets": self.datasets,
                "label_files": self.label_files,
            },
            "problems": [problem_json(p) for p in self.problems],
        }


def problem_json(p: Problem) -> dict[str, Any]:
    loc = p.location
    return {
        "path": loc.path,
        "line": loc.line,
        "column": loc.column,
        "json_path": loc.json_path,
        "severity": p.severity,
        "message": p.message,
    }


def format_problem(p: Problem) -> str:
    """``file:line: where: message``; warnings read ``file:line: warning: where: message``."""
    loc = p.location
    head = loc.path or "<input>"
    if loc.line is not None:
        head += f":{loc.line}"
        if loc.column is not None:
            head += f":{loc.column}"
    parts = [head]
    if p.severity != "error":
        parts.append(p.severity)
    if loc.json_path:
        parts.append(loc.json_path)
    parts.append(p.message)
    return ": ".join(parts)


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    unique: dict[tuple[Any, ...], Problem] = {}
    for p in problems:
        key = (p.location.path, p.location.line, p.location.column, p.location.json_path,
               p.severity, p.message)
        unique.setdefault(key, p)
    return sorted(unique.values(), key=lambda p: (
        p.location.path or "", p.location.line or 0, p.location.column or 0,
        p.location.json_path or "", p.message,
    ))


def dataset_root_of(label_file: Path) -> Path | None:
    """The dataset folder a label file belongs to (parent of its ``labels/`` ancestor)."""
    for parent in label_file.absolute().parents:
        if parent.name == LABELS_DIR:
            return parent.parent
    return None


class _Checker:
    def __init__(self, check_media: bool, probe_media: bool,
                 schema_check: SchemaCheck | None = None) -> None:
        self.report = Report()
        self.schema_check = schema_check
        self.check_media = check_media
        self.probe_media = probe_media
        self.checked: set[tuple[Path, str]] = set()

    def dataset(self, root: Path) -> None:
        self.report.datasets += 1
        try:
            folder = DatasetFolder.open(root)
            _ = folder.info
        except AnnosyncError as exc:
            self.report.problems.append(Problem(Location(display_path(root)), str(exc)))
            return
        keys = [k for k in folder if (folder.root, k) not in self.checked]
        self.checked.update((folder.root, k) for k in keys)
        out = check_folder(folder, keys, self.check_media, self.probe_media)
        self.report.label_files += out.files
        self.report.problems.extend(out.problems)

    def label_file(self, path: Path) -> None:
        root = dataset_root_of(path)
        key = ""
        if root is not None:
            key = path.absolute().relative_to(root / LABELS_DIR).with_suffix("").as_posix()
            if (root.resolve(), key) in self.checked:
                return
            self.checked.add((root.resolve(), key))
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.report.problems.append(
                Problem(Location(display_path(path)), f"cannot read: {exc.strerror or exc}"))
            return
        self.report.label_files += 1
        one = check_label_bytes(data, display_path(path), key, root, self.check_media,
                                self.probe_media)
        self.report.problems.extend(one.problems)

    def runs(self, runs: Sequence[LoadedManifest]) -> None:
        for run in runs:
            self.report.runs += 1
            self.run(run)

    def run(self, run: LoadedManifest) -> None:
        try:
            folder = DatasetFolder.open(run.dataset_root)
            _ = folder.info
        except AnnosyncError as exc:
            msg = str(exc).split(": ", 1)[-1] if str(exc).startswith(str(run.dataset_root)) \
                else str(exc)
            self.report.problems.append(run.problem(
                ("dataset",), f"{msg} ({display_path(run.dataset_root)})"))
            self.report.problems.extend(check_run(run, DatasetFacts(readable=False)))
            return

        def report(loc: tuple[Any, ...], message: str, severity: str) -> Problem:
            return run.problem(("samples", *loc), message, severity)

        selection = select(folder, run.manifest.samples, report)
        self.report.problems.extend(selection.problems)
        fresh = [k for k in selection.keys if (folder.root, k) not in self.checked]
        self.checked.update((folder.root, k) for k in fresh)
        out = check_folder(folder, fresh, self.check_media, self.probe_media)
        self.report.label_files += out.files
        self.report.problems.extend(out.problems)
        if any(p.severity == "error" for p in selection.problems):
            # the selection itself is broken: rules about the selected samples would only echo it
            self.report.problems.extend(check_run(run, None))
            return
        facts = observe(folder, selection.keys)
        found = check_run(run, facts)
        self.report.problems.extend(found)
        if self.schema_check is not None and not facts.unreadable \
                and not any(p.severity == "error" for p in found):
            # only on a run our rules pass: both state many rules alike, once is enough
            self.report.problems.extend(self.schema_check(run, folder, selection.keys))


def validate_paths(
    paths: Sequence[str | os.PathLike[str]],
    env: Mapping[str, str] | None = None,
    check_media: bool = True,
    probe_media: bool = False,
    schema_check: SchemaCheck | None = None,
) -> Report:
    """Validate everything under ``paths`` (see the module docstring)."""
    checker = _Checker(check_media, probe_media, schema_check)
    manifest_paths: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            checker.report.problems.append(Problem(Location(str(raw)), "no such file or folder"))
        elif is_dataset_folder(p):
            checker.dataset(p)
        elif p.is_file() and p.name == INFO_FILE and is_dataset_folder(p.parent):
            checker.dataset(p.parent)
        elif p.is_file() and p.suffix == ".json":
            checker.label_file(p)
        elif p.is_dir() or p.suffix in MANIFEST_SUFFIXES:
            manifest_paths.append(p)
        else:
            checker.report.problems.append(Problem(
                Location(display_path(p)),
                "not a manifest (.yaml), a label file (.json) or a dataset folder",
            ))
    if manifest_paths:
        loaded = load_all(manifest_paths, env)
        checker.report.manifest_files += len(loaded.files)
        checker.report.problems.extend(loaded.problems)
        for p in manifest_paths:
            if p.is_dir() and not any(f.is_relative_to(p) for f in loaded.files):
                checker.report.problems.append(Problem(
                    Location(display_path(p)), "no manifests (*.yaml) in this folder", "warning"))
        checker.runs(loaded.runs)
    checker.report.problems = sort_problems(checker.report.problems)
    return checker.report
