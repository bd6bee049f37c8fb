"""The three-way merge of one field of one sample: base (digests), local (files), remote (CVAT).

Pure: no I/O, no server. ``merge_field`` implements the per-label table of
docs/sync-algorithm.md row by row; the docs and this module must agree. It never writes anything:
it returns the merged labels, the changes to pull and to push, the conflicts (with the policy's
resolution), the remote changes refused by restrictions, and the status of every label so the
caller can record a new base once pushes have succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any, Literal

from annosync.model.ids import new_id
from annosync.model.labels import Detection, Keypoint, Polyline, Segmentation
from annosync.sync.digest import (
    ScalarItem,
    agrees,
    attr_keys,
    digests,
    hashed,
    same_aspects,
    same_run,
    synced,
    synced_run,
    upgraded,
    value_digest,
)

#: A digest no aspect ever has: marks an aspect as "changed" until the next agreement.
_NEVER = "-"

ConflictPolicy = Literal["fail", "prefer-local", "prefer-remote", "keep-both"]
Status = Literal["synced", "push", "diverged", "gone"]


@dataclass(frozen=True)
class Item:
    """One label (or scalar) of a field, at a frame for video frame fields."""

    id: str
    obj: Any
    frame: int | None = None
    #: ``item_key(id, frame)``, computed once (a merge looks it up several times per label)
    key: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", item_key(self.id, self.frame))


def item_key(label_id: str, frame: int | None) -> str:
    return label_id if frame is None else f"{frame}/{label_id}"


class BaseEntry:
    """What both sides looked like when they last agreed (see ``sync/digest.py``): ``l``, the
    local label's aspect digests, ``r`` the remote's (None when equal to ``l``).

    A plain class, not a pydantic model: a run holds one per label (a million, for a big run)
    and building them must cost next to nothing. Validation happens where entries are read
    from a file (``from_json``, or pydantic through ``__get_pydantic_core_schema__``)."""

    __slots__ = ("l", "r")

    def __init__(self, l: dict[str, str], r: dict[str, str] | None = None) -> None:  # noqa: E741
        self.l = l
        self.r = r

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BaseEntry):
            return NotImplemented
        return self.l == other.l and self.r == other.r

    __hash__ = None  # type: ignore[assignment]  # mutable, like the model it replaces

    def __repr__(self) -> str:
        return f"BaseEntry(l={self.l!r}, r={self.r!r})"

    def remote(self) -> dict[str, str]:
        return self.l if self.r is None else self.r

    @classmethod
    def of(cls, local: Mapping[str, str | None], remote: Mapping[str, str | None]) -> BaseEntry:
        lo = {k: v for k, v in local.items() if v is not None}
        re = {k: v for k, v in remote.items() if v is not None}
        return cls(lo, None if re == lo else re)

    def to_json(self) -> dict[str, dict[str, str]]:
        return {"l": self.l} if self.r is None else {"l": self.l, "r": self.r}

    @classmethod
    def from_json(cls, data: Any) -> BaseEntry:
        """An entry from its JSON form; ValueError says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("a base entry must be an object")
        extra = set(data) - {"l", "r"}
        if extra:
            raise ValueError(f"unknown key(s) in a base entry: {', '.join(sorted(extra))}")
        if "l" not in data:
            raise ValueError("a base entry needs `l`")
        r = data.get("r")
        return cls(_digest_map(data["l"], "l"), None if r is None else _digest_map(r, "r"))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema as cs

        digest_map = cs.dict_schema(cs.str_schema(), cs.str_schema())
        fields = cs.typed_dict_schema(
            {"l": cs.typed_dict_field(digest_map),
             "r": cs.typed_dict_field(cs.nullable_schema(digest_map), required=False)},
            extra_behavior="forbid")
        from_dict = cs.no_info_after_validator_function(
            lambda d: cls(d["l"], d.get("r")), fields)
        return cs.json_or_python_schema(
            json_schema=from_dict,
            python_schema=cs.union_schema([cs.is_instance_schema(cls), from_dict]),
            serialization=cs.plain_serializer_function_ser_schema(lambda e: e.to_json()),
        )


