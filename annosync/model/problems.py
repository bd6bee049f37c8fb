"""Turn pydantic validation errors into located ``Problem``s a person can act on.

Label files are located by JSON path (``$.fields.gt.detections[0].bounding_box``); manifests by
YAML line, through a ``locate`` callback the manifest loader supplies, plus a dotted path
(``cvat.segment_size``).

Pydantic reports a value that matches no member of a union once per member, with the member's
name spliced into the location (``classes.1.str``, ``classes.1.ClassGroup.classes``). Given the
input data, those markers are recognised (they are not keys of the data) and the errors are
condensed: if one member got further into the value (the input was a mapping and the mapping
member found a deeper problem), only that member's errors are kept; otherwise one message names
what was expected ("must be a string or a mapping").
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from annosync.errors import Location, Problem

#: Discriminator tags pydantic inserts into error locations; they are not part of the data.
_UNION_TAGS = {
    "classification", "classifications", "detection", "detections", "polyline", "polylines",
    "keypoint", "keypoints", "segmentation", "unknown", "scalar",
}
_SCALAR_BRANCHES = {"bool", "int", "float", "str", "none", "function-after[...]"}

#: What a failed type check expected, as words.
_EXPECTED = {
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "none_required": "null",
}
_SHALLOW = set(_EXPECTED) | {"literal_error"}

Step = tuple[bool, Any]  # (is_real_key, part)


def clean_loc(loc: Sequence[Any]) -> tuple[Any, ...]:
    """Drop pydantic's union-branch markers (without the data: by name, label files only)."""
    out: list[Any] = []
    skipped_at = -1
    for part in loc:
        follows_field = (len(out) >= 2 and out[-2] == "fields") or (
            len(out) >= 3 and out[-3] == "frames" and str(out[-2]).isdigit()
        )
        if follows_field and part in _UNION_TAGS and skipped_at != len(out):
            skipped_at = len(out)
            continue
        if isinstance(part, str) and (
            part in _SCALAR_BRANCHES or part.startswith(("function-", "tagged-union["))
        ):
            continue
        if part == "[key]":
            continue
        out.append(part)
    return tuple(out)


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOTTED_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def json_path(loc: Sequence[Any]) -> str:
    """``$.fields.gt.detections[0]`` (JSONPath as most tools print it)."""
    text = "$"
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and _IDENT.match(part):
            text += f".{part}"
        else:
            text += f"[{_quote(part)}]"
    return text


