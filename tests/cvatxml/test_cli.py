"""``annosync export-xml`` / ``import-xml``: the project's fixtures go out and come back
unchanged, options work, bad input is a message (no traceback)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from xmlcases import IMAGE_XML, IMAGE_ZIP, ROOT

from annosync.cli.main import cli
from annosync.dataset.folder import DatasetFolder

FIXTURES = ROOT / "fixtures"


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result


def files(root: Path) -> dict[str, bytes]:
    """The dataset's files but the records of imported CVAT files (.annosync/cvat/)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".annosync" not in p.parts}


@pytest.mark.parametrize("layout", ["images", "video"])
@pytest.mark.parametrize("suffix", [".xml", ".zip"])
def test_fixtures_go_out_and_come_back_unchanged(tmp_path: Path, layout: str,
                                                 suffix: str) -> None:
    street = tmp_path / "street"
    shutil.copytree(FIXTURES / "street", street)
    before = files(street)
    out = tmp_path / f"street{suffix}"
    result = invoke("export-xml", str(out), "--dataset", str(street), "--format", layout)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: 5 sample(s)" in result.output
    args = ["import-xml", str(out), "--dataset", str(street)]
    if layout == "video":  # the video layout names no images: say which frame is which
        keys = list(DatasetFolder.open(street).keys())
        (tmp_path / "map.json").write_text(json.dumps({str(i): k for i, k in enumerate(keys)}))
        args += ["--data-map", str(tmp_path / "map.json")]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "0 sample(s) created, 0 updated, 5 unchanged" in result.output
    assert files(street) == before

    traffic = tmp_path / "traffic"
    shutil.copytree(FIXTURES / "traffic", traffic)
    before = files(traffic)
    out_dir = tmp_path / "traffic-out"
    result = invoke("export-xml", str(out_dir), "--dataset", str(traffic), "--format", layout,
                    "--zip" if suffix == ".zip" else "--xml")
    assert result.exit_code == 0, result.output
    for name in ("day", "dusk"):
        result = invoke("import-xml", str(out_dir / f"{name}{suffix}"), "--dataset",
                        str(traffic))
        assert result.exit_code == 0, result.output
        assert "1 unchanged" in result.output
    assert files(traffic) == before


def test_import_into_a_new_dataset_and_options(tmp_path: Path) -> None:
    ds = tmp_path / "new"
    result = invoke("import-xml", str(IMAGE_ZIP), "--dataset", str(ds), "--label-field", "gt",
                    "--field", "classifications=scene")
    assert result.exit_code == 0, result.output
    assert "imported 6 label(s) (0 merged by id): 3 sample(s) created" in result.output
    sample = DatasetFolder.open(ds).read("image_1")
    assert sorted(sample.fields) == ["gt_polylines", "scene"]
    result = invoke("import-xml", str(IMAGE_XML), "--dataset", str(ds), "--label-field", "gt",
                    "--field", "classifications=scene", "--dry-run")
    assert result.exit_code == 0 and result.stdout.startswith("would import 6 label(s)")
    result = invoke("export-xml", str(tmp_path / "one.xml"), "--dataset", str(ds), "-s",
                    "image_1", "-f", "scene", "--numbers", "cvat", "--task-name", "t",
                    "--record", "none")
    assert result.exit_code == 0, result.output
    assert "1 sample(s), 1 image(s), 0 shape(s), 1 tag(s)" in result.output
    assert "<name>t</name>" in (tmp_path / "one.xml").read_text()


def test_bad_input_is_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text('<annotations><image id="x" name="a.jpg"/></annotations>')
    result = invoke("import-xml", str(bad), "--dataset", str(tmp_path / "d"))
    assert result.exit_code == 1
    assert f"{bad}:1: <image> attribute 'id' must be an integer, got 'x'" in result.output
    assert not (tmp_path / "d").exists()
    result = invoke("import-xml", str(IMAGE_XML), "--field", "shapes=gt")
    assert result.exit_code == 2 and "expected KIND=FIELD" in result.output


def test_main_prints_located_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from annosync.cli.main import main

    bad = tmp_path / "evil.xml"
    bad.write_text('<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><annotations/>')
    monkeypatch.setattr("sys.argv", ["annosync", "import-xml", str(bad), "--dataset",
                                     str(tmp_path / "d")])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert f"{bad}:1: refusing XML with a <!DOCTYPE> declaration" in err
    assert "Traceback" not in err and not (tmp_path / "d").exists()
