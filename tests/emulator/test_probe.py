"""``media.probe_image`` decodes a JPEG at 1/8 scale (``draft``) to find what CVAT's full
decode finds: the same size for a sound image, the same one-line failure for a broken or
truncated one, whatever the JPEG's kind (baseline or progressive, subsampling, colour mode)."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, UnidentifiedImageError

from annosync.emulator.media import MediaError, probe_image

PATH = "/home/django/data/data/1/raw/x.jpg"


def full_decode(data: bytes, path: str) -> tuple[int, int]:
    """The probe as it was: every pixel decoded at full size (CVAT's checksum of the pixels)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return int(img.width), int(img.height)
    except UnidentifiedImageError:
        raise MediaError(f"PIL.UnidentifiedImageError: cannot identify image file '{path}'") from None
    except OSError as exc:
        raise MediaError(f"OSError: {exc}") from None
    except Exception as exc:  # the probe's own catch-all, kept alike
        raise MediaError(f"{type(exc).__name__}: {exc}") from None


def outcome(probe: Any, data: bytes) -> tuple[str, object]:
    try:
        return "size", probe(data, PATH)
    except MediaError as exc:
        return "error", str(exc)


@st.composite
def images(draw: Any) -> bytes:
    """A small image file: noisy or flat pixels, JPEG of every kind, or PNG/GIF/BMP."""
    width, height = draw(st.integers(1, 80)), draw(st.integers(1, 80))
    mode = draw(st.sampled_from(["RGB", "L", "CMYK"]))
    rng = random.Random(draw(st.integers(0, 2**32)))
    if draw(st.booleans()):
        pixels = rng.randbytes(width * height * len(mode))
    else:
        pixels = bytes([rng.randrange(256)]) * (width * height * len(mode))
    img = Image.frombytes(mode, (width, height), pixels)
    fmt = draw(st.sampled_from(["JPEG"] * 6 + ["PNG", "GIF", "BMP"]))
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, format="JPEG", quality=draw(st.integers(5, 100)),
                 subsampling=draw(st.sampled_from([0, 1, 2])),
                 progressive=draw(st.booleans()), optimize=draw(st.booleans()))
    else:
        (img if mode != "CMYK" else img.convert("RGB")).save(buf, format=fmt)
    return buf.getvalue()


@st.composite
def damaged(draw: Any) -> bytes:
    """An image as uploaded: whole, cut short, with bytes changed, or with bytes inserted."""
    data = draw(images())
    how = draw(st.sampled_from(["whole", "cut", "flip", "insert"]))
    if how == "cut":
        return data[: draw(st.integers(0, len(data) - 1))]
    at = draw(st.integers(0, len(data) - 1))
    if how == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    if how == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return data


@settings(max_examples=300, deadline=None)
@given(damaged())
def test_the_probe_answers_what_a_full_decode_answers(data: bytes) -> None:
    assert outcome(probe_image, data) == outcome(full_decode, data)


@pytest.mark.parametrize(("cut", "message"), [
    (300, "OSError: Truncated File Read"),  # recordings2/06_data_upload.json, seq 144
    (2000, "OSError: image file is truncated"),
])
def test_a_jpeg_cut_short_fails_like_cvat(cut: int, message: str) -> None:
    rng = random.Random(0)
    buf = io.BytesIO()
    Image.frombytes("RGB", (64, 48), rng.randbytes(64 * 48 * 3)).save(buf, format="JPEG")
    data = buf.getvalue()
    assert len(data) > cut
    with pytest.raises(MediaError) as err:
        probe_image(data[:cut], PATH)
    assert str(err.value).startswith(message)
    assert probe_image(data, PATH) == (64, 48)
