"""Where a problem in an XML or zip input is, and the warnings collected while reading it.

Why: every bad input must reach the user as ``file:line: message`` (an ``InputError``), and
everything the reader keeps but cannot interpret (unknown elements and attributes) must be
reported rather than silently carried along. One small object threads both through the reader.
"""

from __future__ import annotations

from annosync.errors import InputError, Location, Problem


class Diagnostics:
    """Errors and warnings of one input file (``path`` is what the user named)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.warnings: list[Problem] = []

    def error(self, message: str, line: int | None = None) -> InputError:
        """An ``InputError`` to raise, located in this file."""
        return InputError([Problem(Location(self.path, line), message)])

    def warn(self, message: str, line: int | None = None) -> None:
        self.warnings.append(Problem(Location(self.path, line), message, "warning"))
