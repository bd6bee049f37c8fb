"""Recreate the CVAT task (or project) a CVAT XML file came from inside the emulator, as a
real client would: labels from the file's ``<meta>`` (types, attributes, skeleton sublabels
and svg), media with the file's frame names and sizes (images) or a video of the task's
size and original size with its start/stop/step, then import files into it through the
annotation import endpoint and read the stored annotations back."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image as PILImage

from annosync.cvat import CvatClient
from annosync.cvat.errors import CvatRequestFailed
from annosync.cvatxml import read_document
from annosync.cvatxml.meta import LabelMeta
from annosync.cvatxml.reader import Document

JsonDict = dict[str, Any]


def _jpeg(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (width, height), (90, 120, 150)).save(buf, format="JPEG")
    return buf.getvalue()


def _attributes(lab: LabelMeta) -> list[JsonDict]:
    out = []
    for a in lab.attributes or []:
        values = a.value_list or [""]
        out.append({"name": a.name, "mutable": a.is_mutable,
                    "input_type": a.input_type or "text",
                    "default_value": a.default_value or values[0], "values": values})
    return out


def labels_of(doc: Document) -> list[JsonDict]:
    """The task labels the file's meta describes, as ``POST /api/tasks`` takes them."""
    assert doc.meta is not None
    holder = doc.meta.project or doc.meta.task
    assert holder is not None
    labels = holder.labels or []
    out = []
    for lab in labels:
        if lab.parent:
            continue
        spec: JsonDict = {"name": lab.name, "type": lab.type or "any",
                          "attributes": _attributes(lab)}
        if lab.type == "skeleton":
            spec["sublabels"] = [{"name": s.name, "type": s.type or "points",
                                  "attributes": _attributes(s)}
                                 for s in labels if s.parent == lab.name]
            spec["svg"] = lab.svg or ""
        out.append(spec)
    return out


def _video_frames(doc: Document) -> int:
    """Frames the task's video needs: the task's stop frame, or past the last frame used."""
    assert doc.meta is not None and doc.meta.task is not None
    task = doc.meta.task
    used = [s.frame for t in doc.tracks for s in t.shapes if s.frame is not None]
    used += [i.id for i in doc.images if i.id is not None]
    stop = task.stop_frame_int
    return max([stop + 1 if stop is not None else 0, *(f + 2 for f in used)])


def make_task(client: CvatClient, source: Path, name: str) -> int:
    """A task like the one ``source`` (a CVAT XML file) was exported from; its id."""
    doc = read_document(source)
    assert doc.meta is not None and doc.meta.task is not None, "a task or job export"
    task = doc.meta.task
    made = client.create_task(name, labels=labels_of(doc))
    if task.mode == "interpolation":
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "emulator"))
        from media_factory import mp4

        size = doc.meta.original_size or task.original_size
        assert size is not None
        # H.264 wants even sizes; the importer never looks at the frames' pixels
        width, height = (int(v or 0) + int(v or 0) % 2 for v in (size.width, size.height))
        opts: JsonDict = {}
        if task.start_frame_int:
            opts["start_frame"] = task.start_frame_int
        if task.stop_frame_int is not None:
            opts["stop_frame"] = task.stop_frame_int
        if task.frame_step > 1:
            opts["frame_step"] = task.frame_step
        client.upload_task_data(made["id"], [("video.mp4", mp4(_video_frames(doc), width,
                                                                 height))],
                                image_quality=90, **opts)
    else:
        images = sorted(doc.images, key=lambda i: int(i.id or 0))
        files = [(i.name, _jpeg(int(i.width or 1), int(i.height or 1))) for i in images]
        client.upload_task_data(made["id"], files, image_quality=90,
                                sorting_method="predefined")
    return int(made["id"])


def import_file(client: CvatClient, task_id: int, path: Path) -> JsonDict:
    """Upload ``path`` through ``POST /api/tasks/{id}/annotations?format=CVAT 1.1`` (replace
    mode, as CVAT's default) and read the task's annotations back."""
    client.import_annotations((path.name, path.read_bytes()), task_id=task_id,
                              format="CVAT 1.1")
    return client.get_annotations(task_id)


def refusal(client: CvatClient, task_id: int, path: Path) -> str:
    """CVAT's message for a file its importer refuses (the test fails if it is accepted)."""
    try:
        client.import_annotations((path.name, path.read_bytes()), task_id=task_id,
                                  format="CVAT 1.1")
    except CvatRequestFailed as exc:
        return str(exc.detail)
    raise AssertionError(f"{path.name} was accepted")


def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in ("id", "version")}
    if isinstance(obj, list):
        items = [_strip(v) for v in obj]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return obj


def comparable(annotations: JsonDict) -> JsonDict:
    """Annotations as read from the server without database ids, every list as a set."""
    return {k: _strip(annotations[k]) for k in ("tags", "shapes", "tracks")}


# -- projects: CVAT's project dataset import (a zip with the images, one task per subset) -------

def project_zip(xml: bytes, doc: Document) -> bytes:
    """``xml`` zipped as a CVAT project export with images: ``images/<subset>/<name>``, JPEGs
    of the sizes ``doc`` (a project export) gives."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("annotations.xml", xml)
        for im in doc.images:
            zf.writestr(f"images/{im.subset or 'default'}/{im.name}",
                        _jpeg(int(im.width or 1), int(im.height or 1)))
    return buf.getvalue()


def make_project(client: CvatClient, doc: Document, name: str) -> int:
    """A project with the labels of ``doc``'s meta; its id."""
    return int(client.create_project(name, labels=labels_of(doc))["id"])


def import_dataset(client: CvatClient, project_id: int, blob: bytes,
                   fmt: str = "CVAT 1.1") -> JsonDict:
    """``POST /api/projects/{id}/dataset/`` (multipart ``dataset_file``), waited for; raises
    ``CvatRequestFailed`` with CVAT's message when the import fails."""
    from annosync.cvat.uploads import UploadFile

    resp = client._uploader.post_multipart(
        f"/api/projects/{project_id}/dataset/", [("dataset_file", UploadFile.of(("d.zip", blob)))],
        params={"format": fmt})
    return client.wait_for_request(str(resp.json()["rq_id"]))


def _by_name(obj: Any, labels: dict[int, str], specs: dict[int, str]) -> Any:
    if isinstance(obj, dict):
        out = {k: _by_name(v, labels, specs) for k, v in obj.items()}
        if "label_id" in out:
            out["label_id"] = labels[out["label_id"]]
        if "spec_id" in out:
            out["spec_id"] = specs[out["spec_id"]]
        return out
    if isinstance(obj, list):
        return [_by_name(v, labels, specs) for v in obj]
    return obj


def project_annotations(client: CvatClient, project_id: int) -> dict[str, JsonDict]:
    """Every task of the project by subset: its annotations, comparable, with label and
    attribute names instead of the project's ids."""
    lab = client.get_labels(project_id=project_id)
    labels = {int(lb["id"]): str(lb["name"]) for lb in lab}
    specs = {int(a["id"]): str(a["name"]) for lb in lab for a in lb.get("attributes", [])}
    return {t["subset"]: comparable(_by_name(client.get_annotations(t["id"]), labels, specs))
            for t in client.list_tasks(project_id=project_id)}
