"""The label-file format: round trips, determinism, byte-identical re-saves, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from annosync.dataset import atomic, jsonfmt
from annosync.dataset.folder import DatasetFolder, parse_sample, sample_to_bytes
from annosync.model.labels import (
    BinaryMask,
    Classification,
    Classifications,
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

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_FILES = sorted((ROOT / "fixtures").glob("*/labels/**/*.json"))

# -- strategies -----------------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
unit = st.floats(min_value=-0.5, max_value=1.5, allow_nan=False)
size = st.floats(min_value=0, max_value=1.5, allow_nan=False)
ids = st.from_regex(r"[0-9a-f]{24}", fullmatch=True)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,12}", fullmatch=True).filter(
    lambda n: n != "frames")
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), finite, st.text())
attributes = st.dictionaries(st.text(min_size=1, max_size=10), scalars, max_size=4)
tags = st.lists(st.text(max_size=8), max_size=3)
point = st.tuples(unit, unit)
common: dict[str, Any] = {"id": ids, "attributes": attributes, "tags": tags}
spatial: dict[str, Any] = {
    **common,
    "index": st.none() | st.integers(0, 10_000),
    "keyframe": st.none() | st.booleans(),
    "z_order": st.none() | st.integers(-5, 5),
}


@st.composite
def binary_masks(draw: st.DrawFn) -> BinaryMask:
    h, w = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    bits = draw(st.lists(st.booleans(), min_size=h * w, max_size=h * w))
    return BinaryMask.from_array(np.array(bits, dtype=bool).reshape(h, w))


@st.composite
def index_masks(draw: st.DrawFn) -> IndexMask:
    h, w = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    values = draw(st.lists(st.integers(0, 255), min_size=h * w, max_size=h * w))
    return IndexMask.from_array(np.array(values, dtype=np.int64).reshape(h, w))


classification = st.builds(Classification, label=st.text(), confidence=st.none() | finite,
                           **common)
detection = st.builds(
    Detection, label=st.text(), bounding_box=st.tuples(unit, unit, size, size),
    confidence=st.none() | st.floats(0, 1), rotation=st.none() | finite,
    mask=st.none() | binary_masks(), mask_path=st.none() | st.just("masks/a.png"), **spatial,
)
polyline = st.builds(
    Polyline, label=st.text(), points=st.lists(st.lists(point, max_size=5), max_size=3),
    closed=st.booleans(), filled=st.booleans(), confidence=st.none() | st.floats(0, 1), **spatial,
)


@st.composite
def keypoints(draw: st.DrawFn) -> Keypoint:
    pts = draw(st.lists(st.none() | point, max_size=6))
    conf = draw(st.none() | st.lists(st.none() | st.floats(0, 1), min_size=len(pts),
                                     max_size=len(pts)))
    return Keypoint(label=draw(st.text()), points=pts, confidence=conf,
                    **{k: draw(v) for k, v in spatial.items()})


segmentation = st.builds(Segmentation, mask=st.none() | index_masks(),
                         mask_path=st.none() | st.just("masks/seg.png"), **common)
labels = st.one_of(
    classification,
    st.builds(Classifications, classifications=st.lists(classification, max_size=3)),
    detection,
    st.builds(Detections, detections=st.lists(detection, max_size=3)),
    polyline,
    st.builds(Polylines, polylines=st.lists(polyline, max_size=3)),
    keypoints(),
    st.builds(Keypoints, keypoints=st.lists(keypoints(), max_size=3)),
    segmentation,
)
field_values = st.one_of(labels, scalars)
metadata = st.builds(
    MediaMetadata, media_type=st.sampled_from(["image", "video"]),
    width=st.integers(1, 10_000), height=st.integers(1, 10_000),
    fps=st.none() | st.floats(0.1, 240), frame_count=st.none() | st.integers(0, 10_000),
    size_bytes=st.none() | st.integers(0, 2**40),
)
samples = st.builds(
    Sample,
    media=st.from_regex(r"media/[a-z0-9_]{1,8}(/[a-z0-9]{1,4})?\.(jpg|mp4)", fullmatch=True),
    metadata=st.none() | metadata,
    fields=st.dictionaries(names, field_values, max_size=4),
    frames=st.dictionaries(st.integers(1, 500), st.dictionaries(names, field_values, max_size=3),
                           max_size=3),
    tags=tags,
)

# -- round trips ----------------------------------------------------------------------------------


@given(labels)
def test_every_label_type_round_trips(label: Any) -> None:
    sample = Sample(media="media/a.jpg", fields={"f": label}, frames={1: {"g": label}})
    data = sample_to_bytes(sample)
    back = parse_sample(data)
    assert back == sample
    assert back.fields["f"] == label
    assert sample_to_bytes(back) == data


@given(samples)
def test_whole_samples_round_trip(sample: Sample) -> None:
    data = sample_to_bytes(sample)
    back = parse_sample(data)
    assert back == sample
    assert sorted(back.label_ids()) == sorted(sample.label_ids())  # ids survive a re-save
    assert sample_to_bytes(back) == data
    assert data.endswith(b"\n") and b"\r" not in data


@given(samples)
def test_deterministic_regardless_of_insertion_order(sample: Sample) -> None:
    shuffled = sample.model_copy(update={
        "fields": dict(reversed(list(sample.fields.items()))),
        "frames": dict(reversed(list(sample.frames.items()))),
    })
    assert sample_to_bytes(shuffled) == sample_to_bytes(sample)


def test_float_and_key_rules() -> None:
    text = jsonfmt.dumps({"b": [1.0, -0.0, 0.1, 1e-07, 3], "a": {"10": 1, "9": 2, "x": None}})
    assert text == (
        '{\n  "a": {\n    "9": 2,\n    "10": 1,\n    "x": null\n  },\n'
        '  "b": [1.0, 0.0, 0.1, 1e-07, 3]\n}\n'
    )
    with pytest.raises(ValueError):
        jsonfmt.dumps({"x": float("nan")})


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_fixture_label_files_resave_byte_identical(path: Path) -> None:
    data = path.read_bytes()
    assert sample_to_bytes(parse_sample(data, str(path))) == data


def test_there_are_fixture_files_of_every_label_type() -> None:
    kinds: set[str] = set()
    for path in FIXTURE_FILES:
        sample = parse_sample(path.read_bytes())
        values = list(sample.fields.values())
        values += [v for frame in sample.frames.values() for v in frame.values()]
        for v in values:
            kinds.add(getattr(v, "type", "scalar"))
            if isinstance(v, Detections) and any(d.mask for d in v.detections):
                kinds.add("instances")
            if isinstance(v, Detections) and any(d.index is not None for d in v.detections):
                kinds.add("tracks")
            if isinstance(v, Polylines) and any(p.filled for p in v.polylines):
                kinds.add("polygons")
    assert kinds >= {"classification", "classifications", "detections", "instances", "polylines",
                     "polygons", "keypoints", "segmentation", "scalar", "tracks"}


# -- writes ---------------------------------------------------------------------------------------


def test_write_skips_unchanged_and_keeps_permissions(tmp_path: Path) -> None:
    folder = DatasetFolder.init(tmp_path)
    sample = Sample(media="media/a.jpg", fields={"q": 1})
    assert folder.write("a", sample) is True
    path = folder.label_path("a")
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()
    os.chmod(path, 0o640)
    mtime = path.stat().st_mtime_ns
    assert folder.write("a", sample) is False
    assert path.stat().st_mtime_ns == mtime
    assert folder.write("a", sample.model_copy(update={"fields": {"q": 2}})) is True
    assert path.stat().st_mode & 0o777 == 0o640


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("crash_in", ["write", "fsync", "replace"])
def test_a_crash_mid_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_in: str
) -> None:
    folder = DatasetFolder.init(tmp_path)
    folder.write("a", Sample(media="media/a.jpg", fields={"q": 1}))
    before = folder.label_path("a").read_bytes()

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise OSError(f"simulated crash in {crash_in}")

    if crash_in == "write":
        real_fdopen = os.fdopen

        class Torn:
            def __init__(self, fh: Any) -> None:
                self.fh = fh

            def __enter__(self) -> Torn:
                return self

            def __exit__(self, *exc: Any) -> None:
                self.fh.close()

            def write(self, data: bytes) -> None:
                self.fh.write(data[: len(data) // 2])  # half the bytes, then the power goes
                raise OSError("simulated crash in write")

        monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode: Torn(real_fdopen(fd, mode)))
    elif crash_in == "fsync":
        monkeypatch.setattr(atomic.os, "fsync", crash)
    else:
        monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        folder.write("a", Sample(media="media/a.jpg", fields={"q": 2, "big": "x" * 100_000}))
    assert folder.label_path("a").read_bytes() == before
    assert sorted(p.name for p in folder.labels_dir.iterdir()) == ["a.json"]  # no temp files
