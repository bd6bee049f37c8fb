"""The common import case without the model round trip: an image of boxes into a sample that
has no labels yet goes straight to plain JSON data.

Why: making a pydantic ``Detection`` per box, placing it, dumping the sample and validating it
cost more than reading the XML (issue 11). For a sample without labels nothing can merge, so
the placer's rules reduce to: ids (the file's ``label_id`` when valid and free, else a fresh
one), order by ``z_order`` (stable), one ``<field>_detections`` container. This module does
exactly that and checks what the models would (non-negative finite box, non-empty attribute
names); anything else returns ``None`` and the caller takes the general path, which reports it
the usual way. ``tests/cvatxml/test_direct.py`` compares the bytes of both paths (Hypothesis).
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Sequence
from typing import Any

from annosync.cvatxml.model import Shape
from annosync.cvatxml.xmlmap import _read_attrs, _specials
from annosync.dataset import jsonfmt
from annosync.dataset.jsonfmt import _PADS, _dict_fast, _list_fast, _scalar_fast
from annosync.model.labels import LABEL_ID_PATTERN
from annosync.model.sample import MediaMetadata, Sample

_LABEL_ID = re.compile(LABEL_ID_PATTERN)
#: (label, source, occluded, group_id, attributes) -> ``_attributes`` of a box: the boxes of a
#: file repeat a few attribute sets, so each is typed and written once; the dicts are shared
#: by the detections (read only) and cleared when a new document's types come or it grows
_MEMO: dict[tuple[Any, ...], tuple[dict[str, Any], str | None, str | None]] = {}
_MEMO_MAX = 4096
_MEMO_TYPES: dict[str, dict[str, str]] | None = None
#: id(attributes dict of _MEMO) -> (that dict, its text in a detection)
_TEXTS: dict[int, tuple[dict[str, Any], str]] = {}
_isfinite = math.isfinite
_enc = jsonfmt._encode_str


def new_ids(n: int) -> list[str]:
    """``n`` fresh label ids, as ``annosync.model.ids.new_id`` makes them, in one go."""
    head = f"{int(time.time()) & 0xFFFFFFFF:08x}"
    tail = os.urandom(8 * n).hex()
    return [head + tail[i:i + 16] for i in range(0, 16 * n, 16)]


def _memos_for(types: dict[str, dict[str, str]]) -> None:
    """Clear the memoised pieces when ``types`` is another document's: its attribute types
    may differ."""
    global _MEMO_TYPES
    if _MEMO_TYPES is not types:
        _MEMO.clear()
        _TEXTS.clear()
        _PARTS.clear()
        _MEMO_TYPES = types


def box_labels(shapes: Sequence[Shape], boxes: Sequence[Any], types: dict[str, dict[str, str]],
               taken: set[str], dataset_ids: set[str],
               texts: list[str | None] | None = None) -> list[dict[str, Any]] | None:
    """The ``detections`` list (as ``Detections.model_dump(mode="json", by_alias=True)`` has
    it) of an image's ``box`` shapes placed into an empty sample, or None when anything is out
    of the ordinary. ``taken`` (ids this import gave out) gets the file's ids it keeps.
    ``texts``: each box's text (``pixvec.image_boxes``), put in the detections' order."""
    _memos_for(types)
    memo = _MEMO
    out: list[dict[str, Any]] = []
    keep: set[str] = set()
    fresh = 0
    sort = False
    for s, box in zip(shapes, boxes, strict=True):
        if s.kind != "box" or box is None or s.elements:
            return None
        x, y, bw, bh = box
        if not (bw >= 0 and bh >= 0 and _isfinite(x) and _isfinite(y) and _isfinite(bw)
                and _isfinite(bh)):
            return None
        label = s.label
        key = (label, s.source, s.occluded, s.group_id, tuple(s.attributes))
        hit = memo.get(key)
        if hit is None:
            hit = _attributes(s, types)
            if hit[1] is None:  # a label_id is one label's: nothing to share
                if len(memo) >= _MEMO_MAX:
                    memo.clear()
                    _TEXTS.clear()
                memo[key] = hit
                if hit[2] is not None:
                    _TEXTS[id(hit[0])] = (hit[0], hit[2])
        attrs, label_id = hit[0], hit[1]
        d: dict[str, Any] = {"_id": label_id, "bounding_box": [x, y, bw, bh], "label": label}
        if attrs:
            if "" in attrs:
                return None
            d["attributes"] = attrs
        rotation = s.rotation
        if rotation:
            d["rotation"] = rotation
        z = s.z_order
        if z:
            d["z_order"] = z
            sort = True
        if label_id is None:
            fresh += 1
        out.append(d)
    ids = iter(new_ids(fresh) if fresh else ())
    for d in out:  # ids in file order, as the placer gives them
        lid = d["_id"]
        if lid is None:
            d["_id"] = next(ids)
        elif _LABEL_ID.match(lid) and lid not in taken and lid not in dataset_ids \
                and lid not in keep:
            keep.add(lid)
        else:
            d["_id"] = new_ids(1)[0]
    taken.update(keep)
    if sort:
        if texts is not None:
            order = sorted(range(len(out)), key=lambda i: out[i].get("z_order") or 0)
            out = [out[i] for i in order]
            texts[:] = [texts[i] for i in order]
        else:
            out.sort(key=lambda d: d.get("z_order") or 0)
    return out


def _attributes(s: Shape, types: dict[str, dict[str, str]]
                ) -> tuple[dict[str, Any], str | None, str | None]:
    """A box's label attributes (typed, with its ``cvat.`` specials), its ``label_id`` and
    the text ``jsonfmt`` gives the attributes in a detection (None: not known here)."""
    attrs, label_id = _read_attrs(s.attributes, types.get(s.label or "", {}))
    _specials(attrs, s.source, s.occluded, s.group_id)
    text = None
    if attrs and "" not in attrs:
        try:
            text = _dict_fast(attrs, 5)
        except (jsonfmt._Slow, TypeError):
            text = None
    return attrs, label_id, text


#: (id of a detection's attributes dict, label) -> (that dict, the detection's text from its
#: id's end to its box, from its box's end to its label's end): the parts a file repeats. Only
#: for the shared dicts of ``_MEMO`` (and none); the dict is kept, so its id stays its own
_PIECES: dict[tuple[int, Any], tuple[Any, str, str]] = {}
_ID_KEY = "{" + _PADS[5] + '"_id": '
_END = _PADS[4] + "}"


def _pieces(attrs: dict[str, Any] | None, label: Any) -> tuple[Any, str, str]:
    pad = _PADS[5]
    mid = ""
    if attrs is not None:
        hit = _TEXTS.get(id(attrs))
        mid = "," + pad + '"attributes": ' + (
            hit[1] if hit is not None and hit[0] is attrs else _dict_fast(attrs, 5))
    got = (attrs, mid + "," + pad + '"bounding_box": ', "," + pad + '"label": ' + _enc(label))
    if attrs is None or id(attrs) in _TEXTS:
        if len(_PIECES) >= _MEMO_MAX:
            _PIECES.clear()
        _PIECES[(id(attrs), label)] = got
    return got


def _detection_text(d: dict[str, Any], box: str | None = None) -> str:
    """``jsonfmt``'s text of one detection dict of ``box_labels`` at its place in a sample
    (depth 4: sample, fields, field, list), keys in their sorted order; ``box``: the text of
    its ``bounding_box`` when known (``pixvec.box_texts``)."""
    attrs = d.get("attributes")
    label = d["label"]
    hit = _PIECES.get((id(attrs), label))
    if hit is None or hit[0] is not attrs:
        hit = _pieces(attrs, label)
    text = _ID_KEY + _enc(d["_id"]) + hit[1] + (
        _list_fast(d["bounding_box"], 5) if box is None else box) + hit[2]
    rotation = d.get("rotation")
    if rotation is not None:
        text += "," + _PADS[5] + '"rotation": ' + _scalar_fast(rotation)
    z = d.get("z_order")
    if z is not None:
        text += "," + _PADS[5] + '"z_order": ' + _scalar_fast(z)
    return text + _END


#: (label, source, occluded, group_id, attributes) -> (label_id, the text of a detection from
#: its id's closing quote to its box, from its box's end to its end): ``box_body``'s memo
_PARTS: dict[tuple[Any, ...], tuple[str | None, str, str]] = {}
_ID_OPEN = _ID_KEY + '"'


def box_body(shapes: Sequence[Shape], boxes: Sequence[Any], texts: Sequence[str | None],
             types: dict[str, dict[str, str]], taken: set[str], dataset_ids: set[str]
             ) -> tuple[str, set[str]] | None:
    """``box_labels`` then ``sample_bytes``' text of the detections, in one pass and without
    a dict a box, for the common image: boxes (their texts from ``pixvec`` where it knows
    them), no rotation, no ``z_order`` (so nothing to sort), attributes ``jsonfmt``'s fast
    writer takes. The text
    and the file's ids it keeps (``taken`` is not changed: the caller adds them once the
    file is made); None: anything else (then ``box_labels``, which decides it)."""
    _memos_for(types)
    parts = _PARTS
    fresh = new_ids(len(shapes))
    keep: set[str] = set()
    out: list[str] = []
    append = out.append
    for i, (s, box, t) in enumerate(zip(shapes, boxes, texts, strict=True)):
        if s.kind != "box" or box is None or s.elements or s.rotation or s.z_order:
            return None
        x, y, bw, bh = box
        if not (bw >= 0 and bh >= 0 and _isfinite(x + y + bw + bh)):
            return None
        if t is None:  # (a box pixvec left to the scalar code: as _detection_text writes it)
            try:
                t = _list_fast([x, y, bw, bh], 5)
            except (jsonfmt._Slow, TypeError):
                return None
        key = (s.label, s.source, s.occluded, s.group_id, tuple(s.attributes))
        hit = parts.get(key)
        if hit is None:
            hit = _parts(s, types)
            if hit is None:
                return None
            if hit[0] is None:  # a label_id is one label's: nothing to share
                if len(parts) >= _MEMO_MAX:
                    parts.clear()
                parts[key] = hit
        lid = hit[0]
        if lid is None:
            lid = fresh[i]
        elif _LABEL_ID.match(lid) and lid not in taken and lid not in dataset_ids \
                and lid not in keep:
            keep.add(lid)
        else:
            lid = fresh[i]
        append(_ID_OPEN + lid + hit[1] + t + hit[2])
    return ("," + _PADS[4]).join(out), keep


def _parts(s: Shape, types: dict[str, dict[str, str]]) -> tuple[str | None, str, str] | None:
    """``box_body``'s memo entry for a box like ``s`` (None: not for ``box_body``)."""
    label = s.label
    if not isinstance(label, str):
        return None
    attrs, label_id, text = _attributes(s, types)
    pad = _PADS[5]
    mid = '"'
    if attrs:
        if text is None:  # ("" in attrs, or values the fast writer does not take)
            return None
        mid += "," + pad + '"attributes": ' + text
    return (label_id, mid + "," + pad + '"bounding_box": ',
            "," + pad + '"label": ' + _enc(label) + _END)