def _digest_map(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"`{name}` of a base entry must map aspect names to digest strings")
    return value


def _hashed_box(digests: Mapping[str, str] | None) -> bool:
    """Whether ``digests`` holds a hashed geometry (16 hex digits), as record format 2 wrote
    for every box (a plain box's digest is now its numbers, commas between them)."""
    return digests is not None and hashed(digests.get("spatial"))


def upgrade(entry: BaseEntry, *objs: Any) -> BaseEntry:
    """``entry`` with a geometry digest a record of format 2 wrote for a plain box (its text's
    hash) replaced by the digest it has now (``digest.upgraded``), where one of ``objs`` (the
    label's versions now: local first for ``l``, remote first for ``r``; None: absent) is that
    box; the same entry when there is nothing to replace. Compared with the labels, the new
    entry gives the verdicts the old one gave under format 2 (a box matches it exactly when
    its old digest matched), and a merge records it: a record is upgraded as its labels are
    merged. (``tests/sync/test_merge_upgrade.py``.)"""
    found = [o for o in objs if o is not None]
    l, r = entry.l, entry.r  # noqa: E741
    if _hashed_box(l):
        key = next((k for o in found if (k := upgraded(l["spatial"], o)) is not None), None)
        if key is not None:
            l = {**l, "spatial": key}  # noqa: E741
    if r is not None and _hashed_box(r):
        key = next((k for o in reversed(found) if (k := upgraded(r["spatial"], o)) is not None),
                   None)
        if key is not None:
            r = {**r, "spatial": key}
    if l is entry.l and r is entry.r:
        return entry
    return BaseEntry(l, r)


@dataclass(frozen=True)
class FieldRules:
    """What the merge needs to know of a field's schema."""

    attributes: tuple[str, ...] = ()
    read_only_attributes: frozenset[str] = frozenset()
    allow_additions: bool = True
    allow_deletions: bool = True
    allow_label_edits: bool = True
    allow_index_edits: bool = True
    allow_spatial_edits: bool = True
    read_only: bool = False
    single: bool = False
    #: (attribute, default) pairs: what CVAT holds for an attribute a label does not set.
    defaults: tuple[tuple[str, Any], ...] = ()

    def permits(self, aspect: str) -> str | None:
        """None if a remote change of ``aspect`` may be taken, else the restriction's name."""
        if aspect == "label" and not self.allow_label_edits:
            return "allow_label_edits"
        if aspect == "spatial" and not self.allow_spatial_edits:
            return "allow_spatial_edits"
        if aspect == "index" and not self.allow_index_edits:
            return "allow_index_edits"
        return None

    def ignored(self, aspect: str) -> bool:
        return aspect.startswith("attr:") and aspect[5:] in self.read_only_attributes


@dataclass(frozen=True)
class Change:
    kind: Literal["add", "edit", "delete"]
    side: Literal["pull", "push"]
    label_id: str
    frame: int | None = None
    aspects: tuple[str, ...] = ()


@dataclass(frozen=True)
class Conflict:
    label_id: str
    frame: int | None
    kind: Literal["edit/edit", "edit/delete", "delete/edit", "no-base"]
    aspects: tuple[str, ...]
    resolution: str  # the policy applied, or "unresolved" under "fail"


@dataclass(frozen=True)
class Rejection:
    label_id: str
    frame: int | None
    reason: str


@dataclass
class FieldMerge:
    result: list[Item] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    ignored: int = 0
    status: dict[str, Status] = field(default_factory=dict)
    #: The base to record after this pull if nothing is pushed (pushed keys are refreshed by the
    #: caller once the push succeeded). Missing key = no base entry.
    base: dict[str, BaseEntry] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def unresolved(self) -> list[Conflict]:
        return [c for c in self.conflicts if c.resolution == "unresolved"]

    def count(self, side: str, kind: str) -> int:
        return sum(1 for c in self.changes if c.side == side and c.kind == kind)

    @property
    def changed_locally(self) -> bool:
        """True when the merged result differs from the local labels."""
        return any(c.side == "pull" for c in self.changes) or any(
            c.resolution in ("prefer-remote", "keep-both") for c in self.conflicts
        )