def dotted_path(loc: Sequence[Any]) -> str:
    """``cvat.segment_size``, ``label_schema["frames.vehicles"].classes[1]`` (for YAML)."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and _DOTTED_IDENT.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{_quote(part)}]"
    return text


def _quote(part: Any) -> str:
    return '"' + str(part).replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- locations against the data -------------------------------------------------------------------


def _lookup(data: Any, part: Any) -> tuple[bool, Any]:
    if isinstance(data, dict):
        if part in data:
            return True, data[part]
        for key in data:  # frame numbers: "1" in JSON, 1 in the location
            if not isinstance(key, bool) and str(key) == str(part):
                return True, data[key]
        return False, None
    if (isinstance(data, list) and isinstance(part, int) and not isinstance(part, bool)
            and 0 <= part < len(data)):
        return True, data[part]
    return False, None


def _steps(loc: Sequence[Any], data: Any, err_type: str, label_tags: bool) -> list[Step]:
    """Mark each part of a location as a real key of the data or a union-branch marker."""
    steps: list[Step] = []
    real: list[Any] = []
    current = data
    tag_skipped_at = -1
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if label_tags and part in _UNION_TAGS and tag_skipped_at != len(real):
            follows_field = (len(real) >= 2 and real[-2] == "fields") or (
                len(real) >= 3 and real[-3] == "frames"
            )
            if follows_field:
                tag_skipped_at = len(real)
                steps.append((False, part))
                continue
        if part == "[key]":
            steps.append((False, part))
            continue
        found, value = _lookup(current, part)
        if found:
            steps.append((True, part))
            real.append(part)
            current = value
        elif last and err_type == "missing":
            steps.append((True, part))
            real.append(part)
        else:
            steps.append((False, part))
    return steps


# -- messages -------------------------------------------------------------------------------------


def _message(err: dict[str, Any], loc: tuple[Any, ...]) -> str:
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    msg = str(err.get("msg", "invalid value"))
    if err.get("at_key"):
        got = err.get("input")
        if len(loc) == 2 and loc[0] == "frames":
            return f"frame numbers (1, 2, ...) are the keys of 'frames', not {got!r}"
        return f"invalid key {got!r}: must be {_EXPECTED.get(kind, 'valid')}"
    if kind == "missing" and loc and isinstance(loc[-1], int):
        return "too few items"
    if kind in _EXPECTED:
        return f"must be {_EXPECTED[kind]}"
    if kind == "extra_forbidden":
        return "unknown key (not allowed here)"
    if kind == "missing":
        return "required key is missing"
    if kind == "greater_than_equal":
        return f"must be >= {ctx.get('ge')}"
    if kind == "greater_than":
        return f"must be > {ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"must be <= {ctx.get('le')}"
    if kind == "less_than":
        return f"must be < {ctx.get('lt')}"
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        got = err.get("input")
        text = "must be one of: " + ", ".join(options) if options else msg
        if isinstance(got, (str, int, float)):
            text += f" (got {got!r})"
        return text
    if kind == "string_pattern_mismatch":
        if loc and loc[-1] == "anno_key":
            return (
                "must start with a letter and use only letters, digits, '_' and '-' "
                "(at most 64 characters)"
            )
        return f"must match the pattern {ctx.get('pattern')}"
    if kind == "too_short":
        n = ctx.get("min_length")
        return f"must have at least {n} item{'s' if n != 1 else ''}"
    if kind == "too_long":
        n = ctx.get("max_length")
        return f"must have at most {n} item{'s' if n != 1 else ''}"
    if kind == "finite_number":
        return "must be a finite number"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return msg


def _condense(items: list[tuple[list[Step], dict[str, Any]]]) -> list[tuple[tuple[Any, ...], str]]:
    """Resolve union markers: keep the member that got deepest, or merge type expectations."""
    out: list[tuple[tuple[Any, ...], str]] = []
    groups: dict[tuple[Any, ...], list[tuple[Any, list[Step], dict[str, Any]]]] = {}
    for steps, err in items:
        first = next((i for i, (real, _) in enumerate(steps) if not real), None)
        if first is None:
            loc = tuple(p for _, p in steps)
            out.append((loc, _message(err, loc)))
            continue
        prefix = tuple(p for _, p in steps[:first])
        groups.setdefault(prefix, []).append((steps[first][1], steps[first + 1 :], err))
    for prefix, members in groups.items():
        by_branch: dict[Any, list[tuple[list[Step], dict[str, Any]]]] = {}
        for branch, rest, err in members:
            by_branch.setdefault(branch, []).append((rest, err))
        deep = [
            b for b, errs in by_branch.items()
            if any(rest or err.get("type") not in _SHALLOW for rest, err in errs)
        ]
        if len(by_branch) == 1 and not deep:
            (errs,) = by_branch.values()
            for rest, err in errs:
                loc = prefix + tuple(p for _, p in rest)
                out.append((loc, _message(err, loc)))
        elif deep:
            for b in deep:
                for loc, msg in _condense(by_branch[b]):
                    out.append((prefix + loc, msg))
        else:
            wanted: list[str] = []
            for errs in by_branch.values():
                for _, err in errs:
                    kind = str(err.get("type"))
                    text = _EXPECTED.get(kind)
                    if text is None and kind == "literal_error":
                        text = _message(err, prefix)[len("must be ") :]
                    if text and text not in wanted:
                        wanted.append(text)
            out.append((prefix, _expected_text(wanted)))
    return out


def _expected_text(wanted: list[str]) -> str:
    if not wanted:
        return "invalid value"
    scalar = {"true or false", "an integer", "a number", "a string"}
    if scalar <= set(wanted):
        rest = [w for w in wanted if w not in scalar and w != "null"]
        text = "a scalar (true/false, a number, a string or null)"
        return "must be " + " or ".join([*rest, text])
    return "must be " + " or ".join(wanted)


def _is_field_value(loc: tuple[Any, ...]) -> bool:
    return (len(loc) == 2 and loc[0] == "fields") or (len(loc) == 3 and loc[0] == "frames")


# -- suggestions for unknown keys -----------------------------------------------------------------


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is None:
        return []
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return [m for a in args for m in _models_in(a)]
    return []


def _child_annotations(annotation: Any, part: Any) -> list[Any]:
    """The annotations of the value at ``part`` inside a value of ``annotation``."""
    out: list[Any] = []
    for model in _models_in(annotation):
        for name, info in model.model_fields.items():
            if part in (name, info.alias):
                out.append(info.annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        for a in args:
            if not _models_in(a):
                out.extend(_child_annotations(a, part))
    elif origin in (list, tuple) and args and isinstance(part, int):
        out.append(args[0])
    elif origin is dict and len(args) == 2:
        out.append(args[1])
    return out


def _suggestion(root: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    if root is None or not loc or not isinstance(loc[-1], str):
        return ""
    current: list[Any] = [root]
    for part in loc[:-1]:
        current = [c for a in current for c in _child_annotations(a, part)]
    names: set[str] = set()
    for a in current:
        for model in _models_in(a):
            for name, info in model.model_fields.items():
                names.add(info.alias or name)
    import difflib  # only for an error message

    close = difflib.get_close_matches(loc[-1], sorted(names), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- entry point ----------------------------------------------------------------------------------


def problems_from_validation(
    exc: ValidationError,
    path: str | None,
    locate: Callable[[tuple[Any, ...]], int | None] | None = None,
    *,
    data: Any = None,
    model: type[BaseModel] | None = None,
    style: str = "json",
    label_tags: bool = True,
    prefix: tuple[Any, ...] = (),
) -> list[Problem]:
    """One ``Problem`` per (condensed) pydantic error, deduplicated, in a stable order.

    ``data`` is the validated input (to tell union markers from keys); ``model`` the root model
    (to suggest a close key name for an unknown one); ``style`` is ``"json"`` (``$.a.b[0]``) or
    ``"dotted"`` (``a.b[0]``); ``prefix`` is prepended to every location.
    """
    items: list[tuple[list[Step], dict[str, Any]]] = []
    for details in exc.errors():
        raw = tuple(details.get("loc", ()))
        err: dict[str, Any] = dict(details)
        if "[key]" in raw:
            err["at_key"] = True
        if data is None:
            steps: list[Step] = [(True, p) for p in clean_loc(raw)]
        else:
            steps = _steps(raw, data, str(err.get("type")), label_tags)
        items.append((steps, err))
    seen: set[tuple[str, str]] = set()
    problems: list[Problem] = []
    for loc, msg in _condense(items):
        if msg == "unknown key (not allowed here)":
            msg += _suggestion(model, loc)
        elif label_tags and _is_field_value(loc) and msg.startswith("must be a scalar"):
            msg = "must be a label object with a '_type', or " + msg[len("must be ") :]
        full = prefix + loc
        where = json_path(full) if style == "json" else dotted_path(full)
        if (where, msg) in seen:
            continue
        seen.add((where, msg))
        line = locate(full) if locate else None
        problems.append(Problem(Location(path, line, None, where or None), msg))
    return problems
