"""``export-xml``'s direct path: a label file's JSON straight to the XML text of its image.

Why: the general path validates every label file into pydantic models, turns each label into a
``Shape`` (``xmlmap.label_to_shapes``), notes its attributes for the meta and writes the shape
(``writer.image_text``): about 20 us per box, most of a big export. For the common labels
(boxes, tags, polygons, polylines, plain keypoints) all of that reduces to string formatting.

``FastFrames.image`` takes the parsed JSON of one label file and returns the bytes
``writer.image_text`` would give for it, or ``None`` when anything is unusual (masks,
segmentations, skeletons, ellipses, cuboids, video, labels without ids, a value the models
would convert or refuse, a field name or id the models check, text lxml refuses ...): the caller
then runs the general path for that sample, which stays the reference (and gives the errors).
So what is accepted here is a subset of what the models accept, and its output is the same
bytes: ``tests/cvatxml/test_export_fast.py`` checks both on Hypothesis label files.

The meta of the export depends on the labels' attribute values (``export._Labels.note``); they
are recorded in ``notes`` (label, kind, attribute, value) the first time a (label, attribute,
value) is seen, for the caller to apply, and dropped with the sample when it is declined.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from annosync.cvatxml.encoding import fmt_cvat, fmt_exact
from annosync.cvatxml.pixels import SNAP_ULPS, snap
from annosync.cvatxml.writer import _INDENT, _att, _Other, _txt, image_head

#: what the direct path noted: (label, shape kind or None, attribute name or None, value)
Note = tuple[str, str | None, str | None, Any]

_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}\Z")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")
_SAMPLE_KEYS = frozenset({"media", "metadata", "fields", "frames", "tags"})
_META_KEYS = frozenset({"media_type", "width", "height", "fps", "frame_count", "size_bytes"})
_LABEL_KEYS = frozenset({"_id", "attributes", "tags", "_type", "label", "confidence"})
_SPATIAL_KEYS = _LABEL_KEYS | {"index", "keyframe", "z_order"}
_DET_KEYS = _SPATIAL_KEYS | {"bounding_box", "rotation", "mask", "mask_path"}
_POLY_KEYS = _SPATIAL_KEYS | {"points", "closed", "filled"}
_KP_KEYS = _SPATIAL_KEYS | {"points"}
#: container ``_type`` -> (item ``_type``, list key)
_CONTAINERS = {"detections": ("detection", "detections"),
               "classifications": ("classification", "classifications"),
               "polylines": ("polyline", "polylines"),
               "keypoints": ("keypoint", "keypoints")}
_SCALARS = (bool, int, str, type(None))
_PREFIX = "cvat."
_BIG = 2.0 ** 53
_IND2, _IND3 = _INDENT[2], _INDENT[3]
_MEMO_MAX = 1 << 16
_ULP1 = SNAP_ULPS * math.ulp(1.0)
_ULP6 = SNAP_ULPS * math.ulp(1e6)


def pixel_text(fmt: Callable[[float], str]) -> Callable[[float], str]:
    """``fmt(snap(a))`` for pixel values ``a``, in one formatting for ``fmt_exact`` and
    ``fmt_cvat`` below 1e6: ``f"{a:.2f}"`` read back is ``round(a, 2)`` (both round the exact
    binary value half-even), so ``snap`` moves ``a`` to it when within ``SNAP_ULPS`` ulps, and
    that value prints as the same text (``0.00``, never ``-0.00``: ``snap`` adds ``0.0``);
    otherwise ``a`` stays, printed as ``fmt`` prints it. Tested against ``fmt(snap(a))``."""
    if fmt is fmt_exact:
        other: Callable[[float], str] = repr
    elif fmt is fmt_cvat:
        other = fmt_cvat
    else:  # pragma: no cover - only the two styles exist
        return lambda a: fmt(snap(a))
    ulp = math.ulp

    def text(a: float) -> str:
        if -1e6 < a < 1e6:
            t = f"{a:.2f}"
            d = float(t) - a
            if -_ULP1 <= d <= _ULP1 or (
                    -_ULP6 <= d <= _ULP6 and abs(d) <= SNAP_ULPS * ulp(max(abs(a), 1.0))):
                return "0.00" if t == "-0.00" else t
            return other(a)
        return fmt(snap(a))

    return text


class _Decline(Exception):
    """The sample goes the general way."""


def _finite(v: Any) -> float:
    """A JSON number as the float pydantic's lax ``float`` makes of it (ints below 2**53 only:
    exact), finite; anything else declines."""
    t = type(v)
    if t is float:
        if v - v == 0.0:  # not inf, not nan
            return v
        raise _Decline
    if t is int and -_BIG < v < _BIG:
        return float(v)
    raise _Decline


def _opt_number(d: dict[str, Any], key: str) -> float | None:
    v = d.get(key)
    return None if v is None else _finite(v)


def _opt_int(d: dict[str, Any], key: str) -> int | None:
    v = d.get(key)
    if v is None or type(v) is int:
        return v
    raise _Decline


def _str_list(v: Any) -> None:
    if type(v) is not list or any(type(t) is not str for t in v):
        raise _Decline


def _items(items: Any) -> list[Any]:
    if type(items) is not list:
        raise _Decline
    return items


def _xy(p: Any) -> tuple[float, float]:
    if type(p) is not list or len(p) != 2:
        raise _Decline
    return _finite(p[0]), _finite(p[1])


class FastFrames:
    """Renders label files of image samples as ``<image>`` text, or declines them.

    ``fields``: label field names to export (``None``: all); ``label_ids``: write each label's
    id as a ``label_id`` attribute first; ``fmt``: the writer's number formatter."""

    def __init__(self, fields: set[str] | None, label_ids: bool,
                 fmt: Callable[[float], str]) -> None:
        self.fields = fields
        self.label_ids = label_ids
        self.fmt = fmt
        self._pixel = pixel_text(fmt)
        self.notes: list[Note] = []
        self._coords: dict[int, dict[float, str]] = {}
        #: (kind, label, attribute items, their types) -> the label's text parts
        self._parts: dict[tuple[Any, ...], tuple[str, str, str, str]] = {}
        self._checker: FastFrames | None = None

    # -- helpers -----------------------------------------------------------------------------
    def _memo(self, size: int) -> dict[float, str]:
        """``fmt(px(v, size))`` by ``v`` (px = ``snap(v * size)``; equal floats give equal
        text, ``-0.0`` and ``0.0`` included: ``snap`` makes both ``0.0``)."""
        memo = self._coords.get(size)
        if memo is None or len(memo) > _MEMO_MAX:
            memo = self._coords[size] = {}
        return memo

    def _px(self, memo: dict[float, str], v: float, size: int) -> str:
        text = memo.get(v)
        if text is None:
            text = memo[v] = self._pixel(v * size)
        return text

    def _points(self, pts: Any, w: int, h: int) -> str:
        """``x0,y0;x1,y1`` pixels of relative ``[[x, y], ...]``."""
        if type(pts) is not list or not pts:
            raise _Decline
        mw, mh = self._memo(w), self._memo(h)
        px = self._px
        out = []
        for p in pts:
            x, y = _xy(p)
            out.append(f"{px(mw, x, w)},{px(mh, y, h)}")
        return ";".join(out)

    def _id_line(self, ident: str) -> str:
        return f'{_IND3}<attribute name="label_id">{ident}</attribute>' if self.label_ids else ""

    def parts(self, kind: str, label: str, attrs: dict[str, Any]) -> tuple[str, str, str, str]:
        """What a label's text takes from its label and attributes, memoised: the start tag
        up to the coordinates (``<tag ...>`` whole for tags), the ``rotation`` of
        ``cvat.rotation`` (not boxes), the ``group_id``, the ``<attribute>`` lines. The first
        time, the attributes are checked and noted."""
        key = (kind, label, tuple(attrs.items()), tuple(map(type, attrs.values())))
        got = self._parts.get(key)
        if got is not None:
            return got
        lines = []
        for k in sorted(attrs):
            v = attrs[k]
            if not k or (type(v) not in _SCALARS and not (type(v) is float and v - v == 0.0)):
                raise _Decline
            if v is None or k.startswith(_PREFIX):
                continue
            if v is True:
                text = "true"
            elif v is False:
                text = "false"
            elif type(v) is float:
                text = repr(v)
            else:
                text = str(v)
            lines.append(f'{_IND3}<attribute name="{_att(k)}">{_txt(text)}</attribute>')
        if "cvat.shape" in attrs:
            raise _Decline
        source = attrs.get("cvat.source")
        if type(source) is not str or not source:
            source = "manual"
        group = attrs.get("cvat.group_id")
        group_text = f' group_id="{group}"' if type(group) is int and group else ""
        rot = attrs.get("cvat.rotation")
        rot_text = f' rotation="{self.fmt(float(rot))}"' \
            if kind != "box" and type(rot) in (int, float) and rot else ""
        if kind == "tag":
            head = f'{_IND2}<tag label="{_att(label)}" source="{_att(source)}"{group_text}>'
            group_text = ""
        else:
            occluded = "1" if attrs.get("cvat.occluded") is True else "0"
            head = (f'{_IND2}<{kind} label="{_att(label)}" source="{_att(source)}" '
                    f'occluded="{occluded}"')
        got = (head, rot_text, group_text, "".join(lines))
        if len(self._parts) > 4096:
            self._parts.clear()
        self._parts[key] = got
        self.notes.append((label, None if kind == "tag" else kind, None, None))
        self.notes.extend((label, None, k, v) for k, v in attrs.items()
                          if v is not None and not k.startswith(_PREFIX))
        return got

    # -- labels ------------------------------------------------------------------------------
    def _boxes(self, items: Any, w: int, h: int, out: list[tuple[int, str]]) -> None:
        if type(items) is not list:
            raise _Decline
        mw, mh = self._memo(w), self._memo(h)
        pixel = self._pixel
        parts = self._parts
        id_line = self._id_line
        for d in items:
            if type(d) is not dict:
                raise _Decline
            g = d.get
            ident, label, box, attrs = g("_id"), g("label"), g("bounding_box"), g("attributes")
            if attrs is None:
                if "attributes" in d:  # null: the model refuses it
                    raise _Decline
                attrs = {}
                plain = len(d) == 3
            else:
                plain = len(d) == 4
            if type(ident) is not str or type(label) is not str or type(box) is not list \
                    or len(box) != 4 or type(attrs) is not dict \
                    or not ((ident.isalnum() and ident.isascii() and len(ident) <= 64)
                            or _ID.match(ident)):
                raise _Decline
            x, y, bw, bh = box
            if type(x) is not float or type(y) is not float or type(bw) is not float \
                    or type(bh) is not float:
                x, y, bw, bh = _finite(x), _finite(y), _finite(bw), _finite(bh)
            t = x + y + bw + bh
            if t - t != 0.0 or bw < 0.0 or bh < 0.0:
                raise _Decline
            if plain:
                z, rotation = 0, ""
            else:
                z, rotation = self._optional(d, _DET_KEYS, "detection")
            got = parts.get(("box", label, tuple(attrs.items()),
                             tuple(map(type, attrs.values()))))
            if got is None:
                got = self.parts("box", label, attrs)
            head, _, group, lines = got
            a = mw.get(x)
            if a is None:
                a = mw[x] = pixel(x * w)
            b = mh.get(y)
            if b is None:
                b = mh[y] = pixel(y * h)
            x += bw
            c = mw.get(x)
            if c is None:
                c = mw[x] = pixel(x * w)
            y += bh
            e = mh.get(y)
            if e is None:
                e = mh[y] = pixel(y * h)
            out.append((z, f'{head} xtl="{a}" ytl="{b}" xbr="{c}" ybr="{e}"{rotation} '
                           f'z_order="{z}"{group}>{id_line(ident)}{lines}{_IND2}</box>'))

    def _optional(self, d: dict[str, Any], keys: frozenset[str], own_type: str
                  ) -> tuple[int, str]:
        """Checks of a label's less common keys; its z order and box ``rotation`` text."""
        if not d.keys() <= keys:
            raise _Decline
        if d.get("_type", own_type) != own_type:
            raise _Decline
        if "tags" in d:
            _str_list(d["tags"])
        if own_type == "keypoint":
            conf = d.get("confidence")
            if conf is not None:
                if type(conf) is not list:
                    raise _Decline
                for c in conf:
                    if c is not None:
                        _finite(c)
        else:
            _opt_number(d, "confidence")
        if own_type == "classification":
            return 0, ""
        _opt_int(d, "index")
        kf = d.get("keyframe")
        if kf is not None and type(kf) is not bool:
            raise _Decline
        z = _opt_int(d, "z_order") or 0
        if own_type != "detection":
            return z, ""
        if d.get("mask") is not None:
            raise _Decline
        mask_path = d.get("mask_path")
        if mask_path is not None and type(mask_path) is not str:
            raise _Decline
        rotation = _opt_number(d, "rotation")
        return z, f' rotation="{self.fmt(rotation)}"' if rotation else ""

    def _label(self, d: Any, keys: frozenset[str], own_type: str
               ) -> tuple[str, str, dict[str, Any], int]:
        """(id, label, attributes, z order) of a label other than a box, checked."""
        if type(d) is not dict:
            raise _Decline
        ident, label, attrs = d.get("_id"), d.get("label"), d.get("attributes", {})
        if type(ident) is not str or type(label) is not str or type(attrs) is not dict \
                or not _ID.match(ident):
            raise _Decline
        z, _ = self._optional(d, keys, own_type)
        return ident, label, attrs, z

    def _polylines(self, items: Any, w: int, h: int, out: list[tuple[int, str]]) -> None:
        for d in _items(items):
            ident, label, attrs, z = self._label(d, _POLY_KEYS, "polyline")
            closed, filled, lines = d.get("closed", False), d.get("filled", False), \
                d.get("points")
            if type(closed) is not bool or type(filled) is not bool or type(lines) is not list \
                    or not lines:
                raise _Decline
            kind = "polygon" if closed and filled else "polyline"
            coords = [self._points(line, w, h) for line in lines]
            head, rot, group, attr_lines = self.parts(kind, label, attrs)
            rest = f' z_order="{z}"{group}>{self._id_line(ident)}{attr_lines}{_IND2}</{kind}>'
            out.extend((z, f'{head} points="{c}"{rot}{rest}') for c in coords)

    def _keypoints(self, items: Any, w: int, h: int, out: list[tuple[int, str]]) -> None:
        for d in _items(items):
            ident, label, attrs, z = self._label(d, _KP_KEYS, "keypoint")
            coords = self._points(d.get("points"), w, h)
            head, rot, group, attr_lines = self.parts("points", label, attrs)
            out.append((z, f'{head} points="{coords}"{rot} z_order="{z}"{group}>'
                           f"{self._id_line(ident)}{attr_lines}{_IND2}</points>"))

    def _tags(self, items: Any, out: list[str]) -> None:
        for d in _items(items):
            ident, label, attrs, _ = self._label(d, _LABEL_KEYS, "classification")
            head, _, _, attr_lines = self.parts("tag", label, attrs)
            out.append(f"{head}{self._id_line(ident)}{attr_lines}{_IND2}</tag>")

    # -- samples -----------------------------------------------------------------------------
    def sample(self, raw: Any) -> tuple[str, int, int, dict[str, Any]] | None:
        """(media, width, height, fields) of a label file of an image sample whose top level
        the models accept as it is, else ``None``."""
        if type(raw) is not dict or not raw.keys() <= _SAMPLE_KEYS:
            return None
        media, meta = raw.get("media"), raw.get("metadata")
        fields, frames = raw.get("fields", {}), raw.get("frames", {})
        if type(media) is not str or not media or media[0] == "/" or "\\" in media \
                or ".." in media.split("/") or type(meta) is not dict \
                or not meta.keys() <= _META_KEYS or type(fields) is not dict or frames != {} \
                or type(frames) is not dict:
            return None
        w, h = meta.get("width"), meta.get("height")
        if type(w) is not int or type(h) is not int or w <= 0 or h <= 0 \
                or meta.get("media_type", "image") != "image":
            return None
        try:
            if "tags" in raw:
                _str_list(raw["tags"])
            fps = _opt_number(meta, "fps")
            if fps is not None and fps <= 0:
                return None
            for key in ("frame_count", "size_bytes"):
                n = _opt_int(meta, key)
                if n is not None and n < 0:
                    return None
        except _Decline:
            return None
        for name, value in fields.items():
            if not _FIELD.match(name) or name == "frames":
                return None
            if type(value) is dict:
                kind = value.get("_type")
                if kind in _CONTAINERS:
                    key = _CONTAINERS[kind][1]
                    if not value.keys() <= {"_type", key} or type(value.get(key, [])) is not list:
                        return None
                elif kind not in ("detection", "classification", "polyline", "keypoint"):
                    return None
            elif type(value) not in _SCALARS and not (type(value) is float and value - value == 0):
                return None
        return media, w, h, fields

    def frame(self, fields: dict[str, Any], w: int, h: int) -> tuple[str, int, int] | None:
        """The shapes (by ``z_order``, stable) and tags of a frame, as text, and their
        counts; ``None`` (nothing noted) when a label is not one this path writes."""
        mark = len(self.notes)
        shapes: list[tuple[int, str]] = []
        tags: list[str] = []
        try:
            for name in sorted(fields):
                value = fields[name]
                if type(value) is not dict:
                    continue
                if self.fields is None or name in self.fields:
                    self._field(value, w, h, shapes, tags)
                else:  # not exported, but the models check it all the same
                    self._check(value, w, h)
        except (_Decline, _Other, TypeError):  # TypeError: a list or dict in a memo key
            self._forget(mark)
            return None
        if any(z for z, _ in shapes):
            shapes.sort(key=lambda s: s[0])
        return "".join([t for _, t in shapes]) + "".join(tags), len(shapes), len(tags)

    def _field(self, value: dict[str, Any], w: int, h: int, shapes: list[tuple[int, str]],
               tags: list[str]) -> None:
        kind = value["_type"]
        if kind in _CONTAINERS:
            item_kind, key = _CONTAINERS[kind]
            items = value.get(key, [])
        else:
            item_kind, items = kind, [value]
        if item_kind == "detection":
            self._boxes(items, w, h, shapes)
        elif item_kind == "classification":
            self._tags(items, tags)
        elif item_kind == "polyline":
            self._polylines(items, w, h, shapes)
        else:
            self._keypoints(items, w, h, shapes)

    def _check(self, value: dict[str, Any], w: int, h: int) -> None:
        """Decline unless a field that is not exported holds labels this path accepts
        (rendered aside: nothing noted)."""
        if self._checker is None:
            self._checker = FastFrames(None, False, self.fmt)
        try:
            self._checker._field(value, w, h, [], [])
        finally:
            self._checker.notes.clear()

    def _forget(self, mark: int) -> None:
        """Drop what a declined sample noted (and the memo that says it was noted)."""
        if len(self.notes) > mark:
            del self.notes[mark:]
            self._parts.clear()

    def image(self, raw: Any, head: Callable[[str, int, int], tuple[str, int, int]]
              ) -> tuple[str, str, int, int] | None:
        """(media, ``<image>`` text, shapes, tags) of a label file's JSON, or ``None``.
        ``head(media, width, height)`` gives the image's start tag and the frame size to
        convert with."""
        got = self.sample(raw)
        if got is None:
            return None
        media, w, h, fields = got
        try:
            start, fw, fh = head(media, w, h)
        except _Other:
            return None
        done = self.frame(fields, fw, fh)
        if done is None:
            return None
        body, n_shapes, n_tags = done
        return media, f"{start}{body}{_INDENT[1]}</image>", n_shapes, n_tags


