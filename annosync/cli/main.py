"""The ``annosync`` command: a click group; each verb lives in its own module under ``cli/``."""

from __future__ import annotations

import click

from annosync import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="annosync")
def cli() -> None:
    """Keep CVAT annotation work in sync with plain dataset folders under git."""


def main() -> None:
    cli()
