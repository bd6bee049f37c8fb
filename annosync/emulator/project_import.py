"""Project dataset import (``POST /api/projects/{id}/dataset/``, format ``CVAT 1.1``).

Why a module: CVAT 2.73 does not read a project import with ``load_anno`` (the task path in
``xml_io``) but through datumaro: ``formats/cvat.py`` ``_import`` refuses a bare XML
(``NoMediaInAnnotationFileError``), extracts the zip, reads it with its ``CvatExtractor``,
``bindings.load_dataset_data`` checks the labels and creates one task per subset from the zip's
images, then ``import_dm_annotations`` writes the annotations. This is a port of the behaviour
of those functions (read with the search tools), losses included: ellipses, cuboids and masks
are skipped, occluded ``<points>`` lose the flag, ``source`` becomes ``manual``, one-member
groups are dropped and the others renumbered per image, non-text attribute values go through
``float`` (``"0"`` -> ``"0.0"``) and ``"true"``/``"false"`` through ``bool`` (``"True"``).
Not ported: tracks (``CVAT for video`` project exports), attribute names the label lacks (CVAT
creates a new spec; dropped here), the ``background`` label remap.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .xml_io import ImportFailure, _events

Obj = dict[str, Any]
MEDIA_EXTS = (".jpg", ".jpeg", ".png")
SUPPORTED = ("box", "polygon", "polyline", "points", "skeleton")
IMPORT_ERROR = "cvat.apps.dataset_manager.bindings.CvatImportError"
NO_MEDIA = ("cvat.apps.dataset_manager.bindings.NoMediaInAnnotationFileError: Can't import "
            "media data from the annotation file. Please upload full dataset as a zip archive.")
DM_TYPE = {"box": "bbox", "polygon": "polygon", "polyline": "polyline", "points": "points",
           "skeleton": "skeleton"}


@dataclass
class Item:
    """A datumaro ``DatasetItem``: id (stem when its image is in the zip), subset, media."""

    id: str
    subset: str
    image: bytes | None = None  # the file's bytes when it is in the zip
    image_name: str | None = None  # its name relative to images/<subset>/
    frame: int | None = None  # the XML ``id`` (the ``frame`` attribute)
    annotations: list[Obj] = field(default_factory=list)


@dataclass
class Dataset:
    labels: list[str]
    items: list[Item]

    def subsets(self) -> dict[str, list[Item]]:
        out: dict[str, list[Item]] = {}
        for item in self.items:
            out.setdefault(item.subset, []).append(item)
        return out


def _fail(message: str) -> ImportFailure:
    return ImportFailure(f"{IMPORT_ERROR}: {message}")


# -- datumaro's CvatExtractor (cvat/apps/dataset_manager/formats/cvat.py) ----------------------

def _subsets(events: Iterator[tuple[str, Any]]) -> list[str]:
    """``_get_subsets_from_anno``: ``<subsets>`` split on newlines, else ``default`` (CVAT
    reads the text at the element's start, which iterparse has filled for a small file)."""
    for ev, el in events:
        if ev == "end" and el.tag == "subsets" and el.text is not None:
            return str(el.text).split("\n")
        if ev == "end" and el.tag == "meta":
            return ["default"]
    return ["default"]


def _meta(events: Iterator[tuple[str, Any]]) -> tuple[list[str], dict[str, str], bool]:
    """Label names (project or task labels), attribute input types by name (last wins) and
    whether a task is in interpolation mode; stops at the end of ``<meta>``."""
    labels: list[str] = []
    types: dict[str, str] = {}
    interpolation = False
    stack: list[str] = []
    attr_name: str | None = None
    for ev, el in events:
        if ev == "start":
            stack.append(el.tag)
            continue
        path = "/".join(stack)
        stack.pop()
        if path.endswith("labels/label/name"):
            labels.append(el.text or "")
        elif path.endswith("labels/label/attributes/attribute/name"):
            attr_name = el.text or ""
        elif path.endswith("labels/label/attributes/attribute/input_type") and attr_name:
            types[attr_name] = el.text or ""
        elif path.endswith("task/mode") and el.text == "interpolation":
            interpolation = True
        elif el.tag == "meta":
            break
    return labels, types, interpolation


def _value(text: str | None, kind: str | None) -> Any:
    value: Any = text or ""
    if text in ("true", "false"):
        return value == "true"
    if kind is not None and kind != "text":
        try:
            return float(value)
        except ValueError:
            pass
    return value


def _points(el: Any) -> list[float]:
    a = el.attrib
    if el.tag == "box":
        return [float(a["xtl"]), float(a["ytl"]), float(a["xbr"]), float(a["ybr"])]
    if el.tag == "skeleton":
        return []
    out: list[float] = []
    for pair in a["points"].split(";"):
        out.extend(map(float, pair.split(",")))
    return out


def _ann(shape: Obj, labels: list[str]) -> Obj:
    """``_parse_shape_ann``: the datumaro annotation (attributes gain ``occluded``, rotation)."""
    attributes = shape["attributes"]
    attributes["occluded"] = shape.get("occluded", False)
    for key in ("outside", "rotation"):
        if key in shape:
            attributes[key] = shape[key]
    label = shape.get("label")
    points = shape.get("points", [])
    if shape["type"] == "box":  # Bbox(x, y, w, h).points
        x, y = points[0], points[1]
        points = [x, y, x + (points[2] - x), y + (points[3] - y)]
    return {"type": DM_TYPE[shape["type"]], "label": labels.index(label) if label in labels
            else None, "attributes": attributes, "group": shape.get("group", 0),
            "z_order": shape.get("z_order", 0), "points": points,
            "visibility": shape.get("visibility"),
            "elements": [_ann(e, labels) for e in shape.get("elements", [])]}


def _parse(payload: bytes, labels: list[str], types: dict[str, str]) -> dict[tuple[Any, str], Obj]:
    events = iter(_events(payload))
    next(events, None)
    for ev, el in events:  # skip the meta (read by _meta)
        if ev == "end" and el.tag == "meta":
            break
    items: dict[tuple[Any, str], Obj] = {}
    shape: Obj | None = None
    element: Obj | None = None
    tag: Obj | None = None
    image: Obj | None = None
    attributes: Obj | None = None
    elem_attributes: Obj | None = None
    subset: Any = None

    def desc(key: tuple[Any, str]) -> Obj:
        return items.setdefault(key, {"annotations": []})

    for ev, el in events:
        if ev == "start":
            if el.tag == "track":
                raise ImportFailure("NotImplementedError: the annosync emulator does not import "
                                    "tracks through a project dataset import")
            if el.tag == "image":
                image = {"name": el.attrib.get("name"), "frame": el.attrib["id"],
                         "width": el.attrib.get("width"), "height": el.attrib.get("height")}
                subset = el.attrib.get("subset")
            elif el.tag in SUPPORTED and image:
                if shape and shape["type"] == "skeleton":
                    elem_attributes = {}
                    element = {"type": el.tag, "attributes": elem_attributes, **image}
                else:
                    attributes = {}
                    shape = {"type": el.tag, "attributes": attributes, "elements": [], **image}
            elif el.tag == "tag" and image:
                attributes = {}
                tag = {"frame": image["frame"], "attributes": attributes,
                       "group": int(el.attrib.get("group_id", 0)), "label": el.attrib["label"]}
                subset = el.attrib.get("subset")
            continue
        if el.tag == "attribute" and elem_attributes is not None and element is not None:
            elem_attributes[el.attrib["name"]] = _value(el.text, types.get(el.attrib["name"]))
        if el.tag == "attribute" and attributes is not None and element is None:
            attributes[el.attrib["name"]] = _value(el.text, types.get(el.attrib["name"]))
        elif el.tag in SUPPORTED and shape is not None and shape["type"] == "skeleton" \
                and el.tag != "skeleton":
            assert element is not None
            element.update(label=el.attrib.get("label"), group=int(el.attrib.get("group_id", 0)),
                           type=el.tag, z_order=int(el.attrib.get("z_order", 0)),
                           points=_points(el))
            n = len(element["points"]) // 2
            if el.tag == "points" and el.attrib.get("occluded") == "1":
                element["visibility"] = ["hidden"] * n
            else:
                element["occluded"] = el.attrib.get("occluded") == "1"
            if el.tag == "points" and el.attrib.get("outside") == "1":
                element["visibility"] = ["absent"] * n
            else:
                element["outside"] = el.attrib.get("outside") == "1"
            shape["elements"].append(element)
            element = None
        elif el.tag in SUPPORTED and shape is not None:
            shape.update(label=el.attrib.get("label"), group=int(el.attrib.get("group_id", 0)),
                         type=el.tag, z_order=int(el.attrib.get("z_order", 0)),
                         rotation=float(el.attrib.get("rotation", 0)), points=_points(el))
            if el.tag == "points" and el.attrib.get("occluded") == "1":
                shape["visibility"] = ["hidden"] * (len(shape["points"]) // 2)
            else:
                shape["occluded"] = el.attrib.get("occluded") == "1"
            desc((subset, shape["frame"]))["annotations"].append(_ann(shape, labels))
            shape = None
        elif el.tag == "tag" and tag is not None:
            desc((subset, tag["frame"]))["annotations"].append({
                "type": "label", "label": labels.index(tag["label"])
                if tag["label"] in labels else None, "attributes": tag["attributes"],
                "group": tag["group"]})
            tag = None
        elif el.tag == "image" and image is not None:
            desc((subset, image["frame"])).update(name=image["name"], subset=subset)
            image = None
        el.clear()
    return items


def read_dataset(blob: bytes) -> Dataset:
    """The datumaro dataset CVAT builds from a "CVAT 1.1" zip (every ``*.xml`` in it)."""
    if not zipfile.is_zipfile(io.BytesIO(blob)):
        raise ImportFailure(NO_MEDIA)
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        files = {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")}
    sources = sorted(n for n in files if n.endswith(".xml"))
    if not sources:
        raise ImportFailure("datumaro.components.errors.DatasetImportError: "
                            "Failed to import dataset 'cvat' at '<ABS_PATH>'.")
    labels: list[str] = []
    items: list[Item] = []
    for source in sources:
        root = posixpath.dirname(source)
        images_dir = posixpath.join(root, "images") if root else "images"
        subsets = _subsets(iter(_events(files[source])))
        src_labels, types, _ = _meta(_skip_root(_events(files[source])))
        labels += [lb for lb in src_labels if lb not in labels]
        image_items: dict[tuple[Any, str], Item] = {}

        def parse_dir(directory: str, subset: str | None,
                      image_items: dict[tuple[Any, str], Item] = image_items) -> None:
            found = sorted((n for n in files if posixpath.dirname(n) == directory and
                            posixpath.splitext(n)[1].lower() in MEDIA_EXTS),
                           key=posixpath.basename)
            for name in found:
                stem = posixpath.splitext(posixpath.basename(name))[0]
                image_items[(subset, stem)] = Item(stem, subset or "default", files[name],
                                                   posixpath.basename(name))

        if subsets == ["default"] and not any(n.startswith(f"{images_dir}/default/")
                                              for n in files):
            parse_dir(images_dir, None)
        else:
            for subset in subsets:
                parse_dir(posixpath.join(images_dir, subset), subset)
        for (subset, frame), desc in _parse(files[source], src_labels, types).items():
            name = desc.get("name") or f"frame_{int(frame):06d}.PNG"
            key = (subset, posixpath.splitext(name)[0])
            item = image_items.get(key) or Item(name, subset or "default")
            item.subset = subset or "default"
            item.annotations = desc["annotations"]
            item.frame = int(frame)
            image_items[key] = item
        items += image_items.values()
    return Dataset(labels, items)


def _skip_root(events: Iterator[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    it = iter(events)
    first = next(it, None)
    if first is None or first[1].tag != "annotations":
        raise ImportFailure("Exception: Unexpected token ")
    return it


# -- bindings.py import_dm_annotations ----------------------------------------------------------

@dataclass
class TaskFrames:
    """What ``match_dm_item`` and the attribute import need about one new task."""

    names: list[str]  # frame paths (relative to the subset's image folder)
    labels: dict[tuple[str, int | None], int]
    attrs: dict[int, dict[str, tuple[int, bool, str, str]]]


def _match(item: Item, task: TaskFrames) -> int:
    stems = {posixpath.splitext(n)[0]: i for i, n in enumerate(task.names)}
    if item.image is not None and item.id in stems:
        return stems[item.id]
    if item.id in stems:
        return stems[item.id]
    frame = item.frame
    if frame is None or not 0 <= frame < len(task.names):
        raise _fail(f"Could not match item id: '{item.id}' with any task frame")
    return frame


def _attributes(task: TaskFrames, label_id: int, label: str, attrs: Obj) -> list[Obj]:
    out = []
    for name, raw in attrs.items():
        spec = task.attrs.get(label_id, {}).get(name)
        if spec is None:  # internal (occluded, rotation...) or unknown to the label
            continue
        value = str(raw)
        if spec[2] == "checkbox" and value != spec[3]:
            value = value.lower()
            if value not in ("true", "false"):
                raise ValueError(f"Failed to convert attribute '{label}'='{value}': ")
        out.append({"spec_id": spec[0], "value": value})
    return out


def _label_id(task: TaskFrames, name: str, parent: int | None = None) -> int:
    lid = task.labels.get((name, parent))
    if lid is None:
        raise ValueError(f"Label {name!r} is not registered for this task")
    return lid


def item_annotations(item: Item, task: TaskFrames, labels: list[str], out: Obj) -> None:
    """Add one item's annotations (write form) to ``out``, as ``import_dm_annotations``."""
    frame = _match(item, task)
    sizes: dict[int, int] = {}
    for ann in item.annotations:
        if ann["type"] != "label":
            sizes[ann["group"]] = sizes.get(ann["group"], 0) + 1
    kept = sorted(g for g, n in sizes.items() if n > 1 and g)
    groups = {g: i for i, g in enumerate([0, *kept])}
    for idx, ann in enumerate(item.annotations):
        try:
            if ann["label"] is None:
                raise ImportFailure("annotation has no label")
            name = labels[ann["label"]]
            label_id = _label_id(task, name)
            attrs = _attributes(task, label_id, name, ann["attributes"])
            group = groups.get(ann["group"], 0)
            if ann["type"] == "label":
                out["tags"].append({"id": None, "frame": frame, "label_id": label_id,
                                    "group": group, "source": "manual", "attributes": attrs})
                continue
            elements = []
            for element in ann["elements"]:
                vis = (element["visibility"] or ["visible"])[0]
                ename = labels[element["label"]] if element["label"] is not None else None
                if ename is None:
                    raise TypeError("list indices must be integers or slices, not NoneType")
                eid = _label_id(task, ename, label_id)
                elements.append({
                    "type": "points", "frame": frame, "label_id": eid,
                    "points": [float(p) for p in element["points"]],
                    "occluded": vis == "hidden", "outside": vis == "absent",
                    "z_order": ann["z_order"], "group": group, "source": "manual",
                    "rotation": 0.0, "attributes": _attributes(task, eid, ename,
                                                               element["attributes"])})
            out["shapes"].append({
                "id": None, "type": "rectangle" if ann["type"] == "bbox" else ann["type"],
                "frame": frame, "label_id": label_id,
                "points": [float(p) for p in ann["points"]],
                "occluded": ann["attributes"].get("occluded") is True, "outside": False,
                "z_order": ann["z_order"], "group": group, "source": "manual",
                "rotation": float(ann["attributes"].get("rotation", 0.0)),
                "attributes": attrs, "elements": elements})
        except (ImportFailure, ValueError, TypeError, KeyError) as exc:
            raise _fail(f"Image {item.id}: can't import annotation #{idx} ({ann['type']}): "
                        f"{exc}") from None