def media_rel(media_dir: str, media: str) -> str:
    """The frame name of a media path: below the media folder when it is inside it."""
    path = PurePosixPath(media)
    try:
        return path.relative_to(PurePosixPath(media_dir)).as_posix()
    except ValueError:
        return path.as_posix()


Head = Callable[[str, int, int], tuple[str, int, int]]


def head_of(spec: tuple[Any, ...]) -> Head:
    """How ``FastFrames.image`` starts an ``<image>``: ``("images", index, media_dir)`` for a
    new task (named by its media path, the sample's size), ``("record", id, name, subset,
    task_id, width, height)`` for a recorded frame (converted with the recorded size, else
    the sample's)."""
    if spec[0] == "images":
        _, index, media_dir = spec

        def new_task(media: str, w: int, h: int) -> tuple[str, int, int]:
            return image_head(index, media_rel(media_dir, media), None, None, w, h), w, h

        return new_task
    _, ident, name, subset, task_id, width, height = spec

    def recorded(_media: str, w: int, h: int) -> tuple[str, int, int]:
        return (image_head(ident, name, subset, task_id, width, height),
                (width or w) or 1, (height or h) or 1)

    return recorded


def apply_notes(notes: list[Note], used: dict[str, Any], kinds: dict[str, set[str]],
                values: Callable[[], Any]) -> None:
    """What ``export._Labels.note`` (and ``shapes``) record, from the direct path's notes:
    ``used[label][attribute].add(value)``, ``kinds[label].add(kind)``."""
    for label, kind, attr, value in notes:
        attrs = used.get(label)
        if attrs is None:
            attrs = used[label] = {}
        if kind is not None:
            kinds.setdefault(label, set()).add(kind)
        if attr is not None:
            seen = attrs.get(attr)
            if seen is None:
                seen = attrs[attr] = values()
            seen.add(value)


__all__ = ["FastFrames", "Head", "Note", "apply_notes", "head_of", "media_rel"]
