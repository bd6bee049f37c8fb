"""The gallery in a real browser: index.html opened from disk (file://, no server) in headless
Chromium; its cards, images, filters and a screenshot checked."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annosync.dataset.folder import DatasetFolder
from annosync.model.labels import Detection, Detections
from annosync.visual.changes import diff_samples
from annosync.visual.draw import COLORS
from annosync.visual.gallery import write_review

from .chromium import Chromium, find_chromium

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    exe = find_chromium()
    if exe is None:
        pytest.skip("no chromium on PATH: `apt-get install -y chromium` (Debian) runs the "
                    "gallery browser test; .ci/run installs it")
    chrome = Chromium(exe)
    try:  # a browser that cannot start here is the machine's problem, not the gallery's
        chrome.send("Browser.getVersion", session=False)
    except (OSError, RuntimeError, TimeoutError) as e:
        chrome.close()
        pytest.skip(f"{exe} did not start headless: {e}")
    try:
        yield chrome
    finally:
        chrome.close()


def make_review(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "street", tmp_path / "street")
    folder = DatasetFolder.open(tmp_path / "street")
    keys = sorted(folder.keys())
    diffs = []
    # sample 1: a car added; sample 2: its ground truth deleted; sample 3: a box moved
    s = folder.read(keys[0])
    gt = s.fields["ground_truth"]
    extra = Detection(label="bicycle", bounding_box=(0.7, 0.1, 0.2, 0.3))
    diffs.append(diff_samples(keys[0], s, s.model_copy(update={"fields": {
        **s.fields, "ground_truth": Detections(detections=[*gt.detections, extra])}})))
    s = folder.read(keys[1])
    diffs.append(diff_samples(keys[1], s, s.model_copy(update={"fields": {
        k: v for k, v in s.fields.items() if k != "ground_truth"}})))
    s = folder.read(keys[2])
    gt = s.fields["ground_truth"]
    first = gt.detections[0]
    moved = first.model_copy(update={"bounding_box": (0.0, 0.0, 0.3, 0.3)})
    diffs.append(diff_samples(keys[2], s, s.model_copy(update={"fields": {
        **s.fields, "ground_truth": Detections(detections=[moved, *gt.detections[1:]])}})))
    review = write_review([(d, folder.root) for d in diffs], tmp_path / "review",
                          title="street review")
    return review.index


def test_gallery_opens_from_disk_and_filters(browser: Chromium, tmp_path: Path) -> None:
    index = make_review(tmp_path)
    browser.open(index.as_uri())
    assert browser.eval("document.title") == "street review"
    cards = browser.eval("[...document.querySelectorAll('.card')].map(c => "
                         "[c.dataset.key, c.dataset.kinds, c.dataset.labels])")
    assert [c[1] for c in cards] == ["added", "deleted", "edited"]
    assert "bicycle" in cards[0][2].split("|")
    # every PNG loaded from disk by its relative path (lazy images may still be loading after
    # the page's load event: wait, bounded, for each one's load or error first)
    assert browser.images_ready(), "an image neither loaded nor failed within 20 s"
    assert browser.eval("[...document.images].every(i => i.complete && i.naturalWidth > 300)")
    assert browser.eval("document.getElementById('shown').textContent") == "3 of 3 samples"

    browser.eval("document.getElementById('kind-deleted').click()")
    assert browser.eval("[...document.querySelectorAll('.card:not(.hidden)')].map(c => "
                        "c.dataset.kinds)") == ["added", "edited"]
    assert browser.eval("document.getElementById('shown').textContent") == "2 of 3 samples"
    browser.eval("const s = document.getElementById('label'); s.value = 'bicycle'; "
                 "s.dispatchEvent(new Event('change'))")
    assert browser.eval("[...document.querySelectorAll('.card:not(.hidden)')].map(c => "
                        "c.dataset.key)") == [cards[0][0]]
    browser.eval("document.getElementById('kind-deleted').click(); "
                 "const t = document.getElementById('label'); t.value = ''; "
                 "t.dispatchEvent(new Event('change'))")
    assert browser.eval("document.getElementById('shown').textContent") == "3 of 3 samples"

    shot = browser.screenshot(Path(os.environ.get("ANNOSYNC_SCREENSHOT", tmp_path / "g.png")))
    with Image.open(shot) as img:
        rgb = img.convert("RGB")
        assert rgb.size == (1280, 1000)
        colors = {tuple(p) for p in np.asarray(rgb).reshape(-1, 3).tolist()}
    # the drawn boxes of each kind show in the page, as Chromium painted it
    for kind in ("added", "deleted", "edited"):
        assert COLORS[kind] in colors, kind
