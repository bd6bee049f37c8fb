"""Masks as CVAT ``mask`` shapes: the RLE + box convention, resizing, segmentation <-> shapes.

Why a module of its own: masks are where the reference loses data (it never resizes an instance
mask to its box, cvat PR fiftyone#5972) and where CVAT's format is easiest to get wrong.
The convention, checked against cvat-sdk ``masks.encode_mask``, cvat-core ``rle2Mask`` (width =
right - left + 1) and the recordings (recordings2/08: 20x15 box ``[200,150,219,164]``, counts
summing to 300):

- ``points = counts + [left, top, right, bottom]``; the box is integer pixels, right/bottom
  **inclusive**; ``counts`` alternate runs of 0 and 1 over the box, row-major, starting with a
  (possibly empty) run of 0s, summing to ``width * height``. ``BinaryMask.counts`` is exactly
  this list without the box, so an unchanged mask round-trips bit for bit.
- An instance mask covers its detection's box. The box is snapped to whole pixels (each edge to
  the nearest pixel boundary, at least one pixel) and the mask is resized (nearest neighbour) to
  exactly that pixel box, then clipped to the frame. After that first upload the label's box is
  pixel-aligned and its mask has the box's size, so further round trips change nothing.
- A semantic segmentation (an index mask over the frame, resized to the frame size if needed)
  becomes one mask shape per class present (pixel value -> class via ``mask_targets``; value 0 is
  background and never sent). Back from CVAT, the class shapes are painted in order onto a zero
  mask of the frame's size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from annosync.model.labels import BinaryMask, IndexMask


@dataclass(frozen=True)
class PixelBox:
    """An integer pixel box, right/bottom inclusive (CVAT's mask box)."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left + 1

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1


def rle_encode(bitmap: np.ndarray) -> list[int]:
    """CVAT's run lengths of a boolean 2-D array (row-major, starting with a run of 0s)."""
    flat = np.asarray(bitmap, dtype=bool).reshape(-1)
    if flat.size == 0:
        return []
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    counts = np.diff(bounds).astype(int).tolist()
    if flat[0]:
        counts.insert(0, 0)
    return [int(c) for c in counts]


def rle_decode(counts: Sequence[int], height: int, width: int) -> np.ndarray:
    """The boolean array of CVAT run lengths (too short: padded with 0s; too long: cut)."""
    total = height * width
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, np.asarray(counts, dtype=np.int64))
    if flat.size < total:
        flat = np.concatenate((flat, np.zeros(total - flat.size, dtype=bool)))
    return flat[:total].reshape(height, width)


