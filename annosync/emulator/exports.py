"""Dataset export (``/dataset/export`` + ``/dataset/download``) and annotation import.

Why a module: both are background requests with their own ids, answers and file naming
(``recordings2/10_import.json``, ``11_export.json``): export formats are named
``CVAT for images 1.1`` / ``CVAT for video 1.1`` and a second export of the same target while
one runs answers 409; imports use ``CVAT 1.1``, a multipart ``annotation_file`` or the TUS
sequence (``Upload-Filename`` is a file id to send back as ``?filename=``).
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from . import tus
from .annotations import clear_job, job_read, job_write, task_clear, task_read, task_write
from .context import Ctx
from .data import frame_bytes, step_of
from .errors import EXPORT_410, ApiError, bad_request, html, no_match
from .rq import enqueue, export_rq_id, finish_now, result_url, running
from .state import Data, Job, Label, Project, State, Task, UploadSession, xml_date
from .tracks import interpolated_shapes, track_to_shapes
from .wire import FormData, Response, empty, json_response
from .xml_io import (
    FrameInfo,
    ImportFailure,
    LabelInfo,
    Meta,
    Source,
    Target,
    dump_images,
    dump_video,
    load_cvat,
)

CVAT_IMAGES = "CVAT for images 1.1"
CVAT_VIDEO = "CVAT for video 1.1"
CVAT_IMPORT = "CVAT 1.1"


@cache
def formats() -> dict[str, Any]:
    return dict(json.loads(resources.files(__package__).joinpath("formats.json").read_text()))


def server_formats(ctx: Ctx) -> Response:
    return json_response(formats())


def _to_bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on", "y", "t")


# -- what to dump ------------------------------------------------------------------------------

def _label_info(state: State, labels: list[Label]) -> LabelInfo:
    names = {lb.id: lb.name for lb in labels}
    specs = {a.id: a.name for lb in labels for a in lb.attributes}
    return LabelInfo(names, specs, {lb.id: lb.parent_id for lb in labels})


def _labels_meta(state: State, labels: list[Label]) -> Meta:
    out: Meta = []
    by_id = {lb.id: lb for lb in labels}
    for lb in labels:
        entry: Meta = [
            ("name", lb.name), ("color", lb.color), ("type", lb.type),
            ("attributes", [("attribute", [
                ("name", a.name), ("mutable", str(a.mutable)), ("input_type", a.input_type),
                ("default_value", a.default_value), ("values", "\n".join(a.values)),
            ]) for a in lb.attributes]),
        ]
        if lb.parent_id is not None and lb.parent_id in by_id:
            entry.append(("parent", by_id[lb.parent_id].name))
        elif lb.type == "skeleton":
            entry.append(("svg", lb.svg or ""))
        out.append(("label", entry))
    return out


def _user_meta(state: State, uid: int | None) -> Any:
    user = state.users.get(uid) if uid is not None else None
    if user is None:
        return ""
    return [("username", user.username), ("email", user.email)]


def _task_meta(ctx: Ctx, task: Task, data: Data, jobs: list[Job], export_path: str, *,
               with_name: bool = True, with_labels: bool = True,
               frame_span: tuple[int, int] | None = None) -> Meta:
    state = ctx.state
    step = step_of(data)
    if frame_span is None:
        size, start, stop = data.size, data.start_frame, data.stop_frame
    else:
        lo, hi = frame_span
        size = hi - lo + 1
        start = data.start_frame + lo * step
        stop = min(data.stop_frame, data.start_frame + hi * step)
    meta: Meta = [("id", str(task.id))]
    if with_name:
        meta.append(("name", task.name))
    meta += [
        ("size", str(size)),
        ("mode", task.mode),
        ("overlap", str(task.overlap)),
        ("bugtracker", task.bug_tracker),
        ("created", xml_date(task.created)),
        ("updated", xml_date(task.updated)),
        ("subset", task.subset or "default"),
        ("start_frame", str(start)),
        ("stop_frame", str(stop)),
        ("frame_filter", data.frame_filter),
        ("segments", [("segment", [
            ("id", str(job.id)), ("start", str(job.start_frame)), ("stop", str(job.stop_frame)),
            ("url", ctx.url(f"{export_path}/api/jobs/{job.id}")),
        ]) for job in jobs]),
        ("owner", _user_meta(state, task.owner_id)),
        ("assignee", _user_meta(state, task.assignee_id)),
    ]
    if with_labels:
        meta.append(("labels", _labels_meta(state, state.task_labels(task))))
    return meta


def _video_meta(data: Data) -> Meta:
    if data.media_kind != "video" or not data.frames:
        return []
    frame = data.frames[0]
    return [("original_size", [("width", str(frame.width)), ("height", str(frame.height))]),
            ("source", data.video_name or frame.name)]


def _frames(task: Task, data: Data, lo: int, hi: int, *, counter: list[int] | None = None,
            project: bool = False) -> list[FrameInfo]:
    step = step_of(data)
    out = []
    for rel in range(lo, hi + 1):
        if rel in data.deleted_frames:
            continue
        absolute = data.start_frame + rel * step
        if data.media_kind == "video":
            frame = data.frames[0]
            name = f"frame_{absolute:06d}"
        else:
            frame = data.frames[rel]
            name = frame.name
        image_id = absolute
        if counter is not None:
            image_id = counter[0]
            counter[0] += 1
        out.append(FrameInfo(rel, absolute, name, frame.width, frame.height, image_id,
                             task.id if project else None, (task.subset or "default") if project else None))
    return out


def _source(state: State, task: Task, data: Data, annotations: dict[str, Any], lo: int, hi: int,
            *, counter: list[int] | None = None, project: bool = False) -> Source:
    return Source(frames=_frames(task, data, lo, hi, counter=counter, project=project),
                  annotations=annotations,
                  labels=_label_info(state, state.task_labels(task)),
                  start_frame=data.start_frame, step=step_of(data), size=data.size,
                  task_id=task.id, subset=task.subset or "default")


def _to_shapes(track: dict[str, Any], size: int) -> list[dict[str, Any]]:
    return track_to_shapes(track, size)


def _interp(track: dict[str, Any], size: int, include_outside: bool) -> list[dict[str, Any]]:
    import copy

    return interpolated_shapes(copy.deepcopy(track), 0, size, include_outside=include_outside)


Parts = tuple[Meta, list[Source], list[tuple[str, bytes]]]


def _project_parts(ctx: Ctx, project: Project, export_path: str, now: datetime) -> Parts:
    state = ctx.state
    tasks = sorted((t for t in state.tasks.values() if t.project_id == project.id and
                    t.data_id is not None and state.data[t.data_id].ready), key=lambda t: t.id)
    counter = [0]
    sources: list[Source] = []
    task_metas: Meta = []
    images: list[tuple[str, bytes]] = []
    for task in tasks:
        data = _ready_data(state, task)
        src = _source(state, task, data, task_read(state, task), 0, data.size - 1,
                      counter=counter, project=True)
        sources.append(src)
        task_metas.append(("task", _task_meta(ctx, task, data, state.task_jobs(task.id),
                                              export_path, with_labels=False) + _video_meta(data)))
        images.extend(_frame_files(state, data, src.frames, f"images/{task.subset or 'default'}/"))
    labels = sorted((lb for lb in state.labels.values() if lb.project_id == project.id),
                    key=lambda lb: lb.id)
    meta: Meta = [("project", [
        ("id", str(project.id)), ("name", project.name), ("bugtracker", project.bug_tracker),
        ("created", xml_date(project.created)), ("updated", xml_date(project.updated)),
        ("tasks", task_metas),
        ("subsets", "\n".join(sorted({t.subset or "default" for t in tasks}))),
        ("owner", _user_meta(state, project.owner_id)),
        ("assignee", _user_meta(state, project.assignee_id)),
        ("labels", _labels_meta(state, labels)),
    ]), ("dumped", xml_date(now))]
    return meta, sources, images


def _task_parts(ctx: Ctx, task: Task, export_path: str, now: datetime) -> Parts:
    state = ctx.state
    data = _ready_data(state, task)
    sources = [_source(state, task, data, task_read(state, task), 0, data.size - 1)]
    meta: Meta = [("task", _task_meta(ctx, task, data, state.task_jobs(task.id), export_path)
                   + _video_meta(data)), ("dumped", xml_date(now))]
    return meta, sources, _frame_files(state, data, sources[0].frames, "images/")


def _job_parts(ctx: Ctx, job: Job, export_path: str, now: datetime) -> Parts:
    state = ctx.state
    task = state.tasks[job.task_id]
    data = _ready_data(state, task)
    ann = job_read(state, job)
    ann["shapes"] = [s for s in ann["shapes"] if job.start_frame <= s["frame"] <= job.stop_frame]
    ann["tags"] = [t for t in ann["tags"] if job.start_frame <= t["frame"] <= job.stop_frame]
    sources = [_source(state, task, data, ann, job.start_frame, job.stop_frame)]
    job_meta = _task_meta(ctx, task, data, [job], export_path, with_name=False,
                          frame_span=(job.start_frame, job.stop_frame))
    job_meta[0] = ("id", str(job.id))
    meta: Meta = [("job", job_meta), *_video_meta(data), ("dumped", xml_date(now))]
    return meta, sources, _frame_files(state, data, sources[0].frames, "images/")


def _ready_data(state: State, task: Task) -> Data:
    assert task.data_id is not None
    return state.data[task.data_id]


def _dump(ctx: Ctx, fmt: str, kind: str, obj: Any, export_path: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The annotations.xml bytes and the frames to add (``images/``) for an export."""
    now = ctx.state.now()
    if kind == "project":
        meta, sources, images = _project_parts(ctx, obj, export_path, now)
    elif kind == "task":
        meta, sources, images = _task_parts(ctx, obj, export_path, now)
    else:
        meta, sources, images = _job_parts(ctx, obj, export_path, now)
    if fmt == CVAT_VIDEO:
        xml = dump_video(meta, sources, project=kind == "project", interpolate=_interp)
    else:
        xml = dump_images(meta, sources, project=kind == "project", to_shapes=_to_shapes)
    return xml, images


