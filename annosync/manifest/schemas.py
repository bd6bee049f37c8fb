"""The JSON Schemas in ``formats/``: generated from the pydantic models, byte-for-byte stable.

``formats/manifest.schema.json`` describes a manifest file (one run, or ``runs:`` with optional
``defaults:``); editors that speak the YAML language server use it for completion and checks
(``# yaml-language-server: $schema=../formats/manifest.schema.json``). Values written as
``${VAR}`` are strings to an editor, so a number given that way may be flagged there; annosync
itself types the value after interpolation. ``formats/sample.schema.json`` describes one label
file. ``annosync schema --check`` (and a test) fail when the committed files drift from the
models.
"""

from __future__ import annotations

import copy
from typing import Any

from annosync.dataset import jsonfmt
from annosync.model.manifest import Manifest
from annosync.model.sample import Sample

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://annosync.invalid/formats/"


_LABEL_DEFS = (
    "Classification", "Classifications", "Detection", "Detections", "Polyline", "Polylines",
    "Keypoint", "Keypoints", "Segmentation",
)


def sample_schema() -> dict[str, Any]:
    schema = Sample.model_json_schema(by_alias=True, mode="validation")
    # A field value: a label, which must say its ``_type`` (items inside a container need not),
    # or a scalar. Pydantic's own rendering of the discriminated union cannot say "required".
    defs = schema["$defs"]
    defs.pop("_UnknownLabel", None)
    defs["FieldValue"] = {
        "description": "a label object (with its '_type') or a scalar (bool, number, string, null)",
        "oneOf": [
            *({"$ref": f"#/$defs/{name}", "required": ["_type"]} for name in _LABEL_DEFS),
            {"type": ["boolean", "number", "string", "null"]},
        ],
    }
    props = schema["properties"]
    props["fields"]["additionalProperties"] = {"$ref": "#/$defs/FieldValue"}
    props["frames"]["additionalProperties"] = {
        "type": "object", "additionalProperties": {"$ref": "#/$defs/FieldValue"},
    }
    props["frames"]["propertyNames"] = {"pattern": "^[1-9][0-9]*$"}
    props["frames"]["description"] = "frame number (1-based) -> frame-level fields (videos)"
    out: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "$id": BASE_ID + "sample.schema.json",
        "title": "annosync label file (one sample)",
        "description": "One JSON file per sample under <dataset>/labels/; see formats/README.md.",
    }
    out.update({k: v for k, v in schema.items() if k not in ("title", "description")})
    return out


def manifest_schema() -> dict[str, Any]:
    run = Manifest.model_json_schema(by_alias=True, mode="validation")
    defs = run.pop("$defs", {})
    run_def = copy.deepcopy(run)
    run_def["title"] = "Run"
    defs["Run"] = run_def
    # ``defaults:`` holds any part of a run; ``runs:`` items may then omit required keys.
    partial = copy.deepcopy(run_def)
    partial.pop("required", None)
    partial["title"] = "PartialRun"
    defs["PartialRun"] = partial
    defs["RunsFile"] = {
        "title": "RunsFile",
        "type": "object",
        "additionalProperties": False,
        "required": ["runs"],
        "properties": {
            "defaults": {
                "$ref": "#/$defs/PartialRun",
                "description": "settings merged into every run (the run wins)",
            },
            "runs": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/$defs/PartialRun"},
                "description": "the annotation runs of this file",
            },
        },
    }
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": BASE_ID + "manifest.schema.json",
        "title": "annosync manifest",
        "description": (
            "One annotation run, or a 'runs:' list (with optional 'defaults:'); several YAML "
            "documents ('---') may share a file. See formats/README.md."
        ),
        "anyOf": [{"$ref": "#/$defs/Run"}, {"$ref": "#/$defs/RunsFile"}],
        "$defs": dict(sorted(defs.items())),
    }


def generated() -> dict[str, bytes]:
    """File name -> exact bytes, for every schema in ``formats/``."""
    return {
        "manifest.schema.json": jsonfmt.dump_bytes(manifest_schema()),
        "sample.schema.json": jsonfmt.dump_bytes(sample_schema()),
    }
