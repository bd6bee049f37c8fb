"""Property tests (issue 15): any document CVAT 2.73 could export -- every shape type, tags,
skeletons with elements, tracks with gaps and outside frames, both layouts -- comes back from
import-xml -> export-xml equal under the canonical comparison, and importing the export again
changes nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path

from cvatgen import images_documents, video_documents
from hypothesis import HealthCheck, given, settings

from annosync.cvatxml import export_xml, import_xml, read_document
from annosync.cvatxml.canonical import diff, same

#: modest: each example imports and exports a dataset on disk
PROPERTY = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _round_trip(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = root / "annotations.xml"
        source.write_text(text, encoding="utf-8")
        import_xml(source, root / "ds")
        export_xml(root / "ds", root / "out.xml")
        want, got = read_document(source), read_document(root / "out.xml")
        assert same(want, got), "\n".join(diff(want, got))
        again = import_xml(root / "out.xml", root / "ds")
        assert again.created == [] and again.updated == []


@PROPERTY
@given(images_documents())
def test_any_image_task_export_comes_back(text: str) -> None:
    _round_trip(text)


@PROPERTY
@given(video_documents())
def test_any_video_task_export_comes_back(text: str) -> None:
    _round_trip(text)


# -- what the properties found (kept as plain examples) ---------------------------------------
def _skeleton_task(tracks: str) -> str:
    from cvatgen import Label, meta_xml

    labels = [Label("car", "skeleton", [], "#000000", ["1"])]
    return ('<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
            + meta_xml(labels, video=True, size=2, start=0, step=1, width=64, height=48)
            + "\n" + tracks + "</annotations>\n")


def _skeleton_track(n: int, z_order: int, outside: int) -> str:
    return (f'  <track id="{n}" label="car" source="manual">\n'
            f'    <skeleton frame="0" keyframe="1" z_order="{z_order}">\n'
            f'      <points label="1" keyframe="1" outside="{outside}" occluded="0" '
            'points="3.00,4.00">\n      </points>\n    </skeleton>\n  </track>\n')


def test_a_skeleton_track_hidden_on_every_frame_is_kept() -> None:
    _round_trip(_skeleton_task(_skeleton_track(0, 0, 1)))


def test_twin_tracks_stay_two_tracks() -> None:
    """Two tracks identical but for z_order (or not at all) keep their own indexes."""
    _round_trip(_skeleton_task(_skeleton_track(0, 1, 0) + _skeleton_track(1, 0, 0)))
    _round_trip(_skeleton_task(_skeleton_track(0, 0, 0) + _skeleton_track(1, 0, 0)))
