"""Sample selection: which samples of a dataset folder a run covers, declaratively and streaming.

The order of operations (``SampleSelection`` in ``model/manifest.py``):

1. candidates: the explicit ``keys`` (in the order given; a key with no label file is a problem),
   or every sample key of the folder, in sorted order, found lazily;
2. ``include`` / ``exclude``: glob patterns over sample keys (``*`` stays inside one path segment,
   ``**`` crosses segments, ``?`` one character, ``[abc]`` a set); a key is kept when it matches
   an include and no exclude;
3. ``where``: a JMESPath expression evaluated on the sample's JSON (as stored: ``fields``,
   ``frames``, ``media``, ``metadata``, ``tags``) plus ``key``; the sample is kept when the result
   is truthy in JMESPath's sense (not null, false, "", [] or {}; ``0`` is truthy). An expression
   that fails on a sample (``length(null)`` when the field is missing) does not select it;
4. ``sort_by``: a JMESPath expression giving a number, a string (or a list: its length) per
   sample; ascending, or descending with ``reverse: true``; samples where it is null come last;
   ties keep key order;
5. ``skip`` then ``limit``.

Streaming: without ``where``/``sort_by`` no label file is opened, and with a ``limit`` and no
``sort_by`` the walk stops as soon as enough samples are found. JMESPath is declarative (no eval):
a manifest can never run code.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from annosync.dataset.folder import DatasetFolder, is_valid_key, walk_order
from annosync.errors import AnnosyncError, Problem
from annosync.model.manifest import SampleSelection

#: Reports a problem at a selection key (``"where"``, ``"keys"``, ...) with an optional index.
Reporter = Callable[[tuple[Any, ...], str, str], Problem]


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a key glob: ``*`` within a segment, ``**`` across segments."""
    out = ["^"]
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    out.append("$")
    return re.compile("".join(out))


def key_matches(key: str, include: list[str], exclude: list[str]) -> bool:
    if include and not any(glob_regex(p).match(key) for p in include):
        return False
    return not any(glob_regex(p).match(key) for p in exclude)


def compile_expression(text: str) -> Any:
    """Compile JMESPath; raises ``ValueError`` with a readable message on a syntax error."""
    import jmespath  # only manifests with ``where``/``sort_by`` need it (start-up)
    import jmespath.exceptions

    try:
        return jmespath.compile(text)
    except jmespath.exceptions.JMESPathError as exc:
        raise ValueError(_jmespath_message(exc)) from None


def _jmespath_error() -> type[Exception]:
    """JMESPath's error class (an ``except`` clause evaluates this only when something was
    raised, so jmespath stays unimported for manifests without expressions)."""
    import jmespath.exceptions

    return jmespath.exceptions.JMESPathError


def _jmespath_message(exc: Exception) -> str:
    import jmespath.exceptions

    if isinstance(exc, jmespath.exceptions.ParseError):
        token = getattr(exc, "token_value", None)
        pos = getattr(exc, "lex_position", None)
        msg = getattr(exc, "msg", None) or "syntax error"
        if isinstance(exc, jmespath.exceptions.IncompleteExpressionError):
            return "invalid JMESPath expression: incomplete expression"
        where = f" at column {pos + 1}" if isinstance(pos, int) else ""
        near = f" near {token!r}" if token not in (None, "") else ""
        hint = ""
        if isinstance(token, (int, float)) or (isinstance(token, str) and token[:1] in "0123456789" and token[:1] != ""):
            text = str(getattr(exc, "expression", "") or "")
            number = re.match(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", text[pos:] if isinstance(pos, int)
                              else "")
            literal = number.group(0) if number else str(token)
            hint = f" (write numbers as JSON literals in backticks: `{literal}`)"
        return f"invalid JMESPath expression: {msg}{where}{near}{hint}"
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"invalid JMESPath expression: {first}"


def truthy(value: Any) -> bool:
    """JMESPath truthiness: null, false, empty string/list/object are false; numbers are true."""
    return not (value is None or value is False or value in ("", [], {}))


@dataclass
class Selection:
    """The selected sample keys (in run order) and what went wrong on the way."""

    keys: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: samples whose ``where``/``sort_by`` evaluation failed (key, message).
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: label files opened to decide (0 when the selection needed none).
    files_read: int = 0


_Kind = tuple[int, Any]


def _sort_value(value: Any) -> _Kind | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list):
        return (2, len(value))
    raise TypeError(f"sort_by gave {type(value).__name__}; expected a number or a string")


