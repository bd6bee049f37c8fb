"""CVAT REST client: a thin typed layer over ``requests`` (no label logic, no sync decisions).

Public interface: :class:`CvatClient`, :class:`Credentials` and the :class:`CvatError` family.
"""

from __future__ import annotations

from annosync.cvat.auth import Credentials, InsecureConfigWarning
from annosync.cvat.client import CvatClient
from annosync.cvat.errors import (
    CvatAuthError,
    CvatBadRequest,
    CvatConflict,
    CvatConnectionError,
    CvatError,
    CvatForbidden,
    CvatNotFound,
    CvatProtocolError,
    CvatRequestFailed,
    CvatServerError,
    CvatTimeout,
    CvatVersionError,
)
from annosync.cvat.session import RetryPolicy, Timeouts
from annosync.cvat.version import ServerVersion

__all__ = [
    "Credentials",
    "CvatAuthError",
    "CvatBadRequest",
    "CvatClient",
    "CvatConflict",
    "CvatConnectionError",
    "CvatError",
    "CvatForbidden",
    "CvatNotFound",
    "CvatProtocolError",
    "CvatRequestFailed",
    "CvatServerError",
    "CvatTimeout",
    "CvatVersionError",
    "InsecureConfigWarning",
    "RetryPolicy",
    "ServerVersion",
    "Timeouts",
]
