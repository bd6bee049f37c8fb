"""Media probing and frame extraction: images with Pillow, videos with PyAV (as CVAT does).

Why a module: task creation must compute frame sizes, names and counts from the uploaded bytes,
fail with CVAT-like messages on bad files (``PIL.UnidentifiedImageError: ...``), and later serve
frames (JPEG for image tasks, PNG for video frames) and previews.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from dataclasses import dataclass

IMAGE_EXTS = {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".jfif",
              ".pbm", ".pgm", ".ppm", ".ico", ".jp2", ".heic", ".avif"}
VIDEO_EXTS = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpeg", ".mpg", ".m4v", ".wmv", ".flv",
              ".3gp", ".ogv", ".ts", ".mts", ".m2ts", ".vob", ".asf"}
ARCHIVE_EXTS = {".zip"}

# Where CVAT keeps raw uploads (BASE_DIR of the upstream image is /home/django).
RAW_DIR = "/home/django/data/data/{data_id}/raw/{name}"


class MediaError(Exception):
    """A processing failure, with the one-line message CVAT reports in ``/api/requests``."""


def kind_of(name: str) -> str:
    ext = os.path.splitext(name)[1].lower()
    if ext in IMAGE_EXTS:
        return "image"
    if ext in VIDEO_EXTS:
        return "video"
    if ext in ARCHIVE_EXTS:
        return "archive"
    if ext == ".jsonl":
        return "manifest"
    return "unknown"


def natural_key(name: str) -> list[object]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def expand_archives(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Replace zip archives by their image members (CVAT extracts archives on upload)."""
    out: list[tuple[str, bytes]] = []
    for name, data in files:
        if kind_of(name) != "archive":
            out.append((name, data))
            continue
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for info in zf.infolist():
                    if info.is_dir() or kind_of(info.filename) != "image":
                        continue
                    out.append((info.filename, zf.read(info)))
        except zipfile.BadZipFile as exc:
            raise MediaError(f"zipfile.BadZipFile: {exc}") from exc
    return out


def probe_image(data: bytes, path: str) -> tuple[int, int]:
    """Width and height of an image, failing like CVAT (Pillow) does.

    CVAT decodes every image as it makes a task (its manifest's checksum hashes the pixels),
    so a file cut short or corrupt fails the task: the whole image is decoded here too. A JPEG
    is decoded at 1/8 scale (``draft``): libjpeg still reads and entropy-decodes every byte of
    it (where a broken or truncated file fails), but skips most of the inverse DCT and colour
    work, a third of a 500-image upload's processing (``tests/emulator/test_probe.py`` holds
    it to the full decode's answers)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            size = int(img.width), int(img.height)
            img.draft(img.mode, (1, 1))
            img.load()
            return size
    except UnidentifiedImageError:
        raise MediaError(f"PIL.UnidentifiedImageError: cannot identify image file '{path}'") from None
    except OSError as exc:
        raise MediaError(f"OSError: {exc}") from None
    except Exception as exc:  # pragma: no cover - unusual decoder failures
        raise MediaError(f"{type(exc).__name__}: {exc}") from None


@dataclass
class VideoInfo:
    frames: int
    width: int
    height: int


def _exc_name(exc: BaseException) -> str:
    module = type(exc).__module__
    return f"{module}.{type(exc).__name__}" if module and module != "builtins" else type(exc).__name__


def probe_video(data: bytes) -> VideoInfo:
    """Count the decodable frames of a video and read its size (PyAV, like CVAT)."""
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            width = int(stream.codec_context.width)
            height = int(stream.codec_context.height)
            count = 0
            for _frame in container.decode(stream):
                count += 1
    except (IndexError, av.error.FFmpegError) as exc:
        raise MediaError(f"{_exc_name(exc)}: {exc}") from None
    if count == 0:
        raise MediaError("ValueError: No media data found")
    return VideoInfo(count, width, height)


def video_frame_png(data: bytes, index: int) -> bytes:
    """One decoded video frame (source numbering) as PNG, like CVAT's compressed video frames."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        for i, frame in enumerate(container.decode(stream)):
            if i == index:
                image = frame.to_image()
                buf = io.BytesIO()
                image.save(buf, format="PNG")
                return buf.getvalue()
    raise MediaError(f"frame {index} is out of range")


def image_mime(data: bytes) -> str:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = (img.format or "JPEG").lower()
    except Exception:
        return "application/octet-stream"
    return {"jpeg": "image/jpeg", "mpo": "image/jpeg", "png": "image/png", "bmp": "image/bmp",
            "gif": "image/gif", "tiff": "image/tiff", "webp": "image/webp"}.get(fmt, f"image/{fmt}")


def to_jpeg(data: bytes, quality: int, max_size: tuple[int, int] | None = None) -> bytes:
    """Re-encode an image (or a PNG video frame) as a JPEG, optionally thumbnailed."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
        if max_size is not None:
            rgb.thumbnail(max_size)
        buf = io.BytesIO()
        rgb.save(buf, format="JPEG", quality=max(1, min(95, quality)))
        return buf.getvalue()


def chunk_size_for(width: int, height: int) -> int:
    """CVAT's default chunk size for image sets: ``max(2, min(72, 36*1920*1080 // area))``."""
    area = max(1, width * height)
    return max(2, min(72, 36 * 1920 * 1080 // area))
