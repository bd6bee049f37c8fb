"""COCO instances JSON (boxes, polygons, RLE masks, keypoints) <-> a dataset folder.

Why: COCO is what most detection datasets ship as and what most tools read. No pycocotools at
run time (``rle.py`` re-implements its RLE); the tests check every mask against pycocotools.

One COCO annotation becomes up to three labels of its image's sample, each carrying the
annotation's id as the ``coco_id`` attribute (the labels' own ids derive from it, so importing
the same file twice gives the same ids):

* ``<field>`` (Detections): the box, the category as label, ``score`` as confidence,
  ``iscrowd``/``area`` and any other scalar (or ``attributes`` dict, as CVAT's COCO export
  writes) as attributes, and an RLE segmentation as the instance mask (cropped to the box);
* ``<field>_polygons`` (Polylines, closed and filled): a polygon segmentation, exactly;
* ``<field>_keypoints`` (Keypoints): keypoints, an unlabelled one (v=0) as ``null``.

Image ids, file names, categories (ids, supercategories, keypoint names, skeletons), ``info``
and ``licenses`` are kept in ``.annosync/coco.json``; an export writes them back, so a round
trip keeps every id. COCO's keypoint visibility 1 (labelled, not visible) comes back as 2, as in
FiftyOne.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from annosync.dataset import jsonfmt
from annosync.dataset.atomic import write_bytes_atomic
from annosync.dataset.folder import DatasetFolder
from annosync.dataset.media import probe
from annosync.errors import InputError, StateError
from annosync.interop.rle import mask_to_rle, rle_to_mask
from annosync.interop.staging import staged_folder
from annosync.model.ids import derived_id
from annosync.model.labels import (
    BinaryMask,
    Detection,
    Detections,
    Keypoint,
    Keypoints,
    Polyline,
    Polylines,
)
from annosync.model.sample import Sample
from annosync.progress import NULL, Progress

SIDE_FILE = "coco.json"
KNOWN = {"id", "image_id", "category_id", "bbox", "segmentation", "keypoints", "num_keypoints",
         "score", "iscrowd", "area", "attributes"}
OWN_ATTRS = ("coco_id", "iscrowd", "area")


@dataclass
class CocoReport:
    images: int = 0
    annotations: int = 0
    labels: int = 0
    warnings: list[str] = field(default_factory=list)


class _Bad(Exception):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where


def _num(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Bad(where, "expected a number")
    return float(value)


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(where, "expected an integer")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Bad(where, "expected a list")
    return value


def crop_box(bbox: list[float], width: int, height: int) -> tuple[int, int, int, int]:
    """The pixel rectangle of a box (x0, y0, x1, y1), grown to whole pixels, inside the image."""
    x, y, w, h = bbox
    x0, y0 = max(0, math.floor(x)), max(0, math.floor(y))
    x1, y1 = min(width, math.ceil(x + w)), min(height, math.ceil(y + h))
    return x0, y0, max(x0, x1), max(y0, y1)


def _read(path: Path) -> dict[str, Any]:
    data = jsonfmt.read_json(path)
    if not isinstance(data, dict):
        raise InputError.at("expected a COCO object (images, annotations, categories)", str(path))
    return data


def default_images_dir(annotations: Path) -> Path:
    for name in ("data", "images"):
        if (annotations.parent / name).is_dir():
            return annotations.parent / name
    return annotations.parent


class _Importer:
    def __init__(self, data: dict[str, Any], images_dir: Path, label_field: str,
                 report: CocoReport) -> None:
        self.data = data
        self.images_dir = images_dir
        self.field = label_field
        self.report = report
        self.categories: dict[int, dict[str, Any]] = {}
        self.images: dict[int, tuple[str, dict[str, Any], Path]] = {}  # id -> key, image, file
        self.samples: dict[str, dict[str, list[Any]]] = {}

    def read(self) -> None:
        for n, cat in enumerate(_list(self.data.get("categories", []), "categories")):
            where = f"categories[{n}]"
            if not isinstance(cat, dict) or not isinstance(cat.get("name"), str):
                raise _Bad(where, "a category needs an id and a name")
            self.categories[_int(cat.get("id"), f"{where}.id")] = cat
        keys: set[str] = set()
        for n, img in enumerate(_list(self.data.get("images"), "images")):
            where = f"images[{n}]"
            if not isinstance(img, dict) or not isinstance(img.get("file_name"), str):
                raise _Bad(where, "an image needs an id and a file_name")
            image_id = _int(img.get("id"), f"{where}.id")
            name = PurePosixPath(img["file_name"].replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts:
                raise _Bad(f"{where}.file_name", "must be a relative path inside the images "
                           "folder")
            source = self.images_dir / name
            if not source.is_file():
                raise _Bad(f"{where}.file_name", f"no file {source}")
            key = name.with_suffix("").as_posix()
            if key in keys or image_id in self.images:
                raise _Bad(where, f"a second image {key!r} (id {image_id})")
            keys.add(key)
            for dim in ("width", "height"):
                if _int(img.get(dim), f"{where}.{dim}") <= 0:
                    raise _Bad(f"{where}.{dim}", "expected a positive integer")
            self.images[image_id] = (key, img, source)
            self.samples[key] = {"det": [], "poly": [], "kp": []}
        for n, ann in enumerate(_list(self.data.get("annotations", []), "annotations")):
            where = f"annotations[{n}]"
            try:
                self.annotation(ann, where)
            except ValueError as exc:  # the label models' own checks (pydantic's errors)
                raise _Bad(where, " ".join(str(exc).splitlines()[:3])) from None

    def annotation(self, ann: Any, where: str) -> None:
        if not isinstance(ann, dict):
            raise _Bad(where, "expected an object")
        coco_id = _int(ann.get("id"), f"{where}.id")
        image_id = _int(ann.get("image_id"), f"{where}.image_id")
        if image_id not in self.images:
            raise _Bad(f"{where}.image_id", f"no image has id {image_id}")
        cat_id = _int(ann.get("category_id"), f"{where}.category_id")
        if cat_id not in self.categories:
            raise _Bad(f"{where}.category_id", f"no category has id {cat_id}")
        key, img, _ = self.images[image_id]
        width, height = int(img["width"]), int(img["height"])
        label = self.categories[cat_id]["name"]
        attrs: dict[str, Any] = {"coco_id": coco_id}
        for name in ("iscrowd", "area"):
            if name in ann:
                _num(ann[name], f"{where}.{name}")
                attrs[name] = ann[name]
        cvat_attrs = ann.get("attributes") or {}
        if not isinstance(cvat_attrs, dict):
            raise _Bad(f"{where}.attributes", "expected an object")
        extra = dict(cvat_attrs)
        extra.update({k: v for k, v in ann.items() if k not in KNOWN})
        for name, value in extra.items():
            if not (value is None or isinstance(value, (bool, int, float, str))):
                raise _Bad(f"{where}.{name}", "only scalar extra fields are kept")
            if isinstance(value, float) and not math.isfinite(value):
                raise _Bad(f"{where}.{name}", "expected a finite number")
            attrs[name] = value
        out = self.samples[key]
        bbox = None
        if "bbox" in ann:
            bbox = [_num(v, f"{where}.bbox[{i}]") for i, v in
                    enumerate(_list(ann["bbox"], f"{where}.bbox"))]
            if len(bbox) != 4 or bbox[2] < 0 or bbox[3] < 0:
                raise _Bad(f"{where}.bbox", "expected [x, y, width, height], sizes >= 0")
        seg = ann.get("segmentation")
        mask = None
        if isinstance(seg, dict):
            try:
                full = rle_to_mask(seg)
            except (KeyError, TypeError, ValueError) as exc:
                raise _Bad(f"{where}.segmentation", f"not a COCO RLE: {exc}") from None
            if full.shape != (height, width):
                raise _Bad(f"{where}.segmentation.size",
                           f"{list(full.shape)} is not the image's [{height}, {width}]")
            if bbox is None:
                raise _Bad(f"{where}.bbox", "an RLE segmentation needs its bbox")
            x0, y0, x1, y1 = crop_box(bbox, width, height)
            mask = BinaryMask.from_array(full[y0:y1, x0:x1])
        elif isinstance(seg, list) and seg:
            shapes = []
            for i, poly in enumerate(seg):
                coords = [_num(v, f"{where}.segmentation[{i}][{j}]")
                          for j, v in enumerate(_list(poly, f"{where}.segmentation[{i}]"))]
                if len(coords) < 6 or len(coords) % 2:
                    raise _Bad(f"{where}.segmentation[{i}]", "a polygon needs 3+ x, y pairs")
                shapes.append([(coords[j] / width, coords[j + 1] / height)
                               for j in range(0, len(coords), 2)])
            out["poly"].append(Polyline(id=derived_id(key, coco_id, "polygon"), label=label,
                                        points=shapes, closed=True, filled=True,
                                        attributes={"coco_id": coco_id}))
        elif seg is not None and seg != []:
            raise _Bad(f"{where}.segmentation", "expected polygons (a list) or an RLE object")
        if bbox is not None:
            x, y, w, h = bbox
            det = Detection(id=derived_id(key, coco_id, "box"), label=label,
                            bounding_box=(x / width, y / height, w / width, h / height),
                            mask=mask, attributes=attrs,
                            confidence=_num(ann["score"], f"{where}.score") if "score" in ann
                            else None)
            out["det"].append(det)
        if "keypoints" in ann:
            flat = _list(ann["keypoints"], f"{where}.keypoints")
            if len(flat) % 3:
                raise _Bad(f"{where}.keypoints", "expected x, y, v triples")
            points: list[tuple[float, float] | None] = []
            for j in range(0, len(flat), 3):
                px, py = (_num(flat[j + d], f"{where}.keypoints[{j + d}]") for d in (0, 1))
                v = _num(flat[j + 2], f"{where}.keypoints[{j + 2}]")
                points.append((px / width, py / height) if v > 0 else None)
            out["kp"].append(Keypoint(id=derived_id(key, coco_id, "keypoints"), label=label,
                                      points=points, attributes={"coco_id": coco_id}))
        self.report.annotations += 1

    def sample(self, key: str, img: dict[str, Any], media: str, source: Path) -> Sample:
        meta = probe(source)
        if (meta.width, meta.height) != (img["width"], img["height"]):
            self.report.warnings.append(
                f"{img['file_name']}: the file is {meta.width}x{meta.height}, the JSON says "
                f"{img['width']}x{img['height']} (labels follow the JSON)")
        found = self.samples[key]
        fields: dict[str, Any] = {}
        if found["det"]:
            fields[self.field] = Detections(detections=found["det"])
        if found["poly"]:
            fields[f"{self.field}_polygons"] = Polylines(polylines=found["poly"])
        if found["kp"]:
            fields[f"{self.field}_keypoints"] = Keypoints(keypoints=found["kp"])
        self.report.labels += sum(len(v) for v in found.values())
        return Sample(media=media, metadata=meta, fields=fields)


def import_coco(annotations: str | os.PathLike[str], dataset: str | os.PathLike[str], *,
                images: str | os.PathLike[str] | None = None,
                label_field: str = "ground_truth", progress: Progress = NULL) -> CocoReport:
    """Make the dataset folder ``dataset`` (new or empty) from a COCO instances JSON and its
    images (default: ``data/`` or ``images/`` next to the JSON, else the JSON's folder)."""
    path = Path(annotations)
    images_dir = Path(images) if images is not None else default_images_dir(path)
    report = CocoReport()
    with progress.step(f"read {path.name}", None, "annotations") as step:
        data = _read(path)
        importer = _Importer(data, images_dir, label_field, report)
        try:
            importer.read()
        except _Bad as bad:
            raise InputError.at(str(bad), str(path), json_path=bad.where) from None
        step.update(report.annotations)
    side = {"label_field": label_field, "info": data.get("info"),
            "licenses": data.get("licenses"), "categories": data.get("categories", []),
            "images": {}}
    with staged_folder(dataset) as tmp:
        folder = DatasetFolder.init(tmp, name=Path(dataset).resolve().name)
        with progress.step("write samples", len(importer.images), "images") as step:
            for _image_id, (key, img, source) in sorted(importer.images.items(),
                                                        key=lambda kv: kv[1][0]):
                media = PurePosixPath("media", *PurePosixPath(img["file_name"]).parts)
                dest = tmp / media
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, dest)
                try:
                    sample = importer.sample(key, img, media.as_posix(), dest)
                except ValueError as exc:
                    raise InputError.at(f"cannot make sample {key!r}: {exc}", str(path)) from None
                folder.write(key, sample)
                side["images"][key] = img
                report.images += 1
                step.advance()
        (tmp / ".annosync").mkdir(exist_ok=True)
        (tmp / ".annosync" / SIDE_FILE).write_bytes(jsonfmt.dump_bytes(side))
    return report


