"""Small media for emulator tests, made on the fly with Pillow and PyAV."""

from __future__ import annotations

import io
import zlib
from functools import cache


@cache
def jpeg(width: int = 640, height: int = 480, seed: int = 0) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), ((seed * 37) % 256, (seed * 91) % 256, 120))
    draw = ImageDraw.Draw(img)
    draw.rectangle([width // 4, height // 4, width // 2, height // 2], fill=(250, 250, 250))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@cache
def png(width: int, height: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buf, format="PNG")
    return buf.getvalue()


def padded_png(width: int, height: int, size: int) -> bytes:
    """A valid PNG padded with zeros to exactly ``size`` bytes (readers stop at IEND)."""
    data = png(width, height)
    assert len(data) <= size
    return data + b"\0" * (size - len(data))


@cache
def mp4(frames: int = 40, width: int = 320, height: int = 240) -> bytes:
    """A short H.264 video whose frames differ (a moving square)."""
    import av
    from PIL import Image, ImageDraw

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            img = Image.new("RGB", (width, height), (20, 20, 20))
            ImageDraw.Draw(img).rectangle([i * 2, 10, i * 2 + 20, 30], fill=(255, 255, 255))
            frame = av.VideoFrame.from_image(img)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def checksum(data: bytes) -> int:
    return zlib.crc32(data)
