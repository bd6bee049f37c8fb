"""Every real CVAT file, imported into annosync and exported again, imports into the CVAT task
it came from (the emulator, through the annotation import endpoint) with exactly the
annotations the original file gives (issue 15); files CVAT refuses are refused by both, with
CVAT's own words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from emutask import comparable, import_file, make_task, refusal
from xmlcases import ALL_XML, ALL_ZIPS, repaired

from annosync.cvat import Credentials, CvatClient
from annosync.cvatxml import export_xml, import_xml
from annosync.cvatxml.reader import read_document
from annosync.errors import InputError

#: Files CVAT 2.73 refuses, with its message (bindings.py ``_get_label_id``); annosync refuses
#: them too (test_roundtrip.py), and the round trip runs on the copy a user would repair.
CVAT_REFUSES = {
    "cvat_docs__format-cvat__images_example.xml":
        "ValueError: Label 'good_frame' is not registered for this task",
    "cvatai_datumaro__for_images__train.xml":
        "ValueError: Label '' is not registered for this task",
    "ovtk_datumaro__for_images__export_task__train.xml":
        "ValueError: Label '' is not registered for this task",
    # load_anno reads the nested <track label="1"> as a track of its own (bindings.py)
    "ovtk_datumaro__for_video__annotations.xml":
        "ValueError: Label '1' is not registered for this task",
}

def _is_task_file(path: Path) -> bool:
    if path.suffix == ".zip":
        return True
    meta = read_document(path).meta
    return meta is not None and meta.task is not None


TASK_FILES = [p for p in ALL_XML + ALL_ZIPS if _is_task_file(p)]


@pytest.fixture(scope="module")
def client() -> Iterator[CvatClient]:
    from annosync.emulator import Emulator

    with Emulator() as emu, CvatClient(
        emu.url, Credentials(username=emu.admin_username, password=emu.admin_password),
        poll_interval=(0.01, 0.05),
    ) as c:
        yield c


def _xml_of(path: Path, tmp: Path) -> Path:
    if path.suffix != ".zip":
        return path
    import zipfile

    out = tmp / f"{path.stem}.xml"
    with zipfile.ZipFile(path) as zf:
        out.write_bytes(zf.read("annotations.xml"))
    return out


@pytest.mark.parametrize("source", TASK_FILES, ids=lambda p: p.name)
def test_the_export_imports_into_the_task_like_the_original(client: CvatClient, tmp_path: Path,
                                                            source: Path) -> None:
    if source.name in CVAT_REFUSES:
        task_id = make_task(client, source, f"refused-{source.stem}")
        assert refusal(client, task_id, source) == CVAT_REFUSES[source.name]
        with pytest.raises(InputError):
            import_xml(source, tmp_path / "refused")
        source = repaired(source, tmp_path / source.name)
    task_id = make_task(client, _xml_of(source, tmp_path), f"rt-{source.stem}")
    want = import_file(client, task_id, source)
    assert want["shapes"] or want["tracks"] or want["tags"], "the file gives annotations"
    import_xml(source, tmp_path / "ds")
    out = tmp_path / f"export{source.suffix}"
    export_xml(tmp_path / "ds", out)
    client.delete_annotations(task_id)
    got = import_file(client, task_id, out)
    assert comparable(got) == comparable(want)
