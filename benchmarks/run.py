"""annosync's benchmarks, in one command: generates its data, runs each case several times, prints
medians beside the peers that install from PyPI. Not part of the test run.

    python benchmarks/run.py                 # everything (100k-sample plan: ~15 min)
    python benchmarks/run.py --quick         # small sizes, 2 repetitions (~3 min)
    python benchmarks/run.py --cases startup,upload --repeat 5
    python benchmarks/run.py --python /other/venv/bin/python  # the same cases on other code
    python benchmarks/run.py --cases upload,noop,pull_job --fiftyone-python /venv-fo/bin/python

The CVAT server is the bundled emulator in a process of its own (``annosync emulator``), so its
CPU time is reported apart from annosync's ("emu cpu"); there is no real CVAT here. Request
counts come from the client process. Peers: cvat-sdk's ``create_from_data`` when ``cvat_sdk``
imports in ``--peer-python`` (default: this Python); the CVAT XML cases are
``benchmarks/bench_cvatxml.py``'s (run as they are when the file exists); FiftyOne's CVAT
integration (``annotate`` / ``load_annotations``, ``benchmarks/peer_fiftyone.py``) when
``--fiftyone-python`` names a Python where it imports and its database starts. docs/benchmarks.md
holds the figures, the machine and how to read them.

Cases:
  startup   python -c pass; annosync --help; annosync plan of a 1-sample run (no server)
  upload    first sync of 500 images x 20 boxes (plan + create + media + labels); peers:
            cvat-sdk create_from_data of the same 500 images; FiftyOne's annotate()
  noop      annosync sync of a 500 x 20 run (jobs of 50 images), nothing changed (CLI,
            start-up included); peer: FiftyOne's load_annotations() of such a run
  pull_job  an annotator moves 10 boxes in one job of that run; annosync pull; peer:
            FiftyOne's load_annotations() after the same edit in its own run
  pull_jobs a run of 1,000 jobs; 10 of them change; annosync pull (jobs downloaded)
  plan      no-op plan of N samples x 10 boxes (cold, then warm), plan after 10 files changed,
            pull after 10 jobs changed and push of 10 edited files, with peak RSS, at N/10 and N
  merge     the pure three-way merge of N x 10 labels
  xml       benchmarks/bench_cvatxml.py (CVAT XML import/export beside datumaro and lxml), as
            it is (``--xml-args`` passes arguments)
  webhook   benchmarks/bench_webhook.py (an annotator's save to the label file with
            ``watch --webhook``), as it is (``--webhook-args``)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from data import edit_files, make_dataset, write_manifest  # noqa: E402

#: What the ``annosync`` console script runs (``[project.scripts]``: ``annosync.cli.entry:run``).
CLI = "import sys; from annosync.cli.entry import run; sys.argv[0] = 'annosync'; run()"
CASES = ("startup", "upload", "noop", "pull_job", "pull_jobs", "plan", "merge", "xml",
         "webhook")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.workdir or tempfile.mkdtemp(prefix="annosync-bench-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ)
        # Bytecode as a user has it (pip compiles it at install; an editable install writes it
        # on first run): kept under the work folder, so no checkout is written to and every
        # code under comparison is treated alike. Without this, PYTHONDONTWRITEBYTECODE (set in
        # some shells and CI) makes every CLI run compile annosync from source, and a checkout
        # with __pycache__ left by earlier runs looks faster than one without.
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env["PYTHONPYCACHEPREFIX"] = str(self.work / "pycache")
        self.python = args.python
        self.rows: list[tuple[str, str, str, str, str]] = []
        self.results: dict[str, Any] = {}
        self.emu: subprocess.Popen[str] | None = None
        self.url = ""
        self.user, self.password = "admin", "admin-password-1"
        self._fiftyone: str | None = None
        self._fo_run: tuple[str, list[list[int]]] | None = None

    # -- the server ------------------------------------------------------------------------------
    def start_emulator(self) -> None:
        if self.args.server:  # a server started by hand: its runs outlive this benchmark
            self.url = self.args.server.rstrip("/")
            self.env.update({"ANNOSYNC_CVAT_URL": self.url, "ANNOSYNC_CVAT_USERNAME": self.user,
                             "ANNOSYNC_CVAT_PASSWORD": self.password})
            return
        # the emulator always runs from this checkout (it stands for the server, not the code
        # under test)
        self.emu = subprocess.Popen([sys.executable, "-c", CLI, "emulator", "--port", "0"],
                                    stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert self.emu.stdout is not None
        line = self.emu.stdout.readline()
        self.url = line.rsplit(" ", 1)[-1].strip()
        self.env.update({"ANNOSYNC_CVAT_URL": self.url, "ANNOSYNC_CVAT_USERNAME": self.user,
                         "ANNOSYNC_CVAT_PASSWORD": self.password})

    def stop_emulator(self) -> None:
        if self.emu is not None:
            self.emu.terminate()
            self.emu.wait(10)

    def emu_cpu(self) -> float:
        """CPU seconds the emulator process has used (user + system)."""
        pid = self.emu.pid if self.emu is not None else self.args.server_pid
        if not pid:
            return 0.0
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    # -- running things --------------------------------------------------------------------------
    def child(self, case: str, python: str | None = None, **kw: Any) -> dict[str, Any]:
        """Run one case of cases.py in a fresh process; adds wall time and emulator CPU."""
        return self._case("cases.py", case, python or self.python, self.env, kw)

    def fo_child(self, case: str, **kw: Any) -> dict[str, Any]:
        """Run one case of peer_fiftyone.py in the FiftyOne Python, with a database of its own
        in the work folder (FiftyOne starts mongod for the process and stops it after)."""
        env = dict(self.env, FIFTYONE_DATABASE_DIR=str(self.work / "fiftyone-db"),
                   FIFTYONE_DO_NOT_TRACK="true")
        return self._case("peer_fiftyone.py", case, self.args.fiftyone_python, env, kw)

    def _case(self, script: str, case: str, python: str, env: dict[str, str],
              kw: dict[str, Any]) -> dict[str, Any]:
        kw.setdefault("url", self.url)
        kw.setdefault("username", self.user)
        kw.setdefault("password", self.password)
        cpu0, t0 = self.emu_cpu(), time.perf_counter()
        proc = subprocess.run([python, str(HERE / script), case, json.dumps(kw)], env=env,
                              capture_output=True, text=True, cwd=self.work)
        wall = time.perf_counter() - t0
        if proc.returncode:
            raise RuntimeError(f"case {case} failed:\n{proc.stderr[-3000:]}")
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        out["wall_s"] = wall
        out["emu_cpu_s"] = self.emu_cpu() - cpu0
        return out

    def cli(self, *argv: str, check: tuple[int, ...] = (0, 2)) -> dict[str, float]:
        """Run the annosync CLI as a user would; wall time, peak RSS, emulator CPU."""
        cpu0, t0 = self.emu_cpu(), time.perf_counter()
        proc = subprocess.Popen([self.python, "-c", CLI, *argv], env=self.env, cwd=self.work,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        _, err = proc.communicate()
        code = os.waitstatus_to_exitcode(status)
        if code not in check:
            raise RuntimeError(f"annosync {' '.join(argv)} exited {code}:\n{err[-3000:]}")
        return {"wall_s": wall, "rss_mb": usage.ru_maxrss / 1024,
                "cpu_s": usage.ru_utime + usage.ru_stime, "emu_cpu_s": self.emu_cpu() - cpu0}

    def repeat(self, fn: Any, n: int | None = None) -> list[dict[str, Any]]:
        return [fn(i) for i in range(n or self.args.repeat)]

    def row(self, case: str, what: str, ours: str, peer: str = "", target: str = "") -> None:
        self.rows.append((case, what, ours, peer, target))
        print(f"  {case:<10} {what:<46} {ours:>24}  {peer:>22}  {target}", flush=True)

    # -- cases -----------------------------------------------------------------------------------
    def startup(self) -> None:
        tiny = self.work / "tiny"
        make_dataset(tiny, 1, 1)
        manifest = write_manifest(self.work / "tiny.yaml", "tiny", tiny)
        env = {k: v for k, v in self.env.items() if not k.startswith("ANNOSYNC_CVAT")}
        saved, self.env = self.env, env
        try:
            self.cli("plan", str(manifest), "-q")  # warm-up: bytecode written once
            n = max(5, self.args.repeat)
            bare = self.repeat(lambda _: self._wall([self.python, "-c", "pass"]), n)
            helps = self.repeat(lambda _: self.cli("--help"), n)
            plans = self.repeat(lambda _: self.cli("plan", str(manifest), "-q"), n)
        finally:
            self.env = saved
        self.results["startup"] = {"python": bare, "help": helps, "plan": plans}
        self.row("startup", "python -c pass", f"{_med(bare, 'wall_s'):.3f} s")
        self.row("startup", "annosync --help (wall / CPU)",
                 f"{_med(helps, 'wall_s'):.3f} / {_med(helps, 'cpu_s'):.3f} s", "", "< 0.15 s")
        self.row("startup", "annosync plan, 1-sample run, no server",
                 f"{_med(plans, 'wall_s'):.3f} / {_med(plans, 'cpu_s'):.3f} s", "", "< 0.3 s")

    def _wall(self, argv: list[str]) -> dict[str, float]:
        t0 = time.perf_counter()
        subprocess.run(argv, env=self.env, check=True, capture_output=True, cwd=self.work)
        return {"wall_s": time.perf_counter() - t0}

    def upload(self) -> None:
        ds = make_dataset(self.work / "up500", 500, 20)
        runs: list[dict[str, Any]] = []
        fo: list[dict[str, Any]] = []
        for i in range(self.args.repeat):  # FiftyOne's annotate() interleaved: same load
            manifest = write_manifest(self.work / f"up{i}.yaml", f"up{i}_{time.time_ns()}", ds)
            runs.append(self.child("sync", manifest=str(manifest)))
            if self._has_fiftyone():
                fo.append(self.fo_child("annotate", dataset=str(ds),
                                        name=f"fo_up{i}_{time.time_ns()}"))
        self.results["upload"] = runs
        peer = ""
        sdk: list[dict[str, Any]] = []
        sdk_labels: list[dict[str, Any]] = []
        if self._has_sdk():
            sdk = self.repeat(lambda _: self.child("sdk_create", python=self.args.peer_python,
                                                   media=str(ds / "media")))
            self.results["sdk_create"] = sdk
            peer = (f"cvat-sdk {_med(sdk, 'total_s'):.2f} s "
                    f"(emu {_med(sdk, 'emu_cpu_s'):.2f})")
            sdk_labels = self.repeat(lambda _: self.child(
                "sdk_create", python=self.args.peer_python, media=str(ds / "media"),
                labels=str(ds / "labels")))
            self.results["sdk_create_labels"] = sdk_labels
        self.row("upload", "first sync, 500 images x 20 boxes (in-process)",
                 f"{_med(runs, 'total_s'):.2f} s (emu {_med(runs, 'emu_cpu_s'):.2f})", peer,
                 "<= 2x cvat-sdk")
        self.row("upload", "  CPU seconds of the client process",
                 f"{_med(runs, 'cpu_s'):.2f} s",
                 f"cvat-sdk {_med(sdk, 'cpu_s'):.2f} s" if sdk else "", "")
        media = [r for r in runs if r.get("media_s") is not None]
        if media:  # create task .. data/meta: what create_from_data does (same requests)
            self.row("upload", "  its media part (create task .. data/meta)",
                     f"{_med(media, 'media_s'):.2f} s",
                     f"cvat-sdk {_med(sdk, 'total_s'):.2f} s" if sdk else "", "")
        if sdk:
            self.row("upload", "  peer: cvat-sdk media + set_annotations (10k boxes)", "",
                     f"{_med(sdk_labels, 'total_s'):.2f} s (emu "
                     f"{_med(sdk_labels, 'emu_cpu_s'):.2f})", "")
        self.row("upload", "  requests / status polls / read-backs",
                 f"{_med(runs, 'requests'):.0f} / {_med(runs, 'polls'):.0f} / "
                 f"{_med(runs, 'annotation_reads'):.0f}", "", "")
        if fo:
            self.results["fiftyone_annotate"] = fo
            self._fo_rows("upload", "annotate() of the same 500 x 20", runs, fo,
                          ">= 1.5x faster")

    def _has_fiftyone(self) -> bool:
        if not self.args.fiftyone_python:
            return False
        if self._fiftyone is None:
            probe = subprocess.run([self.args.fiftyone_python, "-c", _FO_VERSIONS],
                                   capture_output=True, text=True)
            self._fiftyone = probe.stdout.strip() if probe.returncode == 0 else ""
            print(f"  FiftyOne peer: {self._fiftyone or 'fiftyone does not import in '}"
                  f"{'' if self._fiftyone else self.args.fiftyone_python}", flush=True)
            self.results["fiftyone_versions"] = self._fiftyone
        return bool(self._fiftyone)

    def _fo_rows(self, case: str, what: str, ours: list[dict[str, Any]],
                 fo: list[dict[str, Any]], target: str) -> None:
        """FiftyOne beside annosync's in-process figures (both after imports; FiftyOne's
        database start and dataset load are outside its timer)."""
        ratio = _med(fo, "total_s") / max(_med(ours, "total_s"), 1e-9)
        self.row(case, f"  peer: FiftyOne {what}", f"{_med(ours, 'total_s'):.2f} s",
                 f"FiftyOne {_med(fo, 'total_s'):.2f} s (emu {_med(fo, 'emu_cpu_s'):.2f})",
                 f"{target} (now {ratio:.2f}x)")
        self.row(case, "    client CPU s (FiftyOne: + mongod CPU)", f"{_med(ours, 'cpu_s'):.2f} s",
                 f"{_med(fo, 'cpu_s'):.2f} s + {_med(fo, 'db_cpu_s'):.2f} s", "")
        self.row(case, "    requests / annotation downloads",
                 f"{_med(ours, 'requests'):.0f} / {_med(ours, 'annotation_reads'):.0f}",
                 f"{_med(fo, 'requests'):.0f} / {_med(fo, 'annotation_reads'):.0f}", "")

    def _fo_run_500(self) -> tuple[str, list[list[int]]]:
        """FiftyOne's own run of the same 500 x 20 in jobs of 50 (made once per benchmark)."""
        if self._fo_run is None:
            ds = make_dataset(self.work / "up500", 500, 20)
            name = f"fo_run500_{time.time_ns()}"
            self.results["fiftyone_setup"] = self.fo_child("annotate", dataset=str(ds),
                                                           name=name, segment_size=50)
            self._fo_run = (name, self.fo_child("jobs", name=name)["jobs"])
        return self._fo_run

    def _has_sdk(self) -> bool:
        py = self.args.peer_python
        return subprocess.run([py, "-c", "import cvat_sdk"], capture_output=True).returncode == 0

    def _run_500(self) -> tuple[Path, Path]:
        """A 500 x 20 run on the server (made once per benchmark)."""
        ds = make_dataset(self.work / "up500", 500, 20)
        manifest = self.work / "run500.yaml"
        if not manifest.exists():
            write_manifest(manifest, f"run500_{time.time_ns()}", ds, segment_size=50)
            self.child("sync", manifest=str(manifest))
        return ds, manifest

    def noop(self) -> None:
        _, manifest = self._run_500()
        fo_name = self._fo_run_500()[0] if self._has_fiftyone() else ""
        inproc, cli, fo = [], [], []
        for _ in range(self.args.repeat):  # interleaved, so that each sees the same load
            inproc.append(self.child("sync", manifest=str(manifest)))
            cli.append(self.cli("sync", str(manifest), "-q"))
            if fo_name:
                fo.append(self.fo_child("load", name=fo_name))
        self.results["noop"] = {"inproc": inproc, "cli": cli}
        self.row("noop", "annosync sync, 500-image run, no change (wall/CPU)",
                 f"{_med(cli, 'wall_s'):.2f} / {_med(cli, 'cpu_s'):.2f} s", "", "< 0.5 s")
        self.row("noop", "  in-process / requests / annotation reads",
                 f"{_med(inproc, 'total_s'):.2f} s / {_med(inproc, 'requests'):.0f} / "
                 f"{_med(inproc, 'annotation_reads'):.0f}", "", "1 listing per task, 0")
        if fo:
            self.results["fiftyone_load_noop"] = fo
            self._fo_rows("noop", "load_annotations(), nothing changed", inproc, fo, "")

    def pull_job(self) -> None:
        ds, manifest = self._run_500()
        anno_key = _anno_key(manifest)
        jobs = self.child("jobs", record=str(ds / ".annosync/runs" / f"{anno_key}.json"))["jobs"]
        job = jobs[0][len(jobs[0]) // 2]
        fo_name, fo_job = "", 0
        if self._has_fiftyone():
            fo_name, fo_jobs = self._fo_run_500()
            fo_job = fo_jobs[0][len(fo_jobs[0]) // 2]
        inproc, cli, fo = [], [], []
        for i in range(self.args.repeat):
            self.child("edit_boxes", job_ids=[job], boxes=10, step=1 + i)
            inproc.append(self.child("sync", manifest=str(manifest), mode="pull"))
            self.child("edit_boxes", job_ids=[job], boxes=10, step=-(1 + i))
            cli.append(self.cli("pull", str(manifest), "-q"))
            for step in (1 + i, -(1 + i)) if fo_name else ():  # the same edits, FiftyOne's run
                self.child("edit_boxes", job_ids=[fo_job], boxes=10, step=step)
                fo.append(self.fo_child("load", name=fo_name))
        self.results["pull_job"] = {"inproc": inproc, "cli": cli}
        self.row("pull_job", "pull after 10 boxes moved in one job (CLI, wall/CPU)",
                 f"{_med(cli, 'wall_s'):.2f} / {_med(cli, 'cpu_s'):.2f} s", "", "< 1 s")
        self.row("pull_job", "  in-process / jobs downloaded / label changes",
                 f"{_med(inproc, 'total_s'):.2f} s / {_med(inproc, 'annotation_reads'):.0f} "
                 f"/ {_med(inproc, 'pull'):.0f}", "", "1 job")
        if fo:
            self.results["fiftyone_load_job"] = fo
            self._fo_rows("pull_job", "load_annotations() after 10 boxes moved", inproc, fo,
                          "")
            self.row("pull_job", "    labels moved by the load", f"{_med(inproc, 'pull'):.0f}",
                     f"{_med(fo, 'moved'):.0f}", "10")

    def pull_jobs(self) -> None:
        ds = make_dataset(self.work / "jobs2000", 2000, 2)
        manifest = self.work / "jobs2000.yaml"
        if not manifest.exists():
            write_manifest(manifest, f"jobs_{time.time_ns()}", ds, task_size=200,
                           segment_size=2)
            self.child("sync", manifest=str(manifest))
        anno_key = _anno_key(manifest)
        jobs = self.child("jobs", record=str(ds / ".annosync/runs" / f"{anno_key}.json"))["jobs"]
        flat = [j for t in jobs for j in t]
        pick = flat[:: max(1, len(flat) // 10)][:10]
        runs = []
        for i in range(self.args.repeat):
            self.child("edit_boxes", job_ids=pick, boxes=1, step=1 + i)
            runs.append(self.child("sync", manifest=str(manifest), mode="pull"))
        self.results["pull_jobs"] = runs
        self.row("pull_jobs", f"pull after 10 of {len(flat)} jobs changed",
                 f"{_med(runs, 'total_s'):.2f} s", "", "")
        self.row("pull_jobs", "  jobs downloaded / requests",
                 f"{_med(runs, 'annotation_reads'):.0f} / {_med(runs, 'requests'):.0f}", "",
                 "10")

    def plan(self) -> None:
        sizes = sorted({max(100, self.args.samples // 10), self.args.samples})
        self.results["plan"] = {}
        for n in sizes:
            self._plan_at(n)

    def _plan_at(self, n: int) -> None:
        ds = make_dataset(self.work / f"plan{n}", n, 10, width=64, height=48)
        manifest = self.work / f"plan{n}.yaml"
        if not manifest.exists():
            write_manifest(manifest, f"plan{n}_{time.time_ns()}", ds, task_size=1000)
            t0 = time.perf_counter()
            made = self.child("sync", manifest=str(manifest))
            print(f"  (set-up: run of {n} samples made in {time.perf_counter() - t0:.0f} s)",
                  flush=True)
            self.results.setdefault("setup", {})[n] = made
        label = f"{n // 1000}k" if n >= 1000 else str(n)
        cold = self.cli("plan", str(manifest), "-q")
        warm = self.repeat(lambda _: self.cli("plan", str(manifest), "-q"))
        inproc = self.child("sync", manifest=str(manifest), apply=False)
        keys = [f"{i:06d}" for i in range(0, n, max(1, n // 10))][:10]
        edit_files(ds, keys, 1)
        changed = self.child("sync", manifest=str(manifest), apply=False)
        changed_cli = self.cli("plan", str(manifest), "-q")
        push = self.child("sync", manifest=str(manifest), mode="push")
        anno_key = _anno_key(manifest)
        jobs = self.child("jobs", record=str(ds / ".annosync/runs" / f"{anno_key}.json"))["jobs"]
        flat = [j for t in jobs for j in t]
        self.child("edit_boxes", job_ids=flat[:: max(1, len(flat) // 10)][:10], boxes=1)
        pull = self.child("sync", manifest=str(manifest), mode="pull")
        self.results["plan"][n] = {"cold": cold, "warm": warm, "inproc": inproc,
                                   "changed": changed, "changed_cli": changed_cli,
                                   "push": push, "pull": pull}
        self.row("plan", f"no-op plan, {label} samples x 10 (CLI, cold)",
                 f"{cold['wall_s']:.2f} s", "", "")
        self.row("plan", f"no-op plan, {label} samples x 10 (CLI, warm)",
                 f"{_med(warm, 'wall_s'):.2f} s ({_med(warm, 'cpu_s'):.2f} CPU s), "
                 f"{_med(warm, 'rss_mb'):.0f} MB", "", "< 1 s")
        self.row("plan", "  in-process plan / label files read",
                 f"{inproc['plan_s']:.2f} s / {inproc['files_read']}", "", "0 read")
        self.row("plan", "plan after 10 files changed (CLI)",
                 f"{changed_cli['wall_s']:.2f} s ({changed_cli['cpu_s']:.2f} CPU s), "
                 f"{changed_cli['rss_mb']:.0f} MB", "", "")
        self.row("plan", "  label files read / push changes",
                 f"{changed['files_read']} / {changed['push']}", "", "10")
        self.row("plan", "push of those 10 files (in-process)",
                 f"{push['total_s']:.2f} s, {push['rss_mb']:.0f} MB", "", "flat RSS")
        self.row("plan", "pull after 10 jobs changed (in-process)",
                 f"{pull['total_s']:.2f} s, {pull['rss_mb']:.0f} MB", "", "flat RSS")

    def merge(self) -> None:
        n = self.args.samples
        runs = self.repeat(lambda _: self.child("merge", samples=n, boxes=10))
        self.results["merge"] = runs
        self.row("merge", f"three-way merge of {n * 10:,} labels (pure)",
                 f"{_med(runs, 'merge_s'):.2f} s (cpu {_med(runs, 'merge_cpu_s'):.2f} s)", "",
                 "< 5 s")
        self.row("merge", "the same as a pull runs it (memo vouches for unedited files)",
                 f"{_med(runs, 'merge_pull_s'):.2f} s (cpu {_med(runs, 'merge_pull_cpu_s'):.2f} s)",
                 "", "< 5 s")

    def xml(self) -> None:
        self._script("xml", "bench_cvatxml.py", self.args.xml_args)

    def webhook(self) -> None:
        self._script("webhook", "bench_webhook.py", self.args.webhook_args)

    def _script(self, case: str, name: str, extra: str) -> None:
        """Another benchmark of this folder, run as it is with the code under test."""
        script = HERE / name
        if not script.exists():
            self.row(case, f"benchmarks/{name} not present", "-")
            return
        argv = [self.python, str(script), *extra.split()]
        print(f"  running {name} {extra}".rstrip(), flush=True)
        proc = subprocess.run(argv, env=self.env, capture_output=True, text=True, cwd=self.work)
        print(proc.stdout, proc.stderr[-2000:] if proc.returncode else "", flush=True)
        self.results[case] = {"stdout": proc.stdout, "code": proc.returncode}


_FO_VERSIONS = ("from importlib.metadata import version as v; import fiftyone; "
                "print('fiftyone', v('fiftyone'), 'fiftyone-db', v('fiftyone-db'))")


def _anno_key(manifest: Path) -> str:
    for line in manifest.read_text().splitlines():
        if line.startswith("anno_key:"):
            return line.split(":", 1)[1].strip()
    raise ValueError(manifest)


def _med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB; {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--quick", action="store_true",
                    help="small sizes (10k-sample plan), 2 repetitions")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated cases")
    ap.add_argument("--repeat", type=int, default=None, help="repetitions (default 3)")
    ap.add_argument("--samples", type=int, default=None,
                    help="plan/merge size in samples of 10 boxes (default 100000)")
    ap.add_argument("--python", default=sys.executable,
                    help="the Python whose annosync is measured (default: this one)")
    ap.add_argument("--peer-python", default=sys.executable,
                    help="Python with cvat-sdk installed (default: this one)")
    ap.add_argument("--fiftyone-python", default="",
                    help="Python where fiftyone imports and its database starts: FiftyOne's "
                         "annotate/load_annotations beside upload, noop and pull_job")
    ap.add_argument("--xml-args", default="", help="arguments for bench_cvatxml.py")
    ap.add_argument("--webhook-args", default="", help="arguments for bench_webhook.py")
    ap.add_argument("--workdir", help="keep data here (reused by later runs)")
    ap.add_argument("--server", default="",
                    help="use this running emulator (`annosync emulator --port N`) instead of "
                         "starting one: with --workdir, runs made once (the 100k-sample run of "
                         "`--cases plan`, ~25 min) are reused by later benchmarks, e.g. of "
                         "other code (--python)")
    ap.add_argument("--server-pid", type=int, default=0,
                    help="that server's process id (to report its CPU time)")
    ap.add_argument("--json", dest="json_out", help="write all results to this file")
    args = ap.parse_args()
    args.repeat = args.repeat or (2 if args.quick else 3)
    args.samples = args.samples or (10_000 if args.quick else 100_000)
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        ap.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    bench = Bench(args)
    src = subprocess.run([args.python, "-c", "import annosync, os; "
                          "print(os.path.dirname(os.path.dirname(annosync.__file__)))"],
                         capture_output=True, text=True, cwd=bench.work).stdout.strip()
    commit = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    print(f"machine: {machine()}")
    print(f"code: {src} ({commit}); data: {bench.work}; repeat {args.repeat} (medians)")
    print(f"  {'case':<10} {'what':<46} {'annosync':>24}  {'peer':>22}  target")
    try:
        bench.start_emulator()
        for case in cases:
            getattr(bench, case)()
    finally:
        bench.stop_emulator()
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(
                {"machine": machine(), "commit": commit, "results": bench.results},
                indent=1, default=str))
        if not args.workdir:
            shutil.rmtree(bench.work, ignore_errors=True)


if __name__ == "__main__":
    main()
