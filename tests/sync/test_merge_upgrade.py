"""A run record written before format 3 (every box's geometry hashed) still merges as it did:
the merge gives the verdicts the old code gave on it (``merge.upgrade``, ``digest.legacy_match``),
keeps the entries of labels nobody changed as they are, and records changed ones in the new form. Checked against the reference merge run with the old digests
on any field Hypothesis finds (entries old, new or mixed), and on a real record the old code
wrote (``tests/data/records/street-format2*``, by ``make_format2.py`` at 2e6a894) with the
fixture's label files it was made from.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.dataset.folder import parse_sample
from annosync.model.labels import Detection
from annosync.sync import merge as fast
from annosync.sync.digest import legacy_reference_digests
from annosync.sync.record import load_record, record_path, save_record, shard_dir
from annosync.sync.shards import RECORD_FORMAT

from . import reference_merge as ref
from .test_digest_boxes import as_hashed
from .test_merge_fast import POLICIES, RULES, _plain, both_merges, field_states

DATA = Path(__file__).parent.parent / "data" / "records"
FIXTURE = Path(__file__).parent.parent.parent / "fixtures" / "street"


def hashed(digests: dict[str, str] | None) -> dict[str, str] | None:
    """A digest map as the old code wrote it (boxes hashed)."""
    return None if digests is None else {k: as_hashed(v) for k, v in digests.items()}


def _as_old(merge: fast.FieldMerge) -> dict[str, Any]:
    out = _plain(merge)
    out["base"] = {k: (hashed(lo), hashed(r)) for k, (lo, r) in out["base"].items()}
    return out


@settings(max_examples=600, deadline=None)
@given(state=field_states(), rules=RULES, policy=POLICIES, data=st.data())
def test_a_hashed_base_merges_as_the_old_code_merged_it(
        state: Any, rules: fast.FieldRules, policy: str, data: st.DataObject) -> None:
    pairs, local, remote, agrees = state
    old = {k: (hashed(lo), hashed(r)) for k, (lo, r) in pairs.items()}
    # what the new code reads: each side of each entry old or new (a record half upgraded)
    mixed = {k: (lo if data.draw(st.booleans()) else old[k][0],
                 r if data.draw(st.booleans()) else old[k][1]) for k, (lo, r) in pairs.items()}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ref, "digests", legacy_reference_digests)  # the old code's digests
        got, want, quick, slow = both_merges((mixed, local, remote, agrees), rules, policy,
                                             ref_pairs=old)
    assert _as_old(got) == _plain(want)
    assert _as_old(quick) == _plain(slow)


def test_an_entry_is_upgraded_by_the_box_it_was_made_from() -> None:
    det = Detection(_id="a" * 24, label="car", bounding_box=(0.1, 0.2, 0.3, 0.4))
    moved = det.model_copy(update={"bounding_box": (0.1, 0.2, 0.3, 0.5)})
    new = fast.digests(det, ())
    old = legacy_reference_digests(det, ())
    entry = fast.BaseEntry(old, legacy_reference_digests(moved, ()))
    up = fast.upgrade(entry, det, moved)
    assert up.l == new and up.r == fast.digests(moved, ())
    assert fast.upgrade(entry, moved, None).l == old  # no version is that box: kept
    assert fast.upgrade(entry, None, det).l == new  # the remote one is
    plain = fast.BaseEntry(new)
    assert fast.upgrade(plain, det, moved) is plain


# -- a record the old code wrote ------------------------------------------------------------------

def old_record(tmp_path: Path) -> Any:
    (tmp_path / "runs").mkdir()
    shutil.copy(DATA / "street-format2.json", record_path(tmp_path, "format2"))
    shutil.copytree(DATA / "street-format2", shard_dir(tmp_path, "format2"))
    record = load_record(tmp_path, "format2")
    assert record is not None and record.format == 2
    return record


def fixture_items() -> dict[str, list[fast.Item]]:
    """The ground truth boxes of the fixture the record was made from, by sample."""
    out = {}
    for path in sorted((FIXTURE / "labels").rglob("*.json")):
        key = path.relative_to(FIXTURE / "labels").with_suffix("").as_posix()
        field = parse_sample(path.read_bytes()).fields["ground_truth"]
        out[key] = [fast.Item(d.id, d) for d in field.detections]
    return out


def merge_all(record: Any, items: dict[str, list[fast.Item]],
              edit: Any = None) -> dict[str, fast.FieldMerge]:
    rules = fast.FieldRules(attributes=("iscrowd",))
    out = {}
    for key, local in items.items():
        remote = [fast.Item(i.id, i.obj.model_copy(deep=True)) for i in local]
        if edit is not None:
            local, remote = edit(local, remote)
        out[key] = fast.merge_field(record.base[key]["ground_truth"], local, remote, rules)
    return out


def test_a_record_of_format_2_merges_its_own_labels_without_a_change(tmp_path: Path) -> None:
    record = old_record(tmp_path)
    items = fixture_items()
    assert sorted(items) == sorted(record.base) and sum(map(len, items.values())) == 12
    rules = fast.FieldRules(attributes=("iscrowd",))
    hashed_boxes = 0
    for key, local in items.items():
        base = record.base[key]["ground_truth"]
        hashed_boxes += sum(len(b.l["spatial"]) == 16 for b in base.values())
        assert not fast.local_changes(base, local, rules).changes
    assert hashed_boxes == 12  # every box of the old record is hashed
    merged = merge_all(record, items)
    assert not [c for m in merged.values() for c in m.changes]
    assert not [c for m in merged.values() for c in m.conflicts]
    assert {s for m in merged.values() for s in m.status.values()} == {"synced"}
    # nothing changed: every entry is kept as it was (a pull holds no sample for the form alone:
    # ``refresh.base_kept``), and the record saves as format 3, hashed entries and all
    for key, m in merged.items():
        base = record.base[key]["ground_truth"]
        assert all(m.base[k] is b for k, b in base.items()) and len(m.base) == len(base)
        record.base[key] = {"ground_truth": m.base}
    save_record(tmp_path, record)
    again = load_record(tmp_path, "format2")
    assert again is not None and again.format == RECORD_FORMAT == 3
    assert len(next(iter(again.base["0001"]["ground_truth"].values())).l["spatial"]) == 16
    assert not [c for m in merge_all(again, items).values() for c in m.changes]
    # a label that changes has its entry recorded in the new form
    moved = merge_all(again, items, edit=_move_once())
    assert [c.kind for m in moved.values() for c in m.changes] == ["edit"]
    assert sum("," in b.l["spatial"] for m in moved.values() for b in m.base.values()) == 1


def _move_once() -> Any:
    """An edit for ``merge_all``: the first remote box it meets moved (an annotator's edit in
    CVAT), every other label as it is."""
    done: list[bool] = []

    def edit(local: list[fast.Item], remote: list[fast.Item]) -> Any:
        if done or not remote:
            return local, remote
        done.append(True)
        x, y, w, h = remote[0].obj.bounding_box
        moved = remote[0].obj.model_copy(update={"bounding_box": (x + 0.01, y, w, h)})
        return local, [fast.Item(remote[0].id, moved), *remote[1:]]
    return edit


@settings(max_examples=300, deadline=None)
@given(box=st.tuples(st.floats(-2.0, 2.0), st.floats(-2.0, 2.0), st.floats(0.0, 2.0),
                     st.floats(0.0, 2.0)),
       z=st.one_of(st.none(), st.integers(-3, 3)), crowd=st.one_of(st.none(), st.booleans()))
def test_a_label_agrees_with_its_format_2_entry_and_keeps_it(
        box: tuple[float, float, float, float], z: int | None, crowd: bool | None) -> None:
    """The comparisons that let a merge keep an entry (``agrees``, ``synced``, ``synced_run``)
    take a format-2 entry of the label's own box as agreeing, and a field where nothing changed
    keeps those entries as they are (not rewritten in the new form: no record churn, and a pull
    holds no sample for it). A moved box does not agree with the old entry."""
    from annosync.sync import digest

    det = Detection(label="car", bounding_box=box, z_order=z, attributes={"iscrowd": crowd})
    known = hashed(digest.digests(det, ("iscrowd",)))
    assert known is not None and len(known["spatial"]) == 16  # a plain box: hashed by format 2
    twin = det.model_copy(deep=True)
    assert digest.agrees(det, known, ("iscrowd",))
    assert digest.synced(det, twin, known, ("iscrowd",))
    assert digest.synced_run([det, det], [twin, twin], [known, known], ("iscrowd",)) == 2
    x, y, w, h = box
    moved = det.model_copy(update={"bounding_box": (x + 0.5, y, w, h)})
    assert not digest.agrees(moved, known, ("iscrowd",))
    assert digest.synced_run([moved], [moved.model_copy(deep=True)], [known], ("iscrowd",)) == 0
    entry = fast.BaseEntry(known, None)
    m = fast.merge_field({"a": entry}, [fast.Item("a", det)], [fast.Item("a", twin)],
                         fast.FieldRules(attributes=("iscrowd",)))
    assert m.base["a"] is entry and not m.changes
    assert fast.local_changes({"a": entry}, [fast.Item("a", det)],
                              fast.FieldRules(attributes=("iscrowd",))).base["a"] is entry


def test_a_record_of_format_2_sees_each_side_change_what_it_changed(tmp_path: Path) -> None:
    record = old_record(tmp_path)

    def edit(local: list[fast.Item], remote: list[fast.Item]) -> Any:
        first = local[0]
        local = [fast.Item(first.id, first.obj.model_copy(update={
            "bounding_box": (0.5, 0.5, 0.1, 0.1)})), *local[1:]]
        other = remote[-1]
        remote = [*remote[:-1], fast.Item(other.id, other.obj.model_copy(
            update={"label": "bus" if other.obj.label != "bus" else "car"}))]
        return local, remote

    merged = merge_all(record, fixture_items(), edit)
    for m in merged.values():
        assert not m.conflicts
        pushed = [c for c in m.changes if c.side == "push"]
        pulled = [c for c in m.changes if c.side == "pull"]
        assert [c.aspects for c in pushed] == [("spatial",)]
        assert [c.aspects for c in pulled] == [("label",)]  # not the (same) box as well


def _against_old(base: dict[str, Any], local: list[Any], remote: list[Any],
                 agrees: bool = False) -> None:
    """The merge of hashed entries (each as the old code wrote it) equals the old code's."""
    rules = fast.FieldRules(attributes=("iscrowd",))
    ref_rules = ref.FieldRules(attributes=("iscrowd",))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ref, "digests", legacy_reference_digests)
        want = ref.merge_field({k: ref.BaseEntry(l=lo, r=r) for k, (lo, r) in base.items()},
                               [ref.Item(i, o) for i, o in local],
                               [ref.Item(i, o) for i, o in remote], ref_rules,
                               local_agrees=agrees)
    got = fast.merge_field({k: fast.BaseEntry(lo, r) for k, (lo, r) in base.items()},
                           [fast.Item(i, o) for i, o in local],
                           [fast.Item(i, o) for i, o in remote], rules, local_agrees=agrees)
    assert _as_old(got) == _plain(want)


