"""``/api/tasks/<id>/data``: uploads (single, Upload-Start/Multiple/Finish, TUS), task creation
from media, ``data/meta`` and frame/chunk/preview serving.

Why a module: attaching media is the most protocol-heavy part of CVAT's API. The rules here
follow ``recordings2/06_data_upload.json`` and ``09_video.json``: ``image_quality`` is
required, frames are probed (Pillow/PyAV), jobs are cut by ``segment_size`` (videos get an
overlap of ``min(5, segment_size // 2)``), failures leave the task with ``size`` 0 and no jobs.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from datetime import timedelta
from typing import Any

from . import media, tus
from .context import Ctx
from .errors import ApiError, bad_request, no_match
from .media import MediaError
from .rq import create_rq_id, enqueue
from .state import Data, Frame, Job, State, Task, TusFile, UploadSession, iso
from .tasks import get_task_obj, make_jobs
from .wire import FormData, Response, empty, json_response

SORTING = ("lexicographical", "natural", "predefined", "random")
CREATE_FINISHED_EXPIRY = timedelta(seconds=500)
CREATE_FAILED_EXPIRY = timedelta(days=365)


# -- request parsing -------------------------------------------------------------------------

def _list_field(body: Any, name: str) -> list[Any]:
    if isinstance(body, FormData):
        items: list[tuple[int, str]] = []
        plain: list[str] = []
        pattern = re.compile(rf"^{re.escape(name)}\[(\d+)\]$")
        for key, value in body.fields:
            match = pattern.match(key)
            if match:
                items.append((int(match.group(1)), value))
            elif key == name:
                plain.append(value)
        return [v for _, v in sorted(items)] + plain
    value = body.get(name, []) if isinstance(body, dict) else []
    return list(value) if isinstance(value, list) else []


def _client_files(body: Any) -> list[tuple[str, bytes]]:
    if not isinstance(body, FormData):
        return []
    indexed: list[tuple[int, int, str, bytes]] = []
    pattern = re.compile(r"^client_files\[(\d+)\]$")
    for order, part in enumerate(body.files):
        match = pattern.match(part.field)
        if match:
            indexed.append((int(match.group(1)), order, part.filename, part.data))
        elif part.field == "client_files":
            indexed.append((10**9, order, part.filename, part.data))
    return [(name, data) for _, _, name, data in sorted(indexed)]


def _field(body: Any, name: str) -> Any:
    if isinstance(body, FormData):
        return body.get(name)
    return body.get(name) if isinstance(body, dict) else None


def _has(body: Any, name: str) -> bool:
    if isinstance(body, FormData):
        return any(k == name for k, _ in body.fields)
    return isinstance(body, dict) and name in body


def _int(value: Any, name: str, errors: dict[str, Any], *, minimum: int | None = 0,
         maximum: int | None = None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        errors[name] = ["A valid integer is required."]
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors[name] = ["A valid integer is required."]
        return None
    if minimum is not None and number < minimum:
        errors[name] = [f"Ensure this value is greater than or equal to {minimum}."]
        return None
    if maximum is not None and number > maximum:
        errors[name] = [f"Ensure this value is less than or equal to {maximum}."]
        return None
    return number


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def validate_data_fields(body: Any) -> dict[str, Any]:
    """CVAT's ``DataSerializer``: field errors first, then the object-level checks."""
    errors: dict[str, Any] = {}
    out: dict[str, Any] = {}
    out["image_quality"] = _int(_field(body, "image_quality"), "image_quality", errors, minimum=0,
                                maximum=100)
    out["chunk_size"] = _int(_field(body, "chunk_size"), "chunk_size", errors, minimum=0)
    if out["chunk_size"] == 0 and "chunk_size" not in errors and _has(body, "chunk_size"):
        errors["chunk_size"] = ["Chunk size must be a positive integer"]
    out["start_frame"] = _int(_field(body, "start_frame"), "start_frame", errors)
    out["stop_frame"] = _int(_field(body, "stop_frame"), "stop_frame", errors)
    frame_filter = _field(body, "frame_filter")
    if frame_filter not in (None, "") and not re.search(r"step\s*=\s*([1-9]\d*)",
                                                        str(frame_filter)):
        errors["frame_filter"] = ["Invalid frame filter expression"]
    out["frame_filter"] = str(frame_filter or "")
    sorting = _field(body, "sorting_method")
    if sorting not in (None, "") and sorting not in SORTING:
        errors["sorting_method"] = [f'"{sorting}" is not a valid choice.']
    out["sorting_method"] = sorting or "lexicographical"
    out["use_cache"] = _bool(_field(body, "use_cache") or False)
    out["use_zip_chunks"] = _bool(_field(body, "use_zip_chunks") or False)
    out["copy_data"] = _bool(_field(body, "copy_data") or False)
    cloud = _field(body, "cloud_storage_id")
    out["cloud_storage_id"] = _int(cloud, "cloud_storage_id", errors) if cloud is not None else None
    out["server_files"] = [str(v) for v in _list_field(body, "server_files")]
    out["remote_files"] = [str(v) for v in _list_field(body, "remote_files")]
    out["upload_file_order"] = [str(v) for v in _list_field(body, "upload_file_order")]
    out["filename_pattern"] = _field(body, "filename_pattern")
    if errors:
        raise bad_request(errors)
    if (out["start_frame"] is not None and out["stop_frame"] is not None
            and out["start_frame"] > out["stop_frame"]):
        raise bad_request({"non_field_errors": ["Stop frame must be more or equal start frame"]})
    if out["image_quality"] is None:
        raise bad_request({"image_quality": ["This field is required."]})
    return out