_GEOMETRY: dict[type, tuple[str, ...]] = {
    Detection: ("bounding_box", "rotation", "mask", "mask_path", "z_order", "keyframe"),
    Polyline: ("points", "closed", "filled", "z_order", "keyframe"),
    Keypoint: ("points", "z_order", "keyframe"),
    Segmentation: ("mask", "mask_path"),
}


def take_aspects(local: Any, remote: Any, names: Iterable[str]) -> Any:
    """A copy of ``local`` with the named aspects replaced by ``remote``'s."""
    names = list(names)
    if not names:
        return local
    if isinstance(local, ScalarItem):
        return ScalarItem(remote.value) if "value" in names else local
    update: dict[str, Any] = {}
    attrs = dict(local.attributes)
    for name in names:
        if name == "label":
            update["label"] = remote.label
        elif name == "index":
            update["index"] = remote.index
        elif name == "spatial":
            for geometry in _GEOMETRY.get(type(local), ()):
                update[geometry] = getattr(remote, geometry)
        elif name.startswith("attr:"):
            attrs[name[5:]] = remote.attributes.get(name[5:])
    if attrs != local.attributes:
        update["attributes"] = attrs
    return deep_update(local, update)


#: values ``copy.deepcopy`` gives back as they are (and keeps no memo of)
_ATOMIC = frozenset({str, int, float, bool, type(None)})


def deep_update(obj: Any, update: dict[str, Any]) -> Any:
    """``obj.model_copy(update=update, deep=True)``, the same copy with less work: pydantic
    deep-copies each field not updated, one ``deepcopy`` call each; here the values that
    call gives back unchanged (``str``, numbers, ``None``, tuples of them: a box) are kept
    without the call, the others deep-copied as pydantic does (one memo, in field order).
    Anything unusual (extra or private values, no update) takes pydantic's own way.
    (``tests/sync/test_merge_rows.py``: equal to pydantic's on any label and update, sharing
    nothing mutable it does not.)"""
    if (not update or obj.__pydantic_extra__ is not None
            or getattr(obj, "__pydantic_private__", None) is not None
            or obj.model_config.get("extra") == "allow"):
        return obj.model_copy(update=update, deep=True)
    copied = obj.__copy__()
    values = copied.__dict__
    memo: dict[int, Any] = {id(obj): copied}
    atomic = _ATOMIC
    for k, v in values.items():
        kind = type(v)
        if kind in atomic or k in update or (
                kind is tuple and all(type(x) in atomic for x in v)):
            continue
        values[k] = deepcopy(v, memo)
    values.update(update)
    copied.__pydantic_fields_set__.update(update.keys())
    return copied


def _changed(now: Mapping[str, str], then: Mapping[str, str]) -> set[str]:
    return {a for a in set(now) | set(then) if now.get(a) != then.get(a)}


def _as_new(item: Item) -> Item:
    """A copy of a remote label under a fresh id (keep-both)."""
    obj = item.obj
    if not isinstance(obj, ScalarItem):
        obj = obj.model_copy(update={"id": new_id()}, deep=True)
        return Item(obj.id, obj, item.frame)
    return item