def _frame_files(state: State, data: Data, frames: list[FrameInfo], prefix: str) -> list[tuple[str, bytes]]:
    out = []
    for frame in frames:
        if data.media_kind == "video":
            blob, _ = frame_bytes(state, data, frame.rel, "original")
            out.append((f"{prefix}{frame.name}.png", blob))
        else:
            out.append((prefix + frame.name, data.files[frame.name]))
    return out


def _zip(xml: bytes, images: list[tuple[str, bytes]], when: datetime) -> bytes:
    buf = io.BytesIO()
    stamp = (when.year, when.month, when.day, when.hour, when.minute, when.second)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        info = zipfile.ZipInfo("annotations.xml", stamp)
        info.external_attr = 0o100644 << 16
        zf.writestr(info, xml)
        for name, blob in images:
            item = zipfile.ZipInfo(name, stamp)
            item.external_attr = 0o100644 << 16
            zf.writestr(item, blob)
    return buf.getvalue()


# -- endpoints -----------------------------------------------------------------------------------

def _object(ctx: Ctx, kind: str) -> Any:
    from .access import can_view_job, can_view_project, can_view_task

    state = ctx.state
    model = {"projects": "Project", "tasks": "Task", "jobs": "Job"}[kind]
    ident = ctx.int_param("id", model)
    obj: Any
    if kind == "projects":
        obj = state.projects.get(ident)
        if obj is None:
            raise no_match(model)
        can_view_project(ctx, obj)
    elif kind == "tasks":
        obj = state.tasks.get(ident)
        if obj is None:
            raise no_match(model)
        can_view_task(ctx, obj)
    else:
        obj = state.jobs.get(ident)
        if obj is None:
            raise no_match(model)
        can_view_job(ctx, obj)
    return obj


