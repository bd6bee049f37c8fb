"""Aspect digests: the compact base that makes a three-way merge possible without a label copy.

A label is cut into aspects (class, geometry, track index, one per uploaded attribute, or a scalar
value; see docs/sync-algorithm.md) and each aspect is digested separately, so a run record
records *that* something changed, and *what*, in a few bytes per label. Coordinates are rounded to
7 decimals before digesting: far below a pixel, far above float noise from pixel conversions.

A digest is 16 hex digits of the SHA-256 of the aspect's canonical JSON text, but for the
geometry of a plain box (no mask, no rotation, an integer z order, four finite coordinates,
nearly every label of a big run): that is the box itself, its coordinates as the exact integers
``n`` with ``x = n / 1e7`` (what rounding to 7 decimals keeps), in decimal with commas between
them, and its z order after a fifth comma unless it is 0: ``"1234567,3333333,1000000,2000000"``
(record format 3). No float text and no hash: a cold merge makes a million of them. It is
injective in the rounded box, so two boxes' digests are equal exactly when their hashed digests
(format 2, still read: ``upgraded``) are.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from annosync.model.labels import (
    BinaryMask,
    Classification,
    Detection,
    IndexMask,
    Keypoint,
    Polyline,
    Segmentation,
)

COORD_DECIMALS = 7


@dataclass(frozen=True)
class ScalarItem:
    """A scalar field value seen as a label, so scalars merge like everything else."""

    value: Any

    #: Scalars have no id of their own: one per field (per frame on video).
    ID = "__value__"


def _q(value: float | None) -> float | None:
    return None if value is None else round(float(value), COORD_DECIMALS) + 0.0


def _mask(mask: BinaryMask | IndexMask | None, path: str | None) -> Any:
    if mask is not None:
        return mask.model_dump(mode="json")
    return {"path": path} if path else None


def spatial(obj: Any) -> Any:
    """The geometry of a label, in a canonical, rounded form."""
    if isinstance(obj, Detection):
        return {
            "box": [_q(v) for v in obj.bounding_box],
            "rotation": round(obj.rotation or 0.0, 4) + 0.0,
            "mask": _mask(obj.mask, obj.mask_path),
            "z": obj.z_order or 0,
        }
    if isinstance(obj, Polyline):
        return {
            "points": [[[_q(x), _q(y)] for x, y in shape] for shape in obj.points],
            "closed": obj.closed,
            "filled": obj.filled,
            "z": obj.z_order or 0,
        }
    if isinstance(obj, Keypoint):
        return {
            "points": [None if p is None else [_q(p[0]), _q(p[1])] for p in obj.points],
            "z": obj.z_order or 0,
        }
    if isinstance(obj, Segmentation):
        return {"mask": _mask(obj.mask, obj.mask_path)}
    return None


def aspects(obj: Any, attributes: Iterable[str]) -> dict[str, Any]:
    """The aspects of one label (or scalar) that a merge compares, by name."""
    if isinstance(obj, ScalarItem):
        return {"value": obj.value}
    out: dict[str, Any] = {}
    if isinstance(obj, (Classification, Detection, Polyline, Keypoint)):
        out["label"] = obj.label
    geometry = spatial(obj)
    if geometry is not None:
        out["spatial"] = geometry
    if isinstance(obj, (Detection, Polyline, Keypoint)):
        out["index"] = obj.index
    attrs = getattr(obj, "attributes", {})
    for name in attributes:
        out[f"attr:{name}"] = attrs.get(name)
    return out


#: ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``, with the
#: encoder made once (``dumps`` builds one per call, which was most of a digest's cost).
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def digest_value(value: Any) -> str:
    return hashlib.sha256(_ENCODE(value).encode("utf-8")).hexdigest()[:16]


def spatial_digest(value: Any) -> str:
    """The digest of a geometry in ``spatial``'s canonical form (the definition): a plain box
    (mask null, rotation 0.0, an integer z order, four finite coordinates) is its coordinates
    as the integers ``n = x * 10**7`` of its rounded values and its z order (``key_text``);
    anything else the hash of its text. The rounded value ``v`` of a coordinate ``x`` is ``round(x, 7)``, the
    double nearest the decimal ``n / 1e7``, so ``n`` is ``v * 10**7`` rounded (exactly)."""
    from fractions import Fraction  # the definition (tests): not at start-up

    if (type(value) is dict and "box" in value and value["mask"] is None
            and value["rotation"] == 0.0 and type(value["z"]) is int
            and len(value["box"]) == 4 and all(math.isfinite(v) for v in value["box"])):
        a, b, c, d = [round(Fraction(v) * 10 ** COORD_DECIMALS) for v in value["box"]]
        return key_text(a, b, c, d, value["z"])
    return digest_value(value)


def key_text(a: int, b: int, c: int, d: int, z: int) -> str:
    """A plain box's digest from its numbers: injective (the z order only when it is not 0:
    four numbers or five), and never 16 hex digits (it holds commas)."""
    return f"{a},{b},{c},{d}" if z == 0 else f"{a},{b},{c},{d},{z}"


def reference_digests(obj: Any, attributes: Iterable[str]) -> dict[str, str]:
    """The definition of a label's digests (``digests`` computes the same, faster)."""
    return {name: spatial_digest(v) if name == "spatial" else digest_value(v)
            for name, v in aspects(obj, attributes).items()}


