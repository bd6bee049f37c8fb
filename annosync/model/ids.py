"""Stable label ids.

A label id is created once, when a label first exists, and is never changed by re-saving: it is
the provenance key that survives a round trip through CVAT (as the ``label_id`` attribute) and a
three-way merge. The format is a 24-hex-digit string like a BSON ObjectId (4 bytes of seconds
since the epoch, 8 random bytes), so FiftyOne users recognise it and ids sort roughly by age.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time

ID_PATTERN = re.compile(r"^[0-9a-f]{24}$")

# Random bytes are drawn from the OS 4 KiB at a time: one ``os.urandom`` call per id was a
# system call per label (10,000 in converting one upload). The buffer is emptied in a forked
# child, so parent and child never hand out the same bytes.
_RANDOM = bytearray()
_RANDOM_LOCK = threading.Lock()
_BATCH = 4096
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_RANDOM.clear)


def _random8() -> bytes:
    with _RANDOM_LOCK:
        if len(_RANDOM) < 8:
            _RANDOM[:] = os.urandom(_BATCH)
        out = bytes(_RANDOM[-8:])
        del _RANDOM[-8:]
    return out


def new_id() -> str:
    """A fresh, globally unique label id."""
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{_random8().hex()}"


def is_valid_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value))


def derived_id(*parts: object) -> str:
    """A label id derived from a stable key (its parts joined by ``/``): the same key always
    gives the same id, so re-importing or re-downloading an object does not mint a new one."""
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:24]