def iter_select(
    folder: DatasetFolder,
    selection: SampleSelection,
    report: Reporter | None = None,
    out: Selection | None = None,
) -> Iterator[str]:
    """Yield the selected keys in run order, lazily when there is no ``sort_by``.

    Problems and evaluation failures are recorded on ``out``; call ``finish(out)`` afterwards
    to turn failures into one warning.
    """
    out = out if out is not None else Selection()

    def problem(loc: tuple[Any, ...], message: str, severity: str = "error") -> None:
        if report is not None:
            out.problems.append(report(loc, message, severity))

    where = sort_by = None
    try:
        where = compile_expression(selection.where) if selection.where else None
    except ValueError as exc:
        problem(("where",), str(exc))
    try:
        sort_by = compile_expression(selection.sort_by) if selection.sort_by else None
    except ValueError as exc:
        problem(("sort_by",), str(exc))
    if (selection.where and where is None) or (selection.sort_by and sort_by is None):
        return

    def candidates() -> Iterator[str]:
        if selection.keys is None:
            yield from folder.keys()
            return
        seen: set[str] = set()
        for i, key in enumerate(selection.keys):
            if key in seen:
                problem(("keys", i), f"sample {key!r} is listed twice", "warning")
                continue
            seen.add(key)
            if not is_valid_key(key):
                problem(("keys", i), f"invalid sample key {key!r}: a path below labels/ without "
                        "'..' or empty parts")
                continue
            if not folder.exists(key):
                problem(("keys", i), f"no sample {key!r} in the dataset (no labels/{key}.json)")
                continue
            yield key

    def load(key: str) -> dict[str, Any] | None:
        out.files_read += 1
        try:
            data = json.loads(folder.read_bytes(key))
        except (ValueError, OSError, AnnosyncError) as exc:
            out.failures.append((key, f"cannot read the label file: {exc}"))
            return None
        if not isinstance(data, dict):
            out.failures.append((key, "the label file is not a JSON object"))
            return None
        data = dict(data)
        data["key"] = key
        return data

    def matching() -> Iterator[tuple[_Kind | None, str]]:
        for key in candidates():
            if not key_matches(key, selection.include, selection.exclude):
                continue
            data = None
            if where is not None or sort_by is not None:
                data = load(key)
                if data is None:
                    continue
            if where is not None:
                try:
                    if not truthy(where.search(data)):
                        continue
                except _jmespath_error() as exc:
                    out.failures.append((key, f"where: {exc}"))
                    continue
            rank: _Kind | None = None
            if sort_by is not None:
                try:
                    rank = _sort_value(sort_by.search(data))
                except (_jmespath_error(), TypeError) as exc:
                    out.failures.append((key, f"sort_by: {exc}"))
                    continue
            yield rank, key

    stop = None if selection.limit is None else selection.skip + selection.limit
    if sort_by is None:
        for _, key in itertools.islice(matching(), selection.skip, stop):
            yield key
        return
    ranked = list(matching())
    present = [(r, k) for r, k in ranked if r is not None]
    if len({r[0] for r, _ in present}) > 1:
        problem(("sort_by",), "sort_by gives numbers for some samples and strings for others; "
                "they cannot be ordered together")
        return
    present.sort(key=lambda rk: rk[1])  # ties: key order, whatever the direction
    present.sort(key=lambda rk: rk[0], reverse=selection.reverse)
    ordered = present + [(r, k) for r, k in ranked if r is None]
    for _, key in itertools.islice(ordered, selection.skip, stop):
        yield key


def by_names_only(selection: SampleSelection) -> bool:
    """The selection depends on key names alone (include/exclude globs): no explicit
    ``keys``, ``where``, ``sort_by``, ``skip`` or ``limit``."""
    return (selection.keys is None and not selection.where and not selection.sort_by
            and not selection.skip and selection.limit is None)


def unrecorded(keys: list[str], selection: SampleSelection,
               recorded: Collection[str]) -> list[str] | None:
    """What ``iter_select`` yields and ``recorded`` does not hold, in the same order, from
    ``keys`` (the folder's keys in any order: ``DatasetFolder.unsorted_keys``), without
    matching or ordering every key one at a time: the globs run through C-level ``filter``
    and set operations, and only the keys left are sorted. None when the selection needs
    more than key names (explicit ``keys``, ``where``, ``sort_by``, ``skip`` or ``limit``:
    there, ``iter_select``)."""
    if not by_names_only(selection):
        return None
    if isinstance(recorded, (set, frozenset, dict)) and all(map(recorded.__contains__, keys)):
        return []  # every key of the folder is recorded (a run with nothing new): one pass
    found: set[str] = set()
    if not selection.include or ("**" in selection.include and "\n" not in "\0".join(keys)):
        found.update(keys)  # every key matches (``**`` is ``^.*$``: only a newline stops it)
    else:
        for pattern in selection.include:
            matches: Callable[[str], object] = glob_regex(pattern).match
            found.update(filter(matches, keys))
    for pattern in selection.exclude:
        excluded = glob_regex(pattern).match
        found.difference_update([k for k in found if excluded(k)])
    found.difference_update(recorded)
    return sorted(found, key=walk_order)


def finish(out: Selection, report: Reporter | None) -> None:
    """Summarize evaluation failures as one warning (they are not selected)."""
    if out.failures and report is not None:
        key, message = out.failures[0]
        more = f" (and {len(out.failures) - 1} more)" if len(out.failures) > 1 else ""
        loc = ("sort_by",) if message.startswith("sort_by") else ("where",)
        out.problems.append(report(
            loc, f"{len(out.failures)} sample(s) not selected because the expression failed on "
            f"them; first: {key}: {message}{more}", "warning"))


def select(
    folder: DatasetFolder,
    selection: SampleSelection,
    report: Reporter | None = None,
) -> Selection:
    """Apply a sample selection to a dataset folder (see the module docstring for the rules)."""
    out = Selection()
    out.keys = list(iter_select(folder, selection, report, out))
    finish(out, report)
    return out