def legacy_reference_digests(obj: Any, attributes: Iterable[str]) -> dict[str, str]:
    """A label's digests as annosync wrote them before record format 3 (every aspect, a plain
    box's geometry too, hashed): what an older record holds, and what ``upgraded`` compares."""
    return {name: digest_value(v) for name, v in aspects(obj, attributes).items()}


# -- the fast path --------------------------------------------------------------------------
# A merge digests every label of both sides (a million labels: millions of digests), yet most
# aspects hold one of a few values (a class name, ``None``, ``False``). Those digests are
# cached by (exact type, value): ``True == 1`` and ``0.0 == -0.0`` hash alike but encode
# differently, so only ``str`` (short), ``int``, ``bool`` and ``None`` are cached, keyed with
# their type. A plain box's geometry is written out directly, byte for byte what the encoder
# writes (finite floats are their ``repr``); anything else goes the reference way. And the
# remote version of a label is rarely digested at all: ``same_aspects`` finds most equal to
# the local one, field by field.
# ``tests/sync/test_digest_fast.py`` checks ``digests == reference_digests`` on any label.

_CACHE: dict[tuple[type, Any], str] = {}
_CACHE_MAX = 1 << 16
_SHORT = 256
_NONE = type(None)
_INF = float("inf")
_ATTR_KEYS: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}
_sha256 = hashlib.sha256
#: the short strings of ``_CACHE`` again, by the string alone (a lookup without a key tuple)
_STR: dict[str, str] = {}


def clear_caches() -> None:
    """Forget every cached digest (benchmarks start cold with it)."""
    _CACHE.clear()
    _STR.clear()


def _value_digest(value: Any) -> str:
    try:
        found = _CACHE.get((type(value), value))
    except TypeError:  # not hashable
        return digest_value(value)
    if found is not None:
        return found
    kind = type(value)
    if kind is str:
        if len(value) > _SHORT:
            return digest_value(value)
    elif kind is not bool and kind is not int and kind is not _NONE:
        return digest_value(value)
    found = digest_value(value)
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
        _STR.clear()
    _CACHE[(kind, value)] = found
    if kind is str:
        _STR[value] = found
    return found


