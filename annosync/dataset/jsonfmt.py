"""Deterministic JSON: the same data always gives the same bytes, and small edits give small diffs.

Rules: keys sorted (numeric keys such as frame numbers in numeric order); two-space indent; arrays
holding no objects are written on one line (a box, a point list, mask runs), so changing one label
touches few lines; floats in Python's shortest round-trip form with ``-0.0`` written as ``0.0``;
non-ASCII text kept as UTF-8; a newline at the end. NaN and infinities are refused.

:func:`read_json` reads any JSON file back, every problem as one located ``InputError``.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from annosync.errors import InputError

_INDENT = "  "
#: json.dumps(s, ensure_ascii=False) without its per-call overhead (the C encoder when present).
_encode_str = json.encoder.encode_basestring


def _key_order(key: str) -> tuple[int, int, str]:
    # ASCII digits only (str.isdigit accepts '²'); the key itself breaks ties ("07" vs "7")
    return (0, int(key), key) if key.isascii() and key.isdigit() else (1, 0, key)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write non-finite number {value!r} to JSON")
        return repr(value + 0.0) if value != 0 else "0.0"
    if isinstance(value, str):
        return _encode_str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _has_object(value: Any) -> bool:
    if isinstance(value, dict):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_object(v) for v in value)
    return False


def _inline(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return _scalar(value)


def _write(value: Any, depth: int, out: list[str]) -> None:
    if isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        pad = _INDENT * (depth + 1)
        items = sorted(((str(k), v) for k, v in value.items()), key=lambda kv: _key_order(kv[0]))
        out.append("{\n")
        for i, (key, item) in enumerate(items):
            out.append(f"{pad}{_scalar(key)}: ")
            _write(item, depth + 1, out)
            out.append(",\n" if i < len(items) - 1 else "\n")
        out.append(_INDENT * depth + "}")
    elif isinstance(value, (list, tuple)):
        if not _has_object(value):
            out.append(_inline(value))
            return
        pad = _INDENT * (depth + 1)
        out.append("[\n")
        for i, item in enumerate(value):
            out.append(pad)
            _write(item, depth + 1, out)
            out.append(",\n" if i < len(value) - 1 else "\n")
        out.append(_INDENT * depth + "]")
    else:
        out.append(_scalar(value))


def dumps(value: Any) -> str:
    """Serialize plain JSON data (dicts, lists, scalars) deterministically, newline-terminated."""
    out: list[str] = []
    _write(value, 0, out)
    out.append("\n")
    return "".join(out)


def dump_bytes(value: Any) -> bytes:
    return dumps(value).encode("utf-8")


def read_json(path: str | os.PathLike[str], missing: str = "no such file") -> Any:
    """A JSON file's value; a missing, unreadable or invalid file is an ``InputError`` naming
    the file (and the line), ``missing`` saying what an absent file means."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise InputError.at(missing, str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError.at(f"not valid JSON: {exc.msg}", str(path), line=exc.lineno) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError.at(f"cannot read: {exc}", str(path)) from None
