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
import time

ID_PATTERN = re.compile(r"^[0-9a-f]{24}$")


def new_id() -> str:
    """A fresh, globally unique label id."""
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{os.urandom(8).hex()}"


def is_valid_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value))


def derived_id(*parts: object) -> str:
    """A label id derived from a stable key (its parts joined by ``/``): the same key always
    gives the same id, so re-importing or re-downloading an object does not mint a new one."""
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:24]
