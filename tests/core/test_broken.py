"""Deliberately broken manifests and label files: each gets a precise, located message.

The inputs live in ``tests/core/broken/`` (manifests point at the fixtures, label files sit in a
small dataset folder); each expected line is exactly what ``annosync validate`` prints.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from annosync.cli.main import cli
from annosync.manifest.validate import format_problem, validate_paths

ROOT = Path(__file__).resolve().parents[2]
BROKEN = Path("tests/core/broken")

MANIFESTS = [
    ("anno_key_pattern.yaml", ["{f}:1: anno_key: must start with a letter and use only letters, digits, '_' and '-' (at most 64 characters)"]),
    ("anno_key_twice.yaml", ["{f}:5: anno_key: anno_key 'broken_anno_key_twice' is already used by {f}:1; anno keys must be unique"]),
    ("auth_header.yaml", ["{f}:7: cvat.headers.Authorization: a literal 'Authorization' header is a credential and is not allowed in a manifest: write it as Authorization: ${MY_AUTHORIZATION} and set that environment variable"]),
    ("class_group_item.yaml", ['{f}:7: label_schema.ground_truth.classes[1]: must be a string or a mapping']),
    ("class_repeated.yaml", ["{f}:7: label_schema.ground_truth.classes[1].classes[1]: class 'car' is listed more than once (each class belongs to at most one class group)"]),
    ("dataset_missing.yaml", ['{f}:2: dataset: dataset folder does not exist (tests/core/broken/no/such/dataset)']),
    ("default_not_in_values.yaml", ["{f}:8: attributes.colour.default: default 'blue' is not one of the values ['red', 'green']"]),
    ("dest_field_unknown.yaml", ["{f}:9: load.dest_field.wether: 'wether' is not a field of this run's label schema (ground_truth, weather)"]),
    ("duplicate_key.yaml", ["{f}:6: duplicate key 'segment_size' (first defined at line 5); YAML would silently keep only the last one"]),
    ("frame_dict_key.yaml", ["{f}:7: cvat.frame_start.night: 'night' is not a selected video (give a sample key or its media path)"]),
    ("frame_list_long.yaml", ['{f}:7: cvat.frame_step: frame_step lists 3 values for 2 selected video(s)']),
    ("frame_start_images.yaml", ['{f}:5: cvat.frame_start: frame_start only applies to videos; the selected samples are images']),
    ("frame_start_negative.yaml", ['{f}:7: cvat.frame_start[1]: frame_start must be >= 0 (got -3)']),
    ("frame_step_tracks.yaml", ["{f}:5: cvat.frame_step: frame_step cannot be used when uploading existing tracks ('frames.vehicles' has 41 labels with an index); annotate a new field, or drop frame_step"]),
    ("frames_on_images.yaml", ["{f}:3: label_field: 'frames.boxes' is a frame-level field but 5 selected sample(s) are images (first: 0001)"]),
    ("group_id_not_int.yaml", ["{f}:7: label_schema.ground_truth.attributes.iscrowd.type: attribute 'iscrowd' has type 'group_id', so its existing values must be integers; found bool"]),
    ("instances_no_masks.yaml", ["{f}:4: label_type: 'ground_truth' has no instance masks: annotate it as 'detections', or give a new field for instances"]),
    ("key_outside.yaml", ["{f}:4: samples.keys[1]: invalid sample key '../../../README': a path below labels/ without '..' or empty parts"]),
    ("label_id_attribute.yaml", ["{f}:5: attributes.label_id: 'label_id' is a reserved attribute name: annosync stores each label's id in CVAT under it"]),
    ("label_type_typo.yaml", ["{f}:4: label_type: must be one of: classification, classifications, detection, detections, instance, instances, polyline, polylines, polygon, polygons, keypoint, keypoints, segmentation, scalar (got 'detection_boxes')"]),
    ("mask_target_range.yaml", ['{f}:7: label_schema.road_seg.mask_targets[300]: pixel value 300 is out of range (0..255)']),
    ("mask_targets_detections.yaml", ["{f}:5: label_schema.ground_truth.mask_targets: mask_targets only apply to segmentation fields; 'ground_truth' is 'detections'"]),
    ("media_field_missing.yaml", ["{f}:4: media_field: 'blurred_path' is not a path string on 5 selected sample(s) (first: 0001)"]),
    ("missing_sample.yaml", ["{f}:4: samples.keys[1]: no sample '9999' in the dataset (no labels/9999.json)"]),
    ("new_field_no_classes.yaml", ["{f}:4: label_schema.new_boxes: 'new_boxes' is a new field: give its classes; there are no existing labels to take them from"]),
    ("new_field_no_type.yaml", ["{f}:3: label_field: 'new_boxes' is a new field (no selected sample has it): give its type (label_type / type: detections, classifications, ..., scalar)"]),
    ("occluded_not_bool.yaml", ["{f}:7: label_schema.ground_truth.attributes.make.type: attribute 'make' has type 'occluded', so its existing values must be booleans; found str"]),
    ("password.yaml", ['{f}:6: cvat.password: credentials are not allowed in manifests: set ANNOSYNC_CVAT_USERNAME and ANNOSYNC_CVAT_PASSWORD (or ANNOSYNC_CVAT_TOKEN) in the environment or use the user config file (see docs/credentials.md)']),
    ("project_both.yaml", ['{f}:6: cvat.project_id: give either project_name or project_id, not both']),
    ("runs_extra_key.yaml", ["{f}:1: dataset: unknown key next to 'runs:' (put settings shared by the runs under 'defaults:')", '{f}:3: dataset: required key is missing']),
    ("segment_size.yaml", ['{f}:6: cvat.segment_size: must be >= 1']),
    ("select_no_values.yaml", ["{f}:6: attributes.colour.type: attribute 'colour' of type 'select' needs 'values' (the options to choose from)"]),
    ("task_size_videos.yaml", ['{f}:5: cvat.task_size: task_size only applies to images: videos are always uploaded one per task']),
    ("two_group_ids.yaml", ["{f}:8: label_schema.ground_truth.classes[0].attributes.cluster: at most one attribute per class may have type 'group_id' (CVAT's group id); this class group already has one from the field's attributes"]),
    ("two_occluded.yaml", ["{f}:8: label_schema.ground_truth.attributes.hidden: at most one attribute of a field may have type 'occluded' (CVAT's occlusion widget)"]),
    ("type_mismatch.yaml", ["{f}:4: label_type: 'weather' holds classification; type 'detections' needs detections (use another field, or dest_field, to annotate it as detections)"]),
    ("undefined_var.yaml", ['{f}:5: environment variable ANNOSYNC_TEST_UNDEFINED_VARIABLE is not set (write ${ANNOSYNC_TEST_UNDEFINED_VARIABLE:-default} to give a default)']),
    ("unknown_key.yaml", ["{f}:5: cvat.segment_sise: unknown key (not allowed here) (did you mean 'segment_size'?)"]),
    ("where_syntax.yaml", ['{f}:4: samples.where: invalid JMESPath expression: invalid token at column 52 near 0 (write numbers as JSON literals in backticks: `0.8`)']),
    ("yaml_syntax.yaml", ["{f}:4: invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence started at line 3)"]),
]

LABEL_FILES = [
    ("attribute_list.json", ['{f}:5: $.fields.weather.attributes.hours: must be a scalar (true/false, a number, a string or null)']),
    ("bad_json.json", ['{f}:5:3: invalid JSON: Expecting property name enclosed in double quotes']),
    ("duplicate_id.json", ["{f}:7: $.fields.weather: duplicate label id 'aaaaaaaaaaaaaaaaaaaaaaa4' (also at $.fields.gt.detections[0])"]),
    ("frame_number.json", ["{f}:4: $.frames.first: frame numbers (1, 2, ...) are the keys of 'frames', not 'first'"]),
    ("frame_past_end.json", ['{f}:5: $.frames["4"]: frame 4 is past the end of the video (3 frames)']),
    ("frames_on_image.json", ["{f}:3: $.frames: frame-level labels on an image sample: 'frames' is only for videos"]),
    ("label_id_attribute.json", ["{f}:5: $.fields.weather.attributes.label_id: 'label_id' is reserved: annosync stores label ids in CVAT under this attribute name; rename it"]),
    ("mask_sum.json", ['{f}:5: $.fields.seg.mask: mask runs sum to 3, expected height*width = 4']),
    ("media_missing.json", ['{f}:2: $.media: media file not found: media/gone.jpg']),
    ("missing_id.json", ["{f}:6: warning: $.fields.gt.detections[1]: label has no '_id': one would be assigned on every read; run `annosync fmt` to assign and save it"]),
    ("negative_box.json", ['{f}:5: $.fields.gt.detections[0].bounding_box: bounding box width and height must be >= 0']),
    ("not_object.json", ['{f}:1: $: a label file must hold a JSON object']),
    ("track_twice.json", ['{f}:5: $.frames["2"].cars: track 1 appears twice in frame 2']),
    ("typo_key.json", ['{f}:4: $.fields.gt.label: required key is missing', "{f}:4: $.fields.gt.lable: unknown key (not allowed here) (did you mean 'label'?)"]),
    ("unknown_type.json", ["{f}:4: $.fields.gt: unknown label '_type' 'boxes' (expected one of: classification, classifications, detection, detections, keypoint, keypoints, polyline, polylines, segmentation)"]),
]


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def _printed(path: Path) -> list[str]:
    report = validate_paths([path], env={})
    return [format_problem(p) for p in report.problems]


@pytest.mark.parametrize(("name", "expected"), MANIFESTS, ids=[m[0] for m in MANIFESTS])
def test_broken_manifest(name: str, expected: list[str]) -> None:
    path = BROKEN / "manifests" / name
    assert _printed(path) == [e.replace("{f}", str(path)) for e in expected]


@pytest.mark.parametrize(("name", "expected"), LABEL_FILES, ids=[m[0] for m in LABEL_FILES])
def test_broken_label_file(name: str, expected: list[str]) -> None:
    path = BROKEN / "dataset" / "labels" / name
    assert _printed(path) == [e.replace("{f}", str(path)) for e in expected]


def test_every_broken_file_is_covered() -> None:
    manifests = {p.name for p in (BROKEN / "manifests").glob("*.yaml")}
    labels = {p.name for p in (BROKEN / "dataset" / "labels").glob("*.json")}
    assert manifests == {m[0] for m in MANIFESTS}
    assert labels == {m[0] for m in LABEL_FILES} | {"shared_id_a.json", "shared_id_b.json"}


def test_duplicate_label_id_across_files() -> None:
    """Checked when the whole dataset folder is validated (ids must be unique in a dataset)."""
    lines = _printed(BROKEN / "dataset")
    a = BROKEN / "dataset" / "labels" / "shared_id_a.json"
    b = BROKEN / "dataset" / "labels" / "shared_id_b.json"
    assert (
        f"{b}:4: $.fields.weather: duplicate label id 'bbbbbbbbbbbbbbbbbbbbbbb1': also used in "
        f"{a} at $.fields.weather; label ids must be unique in a dataset"
    ) in lines


def test_every_problem_has_a_line() -> None:
    for path in [*(BROKEN / "manifests").glob("*.yaml"), BROKEN / "dataset"]:
        for p in validate_paths([path], env={}).problems:
            assert p.location.path and p.location.line, format_problem(p)


def test_cli_prints_the_same_and_exits_1() -> None:
    path = BROKEN / "manifests" / "segment_size.yaml"
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == f"{path}:6: cvat.segment_size: must be >= 1"
    assert "Traceback" not in result.output
