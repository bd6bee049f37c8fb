"""The label files as they were before the last pull wrote them (``annosync diff`` without git).

Why: after a pull a user wants to see what CVAT's work changed. Under git that is ``annosync
diff HEAD``; without git (or before committing twice) annosync keeps, per run, the previous
content of exactly the files its last pull rewrote, in ``.annosync/previous/<anno_key>.json``
(replaced by each pull that writes; a few label files, never media).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from annosync.dataset import jsonfmt
from annosync.dataset.atomic import write_bytes_atomic
from annosync.errors import InputError

PREVIOUS_DIR = "previous"


def previous_path(state_dir: Path, anno_key: str) -> Path:
    return state_dir / PREVIOUS_DIR / f"{anno_key}.json"


def save_previous(state_dir: Path, anno_key: str, written_at: str,
                  originals: dict[str, Any]) -> None:
    """``originals``: sample key -> the label file's JSON before the pull (None: no file)."""
    data = {"written_at": written_at, "samples": originals}
    write_bytes_atomic(previous_path(state_dir, anno_key), jsonfmt.dump_bytes(data))


def load_previous(state_dir: Path, anno_key: str) -> tuple[str, dict[str, Any]] | None:
    path = previous_path(state_dir, anno_key)
    if not path.is_file():
        return None
    data = jsonfmt.read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("samples"), dict):
        raise InputError.at("not a previous-state file", str(path))
    return str(data.get("written_at") or ""), data["samples"]
