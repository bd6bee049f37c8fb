"""Benchmark of the CVAT XML format layer: streamed write and parse of a 1M-shape file.

Each phase runs in its own process and reports its wall time and peak resident memory
(``ru_maxrss``, which includes lxml's C allocations that ``tracemalloc`` cannot see), next to
the same process's baseline right after imports. Two sizes are parsed to show that memory does
not grow with the file.

    python benchmarks/bench_cvatxml.py                  # 1,000,000 shapes (and 100,000)
    python benchmarks/bench_cvatxml.py --shapes 200000  # quicker

Shapes: images of 10 shapes each, a mix of boxes (with rotation and two attributes), polygons
of 6 points, polylines, points and masks, plus one tag per image; ``numbers="cvat"``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPES_PER_IMAGE = 10


def _rss_mb() -> float:
    # ru_maxrss is KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _images(n_shapes: int):  # type: ignore[no-untyped-def]
    from annosync.cvatxml.model import Attr, Image, Mask, Shape, Tag

    n_images = n_shapes // SHAPES_PER_IMAGE
    for i in range(n_images):
        shapes = []
        for j in range(SHAPES_PER_IMAGE):
            x = float((i * 7 + j * 13) % 600)
            kind = j % 5
            if kind == 0:
                s = Shape("box", label="car", source="manual", occluded=bool(j & 1),
                          points=[x, 10.5, x + 40.25, 60.0], rotation=15.0 if j == 5 else None,
                          z_order=j, attributes=[Attr("color", "red"), Attr("parked", "false")])
            elif kind == 1:
                s = Shape("polygon", label="road", source="manual", occluded=False,
                          points=[x, 0.0, x + 10, 5.5, x + 20, 30.0, x + 5, 40.0, x, 20.0,
                                  x - 3, 10.0], z_order=0, group_id=1)
            elif kind == 2:
                s = Shape("polyline", label="lane", source="auto", occluded=False,
                          points=[x, 1.0, x + 50, 2.0, x + 100, 3.0], z_order=0)
            elif kind == 3:
                s = Shape("points", label="person", source="manual", occluded=False,
                          points=[x, 5.0, x + 1, 6.0], z_order=1)
            else:
                s = Shape("mask", label="blob", source="manual", occluded=False,
                          mask=Mask([3, 5, 7, 5], int(x), 3, 4, 5), z_order=0)
            shapes.append(s)
        yield Image(id=i, name=f"dir/img_{i:07d}.jpg", width=640, height=480, shapes=shapes,
                    tags=[Tag("daytime", source="manual")])


def phase_write(path: Path, n_shapes: int) -> dict[str, float]:
    from annosync.cvatxml import XmlWriter
    from annosync.cvatxml.meta import Meta, TaskMeta

    base = _rss_mb()
    meta = Meta(kind="task", task=TaskMeta(id="1", name="bench", size=str(n_shapes // 10)))
    images = _images(n_shapes)
    start, cpu = time.perf_counter(), time.process_time()
    with XmlWriter(path, meta=meta, numbers="cvat") as writer:
        for image in images:
            writer.write_image(image)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": seconds, "shapes_per_s": n_shapes / seconds, "cpu_shapes_per_s":
            n_shapes / cpu, "baseline_mb": base, "peak_mb": _rss_mb(),
            "bytes": path.stat().st_size}


def phase_parse(path: Path, n_shapes: int) -> dict[str, float]:
    from annosync.cvatxml import XmlReader

    base = _rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    shapes = 0
    with XmlReader(path) as reader:
        for item in reader.items():
            shapes += len(item.shapes)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert shapes == n_shapes, (shapes, n_shapes)
    assert not reader.warnings
    return {"seconds": seconds, "shapes_per_s": shapes / seconds,
            "cpu_shapes_per_s": shapes / cpu, "baseline_mb": base, "peak_mb": _rss_mb()}


def _child(phase: str, path: Path, n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--path", str(path), "--shapes", str(n)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=1_000_000)
    parser.add_argument("--phase", choices=["write", "parse"])
    parser.add_argument("--path")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    if args.phase:
        fn = phase_write if args.phase == "write" else phase_parse
        print(json.dumps(fn(Path(args.path), args.shapes)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_cvatxml_"))
    sizes = sorted({max(args.shapes // 10, SHAPES_PER_IMAGE), args.shapes})
    rows = []
    for n in sizes:
        path = tmp / f"bench_{n}.xml"
        w = _child("write", path, n)
        p = _child("parse", path, n)
        rows.append((n, w, p))
        if not args.keep:
            os.unlink(path)
    print(f"CVAT XML format layer, Python {sys.version.split()[0]}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)")
    print("shapes/s: wall clock (CPU time); peak = max RSS of the phase's process, base = its "
          "RSS after imports")
    print(f"{'shapes':>10} {'file MB':>8} | {'write shapes/s':>22} {'peak MB':>8} {'(base)':>7} "
          f"| {'parse shapes/s':>22} {'peak MB':>8} {'(base)':>7}")
    for n, w, p in rows:
        wr = f"{w['shapes_per_s']:,.0f} ({w['cpu_shapes_per_s']:,.0f})"
        pr = f"{p['shapes_per_s']:,.0f} ({p['cpu_shapes_per_s']:,.0f})"
        print(f"{n:>10,} {w['bytes'] / 1e6:>8.1f} | {wr:>22} {w['peak_mb']:>8.1f} "
              f"{w['baseline_mb']:>7.1f} | {pr:>22} {p['peak_mb']:>8.1f} {p['baseline_mb']:>7.1f}")
    if not args.keep:
        tmp.rmdir()


if __name__ == "__main__":
    main()