def sample_head(data: dict[str, Any]) -> str | None:
    """``jsonfmt.dumps`` of a sample dumped as ``data``, its ``fields`` empty (None if not)."""
    return None if data["fields"] else jsonfmt.dumps(data)


#: (width, height) -> the text of a new image sample of that size (``new_image_head``), cut
#: where its media path goes; None: not cut cleanly (the general way then)
_HEADS: dict[tuple[int, int], tuple[str, str] | None] = {}
_PLACE = "media/annosync-head-template.jpg"


def new_image_head(media: str, width: int, height: int) -> str | None:
    """``sample_head`` of ``Sample(media=media, metadata=MediaMetadata(media_type="image",
    width=width, height=height))`` (``_image_target``'s new sample; ``media`` valid, as
    it was made), from a template per size: one model dump and ``jsonfmt`` walk per size
    instead of per image (~15 us each, 20,000 at 1M boxes)."""
    cut = _HEADS.get((width, height), _UNCUT)
    if cut is _UNCUT:
        text = sample_head(Sample(media=_PLACE, metadata=MediaMetadata(
            media_type="image", width=width, height=height)).model_dump(mode="json",
                                                                        by_alias=True))
        parts = None if text is None else text.split(_enc(_PLACE))
        cut = (parts[0], parts[1]) if parts is not None and len(parts) == 2 else None
        if len(_HEADS) >= _MEMO_MAX:
            _HEADS.clear()
        _HEADS[(width, height)] = cut
    return None if cut is None else cut[0] + _enc(media) + cut[1]


