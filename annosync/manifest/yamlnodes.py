"""YAML to plain data, remembering the line of every key and item, with ``${VAR}`` interpolation.

PyYAML's ``safe_load`` loses line numbers and silently keeps the last of two equal keys. Here
documents are *composed* into nodes with ``yaml.SafeLoader`` and converted by hand, so that:

- every value is recorded in ``lines`` under its data path (a tuple of keys and indexes), at the
  line of its key (mapping entries) or of the item itself (list items): a validation error at
  ``("cvat", "segment_size")`` prints that key's line;
- a duplicate key is an error at the second occurrence (``<<`` merge keys are honoured and may be
  overridden without complaint);
- string scalars are interpolated from the environment: ``${VAR}``, ``${VAR:-default}`` (the
  default when VAR is unset or empty); ``$${`` is a literal ``${``. An undefined variable is an
  error at its line. A plain (unquoted) scalar is re-typed after substitution, so
  ``project_id: ${PROJECT_ID}`` gives an integer; a quoted one stays a string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from annosync.errors import Location, Problem

Path_ = tuple[Any, ...]

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_KNOWN_SCALARS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null",
}
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MAX_DEPTH = 64
_MAX_VALUES = 100_000

#: ``$${`` (escape), ``${NAME}`` or ``${NAME:-default}``, or a malformed ``${``.
_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Typer(yaml.SafeLoader):
    """Only used to resolve and construct single scalars (``resolve``/``construct_object``)."""

    def __init__(self) -> None:
        super().__init__("")


@dataclass
class Converted:
    """One YAML document as data, with lines and what interpolation did."""

    data: Any
    line: int
    lines: dict[Path_, int] = field(default_factory=dict)
    #: paths of string values that contained at least one ``${VAR}`` reference.
    interpolated: set[Path_] = field(default_factory=set)


def syntax_problem(exc: yaml.YAMLError, path: str) -> Problem:
    """A located message for a YAML syntax error."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = int(mark.line) + 1 if mark is not None else None
    what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark is not None and mark is not None \
            and context_mark.line != mark.line:
        context += f" started at line {int(context_mark.line) + 1}"
    msg = f"invalid YAML: {what}" + (f" ({context})" if context else "")
    return Problem(Location(path, line), msg)


def compose_all(text: str, path: str) -> tuple[list[yaml.Node], list[Problem]]:
    """Compose every document of a YAML stream (empty documents are dropped)."""
    nodes: list[yaml.Node] = []
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character: found before parsing starts
        line = text[: exc.position].count("\n") + 1
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        return nodes, [Problem(Location(path, line), f"invalid YAML: character {char!r} is not "
                               "allowed in YAML text")]
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
    except yaml.YAMLError as exc:
        return nodes, [syntax_problem(exc, path)]
    except RecursionError:
        return nodes, [Problem(Location(path), "invalid YAML: nested too deeply")]
    finally:
        loader.dispose()
    return nodes, []


class Converter:
    """Convert composed nodes to data; problems are collected, never raised."""

    def __init__(self, path: str, env: Mapping[str, str] | None, interpolate: bool = True):
        self.path = path
        self.env = env if env is not None else {}
        self.interpolate = interpolate
        self.problems: list[Problem] = []
        self._typer = _Typer()
        self._count = 0

    def document(self, node: yaml.Node) -> Converted:
        out = Converted(data=None, line=_line(node))
        out.lines[()] = out.line
        out.data = self._convert(node, (), out, 0)
        return out

    # -- nodes -----------------------------------------------------------------------------------
    def _error(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(Location(self.path, line), message))

    def _convert(self, node: yaml.Node, loc: Path_, out: Converted, depth: int) -> Any:
        self._count += 1
        if depth > _MAX_DEPTH or self._count > _MAX_VALUES:
            if self._count == _MAX_VALUES + 1 or depth == _MAX_DEPTH + 1:
                self._error(_line(node), "document nested too deeply or too large")
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc, out, depth)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                out.lines.setdefault((*loc, i), _line(item))
                items.append(self._convert(item, (*loc, i), out, depth + 1))
            return items
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node, loc, out)

    def _mapping(self, node: yaml.MappingNode, loc: Path_, out: Converted, depth: int) -> dict:
        result: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for src in sources:
                    value = self._convert(src, loc, out, depth + 1)
                    if not isinstance(value, dict):
                        self._error(_line(src), "a '<<' merge needs a mapping (or a list of them)")
                        continue
                    for k, v in value.items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._error(_line(key_node), "a mapping key must be a plain value, not a list or mapping")
                continue
            key = self._scalar(key_node, None, out)
            if isinstance(key, (list, dict)) or (key is None and key_node.value not in ("", "~", "null")):
                self._error(_line(key_node), "invalid mapping key")
                continue
            if key in first_line:
                self._error(
                    _line(key_node),
                    f"duplicate key {key!r} (first defined at line {first_line[key]}); "
                    "YAML would silently keep only the last one",
                )
            first_line[key] = _line(key_node)
            here = (*loc, key)
            out.lines[here] = _line(key_node)
            result[key] = self._convert(value_node, here, out, depth + 1)
        for k, v in merged.items():
            result.setdefault(k, v)
        return result

    def _scalar(self, node: yaml.ScalarNode, loc: Path_ | None, out: Converted) -> Any:
        tag = node.tag
        if tag == _TIMESTAMP:
            return node.value  # dates stay text: nothing in a manifest is a date
        if tag not in _KNOWN_SCALARS:
            self._error(_line(node), f"unsupported YAML tag {tag!r}")
            return None
        if tag == _STR and loc is not None and self.interpolate and "$" in node.value:
            text, used = self._substitute(node.value, _line(node))
            if used:
                out.interpolated.add(loc)
            if node.style is None and text != node.value:  # plain scalar: type it as YAML would
                resolved = self._typer.resolve(yaml.ScalarNode, text, (True, False))
                if resolved in _KNOWN_SCALARS and resolved != _STR:
                    try:
                        return self._typer.construct_object(yaml.ScalarNode(resolved, text))
                    except (yaml.YAMLError, ValueError):
                        return text
            return text
        try:
            return self._typer.construct_object(node)
        except (yaml.YAMLError, ValueError) as exc:
            self._error(_line(node), f"invalid value: {exc}")
            return None

    def _substitute(self, text: str, line: int) -> tuple[str, bool]:
        used = False

        def repl(match: re.Match[str]) -> str:
            nonlocal used
            whole = match.group(0)
            if whole == "$${":
                return "${"
            name = match.group(1)
            if name is None:
                self._error(
                    line,
                    "invalid '${' reference: write ${NAME} or ${NAME:-default} "
                    "(NAME: letters, digits, '_'); '$${' is a literal '${'",
                )
                return whole
            used = True
            value = self.env.get(name)
            default = match.group(2)
            if default is not None and not value:
                return default
            if value is None:
                self._error(
                    line,
                    f"environment variable {name} is not set "
                    f"(write ${{{name}:-default}} to give a default)",
                )
                return ""
            return value

        return _REF.sub(repl, text), used