BOX = Detection(_id="b" * 24, label="car", bounding_box=(0.1, 0.2, 0.3, 0.4),
                attributes={"iscrowd": False})
OTHER = Detection(_id="c" * 24, label="car", bounding_box=(0.2, 0.2, 0.3, 0.4),
                  attributes={"iscrowd": False})


def test_a_box_deleted_locally_and_untouched_in_cvat_is_a_deletion_to_push() -> None:
    old = legacy_reference_digests(BOX, ("iscrowd",))
    _against_old({BOX.id: (old, None)}, [], [(BOX.id, BOX.model_copy(deep=True))])
    _against_old({BOX.id: (old, None), OTHER.id: (old, None)},
                 [(OTHER.id, OTHER)], [(BOX.id, BOX.model_copy(deep=True)), (OTHER.id, OTHER)])


def test_a_vouched_for_box_takes_only_what_cvat_changed() -> None:
    old = legacy_reference_digests(BOX, ("iscrowd",))
    other = legacy_reference_digests(OTHER, ("iscrowd",))
    relabelled = BOX.model_copy(update={"label": "bus"})
    _against_old({BOX.id: (old, None), OTHER.id: (other, None)},
                 [(BOX.id, BOX), (OTHER.id, OTHER)],
                 [(BOX.id, relabelled), (OTHER.id, OTHER.model_copy(deep=True))], agrees=True)
    _against_old({BOX.id: (old, None)}, [(BOX.id, BOX)], [], agrees=True)


