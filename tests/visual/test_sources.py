"""Where review changes come from: the state kept before the last pull."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from annosync.dataset.folder import DatasetFolder
from annosync.errors import InputError
from annosync.sync.previous import previous_path, save_previous
from annosync.visual.sources import previous_diffs

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def test_a_broken_previous_state_is_refused_with_its_place(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "street", tmp_path / "street")
    folder = DatasetFolder.open(tmp_path / "street")
    good = json.loads(folder.read_bytes("0001"))
    save_previous(folder.state_dir, "run", "2020-01-01T00:00:00Z", {"0001": good})
    _, diffs = previous_diffs(folder, "run")
    assert diffs == []  # the file is as it was before the pull

    broken = {**good, "media": 5}
    save_previous(folder.state_dir, "run", "2020-01-01T00:00:00Z", {"0001": broken})
    with pytest.raises(InputError) as err:  # was an internal error (a pydantic traceback)
        previous_diffs(folder, "run")
    assert str(err.value) == (f"{previous_path(folder.state_dir, 'run')}: "
                              '$.samples["0001"].media: must be a string')