_UNCUT: Any = ()


def body_bytes(head: str, fname: str, body: str) -> bytes | None:
    """The label file of a sample whose text without fields is ``head`` (``sample_head``)
    with the text ``body`` of its detections (``box_body``) in field ``fname``; None if
    ``head`` is not as expected (then the general way)."""
    marker = '\n  "fields": {}'  # depth 1: the only place such a line can be
    if head.count(marker) != 1:
        return None
    p2, p3 = _PADS[2], _PADS[3]
    value = ("{" + p2 + _enc(fname) + ": {" + p3 + '"_type": "detections",' + p3
             + '"detections": [' + _PADS[4] + body + p3 + "]" + p2 + "}" + _PADS[1] + "}")
    return head.replace(marker, '\n  "fields": ' + value).encode("utf-8")


def sample_bytes(data: dict[str, Any], fname: str, dets: list[dict[str, Any]],
                 texts: list[str | None] | None = None) -> bytes:
    """The label file of a sample dumped as ``data`` (its ``fields`` empty) with ``dets``
    (``box_labels``) in field ``fname``: ``jsonfmt.dump_bytes`` of the whole, bit for bit,
    with the detections written without the general walk over every value (``texts``: their
    boxes' texts, in their order, where known)."""
    fields = data["fields"]
    if not dets or fields:
        if dets:
            fields[fname] = {"_type": "detections", "detections": dets}
        return jsonfmt.dump_bytes(data)
    try:
        if texts is None:
            body = ("," + _PADS[4]).join([_detection_text(d) for d in dets])
        else:
            body = ("," + _PADS[4]).join([_detection_text(d, t)
                                          for d, t in zip(dets, texts, strict=True)])
    except (jsonfmt._Slow, TypeError, KeyError):  # out of the ordinary: the general walk
        fields[fname] = {"_type": "detections", "detections": dets}
        return jsonfmt.dump_bytes(data)
    text = jsonfmt.dumps(data)
    marker = '\n  "fields": {}'  # depth 1: the only place such a line can be
    p2, p3 = _PADS[2], _PADS[3]
    value = ("{" + p2 + _enc(fname) + ": {" + p3 + '"_type": "detections",' + p3
             + '"detections": [' + _PADS[4] + body + p3 + "]" + p2 + "}" + _PADS[1] + "}")
    if text.count(marker) != 1:
        fields[fname] = {"_type": "detections", "detections": dets}
        return jsonfmt.dump_bytes(data)
    return text.replace(marker, '\n  "fields": ' + value).encode("utf-8")
