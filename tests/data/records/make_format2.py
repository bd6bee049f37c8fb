"""Make the format-2 run record of this folder with the code that wrote format 2.

Run from the root of a checkout of commit 2e6a894 (the last one writing format 2: box
geometry digested as a hash of its text), in its own virtualenv: ``python <this file> OUT``.
One run on the emulator: ``fixtures/street`` in two tasks of 3 images (jobs of 2); the record
(head ``street-format2.json`` and its shards under ``street-format2/``) holds the base digests
of the fixture's ground truth boxes as uploaded and as CVAT returned them.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def main(out: Path) -> None:
    sys.path.insert(0, os.getcwd())
    from annosync.emulator import Emulator
    from tests.sync.conftest import ROLES, Workspace

    with Emulator(users=list(ROLES)) as emu:
        ws = Workspace(out / "ws", emu)
        ws.key = ws.anno_key = "format2"
        ws.copy("street")
        ws.manifest(label_field="ground_truth", attributes=["iscrowd"],
                    cvat={"segment_size": 2, "task_size": 3})
        ws.run()
        runs = ws.folder.state_dir / "runs"
        shutil.copy(runs / "format2.json", out / "street-format2.json")
        shutil.copytree(runs / "format2", out / "street-format2")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
