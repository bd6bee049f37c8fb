"""Fresh label ids: well formed, all different, and different in a forked child."""

from __future__ import annotations

import os
import sys

import pytest

from annosync.model.ids import ID_PATTERN, new_id


def test_fresh_ids_are_well_formed_and_unique() -> None:
    made = [new_id() for _ in range(20_000)]  # several 4 KiB batches of random bytes
    assert all(ID_PATTERN.match(i) for i in made)
    assert len(set(made)) == len(made)
    assert len({i[8:] for i in made}) == len(made)  # the random part alone differs


@pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    new_id()  # the parent holds buffered random bytes now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, ",".join(new_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split(",")
    os.waitpid(pid, 0)
    parent = [new_id() for _ in range(50)]
    assert len(child) == 50 and not {i[8:] for i in child} & {i[8:] for i in parent}
