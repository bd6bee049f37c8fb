"""Write a whole output folder aside, then move it into place: nothing half-written on error.

Why: an import reads thousands of labels and copies media; a broken record at the end must not
leave a half-made dataset folder behind (nor a half-made export). The folder is built in a
hidden sibling (same filesystem, so the final ``rename`` is atomic) and renamed onto the target,
which must not exist or be an empty folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from annosync.errors import InputError


def check_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError.at("already exists and is not an empty folder: choose a new folder",
                            str(target))


@contextmanager
def staged_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder; on success it becomes ``target``, on error it is removed."""
    final = Path(target)
    check_target(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        yield tmp
        check_target(final)
        if final.exists():
            final.rmdir()
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
