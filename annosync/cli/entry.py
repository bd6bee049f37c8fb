"""The console script's entry: a Ctrl-C while Python is still loading the CLI stops quietly.

Why a module of its own: SIGINT can arrive while ``annosync.cli.main`` and everything it imports
load (Ctrl-C right after Enter, a supervisor's SIGINT); Python would then print an import
traceback and exit 1. The reliability sweep (docs/reliability.md) found it. Nothing but ``sys``
is imported here before the interrupt is caught; once ``main()`` runs it handles signals itself.
SIGTERM in that window keeps its default action (the process ends, nothing was started).
"""

from __future__ import annotations

import sys


def run() -> None:
    try:
        from annosync.cli.main import main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        raise SystemExit(130) from None
    main()