def _r7(x: float) -> str:
    """``repr(round(float(x), 7) + 0.0)``, the text a coordinate is digested as, in one
    conversion instead of two where that is the same string: ``f"{x:.7f}"`` rounds with the very
    conversion ``round`` uses (correctly rounded, ties to even on the exact binary value),
    and for 1e-4 <= |x| < 1e6 the shortest repr of the rounded float is those digits without
    trailing zeros (no other decimal of at most 7 places lies within half an ulp; repr writes
    no exponent there). Outside that range, and for NaN, the long way.
    ``tests/sync/test_digest_coords.py`` compares both on any float."""
    if 1e-4 <= x < 1e6 or -1e6 < x <= -1e-4:
        text = f"{x:.7f}".rstrip("0")
        return text + "0" if text[-1] == "." else text
    return repr(round(float(x), COORD_DECIMALS) + 0.0)


def _legacy_box_digest(obj: Detection) -> str | None:
    """The format-2 ``spatial`` digest of a plain detection (four finite float coordinates, no mask, an
    integer z order), written out as the encoder would; None: take the long way.
    The coordinates are written as ``_r7`` writes them, inline where all four are in its
    fast range (most boxes: one conversion and one strip each, no call)."""
    if obj.mask is not None or obj.mask_path:
        return None
    z = obj.z_order or 0
    box = obj.bounding_box
    if type(z) is not int or len(box) != 4:
        return None
    turn = obj.rotation
    if turn is None:
        rotation = "0.0"
    else:
        turn = round(turn or 0.0, 4) + 0.0
        if type(turn) is not float or not -_INF < turn < _INF:
            return None
        rotation = repr(turn)
    a, b, c, d = box
    if type(a) is not float or type(b) is not float or type(c) is not float \
            or type(d) is not float:
        return None
    if (1e-4 <= a < 1e6 or -1e6 < a <= -1e-4) and (1e-4 <= b < 1e6 or -1e6 < b <= -1e-4) \
            and (1e-4 <= c < 1e6 or -1e6 < c <= -1e-4) and (1e-4 <= d < 1e6 or -1e6 < d <= -1e-4):
        ta = f"{a:.7f}".rstrip("0")
        tb = f"{b:.7f}".rstrip("0")
        tc = f"{c:.7f}".rstrip("0")
        td = f"{d:.7f}".rstrip("0")
        text = (f'{{"box":[{ta}{"0" if ta[-1] == "." else ""},{tb}{"0" if tb[-1] == "." else ""},'
                f'{tc}{"0" if tc[-1] == "." else ""},{td}{"0" if td[-1] == "." else ""}],'
                f'"mask":null,"rotation":{rotation},"z":{z}}}')
    elif -_INF < a + b + c + d < _INF:
        text = (f'{{"box":[{_r7(a)},{_r7(b)},{_r7(c)},{_r7(d)}],"mask":null,'
                f'"rotation":{rotation},"z":{z}}}')
    else:
        return None  # NaN or infinity somewhere: the encoder writes those its own way
    return _sha256(text.encode()).hexdigest()[:16]


def legacy_spatial(obj: Any) -> str:
    """The ``spatial`` digest annosync wrote before record format 3: the hash of the text."""
    box = _legacy_box_digest(obj) if type(obj) is Detection else None
    return box if box is not None else digest_value(spatial(obj))


def hashed(stored: Any) -> bool:
    """Whether a stored ``spatial`` digest is a hash (16 hex digits), as record format 2 wrote
    for every box; a plain box's digest is now its numbers, commas between them."""
    return type(stored) is str and len(stored) == 16 and "," not in stored


def legacy_match(stored: Any, obj: Any) -> bool:
    """Whether ``stored`` is the hashed geometry a record of format 2 holds for ``obj``'s own
    box (``upgraded``'s question): such an entry agrees with the label exactly where its new
    digest would (both are injective in the rounded box). What the comparisons below ask when
    a stored ``spatial`` digest is not the label's new one, so that an untouched entry of an
    older record compares as it did, is kept as it is, and a pull of such a record holds no
    sample for its form alone."""
    return upgraded(stored, obj) is not None


