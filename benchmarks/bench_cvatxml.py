"""CVAT XML at scale: annosync's import-xml / export-xml beside datumaro and a bare lxml parse.

One command, not part of the test run; it makes its own data (a CVAT 1.1 task file of
``--shapes`` boxes, ``--per-image`` per image, with two attributes each: 1,000,000 boxes on
20,000 images by default, ~225 MB) and runs every case ``--runs`` times, each in a fresh
process, then prints medians side by side:

    python benchmarks/bench_cvatxml.py                         # 1M boxes, 3 runs each
    python benchmarks/bench_cvatxml.py --shapes 100000 --runs 5
    python benchmarks/bench_cvatxml.py --datumaro-python /path/to/venv/bin/python
    python benchmarks/bench_cvatxml.py --cases export,dm_export --export-jobs 1 \
        --dataset DS --before-pythonpath /checkout/of/older/annosync   # the export side

Cases (shapes/s are the file's shapes over the wall time; peak = the process's max RSS):

* ``lxml floor``: ``lxml.etree.iterparse`` of the file into one tuple per shape, elements
  cleared as it goes: the least any Python reader of this file can do.
* ``XmlReader.items()``: annosync's streaming parse into model objects (format layer).
* ``XmlWriter``: writing those objects back out (format layer; objects made beforehand in
  chunks of 1,000 images, not timed).
* ``annosync import-xml``: the command, whole process, into a new dataset folder (one label
  file per image, written atomically); by default a big file is read by two or more processes
  (its ``--jobs``: the CPU time of all counts, peak RSS is the largest single process's);
  ``--import-jobs 1,2`` adds the command with those ``--jobs``; ``--before-pythonpath DIR``
  adds it run from another checkout, as for export-xml.
* ``annosync export-xml``: the command, whole process, from that folder back to XML (its
  default ``--jobs``: worker processes, whose CPU time counts with the command's; peak RSS
  is the largest single process's); ``--export-jobs 1,2`` adds the command with those
  ``--jobs``; ``--before-pythonpath DIR`` adds it run from another checkout of annosync
  (``PYTHONPATH=DIR``) in the same rounds; ``--dataset DS`` exports an existing dataset.
* ``datumaro import`` / ``datumaro export``: ``Dataset.import_from(path, "cvat")`` with every
  item's annotations touched, and ``Dataset.export(dir, "cvat")`` of it (the export process
  imports first; only the export is timed inside it). Datumaro (PyPI ``datumaro``) must be
  importable by ``--datumaro-python`` (default: this Python); it insists that every image
  exists, so empty placeholder files are made in ``images/`` beside the XML for it. Skipped
  with a note when it is not installed (it pins old numpy: a separate venv is the easy way).

Figures are whole-process wall seconds (start-up included) except where ``in-process`` says.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LABELS = ("car", "person", "bike", "truck")


# -- data --------------------------------------------------------------------------------------
def _images(n_shapes: int, per: int):  # type: ignore[no-untyped-def]
    from annosync.cvatxml.model import Attr, Image, Shape

    rng = random.Random(11)
    for i in range(n_shapes // per):
        w, h = (1920, 1080) if i % 3 else (1280, 720)
        shapes = []
        for j in range(per):
            x, y = round(rng.uniform(0, w - 100), 2), round(rng.uniform(0, h - 100), 2)
            shapes.append(Shape(
                "box", label=LABELS[j % 4], source="manual", occluded=bool(j & 1),
                points=[x, y, round(x + rng.uniform(1, 99), 2), round(y + rng.uniform(1, 99), 2)],
                z_order=0, attributes=[Attr("color", ("red", "blue")[j % 2]),
                                       Attr("parked", ("false", "true")[j % 2])]))
        yield Image(id=i, name=f"img_{i:06d}.jpg", width=w, height=h, shapes=shapes)


def _meta(n_images: int):  # type: ignore[no-untyped-def]
    from annosync.cvatxml.meta import AttributeSpec, LabelMeta, Meta, TaskMeta

    labels = [LabelMeta(name=n, color="#ff0000", type="rectangle", attributes=[
        AttributeSpec(name="color", mutable="False", input_type="select", default_value="red",
                      values="red\nblue"),
        AttributeSpec(name="parked", mutable="False", input_type="checkbox",
                      default_value="false", values="false\ntrue")]) for n in LABELS]
    return Meta(kind="task", task=TaskMeta(id="1", name="bench", size=str(n_images),
                                           mode="annotation", labels=labels))


def generate(path: Path, n_shapes: int, per: int) -> None:
    from annosync.cvatxml import XmlWriter

    with XmlWriter(path, meta=_meta(n_shapes // per), numbers="cvat") as writer:
        for image in _images(n_shapes, per):
            writer.write_image(image)


# -- in-process phases (run in a child: ``--phase NAME``) ------------------------------------
def phase_lxml(path: Path) -> dict[str, Any]:
    from lxml import etree

    start, cpu = time.perf_counter(), time.process_time()
    out = []
    for _, el in etree.iterparse(str(path), events=("end",), tag=("box", "image")):
        if el.tag == "box":
            a = el.attrib
            out.append((a["label"], float(a["xtl"]), float(a["ytl"]), float(a["xbr"]),
                        float(a["ybr"]), [(c.get("name"), c.text) for c in el]))
        else:
            el.clear(keep_tail=True)
            while el.getprevious() is not None:
                del el.getparent()[0]
            out.clear()
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}


def phase_parse(path: Path) -> dict[str, Any]:
    from annosync.cvatxml import XmlReader

    start, cpu = time.perf_counter(), time.process_time()
    shapes = 0
    with XmlReader(path) as reader:
        for item in reader.items():
            shapes += len(item.shapes)
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
            "shapes": shapes}


def phase_write(path: Path, n_shapes: int, per: int) -> dict[str, Any]:
    from itertools import islice

    from annosync.cvatxml import XmlWriter

    out = path.with_name("written.xml")
    made = _images(n_shapes, per)
    spent = spent_cpu = 0.0
    with XmlWriter(out, meta=_meta(n_shapes // per), numbers="cvat") as writer:
        while chunk := list(islice(made, 1000)):
            start, cpu = time.perf_counter(), time.process_time()
            for image in chunk:
                writer.write_image(image)
            spent += time.perf_counter() - start
            spent_cpu += time.process_time() - cpu
    same = out.read_bytes() == path.read_bytes()
    out.unlink()
    return {"seconds": spent, "cpu": spent_cpu, "same_bytes": same}


def phase_dm_import(path: Path) -> dict[str, Any]:
    import datumaro as dm  # type: ignore[import-not-found]

    start, cpu = time.perf_counter(), time.process_time()
    ds = dm.Dataset.import_from(str(path), "cvat")
    shapes = sum(len(item.annotations) for item in ds)
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
            "shapes": shapes,
            "version": dm.__version__}


def phase_dm_export(path: Path) -> dict[str, Any]:
    import datumaro as dm

    ds = dm.Dataset.import_from(str(path), "cvat")
    sum(len(item.annotations) for item in ds)
    out = path.parent / "dm_export"
    shutil.rmtree(out, ignore_errors=True)
    start, cpu = time.perf_counter(), time.process_time()
    ds.export(str(out), "cvat", save_media=False)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds, "cpu": cpu}


#: this script, absolute (its children run from the data folder)
HERE = str(Path(__file__).resolve())

# -- measuring ---------------------------------------------------------------------------------
def measured(cmd: list[str], env: dict[str, str] | None = None,
             cmd_cwd: Path | None = None) -> dict[str, Any]:
    """One child process's wall/CPU seconds and peak RSS (``--wrap``), with what it printed.
    CPU seconds include the children it waited for (``export-xml``'s workers)."""
    # run from the data folder: ``python -c`` puts the working directory first on sys.path, so
    # from a checkout "(before)" would import the checkout's annosync, not PYTHONPATH's
    out = subprocess.run([sys.executable, HERE, "--wrap", "--", *cmd], capture_output=True,
                         text=True, env=None if env is None else {**os.environ, **env},
                         cwd=cmd_cwd)
    if out.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def wrap(cmd: list[str]) -> None:
    """Run ``cmd``; print its wall/CPU/peak RSS and its own last JSON line, as one JSON."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read() if proc.stdout else b""  # type: ignore[union-attr]
    err = proc.stderr.read() if proc.stderr else b""  # type: ignore[union-attr]
    del pid
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write(err.decode(errors="replace")[-3000:])
        raise SystemExit(code)
    result: dict[str, Any] = {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                              "peak_mb": usage.ru_maxrss / 1024}
    lines = out.decode(errors="replace").strip().splitlines()
    if lines and lines[-1].startswith("{"):
        result["inner"] = json.loads(lines[-1])
    print(json.dumps(result))


def _digest(ds: Path) -> str:
    """A digest of the label files and records an import made, fresh label ids masked (they
    are random): equal digests, the same files byte for byte but for those ids."""
    import hashlib
    import re

    fresh = re.compile(rb'"_id": "[0-9a-f]{24}"')
    h = hashlib.sha256()
    for sub in ("labels", ".annosync/cvat"):
        for p in sorted((ds / sub).rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(ds)).encode() + b"\0")
                h.update(fresh.sub(b'"_id": ID', p.read_bytes()) + b"\0")
    return h.hexdigest()


def median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=1_000_000)
    parser.add_argument("--per-image", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--datumaro-python", default=None,
                        help="a Python that can import datumaro (default: this one, if it can)")
    parser.add_argument("--workdir", default=None, help="where to put the data (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    parser.add_argument("--cases", default=None,
                        help="comma-separated subset of: lxml,parse,write,import,export,"
                             "dm_import,dm_export (default: all)")
    parser.add_argument("--dataset", default=None,
                        help="the dataset export-xml reads (default: the one import-xml makes)")
    parser.add_argument("--export-jobs", default="",
                        help="also run export-xml with these --jobs (e.g. 1,2)")
    parser.add_argument("--import-jobs", default="",
                        help="also run import-xml with these --jobs (e.g. 1,2)")
    parser.add_argument("--before-pythonpath", default=None,
                        help="also run import-xml and export-xml from this annosync checkout "
                             "(PYTHONPATH)")
    parser.add_argument("--phase", choices=["lxml", "parse", "write", "dm_import", "dm_export"])
    parser.add_argument("--path")
    parser.add_argument("--wrap", action="store_true")
    parser.add_argument("cmd", nargs="*")
    args = parser.parse_args()
    if args.wrap:
        wrap(args.cmd)
        return
    if args.phase:
        path = Path(args.path)
        fns = {"lxml": lambda: phase_lxml(path), "parse": lambda: phase_parse(path),
               "write": lambda: phase_write(path, args.shapes, args.per_image),
               "dm_import": lambda: phase_dm_import(path),
               "dm_export": lambda: phase_dm_export(path)}
        print(json.dumps(fns[args.phase]()))
        return

    n, per = args.shapes, args.per_image
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_cvatxml_")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    xml = work / f"boxes_{n}.xml"
    if not xml.exists():
        print(f"generating {xml} ...", file=sys.stderr)
        generate(xml, n, per)
    dm_python = args.datumaro_python or sys.executable
    has_dm = subprocess.run([dm_python, "-c", "import datumaro"], capture_output=True
                            ).returncode == 0
    if has_dm:
        images = work / "images"
        if not images.is_dir() or len(os.listdir(images)) < n // per:
            images.mkdir(exist_ok=True)
            for i in range(n // per):
                (images / f"img_{i:06d}.jpg").touch()
    cli = [sys.executable, "-c", "import sys; from annosync.cli.main import main; "
           "sys.argv[0] = 'annosync'; sys.exit(main())"]
    me = [sys.executable, HERE, "--shapes", str(n), "--per-image", str(per), "--path",
          str(xml), "--phase"]
    ds = Path(args.dataset) if args.dataset else work / "ds"
    export = [*cli, "export-xml", str(work / "out.xml"), "--dataset", str(ds)]
    imp = [*cli, "import-xml", str(xml), "--dataset", str(ds)]
    cases: list[tuple[str, list[str], str | None]] = [
        ("lxml floor (in-process)", [*me, "lxml"], "inner"),
        ("XmlReader.items() (in-process)", [*me, "parse"], "inner"),
        ("XmlWriter (in-process)", [*me, "write"], "inner"),
        ("annosync import-xml", imp, None),
    ]
    cases += [(f"annosync import-xml --jobs {j}", [*imp, "--jobs", j], None)
              for j in args.import_jobs.split(",") if j]
    if args.before_pythonpath:
        cases.append(("annosync import-xml (before)", imp, None))
    cases.append(("annosync export-xml", export, None))
    cases += [(f"annosync export-xml --jobs {j}", [*export, "--jobs", j], None)
              for j in args.export_jobs.split(",") if j]
    if args.before_pythonpath:
        cases.append(("annosync export-xml (before)", export, None))
    if has_dm:
        dm_me = [dm_python, HERE, "--path", str(xml), "--phase"]
        cases += [("datumaro import", [*dm_me, "dm_import"], "inner"),
                  ("datumaro export", [*dm_me, "dm_export"], "inner")]
    if args.cases:
        wanted = set(args.cases.split(","))
        short = {"lxml floor": "lxml", "XmlReader.items()": "parse", "XmlWriter": "write",
                 "annosync import-xml": "import", "annosync export-xml": "export",
                 "datumaro import": "dm_import", "datumaro export": "dm_export"}
        cases = [c for c in cases
                 if next(v for k, v in short.items() if c[0].startswith(k)) in wanted]
    results: dict[str, list[dict[str, Any]]] = {}
    trash = work / "trash"
    out_xml = work / "out.xml"
    same: bool | None = None
    same_import: bool | None = None
    imported: str | None = None
    for r in range(args.runs):  # interleaved, so a slow spell of the machine hits every case
        for name, cmd, _ in cases:
            if name.startswith("annosync import") and ds.exists():
                # moved aside, deleted at the end: ext4 skips the inodes of files deleted in
                # the last minutes when it makes new ones (``recently_deleted``, a buffer
                # lookup each), so deleting 20,000 files just before an import made its file
                # creations several times dearer (perf: 150-250 us instead of ~10 us each)
                trash.mkdir(exist_ok=True)
                ds.rename(trash / str(len(os.listdir(trash))))
            print(f"run {r + 1}/{args.runs}: {name}", file=sys.stderr)
            env = {"PYTHONPATH": args.before_pythonpath} if name.endswith("(before)") else None
            got = measured(cmd, env, work)
            results.setdefault(name, []).append(got)
            print(f"  {name}: wall {got['wall']:.2f} s, cpu {got['cpu']:.2f} s, peak "
                  f"{got['peak_mb']:.0f} MB", file=sys.stderr)  # each run: min/median
            if name.startswith("annosync import"):  # every import makes the same files
                made = _digest(ds)
                imported = made if imported is None else imported
                same_import = same_import is not False and made == imported
            if "export-xml" in name:  # every export, before or after, gives the input back
                same = (same is not False) and out_xml.read_bytes() == xml.read_bytes()
    shutil.rmtree(trash, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"\nCVAT XML, {n:,} boxes on {n // per:,} images ({xml.stat().st_size / 1e6:.0f} MB), "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.1f}, "
          f"median of {args.runs} run(s)" + ("" if has_dm else "; datumaro not installed"))
    print(f"export-xml output identical to the input file (every run): {same}")
    print(f"import-xml label files and record identical, fresh ids masked (every run): "
          f"{same_import}")
    print("in-process: the phase's own time, start-up and set-up excluded; whole: the process")
    print("shapes/s over wall time, and over CPU time (the fairer one on a busy machine)")
    print(f"{'case':32} {'in-process s':>12} {'whole s':>8} {'shapes/s':>10} {'cpu s':>7} "
          f"{'shapes/cpu s':>12} {'peak MB':>8}")
    rates: dict[str, float] = {}
    whole: dict[str, float] = {}
    cpu_rates: dict[str, float] = {}
    for name, _cmd, inner in cases:
        rows = results[name]
        wall = median(rows, "wall")
        secs = statistics.median(r["inner"]["seconds"] for r in rows) if inner else wall
        cpu = statistics.median(r["inner"]["cpu"] for r in rows) if inner else \
            median(rows, "cpu")
        rates[name], whole[name], cpu_rates[name] = n / secs, n / wall, n / cpu
        shown = f"{secs:12.2f}" if inner else f"{'':>12}"
        print(f"{name:32} {shown} {wall:8.2f} {n / secs:10,.0f} {cpu:7.1f} {n / cpu:12,.0f} "
              f"{max(r['peak_mb'] for r in rows):8.1f}")
    print()
    pairs = (("XmlReader.items() / lxml floor", "XmlReader.items() (in-process)",
              "lxml floor (in-process)", ""),
             ("import-xml (whole) / datumaro import (in-process)", "annosync import-xml",
              "datumaro import", "x"),
             *((f"{name[len('annosync '):]} (whole) / datumaro export (in-process)", name,
                "datumaro export", "x") for name, _, _ in cases if "export-xml" in name))
    for label, table in (("wall", rates), ("cpu", cpu_rates)):
        parts = [f"{what} {table[a] / table[b]:.2f}{unit}" for what, a, b, unit in pairs
                 if a in table and b in table]
        if parts:
            print(f"by {label}: " + "; ".join(parts))
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
