"""Emulator answers validate against CVAT 2.73's OpenAPI schema.

The traffic is the full replay of the recordings (every recorded endpoint and error) plus a
few extra calls; every JSON answer whose status the schema documents is validated.
"""

from __future__ import annotations

import pytest

from annosync.emulator import Emulator

from .replay import SHARED, Replayer
from .schema_check import SchemaReport

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="shared/cvat not available")


def test_replayed_answers_match_the_schema() -> None:
    report = SchemaReport()
    for folder in ("recordings", "recordings2"):
        with Emulator() as emu:
            replayer = Replayer(emu, folder, on_response=report.check)
            replayer.run()
    print(f"\nschema: {report.validated} JSON answers validated, "
          f"{len(report.undocumented_status)} with statuses the schema does not document, "
          f"{len(report.unknown_path)} on paths outside the schema")
    assert report.validated > 200
    assert not report.errors, "\n".join(report.errors)
