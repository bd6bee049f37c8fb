"""The CLI starts at once: each verb imports only what it uses (the import graph, not a time).

``annosync --help`` lists every verb without the sync engine, the emulator, PyAV, numpy, Pillow
or lxml; ``annosync plan`` plans without the emulator, the media and mask libraries, the XML
layer, the Python API, the manifest validator, JMESPath (unless the manifest has ``where`` or
``sort_by``) or CVAT's annotation models, and a plan that asks no server (a new run) loads
neither the HTTP client, threads, nor the code that creates, uploads or converts. A no-op
``sync`` or ``pull`` of an existing run lists jobs without loading the converters; a pull that
finds a changed job loads them (and converts). The figures (start-up in seconds) are in
docs/benchmarks.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Workspace, write_tiny_run

PROBE = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write("MODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
from annosync.cli.main import main
sys.argv = ["annosync", *sys.argv[1:]]
main()
"""

#: Never imported by ``--help``: third-party roots and annosync packages.
HELP_FORBIDDEN = ("av", "numpy", "PIL", "lxml", "requests", "pydantic", "yaml", "rich",
                  "watchdog", "jmespath", "annosync.sync", "annosync.emulator", "annosync.api",
                  "annosync.cvat", "annosync.cvatxml", "annosync.convert", "annosync.manifest",
                  "annosync.dataset", "annosync.model")
PLAN_FORBIDDEN = ("av", "numpy", "PIL", "lxml", "rich", "watchdog", "jmespath",
                  "annosync.emulator", "annosync.api", "annosync.cvatxml",
                  "annosync.convert.masks", "annosync.sync.adopt", "annosync.model.cvat",
                  "annosync.manifest.validate", "annosync.manifest.rules",
                  "annosync.manifest.observe", "annosync.model.schema_rules")
#: Not imported by a plan that contacts no server (nor writes anything): the HTTP stack, the
#: client, applying, creating, pushing, the conversions both ways, the dataset lock.
NEW_RUN_PLAN_FORBIDDEN = ("requests", "urllib3", "ssl", "filelock", "concurrent.futures",
                          "annosync.sync.pool", "annosync.sync.remote", "annosync.cvat",
                          "annosync.sync.apply", "annosync.sync.create",
                          "annosync.sync.push", "annosync.sync.remote", "annosync.sync.lock",
                          "annosync.convert.labels_to_cvat",
                          "annosync.convert.cvat_to_labels", "annosync.convert.id_match",
                          "annosync.convert.binding", "annosync.convert.results")
#: Not imported by a sync or pull that finds nothing changed: what reads a task's labels from
#: CVAT (converters, CVAT's annotation models, the schema binding), uploads or creates.
NOOP_FORBIDDEN = ("av", "numpy", "PIL", "lxml", "jmespath", "annosync.emulator", "annosync.api",
                  "annosync.cvatxml", "annosync.model.cvat", "annosync.model.schema_rules",
                  "annosync.convert.cvat_to_labels", "annosync.convert.labels_to_cvat",
                  "annosync.convert.binding", "annosync.convert.specs",
                  "annosync.convert.results", "annosync.convert.frames",
                  "annosync.convert.id_match", "annosync.sync.create", "annosync.sync.push",
                  "annosync.sync.adopt")


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None
            ) -> tuple[int, set[str], str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          cwd=cwd, env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), **(env or {})})
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MODULES "))
    return proc.returncode, set(json.loads(line[len("MODULES "):])), proc.stdout


def loaded(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f for f in forbidden if any(m == f or m.startswith(f + ".") for m in modules))


def test_help_lists_every_verb_without_importing_their_work(tmp_path: Path) -> None:
    code, modules, out = run_cli("--help", cwd=tmp_path)
    assert code == 0
    for verb in ("sync", "plan", "pull", "push", "emulator", "import-xml", "export-xml", "watch"):
        assert f"  {verb} " in out
    assert loaded(modules, HELP_FORBIDDEN) == []
    # the verb modules themselves are imported (for their one-line help), and nothing else
    assert {m for m in modules if m.startswith("annosync.")} <= (
        {m for m in modules if m.startswith("annosync.cli.")}
        | {"annosync.cli", "annosync.errors", "annosync.progress"})


def test_one_verb_imports_only_its_own_module(tmp_path: Path) -> None:
    code, modules, out = run_cli("runs", "--help", cwd=tmp_path)
    assert code == 0 and "Usage: annosync runs" in out
    verbs = {m for m in modules if m.startswith("annosync.cli.cmd_")}
    assert verbs == {"annosync.cli.cmd_runs"}


def test_plan_imports_no_media_mask_xml_or_emulator_code(tmp_path: Path) -> None:
    write_tiny_run(tmp_path)
    code, modules, out = run_cli("plan", "run.yaml", cwd=tmp_path)
    assert code == 2, out  # a new run: a task to create
    assert "1 task to create" in out
    assert loaded(modules, PLAN_FORBIDDEN) == []
    assert loaded(modules, NEW_RUN_PLAN_FORBIDDEN) == []
    assert "annosync.sync.planner" in modules  # it did plan


def test_noop_sync_and_pull_list_jobs_without_the_converters(ws: Workspace) -> None:
    manifest = ws.manifest()
    assert ws.invoke("sync", str(manifest), "-q").exit_code == 0  # the run exists
    for verb in ("sync", "pull"):
        code, modules, out = run_cli(verb, "manifests/run.yaml", cwd=ws.root, env=ws.env)
        assert code == 0, out
        assert "No changes" in out
        assert "annosync.sync.remote" in modules  # it did ask CVAT (one job listing)
        assert loaded(modules, NOOP_FORBIDDEN) == []
    # an annotator moves a box: the pull now loads the converters and brings the change home
    task_id = ws.task_id()
    ann = ws.annotator
    shape = ann.shapes(task_id)[0]
    ann.update_shape(shape["id"], points=[p + 5 for p in shape["points"]])
    before = ws.folder.read_bytes(ws.record.tasks[0].samples[shape["frame"]])
    code, modules, out = run_cli("pull", "manifests/run.yaml", cwd=ws.root, env=ws.env)
    assert code == 0, out
    assert "annosync.convert.cvat_to_labels" in modules
    assert ws.folder.read_bytes(ws.record.tasks[0].samples[shape["frame"]]) != before


def test_help_lists_the_verb_folder_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--help`` asks for every verb; the folder (and the ``__pycache__`` an installed package
    has) is listed once per process, not once per verb."""
    import pkgutil

    from click.testing import CliRunner

    from annosync.cli import main as cli_main

    calls: list[object] = []
    real = pkgutil.iter_modules

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    forget = getattr(cli_main.verb_modules, "cache_clear", lambda: None)
    monkeypatch.setattr(pkgutil, "iter_modules", counting)
    forget()
    try:
        result = CliRunner().invoke(cli_main.cli, ["--help"])
    finally:
        forget()
    assert result.exit_code == 0 and "  plan " in result.output
    assert len(calls) == 1
