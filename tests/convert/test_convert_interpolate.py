"""Track interpolation follows CVAT's ``TrackManager.get_interpolated_shapes``: checked against a
real CVAT 2.73 (the job slices of recordings2/09, which CVAT computes by interpolating the
uploaded tracks) and against hand-worked cases of its rules."""

from __future__ import annotations

from typing import Any

import numpy as np
from convert_support import exchanges
from hypothesis import given
from hypothesis import strategies as st

from annosync.convert import interpolate
from annosync.convert.interpolate import angle_diff
from annosync.model.cvat import AttributeValue, LabeledData, Track, TrackedShape


def _exchange(seq: int) -> dict[str, Any]:
    return next(e for e in exchanges("recordings2/09_video.json") if e["seq"] == seq)


def _flatten(track: Track) -> list[Track]:
    return [track, *(e for e in track.elements)]


def test_job_slices_match_cvat_interpolation() -> None:
    """CVAT cuts the uploaded tracks at job boundaries (jobs 0-7, 4-11, 8-14), starting each piece
    with the track's interpolated state; every shape of every piece must be what our
    interpolation gives for the whole track on that frame."""
    put = LabeledData.model_validate(_exchange(220)["request_body"])
    whole = {t.label_id: t for track in put.tracks for t in _flatten(track)}
    checked = 0
    for seq in (222, 223, 224):
        piece_data = LabeledData.model_validate(_exchange(seq)["response_body"])
        for piece in (t for track in piece_data.tracks for t in _flatten(track)):
            source = whole[piece.label_id]
            ours = {f.frame: f for f in interpolate(source.shapes, source.frame, 15)}
            for shape in piece.shapes:
                mine = ours.get(shape.frame)
                if mine is None:  # an outside marker CVAT generated at a cut
                    assert shape.outside
                    continue
                assert np.allclose(mine.points, shape.points), (seq, piece.label_id, shape.frame)
                if not shape.outside:
                    assert mine.occluded == shape.occluded and mine.z_order == shape.z_order
                checked += 1
    assert checked >= 30


def test_recorded_interpolated_values() -> None:
    put = LabeledData.model_validate(_exchange(220)["request_body"])
    car = next(t for t in put.tracks if t.label_id == 526)
    frames = {f.frame: f for f in interpolate(car.shapes, car.frame, 15)}
    # toward an outside keyframe, CVAT still interpolates (frame 4, between 3 and outside 5)
    assert frames[4].points == [45.0, 60.0, 95.0, 100.0] and frames[4].occluded
    assert 5 in frames and frames[5].outside and frames[5].keyframe
    assert 6 not in frames and 7 not in frames  # hidden until the keyframe at 8
    assert frames[8].keyframe and not frames[9].keyframe
    assert frames[12].z_order == 1  # copies of the previous keyframe (11)
    assert 14 not in frames  # outside from 13 on
    skeleton = next(t for t in put.tracks if t.label_id == 534)
    hand = next(e for e in skeleton.elements if e.label_id == 537)
    four = {f.frame: f for f in interpolate(hand.shapes, hand.frame, 15)}[4]
    assert np.allclose(four.points, [123.33333333333333, 93.33333333333333])


def _key(frame: int, points: list[float], *, kind: str = "rectangle", rotation: float = 0.0,
         outside: bool = False, attrs: dict[int, str] | None = None) -> TrackedShape:
    return TrackedShape(type=kind, frame=frame, points=points, rotation=rotation,  # type: ignore[arg-type]
                        outside=outside,
                        attributes=[AttributeValue(spec_id=k, value=v)
                                    for k, v in (attrs or {}).items()])


def test_visibility_rules() -> None:
    shapes = [_key(2, [0, 0, 10, 10]), _key(4, [0, 0, 10, 10], outside=True),
              _key(7, [5, 5, 15, 15])]
    out = interpolate(shapes, 2, 10, deleted={8})
    assert [(f.frame, f.outside, f.keyframe) for f in out] == [
        (2, False, True), (3, False, False), (4, True, True), (7, False, True),
        (9, False, False)]  # 8 deleted; 9 repeats the last keyframe up to the end