class _Merger:
    def __init__(self, rules: FieldRules, policy: ConflictPolicy) -> None:
        self.rules = rules
        self.policy = policy
        self.out = FieldMerge()
        self.additions: list[Item] = []
        #: local items known to equal their base (``local_agrees``): digests taken from it
        self.known: dict[int, dict[str, str]] = {}

    def digest(self, item: Item) -> dict[str, str]:
        known = self.known.get(id(item))
        return known if known is not None else digests(item.obj, self.rules.attributes)

    def same(self, aspect: str, loc: Item, rem: Item, ld: Mapping[str, str],
             rd: Mapping[str, str]) -> bool:
        """Do both sides hold the same value? An attribute missing on one side counts as the
        schema's default, which is what CVAT shows (and returns) for it."""
        if ld.get(aspect) == rd.get(aspect):
            return True
        if not aspect.startswith("attr:") or isinstance(loc.obj, ScalarItem):
            return False
        name = aspect[5:]
        default = dict(self.rules.defaults).get(name)
        lv = loc.obj.attributes.get(name)
        rv = rem.obj.attributes.get(name)
        return (default if lv is None else lv) == (default if rv is None else rv)

    def conflict(self, item_id: str, frame: int | None, kind: Any, aspects: Iterable[str]) -> str:
        resolution = "unresolved" if self.policy == "fail" else self.policy
        self.out.conflicts.append(Conflict(item_id, frame, kind, tuple(sorted(aspects)), resolution))
        return resolution

    def keep_copy(self, rem: Item) -> None:
        """keep-both: the remote version becomes a new label (an addition, so it may be refused)."""
        if not self.rules.allow_additions:
            self.out.rejections.append(
                Rejection(rem.id, rem.frame, "keep-both copy: allow_additions=false")
            )
            return
        self.additions.append(_as_new(rem))
        self.out.changes.append(Change("add", "pull", rem.id, rem.frame, ("keep-both",)))

    def take_remote(self, local: Item, remote: Item, aspects: set[str]) -> tuple[Item, bool]:
        """Apply remote aspects under the restrictions; returns (item, all taken)."""
        taken, refused = [], False
        for aspect in sorted(aspects):
            if self.rules.ignored(aspect):
                self.out.ignored += 1
                continue
            why = self.rules.permits(aspect)
            if why:
                self.out.rejections.append(Rejection(local.id, local.frame, f"{aspect}: {why}=false"))
                refused = True
                continue
            taken.append(aspect)
        if taken:
            self.out.changes.append(Change("edit", "pull", local.id, local.frame, tuple(taken)))
        return Item(local.id, take_aspects(local.obj, remote.obj, taken), local.frame), not refused

    def merged_digests(self, loc: Item, rem: Item, merged: Item, ld: dict[str, str],
                       rd: dict[str, str]) -> dict[str, str]:
        """``digests(merged.obj)``, for ``merged`` = ``take_aspects(loc.obj, rem.obj, ...)``
        and ``ld``, ``rd`` the digests of ``loc`` and ``rem``: each aspect is the local
        label's or the remote's, so is its digest, which is not computed again when both
        labels are of one type with the same aspects. Which of the two: the remote's where
        ``merged`` holds the remote's value (compared field by field, by identity: taken
        values are the remote's own objects; a value kept from ``loc`` is it or its deep copy),
        and the attributes' from the values ``merged`` holds (an equal local value is kept:
        ``1`` for ``True``). (``tests/sync/test_merge_fast.py``: the merge equals the reference,
        which digests ``merged``.)"""
        a, b, m = loc.obj, rem.obj, merged.obj
        if type(a) is not type(b) or type(a) is ScalarItem or ld.keys() != rd.keys():
            return self.digest(merged)
        mine, theirs = m.__dict__, b.__dict__
        out = dict(ld)
        if "label" in out and mine["label"] is theirs["label"]:
            out["label"] = rd["label"]
        if "index" in out and mine["index"] is theirs["index"]:
            out["index"] = rd["index"]
        if "spatial" in out:
            geometry = _GEOMETRY.get(type(a))
            if geometry is None:
                return self.digest(merged)
            if all(mine[g] is theirs[g] for g in geometry):
                out["spatial"] = rd["spatial"]
        held = mine["attributes"]
        for name, key in attr_keys(self.rules.attributes):
            out[key] = value_digest(held.get(name))
        return out

    # -- the rows of the table ---------------------------------------------------------------
    def both(self, loc: Item, rem: Item) -> tuple[dict[str, str], dict[str, str]]:
        """The digests of a label's two versions (the remote one not computed when it is
        plainly the same as the local one: the most common case by far)."""
        ld = self.digest(loc)
        if same_aspects(loc.obj, rem.obj, self.rules.attributes):
            return ld, ld
        return ld, self.digest(rem)

    def all_three(self, base: BaseEntry, loc: Item, rem: Item) -> Item:
        ld, rd = self.both(loc, rem)
        if ld == base.l and rd == base.remote() and (base.r is None or base.r != base.l):
            # neither side changed (most labels of a big merge): what the rest would conclude
            self.out.status[loc.key] = "synced"
            self.out.base[loc.key] = base
            return loc
        lchg, rchg = _changed(ld, base.l), _changed(rd, base.remote())
        both = {a for a in lchg & rchg if not self.same(a, loc, rem, ld, rd)}
        take = rchg - lchg
        push = lchg - rchg
        status: Status = "synced"
        if self.rules.read_only:
            self.out.ignored += len(take | both)
            take, both = set(), set()
        if both:
            resolution = self.conflict(loc.id, loc.frame, "edit/edit", both)
            if resolution in ("prefer-local", "keep-both"):
                push |= both
            elif resolution == "prefer-remote":
                take |= both
            if resolution == "keep-both":
                self.keep_copy(rem)
            if resolution == "unresolved":
                status = "diverged"
        merged, complete = self.take_remote(loc, rem, take)
        if not complete:
            status = "diverged"
        if push:
            self.out.changes.append(Change("edit", "push", loc.id, loc.frame, tuple(sorted(push))))
            status = "push"
        self.out.status[loc.key] = status
        if "unresolved" in {c.resolution for c in self.out.conflicts if c.label_id == loc.id}:
            self.out.base[loc.key] = base
            return merged
        # Per aspect: pending pushes keep the old local digest (still "changed locally"), refused
        # remote changes keep the old remote digest (reported again), the rest is acknowledged.
        res = ld if merged.obj is loc.obj else self.merged_digests(loc, rem, merged, ld, rd)
        refused = {r.reason.split(":", 1)[0] for r in self.out.rejections if r.label_id == loc.id}
        new_l: dict[str, str | None] = {}
        new_r: dict[str, str | None] = {}
        for a in set(res) | set(rd) | set(base.l):
            new_l[a] = base.l.get(a) if a in push else res.get(a)
            new_r[a] = base.remote().get(a) if a in refused else rd.get(a)
        self.out.base[loc.key] = BaseEntry.of(new_l, new_r)
        return merged

    def deleted_remotely(self, base: BaseEntry, loc: Item) -> Item | None:
        key = loc.key
        lchg = _changed(self.digest(loc), base.l)
        if self.rules.read_only:
            self.out.ignored += 1
            return self._keep(key, base, "diverged", loc)
        if not lchg:
            return self._pull_delete(base, loc)
        resolution = self.conflict(loc.id, loc.frame, "edit/delete", lchg)
        if resolution == "prefer-remote":
            return self._pull_delete(base, loc)
        if resolution in ("prefer-local", "keep-both"):
            # The deletion is acknowledged: the label is now simply "added locally", to push.
            self.out.changes.append(Change("add", "push", loc.id, loc.frame))
            self.out.status[key] = "push"
            return loc
        return self._keep(key, base, "diverged", loc)

    def _pull_delete(self, base: BaseEntry, loc: Item) -> Item | None:
        if self.rules.allow_deletions:
            self.out.changes.append(Change("delete", "pull", loc.id, loc.frame))
            self.out.status[loc.key] = "gone"
            return None
        self.out.rejections.append(Rejection(loc.id, loc.frame, "delete: allow_deletions=false"))
        return self._keep(loc.key, base, "diverged", loc)

    def _keep(self, key: str, base: BaseEntry, status: Status, item: Item | None) -> Item | None:
        self.out.status[key] = status
        self.out.base[key] = base
        return item

    def current(self, base: BaseEntry, loc: Item | None, rem: Item | None) -> BaseEntry:
        """``base`` as the rows compare it: a format-2 entry upgraded (``upgrade``) with the
        label's versions, the local digests taken from the base (``known``, when the caller
        vouched for the local label) following it."""
        if not _hashed_box(base.l) and not _hashed_box(base.r):
            return base
        new = upgrade(base, None if loc is None else loc.obj, None if rem is None else rem.obj)
        if loc is not None and new is not base and self.known.get(id(loc)) is base.l:
            self.known[id(loc)] = new.l
        return new

    def _agreed(self, item: Item, remote: Item) -> None:
        self.out.base[item.key] = BaseEntry.of(self.digest(item), self.digest(remote))

    def deleted_locally(self, base: BaseEntry, rem: Item) -> Item | None:
        rchg = _changed(self.digest(rem), base.remote())
        if not rchg or self.rules.read_only:
            self.out.changes.append(Change("delete", "push", rem.id, rem.frame))
            return self._keep(rem.key, base, "push", None)
        resolution = self.conflict(rem.id, rem.frame, "delete/edit", rchg)
        if resolution in ("prefer-remote", "keep-both"):
            self.out.changes.append(Change("add", "pull", rem.id, rem.frame))
            self.out.status[rem.key] = "synced"
            self._agreed(rem, rem)
            return rem
        if resolution == "prefer-local":
            # The remote edit is acknowledged; what is left is a plain deletion to push.
            self.out.changes.append(Change("delete", "push", rem.id, rem.frame))
            ack = BaseEntry.of(base.l, self.digest(rem))
            return self._keep(rem.key, ack, "push", None)
        return self._keep(rem.key, base, "diverged", None)

    def added_remotely(self, rem: Item) -> Item | None:
        if self.rules.read_only:
            self.out.ignored += 1
            return None
        if not self.rules.allow_additions:
            self.out.rejections.append(Rejection(rem.id, rem.frame, "add: allow_additions=false"))
            return None
        self.out.changes.append(Change("add", "pull", rem.id, rem.frame))
        self.out.status[rem.key] = "synced"
        self._agreed(rem, rem)
        return rem

    def added_locally(self, loc: Item) -> Item:
        self.out.changes.append(Change("add", "push", loc.id, loc.frame))
        self.out.status[loc.key] = "push"
        return loc

    def both_without_base(self, loc: Item, rem: Item) -> Item:
        ld, rd = self.both(loc, rem)
        differ = {a for a in _changed(ld, rd) if not self.same(a, loc, rem, ld, rd)}
        if not differ:
            self.out.status[loc.key] = "synced"
            self._agreed(loc, rem)
            return loc
        if self.rules.read_only:
            self.out.ignored += 1
            self.out.status[loc.key] = "push"
            self.out.changes.append(Change("edit", "push", loc.id, loc.frame, tuple(sorted(differ))))
            return loc
        resolution = self.conflict(loc.id, loc.frame, "no-base", differ)
        if resolution == "prefer-remote":
            merged, complete = self.take_remote(loc, rem, differ)
            self.out.status[loc.key] = "synced" if complete else "diverged"
            res = self.digest(merged)
            # A refused aspect gets a remote digest that never matches: it is reported again.
            remote = {a: (v if res.get(a) == v else _NEVER) for a, v in rd.items()}
            self.out.base[loc.key] = BaseEntry.of(res, remote if not complete else rd)
            return merged
        if resolution in ("prefer-local", "keep-both"):
            if resolution == "keep-both":
                self.keep_copy(rem)
            self.out.changes.append(Change("edit", "push", loc.id, loc.frame, tuple(sorted(differ))))
            self.out.status[loc.key] = "push"
            # Local counts as changed until pushed; the remote version is acknowledged.
            self.out.base[loc.key] = BaseEntry.of({a: _NEVER for a in ld}, rd)
            return loc
        self.out.status[loc.key] = "diverged"
        return loc


