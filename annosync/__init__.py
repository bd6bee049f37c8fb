"""annosync: keep CVAT annotation work in sync with plain, git-friendly dataset folders."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
