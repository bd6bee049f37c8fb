"""Probe media once (size, fps, frame count) so the label files record it for planning.

Images are read with Pillow (header only); videos with PyAV, which CVAT itself uses, so the frame
count and size agree with what the server will compute.
"""

from __future__ import annotations

import os
from pathlib import Path

from annosync.errors import InputError
from annosync.model.sample import MediaMetadata

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


def media_kind(path: str | os.PathLike[str]) -> str | None:
    ext = Path(path).suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    return None


def probe_image(path: Path) -> MediaMetadata:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError.at(f"cannot read image: {exc}", str(path)) from exc
    return MediaMetadata(
        media_type="image", width=width, height=height, size_bytes=path.stat().st_size
    )


def probe_video(path: Path) -> MediaMetadata:
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            fps = float(stream.average_rate) if stream.average_rate else None
            frames = int(stream.frames or 0)
            if frames == 0:  # container without a frame count: decode to count, as CVAT does
                frames = sum(1 for _ in container.decode(stream))
    except (av.FFmpegError, IndexError, OSError) as exc:
        raise InputError.at(f"cannot read video: {exc}", str(path)) from exc
    return MediaMetadata(
        media_type="video",
        width=width,
        height=height,
        fps=fps,
        frame_count=frames,
        size_bytes=path.stat().st_size,
    )


def probe(path: str | os.PathLike[str]) -> MediaMetadata:
    p = Path(path)
    kind = media_kind(p)
    if kind == "image":
        return probe_image(p)
    if kind == "video":
        return probe_video(p)
    raise InputError.at("not a supported image or video file (by extension)", str(p))