def _update_time(state: State, kind: str, obj: Any) -> datetime:
    when: datetime = obj.updated
    if kind == "projects":
        for task in state.tasks.values():
            if task.project_id == obj.id and task.updated > when:
                when = task.updated
    return when


def export_dataset(ctx: Ctx, kind: str) -> Response:
    state = ctx.state
    obj = _object(ctx, kind)
    fmt = ctx.req.q("format") or ""
    exporter = next((f for f in formats()["exporters"] if f["name"] == fmt), None)
    if exporter is None:
        raise bad_request(["Unknown format specified for the request"])
    if not exporter.get("enabled", True):
        return empty(405)
    location = ctx.req.q("location") or "local"
    if location not in ("local", "cloud_storage"):
        raise bad_request([f"Unexpected location {location} specified for the request"])
    save_images = _to_bool(ctx.req.q("save_images"))
    subresource = "dataset" if save_images else "annotations"
    target = kind[:-1]
    rq_id = export_rq_id(target, obj.id, ctx.uid, fmt, subresource)
    if running(state, rq_id):
        return json_response("Export request is being processed", 409)
    task: Task | None = None
    project_id: int | None = None
    if kind == "tasks":
        task = obj
        project_id = obj.project_id
    elif kind == "jobs":
        task = state.tasks[obj.task_id]
        project_id = task.project_id
    else:
        project_id = obj.id
    org_id = obj.org_id if kind == "projects" else (task.org_id if task else None)
    if task is not None and (task.data_id is None or not state.data[task.data_id].ready):
        raise html(400, "Exporting annotations from a task without data is not allowed")
    stamp = _update_time(state, kind, obj).strftime("%Y_%m_%d_%H_%M_%S")
    filename = ctx.req.q("filename") or f"{target}_{obj.id}_{subresource}_{stamp}_{fmt.lower()}.zip"
    final, message, payload = "finished", "", None
    if fmt in (CVAT_IMAGES, CVAT_VIDEO):
        export_path = ctx.req.raw_path.rstrip("/")
        xml, images = _dump(ctx, fmt, target, obj, export_path)
        payload = _zip(xml, images if save_images else [], state.now())
    elif fmt == "COCO 1.0":
        final, message = "failed", "TypeError: 'functools.partial' object is not iterable"
    else:
        final, message = "failed", (f"NotImplementedError: the annosync emulator exports only "
                                    f"'{CVAT_IMAGES}' and '{CVAT_VIDEO}', not '{fmt}'")
    enqueue(state, rq_id, type=f"export:{subresource}", target=target, owner_id=ctx.uid,
            stages=["queued", "started"] if final == "finished" else ["queued"],
            project_id=project_id,
            task_id=task.id if task else None, job_id=obj.id if kind == "jobs" else None,
            org_id=org_id, format=fmt, final_status=final, message=message,
            expiry=timedelta(days=1), failed_expiry=timedelta(days=1),
            result_url=result_url(ctx, kind, obj.id, rq_id), result_bytes=payload,
            result_filename=filename)
    return json_response({"rq_id": rq_id}, 202)


