"""The review drawing: pixels where boxes, masks, polygons and keypoints were drawn, in the
colour of their change; a video's changed frames as a strip decoded with PyAV."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from annosync.dataset.folder import DatasetFolder
from annosync.model.labels import (
    BinaryMask,
    Detection,
    Detections,
    IndexMask,
    Keypoint,
    Keypoints,
    Polyline,
    Polylines,
    Segmentation,
)
from annosync.model.sample import MediaMetadata, Sample
from annosync.visual.changes import diff_samples
from annosync.visual.draw import COLORS, MASK_ALPHA, Panel, render
from annosync.visual.gallery import write_review

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
W, H = 200, 100


def blend(color: tuple[int, int, int], under: tuple[int, int, int] = (0, 0, 0),
          alpha: int = MASK_ALPHA) -> tuple[int, ...]:
    return tuple(round(c * alpha / 255 + u * (1 - alpha / 255)) for c, u in zip(color, under, strict=True))


def close(got: tuple[int, ...], want: tuple[int, ...], tol: int = 3) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(got[:3], want[:3], strict=True))


@pytest.fixture
def black(tmp_path: Path) -> Path:
    Image.new("RGB", (W, H), (0, 0, 0)).save(tmp_path / "black.png")
    return tmp_path


def at(image: Image.Image, panel: Panel, rx: float, ry: float) -> tuple[int, ...]:
    x, y = panel.to_px(rx, ry, W, H)
    return image.getpixel((round(x), round(y)))


def test_boxes_masks_polygons_keypoints_take_their_change_colour(black: Path) -> None:
    keep = Detection(label="sign", bounding_box=(0.05, 0.05, 0.1, 0.2))
    moved = Detection(label="car", bounding_box=(0.1, 0.4, 0.2, 0.4))
    gone = Detection(label="truck", bounding_box=(0.6, 0.1, 0.3, 0.3))
    block = [[True] * 10 for _ in range(10)]
    added = Detection(label="person", bounding_box=(0.5, 0.5, 0.2, 0.4),
                      mask=BinaryMask.from_array(block))
    poly = Polyline(label="lane", points=[[(0.75, 0.75), (0.95, 0.75), (0.95, 0.95),
                                           (0.75, 0.95)]], closed=True, filled=True)
    kp = Keypoint(label="person", points=[(0.4, 0.2), (0.48, 0.2), None])
    before = Sample(media="black.png", metadata=MediaMetadata(width=W, height=H), fields={
        "gt": Detections(detections=[keep, moved, gone]),
        "lanes": Polylines(polylines=[poly]),
    })
    after = Sample(media="black.png", metadata=MediaMetadata(width=W, height=H), fields={
        "gt": Detections(detections=[keep, moved.model_copy(update={"bounding_box": (
            0.15, 0.4, 0.2, 0.4)}), added]),
        "lanes": Polylines(polylines=[poly.model_copy(update={"label": "edge"})]),
        "pose": Keypoints(keypoints=[kp]),
    })
    diff = diff_samples("s", before, after)
    assert {(c.label, c.kind) for c in diff.changes} == {
        ("car", "edited"), ("truck", "deleted"), ("person", "added"), ("edge", "edited")}
    drawing = render(diff, black, skeletons={"person": [(0, 1)]})
    img = drawing.image
    b, a = drawing.panels
    assert (b.side, a.side, b.scale) == ("before", "after", 1.0)
    # the deleted truck: a red box before, nothing after
    assert at(img, b, 0.6, 0.25) == COLORS["deleted"]
    assert at(img, a, 0.6, 0.25) == (0, 0, 0)
    # the moved car: amber at its old left edge before and its new one after
    assert at(img, b, 0.1, 0.6) == COLORS["edited"]
    assert at(img, a, 0.15, 0.6) == COLORS["edited"] and at(img, a, 0.1, 0.6) == (0, 0, 0)
    # the unchanged sign stays grey on both sides
    assert at(img, b, 0.05, 0.15) == COLORS["same"] == at(img, a, 0.05, 0.15)
    # the added person: a green box, its mask a translucent green over the (black) image
    assert at(img, a, 0.5, 0.7) == COLORS["added"]
    assert close(at(img, a, 0.6, 0.7), blend(COLORS["added"]))
    assert at(img, b, 0.6, 0.7) == (0, 0, 0)
    # the relabelled polygon: amber translucent fill after
    assert close(at(img, a, 0.85, 0.85), blend(COLORS["edited"]))
    assert close(at(img, b, 0.85, 0.85), blend(COLORS["edited"]))  # edited: amber both sides
    # the added keypoints and their skeleton edge
    assert at(img, a, 0.4, 0.2) == COLORS["added"] and at(img, a, 0.44, 0.2) == COLORS["added"]
    # the caption lists each change with its colour swatch
    assert img.height > a.y + a.height + 4 * 16


def test_segmentation_overlay(black: Path) -> None:
    mask = [[0] * W for _ in range(H)]
    for y in range(50, H):
        mask[y] = [2] * W
    seg = Segmentation(mask=IndexMask.from_array(mask))
    empty = Segmentation(_id=seg.id, mask=IndexMask.from_array([[0] * W for _ in range(H)]))
    meta = MediaMetadata(width=W, height=H)
    diff = diff_samples("s", Sample(media="black.png", metadata=meta, fields={"road": empty}),
                        Sample(media="black.png", metadata=meta, fields={"road": seg}))
    assert [c.kind for c in diff.changes] == ["edited"]
    drawing = render(diff, black)
    b, a = drawing.panels
    assert close(at(drawing.image, a, 0.5, 0.8), blend(COLORS["edited"]))
    assert at(drawing.image, a, 0.5, 0.2) == (0, 0, 0)
    assert at(drawing.image, b, 0.5, 0.8) == (0, 0, 0)


def test_video_changes_are_a_strip_of_their_frames(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "traffic", tmp_path / "traffic")
    folder = DatasetFolder.open(tmp_path / "traffic")
    key = next(k for k in folder if folder.read(k).frames)
    before = folder.read(key)
    frames = dict(before.frames)
    number = sorted(frames)[1]
    name, value = next((n, v) for n, v in frames[number].items() if isinstance(v, Detections))
    first = value.detections[0]
    moved = first.model_copy(update={"bounding_box": (0.3, 0.3, 0.2, 0.2)})
    frames[number] = {**frames[number],
                      name: Detections(detections=[moved, *value.detections[1:]])}
    after = before.model_copy(update={"frames": frames})
    diff = diff_samples(key, before, after)
    assert diff.frames == [number]
    drawing = render(diff, folder.root)
    assert [(p.side, p.frame) for p in drawing.panels] == [("before", number), ("after", number)]
    a = drawing.panels[1]
    mw, mh = before.metadata.width, before.metadata.height
    x, y = a.x + 0.3 * mw * a.scale, a.y + 0.4 * mh * a.scale
    assert drawing.image.getpixel((round(x), round(y))) == COLORS["edited"]
    # the panel shows the decoded video frame, not the grey stand-in for missing media
    pixels = {drawing.image.getpixel((a.x + dx, a.y + dy)) for dx in range(0, a.width, 7)
              for dy in range(0, a.height, 7)}
    assert len(pixels) > 5 and (60, 60, 60) not in pixels


def test_review_writes_one_small_png_per_sample_and_a_gallery(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "street", tmp_path / "street")
    folder = DatasetFolder.open(tmp_path / "street")
    diffs = []
    for key in sorted(folder.keys())[:3]:
        before = folder.read(key)
        after = before.model_copy(update={"fields": {
            k: v for k, v in before.fields.items() if k != "ground_truth"}})
        diffs.append((diff_samples(key, before, after), folder.root))
    review = write_review(diffs, tmp_path / "out", title="t")
    assert sorted(review.images) == sorted(d.key for d, _ in diffs if d.changes)
    for name in review.images.values():
        png = tmp_path / "out" / name
        assert png.stat().st_size < 400_000  # small enough for a pull-request comment
        with Image.open(png) as img:
            assert img.format == "PNG" and img.width <= 800
    html = review.index.read_text()
    assert html.count('<figure class="card"') == len(review.images)
    assert 'id="kind-deleted"' in html and 'data-kinds="deleted"' in html
