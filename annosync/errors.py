"""Exceptions every layer raises, so the CLI can print ``file:line: message`` and exit 1.

Why one module: bad input (manifests, label files, XML, server answers) must reach the user as a
precise, located message and never as a traceback. Every layer raises an ``AnnosyncError``
subclass carrying where the problem is; the CLI catches the base class only.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Location:
    """Where a problem is: a file and, when known, a line (YAML/XML) or a JSON path."""

    path: str | None = None
    line: int | None = None
    column: int | None = None
    json_path: str | None = None

    def __str__(self) -> str:
        out = self.path or "<input>"
        if self.line is not None:
            out += f":{self.line}"
            if self.column is not None:
                out += f":{self.column}"
        if self.json_path:
            out += f": {self.json_path}"
        return out


@dataclass(frozen=True)
class Problem:
    """One finding of a validator: a location, a message and a severity."""

    location: Location
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else f"{self.severity}: "
        return f"{self.location}: {prefix}{self.message}"


class AnnosyncError(Exception):
    """Base of every error annosync reports to a user (never shown as a traceback)."""

    exit_code = 1


@dataclass
class InputError(AnnosyncError):
    """Bad user input (manifest, label file, XML, zip), with every problem found."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    @classmethod
    def at(cls, message: str, path: str | None = None, line: int | None = None,
           json_path: str | None = None) -> InputError:
        return cls([Problem(Location(path, line, None, json_path), message)])


class StateError(AnnosyncError):
    """The dataset folder or a run record is in a state the requested action cannot handle."""


class ConflictError(AnnosyncError):
    """A merge found conflicts and the policy says to stop."""

    exit_code = 3
