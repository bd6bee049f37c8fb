"""Make the format-1 run records of this folder with the code that wrote format 1.

Run from the root of a checkout of commit 3575bb2 (the last one writing format 1), in its own
virtualenv: ``python <this file> OUT``. Two runs on the emulator: ``fixtures/street`` in two
tasks of 3 images (jobs of 2) and ``fixtures/traffic``'s video ``day`` (jobs of 5 frames), so the
records hold id maps and base digests of shapes and of tracks.
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
        ws.key = ws.anno_key = "format1"
        ws.copy("street")
        ws.manifest(label_field="ground_truth", attributes=["iscrowd"],
                    cvat={"segment_size": 2, "task_size": 3})
        ws.run()
        shutil.copy(ws.folder.state_dir / "runs" / "format1.json", out / "street-format1.json")
        ws2 = Workspace(out / "ws2", emu)
        ws2.key = ws2.anno_key = "format1video"
        ws2.copy("traffic")
        ws2.manifest(label_field="frames.vehicles", samples={"keys": ["day"]},
                     cvat={"segment_size": 5})
        ws2.run()
        shutil.copy(ws2.folder.state_dir / "runs" / "format1video.json",
                    out / "traffic-format1.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