#: below this, ``x * 1e7`` is below 2**43, where a double's ulp is at most 2**-10: the product
#: is within 2**-11 of the exact ``x * 10**7``
_FAST = 8.7e5
#: a product this close to its nearest integer has that integer as the exact product's
_NEAR = 0.499


def _n7(x: float) -> int:
    """The integer ``n`` of ``f"{x:.7f}"`` = ``n / 1e7`` (``x`` finite): the exact product
    ``x * 10**7`` rounded to nearest, ties to even, as ``.7f`` rounds. The double product is
    within 2**-11 of it below ``_FAST``: more than 0.499 from a half-integer, both round to one
    integer. The rare near-tie (and a big ``x``) is read from the text itself."""
    p = x * 1e7
    if -8.7e12 < p < 8.7e12:
        n = round(p)
        if -_NEAR < p - n < _NEAR:
            return n
    return int(f"{x:.7f}".replace(".", ""))


def box_key(obj: Detection) -> str | None:
    """The ``spatial`` digest of a plain detection (``spatial_digest`` of its geometry, found
    without it): ``key_text`` of its numbers. None: not a plain box (a mask, a rotation, a z order
    that is not an ``int``, a coordinate not finite): its geometry is hashed."""
    if obj.mask is not None or obj.mask_path:
        return None
    z = obj.z_order or 0
    turn = obj.rotation
    box = obj.bounding_box
    if type(z) is not int or len(box) != 4 or (
            turn is not None and round(turn or 0.0, 4) + 0.0 != 0.0):
        return None
    a, b, c, d = box
    if type(a) is not float or type(b) is not float or type(c) is not float \
            or type(d) is not float:
        a, b, c, d = float(a), float(b), float(c), float(d)
    if not (-_INF < a < _INF and -_INF < b < _INF and -_INF < c < _INF and -_INF < d < _INF):
        return None
    return key_text(_n7(a), _n7(b), _n7(c), _n7(d), z)


def _spatial(obj: Any) -> str:
    """``spatial_digest(spatial(obj))``, a plain box without its canonical form."""
    if type(obj) is Detection:
        box = box_key(obj)
        if box is not None:
            return box
    return digest_value(spatial(obj))


def upgraded(stored: Any, obj: Any) -> str | None:
    """The digest now of ``obj``'s geometry if ``stored`` is the one a record of format 2 holds
    for it (the hash of a plain box's text), else None. The box's two digests are both
    injective in the rounded box, so the new one is equal exactly where the old one was: an
    older record's entry, its old digest swapped for the new one where a label matches it,
    gives the verdicts it gave then (and is saved so)."""
    if not hashed(stored) or type(obj) is not Detection:
        return None
    key = box_key(obj)
    if key is None or legacy_spatial(obj) != stored:
        return None
    return key


def _attr_keys(attributes: Iterable[str]) -> tuple[tuple[str, str], ...]:
    if type(attributes) is tuple:
        found = _ATTR_KEYS.get(attributes)
        if found is None:
            found = _ATTR_KEYS[attributes] = tuple((n, f"attr:{n}") for n in attributes)
        return found
    return tuple((n, f"attr:{n}") for n in attributes)


#: the (attribute, aspect name) pairs of an attribute list, and one value's digest (cached)
attr_keys = _attr_keys
value_digest = _value_digest

_SPATIAL = (Detection, Polyline, Keypoint, Segmentation)
_LABELLED = (Classification, Detection, Polyline, Keypoint)
_INDEXED = (Detection, Polyline, Keypoint)


