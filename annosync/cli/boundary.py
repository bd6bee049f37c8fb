"""The CLI's last line of defence: no verb ever shows a traceback for bad input.

An ``AnnosyncError`` (bad input, located) is printed here, one ``file:line: message`` per
problem, and exits with its code (1 for input errors), the same as ``main`` would, so the verbs
behave alike under any click runner. Click's own exceptions pass through. An ``OSError`` (a
full disk, a permission, a lost mount) is the machine's: one line with the file, exit 1.
Anything else is a bug
in annosync: it becomes ``internal error: ...`` with a hint and exit code 2
(``ANNOSYNC_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import functools
import os
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click

from annosync.errors import AnnosyncError, InputError

F = TypeVar("F", bound=Callable[..., Any])

INTERNAL_ERROR_EXIT = 2


def guarded(fn: F) -> F:
    """Wrap a click callback so unexpected exceptions exit 2 with a message, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            from annosync.manifest.validate import format_problem

            for problem in exc.problems:
                click.echo(format_problem(problem), err=True)
            raise click.exceptions.Exit(exc.exit_code) from None
        except AnnosyncError as exc:
            click.echo(f"error: {exc}", err=True)
            raise click.exceptions.Exit(exc.exit_code) from None
        except (click.exceptions.ClickException, click.exceptions.Exit,
                click.exceptions.Abort, KeyboardInterrupt, SystemExit):
            raise
        except OSError as exc:  # the machine, not annosync: a full disk, permissions, a mount
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"error: {where}{exc.strerror or exc}", err=True)
            raise click.exceptions.Exit(1) from None
        except Exception as exc:  # the boundary: everything else is a bug, reported politely
            if os.environ.get("ANNOSYNC_DEBUG"):
                traceback.print_exc()
            click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
            click.echo(
                "hint: this is a bug in annosync, not a problem with your input's format; "
                "please report it with the command you ran (ANNOSYNC_DEBUG=1 shows the "
                "traceback)",
                err=True,
            )
            raise click.exceptions.Exit(INTERNAL_ERROR_EXIT) from None

    return wrapper  # type: ignore[return-value]

