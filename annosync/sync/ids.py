"""Label ids are saved before anything is uploaded: a label without ``_id`` never reaches CVAT.

Why: a label file written by hand or by a converter may hold labels without ``_id``. Reading
it gives each one a fresh id, every time; if those ids were uploaded and never saved, every
later plan would see the uploaded labels as deleted and the same labels as new (delete and
re-upload in CVAT, and once an annotator edits them, a conflict or a lost edit). So ``sync``,
``push`` and ``pull`` give the run's id-less labels ids and save the files (atomically, under
the dataset lock) before planning; a saved plan made from id-less files is refused by apply.

A dataset hurt by the old behaviour (ids uploaded, never saved) is repaired on the way: an
id-less label whose content equals a label of the run's base that the file no longer holds
gets that label's id back, so CVAT's object (which carries that id) stays the same label.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from annosync.dataset.atomic import write_bytes_atomic
from annosync.dataset.check import iter_raw_labels
from annosync.dataset.folder import DatasetFolder, parse_sample, sample_to_bytes
from annosync.model.ids import new_id
from annosync.model.schema import ResolvedSchema
from annosync.sync.digest import digests
from annosync.sync.fields import field_items, rules_for
from annosync.sync.merge import BaseEntry, item_key, upgrade

_LABEL_MARK = b'"_type"'


def missing_ids(data: bytes) -> int:
    """How many labels of a label file's content have no ``_id`` (0 for unreadable content:
    reading it fails with its own, located error)."""
    if _LABEL_MARK not in data:
        return 0
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError):
        return 0
    return sum(1 for _, obj in iter_raw_labels(raw) if "_id" not in obj)


@dataclass
class Assigned:
    """What ``assign_ids`` did: files saved, labels given a new id, labels given back theirs."""

    files: list[str] = field(default_factory=list)
    fresh: int = 0
    restored: int = 0


def assign_ids(folder: DatasetFolder, keys: list[str], schema: ResolvedSchema | None = None,
               base: dict[str, dict[str, dict[str, BaseEntry]]] | None = None) -> Assigned:
    """Give every id-less label of ``keys`` an id and save each changed file atomically.

    ``schema`` and ``base`` (the run record's) let labels uploaded before under ids that were
    never saved take those ids back (matched by content, never across fields or frames).
    """
    done = Assigned()
    for key in keys:
        data = folder.read_bytes(key)
        if not missing_ids(data):
            continue
        raw = json.loads(data)
        placeholders: set[str] = set()
        for _, obj in iter_raw_labels(raw):
            if "_id" not in obj:
                obj["_id"] = new_id()
                placeholders.add(obj["_id"])
        path = str(folder.label_path(key))
        sample = parse_sample(json.dumps(raw), path)
        renames = _restorable(sample, placeholders, schema, (base or {}).get(key, {}))
        if renames:
            raw = _renamed(raw, renames)
            sample = parse_sample(json.dumps(raw), path)
        write_bytes_atomic(folder.label_path(key), sample_to_bytes(sample))
        done.files.append(key)
        done.restored += len(renames)
        done.fresh += len(placeholders) - len(renames)
    return done


def _restorable(sample: Any, placeholders: set[str], schema: ResolvedSchema | None,
                base: dict[str, dict[str, BaseEntry]]) -> dict[str, str]:
    """Placeholder id -> the base id of an identical label the file no longer holds."""
    if schema is None or not base:
        return {}
    renames: dict[str, str] = {}
    for path, rf in schema.fields.items():
        entries = base.get(path)
        if not entries:
            continue
        rules = rules_for(rf)
        items = field_items(sample, rf)
        present = {i.key for i in items}
        orphans = {k: e for k, e in entries.items() if k not in present}
        for item in items:
            if item.id not in placeholders or not orphans:
                continue
            wanted = {k: v for k, v in digests(item.obj, rules.attributes).items()
                      if v is not None}
            for key, entry in sorted(orphans.items()):
                frame, _, label_id = key.rpartition("/")
                # (a format-2 entry's hashed box compared as it was: ``merge.upgrade``)
                if item_key(label_id, item.frame) == key and (
                        upgrade(entry, item.obj).l == wanted) and (
                        (frame == "") == (item.frame is None)):
                    renames[item.id] = label_id
                    del orphans[key]
                    break
    return renames


def _renamed(raw: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    for _, obj in iter_raw_labels(raw):
        if obj.get("_id") in renames:
            obj["_id"] = renames[obj["_id"]]
    return raw