def digests(obj: Any, attributes: Iterable[str]) -> dict[str, str]:
    """``{aspect: digest}`` of one label (or scalar): what a run record's base holds."""
    value = _value_digest
    out: dict[str, str]
    if type(obj) is Detection:
        box = box_key(obj)
        out = {"label": value(obj.label),
               "spatial": box if box is not None else digest_value(spatial(obj)),
               "index": value(obj.index)}
    elif isinstance(obj, ScalarItem):
        return {"value": value(obj.value)}
    else:
        out = {}
        if isinstance(obj, _LABELLED):
            out["label"] = value(obj.label)
        if isinstance(obj, _SPATIAL):
            out["spatial"] = _spatial(obj)
        if isinstance(obj, _INDEXED):
            out["index"] = value(obj.index)
    attrs = getattr(obj, "attributes", {})
    for name, key in _attr_keys(attributes):
        out[key] = value(attrs.get(name))
    return out


def agrees(obj: Any, known: Mapping[str, str], attributes: Iterable[str]) -> bool:
    """``digests(obj, attributes) == known``, found without building the digests of a plain
    box: the cheap aspects first (``None``, ``True``, ``False`` and short strings by a
    lookup), the geometry last; the first that differs ends it. What a merge asks of each
    local label when nothing vouches for the local files: does it still equal its base?
    A ``spatial`` digest a record of format 2 hashed for this very box agrees too
    (``legacy_match``: the verdict that record gave).
    (``tests/sync/test_merge_fast.py``: equal to that comparison on any label and map;
    ``tests/sync/test_merge_upgrade.py``: the format-2 form.)"""
    if type(obj) is not Detection:
        return digests(obj, attributes) == known
    pairs = _attr_keys(attributes)
    size = _SIZES.get(pairs)
    if size is None:
        size = _SIZES[pairs] = 3 + len({key for _, key in pairs})
    if len(known) != size:
        return False  # not the aspects of a box with these attributes
    label = obj.label
    found = _STR.get(label) if type(label) is str else None
    if known.get("label") != (found or _value_digest(label)):
        return False
    index = obj.index
    if known.get("index") != (_NULL if index is None else _value_digest(index)):
        return False
    attrs = obj.attributes
    for name, key in pairs:
        v = attrs.get(name)
        if known.get(key) != (_NULL if v is None else _FALSE if v is False
                              else _TRUE if v is True else _value_digest(v)):
            return False
    stored = known.get("spatial")
    return stored == _spatial(obj) or legacy_match(stored, obj)


def synced(a: Any, b: Any, known: Mapping[str, str], attributes: Iterable[str]) -> bool:
    """``same_aspects(a, b, attributes) and agrees(a, known, attributes)``: the local label
    ``a`` still equals its base ``known`` and the remote one ``b`` equals it, what a cold
    merge asks of each label of a field. One pass for the common case, two plain boxes whose
    fields are all equal (one dict comparison) with a ``str`` class, an ``int`` or no index
    and z order, a ``float`` or no rotation, no mask, and attributes named by a tuple: the
    class and attributes are digested inline, the box by ``box_key``, and the remote's
    attributes compared as ``same_aspects`` does; anything else takes the two calls. (The
    cold merge's own loop, ``synced_run``, writes the commonest box inline instead.)
    (``tests/sync/test_digest_agrees.py``: equal to the two calls on any labels and map.)"""
    if type(a) is not Detection or type(b) is not Detection or type(attributes) is not tuple:
        return same_aspects(a, b, attributes) and agrees(a, known, attributes)
    da, db = a.__dict__, b.__dict__
    label, index, z, turn = da["label"], da["index"], da["z_order"], da["rotation"]
    pairs = _ATTR_KEYS.get(attributes)
    if (da != db or type(label) is not str or type(db["label"]) is not str
            or type(index) is not type(db["index"]) or type(z) is not type(db["z_order"])
            or type(turn) is not type(db["rotation"]) or da["mask"] is not None
            or da["mask_path"] or pairs is None or len(known) != _SIZES.get(pairs, -1)):
        return same_aspects(a, b, attributes) and agrees(a, known, attributes)
    # equal fields of equal types: only the attributes can still differ in JSON
    if index is None:
        found = _NULL
    elif type(index) is int:
        found = _value_digest(index)
    else:
        return same_aspects(a, b, attributes) and agrees(a, known, attributes)
    if known.get("index") != found or known.get("label") != (_STR.get(label)
                                                             or _value_digest(label)):
        return False
    xa, xb = da["attributes"], db["attributes"]
    for name, key in pairs:
        v, w = xa.get(name), xb.get(name)
        if not (v is w and type(v) in _SCALARS) and not _same_json(v, w):
            return False
        if known.get(key) != (_NULL if v is None else _FALSE if v is False
                              else _TRUE if v is True else _value_digest(v)):
            return False
    if turn is not None and turn != turn:  # NaN (one object both sides): same_aspects says no
        return False
    stored = known.get("spatial")
    return stored == _spatial(a) or legacy_match(stored, a)


