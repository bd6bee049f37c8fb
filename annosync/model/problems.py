"""Turn pydantic validation errors into located ``Problem``s a person can act on.

Label files are located by JSON path (``$.fields.gt.detections[0].bounding_box``); manifests by
YAML line, through a ``locate`` callback the manifest loader supplies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from annosync.errors import Location, Problem

#: Discriminator tags pydantic inserts into error locations; they are not part of the data.
_UNION_TAGS = {
    "classification", "classifications", "detection", "detections", "polyline", "polylines",
    "keypoint", "keypoints", "segmentation", "unknown", "scalar",
}
_SCALAR_TYPE_ERRORS = {"bool_type", "int_type", "float_type", "string_type", "none_required"}
_SCALAR_BRANCHES = {"bool", "int", "float", "str", "none", "function-after[...]"}


def clean_loc(loc: Sequence[Any]) -> tuple[Any, ...]:
    """Drop pydantic's union-branch markers so a location names only real keys and indexes."""
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
        out.append(part)
    return tuple(out)


def json_path(loc: Sequence[Any]) -> str:
    text = "$"
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            text += f".{part}"
        else:
            text += f"[{part!r}]"
    return text


def _message(err: Any) -> str:
    msg = str(err.get("msg", "invalid value"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err.get("type") == "extra_forbidden":
        msg = "unknown key (not allowed here)"
    elif err.get("type") == "missing":
        msg = "required key is missing"
    return msg


def problems_from_validation(
    exc: ValidationError,
    path: str | None,
    locate: Callable[[tuple[Any, ...]], int | None] | None = None,
) -> list[Problem]:
    """One ``Problem`` per pydantic error, deduplicated, in a stable order."""
    seen: set[tuple[str, str]] = set()
    problems: list[Problem] = []
    errors = exc.errors()
    scalar_fails: dict[str, int] = {}
    for err in errors:
        if err.get("type") in _SCALAR_TYPE_ERRORS:
            key = json_path(clean_loc(err.get("loc", ())))
            scalar_fails[key] = scalar_fails.get(key, 0) + 1
    for err in errors:
        loc = clean_loc(err.get("loc", ()))
        where = json_path(loc)
        msg = _message(err)
        if scalar_fails.get(where, 0) > 1 and err.get("type") in _SCALAR_TYPE_ERRORS:
            msg = (
                "expected a label object with a '_type', or a scalar (true/false, a number, "
                "a string or null)"
                if len(loc) >= 2 and (loc[-2] == "fields" or str(loc[-2]).isdigit())
                else "expected a scalar value (true/false, a number, a string or null)"
            )
        if (where, msg) in seen:
            continue
        seen.add((where, msg))
        line = locate(loc) if locate else None
        problems.append(Problem(Location(path, line, None, where), msg))
    return problems
