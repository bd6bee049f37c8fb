"""annosync: keep CVAT annotation work in sync with plain, git-friendly dataset folders.

    import annosync as asy
    ds = asy.load_dataset("datasets/street")
    ds.limit(1).annotate("fix", label_field="ground_truth")
    ds.load_annotations("fix")

The API lives in ``annosync.api``; names are imported on first use so that ``import
annosync.errors`` (the emulator, the CLI's start-up) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AnnosyncError",
    "AnnotationInfo",
    "AnnotationResults",
    "Dataset",
    "DatasetView",
    "__version__",
    "connect_to_api",
    "import_annotations",
    "load_dataset",
]

if TYPE_CHECKING:
    from annosync.api import (
        AnnotationInfo,
        AnnotationResults,
        Dataset,
        DatasetView,
        connect_to_api,
        import_annotations,
        load_dataset,
    )
    from annosync.errors import AnnosyncError


def __getattr__(name: str) -> Any:
    if name == "AnnosyncError":
        from annosync.errors import AnnosyncError

        return AnnosyncError
    if name in __all__:
        from annosync import api

        return getattr(api, name)
    raise AttributeError(f"module 'annosync' has no attribute {name!r}")