# -- processing (the "worker") ----------------------------------------------------------------

def _sorted_files(files: list[tuple[str, bytes]], method: str, order: list[str],
                  state: State) -> list[tuple[str, bytes]]:
    if method == "lexicographical":
        return sorted(files, key=lambda f: f[0])
    if method == "natural":
        return sorted(files, key=lambda f: media.natural_key(f[0]))
    if method == "random":
        shuffled = list(files)
        state.rng.shuffle(shuffled)
        return shuffled
    if order:
        by_name = {name: (name, data) for name, data in files}
        if set(by_name) != set(order):
            mismatch = sorted(set(by_name) ^ set(order))
            raise MediaError("Uploaded files do not match the 'upload_file_order' field contents. "
                             "Please check the uploaded data and the list of uploaded files. "
                             "Mismatching files: " + ", ".join(mismatch[:5]))
        return [by_name[name] for name in order]
    return list(files)


def _gather(ctx: Ctx, task: Task, data: Data, params: dict[str, Any],
            files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    from .cloud import read_bucket_files, read_share_files

    gathered = list(files)
    if params["server_files"]:
        if params["cloud_storage_id"] is not None:
            gathered.extend(read_bucket_files(ctx.state, params["cloud_storage_id"],
                                              params["server_files"]))
            data.storage = "cloud_storage"
            data.cloud_storage_id = params["cloud_storage_id"]
        else:
            gathered.extend(read_share_files(ctx.state, params["server_files"]))
            data.storage = "local" if params["copy_data"] else "share"
    if params["remote_files"]:
        raise MediaError("ValueError: remote files cannot be downloaded by the emulator "
                         "(no network access)")
    return [f for f in gathered if media.kind_of(f[0]) != "manifest"]


def process_data(ctx: Ctx, task: Task, data: Data, params: dict[str, Any],
                 files: list[tuple[str, bytes]]) -> None:
    """Create task frames and jobs from media, like CVAT's ``_create_thread``.

    Raises ``MediaError`` with CVAT's message when the media cannot be used.
    """
    state = ctx.state
    files = _gather(ctx, task, data, params, files)
    files = media.expand_archives(files)
    if not files:
        raise MediaError("ValueError: No media data found")
    kinds = {media.kind_of(name) for name, _ in files}
    videos = [f for f in files if media.kind_of(f[0]) == "video"]
    if videos and (len(videos) > 1 or kinds - {"video"}):
        raise MediaError("ValueError: Only one video or a set of images can be used in a task")
    if kinds - {"video", "image"}:
        unknown = [name for name, _ in files if media.kind_of(name) not in ("video", "image")]
        raise MediaError(f"ValueError: File with meta information can only be uploaded with "
                         f"'{', '.join(unknown[:1])}'")
    step = 1
    match = re.search(r"step\s*=\s*([1-9]\d*)", params["frame_filter"] or "")
    if match:
        step = int(match.group(1))
    start = params["start_frame"] or 0
    if videos:
        name, blob = videos[0]
        info = media.probe_video(blob)
        last = info.frames - 1
        stop = last if params["stop_frame"] is None else min(params["stop_frame"], last)
        if start > last:
            raise MediaError(f"ValueError: Invalid start frame {start} for a video with "
                             f"{info.frames} frames")
        stop = start + ((stop - start) // step) * step
        data.size = (stop - start) // step + 1
        data.frames = [Frame(name, info.width, info.height)]
        data.video_name = name
        data.files = {name: blob}
        data.media_kind = "video"
        data.original_chunk_type = data.compressed_chunk_type = "video"
        data.chunk_size = params["chunk_size"] or 36
        task.mode = "interpolation"
    else:
        ordered = _sorted_files(files, params["sorting_method"], params["upload_file_order"], state)
        frames: list[Frame] = []
        for name, blob in ordered:
            width, height = media.probe_image(blob, media.RAW_DIR.format(data_id=data.id, name=name))
            frames.append(Frame(name, width, height))
        last = len(ordered) - 1
        stop = last if params["stop_frame"] is None else min(params["stop_frame"], last)
        if start > last:
            raise MediaError("ValueError: No media data found")
        picked = list(range(start, stop + 1, step))
        stop = picked[-1]
        data.size = len(picked)
        data.frames = [frames[i] for i in picked]
        data.files = {ordered[i][0]: ordered[i][1] for i in picked}
        data.media_kind = "image"
        data.original_chunk_type = data.compressed_chunk_type = "imageset"
        data.chunk_size = params["chunk_size"] or media.chunk_size_for(frames[start].width,
                                                                       frames[start].height)
        task.mode = "annotation"
    data.start_frame = start
    data.stop_frame = stop
    data.frame_filter = params["frame_filter"] or ""
    data.image_quality = params["image_quality"]
    data.sorting_method = params["sorting_method"]
    data.storage_method = "cache" if params["use_cache"] else "file_system"
    task.dimension = "2d"
    size = data.size
    segment_size = task.segment_size
    if segment_size <= 0 or segment_size >= size:
        segment_size, overlap = size, 0
    else:
        default = 5 if task.mode == "interpolation" else 0
        overlap = min(task.overlap if task.overlap is not None else default, segment_size // 2)
    task.segment_size = segment_size
    task.overlap = overlap
    data.chunks_updated = state.now()
    make_jobs(state, task, size, segment_size, overlap)
    data.ready = True
    state.touch_task(task)


def _start_creation(ctx: Ctx, task: Task, params: dict[str, Any],
                    files: list[tuple[str, bytes]]) -> Response:
    state = ctx.state
    data = _ensure_data(ctx, task)
    rq_id = create_rq_id(task.id)
    final, message = "finished", ""
    try:
        process_data(ctx, task, data, params, files)
    except MediaError as exc:
        final, message = "failed", str(exc)
        data.size = 0
        data.frames = []
        data.files = {}
        state.touch_task(task)
    enqueue(state, rq_id, type="create:task", target="task", owner_id=ctx.uid,
            stages=["started"], project_id=task.project_id, task_id=task.id, org_id=task.org_id,
            final_status=final, message=message, expiry=CREATE_FINISHED_EXPIRY,
            failed_expiry=CREATE_FAILED_EXPIRY)
    state.uploads.pop(("task_data", task.id), None)
    return json_response({"rq_id": rq_id}, 202)


def _ensure_data(ctx: Ctx, task: Task) -> Data:
    state = ctx.state
    if task.data_id is None or task.data_id not in state.data:
        data = Data(id=state.next_id("data"))
        state.data[data.id] = data
        task.data_id = data.id
    return state.data[task.data_id]


def _check_can_add(ctx: Ctx, task: Task) -> None:
    data = ctx.state.data.get(task.data_id) if task.data_id is not None else None
    if data is not None and data.size != 0:
        raise bad_request(["Adding more data is not supported"])


# -- endpoints -------------------------------------------------------------------------------

def post_data(ctx: Ctx) -> Response:
    task = get_task_obj(ctx)
    _check_can_add(ctx, task)
    state = ctx.state
    headers = ctx.req.headers
    key = ("task_data", task.id)
    if "Upload-Start" in headers and "Upload-Finish" not in headers:
        _ensure_data(ctx, task)
        state.uploads[key] = UploadSession(started=True)
        return empty(202)
    if "Upload-Multiple" in headers:
        body = ctx.req.data()
        session = state.uploads.setdefault(key, UploadSession(started=True))
        session.files.extend(_client_files(body))
        return empty(200)
    if tus.is_create(ctx) and "Upload-Finish" not in headers:
        _ensure_data(ctx, task)
        session = state.uploads.setdefault(key, UploadSession(started=True))
        resp, _ = tus.create(ctx, f"/api/tasks/{task.id}/data/", report_original_name=True)
        return resp
    body = ctx.req.data()
    params = validate_data_fields(body)
    files = list(state.uploads.get(key, UploadSession()).files) if "Upload-Finish" in headers else []
    files.extend(_client_files(body))
    return _start_creation(ctx, task, params, files)


def options_data(ctx: Ctx) -> Response:
    task = get_task_obj(ctx)
    _check_can_add(ctx, task)
    return tus.options(ctx)


def _tus_target(ctx: Ctx) -> tuple[Task, str]:
    task = get_task_obj(ctx)
    return task, ctx.params["file_id"]


def head_data_chunk(ctx: Ctx) -> Response:
    _, file_id = _tus_target(ctx)
    return tus.head(ctx, file_id)


def patch_data_chunk(ctx: Ctx) -> Response:
    task, file_id = _tus_target(ctx)
    key = ("task_data", task.id)

    def done(tus_file: TusFile) -> None:
        session = ctx.state.uploads.setdefault(key, UploadSession(started=True))
        session.files.append((tus_file.filename, bytes(tus_file.data)))

    return tus.patch(ctx, file_id, done)


# -- meta and frames -------------------------------------------------------------------------

def _frame_json(frame: Frame) -> dict[str, Any]:
    return {"width": frame.width, "height": frame.height, "name": frame.name,
            "related_files": 0, "has_related_context": False}


def _task_data(ctx: Ctx, task: Task) -> Data:
    data = ctx.state.data.get(task.data_id) if task.data_id is not None else None
    if data is None:
        raise no_match("Data")
    return data


def step_of(data: Data) -> int:
    match = re.search(r"step\s*=\s*([1-9]\d*)", data.frame_filter or "")
    return int(match.group(1)) if match else 1


def meta_json(data: Data, *, start: int, stop: int, size: int, frames: list[Frame],
              chunks_updated: Any) -> dict[str, Any]:
    return {
        "chapters": [] if data.media_kind == "video" else None,
        "chunks_updated_date": iso(chunks_updated),
        "chunk_size": data.chunk_size,
        "size": size,
        "image_quality": data.image_quality,
        "start_frame": start,
        "stop_frame": stop,
        "frame_filter": data.frame_filter,
        "frames": [_frame_json(f) for f in frames],
        "deleted_frames": list(data.deleted_frames),
        "included_frames": None,
        "storage": data.storage,
        "cloud_storage_id": data.cloud_storage_id,
    }


def task_meta(ctx: Ctx) -> Response:
    task = get_task_obj(ctx)
    data = _task_data(ctx, task)
    return json_response(meta_json(data, start=data.start_frame, stop=data.stop_frame,
                                   size=data.size, frames=data.frames,
                                   chunks_updated=data.chunks_updated or task.updated))


def _deleted_frames(body: dict[str, Any], allowed: range) -> list[int] | None:
    if "deleted_frames" not in body:
        return None
    raw = body["deleted_frames"]
    if not isinstance(raw, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in raw):
        raise bad_request({"deleted_frames": ["A valid integer is required."]})
    if len(set(raw)) != len(raw):
        raise bad_request({"deleted_frames": ["Deleted frames cannot repeat"]})
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise bad_request({"deleted_frames": [
            "Unknown frames {} requested for removal".format(", ".join(map(str, unknown)))]})
    return sorted(raw)


def patch_task_meta(ctx: Ctx) -> Response:
    task = get_task_obj(ctx)
    data = _task_data(ctx, task)
    frames = _deleted_frames(ctx.json_body(), range(data.size))
    if frames is not None:
        data.deleted_frames = frames
        ctx.state.touch_task(task)
    return task_meta(ctx)


def job_meta_json(state: State, job: Job) -> dict[str, Any]:
    task = state.tasks[job.task_id]
    data = state.data[task.data_id] if task.data_id is not None else Data(id=0)
    step = step_of(data)
    start = data.start_frame + job.start_frame * step
    stop = min(data.stop_frame, data.start_frame + job.stop_frame * step)
    if data.media_kind == "video":
        frames = list(data.frames)
    else:
        frames = data.frames[job.start_frame: job.stop_frame + 1]
    out = meta_json(data, start=start, stop=stop, size=job.stop_frame - job.start_frame + 1,
                    frames=frames, chunks_updated=data.chunks_updated or job.created)
    out["deleted_frames"] = [f for f in data.deleted_frames if job.start_frame <= f <= job.stop_frame]
    return out


def frame_bytes(state: State, data: Data, number: int, quality: str) -> tuple[bytes, str]:
    """Frame ``number`` (task numbering) as served by ``/data?type=frame``."""
    if data.media_kind == "video":
        assert data.video_name is not None
        png = media.video_frame_png(data.files[data.video_name],
                                    data.start_frame + number * step_of(data))
        if quality == "original":
            return png, "image/png"
        return png, "image/png"
    frame = data.frames[number]
    blob = data.files[frame.name]
    if quality == "original":
        return blob, media.image_mime(blob)
    return media.to_jpeg(blob, data.image_quality or 70), "image/jpeg"


def _data_getter(ctx: Ctx, data: Data, lo: int, hi: int) -> Response:
    req = ctx.req
    kind = req.q("type")
    number_raw = req.q("number")
    quality = req.q("quality") or "compressed"
    if kind not in ("chunk", "frame", "preview", "context_image"):
        raise bad_request(["Data type not specified or has wrong value"])
    if kind in ("chunk", "frame") and number_raw is None:
        raise bad_request(["Number is not specified"])
    if quality not in ("compressed", "original"):
        raise bad_request(["Wrong quality value"])
    if not data.ready:
        raise bad_request(["Data is not available"])
    if kind == "preview":
        return _preview(ctx, data)
    if kind == "context_image":
        return empty(404)
    try:
        number = int(number_raw or "0")
    except ValueError:
        raise bad_request(["A valid integer is required."]) from None
    state = ctx.state
    if kind == "frame":
        if not lo <= number <= hi:
            return json_response(f"Invalid frame '{number}'. The frame number should be in the "
                                 f"[{lo}, {hi + 1}] range", 400)
        blob, mime = frame_bytes(state, data, number, quality)
        return Response(200, blob, mime)
    chunk_size = data.chunk_size or 1
    chunks = (data.size + chunk_size - 1) // chunk_size
    if not 0 <= number < chunks:
        return json_response(f"Invalid chunk number '{number}'. The chunk number should be in the "
                             f"[0, {chunks}] range", 400)
    if data.media_kind == "video":
        assert data.video_name is not None
        blob = data.files[data.video_name]
        resp = Response(200, blob, "video/mp4")
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            first = number * chunk_size
            for i in range(first, min(first + chunk_size, data.size)):
                blob, _ = frame_bytes(state, data, i, quality)
                ext = ".jpeg" if quality == "compressed" else os.path.splitext(data.frames[i].name)[1]
                zf.writestr(f"{i:06d}{ext}", blob)
        resp = Response(200, buf.getvalue(), "application/zip")
    resp.header("x-checksum", str(len(resp.body)))
    resp.header("x-updated-date", iso(data.chunks_updated) or "")
    resp.header("accept-ranges", "bytes")
    return resp


def _preview(ctx: Ctx, data: Data) -> Response:
    blob, _ = frame_bytes(ctx.state, data, 0, "original")
    return Response(200, media.to_jpeg(blob, 85, (256, 256)), "image/jpeg")


def get_task_data(ctx: Ctx) -> Response:
    task = get_task_obj(ctx)
    data = _task_data(ctx, task)
    return _data_getter(ctx, data, 0, max(0, data.size - 1))


def task_preview(ctx: Ctx) -> Response:
    task = get_task_obj(ctx)
    data = ctx.state.data.get(task.data_id) if task.data_id is not None else None
    if data is None or not data.ready:
        raise ApiError(404, "Task image preview not found", kind="html")
    return _preview(ctx, data)