def resize_nearest(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize (pixel centres), deterministic and dependency-free."""
    src_h, src_w = array.shape
    if (src_h, src_w) == (height, width):
        return array
    if src_h == 0 or src_w == 0:
        return np.zeros((height, width), dtype=array.dtype)
    rows = np.minimum(((np.arange(height) + 0.5) * src_h / height).astype(np.int64), src_h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * src_w / width).astype(np.int64), src_w - 1)
    return array[rows[:, None], cols[None, :]]


def _round(v: float) -> int:
    return math.floor(v + 0.5)


def snap_box(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """A relative ``[x, y, w, h]`` as pixel edges ``(left, top, right_excl, bottom_excl)``,
    each edge rounded to the nearest pixel boundary, at least one pixel wide and high."""
    x, y, w, h = box
    left, top = _round(x * width), _round(y * height)
    right, bottom = _round((x + w) * width), _round((y + h) * height)
    return left, top, max(right, left + 1), max(bottom, top + 1)


def instance_to_cvat(mask: np.ndarray, box: Sequence[float], width: int,
                     height: int) -> tuple[list[float], PixelBox] | None:
    """CVAT ``mask`` points for an instance mask covering ``box``; None if off the frame."""
    left, top, right, bottom = snap_box(box, width, height)
    full = resize_nearest(np.asarray(mask, dtype=bool), bottom - top, right - left)
    cl, ct = max(left, 0), max(top, 0)
    cr, cb = min(right, width), min(bottom, height)
    if cr <= cl or cb <= ct:
        return None
    crop = full[ct - top : cb - top, cl - left : cr - left]
    pbox = PixelBox(cl, ct, cr - 1, cb - 1)
    return [*rle_encode(crop), cl, ct, cr - 1, cb - 1], pbox


def parse_mask_points(points: Sequence[float]) -> tuple[list[int], PixelBox] | None:
    """(counts, box) of CVAT ``mask`` points; None if malformed (fewer than 5 numbers, bad box)."""
    if len(points) < 5:
        return None
    left, top, right, bottom = (round(float(v)) for v in points[-4:])
    if right < left or bottom < top:
        return None
    counts = [max(round(float(v)), 0) for v in points[:-4]]
    return counts, PixelBox(left, top, right, bottom)


def mask_from_cvat(points: Sequence[float]) -> tuple[BinaryMask, PixelBox, bool] | None:
    """(mask of the box, box, counts were consistent) from CVAT ``mask`` points."""
    parsed = parse_mask_points(points)
    if parsed is None:
        return None
    counts, box = parsed
    consistent = sum(counts) == box.width * box.height
    if consistent:
        return BinaryMask(size=(box.height, box.width), counts=_canonical(counts)), box, True
    bitmap = rle_decode(counts, box.height, box.width)
    return BinaryMask(size=(box.height, box.width), counts=rle_encode(bitmap)), box, False


def _canonical(counts: list[int]) -> list[int]:
    """Merge empty inner runs so equal masks have equal counts (CVAT may send ``[.., 0, ..]``)."""
    if all(c > 0 for c in counts[1:]):
        return counts
    out: list[int] = []
    bit = 0
    for i, c in enumerate(counts):
        value = i % 2
        if out and value == bit:
            out[-1] += c
            continue
        if c == 0 and i > 0:
            continue
        if not out and value == 1:
            out.append(0)
        out.append(c)
        bit = value
    return out


def polygon_to_mask(flat: Sequence[float]) -> tuple[BinaryMask, PixelBox] | None:
    """Rasterise a CVAT polygon (pixels) into a mask of its pixel bounds (for polygons drawn on
    an instance or segmentation field, as the reference does)."""
    n = len(flat) // 2
    xs, ys = list(flat[0 : 2 * n : 2]), list(flat[1 : 2 * n : 2])
    if n < 3:
        return None
    left, top = math.floor(min(xs)), math.floor(min(ys))
    right, bottom = math.ceil(max(xs)), math.ceil(max(ys))
    w, h = max(right - left, 1), max(bottom - top, 1)
    image = Image.new("1", (w, h), 0)
    ImageDraw.Draw(image).polygon([(x - left, y - top) for x, y in zip(xs, ys, strict=True)], fill=1,
                                  outline=1)
    arr = np.asarray(image, dtype=bool)
    return BinaryMask.from_array(arr), PixelBox(left, top, left + w - 1, top + h - 1)


def segmentation_to_cvat(mask: np.ndarray, targets: Iterable[int], width: int,
                         height: int) -> list[tuple[int, list[float]]]:
    """``[(pixel value, mask points)]`` for each target value present (0 never sent)."""
    frame = resize_nearest(np.asarray(mask), height, width)
    out: list[tuple[int, list[float]]] = []
    for value in sorted(set(targets)):
        if value == 0:
            continue
        bitmap = frame == value
        rows = np.flatnonzero(bitmap.any(axis=1))
        if rows.size == 0:
            continue
        cols = np.flatnonzero(bitmap.any(axis=0))
        t, b, lft, r = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
        counts = rle_encode(bitmap[t : b + 1, lft : r + 1])
        out.append((value, [*counts, lft, t, r, b]))
    return out


def paint(frame: np.ndarray, mask: BinaryMask, box: PixelBox, value: int) -> None:
    """Set ``value`` where ``mask`` (covering ``box``) is on, clipped to ``frame``."""
    bitmap = mask.to_array()
    height, width = frame.shape
    cl, ct = max(box.left, 0), max(box.top, 0)
    cr, cb = min(box.right + 1, width), min(box.bottom + 1, height)
    if cr <= cl or cb <= ct:
        return
    part = bitmap[ct - box.top : cb - box.top, cl - box.left : cr - box.left]
    frame[ct:cb, cl:cr][part] = value


def index_mask(frame: np.ndarray) -> IndexMask:
    return IndexMask.from_array(frame)
