"""What the selected samples hold: the facts the manifest rules check against, in one pass.

The reference infers much from "the observed labels on your dataset" (is a field new? what type
does it store? are the ``occluded`` values booleans?). This module reads the selected samples
once, streaming, and keeps only a summary (field kinds, attribute value types, classes, masks,
tracks, media), so the rules in ``rules.py`` stay pure functions of (manifest, summary).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from annosync.dataset.folder import DatasetFolder
from annosync.dataset.media import media_kind
from annosync.errors import InputError, Problem
from annosync.model.labels import (
    Classification,
    Classifications,
    Detection,
    Detections,
    Keypoint,
    Keypoints,
    Polyline,
    Polylines,
    Segmentation,
    label_objects,
)
from annosync.model.sample import Sample
from annosync.model.schema_rules import value_type_of


def value_kind(value: Any) -> str:
    """The stored kind of a field value: a label ``_type`` or ``scalar:<python type>``."""
    if isinstance(value, (Classification, Classifications, Detection, Detections, Polyline,
                          Polylines, Keypoint, Keypoints, Segmentation)):
        return str(value.type)
    return f"scalar:{type(value).__name__}"


@dataclass
class FieldFacts:
    """One field (``name`` or ``frames.name``) over the selected samples."""

    kinds: set[str] = field(default_factory=set)
    samples: int = 0
    labels: int = 0
    classes: set[str] = field(default_factory=set)
    #: attribute name -> value types seen (``bool``, ``int``, ``float``, ``str``), all classes
    attributes: dict[str, set[str]] = field(default_factory=dict)
    #: (class, attribute name) -> value types seen
    class_attributes: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    masks: int = 0  # detections carrying an instance mask
    filled: set[bool] = field(default_factory=set)  # polylines' ``filled`` flags
    tracks: int = 0  # labels with an ``index``
    keyframes: int = 0

    def attribute_types(self, name: str, classes: Iterable[str] | None = None) -> set[str]:
        if classes is None:
            return set(self.attributes.get(name, set()))
        out: set[str] = set()
        for c in classes:
            out |= self.class_attributes.get((c, name), set())
        return out


@dataclass
class SampleFacts:
    key: str
    media: str
    media_type: str | None  # from metadata, else guessed from the extension
    frame_count: int | None
    #: string-valued sample fields (candidates for ``media_field``)
    strings: dict[str, str] = field(default_factory=dict)


@dataclass
class DatasetFacts:
    """The summary the rules use; ``readable`` is False when the folder could not be opened."""

    root: str = ""
    readable: bool = True
    samples: list[SampleFacts] = field(default_factory=list)
    fields: dict[str, FieldFacts] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: samples whose label file failed to parse (reported with the label file checks)
    unreadable: list[str] = field(default_factory=list)

    @property
    def videos(self) -> list[SampleFacts]:
        return [s for s in self.samples if s.media_type == "video"]

    @property
    def images(self) -> list[SampleFacts]:
        return [s for s in self.samples if s.media_type != "video"]

    def has_field(self, name: str) -> bool:
        return name in self.fields


def _add_labels(facts: FieldFacts, value: Any) -> None:
    facts.kinds.add(value_kind(value))
    for obj in label_objects(value):
        facts.labels += 1
        label = getattr(obj, "label", None)
        if isinstance(label, str):
            facts.classes.add(label)
        for name, v in obj.attributes.items():
            if v is None:
                continue
            t = value_type_of(v) or "null"
            facts.attributes.setdefault(name, set()).add(t)
            if isinstance(label, str):
                facts.class_attributes.setdefault((label, name), set()).add(t)
        if isinstance(obj, Detection) and (obj.mask is not None or obj.mask_path):
            facts.masks += 1
        if isinstance(obj, Polyline):
            facts.filled.add(bool(obj.filled))
        if getattr(obj, "index", None) is not None:
            facts.tracks += 1
        if getattr(obj, "keyframe", None):
            facts.keyframes += 1


def summarize_sample(facts: DatasetFacts, key: str, sample: Sample) -> None:
    meta = sample.metadata
    facts.samples.append(SampleFacts(
        key=key,
        media=sample.media,
        media_type=meta.media_type if meta else media_kind(sample.media),
        frame_count=meta.frame_count if meta else None,
        strings={k: v for k, v in sample.fields.items() if isinstance(v, str)},
    ))
    for name, value in sample.fields.items():
        if value is None:
            continue
        f = facts.fields.setdefault(name, FieldFacts())
        f.samples += 1
        _add_labels(f, value)
    seen: set[str] = set()
    for frame in sample.frames.values():
        for name, value in frame.items():
            if value is None:
                continue
            f = facts.fields.setdefault(f"frames.{name}", FieldFacts())
            if name not in seen:
                f.samples += 1
                seen.add(name)
            _add_labels(f, value)


def observe(folder: DatasetFolder, keys: Iterable[str]) -> DatasetFacts:
    """Read the given samples (streaming) and summarize them."""
    facts = DatasetFacts(root=str(folder.root))
    for key in keys:
        try:
            sample = folder.read(key)
        except InputError:
            facts.unreadable.append(key)
            continue
        summarize_sample(facts, key, sample)
    return facts
