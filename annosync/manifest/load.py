"""Load manifests: YAML files of annotation runs, every problem reported at its file and line.

A manifest file holds one or more runs, in either (or both) of two forms:

- several YAML documents separated by ``---``, each one run;
- a document with a top-level ``runs:`` list, and optionally ``defaults:``: a mapping merged into
  every run (mappings merge key by key, the run winning; lists and scalars in the run replace).

Before validation, string values are interpolated from the environment (``yamlnodes.py``), and
credentials are refused: the model refuses password/token keys under ``cvat``; here an
``Authorization`` / ``Cookie`` header must come from a ``${VAR}`` reference, never be written
literally. ``dataset:`` is resolved relative to the manifest file. ``anno_key`` must be unique
across every manifest loaded together.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from annosync.dataset.check import display_path
from annosync.errors import InputError, Location, Problem
from annosync.manifest.yamlnodes import Converted, Converter, Path_, compose_all
from annosync.model.manifest import SECRET_KEY, Manifest
from annosync.model.problems import dotted_path, problems_from_validation

MANIFEST_SUFFIXES = (".yaml", ".yml")
#: Header names whose values are credentials: they must come from ``${VAR}``.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
_FILE_KEYS = {"runs", "defaults"}


@dataclass
class LoadedManifest:
    """One validated run and where each of its values was written."""

    manifest: Manifest
    file: Path
    display: str
    index: int  # position of the run in its file (0-based)
    line0: int  # line of the run itself
    lines: dict[Path_, int] = field(default_factory=dict)
    dataset_root: Path = field(default_factory=Path)

    @property
    def anno_key(self) -> str:
        return self.manifest.anno_key

    def line(self, loc: Sequence[Any]) -> int:
        """The line of the value at ``loc``, or of its nearest written ancestor."""
        return locate(self.lines, tuple(loc)) or self.line0

    def problem(self, loc: Sequence[Any], message: str, severity: str = "error") -> Problem:
        where = dotted_path(tuple(loc)) or None
        return Problem(Location(self.display, self.line(loc), None, where), message, severity)


def locate(lines: Mapping[Path_, int], loc: Path_) -> int | None:
    """Best line for ``loc``: follow the parts that exist, skipping ones that do not."""
    current: Path_ = ()
    best = lines.get(())
    for part in loc:
        for candidate in (part, str(part), _as_int(part)):
            if candidate is not None and (*current, candidate) in lines:
                current = (*current, candidate)
                best = lines[current]
                break
    return best


def _as_int(part: Any) -> int | None:
    if isinstance(part, str) and part.isascii() and part.isdigit():
        return int(part)
    return None


@dataclass
class LoadResult:
    runs: list[LoadedManifest] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


# -- finding files --------------------------------------------------------------------------------


def find_manifest_files(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[Problem]]:
    """Manifest files named directly, or found (recursively, sorted) in the folders given."""
    files: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*")
                if f.suffix in MANIFEST_SUFFIXES and f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            problems.append(Problem(Location(str(raw)), "no such file or folder"))
    unique: list[Path] = []
    seen: set[Path] = set()
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, problems


# -- one file -------------------------------------------------------------------------------------


def _merge(base: Converted, over: Converted, base_loc: Path_, over_loc: Path_) -> tuple[Any, dict]:
    """Deep-merge ``defaults`` (at base_loc of base) under a run (at over_loc of over)."""

    def sub_lines(conv: Converted, root: Path_) -> dict[Path_, int]:
        n = len(root)
        return {k[n:]: v for k, v in conv.lines.items() if k[:n] == root and len(k) > n}

    def get(data: Any, loc: Path_) -> Any:
        for part in loc:
            data = data[part]
        return data

    def merge(a: Any, b: Any) -> Any:
        if isinstance(a, dict) and isinstance(b, dict):
            out = dict(a)
            for k, v in b.items():
                out[k] = merge(a[k], v) if k in a else v
            return out
        return b

    data = merge(get(base.data, base_loc), get(over.data, over_loc))
    lines = sub_lines(base, base_loc)
    lines.update(sub_lines(over, over_loc))
    return data, lines


def _secret_headers(data: Any, interpolated: set[Path_], root: Path_, lines: Mapping[Path_, int],
                    display: str) -> list[Problem]:
    """Refuse literal credential headers (checked on the text as written, before interpolation)."""
    out: list[Problem] = []
    cvat = data.get("cvat") if isinstance(data, dict) else None
    headers = cvat.get("headers") if isinstance(cvat, dict) else None
    if not isinstance(headers, dict):
        return out
    for name in headers:
        if isinstance(name, str) and name.lower() in SECRET_HEADERS:
            loc = (*root, "cvat", "headers", name)
            if loc not in interpolated:
                out.append(Problem(
                    Location(display, locate(lines, loc), None, f"cvat.headers.{name}"),
                    f"a literal {name!r} header is a credential and is not allowed in a "
                    f"manifest: write it as {name}: ${{MY_{name.upper().replace('-', '_')}}} "
                    "and set that environment variable",
                ))
    return out


def _pop_secrets(data: dict[Any, Any], lines: Mapping[Path_, int],
                 display: str) -> tuple[dict[Any, Any], list[Problem]]:
    """Refuse credential keys (top level or under ``cvat``) at their own line."""
    problems: list[Problem] = []
    data = dict(data)
    for root in ((), ("cvat",)):
        holder = data if not root else data.get("cvat")
        if not isinstance(holder, dict):
            continue
        holder = dict(holder)
        for key in list(holder):
            if isinstance(key, str) and SECRET_KEY.search(key):
                del holder[key]
                loc = (*root, key)
                problems.append(Problem(
                    Location(display, locate(lines, loc), None, dotted_path(loc)),
                    "credentials are not allowed in manifests: set ANNOSYNC_CVAT_USERNAME and "
                    "ANNOSYNC_CVAT_PASSWORD (or ANNOSYNC_CVAT_TOKEN) in the environment or "
                    "use the user config file (see docs/credentials.md)",
                ))
        if root:
            data["cvat"] = holder
        else:
            data = holder
    return data, problems


def load_file(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> LoadResult:
    """Load every run of one manifest file; problems are returned, never raised."""
    file = Path(path)
    display = display_path(file)
    result = LoadResult(files=[file])
    try:
        raw = file.read_bytes()
    except OSError as exc:
        result.problems.append(Problem(Location(display), f"cannot read: {exc.strerror or exc}"))
        return result
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        result.problems.append(Problem(Location(display), f"not UTF-8 text: {exc.reason}"))
        return result
    nodes, problems = compose_all(text, display)
    result.problems.extend(problems)
    if problems:
        return result
    converter = Converter(display, os.environ if env is None else env)
    docs = [converter.document(node) for node in nodes]
    result.problems.extend(converter.problems)
    if not docs:
        result.problems.append(Problem(Location(display, 1), "empty manifest: no runs"))
        return result

    # Each run: (data, lines relative to the run, line of the run)
    runs: list[tuple[Any, dict[Path_, int], int]] = []
    for doc in docs:
        data = doc.data
        if not isinstance(data, dict):
            result.problems.append(Problem(
                Location(display, doc.line),
                "a manifest document must be a mapping (anno_key, dataset, ...) "
                "or hold a 'runs:' list",
            ))
            continue
        result.problems.extend(_secret_headers(data, doc.interpolated, (), doc.lines, display))
        if "runs" not in data:
            runs.append((data, dict(doc.lines), doc.line))
            continue
        for key in data:
            if key not in _FILE_KEYS:
                result.problems.append(Problem(
                    Location(display, doc.lines.get((key,)), None, dotted_path((key,))),
                    "unknown key next to 'runs:' (put settings shared by the runs under "
                    "'defaults:')",
                ))
        defaults = data.get("defaults", {})
        if defaults is None:
            defaults = {}
        if not isinstance(defaults, dict):
            result.problems.append(Problem(
                Location(display, doc.lines.get(("defaults",)), None, "defaults"),
                "must be a mapping of settings shared by every run",
            ))
            defaults = {}
        run_list = data.get("runs")
        if not isinstance(run_list, list) or not run_list:
            result.problems.append(Problem(
                Location(display, doc.lines.get(("runs",)), None, "runs"),
                "must be a non-empty list of runs",
            ))
            continue
        result.problems.extend(
            _secret_headers(defaults, doc.interpolated, ("defaults",), doc.lines, display)
        )
        for i, run in enumerate(run_list):
            if not isinstance(run, dict):
                result.problems.append(Problem(
                    Location(display, doc.lines.get(("runs", i)), None, f"runs[{i}]"),
                    "a run must be a mapping (anno_key, dataset, ...)",
                ))
                continue
            result.problems.extend(
                _secret_headers(run, doc.interpolated, ("runs", i), doc.lines, display)
            )
            if "defaults" in data and isinstance(data["defaults"], dict):
                merged, lines = _merge(doc, doc, ("defaults",), ("runs", i))
            else:
                merged = run
                n = 2
                lines = {k[n:]: v for k, v in doc.lines.items() if k[:n] == ("runs", i)}
            lines[()] = doc.lines.get(("runs", i), doc.line)
            runs.append((merged, lines, lines[()]))

    for index, (data, lines, line0) in enumerate(runs):
        def where(loc: tuple[Any, ...], _lines: dict[Path_, int] = lines) -> int | None:
            return locate(_lines, loc)

        data, secret_problems = _pop_secrets(data, lines, display)
        result.problems.extend(secret_problems)
        try:
            manifest = Manifest.model_validate(data)
        except ValidationError as exc:
            result.problems.extend(problems_from_validation(
                exc, display, where, data=data, model=Manifest, style="dotted", label_tags=False,
            ))
            continue
        root = Path(os.path.expanduser(manifest.dataset))
        if not root.is_absolute():
            root = file.parent / root
        result.runs.append(LoadedManifest(
            manifest=manifest, file=file, display=display, index=index, line0=line0,
            lines=lines, dataset_root=Path(os.path.normpath(root.absolute())),
        ))
    return result


# -- several files --------------------------------------------------------------------------------


def check_unique_keys(runs: Sequence[LoadedManifest]) -> list[Problem]:
    """Every anno_key must name one run only, across all manifests loaded together."""
    first: dict[str, LoadedManifest] = {}
    problems: list[Problem] = []
    for run in runs:
        other = first.get(run.anno_key)
        if other is None:
            first[run.anno_key] = run
            continue
        problems.append(run.problem(
            ("anno_key",),
            f"anno_key {run.anno_key!r} is already used by "
            f"{other.display}:{other.line(('anno_key',))}; anno keys must be unique",
        ))
    return problems


def load_all(paths: Iterable[str | os.PathLike[str]],
             env: Mapping[str, str] | None = None) -> LoadResult:
    """Load every manifest under ``paths``; problems (all files) are collected, not raised."""
    files, problems = find_manifest_files(paths)
    result = LoadResult(problems=problems)
    for f in files:
        one = load_file(f, env)
        result.files.append(f)
        result.runs.extend(one.runs)
        result.problems.extend(one.problems)
    result.problems.extend(check_unique_keys(result.runs))
    return result


def load_manifests(paths: Iterable[str | os.PathLike[str]],
                   env: Mapping[str, str] | None = None) -> list[LoadedManifest]:
    """Load and check manifests; raise ``InputError`` (with every problem) if any is an error."""
    result = load_all(paths, env)
    if not result.ok:
        raise InputError([p for p in result.problems if p.severity == "error"])
    return result.runs
