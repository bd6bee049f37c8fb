"""The base digests of a new task's samples from the boxes it sent, without the labels. Pure.

Why: once CVAT echoes an upload, the run record needs, per sample, the base entries of what
both sides then hold (``create.base_of``). Computing them went through ``from_sent`` (a
``Detection``, an ``_Item`` and a random id per object, a ``Pulled``) and then compared each
local label with its converted twin: half a second of CPU for 10,000 boxes, beside the
labels' ``PUT``. Here the twin is the ``SentBox``'s plain values (``boxes_from_sent``), compared
with the local label field by field; a twin that differs from its local label is made into
the very ``Detection`` ``from_sent`` makes and digested as ``base_of`` does. Only the common
case takes this way (every object a box of a detections field on an image: see
``boxes_from_sent``); the caller falls back to ``from_sent`` + ``task_bases`` otherwise.
``tests/convert/test_sent_bases.py``: the same bases (so the same record bytes) as that way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from annosync.convert.cvat_to_labels import SentBox
from annosync.model.labels import Detection
from annosync.model.sample import Sample
from annosync.model.schema import ResolvedSchema
from annosync.sync.digest import box_key, digests, same_aspects
from annosync.sync.fields import field_items, rules_for
from annosync.sync.merge import BaseEntry

__all__ = ["bases_from_boxes"]

_NONE = type(None)
_FLAT = frozenset({bool, _NONE})


def bases_from_boxes(samples: Sequence[Sample], schema: ResolvedSchema,
                     boxes: list[SentBox]) -> list[dict[str, dict[str, BaseEntry]] | None]:
    """``task_bases`` of an image task's ``samples`` (in task frame order) once CVAT holds
    ``boxes`` (``boxes_from_sent`` of what was sent)."""
    by_sample: dict[int, dict[str, dict[str, SentBox]]] = {}
    for sb in boxes:
        by_sample.setdefault(sb.sample, {}).setdefault(sb.field, {})[sb.id] = sb
    fields = [(path, rf, rules_for(rf).attributes) for path, rf in schema.fields.items()]
    out: list[dict[str, dict[str, BaseEntry]] | None] = []
    for position, sample in enumerate(samples):
        remote = by_sample.get(position)
        if not remote:
            out.append(None)
            continue
        found: dict[str, dict[str, BaseEntry]] = {}
        for path, rf, names in fields:
            twins = remote.get(path)
            if not twins:
                continue
            entries = {}
            for item in field_items(sample, rf):
                twin = twins.get(item.key)
                if twin is not None:
                    local = item.obj
                    ld = digests(local, names)
                    if not _same_but_box(local, twin, names):
                        # as base_of does it, on the Detection from_sent makes
                        other = twin.detection()
                        rd = ld if same_aspects(local, other, names) else digests(other, names)
                    elif local.bounding_box == twin.box:
                        rd = ld
                    else:  # the box came back an ulp off (it often does): its digest
                        rd = _moved(local, ld, twin.box, names)
                    entries[item.key] = BaseEntry.of(ld, rd)
            if entries:
                found[path] = entries
        out.append(found or None)
    return out


class _Box:
    """What ``box_key`` reads of a ``Detection``."""

    __slots__ = ("bounding_box", "mask", "mask_path", "rotation", "z_order")

    def __init__(self, local: Detection, box: tuple[float, float, float, float]) -> None:
        self.mask, self.mask_path = local.mask, local.mask_path
        self.z_order, self.rotation, self.bounding_box = local.z_order, local.rotation, box


def _moved(local: Detection, ld: dict[str, str], box: tuple[float, float, float, float],
           names: tuple[str, ...]) -> dict[str, str]:
    """``digests`` of ``local`` with ``box`` for its box, from ``ld`` (its own): only the
    spatial digest can differ, and a plain box's is the key of its numbers (``box_key``), most
    often the same (an ulp off rounds alike to 7 decimals). Anything else is digested (a
    spatial digest without a comma is a hash: ``local`` is no plain box)."""
    key = box_key(_Box(local, box))  # type: ignore[arg-type]
    if key is None or "," not in ld.get("spatial", ""):
        return digests(local.model_copy(update={"bounding_box": box}), names)
    return ld if ld["spatial"] == key else {**ld, "spatial": key}


def _same_but_box(local: Any, twin: SentBox, names: tuple[str, ...]) -> bool:
    """True only if ``same_aspects(local, twin.detection(), names)`` is, the boxes left out
    (stricter: False says nothing, the caller then asks ``same_aspects`` itself). Then the
    twin's digests are those of ``local`` with the twin's box: every other aspect digests the
    same (equal types and values). The twin's values are the ones its ``Detection`` holds
    (validation keeps floats, ints, strs and bools as they are)."""
    if type(local) is not Detection or local.mask is not None or local.mask_path is not None:
        return False
    label = local.label
    if type(label) is not str or label != twin.label:
        return False
    index, other = local.index, twin.index
    if index is not other and not (type(index) is int and type(other) is int and index == other):
        return False
    z, zt = local.z_order or 0, twin.z_order or 0
    if type(z) is not int or type(zt) is not int or z != zt:
        return False
    turn, tt = local.rotation, twin.rotation
    if type(turn) is not type(tt) or turn != tt:
        return False
    mine, theirs = local.attributes, twin.attributes
    for name in names:
        va, vb = mine.get(name), theirs.get(name)
        if va is vb and type(va) in _FLAT:
            continue
        kind = type(va)
        if kind is not type(vb):
            return False
        if kind is float:
            if float.__repr__(va) != float.__repr__(vb):
                return False
        elif kind not in (str, int, bool) or va != vb:
            return False
    return True