#: attribute keys (``_attr_keys``) -> how many aspects a box digested with them has
_SIZES: dict[tuple[tuple[str, str], ...], int] = {}


def _same_json(a: Any, b: Any) -> bool:
    """``a`` and ``b`` encode to the same JSON (scalars only; anything else: False)."""
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is str or kind is bool or kind is int or kind is _NONE:
        return bool(a == b)
    if kind is float:
        return float.__repr__(a) == float.__repr__(b)
    return False


def same_aspects(a: Any, b: Any, attributes: Iterable[str]) -> bool:
    """True only if ``digests(a) == digests(b)`` for sure, found without digesting (a plain
    box compared field by field, type-strict where JSON tells types apart); False says
    nothing. A merge asks it of the local and remote version of each label: most are equal.
    The common values (a ``str`` class, no index, an ``int`` z order, the same ``bool`` or
    ``None`` attribute object on both sides) are settled inline; the rest by ``_same_json``."""
    if type(a) is not Detection or type(b) is not Detection:
        return False
    if a.mask is not None or b.mask is not None or a.mask_path != b.mask_path:
        return False
    la, lb = a.label, b.label
    if not (type(la) is str and type(lb) is str and la == lb) and not _same_json(la, lb):
        return False
    ia, ib = a.index, b.index
    if not (ia is None and ib is None) and not _same_json(ia, ib):
        return False
    za, zb = a.z_order or 0, b.z_order or 0
    if not (type(za) is int and type(zb) is int and za == zb) and not _same_json(za, zb):
        return False
    ra, rb = a.rotation, b.rotation
    if type(ra) is not type(rb) or ra != rb or a.bounding_box != b.bounding_box:
        return False
    xa, xb = a.attributes, b.attributes
    for name in attributes:
        va, vb = xa.get(name), xb.get(name)
        if va is vb and type(va) in _SCALARS:
            continue
        if not _same_json(va, vb):
            return False
    return True


_NULL = digest_value(None)
_FALSE = digest_value(False)
_TRUE = digest_value(True)

#: Types whose one object always encodes the same JSON as itself (``_same_json(v, v)``).
_SCALARS = frozenset({str, bool, int, float, _NONE})


