"""Smaller pieces: streaming inference, attribute typing, exact coordinates, frame maps."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from convert_support import coord, extent, sizes
from hypothesis import given
from hypothesis import strategies as st

from annosync.convert import FieldObserver, FrameMap, infer_field, infer_fields
from annosync.convert.attrs import decode, encode
from annosync.convert.coords import box_to_abs, box_to_rel, to_abs, to_rel
from annosync.model.labels import Detection, Detections, Keypoint, Keypoints
from annosync.model.sample import MediaMetadata, Sample
from annosync.model.schema import ResolvedAttribute


# -- inference ------------------------------------------------------------------------------------
def test_inference_streams() -> None:
    pulled: list[int] = []

    def values() -> Iterator[Any]:
        for i in range(1000):
            pulled.append(i)
            yield Detections(detections=[Detection(label=f"c{i % 3}", bounding_box=(0, 0, 1, 1),
                                                   attributes={"n": i, "b": i % 2 == 0})])
            assert len(pulled) == i + 1  # one value at a time, nothing buffered

    obs = infer_field("gt", values())
    assert obs.count == 1000 and obs.labels == 1000
    assert obs.classes == ["c0", "c1", "c2"]
    n = obs.attributes["n"]
    assert n.truncated and len(n.values) == 64 and (n.minimum, n.maximum) == (0, 999)
    assert obs.attributes["b"].values == [False, True]


def test_inference_of_raw_json_skips_non_scalars_with_a_note() -> None:
    raw = {"_type": "detections", "detections": [
        {"label": "a", "bounding_box": [0, 0, 1, 1], "attributes": {"tags": ["x"], "ok": True,
                                                                     "meta": {"a": 1}},
         "keyframe": True, "index": 3, "mask": {"size": [1, 1], "counts": [1]}}]}
    obs = infer_field("gt", [raw, None, 5])
    assert obs.kinds == ["detections", "scalar"]
    assert list(obs.attributes) == ["ok"]
    assert obs.notes == [
        "attribute 'meta' skipped: only scalar attributes are supported (found dict)",
        "attribute 'tags' skipped: only scalar attributes are supported (found list)"]
    assert obs.keyframes and obs.indexed and obs.masks == 1


def test_inference_over_samples_and_frames() -> None:
    kp = Keypoints(keypoints=[Keypoint(label="j", points=[(0.1, 0.1)], keyframe=True, index=1)])
    samples = (Sample(media=f"{i}.mp4", metadata=MediaMetadata(media_type="video", width=2,
                                                               height=2),
                      fields={"rating": i}, frames={1: {"kp": kp}, 2: {"kp": kp}})
               for i in range(3))
    obs = infer_fields(["rating", "frames.kp"], samples)
    assert obs["rating"].scalar_types == ["int"] and obs["rating"].scalar_values == [0, 1, 2]
    assert obs["frames.kp"].count == 6 and obs["frames.kp"].keyframes
    observer = FieldObserver("x")
    observer.add_frames({1: None, 2: "a"})
    assert observer.result().scalar_types == ["str"]


# -- attributes --------------------------------------------------------------------------------
def attr(kind: str, values: list[Any] | None = None, value_type: str | None = None,
         default: Any = None) -> ResolvedAttribute:
    return ResolvedAttribute.model_validate({"name": "a", "type": kind, "values": values,
                                             "value_type": value_type, "default": default})


SELECT_VALUES = [1, 2.5, True, "x", 0, False, "1.0"]


@given(st.sampled_from(SELECT_VALUES))
def test_select_values_keep_their_types(value: Any) -> None:
    a = attr("select", SELECT_VALUES)
    back = decode(a, encode(a, value))
    assert back == value and type(back) is type(value)


@given(st.one_of(st.integers(-10**12, 10**12),
                 st.floats(allow_nan=False, allow_infinity=False)))
def test_numbers_and_typed_text_round_trip(value: Any) -> None:
    kind = "int" if isinstance(value, int) else "float"
    for a in (attr("text", value_type=kind), attr("number", [-1e15, 1e15, 1], value_type=kind)):
        back = decode(a, encode(a, value))
        assert back == value and type(back) is type(value)


@given(st.text())
def test_text_round_trips(value: str) -> None:
    a = attr("text", value_type="str")
    assert decode(a, encode(a, value)) == (value or None)


def test_blanks_and_checkboxes() -> None:
    assert decode(attr("checkbox"), "true") is True and decode(attr("checkbox"), "") is None
    assert encode(attr("checkbox"), None) == "false"
    assert encode(attr("checkbox", default=True), None) == "true"
    for kind in ("text", "select", "radio", "number"):
        a = attr(kind, ["x"] if kind in ("select", "radio") else None)
        assert encode(a, None) == "" and decode(a, "") is None
    # a value typed into a text box that does not parse as the attribute's type is kept
    assert decode(attr("text", value_type="int"), "twelve") == "twelve"
    assert decode(attr("select", ["a"], value_type="str"), "zzz") == "zzz"  # not in the list


# -- coordinates ---------------------------------------------------------------------------------
@given(coord, coord, extent, extent, sizes, sizes)
def test_box_round_trip_is_exact_up_to_float_error_and_stable(
        x: float, y: float, w: float, h: float, width: int, height: int) -> None:
    pixels = box_to_abs((x, y, w, h), width, height)
    back = box_to_rel(pixels, width, height)
    assert all(math.isclose(a, b, abs_tol=1e-15) for a, b in zip(back, (x, y, w, h), strict=True))
    assert back[2] >= 0 and back[3] >= 0
    assert box_to_abs(back, width, height) == pixels  # no drift


@given(coord, sizes)
def test_point_round_trip(x: float, size: int) -> None:
    back = to_rel(to_abs(x, size), size)
    assert math.isclose(back, x, abs_tol=1e-15)
    assert to_abs(back, size) == to_abs(x, size)


@given(st.floats(min_value=-500, max_value=5000, allow_nan=False), sizes)
def test_values_drawn_in_cvat_settle_after_one_round(a: float, size: int) -> None:
    once = to_abs(to_rel(a, size), size)
    assert math.isclose(once, a, rel_tol=4e-16, abs_tol=1e-12)  # within an ulp or two
    assert to_abs(to_rel(once, size), size) == once


def test_short_spellings_are_preferred() -> None:
    assert box_to_rel([64.0, 96.0, 256.0, 288.00000000000006], 640, 480) == (0.1, 0.2, 0.3, 0.4)


# -- frame maps ---------------------------------------------------------------------------------
def test_frame_map_from_data_meta() -> None:
    meta = {"size": 3, "start_frame": 0, "stop_frame": 2, "frame_filter": "",
            "frames": [{"width": 320, "height": 240, "name": f"{i}.jpg"} for i in range(3)],
            "deleted_frames": [1]}
    fm = FrameMap.from_data_meta(meta, "image")
    assert fm.size == 3 and fm.frame_size(2).width == 320 and fm.is_deleted(1)
    video = FrameMap.from_data_meta({"size": 15, "start_frame": 4, "stop_frame": 32,
                                     "frame_filter": "step=2",
                                     "frames": [{"width": 320, "height": 240}]}, "video")
    assert (video.start, video.step) == (4, 2)
    assert [video.task_frame(n) for n in (4, 5, 6, 7, 33, 35)] == [None, 0, None, 1, 14, None]
