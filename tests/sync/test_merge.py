"""The three-way merge: the table of docs/sync-algorithm.md, row by row, and its properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from annosync.model.labels import Classification, Detection
from annosync.sync.digest import ScalarItem, digests
from annosync.sync.merge import BaseEntry, FieldRules, Item, merge_field

ATTRS = ("iscrowd", "make")
RULES = FieldRules(attributes=ATTRS)


def det(i: int, label: str = "car", box: tuple[float, ...] = (0.1, 0.1, 0.2, 0.2), **attrs: Any) -> Item:
    obj = Detection(_id=f"{i:024x}", label=label, bounding_box=box, attributes=attrs)
    return Item(obj.id, obj)


def base_of(items: list[Item], rules: FieldRules = RULES) -> dict[str, BaseEntry]:
    return {i.key: BaseEntry.of(digests(i.obj, rules.attributes), digests(i.obj, rules.attributes)) for i in items}


def ids(items: list[Item]) -> list[str]:
    return [i.id for i in items]


# -- rows of the table -------------------------------------------------------------------------
def test_unchanged_everywhere_is_a_no_op() -> None:
    a, b = det(1), det(2, "person")
    m = merge_field(base_of([a, b]), [a, b], [a, b], RULES)
    assert ids(m.result) == ids([a, b]) and not m.changes and not m.conflicts
    assert set(m.status.values()) == {"synced"}


def test_remote_edit_is_taken_and_local_only_attributes_survive() -> None:
    a = det(1, iscrowd=False, note="keep me")
    remote = det(1, box=(0.3, 0.3, 0.2, 0.2), iscrowd=True)
    m = merge_field(base_of([a]), [a], [remote], RULES)
    got = m.result[0].obj
    assert got.bounding_box == (0.3, 0.3, 0.2, 0.2)
    assert got.attributes == {"iscrowd": True, "note": "keep me"}
    assert {c.aspects for c in m.changes} == {("attr:iscrowd", "spatial")}


def test_local_edit_is_kept_and_pushed() -> None:
    a = det(1)
    local = det(1, "truck")
    m = merge_field(base_of([a]), [local], [a], RULES)
    assert m.result[0].obj.label == "truck"
    assert [(c.side, c.kind, c.aspects) for c in m.changes] == [("push", "edit", ("label",))]
    assert m.status[a.key] == "push"


def test_disjoint_edits_on_both_sides_merge_per_aspect() -> None:
    a = det(1)
    local, remote = det(1, "truck"), det(1, box=(0.5, 0.5, 0.1, 0.1))
    m = merge_field(base_of([a]), [local], [remote], RULES)
    got = m.result[0].obj
    assert (got.label, got.bounding_box) == ("truck", (0.5, 0.5, 0.1, 0.1))
    assert not m.conflicts and m.status[a.key] == "push"


@pytest.mark.parametrize(
    ("policy", "label", "count", "status"),
    [
        ("fail", "truck", 1, "diverged"),
        ("prefer-local", "truck", 1, "push"),
        ("prefer-remote", "bus", 1, "synced"),
        ("keep-both", "truck", 2, "push"),
    ],
)
def test_edit_edit_conflict_policies(policy: Any, label: str, count: int, status: str) -> None:
    a = det(1)
    m = merge_field(base_of([a]), [det(1, "truck")], [det(1, "bus")], RULES, policy)
    assert [c.kind for c in m.conflicts] == ["edit/edit"]
    assert m.conflicts[0].resolution == ("unresolved" if policy == "fail" else policy)
    assert m.result[0].obj.label == label and len(m.result) == count
    assert m.status[a.key] == status
    if policy == "keep-both":
        assert m.result[1].obj.label == "bus" and m.result[1].id != a.id


def test_same_edit_on_both_sides_agrees() -> None:
    a = det(1)
    m = merge_field(base_of([a]), [det(1, "bus")], [det(1, "bus")], RULES)
    assert not m.conflicts and m.status[a.key] == "synced"


def test_remote_delete_of_unchanged_label_deletes_locally() -> None:
    a, b = det(1), det(2)
    m = merge_field(base_of([a, b]), [a, b], [b], RULES)
    assert ids(m.result) == [b.id] and m.status[a.key] == "gone"


def test_remote_delete_refused_without_allow_deletions() -> None:
    a = det(1)
    rules = FieldRules(attributes=ATTRS, allow_deletions=False)
    m = merge_field(base_of([a], rules), [a], [], rules)
    assert ids(m.result) == [a.id] and m.rejections[0].reason.startswith("delete")


def test_remote_delete_of_locally_edited_label_conflicts() -> None:
    a = det(1)
    m = merge_field(base_of([a]), [det(1, "truck")], [], RULES)
    assert [c.kind for c in m.conflicts] == ["edit/delete"] and ids(m.result) == [a.id]
    m = merge_field(base_of([a]), [det(1, "truck")], [], RULES, "prefer-remote")
    assert m.result == []
    m = merge_field(base_of([a]), [det(1, "truck")], [], RULES, "prefer-local")
    assert ids(m.result) == [a.id] and [(c.side, c.kind) for c in m.changes] == [("push", "add")]


def test_local_delete_is_pushed_unless_remote_edited() -> None:
    a = det(1)
    m = merge_field(base_of([a]), [], [a], RULES)
    assert m.result == [] and [(c.side, c.kind) for c in m.changes] == [("push", "delete")]
    m = merge_field(base_of([a]), [], [det(1, "bus")], RULES)
    assert [c.kind for c in m.conflicts] == ["delete/edit"] and m.result == []
    m = merge_field(base_of([a]), [], [det(1, "bus")], RULES, "prefer-remote")
    assert [i.obj.label for i in m.result] == ["bus"]


def test_additions_on_each_side() -> None:
    a, new_local, new_remote = det(1), det(2), det(3)
    m = merge_field(base_of([a]), [a, new_local], [a, new_remote], RULES)
    assert ids(m.result) == [a.id, new_local.id, new_remote.id]
    kinds = {(c.side, c.kind, c.label_id) for c in m.changes}
    assert kinds == {("push", "add", new_local.id), ("pull", "add", new_remote.id)}


def test_additions_refused_without_allow_additions() -> None:
    rules = FieldRules(attributes=ATTRS, allow_additions=False)
    m = merge_field({}, [], [det(3)], rules)
    assert m.result == [] and m.rejections[0].reason.startswith("add")


@pytest.mark.parametrize(
    ("flag", "remote"),
    [
        ("allow_label_edits", det(1, "bus")),
        ("allow_spatial_edits", det(1, box=(0.5, 0.5, 0.1, 0.1))),
    ],
)
def test_restricted_remote_edits_are_rejected(flag: str, remote: Item) -> None:
    a = det(1)
    rules = FieldRules(attributes=ATTRS, **{flag: False})
    m = merge_field(base_of([a], rules), [a], [remote], rules)
    assert m.result[0].obj == a.obj and flag in m.rejections[0].reason
    assert m.status[a.key] == "diverged"


def test_read_only_attributes_are_never_taken() -> None:
    a = det(1, make="vw")
    rules = FieldRules(attributes=ATTRS, read_only_attributes=frozenset({"make"}))
    m = merge_field(base_of([a], rules), [a], [det(1, make="bmw")], rules)
    assert m.result[0].obj.attributes["make"] == "vw" and m.ignored == 1 and not m.rejections


def test_read_only_field_never_changes() -> None:
    a = det(1)
    rules = FieldRules(attributes=ATTRS, read_only=True)
    m = merge_field(base_of([a], rules), [a], [det(1, "bus"), det(9)], rules)
    assert ids(m.result) == [a.id] and m.result[0].obj.label == "car"


def test_scalars_merge_as_values() -> None:
    rules = FieldRules()
    base = {ScalarItem.ID: BaseEntry.of(digests(ScalarItem(1), ()), digests(ScalarItem(1), ()))}
    m = merge_field(base, [Item(ScalarItem.ID, ScalarItem(1))], [Item(ScalarItem.ID, ScalarItem(5))], rules)
    assert m.result[0].obj == ScalarItem(5)


def test_single_label_field_keeps_one() -> None:
    a = Classification(_id="a" * 24, label="sunny")
    rules = FieldRules(single=True)
    item = Item(a.id, a)
    m = merge_field(base_of([item], rules), [Item(a.id, a.model_copy(update={"label": "rain"}))],
                    [Item(a.id, a.model_copy(update={"label": "snow"}))], rules, "keep-both")
    assert len(m.result) == 1 and m.notes


def test_base_remote_digests_make_normalised_round_trips_quiet() -> None:
    """A value CVAT normalises (missing attribute -> default) is not a remote change."""
    local = det(1)
    remote = det(1, iscrowd=False)
    base = {local.key: BaseEntry.of(digests(local.obj, ATTRS), digests(remote.obj, ATTRS))}
    m = merge_field(base, [local], [remote], RULES)
    assert not m.changes and m.result[0].obj == local.obj


# -- properties --------------------------------------------------------------------------------
LABELS = st.sampled_from(["car", "bus", "person"])
BOXES = st.sampled_from([(0.1, 0.1, 0.2, 0.2), (0.3, 0.3, 0.1, 0.1), (0.5, 0.1, 0.2, 0.4)])
FLAGS = st.sampled_from([None, True, False])


@st.composite
def label_sets(draw: Any) -> tuple[list[Item], list[Item], list[Item]]:
    """(base, local, remote): local and remote each edit, delete and add some base labels."""
    n = draw(st.integers(0, 6))
    base = [det(i, draw(LABELS), draw(BOXES), iscrowd=draw(FLAGS)) for i in range(n)]

    def side(offset: int) -> list[Item]:
        out = []
        for item in base:
            action = draw(st.sampled_from(["keep", "keep", "edit", "delete"]))
            if action == "keep":
                out.append(item)
            elif action == "edit":
                out.append(det(int(item.id, 16), draw(LABELS), draw(BOXES), iscrowd=draw(FLAGS)))
        for j in range(draw(st.integers(0, 2))):
            out.append(det(offset + j, draw(LABELS), draw(BOXES)))
        return out

    return base, side(100), side(200)


POLICIES = st.sampled_from(["prefer-local", "prefer-remote", "keep-both", "fail"])
RESTRICTIONS = st.builds(
    FieldRules,
    attributes=st.just(ATTRS),
    allow_additions=st.booleans(),
    allow_deletions=st.booleans(),
    allow_label_edits=st.booleans(),
    allow_spatial_edits=st.booleans(),
)


@given(label_sets(), POLICIES)
def test_no_remote_change_leaves_local_unchanged(sets: Any, policy: Any) -> None:
    base, local, _ = sets
    m = merge_field(base_of(base), local, base, RULES, policy)
    assert [i.obj for i in m.result] == [i.obj for i in local]
    assert not m.conflicts and not any(c.side == "pull" for c in m.changes)


@given(label_sets(), POLICIES)
def test_merging_the_same_remote_twice_changes_nothing(sets: Any, policy: Any) -> None:
    base, local, remote = sets
    first = merge_field(base_of(base), local, remote, RULES, policy)
    # a pull without a push records first.base; pulling the same remote again is a no-op
    second = merge_field(first.base, first.result, remote, RULES, policy)
    assert [i.obj for i in second.result] == [i.obj for i in first.result]
    assert not any(c.side == "pull" for c in second.changes)
    if policy != "fail":
        assert not second.conflicts


@given(label_sets(), RESTRICTIONS, POLICIES)
def test_restricted_runs_never_violate_restrictions(sets: Any, rules: FieldRules, policy: Any) -> None:
    base, local, remote = sets
    m = merge_field(base_of(base, rules), local, remote, rules, policy)
    result = {i.id: i.obj for i in m.result}
    local_by = {i.id: i.obj for i in local}
    base_ids = {i.id for i in base}
    if not rules.allow_additions:
        assert set(result) <= set(local_by) | base_ids
    if not rules.allow_deletions:
        assert set(local_by) <= set(result)
    for label_id, obj in local_by.items():
        if label_id in result and label_id in base_ids:
            if not rules.allow_label_edits:
                assert result[label_id].label == obj.label
            if not rules.allow_spatial_edits:
                assert result[label_id].bounding_box == obj.bounding_box


@given(label_sets(), POLICIES)
def test_no_label_is_lost_unless_deleted_on_one_side_and_unchanged_on_the_other(
    sets: Any, policy: Any
) -> None:
    base, local, remote = sets
    m = merge_field(base_of(base), local, remote, RULES, policy)
    result = {i.id for i in m.result}
    base_by = {i.id: i.obj for i in base}
    remote_ids = {i.id for i in remote}
    for item in local:
        if item.id in result:
            continue
        # lost: must be a remote deletion of a label unchanged locally (or prefer-remote)
        assert item.id in base_by and item.id not in remote_ids
        assert item.obj == base_by[item.id] or policy == "prefer-remote"
    for item in remote:
        if item.id in result or (item.id in base_by and item.id not in {i.id for i in local}):
            continue
        pytest.fail(f"remote label {item.id} was lost")


@given(label_sets())
def test_local_changes_equals_a_merge_with_an_unchanged_remote(sets: Any) -> None:
    from annosync.sync.merge import local_changes

    base, local, _ = sets
    full = merge_field(base_of(base), local, base, RULES)
    quick = local_changes(base_of(base), local, RULES)
    assert [i.obj for i in quick.result] == [i.obj for i in full.result]
    assert sorted(map(repr, quick.changes)) == sorted(map(repr, full.changes))
    assert quick.status == full.status
