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
    try:
        return _fast(value, 0) + "\n"
    except _Slow:
        return dumps_plain(value)


def dumps_plain(value: Any) -> str:
    """``dumps`` by the rules written out one by one: the definition ``_fast`` must equal (and
    what it falls back to for anything out of the ordinary: other types, non-finite numbers)."""
    out: list[str] = []
    _write(value, 0, out)
    out.append("\n")
    return "".join(out)


# -- the fast path: the same bytes, with type checks by identity and whole lines at a time ---
class _Slow(Exception):
    """Something the fast path does not handle: ``dumps_plain`` does it (or refuses it)."""


_PADS = ["\n" + _INDENT * depth for depth in range(32)]
_DIGITS = frozenset("0123456789")
_repr = repr
_frepr = float.__repr__


def _fast(value: Any, depth: int) -> str:
    kind = type(value)
    if kind is dict:
        return _dict_fast(value, depth)
    if kind is list or kind is tuple:
        return _list_fast(value, depth)
    return _scalar_fast(value)


def _dict_fast(value: dict[Any, Any], depth: int) -> str:
    if not value:
        return "{}"
    if depth >= 30:
        raise _Slow
    keys = list(value)
    numeric = False
    for k in keys:
        if type(k) is not str:
            raise _Slow
        if k[:1] in _DIGITS:
            numeric = True
    if numeric:
        keys.sort(key=_key_order)
    else:
        keys.sort()
    enc = _encode_str
    parts: list[str] = []
    append = parts.append
    for k in keys:
        v = value[k]
        t = type(v)
        if t is str:
            append(enc(k) + ": " + enc(v))
        elif t is list or t is tuple:
            append(enc(k) + ": " + _list_fast(v, depth + 1))
        elif t is dict:
            append(enc(k) + ": " + _dict_fast(v, depth + 1))
        else:
            append(enc(k) + ": " + _scalar_fast(v))
    sep = _PADS[depth + 1]
    return "{" + sep + ("," + sep).join(parts) + _PADS[depth] + "}"


def _list_fast(value: list[Any] | tuple[Any, ...], depth: int) -> str:
    if not value:
        return "[]"
    try:  # the common case: numbers only (a box, a point, a mask's runs)
        text = ", ".join(map(_frepr, value))
    except TypeError:
        pass
    else:
        if "n" in text:  # inf, nan: refused by dumps_plain
            raise _Slow
        if 0.0 in value:  # -0.0 is written 0.0
            text = ", ".join([_frepr(v + 0.0) for v in value])
        return "[" + text + "]"
    if not _flat(value):
        if depth >= 30:
            raise _Slow
        sep = _PADS[depth + 1]
        return "[" + sep + ("," + sep).join([_fast(v, depth + 1) for v in value]) + \
            _PADS[depth] + "]"
    return _inline_fast(value)


def _flat(value: list[Any] | tuple[Any, ...]) -> bool:
    """No object anywhere inside (so the array goes on one line)."""
    for v in value:
        t = type(v)
        if t is dict:
            return False
        if (t is list or t is tuple) and not _flat(v):
            return False
    return True


def _inline_fast(value: list[Any] | tuple[Any, ...]) -> str:
    return "[" + ", ".join([_inline_fast(v) if type(v) is list or type(v) is tuple
                            else _scalar_fast(v) for v in value]) + "]"


def _scalar_fast(value: Any) -> str:
    t = type(value)
    if t is str:
        return _encode_str(value)
    if t is float:
        text = _repr(value + 0.0)  # -0.0 is written 0.0
        if "n" in text:  # inf, nan: refused by dumps_plain
            raise _Slow
        return text
    if t is bool:
        return "true" if value else "false"
    if t is int:
        return _repr(value)
    if value is None:
        return "null"
    raise _Slow


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
