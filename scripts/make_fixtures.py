#!/usr/bin/env python3
"""Make the fixture datasets in ``fixtures/`` reproducibly: media drawn from a scene description,
and label files written from the same description, so every box matches what is drawn.

    python scripts/make_fixtures.py            # (re)write fixtures/street and fixtures/traffic
    python scripts/make_fixtures.py --check    # exit 1 if the committed label files differ
    python scripts/make_fixtures.py --check --strict   # ... or any media byte

``fixtures/street/`` (5 images, one in a sub-folder) has a label field of every type:
detections with attributes (``ground_truth``), predictions with confidence and an ``eval``
attribute (so the reference's basic recipe selects something), instance masks, polylines,
polygons, keypoints, a semantic segmentation, a classification, classifications, scalars, and an
alternate media path (blurred copies) for ``media_field``. ``fixtures/traffic/`` (two short
videos) has frame-level detection tracks with keyframes and a gap, a frame-level
classification, and sample-level scalars.

Everything is deterministic: no randomness, fixed encoder settings (Pillow JPEG quality 85;
H.264 via PyAV with one thread, no B-frames, a fixed GOP), label ids derived from their place.
The same library versions give the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annosync.dataset.folder import DatasetFolder  # noqa: E402
from annosync.dataset.media import probe  # noqa: E402
from annosync.model.labels import (  # noqa: E402
    BinaryMask,
    Classification,
    Classifications,
    Detection,
    Detections,
    IndexMask,
    Keypoint,
    Keypoints,
    Polyline,
    Polylines,
    Segmentation,
)
from annosync.model.sample import Sample  # noqa: E402

W, H = 320, 240
VW, VH = 160, 120


def lid(*parts: Any) -> str:
    """A stable 24-hex label id derived from where the label is."""
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:24]


def rel_box(x: float, y: float, w: float, h: float, width: int = W, height: int = H) -> tuple:
    return (round(x / width, 6), round(y / height, 6), round(w / width, 6), round(h / height, 6))


def rel_pt(x: float, y: float, width: int = W, height: int = H) -> tuple[float, float]:
    return (round(x / width, 6), round(y / height, 6))


# -- the street scenes ----------------------------------------------------------------------------


@dataclass
class Car:
    x: int
    y: int
    w: int
    h: int
    color: tuple[int, int, int]
    label: str = "car"
    occluded: bool = False
    make: str = "acme"
    group: int | None = None


@dataclass
class Person:
    x: int  # feet centre
    y: int
    height: int
    occluded: bool = False
    group: int | None = None


@dataclass
class Pred:
    label: str
    box: tuple[int, int, int, int]
    confidence: float
    eval: str  # tp / fp


@dataclass
class Scene:
    key: str
    weather: str
    tags: list[str]
    sky: tuple[int, int, int]
    cars: list[Car] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    preds: list[Pred] = field(default_factory=list)
    quality: float = 0.9
    reviewed: bool = False
    note: str = ""


SCENES = [
    Scene("0001", "sunny", ["urban", "daytime"], (135, 190, 235),
          cars=[Car(30, 130, 90, 50, (200, 40, 40), make="acme"),
                Car(190, 140, 100, 55, (40, 90, 200), label="truck", make="bolt", group=1)],
          people=[Person(150, 200, 70, group=1)],
          preds=[Pred("car", (32, 128, 88, 52), 0.97, "tp"),
                 Pred("car", (230, 60, 40, 30), 0.91, "fp"),
                 Pred("person", (138, 128, 26, 74), 0.55, "tp")],
          quality=0.92, reviewed=True, note="clear view"),
    Scene("0002", "cloudy", ["urban"], (170, 175, 185),
          cars=[Car(60, 120, 120, 60, (30, 150, 60), occluded=True, make="acme")],
          people=[Person(250, 210, 80, occluded=True), Person(280, 205, 75)],
          preds=[Pred("car", (58, 118, 124, 62), 0.88, "tp"),
                 Pred("person", (238, 128, 26, 84), 0.62, "tp")],
          quality=0.75, note=""),
    Scene("0003", "rainy", ["urban", "wet"], (110, 120, 140),
          cars=[Car(20, 140, 80, 45, (220, 200, 40), make="zoom"),
                Car(120, 135, 85, 48, (120, 120, 120), make="acme", group=2),
                Car(220, 145, 80, 44, (80, 40, 160), make="bolt", group=2)],
          preds=[Pred("car", (22, 138, 78, 47), 0.93, "tp"),
                 Pred("car", (10, 40, 50, 30), 0.95, "fp"),
                 Pred("person", (300, 100, 15, 40), 0.86, "fp"),
                 Pred("car", (160, 20, 40, 25), 0.40, "fp")],
          quality=0.6, reviewed=False, note="rain on lens"),
    Scene("0004", "sunny", ["suburban", "daytime"], (140, 200, 240),
          cars=[Car(100, 150, 110, 55, (240, 240, 240), make="zoom")],
          people=[Person(60, 215, 90)],
          preds=[Pred("car", (98, 148, 114, 58), 0.99, "tp")],
          quality=0.97, reviewed=True, note=""),
    Scene("night/0005", "night", ["urban", "night"], (20, 24, 48),
          cars=[Car(150, 140, 95, 50, (180, 30, 30), make="bolt")],
          preds=[Pred("car", (148, 138, 98, 52), 0.83, "tp"),
                 Pred("car", (40, 150, 50, 30), 0.81, "fp")],
          quality=0.5, note="low light"),
]

SEG_W, SEG_H = 64, 48
#: pixel value -> class of the ``road_seg`` masks (the manifests use the same mask_targets)
SEG_TARGETS = {0: "background", 1: "road", 2: "sky", 3: "vehicle"}


def person_points(p: Person) -> list[tuple[float, float]]:
    """head, neck, hip, left foot, right foot (absolute pixels)."""
    h = p.height
    return [(p.x, p.y - h), (p.x, p.y - 0.8 * h), (p.x, p.y - 0.4 * h),
            (p.x - 0.15 * h, p.y), (p.x + 0.15 * h, p.y)]


def person_box(p: Person) -> tuple[float, float, float, float]:
    h = p.height
    return (p.x - 0.2 * h, p.y - h - 0.1 * h, 0.4 * h, 1.1 * h)


def draw_street(scene: Scene) -> Image.Image:
    img = Image.new("RGB", (W, H), scene.sky)
    d = ImageDraw.Draw(img)
    d.rectangle([0, 110, W, H], fill=(70, 70, 75))  # road
    d.polygon([(0, 110), (60, 110), (0, 160)], fill=(150, 150, 140))  # sidewalk
    d.polygon([(130, 200), (200, 200), (210, 230), (120, 230)], fill=(230, 230, 230))  # crosswalk
    for x in range(0, W, 40):  # dashed centre line
        d.line([(x, 175), (x + 20, 175)], fill=(250, 220, 60), width=3)
    d.line([(0, 235), (W, 225)], fill=(255, 255, 255), width=2)  # edge line
    for c in scene.cars:
        d.rectangle([c.x, c.y, c.x + c.w, c.y + c.h], fill=c.color, outline=(10, 10, 10))
        d.ellipse([c.x + 8, c.y + c.h - 12, c.x + 28, c.y + c.h + 8], fill=(15, 15, 15))
        d.ellipse([c.x + c.w - 28, c.y + c.h - 12, c.x + c.w - 8, c.y + c.h + 8], fill=(15, 15, 15))
    for p in scene.people:
        pts = person_points(p)
        r = p.height * 0.08
        d.ellipse([pts[0][0] - r, pts[0][1] - r, pts[0][0] + r, pts[0][1] + r], fill=(240, 200, 160))
        d.line([pts[1], pts[2]], fill=(30, 30, 120), width=4)
        d.line([pts[2], pts[3]], fill=(30, 30, 30), width=3)
        d.line([pts[2], pts[4]], fill=(30, 30, 30), width=3)
    return img


def ellipse_mask(w: int, h: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    return ((xx - cx) / max(cx, 1)) ** 2 + ((yy - cy) / max(cy, 1)) ** 2 <= 1.0


def seg_mask(scene: Scene) -> np.ndarray:
    m = np.zeros((SEG_H, SEG_W), dtype=np.int64)
    sy, sx = SEG_H / H, SEG_W / W
    m[: int(110 * sy), :] = 2
    m[int(110 * sy):, :] = 1
    for c in scene.cars:
        m[int(c.y * sy): math.ceil((c.y + c.h) * sy), int(c.x * sx): math.ceil((c.x + c.w) * sx)] = 3
    return m


def street_sample(scene: Scene, media: str, alt: str) -> Sample:
    k = scene.key
    gt = []
    for i, c in enumerate(scene.cars):
        attrs: dict[str, Any] = {"iscrowd": False, "occluded": c.occluded, "make": c.make}
        if c.group is not None:
            attrs["group_id"] = c.group
        gt.append(Detection(id=lid(k, "ground_truth", "car", i), label=c.label,
                            bounding_box=rel_box(c.x, c.y, c.w, c.h), attributes=attrs))
    for i, p in enumerate(scene.people):
        attrs = {"iscrowd": False, "occluded": p.occluded, "make": ""}
        if p.group is not None:
            attrs["group_id"] = p.group
        gt.append(Detection(id=lid(k, "ground_truth", "person", i), label="person",
                            bounding_box=rel_box(*person_box(p)), attributes=attrs))
    preds = [
        Detection(id=lid(k, "predictions", i), label=pr.label, bounding_box=rel_box(*pr.box),
                  confidence=pr.confidence, attributes={"eval": pr.eval})
        for i, pr in enumerate(scene.preds)
    ]
    instances = [
        Detection(id=lid(k, "instances", i), label="car" if c.label == "car" else c.label,
                  bounding_box=rel_box(c.x, c.y, c.w, c.h),
                  mask=BinaryMask.from_array(ellipse_mask(c.w // 4, c.h // 4)))
        for i, c in enumerate(scene.cars)
    ]
    lanes = [
        Polyline(id=lid(k, "lanes", 0), label="centre_line",
                 points=[[rel_pt(0, 175), rel_pt(W, 175)]]),
        Polyline(id=lid(k, "lanes", 1), label="edge_line",
                 points=[[rel_pt(0, 235), rel_pt(W / 2, 230), rel_pt(W, 225)]]),
    ]
    regions = [
        Polyline(id=lid(k, "regions", 0), label="crosswalk", closed=True, filled=True,
                 points=[[rel_pt(130, 200), rel_pt(200, 200), rel_pt(210, 230), rel_pt(120, 230)]],
                 attributes={"condition": "good" if scene.weather != "rainy" else "worn"}),
        Polyline(id=lid(k, "regions", 1), label="sidewalk", closed=True, filled=True,
                 points=[[rel_pt(0, 110), rel_pt(60, 110), rel_pt(0, 160)]]),
    ]
    pose = []
    for i, p in enumerate(scene.people):
        pts: list[tuple[float, float] | None] = [rel_pt(*q) for q in person_points(p)]
        if p.occluded:
            pts[4] = None  # a hidden point (FiftyOne's [nan, nan])
        pose.append(Keypoint(id=lid(k, "pose", i), label="person", points=pts,
                             attributes={"occluded": p.occluded}))
    fields: dict[str, Any] = {
        "ground_truth": Detections(detections=gt),
        "predictions": Detections(detections=preds),
        "instances": Detections(detections=instances),
        "lanes": Polylines(polylines=lanes),
        "regions": Polylines(polylines=regions),
        "pose": Keypoints(keypoints=pose),
        "road_seg": Segmentation(id=lid(k, "road_seg"), mask=IndexMask.from_array(seg_mask(scene))),
        "weather": Classification(id=lid(k, "weather"), label=scene.weather,
                                  confidence=0.8 if scene.weather != "night" else 0.6),
        "scene_tags": Classifications(classifications=[
            Classification(id=lid(k, "scene_tags", t), label=t) for t in scene.tags
        ]),
        "quality": scene.quality,
        "reviewed": scene.reviewed,
        "num_cars": len(scene.cars),
        "note": scene.note,
        "alt_filepath": alt,
    }
    return Sample(media=media, fields=fields, tags=["fixture"])


# -- the traffic videos ---------------------------------------------------------------------------


@dataclass
class Track:
    index: int
    label: str
    kind: str  # static attribute "type"
    make: str
    frames: list[int]  # 1-based frame numbers where the object is visible
    keyframes: set[int]
    x0: float
    y0: float
    dx: float
    w: int
    h: int
    color: tuple[int, int, int]

    def box(self, n: int) -> tuple[float, float, float, float]:
        return (self.x0 + self.dx * (n - 1), self.y0, self.w, self.h)


VIDEOS = {
    "day": (20, [
        Track(1, "vehicle", "sedan", "acme", list(range(1, 21)), {1, 10, 20},
              2, 60, 5, 30, 18, (200, 30, 30)),
        Track(2, "vehicle", "truck", "bolt", [*range(3, 9), *range(12, 17)], {3, 8, 12, 16},
              120, 75, -4, 36, 22, (30, 60, 200)),
    ]),
    "dusk": (10, [
        Track(1, "vehicle", "suv", "zoom", list(range(1, 11)), {1, 10},
              10, 70, 9, 32, 20, (220, 220, 60)),
    ]),
}


def draw_video_frame(n: int, tracks: list[Track], dusk: bool) -> Image.Image:
    sky = (60, 60, 100) if dusk else (140, 190, 230)
    img = Image.new("RGB", (VW, VH), sky)
    d = ImageDraw.Draw(img)
    d.rectangle([0, 55, VW, VH], fill=(70, 70, 75))
    d.line([(0, 100), (VW, 100)], fill=(250, 220, 60), width=2)
    for t in tracks:
        if n in t.frames:
            x, y, w, h = t.box(n)
            d.rectangle([x, y, x + w, y + h], fill=t.color, outline=(0, 0, 0))
    return img


def encode_video(path: Path, frames: list[Image.Image], fps: int = 10) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = VW, VH
        stream.pix_fmt = "yuv420p"
        stream.thread_count = 1
        stream.options = {"crf": "30", "preset": "medium", "g": "10", "bf": "0",
                          "x264-params": "threads=1:sliced-threads=0:bframes=0"}
        for img in frames:
            frame = av.VideoFrame.from_image(img)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def video_sample(name: str, count: int, tracks: list[Track], media: str) -> Sample:
    frames: dict[int, dict[str, Any]] = {}
    for n in range(1, count + 1):
        dets = []
        for t in tracks:
            if n not in t.frames:
                continue
            dets.append(Detection(
                id=lid(name, "vehicles", t.index, n), label=t.label,
                bounding_box=rel_box(*t.box(n), width=VW, height=VH), index=t.index,
                keyframe=True if n in t.keyframes else None,
                attributes={"type": t.kind, "make": t.make, "occluded": False},
            ))
        moving = any(n in t.frames for t in tracks)
        frame: dict[str, Any] = {
            "vehicles": Detections(detections=dets),
            "activity": Classification(id=lid(name, "activity", n),
                                       label="traffic" if len(dets) > 1 else
                                       ("single" if moving else "empty")),
        }
        frames[n] = frame
    return Sample(media=media, frames=frames, tags=["fixture"],
                  fields={"location": "main street" if name == "day" else "ring road",
                          "daylight": name == "day"})


# -- writing --------------------------------------------------------------------------------------


def jpeg_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85, optimize=False, progressive=False, subsampling=2)
    return buf.getvalue()


def write_street(root: Path) -> None:
    folder = DatasetFolder.init(root, name="street")
    for scene in SCENES:
        img = draw_street(scene)
        media = root / "media" / f"{scene.key}.jpg"
        alt = root / "blurred" / f"{scene.key}.jpg"
        media.parent.mkdir(parents=True, exist_ok=True)
        alt.parent.mkdir(parents=True, exist_ok=True)
        media.write_bytes(jpeg_bytes(img))
        alt.write_bytes(jpeg_bytes(img.filter(ImageFilter.GaussianBlur(4))))
        sample = street_sample(scene, f"media/{scene.key}.jpg", f"blurred/{scene.key}.jpg")
        sample.metadata = probe(media)
        folder.write(scene.key, sample)


def write_traffic(root: Path) -> None:
    folder = DatasetFolder.init(root, name="traffic")
    for name, (count, tracks) in VIDEOS.items():
        images = [draw_video_frame(n, tracks, name == "dusk") for n in range(1, count + 1)]
        media = root / "media" / f"{name}.mp4"
        encode_video(media, images)
        sample = video_sample(name, count, tracks, f"media/{name}.mp4")
        sample.metadata = probe(media)
        folder.write(name, sample)


def build(out: Path) -> None:
    write_street(out / "street")
    write_traffic(out / "traffic")


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _comparable(data: bytes) -> Any:
    """A label file without the media's byte size (it depends on the encoder version)."""
    import json

    value = json.loads(data)
    if isinstance(value, dict) and isinstance(value.get("metadata"), dict):
        value["metadata"].pop("size_bytes", None)
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="build in a temporary folder and compare with fixtures/")
    parser.add_argument("--strict", action="store_true",
                        help="with --check: media must be byte-identical too (same encoder "
                        "versions); by default only label files (minus media byte sizes) must")
    parser.add_argument("--out", type=Path, default=ROOT / "fixtures")
    args = parser.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            build(Path(tmp))
            want, have = tree_bytes(Path(tmp)), tree_bytes(args.out)
            have = {k: v for k, v in have.items() if k.split("/")[0] in ("street", "traffic")}
            failed = False
            for name in sorted(set(want) | set(have)):
                a, b = want.get(name), have.get(name)
                if a == b:
                    continue
                if a is None or b is None:
                    print(f"{'missing' if b is None else 'unexpected'}: fixtures/{name}")
                    failed = True
                elif name.endswith(".json") and not args.strict:
                    if _comparable(a) != _comparable(b):
                        print(f"differs: fixtures/{name}")
                        failed = True
                elif args.strict or name.endswith((".json", ".yaml")):
                    print(f"differs: fixtures/{name}")
                    failed = True
                else:
                    print(f"note: fixtures/{name} encodes to other bytes here (another Pillow/"
                          "PyAV/libx264 version?); use --strict to fail on that")
            return 1 if failed else 0
    for name in ("street", "traffic"):
        shutil.rmtree(args.out / name, ignore_errors=True)
    build(args.out)
    total = sum(len(v) for v in tree_bytes(args.out).values())
    print(f"wrote {args.out} ({total / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
