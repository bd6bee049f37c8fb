"""Mask conventions: CVAT's RLE + inclusive box (checked on recorded masks), resizing an instance
mask to exactly its pixel box, segmentation <-> per-class mask shapes."""

from __future__ import annotations

from typing import Any

import numpy as np
from convert_support import IMAGE_BOUND, exchanges, image_frames, pixel_mask
from hypothesis import given
from hypothesis import strategies as st

from annosync.convert import from_cvat, to_cvat
from annosync.convert.masks import (
    instance_to_cvat,
    mask_from_cvat,
    resize_nearest,
    rle_decode,
    rle_encode,
    segmentation_to_cvat,
    snap_box,
)
from annosync.model.labels import BinaryMask, Detection, Detections, IndexMask, Segmentation
from annosync.model.sample import Sample


def _recorded_masks() -> list[list[float]]:
    out = []
    for name in ("recordings2/08_annotations.json", "recordings2/09_video.json"):
        for ex in exchanges(name):
            body = ex.get("response_body")
            if isinstance(body, dict):
                out.extend(s["points"] for s in body.get("shapes", []) if s.get("type") == "mask")
    return out


def test_recorded_masks_follow_the_convention() -> None:
    masks = _recorded_masks()
    assert masks, "the recordings hold mask shapes"
    valid = 0
    for points in masks:
        made = mask_from_cvat(points)
        assert made is not None
        mask, box, consistent = made
        assert mask.size == (box.height, box.width)
        if not consistent:
            # recordings2/08 stores one RLE that does not add up on purpose (CVAT accepts it)
            assert sum(points[:-4]) < box.width * box.height
            continue
        valid += 1
        # counts sum to (right-left+1) * (bottom-top+1): the box is inclusive; and encoding the
        # decoded mask again gives CVAT's exact points
        assert [*rle_encode(mask.to_array()), box.left, box.top, box.right, box.bottom] == \
            [int(p) for p in points]
    assert valid >= 4


def test_recorded_disc_decodes_row_major() -> None:
    # recordings2/08: a 20x15 box at (200, 150). 26 zeros = row 0 and 6 pixels of row 1, then
    # 8 ones (row 1, x 6..13), 10 zeros (the rest of row 1, 4 of row 2), 12 ones (row 2, x 4..15)
    points = [26, 8, 10, 12, 7, 14, 5, 16, 3, 18, 2, 18, 2, 1, 4, 13, 2, 18, 2, 18, 3, 16, 5,
              14, 7, 12, 10, 8, 26, 200, 150, 219, 164]
    made = mask_from_cvat(points)
    assert made is not None
    arr = made[0].to_array()
    assert arr.shape == (15, 20)
    assert not arr[0].any()
    assert arr[1, 6:14].all() and not arr[1, :6].any() and not arr[1, 14:].any()
    assert arr[2, 4:16].all() and not arr[2, :4].any() and not arr[2, 16:].any()
    assert (arr == arr[::-1]).all()  # the recorded disc is symmetric top to bottom


@given(pixel_mask(max_side=40))
def test_rle_round_trip(mask: np.ndarray) -> None:
    counts = rle_encode(mask)
    assert sum(counts) == mask.size
    assert all(c > 0 for c in counts[1:])
    assert (rle_decode(counts, *mask.shape) == mask).all()
    assert counts == BinaryMask.from_array(mask).counts


def test_bad_rle_from_cvat_is_padded_not_fatal() -> None:
    made = mask_from_cvat([3, 2, 10, 10, 11, 11])  # 5 pixels for a 2x2 box (cvat#9460)
    assert made is not None
    mask, _box, consistent = made
    assert not consistent and mask.size == (2, 2) and sum(mask.counts) == 4


@st.composite
def _resized_instance(draw: Any) -> tuple[Detection, int, int]:
    width = draw(st.integers(min_value=8, max_value=200))
    height = draw(st.integers(min_value=8, max_value=200))
    x = draw(st.floats(min_value=-0.2, max_value=0.9))
    y = draw(st.floats(min_value=-0.2, max_value=0.9))
    w = draw(st.floats(min_value=0.0, max_value=0.5))
    h = draw(st.floats(min_value=0.0, max_value=0.5))
    mask = draw(pixel_mask(max_side=30))
    det = Detection(label="car", bounding_box=(x, y, w, h),
                    mask=BinaryMask.from_array(mask), attributes={"occ": False})
    return det, width, height


@given(_resized_instance())
def test_instance_mask_is_resized_to_its_box_then_stable(case: Any) -> None:
    det, width, height = case
    frames = image_frames([(width, height)])
    sample = Sample(media="a.jpg", fields={"inst": Detections(detections=[det])})
    up = to_cvat([sample], ["inst"], frames, IMAGE_BOUND)
    if not up.data.shapes:
        assert any("outside the frame" in n for n in up.notes)
        return
    shape = up.data.shapes[0]
    counts, box = shape.points[:-4], shape.points[-4:]
    left, top, right, bottom = (int(v) for v in box)
    assert sum(counts) == (right - left + 1) * (bottom - top + 1)  # exactly the pixel box
    snapped = snap_box(det.bounding_box, width, height)
    assert (left, top) == (max(snapped[0], 0), max(snapped[1], 0))
    got = from_cvat(up.data, frames, IMAGE_BOUND).samples[0].fields["inst"].detections[0]
    assert got.mask.size == (bottom - top + 1, right - left + 1)
    # the first upload changed the mask's resolution; from now on nothing moves
    again = to_cvat([Sample(media="a.jpg", fields={"inst": Detections(detections=[got])})],
                    ["inst"], frames, IMAGE_BOUND)
    assert again.data.to_api() == up.data.to_api()
    back = from_cvat(again.data, frames, IMAGE_BOUND).samples[0].fields["inst"].detections[0]
    assert back.mask == got.mask and back.bounding_box == got.bounding_box


def test_upscaled_mask_is_nearest_neighbour() -> None:
    small = np.array([[1, 0], [0, 1]], dtype=bool)
    big = resize_nearest(small, 4, 4)
    assert big.tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]
    _points, box = instance_to_cvat(small, (0.0, 0.0, 0.5, 0.5), 8, 8) or ([], None)
    assert box is not None and (box.left, box.top, box.right, box.bottom) == (0, 0, 3, 3)


def test_segmentation_sends_one_mask_per_class_and_skips_background() -> None:
    arr = np.array([[0, 1, 1, 0], [2, 2, 0, 0], [0, 0, 0, 5]])
    shapes = segmentation_to_cvat(arr, [1, 2, 5, 9], 4, 3)
    assert [v for v, _ in shapes] == [1, 2, 5]
    one = dict(shapes)[1]
    assert one[-4:] == [1, 0, 2, 0] and one[:-4] == [0, 2]


def test_segmentation_is_resized_to_the_frame() -> None:
    seg = Segmentation(mask=IndexMask.from_array(np.array([[1, 2], [0, 5]])))
    frames = image_frames([(6, 4)])
    up = to_cvat([Sample(media="a.jpg", fields={"seg": seg})], ["seg"], frames, IMAGE_BOUND)
    got = from_cvat(up.data, frames, IMAGE_BOUND).samples[0].fields["seg"]
    assert got.id == seg.id
    assert got.mask.size == (4, 6)
    assert got.mask.to_array().tolist() == resize_nearest(np.array([[1, 2], [0, 5]]), 4, 6).tolist()