def test_an_id_less_box_takes_back_its_id_from_a_format_2_entry(tmp_path: Path) -> None:
    from annosync.dataset.folder import DatasetFolder
    from annosync.model.schema import ResolvedSchema
    from annosync.sync.ids import assign_ids

    (tmp_path / "state").mkdir()
    record = old_record(tmp_path / "state")
    dataset = tmp_path / "street"
    shutil.copytree(FIXTURE, dataset)
    path = dataset / "labels" / "0001.json"
    label_id = next(iter(record.base["0001"]["ground_truth"]))
    text = path.read_text()
    assert text.count(f'"_id": "{label_id}"') == 1
    path.write_text(text.replace(f'"_id": "{label_id}",', "", 1))
    schema = ResolvedSchema.model_validate(record.label_schema)
    done = assign_ids(DatasetFolder(dataset), ["0001"], schema, record.base)
    assert (done.restored, done.fresh) == (1, 0)
    assert path.read_text() == text


@pytest.mark.parametrize("local_agrees", [False, True])
def test_a_format_2_entry_nobody_changed_is_kept_beside_a_change(tmp_path: Path,
                                                                 local_agrees: bool) -> None:
    """A pull's rows (a field where something changed, remote boxes back from CVAT's pixels
    an ulp away): the entries of labels neither side changed are kept as the record holds
    them, only the changed label's entry is recorded anew, in the new form. (Upgrading every
    compared entry made every sample of a format-2 record look changed to a pull, which then
    held them all: 263 against 176 MB at 5,000 samples.)"""
    import math

    record = old_record(tmp_path)
    items = fixture_items()
    rules = fast.FieldRules(attributes=("iscrowd",))
    key = next(k for k, v in items.items() if len(v) >= 2)
    local = items[key]
    base = record.base[key]["ground_truth"]
    remote = []
    for n, item in enumerate(local):
        x, y, w, h = item.obj.bounding_box
        box = (x + 0.05, y, w, h) if n == 0 else (x, y, w, h + math.ulp(h))
        remote.append(fast.Item(item.id, item.obj.model_copy(update={"bounding_box": box})))
    m = fast.merge_field(base, local, remote, rules, local_agrees=local_agrees)
    assert [(c.kind, c.side) for c in m.changes] == [("edit", "pull")]
    first, *rest = [i.key for i in local]
    assert "," in m.base[first].l["spatial"]  # the change: recorded in the new form
    assert rest and all(m.base[k] is base[k] for k in rest)
