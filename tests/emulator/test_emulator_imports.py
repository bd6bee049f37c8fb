"""The emulator stands in for a real server: it imports nothing of annosync but ``errors``,
the collector pause (``gcpause`` and the ``held`` counter under it) and its own modules, so it
cannot share the client's assumptions (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import annosync.emulator

ALLOWED = {"annosync.errors", "annosync.gcpause", "annosync.held"}
EMULATOR = Path(annosync.emulator.__file__).parent


def _imported(path: Path) -> set[str]:
    """The annosync modules a file imports (absolute ones; relative ones stay in the package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return {m for m in found if m == "annosync" or m.startswith("annosync.")}


def _outside(modules: set[str]) -> set[str]:
    return {m for m in modules if m not in ALLOWED and not m.startswith("annosync.emulator")}


def test_the_emulator_imports_only_errors_gcpause_and_itself() -> None:
    files = sorted(EMULATOR.rglob("*.py"))
    assert len(files) > 10  # the package, not an empty folder
    wrong = {str(p.relative_to(EMULATOR)): sorted(_outside(_imported(p))) for p in files}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_an_import_of_the_client_is_seen(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("from annosync.sync.create import Creator\nimport annosync.cvat.client\n"
                   "from .state import State\nfrom annosync.errors import InputError\n")
    assert _outside(_imported(src)) == {"annosync.sync.create", "annosync.cvat.client"}