def local_changes(base: Mapping[str, BaseEntry], local: Sequence[Item],
                  rules: FieldRules) -> FieldMerge:
    """The merge when CVAT did not change (its jobs' dates did not move): only pushes.

    Equivalent to ``merge_field`` with a remote equal to the base, without downloading it.
    """
    out = FieldMerge(result=list(local))
    for item in local:
        b = base.get(item.key)
        if b is None:
            out.changes.append(Change("add", "push", item.id, item.frame))
            out.status[item.key] = "push"
            continue
        changed: Iterable[str] = ()
        if not agrees(item.obj, b.l, rules.attributes):
            if _hashed_box(b.l) or _hashed_box(b.r):  # a format-2 entry: as it compared then
                b = upgrade(b, item.obj)
            changed = _changed(digests(item.obj, rules.attributes), b.l)
        out.base[item.key] = b
        if changed:
            out.changes.append(Change("edit", "push", item.id, item.frame, tuple(sorted(changed))))
            out.status[item.key] = "push"
        else:
            out.status[item.key] = "synced"
    keys = {i.key for i in local}
    for key, b in base.items():
        if key not in keys:
            label_id, frame = split_key(key)
            out.changes.append(Change("delete", "push", label_id, frame))
            out.status[key] = "push"
            out.base[key] = b
    return out


