"""Line numbers for JSON paths in a label file, so problems read ``file:line: $.path: message``.

``json`` gives no positions. This scanner walks text that ``json.loads`` has already accepted
and records, for every value, the line where it starts (for an object member: the line of its
key). It only runs for files that have problems.
"""

from __future__ import annotations

import bisect
import contextlib
import json
from typing import Any

Loc = tuple[Any, ...]
_WS = " \t\r\n"
_SCALAR_END = set(",}] \t\r\n")


def json_line_map(text: str) -> dict[Loc, int]:
    """Map each data path (keys and indexes) of valid JSON ``text`` to its 1-based line."""
    newlines = [i for i, c in enumerate(text) if c == "\n"]
    lines: dict[Loc, int] = {}
    pos = 0

    def line_of(i: int) -> int:
        return bisect.bisect_right(newlines, i - 1) + 1

    def skip() -> None:
        nonlocal pos
        while pos < len(text) and text[pos] in _WS:
            pos += 1

    def string() -> str:
        nonlocal pos
        start = pos
        pos += 1
        while text[pos] != '"':
            pos += 2 if text[pos] == "\\" else 1
        pos += 1
        return str(json.loads(text[start:pos]))

    def value(path: Loc) -> None:
        nonlocal pos
        skip()
        lines.setdefault(path, line_of(pos))
        c = text[pos]
        if c == "{":
            pos += 1
            while True:
                skip()
                if text[pos] == "}":
                    pos += 1
                    return
                if text[pos] == ",":
                    pos += 1
                    skip()
                key_at = pos
                key = string()
                child: Loc = (*path, key)
                lines[child] = line_of(key_at)
                skip()
                pos += 1  # ':'
                value(child)
        elif c == "[":
            pos += 1
            index = 0
            while True:
                skip()
                if text[pos] == "]":
                    pos += 1
                    return
                if text[pos] == ",":
                    pos += 1
                    skip()
                item: Loc = (*path, index)
                lines[item] = line_of(pos)
                value(item)
                index += 1
        elif c == '"':
            string()
        else:
            while pos < len(text) and text[pos] not in _SCALAR_END:
                pos += 1

    # best effort: on a surprise, whatever was mapped before is still right
    with contextlib.suppress(IndexError, ValueError, RecursionError):
        value(())
    return lines


def locate(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of ``loc``, or of its nearest mapped ancestor (keys may be str or int)."""
    current: Loc = ()
    best = lines.get(())
    for part in loc:
        for candidate in (part, str(part)):
            here = (*current, candidate)
            if here in lines:
                current = here
                best = lines[here]
                break
        else:
            if isinstance(part, str) and part.isascii() and part.isdigit() and (*current, int(part)) in lines:
                current = (*current, int(part))
                best = lines[current]
    return best
