"""The CLI skips pydantic's plugin scan only when no plugin can be installed
(``cli/pydantic_plugins.py``): an installed plugin is still loaded, and any doubt about
where distributions live leaves pydantic's own loader in charge."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from annosync.cli import pydantic_plugins
from annosync.cli.pydantic_plugins import plugins_possible
from tests.cli.conftest import write_tiny_run

PROBE = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write("MODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
from annosync.cli.main import main
sys.argv = ["annosync", *sys.argv[1:]]
main()
"""


def fake_plugin(site: Path, group: str = "pydantic") -> Path:
    """A distribution declaring a pydantic plugin whose module leaves a mark when loaded."""
    info = site / "fakeplug-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{group}]\nfake = fakeplug:plugin\n")
    mark = site / "loaded"
    (site / "fakeplug.py").write_text(
        "import pathlib\n"
        f"pathlib.Path({str(mark)!r}).write_text('yes')\n"
        "class _Plugin:\n"
        "    def new_schema_validator(self, *args, **kwargs):\n"
        "        return None, None, None\n"
        "plugin = _Plugin()\n")
    return mark


def plan_tiny(tmp_path: Path, pythonpath: Path | None) -> tuple[int, set[str]]:
    write_tiny_run(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    proc = subprocess.run([sys.executable, "-c", PROBE, "plan", "run.yaml", "-q"],
                          capture_output=True, text=True, cwd=tmp_path, env=env)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MODULES "))
    return proc.returncode, set(json.loads(line[len("MODULES "):]))


def test_an_installed_pydantic_plugin_is_still_loaded(tmp_path: Path) -> None:
    site = tmp_path / "site"
    mark = fake_plugin(site)
    code, modules = plan_tiny(tmp_path, site)
    assert code == 2
    assert mark.read_text() == "yes"  # pydantic found and loaded it, as without annosync
    assert "importlib.metadata" in modules


def test_without_plugins_the_scan_is_skipped(tmp_path: Path) -> None:
    if plugins_possible():
        pytest.skip("this environment has a distribution that may declare pydantic plugins")
    site = tmp_path / "site"
    mark = fake_plugin(site, group="other")
    code, modules = plan_tiny(tmp_path, site)  # an entry point of another group: no plugin
    assert code == 2
    assert not mark.exists()
    assert "importlib.metadata" not in modules


def test_plugins_possible_errs_on_the_side_of_scanning(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "other-1.0.dist-info").mkdir()
    (site / "other-1.0.dist-info" / "entry_points.txt").write_text("[console_scripts]\nx = y:z\n")
    (site / "bare-2.0.dist-info").mkdir()  # no entry points at all
    monkeypatch.setattr(sys, "path", [str(site), str(tmp_path / "missing")])
    assert not plugins_possible()
    # a plugin's group, in any case and spacing, in a dist-info or an egg-info
    for name, text in (("p-1.dist-info", "[pydantic]\na = b:c\n"),
                       ("p-1.egg-info", "[ Pydantic ]\na = b:c\n")):
        (site / name).mkdir()
        (site / name / "entry_points.txt").write_text(text)
        assert plugins_possible()
        (site / name / "entry_points.txt").unlink()
        (site / name).rmdir()
    assert not plugins_possible()
    # a zip on the path (distributions may live inside): unsure
    archive = tmp_path / "lib.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("x.py", "")
    monkeypatch.setattr(sys, "path", [str(site), str(archive)])
    assert plugins_possible()
    # another finder that lists distributions: unsure
    monkeypatch.setattr(sys, "path", [str(site)])

    class Finder:
        def find_spec(self, *args: object) -> None:
            return None

        def find_distributions(self, *args: object) -> list[object]:
            return []

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, Finder()])
    assert plugins_possible()


def test_the_stub_answers_as_pydantic_does_without_plugins(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Through the finder, pydantic's loader module finds no plugins (what pydantic's own
    loader says with none installed); any other name asked of it comes from pydantic's own
    loader, and the finder then steps aside."""
    import importlib

    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "__all__")  # the real loader, no scan
    monkeypatch.delitem(sys.modules, pydantic_plugins.LOADER, raising=False)
    monkeypatch.setattr(sys, "meta_path", [pydantic_plugins.FINDER, *sys.meta_path])
    stub = importlib.import_module(pydantic_plugins.LOADER)
    assert list(stub.get_plugins()) == []
    with pytest.raises(AttributeError):
        stub.__path__  # noqa: B018  (the import system asks; a module, not a package)
    assert stub.PYDANTIC_ENTRY_POINT_GROUP == "pydantic"  # the real module's constant
    real = sys.modules[pydantic_plugins.LOADER]
    assert real is not stub and pydantic_plugins.FINDER not in sys.meta_path
    assert list(real.get_plugins()) == []  # pydantic's own loader: no plugins either


def test_help_imports_nothing_of_pydantic(tmp_path: Path) -> None:
    """The finder is in place before any verb runs, yet loads nothing until pydantic asks."""
    proc = subprocess.run([sys.executable, "-c", PROBE, "--help"], capture_output=True,
                          text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin",
                                                        "HOME": str(tmp_path)})
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MODULES "))
    modules = set(json.loads(line[len("MODULES "):]))
    assert proc.returncode == 0
    assert not any(m == "pydantic" or m.startswith("pydantic.") for m in modules)