def split_key(key: str) -> tuple[str, int | None]:
    """Inverse of ``item_key``."""
    if "/" in key:
        frame, label_id = key.split("/", 1)
        return label_id, int(frame)
    return key, None


def _all_synced(base: Mapping[str, BaseEntry], local: Sequence[Item], remote: Sequence[Item],
                attributes: tuple[str, ...],
                checked: dict[int, dict[str, str]] | None = None,
                same: set[int] | None = None) -> FieldMerge | None:
    """The merge of a field where nothing changed on either side, found per sample before any
    per-label row (most fields of a big pull); None: take the rows.

    Holds when the local labels equal the base's ``l`` (vouched for by the caller,
    ``local_agrees``; or, with ``checked`` given, each found so by ``digest.synced`` with its
    remote label, and entered in ``checked`` by ``id`` with its digests, for the rows to reuse
    if the short cut does not hold), the local and
    remote lists name the same labels in the same order, each once, every label has a base
    entry whose remote side equals its local side (``r`` is None), and each remote label
    equals its local one field by field (``same_aspects``). Then every label takes the row
    "neither side changed" (status synced, base entry kept, local label kept) and nothing else
    happens: no deletion, addition or note. Checked equal to the rows by Hypothesis
    (tests/sync/test_merge_fast.py)."""
    n = len(local)
    if n != len(remote) or n != len(base):
        return None
    keys = [i.key for i in local]
    if keys != [i.key for i in remote]:
        return None
    try:
        entries = [base[k] for k in keys]
    except KeyError:
        return None
    knowns = [b.l for b in entries if b.r is None]
    kept = dict(zip(keys, entries, strict=True))
    if len(knowns) != n or len(kept) != n:
        return None  # an entry with ``r``, or a label named twice
    if checked is None:
        if not same_run([i.obj for i in local], [i.obj for i in remote], attributes):
            return None
    else:
        objs, others = [i.obj for i in local], [i.obj for i in remote]
        found = synced_run(objs, others, knowns, attributes)
        if found < n:
            # the rows take over, with what is found of every label (they need it): the
            # digests of each, and which are synced (they take the row "neither side
            # changed" at once)
            start = 0
            while True:
                for i in range(start, found):
                    checked[id(local[i])] = knowns[i]
                    if same is not None:
                        same.add(id(local[i]))
                if found >= n:
                    return None
                checked[id(local[found])] = digests(objs[found], attributes)
                start = found + 1
                found = start + synced_run(objs[start:], others[start:], knowns[start:],
                                           attributes)
    return FieldMerge(result=list(local), status=dict.fromkeys(keys, "synced"), base=kept)