def download_dataset(ctx: Ctx, kind: str) -> Response:
    state = ctx.state
    obj = _object(ctx, kind)
    rq_id = ctx.req.q("rq_id") or ""
    rq = state.rq.get(rq_id)
    if rq is None or not rq.id.startswith("action=export") or rq.target != kind[:-1] or \
            f"target_id={obj.id}&" not in rq.id:
        raise html(404, "Unknown export request id")
    finish_now(state, rq)
    if rq.final_status != "finished" or rq.result_bytes is None:
        return json_response(rq.message + "\n", 500)
    resp = Response(200, rq.result_bytes, "application/zip")
    resp.header("content-disposition", f'attachment; filename="{rq.result_filename}"')
    return resp


def retired_dataset_get(ctx: Ctx, kind: str) -> Response:
    _object(ctx, kind)
    raise html(410, EXPORT_410.format(path=f"/api/{kind}/id/dataset/export?save_images=True"))


def retired_annotations_get(ctx: Ctx, kind: str) -> Response:
    _object(ctx, kind)
    raise html(410, EXPORT_410.format(path=f"/api/{kind}/id/dataset/export?save_images=False"))


def import_project_dataset(ctx: Ctx) -> Response:
    """``POST /api/projects/{id}/dataset/`` with a multipart ``dataset_file``: CVAT's
    ``import_dataset_as_project`` (see ``project_import``), all or nothing."""
    state = ctx.state
    project = _object(ctx, "projects")
    fmt = _check_import_format(ctx)
    body = ctx.req.data()
    upload = None
    if isinstance(body, FormData):
        upload = next((f for f in body.files if f.field == "dataset_file"), None)
    if upload is None:
        raise bad_request({"dataset_file": ["No file was submitted."]})
    rq_id = f"action=import&target=project&target_id={project.id}&subresource=dataset"
    final, message = "finished", ""
    before_tasks, before_labels = set(state.tasks), set(state.labels)
    try:
        if fmt != CVAT_IMPORT:
            raise ImportFailure(f"NotImplementedError: the annosync emulator imports only "
                                f"'{CVAT_IMPORT}', not '{fmt}'")
        _import_into_project(ctx, project, upload.data)
    except ImportFailure as exc:
        final, message = "failed", str(exc)
    except ApiError as exc:
        final, message = "failed", f"rest_framework.exceptions.ValidationError: {exc.body}"
    if final == "failed":  # @transaction.atomic: nothing of the import stays
        for tid in set(state.tasks) - before_tasks:
            task = state.tasks.pop(tid)
            for job in state.task_jobs(tid):
                state.jobs.pop(job.id, None)
            if task.data_id is not None:
                state.data.pop(task.data_id, None)
        for lid in set(state.labels) - before_labels:
            state.labels.pop(lid, None)
    enqueue(state, rq_id, type="import:dataset", target="project", owner_id=ctx.uid,
            stages=["started"], project_id=project.id, org_id=project.org_id,
            final_status=final, message=message, expiry=timedelta(hours=1),
            failed_expiry=timedelta(days=30))
    return json_response({"rq_id": rq_id}, 202)