def synced_run(local: Sequence[Any], remote: Sequence[Any],
               knowns: Sequence[Mapping[str, str]], attributes: tuple[str, ...]) -> int:
    """How many labels, from the first, are ``synced(local[i], remote[i], knowns[i],
    attributes)``: ``len(local)`` when all are, else the index of the first that is not.
    What the cold short cut of a merge asks of one field's labels, in one loop: the common
    case (two plain boxes with equal fields, a ``str`` class, no index or rotation, no or an
    ``int`` z order, four floats below ``_FAST``) is settled inline, anything else by
    ``synced``. The box's numbers are made inline (``_n7``'s fast way, the near-ties its
    exact way) and written as ``key_text`` writes them. (``tests/sync/test_digest_agrees.py``:
    equal to ``synced`` label by label.)"""
    pairs = _attr_keys(attributes)
    size = _SIZES.get(pairs)
    if size is None:
        size = _SIZES[pairs] = 3 + len({key for _, key in pairs})
    det, strs, value, scalars, null, n7, rnd = Detection, _STR, _value_digest, _SCALARS, \
        _NULL, _n7, round
    n = 0
    for a, b, known in zip(local, remote, knowns, strict=True):
        if type(a) is det and type(b) is det:
            da, db = a.__dict__, b.__dict__
            z = da["z_order"]
            if z is None:
                zi = 0
            elif type(z) is int and type(db["z_order"]) is int:
                zi = z
            else:
                zi = None
            label = da["label"]
            box = da["bounding_box"]
            if (zi is not None and da == db and da["index"] is None and db["index"] is None
                    and da["rotation"] is None and da["mask"] is None and not da["mask_path"]
                    and type(label) is str and type(db["label"]) is str
                    and len(known) == size and len(box) == 4):
                x, y, w, h = box
                if type(x) is float and type(y) is float and type(w) is float \
                        and type(h) is float and -8.7e5 < x < 8.7e5 and -8.7e5 < y < 8.7e5 \
                        and -8.7e5 < w < 8.7e5 and -8.7e5 < h < 8.7e5:
                    if known.get("index") != null or known.get("label") != (
                            strs.get(label) or value(label)):
                        return n
                    xa, xb = da["attributes"], db["attributes"]
                    for name, key in pairs:
                        v, u = xa.get(name), xb.get(name)
                        if not (v is u and type(v) in scalars) and not _same_json(v, u):
                            return n
                        if known.get(key) != (null if v is None else _FALSE if v is False
                                              else _TRUE if v is True else value(v)):
                            return n
                    pa, pb, pc, pd = x * 1e7, y * 1e7, w * 1e7, h * 1e7
                    ra, rb, rc, rd = rnd(pa), rnd(pb), rnd(pc), rnd(pd)
                    if not (-0.499 < pa - ra < 0.499 and -0.499 < pb - rb < 0.499
                            and -0.499 < pc - rc < 0.499 and -0.499 < pd - rd < 0.499):
                        ra, rb, rc, rd = n7(x), n7(y), n7(w), n7(h)  # a near-tie: exactly
                    stored = known.get("spatial")
                    if stored != (f"{ra},{rb},{rc},{rd}" if zi == 0
                                  else f"{ra},{rb},{rc},{rd},{zi}") \
                            and not legacy_match(stored, a):  # a format-2 entry: as it was
                        return n
                    n += 1
                    continue
        if not synced(a, b, known, attributes):
            return n
        n += 1
    return n


def same_run(local: Sequence[Any], remote: Sequence[Any], attributes: Iterable[str]) -> bool:
    """``same_aspects(local[i], remote[i], attributes)`` for every ``i`` (what a pull's merge
    asks of a field whose local labels are vouched for), in one loop: two plain boxes with
    equal fields, a ``str`` class, no index or rotation and no or an ``int`` z order are
    settled inline (their attributes as ``same_aspects`` compares them), anything else by
    ``same_aspects``. (``tests/sync/test_digest_agrees.py``: equal to it on any labels.)"""
    det, scalars = Detection, _SCALARS
    names = attributes if type(attributes) is tuple else tuple(attributes)
    for a, b in zip(local, remote, strict=True):
        if type(a) is det and type(b) is det:
            da, db = a.__dict__, b.__dict__
            z, label = da["z_order"], da["label"]
            if (da == db and da["index"] is None and db["index"] is None
                    and da["rotation"] is None and da["mask"] is None
                    and type(label) is str and type(db["label"]) is str
                    and (z is None or (type(z) is int and type(db["z_order"]) is int))):
                xa, xb = da["attributes"], db["attributes"]
                for name in names:
                    v, u = xa.get(name), xb.get(name)
                    if not (v is u and type(v) in scalars) and not _same_json(v, u):
                        return False
                continue
        if not same_aspects(a, b, names):
            return False
    return True
