"""The emulator's "CVAT 1.1" importer accepts and refuses what CVAT 2.73's ``load_anno``
(cvat/apps/dataset_manager/formats/cvat.py) and bindings.py accept and refuse, with the
message CVAT's worker reports for the first problem in the file."""

from __future__ import annotations

import pytest

from annosync.emulator.xml_io import ImportFailure, Target, load_cvat

CAR, WHEEL, PERSON, NOSE = 1, 2, 3, 4
PARKED, COLOR, SPEED, VISIBLE = 10, 11, 12, 13


def target(*, video: bool = False, start: int = 0, step: int = 1, size: int = 4,
           frame_range: tuple[int, int] | None = None) -> Target:
    names = [f"frame_{start + i * step:06d}" for i in range(size)] if video else \
        [f"img_{i}.jpg" for i in range(size)]
    return Target(
        frame_names=names, start_frame=start, step=step, size=size, is_video=video,
        labels={("car", None): CAR, ("wheel", None): WHEEL, ("person", None): PERSON,
                ("nose", PERSON): NOSE},
        attrs={CAR: {"parked": (PARKED, True, "checkbox", "False"),
                     "color": (COLOR, False, "select", "red"),
                     "speed": (SPEED, True, "number", "0")},
               NOSE: {"visible": (VISIBLE, True, "checkbox", "false")}},
        frame_range=frame_range)


def doc(body: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n<version>1.1</version>\n'
            f"{body}\n</annotations>\n").encode()


def image(inner: str, name: str = "img_0.jpg", ident: str = "0") -> str:
    return f'<image id="{ident}" name="{name}" width="10" height="10">{inner}</image>'


BOX = 'xtl="1" ytl="1" xbr="2" ybr="2"'


def fails(body: str, tgt: Target | None = None) -> str:
    with pytest.raises(ImportFailure) as info:
        load_cvat(doc(body), tgt or target())
    return str(info.value)


@pytest.mark.parametrize(("body", "message"), [
    # bindings.py _get_label_id: repr of the name
    (image(f'<box label="bus" {BOX}/>'), "ValueError: Label 'bus' is not registered for this task"),
    (image(f'<box label="" {BOX}/>'), "ValueError: Label '' is not registered for this task"),
    (image(f'<box label="o\'neil" {BOX}/>'),
     'ValueError: Label "o\'neil" is not registered for this task'),
    (image('<tag label="night"/>'), "ValueError: Label 'night' is not registered for this task"),
    ('<track id="0" label="bus"><box frame="0" keyframe="1" ' + BOX + "/></track>",
     "ValueError: Label 'bus' is not registered for this task"),
    # a skeleton element is looked up under its parent
    (image('<skeleton label="person"><points label="car" occluded="0" outside="0" '
           'points="1,1"/></skeleton>'),
     "ValueError: Label 'car' is not registered for this task"),
    # rel_frame_id: track frames outside the task
    ('<track id="0" label="car"><box frame="50" keyframe="1" ' + BOX + "/></track>",
     "ValueError: Unknown frame 50"),
    # match_dm_item
    (image("", name="nope.jpg", ident="9"),
     "cvat.apps.dataset_manager.bindings.CvatImportError: Could not match item id: 'nope' "
     "with any task frame"),
    # required attributes are read with [] (KeyError), numbers with int()/float()
    (image(f'<box {BOX}/>'), "KeyError: 'label'"),
    (image('<box label="car" xtl="1" ytl="1" xbr="2"/>'), "KeyError: 'ybr'"),
    ('<image name="img_0.jpg"/>', "KeyError: 'id'"),
    (image(f'<box label="car" {BOX} z_order="1.0"/>'),
     "ValueError: invalid literal for int() with base 10: '1.0'"),
    (image(f'<box label="car" {BOX} group_id="x"/>'),
     "ValueError: invalid literal for int() with base 10: 'x'"),
    (image('<polyline label="car" points="1,1;2,2;"/>'),
     "ValueError: could not convert string to float: ''"),
    (image('<box label="car" xtl="abc" ytl="1" xbr="2" ybr="2"/>'),
     "ValueError: could not convert string to float: 'abc'"),
    (image('<mask label="car" rle="1, 2" left="0.5" top="0" width="1" height="3"/>'),
     "ValueError: invalid literal for int() with base 10: '0.5'"),
    # skeleton elements need label, then occluded, then outside
    (image('<skeleton label="person"><points outside="0" points="1,1"/></skeleton>'),
     "KeyError: 'label'"),
    (image('<skeleton label="person"><points label="nose" outside="0" points="1,1"/>'
           "</skeleton>"), "KeyError: 'occluded'"),
    # tracks: frame then keyframe are required, even on frames the importer then skips;
    # coordinates are parsed on every frame
    ('<track id="0" label="car"><box keyframe="1" ' + BOX + "/></track>", "KeyError: 'frame'"),
    ('<track id="0" label="car"><box frame="0" ' + BOX + "/></track>", "KeyError: 'keyframe'"),
    ('<track id="0" label="car"><box frame="0" keyframe="1" ' + BOX + '/><box frame="1" '
     'keyframe="0" xtl="a" ytl="1" xbr="2" ybr="2"/></track>',
     "ValueError: could not convert string to float: 'a'"),
    ('<track id="0" label="car"><box frame="0" keyframe="0" ' + BOX + "/></track>",
     "IndexError: list index out of range"),
    # _import_attribute: checkbox values other than the default must be true/false
    (image(f'<box label="car" {BOX}><attribute name="parked">maybe</attribute></box>'),
     "Exception: Failed to convert attribute 'car'='maybe': "),
])
def test_refused_like_cvat(body: str, message: str) -> None:
    assert fails(body) == message