def merge_field(
    base: Mapping[str, BaseEntry],
    local: Sequence[Item],
    remote: Sequence[Item],
    rules: FieldRules,
    policy: ConflictPolicy = "fail",
    local_agrees: bool = False,
) -> FieldMerge:
    """Merge one field of one sample. See docs/sync-algorithm.md for the table implemented.

    ``local_agrees``: the caller knows the local items equal the base (``local_changes`` found
    nothing for this very content and base): their digests are the base's ``l`` digests."""
    checked: dict[int, dict[str, str]] | None = None if local_agrees else {}
    same: set[int] = set()  # local labels found synced with their base and remote label
    if not rules.single:
        quick = _all_synced(base, local, remote, rules.attributes, checked, same)
        if quick is not None:
            return quick
    m = _Merger(rules, policy)
    if local_agrees:
        m.known = {id(i): b.l for i in local if (b := base.get(i.key)) is not None}
    elif checked:
        m.known = checked
    local_by = {i.key: i for i in local}
    remote_by = {i.key: i for i in remote}
    result: list[Item] = []
    # the row "neither side changed" (nearly every label of a big merge) is taken inline: the
    # same outcome as ``all_three`` (status synced, base kept, local label kept), less work
    attributes, known, status, new_base = rules.attributes, m.known, m.out.status, m.out.base
    for loc in local:
        key = loc.key
        b, rem = base.get(key), remote_by.get(key)
        if b is not None and rem is not None:
            if id(loc) in same:  # found so by the short cut: the row "neither side changed"
                status[key] = "synced"
                new_base[key] = b
                result.append(loc)
                continue
            # a format-2 entry is compared in the new form, but one that neither side changed
            # is kept as it was (no record churn; a pull holds no sample for its form alone)
            stored, b = b, m.current(b, loc, rem)
            bl, br = b.l, b.r
            ld = known.get(id(loc))
            if ld is None:
                if br is None and synced(loc.obj, rem.obj, bl, attributes):
                    # local equals its base, remote equals local: the row below, sooner
                    status[key] = "synced"
                    new_base[key] = stored
                    result.append(loc)
                    continue
                ld = bl if agrees(loc.obj, bl, attributes) else digests(loc.obj, attributes)
                known[id(loc)] = ld  # for the rows below, which ask for it again
            if ld == bl and (br is None or br != bl) and (
                    (br is None and same_aspects(loc.obj, rem.obj, attributes))
                    or m.digest(rem) == (bl if br is None else br)):
                status[key] = "synced"
                new_base[key] = stored
                result.append(loc)
                continue
            result.append(m.all_three(b, loc, rem))
            if new_base.get(key) is b and b is not stored:  # "neither side changed"
                new_base[key] = stored
        elif b is not None:
            kept = m.deleted_remotely(m.current(b, loc, None), loc)
            if kept is not None:
                result.append(kept)
        elif rem is not None:
            result.append(m.both_without_base(loc, rem))
        else:
            result.append(m.added_locally(loc))
    for rem in remote:
        if rem.key in local_by:
            continue
        b = base.get(rem.key)
        kept = m.deleted_locally(m.current(b, None, rem), rem) if b is not None \
            else m.added_remotely(rem)
        if kept is not None:
            m.additions.append(kept)
    for key in base:
        if key not in local_by and key not in remote_by:
            m.out.status[key] = "gone"
    result.extend(m.additions)
    if rules.single and len(result) > 1:
        m.out.notes.append(
            f"single-label field: kept label {result[0].id}, dropped {len(result) - 1} other(s)"
        )
        for extra in result[1:]:
            m.out.status.pop(extra.key, None)
        result = result[:1]
    m.out.result = result
    return m.out


def deletion_share(merge: FieldMerge, base_size: int) -> float:
    """Percentage of the base's labels this merge deletes (pull and push), for the safety limit."""
    if base_size <= 0:
        return 0.0
    deleted = sum(1 for c in merge.changes if c.kind == "delete")
    return 100.0 * deleted / base_size
