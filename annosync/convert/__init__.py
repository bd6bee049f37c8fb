"""Labels <-> CVAT: label specs, shapes, tags and tracks. Pure: no I/O, no HTTP.

The reconciler's entry points (conventions in docs/conversion.md):

- schema: ``infer_fields`` / ``FieldObserver`` (streaming observation of existing labels) ->
  ``resolve_schema`` (the reference's rules) or ``schema_from_project`` (an existing project's
  labels) -> ``to_specs`` (labels to create) -> ``bind`` (with the server's ids);
- push: ``to_cvat`` -> ``Upload`` (JSON + which label each object carries) -> after the server
  answers, ``build_id_map`` -> ``TaskIdMap`` (kept per task in a ``RunIdMap``);
- pull: ``from_cvat`` (with the id map and ``PreviousLabels``) -> ``Pulled`` (+ ``unexpected``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from annosync.convert.binding import BoundLabel, BoundSchema, Target, bind, schema_from_project
    from annosync.convert.cvat_to_labels import derived_id, from_cvat, from_sent
    from annosync.convert.frames import FrameMap, FrameSize
    from annosync.convert.id_map import IdEntry, RunIdMap, TaskIdMap
    from annosync.convert.id_match import build_id_map
    from annosync.convert.infer import FieldObserver, infer_field, infer_fields
    from annosync.convert.interpolate import TrackFrame, interpolate
    from annosync.convert.labels_to_cvat import MaskLoader, to_cvat
    from annosync.convert.previous import PreviousLabel, PreviousLabels
    from annosync.convert.results import (
        Pulled,
        PulledSample,
        SentObject,
        UnexpectedLabel,
        UnexpectedObject,
        Upload,
    )
    from annosync.convert.specs import label_id_patches, to_specs
    from annosync.model.schema_rules import check_schema, resolve_schema

# ``interpolate`` is both a submodule and its function: bound here, the function wins (as it did
# when everything was imported eagerly), whichever module imports the submodule later.
from annosync.convert.interpolate import TrackFrame, interpolate

#: Public name -> the module defining it: loaded on first use, so that importing one light part
#: (``convert.id_map`` for a run record) does not load numpy and the mask codecs.
_WHERE = {
    "BoundLabel": "annosync.convert.binding",
    "BoundSchema": "annosync.convert.binding",
    "FieldObserver": "annosync.convert.infer",
    "FrameMap": "annosync.convert.frames",
    "FrameSize": "annosync.convert.frames",
    "IdEntry": "annosync.convert.id_map",
    "MaskLoader": "annosync.convert.labels_to_cvat",
    "PreviousLabel": "annosync.convert.previous",
    "PreviousLabels": "annosync.convert.previous",
    "Pulled": "annosync.convert.results",
    "PulledSample": "annosync.convert.results",
    "RunIdMap": "annosync.convert.id_map",
    "SentObject": "annosync.convert.results",
    "Target": "annosync.convert.binding",
    "TaskIdMap": "annosync.convert.id_map",
    "UnexpectedLabel": "annosync.convert.results",
    "UnexpectedObject": "annosync.convert.results",
    "Upload": "annosync.convert.results",
    "bind": "annosync.convert.binding",
    "build_id_map": "annosync.convert.id_match",
    "check_schema": "annosync.model.schema_rules",
    "derived_id": "annosync.convert.cvat_to_labels",
    "from_cvat": "annosync.convert.cvat_to_labels",
    "from_sent": "annosync.convert.cvat_to_labels",
    "infer_field": "annosync.convert.infer",
    "infer_fields": "annosync.convert.infer",
    "label_id_patches": "annosync.convert.specs",
    "resolve_schema": "annosync.model.schema_rules",
    "schema_from_project": "annosync.convert.binding",
    "to_cvat": "annosync.convert.labels_to_cvat",
    "to_specs": "annosync.convert.specs",
}

__all__ = [
    "BoundLabel",
    "BoundSchema",
    "FieldObserver",
    "FrameMap",
    "FrameSize",
    "IdEntry",
    "MaskLoader",
    "PreviousLabel",
    "PreviousLabels",
    "Pulled",
    "PulledSample",
    "RunIdMap",
    "SentObject",
    "Target",
    "TaskIdMap",
    "TrackFrame",
    "UnexpectedLabel",
    "UnexpectedObject",
    "Upload",
    "bind",
    "build_id_map",
    "check_schema",
    "derived_id",
    "from_cvat",
    "from_sent",
    "infer_field",
    "infer_fields",
    "interpolate",
    "label_id_patches",
    "resolve_schema",
    "schema_from_project",
    "to_cvat",
    "to_specs",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'annosync.convert' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