def test_the_first_problem_wins_even_before_a_syntax_error() -> None:
    """CVAT parses as a stream: a bad label on line 4 is reported, not the broken end."""
    body = image(f'<box label="bus" {BOX}/>') + "<image"
    assert fails(body) == "ValueError: Label 'bus' is not registered for this task"
    assert fails("<image").startswith("xml.etree.ElementTree.ParseError: ")


def test_entity_declarations_are_refused_as_defusedxml_does() -> None:
    data = (b'<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY lol "lol">]>\n'
            b"<annotations>&lol;</annotations>")
    with pytest.raises(ImportFailure, match=r"EntitiesForbidden.*name='lol'"):
        load_cvat(data, target())


def test_a_job_refuses_frames_outside_it() -> None:
    job = target(frame_range=(2, 3))
    assert fails(image("", name="img_0.jpg", ident="0"), job).endswith(
        "Could not match item id: 'img_0' with any task frame")
    assert fails('<track id="0" label="car"><box frame="1" keyframe="1" ' + BOX + "/></track>",
                 job) == "ValueError: Unknown frame 1"
    data = load_cvat(doc(image(f'<box label="car" {BOX}/>', name="img_3.jpg", ident="3")), job)
    assert [s["frame"] for s in data["shapes"]] == [3]


def test_image_id_is_a_task_relative_index_and_names_win() -> None:
    """match_dm_item: name without extension first, then ``id`` as a frame *index*."""
    video = target(video=True, start=4, step=2, size=5)
    data = load_cvat(doc(image(f'<box label="car" {BOX}/>', name="whatever", ident="1")
                         + image(f'<box label="car" {BOX}/>', name="frame_000010", ident="0")),
                     video)
    assert [s["frame"] for s in data["shapes"]] == [1, 3]
    assert fails(image("", name="x", ident="5"), video).endswith(
        "Could not match item id: 'x' with any task frame")


def test_values_are_stored_as_cvat_stores_them() -> None:
    body = image(
        '<ellipse label="wheel" cx="1" cy="5" rx="0.123" ry="1.006"/>'
        f'<box label="car" {BOX}><attribute name="parked">False</attribute>'
        '<attribute name="speed">fast</attribute><attribute name="nope">x</attribute></box>'
        f'<box label="car" {BOX}><attribute name="parked">TRUE</attribute></box>')
    shapes = load_cvat(doc(body), target())["shapes"]
    assert shapes[0]["points"] == [1.0, 5.0, 1.12, 3.99]  # float("{:.2f}".format(cx + rx))
    assert shapes[1]["attributes"] == [{"spec_id": PARKED, "value": "False"},  # the default
                                       {"spec_id": SPEED, "value": "fast"}]  # numbers unchecked
    assert shapes[2]["attributes"] == [{"spec_id": PARKED, "value": "true"}]
    assert all(s["source"] == "file" for s in shapes)


def test_a_tracks_immutable_attributes_come_from_its_last_keyframe() -> None:
    body = ('<track id="0" label="car">'
            '<box frame="0" keyframe="1" ' + BOX + '><attribute name="color">red</attribute>'
            '<attribute name="speed">1</attribute></box>'
            '<box frame="1" keyframe="0" ' + BOX + '><attribute name="color">green</attribute>'
            "</box>"
            '<box frame="2" keyframe="1" outside="1" ' + BOX + '><attribute name="color">blue'
            "</attribute></box></track>")
    track = load_cvat(doc(body), target())["tracks"][0]
    assert track["attributes"] == [{"spec_id": COLOR, "value": "blue"}]
    assert [s["frame"] for s in track["shapes"]] == [0, 2]
    assert track["shapes"][0]["attributes"] == [{"spec_id": SPEED, "value": "1"}]
    assert track["shapes"][1]["outside"] is True


def test_a_mask_track_becomes_its_first_keyframe() -> None:
    body = ('<track id="0" label="car" group_id="3" source="auto">'
            '<mask frame="1" keyframe="1" outside="0" rle="1, 2" left="2" top="3" width="1" '
            'height="3"/><mask frame="2" keyframe="1" outside="1" rle="3" left="2" top="3" '
            'width="1" height="3"/></track>')
    data = load_cvat(doc(body), target())
    assert data["tracks"] == []
    (shape,) = data["shapes"]
    assert (shape["frame"], shape["points"], shape["source"], shape["group"]) == \
        (1, [1.0, 2.0, 2.0, 3.0, 2.0, 5.0], "manual", 0)


def test_skeleton_tracks_keep_their_elements() -> None:
    body = ('<track id="0" label="person"><skeleton frame="0" keyframe="1">'
            '<points label="nose" keyframe="1" outside="0" occluded="1" points="1,2">'
            '<attribute name="visible">true</attribute></points></skeleton>'
            '<skeleton frame="3" keyframe="1"><points label="nose" keyframe="1" outside="1" '
            'occluded="0" points="3,4"/></skeleton></track>')
    track = load_cvat(doc(body), target())["tracks"][0]
    (element,) = track["elements"]
    assert element["label_id"] == NOSE
    assert [(s["frame"], s["outside"], s["occluded"]) for s in element["shapes"]] == \
        [(0, False, True), (3, True, False)]
    assert element["shapes"][0]["attributes"] == [{"spec_id": VISIBLE, "value": "true"}]


def test_every_xml_of_a_zip_is_imported() -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a/annotations.xml", doc(image(f'<box label="car" {BOX}/>')))
        zf.writestr("b.xml", doc(image('<tag label="wheel"/>', name="img_1.jpg", ident="1")))
        zf.writestr("c.txt", b"not xml")
    data = load_cvat(buf.getvalue(), target())
    assert len(data["shapes"]) == 1 and len(data["tags"]) == 1
