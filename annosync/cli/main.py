"""The ``annosync`` command: a click group; each verb lives in its own ``cli/cmd_<verb>.py``.

Verb modules are discovered, not listed, so adding a verb never edits this file: every module
named ``cmd_*.py`` in this package exposes a ``command`` (a ``click.Command``) that is registered
under its own name.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from annosync import __version__
from annosync.errors import AnnosyncError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="annosync")
def cli() -> None:
    """Keep CVAT annotation work in sync with plain dataset folders under git."""


def _register_verbs() -> None:
    import annosync.cli as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"annosync.cli.{info.name}")
            cli.add_command(module.command)


_register_verbs()


def main() -> None:
    """Entry point: user-facing errors print as messages with exit codes, never tracebacks."""
    try:
        rv = cli.main(standalone_mode=False)
        if isinstance(rv, int):  # click returns ctx.exit(code) values in this mode
            sys.exit(rv)
    except click.exceptions.Abort:
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
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