def _import_into_project(ctx: Ctx, project: Project, blob: bytes) -> None:
    """``load_dataset_data`` (labels, one task per subset) then ``import_dm_annotations``."""
    from .data import process_data, validate_data_fields
    from .labels import create_labels
    from .media import MediaError
    from .project_import import TaskFrames, item_annotations, read_dataset

    state = ctx.state
    dataset = read_dataset(blob)
    names = {lb.name for lb in state.labels.values() if lb.project_id == project.id}
    if not names:
        create_labels(state, [{"name": n, "type": "any"} for n in dataset.labels],
                      project_id=project.id)
    for name in dataset.labels:
        if name not in names and names:
            raise ImportFailure(f"cvat.apps.dataset_manager.bindings.CvatImportError: Target "
                                f'project does not have label with name "{name}"')
    params = validate_data_fields({"image_quality": 70, "use_zip_chunks": True})
    for subset, items in dataset.subsets().items():
        now = state.now()
        task = Task(id=state.next_id("task"), name=subset, owner_id=project.owner_id,
                    created=now, updated=now, project_id=project.id, subset=subset,
                    org_id=project.org_id)
        state.tasks[task.id] = task
        data = Data(id=state.next_id("data"))
        state.data[data.id] = data
        task.data_id = data.id
        files = [(i.image_name, i.image) for i in items
                 if i.image is not None and i.image_name is not None]
        try:
            process_data(ctx, task, data, params, files)
        except MediaError as exc:
            raise ImportFailure(str(exc)) from None
        labels = state.task_labels(task)
        frames = TaskFrames(
            names=[f.name for f in data.frames],
            labels={(lb.name, lb.parent_id): lb.id for lb in labels},
            attrs={lb.id: {a.name: (a.id, a.mutable, a.input_type, a.default_value)
                           for a in lb.attributes} for lb in labels})
        out: dict[str, Any] = {"version": 0, "tags": [], "shapes": [], "tracks": []}
        for item in items:
            item_annotations(item, frames, dataset.labels, out)
        task_write(state, task, out, "create")
    project.updated = state.now()


# -- annotation import -------------------------------------------------------------------------

def _target(state: State, task: Task, job: Job | None) -> Target:
    data = state.data[task.data_id] if task.data_id is not None else Data(id=0)
    labels = state.task_labels(task)
    names = [f.name for f in data.frames] if data.media_kind != "video" else \
        [f"frame_{data.start_frame + i * step_of(data):06d}" for i in range(data.size)]
    return Target(
        frame_names=names, start_frame=data.start_frame, step=step_of(data), size=data.size,
        is_video=data.media_kind == "video",
        labels={(lb.name, lb.parent_id): lb.id for lb in labels},
        attrs={lb.id: {a.name: (a.id, a.mutable, a.input_type, a.default_value)
               for a in lb.attributes}
               for lb in labels},
        frame_range=(job.start_frame, job.stop_frame) if job is not None else None,
    )


