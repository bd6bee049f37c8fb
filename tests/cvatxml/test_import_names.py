"""``import_._stem`` / ``_basename`` (string fast paths for one-part names) equal pathlib's
``PurePosixPath(name).with_suffix("")`` / ``.name`` for any name."""

from __future__ import annotations

from pathlib import PurePosixPath

from hypothesis import example, given
from hypothesis import strategies as st

from annosync.cvatxml.import_ import _basename, _stem


def _ref_stem(name: str) -> str:
    p = PurePosixPath(name)
    return p.with_suffix("").as_posix() if p.suffix else name


@given(st.text(alphabet="a./ \\é", max_size=8))
@example(".a")
@example("a.")
@example("a.b.c")
@example("..")
@example("d/a.b")
def test_stem_and_basename_equal_pathlib(name: str) -> None:
    assert _stem(name) == _ref_stem(name)
    assert _basename(name) == PurePosixPath(name).name
