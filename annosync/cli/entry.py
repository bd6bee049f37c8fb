"""The console script's entry: a Ctrl-C while Python is still loading the CLI stops quietly,
and a finished command leaves without tearing the interpreter down.

Why a module of its own: SIGINT can arrive while ``annosync.cli.main`` and everything it imports
load (Ctrl-C right after Enter, a supervisor's SIGINT); Python would then print an import
traceback and exit 1. The reliability sweep (docs/reliability.md) found it. Nothing but ``sys``
is imported here before the interrupt is caught; once ``main()`` runs it handles signals itself.
SIGTERM in that window keeps its default action (the process ends, nothing was started).

Why the quick exit: once the command is done, Python's own shutdown frees every module and
object one by one (pydantic's models and validators, click, yaml: ~260 modules), a sizeable
share of a short command's CPU (``annosync plan`` of a small run). ``leave`` does what a normal
exit does that anyone can observe -- the ``atexit`` handlers (logging, temporary folders, the
CLI's own), flushing stdout and stderr, the exit code -- and then ends the process with
``os._exit``. It takes the normal exit instead whenever that could differ: another thread is
alive (Python would wait for it), the exit status is not a number, or a stream cannot be flushed
(Python reports that itself). ``main()`` keeps raising ``SystemExit``: code that calls it
in-process (tests, embedding) is unaffected.
"""

from __future__ import annotations

import sys


def leave(code: object) -> None:
    """End the process with ``code`` (a ``SystemExit`` code) without interpreter teardown, when
    nothing observable depends on it; otherwise raise ``SystemExit(code)``."""
    import atexit
    import os

    threading = sys.modules.get("threading")
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    clear = getattr(atexit, "_clear", None)
    if code is None:
        code = 0
    if (not isinstance(code, int) or not 0 <= code <= 255 or run_exitfuncs is None
            or clear is None or (threading is not None and threading.active_count() > 1)):
        raise SystemExit(code)
    run_exitfuncs()
    clear()  # ran once: the fallback below must not run them again
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):  # a closed pipe: Python's own exit reports it (and exit 120)
        raise SystemExit(code) from None
    os._exit(code)


def run() -> None:
    try:
        from annosync.cli.main import main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        raise SystemExit(130) from None
    try:
        main()
    except SystemExit as exc:
        leave(exc.code)
    else:
        leave(0)
