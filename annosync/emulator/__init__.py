"""An in-process CVAT 2.73 server for tests, demos and users' own pipelines.

Why a package: annosync (and its users) need a CVAT that starts in milliseconds, speaks the
REST API faithfully (see ``shared/cvat/recordings*``) and can be poked from Python: a human
annotator (``emu.annotator("alice")``) and injected faults (``emu.faults``).

    from annosync.emulator import Emulator
    with Emulator() as emu:
        print(emu.url, emu.admin_username, emu.admin_password)
"""

from __future__ import annotations

from .annotator import Annotator
from .emulator import Emulator
from .faults import Faults
from .state import clock_from

__all__ = ["Annotator", "Emulator", "Faults", "clock_from"]