def test_attributes_are_carried_to_later_keyframes() -> None:
    shapes = [_key(0, [0, 0, 1, 1], attrs={1: "a", 2: "x"}), _key(3, [0, 0, 1, 1], attrs={1: "b"})]
    out = {f.frame: f.attributes for f in interpolate(shapes, 0, 5)}
    assert out[1] == {1: "a", 2: "x"} and out[3] == {1: "b", 2: "x"} and out[4] == out[3]


@given(st.floats(0, 359.9), st.floats(0, 359.9), st.integers(2, 9))
def test_rotation_takes_the_shorter_arc(r0: float, r1: float, distance: int) -> None:
    out = interpolate([_key(0, [0, 0, 1, 1], rotation=r0),
                       _key(distance, [0, 0, 1, 1], rotation=r1)], 0, distance + 1)
    turn = angle_diff(r1, r0)
    assert -180 <= turn <= 180 or turn == 1
    for f in out:
        assert 0 <= f.rotation < 360
    mid = out[1].rotation
    expected = (r0 + turn / distance + 360) % 360
    assert np.isclose(mid, expected)


def test_rotation_quirk_at_half_a_turn() -> None:
    # CVAT turns by +1 degree (not 180) when the difference is exactly -180 (kept on purpose)
    assert angle_diff(180.0, 0.0) == 1
    out = interpolate([_key(0, [0, 0, 1, 1], rotation=0.0),
                       _key(2, [0, 0, 1, 1], rotation=180.0)], 0, 3)
    assert out[1].rotation == 0.5
    assert angle_diff(10.0, 350.0) == 20.0 and angle_diff(350.0, 10.0) == -20.0


def test_points_interpolate_only_single_points() -> None:
    one = interpolate([_key(0, [0, 0], kind="points"), _key(2, [4, 8], kind="points")], 0, 3)
    assert one[1].points == [2.0, 4.0]
    many = interpolate([_key(0, [0, 0, 1, 1], kind="points"),
                        _key(2, [4, 8, 5, 9], kind="points")], 0, 3)
    assert many[1].points == [0.0, 0.0, 1.0, 1.0]  # the first keyframe repeats


def test_masks_and_type_changes_repeat_the_keyframe() -> None:
    mask = [0, 4, 10, 10, 11, 11]
    out = interpolate([_key(0, mask, kind="mask"), _key(3, [1, 4, 20, 20, 21, 21], kind="mask")],
                      0, 4)
    assert [f.points for f in out[:3]] == [[float(v) for v in mask]] * 3
    mixed = interpolate([_key(0, [0, 0, 1, 1]), _key(2, [0, 0, 5, 5, 9, 9], kind="polygon")], 0, 3)
    assert mixed[1].points == [0.0, 0.0, 1.0, 1.0]


def test_polyline_with_different_point_counts() -> None:
    # worked by hand with CVAT's rules: relative arc offsets left [0, 1], right [0, .5, 1];
    # left 0 takes right 0 and (unmatched, equally near both) right 1; left 1 takes right 2;
    # at offset .5 the points are (0,0), (2.5,0), (10,0); thinning keeps all three
    out = interpolate([_key(0, [0, 0, 10, 0], kind="polyline"),
                       _key(2, [0, 0, 5, 0, 10, 0], kind="polyline")], 0, 3)
    assert out[1].points == [0.0, 0.0, 2.5, 0.0, 10.0, 0.0]


def test_polygon_translation_is_linear() -> None:
    square = [0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0]
    moved = [v + 6 for v in square]
    out = interpolate([_key(0, square, kind="polygon"), _key(3, moved, kind="polygon")], 0, 4)
    assert np.allclose(out[1].points, [v + 2 for v in square])
    assert np.allclose(out[2].points, [v + 4 for v in square])


def test_polygon_towards_a_degenerate_shape() -> None:
    # worked by hand with CVAT's rules: the right shape has zero length, so its relative offsets
    # are NaN (numpy's 0/0) and every point matches left point 0; the interpolated points of
    # left 0 are all (2.5, 2.5) and are kept (threshold 0), the rest are thinned with the left
    # curve's threshold; the closing point is dropped at the end
    left = [0.0, 0.0, 10.0, 0.0, 10.0, 10.0]
    right = [5.0, 5.0, 5.0, 5.0, 5.0, 5.0]
    out = interpolate([_key(0, left, kind="polygon"), _key(2, right, kind="polygon")], 0, 3)
    assert out[1].points == [2.5] * 8 + [7.5, 2.5, 7.5, 7.5]
