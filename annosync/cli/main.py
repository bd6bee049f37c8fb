"""The ``annosync`` command: a click group; each verb lives in its own ``cli/cmd_<verb>.py``.

Verb modules are discovered, not listed, so adding a verb never edits this file: every module
named ``cmd_<verb>.py`` in this package exposes a ``command`` (a ``click.Command``) named after
it (``cmd_import_xml.py`` is ``import-xml``). Discovery reads module *names* only; a verb's
module is imported when that verb runs (or when ``--help`` lists the verbs), and verb modules
import their heavy dependencies inside the command, so the CLI starts at once
(``tests/cli/test_startup.py`` checks the import graph).
"""

from __future__ import annotations

import atexit
import functools
import importlib
import pkgutil
import sys

import click

from annosync import __version__
from annosync.errors import AnnosyncError


@functools.cache
def verb_modules() -> dict[str, str]:
    """Verb name -> module name, from the file names of this package (nothing imported).

    Read once per process: ``--help`` asks for every verb, and each scan lists the package
    folder and its ``__pycache__`` (an installed package has one), ~30 times otherwise."""
    import annosync.cli as pkg

    return {info.name[4:].replace("_", "-"): info.name
            for info in pkgutil.iter_modules(pkg.__path__) if info.name.startswith("cmd_")}


class Verbs(click.Group):
    """A group whose verbs are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(verb_modules()) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            module = verb_modules().get(cmd_name)
            if module is None:
                return None
            command = importlib.import_module(f"annosync.cli.{module}").command
            self.add_command(command, cmd_name)
        return self.commands[cmd_name]


@click.group(cls=Verbs, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="annosync")
def cli() -> None:
    """Keep CVAT annotation work in sync with plain dataset folders under git."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (systemd, ``docker stop``, a CI timeout): stop as cleanly as Ctrl-C does
    (context managers release the dataset lock; the journal lets the next run resume)."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def _interrupted(exc: BaseException) -> None:
    terminated = isinstance(exc, Terminated) or isinstance(exc.__cause__, Terminated)
    click.echo("Terminated." if terminated else "Interrupted.", err=True)
    sys.exit(143 if terminated else 130)


def _ignore_late_signals() -> None:
    """At exit the work is done: a late Ctrl-C or SIGTERM must not turn a finished run into
    a killed one (Python would restore the default action and die with -2 / -15)."""
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def main() -> None:
    """Entry point: user-facing errors print as messages with exit codes, never tracebacks."""
    import signal
    import threading

    from annosync.cli.pydantic_plugins import skip_scan

    skip_scan()  # pydantic's plugin scan, when no plugin is installed (~20 ms of start-up)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
        atexit.register(_ignore_late_signals)
    try:
        rv = cli.main(standalone_mode=False)
        if isinstance(rv, int):  # click returns ctx.exit(code) values in this mode
            sys.exit(rv)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            _interrupted(exc)
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except AnnosyncError as exc:
        click.echo(f"error: {exc}" if "\n" not in str(exc) else str(exc), err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        _interrupted(exc)
