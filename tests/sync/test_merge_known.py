"""``merge_field(..., local_agrees=True)`` (local digests taken from the base, used when the
clean memo vouches for the file) gives exactly the merge computed from scratch."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from annosync.model.labels import Detection
from annosync.sync.digest import digests
from annosync.sync.merge import BaseEntry, FieldRules, Item, merge_field

RULES = FieldRules(attributes=("iscrowd",), defaults=(("iscrowd", False),))


def det(i: int, x: float, label: str, crowd: bool | None) -> Detection:
    attrs = {} if crowd is None else {"iscrowd": crowd}
    return Detection(id=f"{i:024x}", label=label, bounding_box=(x, 0.1, 0.2, 0.3),
                     attributes=attrs)


labels = st.lists(st.tuples(st.floats(0, 0.5), st.sampled_from(["car", "truck"]),
                            st.sampled_from([None, True, False])), min_size=0, max_size=6)
edits = st.lists(st.sampled_from(["same", "move", "relabel", "crowd", "delete"]),
                 min_size=6, max_size=6)


@settings(max_examples=300, deadline=None)
@given(spec=labels, remote_edits=edits, added=st.booleans(),
       policy=st.sampled_from(["fail", "prefer-local", "prefer-remote", "keep-both"]))
def test_known_local_digests_change_nothing(spec: list, remote_edits: list[str], added: bool,
                                            policy: str) -> None:
    local = [Item(d.id, d) for d in (det(i, *s) for i, s in enumerate(spec))]
    base = {i.key: BaseEntry.of(digests(i.obj, RULES.attributes),
                                digests(i.obj, RULES.attributes)) for i in local}
    remote = []
    for item, edit in zip(local, remote_edits, strict=False):
        d = item.obj
        if edit == "delete":
            continue
        if edit == "move":
            d = d.model_copy(update={"bounding_box": (0.6, 0.1, 0.2, 0.3)})
        elif edit == "relabel":
            d = d.model_copy(update={"label": "bus"})
        elif edit == "crowd":
            d = d.model_copy(update={"attributes": {"iscrowd": not d.attributes.get("iscrowd")}})
        remote.append(Item(d.id, d))
    if added:
        extra = det(99, 0.3, "car", None)
        remote.append(Item(extra.id, extra))
    plain = merge_field(base, local, remote, RULES, policy)  # type: ignore[arg-type]
    known = merge_field(base, local, remote, RULES, policy, local_agrees=True)  # type: ignore[arg-type]
    assert known.changes == plain.changes and known.conflicts == plain.conflicts
    assert known.rejections == plain.rejections and known.status == plain.status
    assert known.base == plain.base and known.notes == plain.notes
    assert [(i.key, i.obj) for i in known.result] == [(i.key, i.obj) for i in plain.result]
