"""Spare the CLI pydantic's plugin scan when no pydantic plugin is installed.

When pydantic builds its first validator it asks for plugins: entry points of the group
``pydantic`` of every installed distribution, through ``importlib.metadata``. Importing that
module (with ``email``, ``csv``, ``zipfile``, ``tempfile``...) and scanning costs ~20-25 ms, a
tenth of ``annosync plan``'s start-up, to find, on nearly every machine, nothing.

``skip_scan()`` looks for such entry points itself, the way ``importlib.metadata`` finds
distributions (``*.dist-info`` and ``*.egg-info`` folders on ``sys.path``, the current folder
for an empty entry) but reading only their ``entry_points.txt``: ~1 ms. Only if none declares
the group, and nothing else could (every entry of ``sys.path`` a folder or missing, no import
finder of ``sys.meta_path`` other than the standard one that lists distributions), does it give
pydantic a loader module whose ``get_plugins()`` returns no plugins: what pydantic's own loader
returns then (through an import finder answering for that one module, so nothing of
pydantic is loaded before pydantic itself asks). Any doubt (a zip on ``sys.path``, an unreadable folder, another finder, a file
naming ``pydantic`` in any way, pydantic already asked) leaves pydantic's loader alone.
"""

from __future__ import annotations

import contextlib
import os
import sys
import types
from importlib.machinery import ModuleSpec
from typing import Any

LOADER = "pydantic.plugin._loader"


def plugins_possible() -> bool:
    """Whether an installed distribution may declare pydantic plugins (True when unsure)."""
    from importlib.machinery import PathFinder

    for finder in sys.meta_path:
        if getattr(finder, "find_distributions", None) is not None and finder is not PathFinder:
            return True
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            continue
        except OSError:  # a zip file, an unreadable folder: ask importlib.metadata
            return True
        for name in names:
            low = name.lower()
            if not low.endswith((".dist-info", ".egg-info")):
                continue
            path = os.path.join(folder, name, "entry_points.txt")
            try:
                with open(path, "rb") as fh:
                    text = fh.read()
            except FileNotFoundError:
                continue
            except OSError:
                return True
            if b"pydantic" in text.lower():
                return True
    return False


def _no_plugins() -> tuple[()]:
    return ()


def _real(name: str) -> Any:
    """Anything else asked of the loader: pydantic's own (a pydantic that needs more)."""
    import importlib

    if name.startswith("__"):  # what the import system asks of any module (``__path__``)
        raise AttributeError(name)
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(FINDER)
    if getattr(sys.modules.get(LOADER), "get_plugins", None) is _no_plugins:
        del sys.modules[LOADER]
    return getattr(importlib.import_module(LOADER), name)


class _Stub:
    """Makes pydantic's loader module, when pydantic imports it, one finding no plugins."""

    def create_module(self, spec: ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        module.__doc__ = "annosync: no pydantic plugin installed (cli/pydantic_plugins.py)"
        setattr(module, "get_plugins", _no_plugins)  # noqa: B010
        setattr(module, "__getattr__", _real)  # noqa: B010


class _Finder:
    """Answers for pydantic's loader module only (nothing is in ``sys.modules`` before
    pydantic asks for it: ``annosync --help`` imports nothing of pydantic)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        stub: Any = _Stub()  # a loader by protocol (importlib.abc would import more)
        return ModuleSpec(LOADER, stub) if name == LOADER else None


FINDER = _Finder()


def skip_scan() -> bool:
    """Have pydantic's loader find no plugins, when none can be installed; whether it did.
    Nothing is imported from pydantic here."""
    if LOADER in sys.modules or FINDER in sys.meta_path or plugins_possible():
        return False
    sys.meta_path.insert(0, FINDER)
    return True