# -- export -------------------------------------------------------------------------------------

def _px(value: float) -> float:
    return round(value, 6) + 0.0


def _coord(value: float) -> float | int:
    """A keypoint coordinate: whole pixels as ints, as COCO writes them."""
    v = _px(value)
    return int(v) if v.is_integer() else v


def _polygon_area(poly: list[float]) -> float:
    xs, ys = poly[0::2], poly[1::2]
    return abs(sum(xs[i] * ys[i - 1] - xs[i - 1] * ys[i] for i in range(len(xs)))) / 2


def _paste(mask: BinaryMask, bbox: list[float], width: int, height: int) -> np.ndarray:
    x0, y0, x1, y1 = crop_box(bbox, width, height)
    part = mask.to_array()
    if part.shape != (y1 - y0, x1 - x0) and (y1 > y0 and x1 > x0):
        from PIL import Image

        img = Image.fromarray(part.astype(np.uint8) * 255)
        part = np.array(img.resize((x1 - x0, y1 - y0), Image.Resampling.NEAREST)) > 127
    full = np.zeros((height, width), dtype=bool)
    if y1 > y0 and x1 > x0:
        full[y0:y1, x0:x1] = part
    return full


def export_coco(dataset: str | os.PathLike[str], output: str | os.PathLike[str], *,
                label_field: str | None = None, images: str | os.PathLike[str] | None = None,
                progress: Progress = NULL) -> CocoReport:
    """Write the dataset's ``label_field`` (+ ``_polygons``, ``_keypoints``) as a COCO
    instances JSON; ``images``: also copy the media there under their file names."""
    folder = DatasetFolder.open(dataset)
    side_path = folder.state_dir / SIDE_FILE
    side = _read(side_path) if side_path.is_file() else {}
    field_name = label_field or side.get("label_field") or "ground_truth"
    report = CocoReport()
    categories: list[dict[str, Any]] = [dict(c) for c in side.get("categories") or []]
    by_name = {c["name"]: c for c in categories}
    next_cat = max((c["id"] for c in categories), default=0) + 1
    kept_images: dict[str, dict[str, Any]] = side.get("images") or {}
    next_image = max((i["id"] for i in kept_images.values()), default=0) + 1
    out_images: list[dict[str, Any]] = []
    groups: list[tuple[int, str, dict[str, Any]]] = []  # image id, key, labels by kind
    used_ids: set[int] = set()
    copies: list[tuple[Path, str]] = []
    found_field = False

    def category(label: str, points: int = 0) -> dict[str, Any]:
        nonlocal next_cat
        cat = by_name.get(label)
        if cat is None:
            cat = {"id": next_cat, "name": label, "supercategory": ""}
            next_cat += 1
            categories.append(cat)
            by_name[label] = cat
        if points and len(cat.get("keypoints") or []) < points:
            cat["keypoints"] = [*(cat.get("keypoints") or []),
                                *(str(i + 1) for i in range(len(cat.get("keypoints") or []),
                                                            points))]
            cat.setdefault("skeleton", [])
        return cat

    with progress.step(f"read {folder.name}", None, "samples") as step:
        for key, sample in folder.iter_samples():
            step.advance()
            if sample.is_video:
                report.warnings.append(f"{key}: a video; COCO holds images: left out")
                continue
            if sample.metadata is None:
                raise InputError.at("no metadata (width, height): run `annosync init`",
                                    str(folder.label_path(key)))
            img = dict(kept_images.get(key) or {})
            if not img:
                rel = PurePosixPath(sample.media)
                if rel.parts[:1] == (folder.info.media_dir,):
                    rel = rel.relative_to(folder.info.media_dir)
                img = {"id": next_image, "file_name": rel.as_posix()}
                next_image += 1
            img["width"], img["height"] = sample.metadata.width, sample.metadata.height
            out_images.append(img)
            copies.append((folder.root / sample.media, img["file_name"]))
            labels: dict[str, list[Any]] = {"det": [], "poly": [], "kp": []}
            for kind, name, attr in (("det", field_name, "detections"),
                                     ("poly", f"{field_name}_polygons", "polylines"),
                                     ("kp", f"{field_name}_keypoints", "keypoints")):
                value = sample.fields.get(name)
                if value is None:
                    continue
                found_field = True
                if not hasattr(value, attr):
                    raise InputError.at(f"field {name!r} is not {attr}",
                                        str(folder.label_path(key)))
                labels[kind] = list(getattr(value, attr))
                for obj in labels[kind]:
                    cid = obj.attributes.get("coco_id")
                    if isinstance(cid, int) and not isinstance(cid, bool):
                        used_ids.add(cid)
            groups.append((img["id"], key, labels))
    if not found_field:
        raise StateError(f"{folder.root}: no sample has a field {field_name!r} (or "
                         f"{field_name}_polygons, {field_name}_keypoints)")
    next_ann = max(used_ids, default=0) + 1
    annotations: list[dict[str, Any]] = []
    by_image = {img["id"]: img for img in out_images}
    for image_id, key, labels in groups:
        width, height = by_image[image_id]["width"], by_image[image_id]["height"]
        merged: dict[Any, dict[str, Any]] = {}
        for kind in ("det", "poly", "kp"):
            for obj in labels[kind]:
                if kind == "poly" and not obj.closed:
                    report.warnings.append(f"{key}: open polyline {obj.id} left out (COCO "
                                           "polygons are closed)")
                    continue
                cid = obj.attributes.get("coco_id")
                group_key = cid if isinstance(cid, int) and not isinstance(cid, bool) \
                    else f"label:{obj.id}"
                merged.setdefault(group_key, {})[kind] = obj
        for group_key, parts in merged.items():
            if isinstance(group_key, int):
                ann_id = group_key
            else:
                ann_id = next_ann
                next_ann += 1
            annotations.append(_annotation(ann_id, image_id, parts, width, height, category))
            report.labels += len(parts)
    annotations.sort(key=lambda a: (a["image_id"], a["id"]))
    data: dict[str, Any] = {}
    if side.get("info") is not None:
        data["info"] = side["info"]
    if side.get("licenses") is not None:
        data["licenses"] = side["licenses"]
    data["images"] = sorted(out_images, key=lambda i: i["id"])
    data["annotations"] = annotations
    data["categories"] = categories
    write_bytes_atomic(output, (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8"))
    if images is not None:
        with progress.step("copy images", len(copies), "files") as step:
            for source, name in copies:
                dest = Path(images) / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, dest)
                step.advance()
    report.images = len(out_images)
    report.annotations = len(annotations)
    return report


def _annotation(ann_id: int, image_id: int, parts: dict[str, Any], width: int, height: int,
                category: Any) -> dict[str, Any]:
    det, poly, kp = parts.get("det"), parts.get("poly"), parts.get("kp")
    first = det or poly or kp
    assert first is not None
    points = len(kp.points) if kp is not None else 0
    ann: dict[str, Any] = {"id": ann_id, "image_id": image_id,
                           "category_id": category(first.label, points)["id"]}
    attrs = dict(det.attributes) if det is not None else {}
    polygons = None
    if poly is not None:
        polygons = [[_px(v) for x, y in shape for v in (x * width, y * height)]
                    for shape in poly.points]
    if det is not None:
        x, y, w, h = det.bounding_box
        bbox = [_px(x * width), _px(y * height), _px(w * width), _px(h * height)]
    else:
        xs = [p[0] * width for p in _all_points(poly, kp)]
        ys = [p[1] * height for p in _all_points(poly, kp)]
        bbox = [_px(min(xs)), _px(min(ys)), _px(max(xs) - min(xs)), _px(max(ys) - min(ys))] \
            if xs else [0.0, 0.0, 0.0, 0.0]
    ann["bbox"] = bbox
    area: float | None = None
    if polygons is not None:
        ann["segmentation"] = polygons
        area = sum(_polygon_area(p) for p in polygons)
    elif det is not None and det.mask is not None:
        full = _paste(det.mask, bbox, width, height)
        ann["segmentation"] = mask_to_rle(full)
        area = float(full.sum())
    if kp is not None:
        flat: list[float] = []
        for p in kp.points:
            flat += [0, 0, 0] if p is None else [_coord(p[0] * width), _coord(p[1] * height), 2]
        ann["keypoints"] = flat
        ann["num_keypoints"] = sum(1 for p in kp.points if p is not None)
    ann["iscrowd"] = attrs.get("iscrowd", 0)
    ann["area"] = attrs.get("area", area if area is not None else _px(bbox[2] * bbox[3]))
    if det is not None and det.confidence is not None:
        ann["score"] = det.confidence
    extra = {k: v for k, v in attrs.items() if k not in OWN_ATTRS}
    if extra:
        ann["attributes"] = extra
    return ann


def _all_points(poly: Any, kp: Any) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    if poly is not None:
        out += [p for shape in poly.points for p in shape]
    if kp is not None:
        out += [p for p in kp.points if p is not None]
    return out
