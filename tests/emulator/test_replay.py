"""Every recorded CVAT 2.73 exchange, replayed against the emulator (see ``replay.py``)."""

from __future__ import annotations

import pytest

from annosync.emulator import Emulator

from .replay import SHARED, SKIPPED, Replayer

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="shared/cvat recordings not available")


@pytest.mark.parametrize("folder", ["recordings", "recordings2"])
def test_replay(folder: str) -> None:
    with Emulator() as emu:
        results = Replayer(emu, folder).run()
    failures = [f"{fname} #{seq} (expected {status}): " + "; ".join(problems)
                for fname, seq, status, problems in results if problems]
    skipped = [k for k in SKIPPED if k[0] == folder]
    print(f"\n{folder}: {len(results)} exchanges replayed, {len(skipped)} skipped, "
          f"{len(failures)} with differences")
    assert not failures, "\n".join(failures)