def _run_import(ctx: Ctx, task: Task, job: Job | None, blob: bytes, fmt: str) -> Response:
    state = ctx.state
    target = "job" if job is not None else "task"
    ident = job.id if job is not None else task.id
    rq_id = f"action=import&target={target}&target_id={ident}&subresource=annotations"
    final, message = "finished", ""
    try:
        if fmt != CVAT_IMPORT:
            raise ImportFailure(f"NotImplementedError: the annosync emulator imports only "
                                f"'{CVAT_IMPORT}', not '{fmt}'")
        data = load_cvat(blob, _target(state, task, job))
        append = (ctx.req.q("import_mode") or "replace") == "append"
        if job is not None:
            if not append:
                clear_job(job)
            job_write(state, task, job, data, "create")
        else:
            if not append:
                task_clear(state, task)
            task_write(state, task, data, "create")
    except ImportFailure as exc:
        final, message = "failed", str(exc)
    except ApiError as exc:
        final, message = "failed", f"rest_framework.exceptions.ValidationError: {exc.body}"
    enqueue(state, rq_id, type="import:annotations", target=target, owner_id=ctx.uid,
            stages=["started", "started"], project_id=task.project_id, task_id=task.id,
            job_id=job.id if job else None, org_id=task.org_id, format=None,
            final_status=final, message=message, expiry=timedelta(hours=1),
            failed_expiry=timedelta(days=30))
    return json_response({"rq_id": rq_id}, 202)


def _check_import_format(ctx: Ctx) -> str:
    fmt = ctx.req.q("format")
    names = {f["name"] for f in formats()["importers"]}
    if fmt not in names:
        raise bad_request([f"Unknown input format '{fmt}'"])
    return str(fmt)


def post_annotations(ctx: Ctx, kind: str) -> Response:
    state = ctx.state
    obj = _object(ctx, kind)
    job: Job | None = obj if kind == "jobs" else None
    task: Task = state.tasks[obj.task_id] if kind == "jobs" else obj
    headers = ctx.req.headers
    base = f"/api/{kind}/{obj.id}/annotations/"
    if "Upload-Start" in headers and "Upload-Finish" not in headers:
        state.uploads[(f"{kind}_annotations", obj.id)] = UploadSession(started=True)
        return empty(202)
    if tus.is_create(ctx) and "Upload-Finish" not in headers:
        resp, _ = tus.create(ctx, base, report_original_name=False)
        return resp
    if "Upload-Finish" in headers:
        fmt = _check_import_format(ctx)
        filename = ctx.req.q("filename") or ""
        files = state.uploads.get((f"{kind}_annotations", obj.id), UploadSession()).files
        blob = next((b for n, b in files if n == filename), None)
        if blob is None:
            body = ctx.req.data()
            if isinstance(body, FormData) and body.files:
                blob = body.files[0].data
        if blob is None:
            raise bad_request(["No such file were uploaded"])
        return _run_import(ctx, task, job, blob, fmt)
    body = ctx.req.data()
    fmt = _check_import_format(ctx)
    upload = None
    if isinstance(body, FormData):
        upload = next((f for f in body.files if f.field == "annotation_file"), None)
    if upload is None:
        raise bad_request({"annotation_file": ["No file was submitted."]})
    return _run_import(ctx, task, job, upload.data, fmt)


def options_annotations(ctx: Ctx, kind: str) -> Response:
    _object(ctx, kind)
    return tus.options(ctx)


def head_annotations_chunk(ctx: Ctx, kind: str) -> Response:
    _object(ctx, kind)
    return tus.head(ctx, ctx.params["file_id"])


def patch_annotations_chunk(ctx: Ctx, kind: str) -> Response:
    obj = _object(ctx, kind)
    key = (f"{kind}_annotations", obj.id)

    def done(tus_file: Any) -> None:
        session = ctx.state.uploads.setdefault(key, UploadSession(started=True))
        session.files.append((tus_file.file_id, bytes(tus_file.data)))

    return tus.patch(ctx, ctx.params["file_id"], done)
