"""The fast merge equals the reference merge it replaced (``reference_merge.py``, kept
verbatim), and the fast digests equal their definition, on any input Hypothesis finds.

The inputs are built to hit the shortcuts' edges: values that compare equal but encode
differently (``True``/``1``/``1.0``, ``0.0``/``-0.0``), local and remote copies that are equal
but not the same object, masks, rotations, z orders, tracks on frames, scalars, hand-written
bases whose ``r`` repeats ``l``, every policy and restriction, and ``local_agrees``.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.model.labels import BinaryMask, Classification, Detection, Keypoint, Polyline
from annosync.sync import merge as fast
from annosync.sync.digest import ScalarItem, digests, reference_digests, same_aspects

from . import reference_merge as ref

ATTRS = ("iscrowd", "make", "score")

SCALARS = st.sampled_from([None, True, False, 0, 1, 2, 0.0, -0.0, 1.0, 2.5, "a", "b", "", "1"])
COORDS = st.sampled_from([0.0, -0.0, 0.1, 0.12345678, 0.123456749, 0.2, 1, 1.0, 0.5, 1e-9])
BOXES = st.tuples(COORDS, COORDS, st.sampled_from([0.2, 0.3, 1]), st.sampled_from([0.2, 0.4]))
ROTATIONS = st.sampled_from([None, 0.0, -0.0, 0, 10.0, 10, 45.00004, True])
Z = st.sampled_from([None, 0, 1, 2, True])
LABELS = st.sampled_from(["car", "bus", "1"])
INDEX = st.sampled_from([None, 1, 2, True])


@st.composite
def attributes(draw: Any) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from((*ATTRS, "other")), unique=True, max_size=4))
    return {n: draw(SCALARS) for n in names}


@st.composite
def detections(draw: Any, label_id: str) -> Detection:
    obj = Detection(_id=label_id, label=draw(LABELS), bounding_box=(0.1, 0.1, 0.2, 0.2))
    mask = draw(st.sampled_from([None, None, None, "mask", "path"]))
    # model_copy: no validation, so odd values (ints in a box, True as a z order) get in, as
    # they could from code that builds labels by hand
    return obj.model_copy(update={
        "bounding_box": draw(BOXES), "rotation": draw(ROTATIONS), "z_order": draw(Z),
        "index": draw(INDEX), "attributes": draw(attributes()),
        "confidence": draw(st.sampled_from([None, 0.5])),
        "mask": BinaryMask(size=(1, 2), counts=[1, 1]) if mask == "mask" else None,
        "mask_path": "m.png" if mask == "path" else None,
    })


@st.composite
def labels(draw: Any, label_id: str, kind: str | None = None) -> Any:
    kind = kind or draw(st.sampled_from(["det", "det", "det", "cls", "poly", "kp"]))
    if kind == "det":
        return draw(detections(label_id))
    if kind == "cls":
        return Classification(_id=label_id, label=draw(LABELS), attributes=draw(attributes()))
    if kind == "poly":
        return Polyline(_id=label_id, label=draw(LABELS), closed=draw(st.booleans()),
                        points=[[(draw(COORDS), 0.5), (0.2, draw(COORDS))]],
                        attributes=draw(attributes()))
    return Keypoint(_id=label_id, label=draw(LABELS), points=[(draw(COORDS), 0.1), None],
                    attributes=draw(attributes()))


def _twin(value: Any) -> Any:
    """A value equal to ``value`` that JSON writes differently (or ``value`` itself)."""
    if type(value) is bool:
        return int(value)
    if type(value) is int:
        return float(value)
    if type(value) is float and value == 0:
        return -value
    return value


@st.composite
def variants(draw: Any, obj: Any) -> Any:
    """Another version of a label: the same object, an equal copy, a copy with values that
    compare equal but encode differently, or an edit."""
    how = draw(st.sampled_from(["same", "copy", "copy", "twin", "edit"]))
    if how == "same":
        return obj
    if how == "copy" or isinstance(obj, ScalarItem):
        return obj.model_copy(deep=True) if not isinstance(obj, ScalarItem) else ScalarItem(
            draw(SCALARS))
    if how == "twin":
        attrs = {k: _twin(v) for k, v in obj.attributes.items()}
        update: dict[str, Any] = {"attributes": attrs}
        if isinstance(obj, Detection):
            update["bounding_box"] = tuple(-0.0 if v == 0 else v for v in obj.bounding_box)
            update["rotation"] = draw(ROTATIONS)
            update["z_order"] = draw(Z)
            update["index"] = draw(INDEX)
        return obj.model_copy(update=update)
    kinds = {Detection: "det", Classification: "cls", Polyline: "poly", Keypoint: "kp"}
    return draw(labels(obj.id, kinds[type(obj)]))


@st.composite
def field_states(draw: Any) -> tuple[dict[str, Any], list[Any], list[Any], bool]:
    """(base as (l, r) digest pairs by key, local items, remote items, local_agrees)."""
    scalar = draw(st.integers(0, 5)) == 0
    kind = draw(st.sampled_from(["det", "det", "cls", "poly", "kp"]))
    frames = draw(st.booleans())
    n = 1 if scalar else draw(st.integers(0, 5))
    origin = []
    for i in range(n):
        frame = draw(st.sampled_from([1, 2])) if frames else None
        if scalar:
            origin.append((ScalarItem.ID, ScalarItem(draw(SCALARS)), frame))
        else:
            label_id = f"{i % 3 if frames else i:024x}"
            origin.append((label_id, draw(labels(label_id, kind)), frame))

    def side() -> list[tuple[str, Any, int | None]]:
        out = []
        for label_id, obj, frame in origin:
            if draw(st.integers(0, 5)) > 0:
                out.append((label_id, draw(variants(obj)), frame))
        if draw(st.booleans()) and not scalar:
            new_id = f"{90 + draw(st.integers(0, 2)):024x}"
            out.append((new_id, draw(labels(new_id, kind)), None))
        return out

    local, remote = side(), side()
    base: dict[str, Any] = {}
    for label_id, obj, frame in origin:
        if draw(st.integers(0, 4)) == 0:
            continue
        key = fast.item_key(label_id, frame)
        then_local = draw(variants(obj))
        then_remote = draw(st.sampled_from([then_local, obj]))
        lo = reference_digests(then_local, ATTRS)
        re = reference_digests(then_remote, ATTRS)
        if draw(st.integers(0, 5)) == 0:  # a hand-written entry: ``r`` spelled out though equal
            base[key] = (lo, dict(lo))
        else:
            base[key] = (lo, None if re == lo else re)
    # local_agrees is a promise: only make it when it holds
    agrees = draw(st.booleans()) and all(
        reference_digests(obj, ATTRS) == base[fast.item_key(i, f)][0]
        for i, obj, f in local if fast.item_key(i, f) in base)
    return base, local, remote, agrees


RULES = st.builds(
    fast.FieldRules,
    attributes=st.just(ATTRS),
    read_only_attributes=st.sampled_from([frozenset(), frozenset({"make"})]),
    allow_additions=st.booleans(), allow_deletions=st.booleans(),
    allow_label_edits=st.booleans(), allow_spatial_edits=st.booleans(),
    read_only=st.sampled_from([False, False, False, True]),
    single=st.sampled_from([False, False, True]),
    defaults=st.sampled_from([(), (("iscrowd", False),), (("make", "vw"), ("score", 0))]),
)
POLICIES = st.sampled_from(["fail", "prefer-local", "prefer-remote", "keep-both"])


@contextlib.contextmanager
def _same_new_ids() -> Iterator[None]:
    """keep-both makes new ids: the same sequence for both implementations."""
    with pytest.MonkeyPatch.context() as patch:
        for module in (fast, ref):
            counter = itertools.count()
            patch.setattr(module, "new_id", lambda c=counter: f"f{next(c):023x}")
        yield


def _plain(m: Any) -> dict[str, Any]:
    return {
        "result": [(i.id, i.frame, i.obj) for i in m.result],
        "changes": [(c.kind, c.side, c.label_id, c.frame, c.aspects) for c in m.changes],
        "conflicts": [(c.label_id, c.frame, c.kind, c.aspects, c.resolution)
                      for c in m.conflicts],
        "rejections": [(r.label_id, r.frame, r.reason) for r in m.rejections],
        "ignored": m.ignored, "status": m.status, "notes": m.notes,
        "base": {k: (b.l, b.r) for k, b in m.base.items()},
    }


@st.composite
def clean_states(draw: Any) -> tuple[dict[str, Any], list[Any], list[Any], bool]:
    """Fields where nothing changed on either side (the per-sample short cut of
    ``merge_field``), or all but one twist that must send the merge back to the rows."""
    kind = draw(st.sampled_from(["det", "det", "cls", "poly", "kp"]))
    frames = draw(st.booleans())
    origin = []
    for i in range(draw(st.integers(0, 5))):
        label_id = f"{i:024x}"
        frame = draw(st.sampled_from([1, 2])) if frames else None
        origin.append((label_id, draw(labels(label_id, kind)), frame))
    local = [(i, o.model_copy(deep=True), f) for i, o, f in origin]
    remote = [(i, o if draw(st.booleans()) else o.model_copy(deep=True), f)
              for i, o, f in origin]
    base: dict[str, Any] = {fast.item_key(i, f): (reference_digests(o, ATTRS), None)
                            for i, o, f in origin}
    twist = draw(st.sampled_from(["none", "none", "none", "remote", "remote", "remote",
                                  "drop local", "drop remote", "extra remote", "extra local", "reorder",
                                  "twice", "r spelled out", "r differs", "no base",
                                  "extra base", "local", "local"]))
    if origin:
        k = draw(st.integers(0, len(origin) - 1))
        label_id, obj, frame = origin[k]
        key = fast.item_key(label_id, frame)
        if twist == "remote":
            remote[k] = (label_id, draw(variants(obj)), frame)
        elif twist == "local":  # the cold short cut must see it (nothing vouches for local)
            local[k] = (label_id, draw(variants(obj)), frame)
        elif twist == "drop local":
            del local[k]
        elif twist == "drop remote":
            del remote[k]
        elif twist == "reorder":
            remote.reverse()
        elif twist == "twice":
            local.append(local[k])
            remote.append(remote[k])
        elif twist == "r spelled out":
            base[key] = (base[key][0], dict(base[key][0]))
        elif twist == "r differs":
            base[key] = (base[key][0], reference_digests(draw(variants(obj)), ATTRS))
        elif twist == "no base":
            del base[key]
    new_id = f"{90:024x}"
    if twist == "extra remote":
        remote.append((new_id, draw(labels(new_id, kind)), None))
    elif twist == "extra local":
        local.append((new_id, draw(labels(new_id, kind)), None))
    elif twist == "extra base":
        base[new_id] = (reference_digests(draw(labels(new_id, kind)), ATTRS), None)
    agrees = all(reference_digests(obj, ATTRS) == base[fast.item_key(i, f)][0]
                 for i, obj, f in local if fast.item_key(i, f) in base)
    return base, local, remote, agrees


@settings(max_examples=600, deadline=None)
@given(state=field_states(), rules=RULES, policy=POLICIES)
def test_merge_field_equals_the_reference(state: Any, rules: fast.FieldRules,
                                          policy: str) -> None:
    _check_against_reference(state, rules, policy)


@settings(max_examples=400, deadline=None)
@given(state=clean_states(), rules=RULES, policy=POLICIES)
def test_unchanged_fields_equal_the_reference(state: Any, rules: fast.FieldRules,
                                              policy: str) -> None:
    """The per-sample short cut (and every way out of it) gives what the reference gives."""
    _check_against_reference(state, rules, policy)


@settings(max_examples=400, deadline=None)
@given(state=clean_states(), rules=RULES, policy=POLICIES)
def test_unchanged_fields_equal_the_reference_cold(state: Any, rules: fast.FieldRules,
                                                   policy: str) -> None:
    """The same with nothing vouching for the local labels (``local_agrees`` False): the short
    cut checks each local label against its base (``agrees``), and hands the rows what it
    found when it does not hold."""
    base, local, remote, _ = state
    _check_against_reference((base, local, remote, False), rules, policy)


def test_unchanged_fields_take_the_short_cut() -> None:
    """A field where nothing changed is merged without the per-label rows, and with the
    outcome the rows give; one edit in CVAT sends it back to the rows."""
    objs = [Detection(_id=f"{i:024x}", label="car", bounding_box=(0.1 * i, 0.1, 0.2, 0.2),
                      attributes={"iscrowd": False}) for i in range(3)]
    base = {o.id: fast.BaseEntry(digests(o, ATTRS)) for o in objs}
    local = [fast.Item(o.id, o.model_copy(deep=True)) for o in objs]
    remote = [fast.Item(o.id, o.model_copy(deep=True)) for o in objs]
    rules = fast.FieldRules(attributes=ATTRS)
    quick = fast._all_synced(base, local, remote, ATTRS)
    assert quick is not None
    assert _plain(fast.merge_field(base, local, remote, rules, local_agrees=True)) == _plain(quick)
    assert _plain(fast.merge_field(base, local, remote, rules, local_agrees=False)) == \
        _plain(quick)
    edited = [*remote[:2], fast.Item(objs[2].id, objs[2].model_copy(update={"label": "bus"}))]
    assert fast._all_synced(base, local, edited, ATTRS) is None
    merged = fast.merge_field(base, local, edited, rules, local_agrees=True)
    assert [c.kind for c in merged.changes] == ["edit"] and merged.result[2].obj.label == "bus"


def both_merges(state: Any, rules: fast.FieldRules, policy: str,
                ref_pairs: dict[str, Any] | None = None) -> tuple[Any, Any, Any, Any]:
    """``merge_field`` and ``local_changes`` of ``state`` by the fast code and by the
    reference (on ``ref_pairs``' base if given, else the same base): (fast merge, reference
    merge, fast local changes, reference local changes)."""
    base_pairs, local, remote, agrees = state
    new_base = {k: fast.BaseEntry(lo, re) for k, (lo, re) in base_pairs.items()}
    old_base = {k: ref.BaseEntry(l=lo, r=re)
                for k, (lo, re) in (base_pairs if ref_pairs is None else ref_pairs).items()}
    ref_rules = ref.FieldRules(**{f: getattr(rules, f) for f in rules.__dataclass_fields__})
    with _same_new_ids():
        got = fast.merge_field(new_base, [fast.Item(*t) for t in local],
                               [fast.Item(*t) for t in remote], rules,
                               policy, local_agrees=agrees)  # type: ignore[arg-type]
        want = ref.merge_field(old_base, [ref.Item(*t) for t in local],
                               [ref.Item(*t) for t in remote], ref_rules,
                               policy, local_agrees=agrees)  # type: ignore[arg-type]
    quick = fast.local_changes(new_base, [fast.Item(*t) for t in local], rules)
    slow = ref.local_changes(old_base, [ref.Item(*t) for t in local], ref_rules)
    return got, want, quick, slow


def _check_against_reference(state: Any, rules: fast.FieldRules, policy: str) -> None:
    got, want, quick, slow = both_merges(state, rules, policy)
    assert _plain(got) == _plain(want)
    assert _plain(quick) == _plain(slow)


@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_fast_digests_equal_their_definition(data: st.DataObject) -> None:
    obj = data.draw(st.one_of(labels("a" * 24), SCALARS.map(ScalarItem)))
    attrs = data.draw(st.sampled_from([ATTRS, ("iscrowd",), (), list(ATTRS)]))
    assert digests(obj, attrs) == reference_digests(obj, attrs)
    assert digests(obj, attrs) == reference_digests(obj, attrs)  # again, from the caches
    other = data.draw(variants(obj))
    if same_aspects(obj, other, attrs):
        assert reference_digests(other, attrs) == reference_digests(obj, attrs)


def plain_same_aspects(a: Any, b: Any, attributes: Any) -> bool:
    """``same_aspects`` as first written (every comparison through ``_same_json``)."""
    from annosync.sync.digest import _same_json

    if type(a) is not Detection or type(b) is not Detection:
        return False
    if a.mask is not None or b.mask is not None or a.mask_path != b.mask_path:
        return False
    if not (_same_json(a.label, b.label) and _same_json(a.index, b.index)
            and _same_json(a.z_order or 0, b.z_order or 0)):
        return False
    ra, rb = a.rotation, b.rotation
    if type(ra) is not type(rb) or ra != rb or a.bounding_box != b.bounding_box:
        return False
    xa, xb = a.attributes, b.attributes
    return all(_same_json(xa.get(name), xb.get(name)) for name in attributes)


@settings(max_examples=800, deadline=None)
@given(data=st.data())
def test_same_aspects_equals_its_plain_form(data: st.DataObject) -> None:
    obj = data.draw(labels("a" * 24, data.draw(st.sampled_from(["det", "det", "cls"]))))
    other = data.draw(variants(obj))
    if data.draw(st.booleans()) and isinstance(obj, Detection):  # odd values, shared objects
        odd = st.sampled_from([None, True, 1, 1.0, "car", ["x"], {"a": 1}, float("nan")])
        shared = data.draw(odd)
        obj = obj.model_copy(update={"attributes": {"iscrowd": shared, "make": shared},
                                     "label": data.draw(st.sampled_from(["car", 1, None])),
                                     "index": data.draw(odd)})
        other = obj.model_copy(update={"attributes": dict(obj.attributes)})
    for attrs in (ATTRS, ("iscrowd",), ()):
        assert same_aspects(obj, other, attrs) == plain_same_aspects(obj, other, attrs)
        assert same_aspects(other, obj, attrs) == plain_same_aspects(other, obj, attrs)


def test_equal_values_that_encode_differently_are_not_confused() -> None:
    """The caches key by type: ``True``/``1``/``1.0`` and ``0.0``/``-0.0`` keep their digests."""
    for values in ([True, 1, 1.0], [0.0, -0.0, 0, False]):
        made = [digests(ScalarItem(v), ()) for v in values * 2]
        assert made == [reference_digests(ScalarItem(v), ()) for v in values * 2]
        assert len({d["value"] for d in made}) == len(values)
    a = Detection(_id="a" * 24, label="car", bounding_box=(0.1, 0.1, 0.2, 0.2),
                  attributes={"iscrowd": True})
    b = a.model_copy(update={"attributes": {"iscrowd": 1}})
    assert not same_aspects(a, b, ("iscrowd",))
    assert digests(a, ("iscrowd",)) != digests(b, ("iscrowd",))
