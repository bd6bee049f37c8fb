"""Hostile inputs: XXE, entity expansion, DOCTYPEs, zip-slip, absolute names, symlinks, zip
bombs, lying sizes. Each gives a clear InputError, and an import writes nothing."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from pathlib import Path

import pytest
from xmlcases import IMAGE_XML, IMAGE_ZIP

from annosync.cvatxml import ZipLimits, import_xml, open_zip, read_document
from annosync.errors import InputError

BODY = '<annotations><version>1.1</version><image id="0" name="image_0.jpg"/></annotations>'

XXE = """<?xml version="1.0"?>
<!DOCTYPE annotations [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<annotations><version>&xxe;</version><image id="0" name="&xxe;"/></annotations>"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<annotations><version>&lol9;</version></annotations>"""

EXTERNAL_DTD = f"""<?xml version="1.0"?>
<!DOCTYPE annotations SYSTEM "http://127.0.0.1:9/evil.dtd">
{BODY}"""

PARAMETER_ENTITY = f"""<?xml version="1.0"?>
<!-- a comment first -->
<?pi data?>
<!DOCTYPE a [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x">%p;]>
{BODY}"""

PLAIN_DOCTYPE = f"<!DOCTYPE annotations>\n{BODY}"


@pytest.mark.parametrize(("data", "line"), [
    (XXE.encode(), 2),
    (BILLION_LAUGHS.encode(), 2),
    (EXTERNAL_DTD.encode(), 2),
    (PARAMETER_ENTITY.encode(), 4),
    (PLAIN_DOCTYPE.encode(), 1),
    (b"\xef\xbb\xbf" + PLAIN_DOCTYPE.encode(), 1),  # UTF-8 with BOM
], ids=["xxe", "billion-laughs", "external-dtd", "parameter-entity", "doctype", "bom"])
def test_dtds_and_entities_are_refused(data: bytes, line: int) -> None:
    with pytest.raises(InputError) as info:
        read_document(data, name="evil.xml")
    text = str(info.value)
    assert text.startswith(f"evil.xml:{line}: refusing XML with a <!DOCTYPE> declaration")
    assert "root:" not in text  # /etc/passwd was never read


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_dtds_in_other_encodings_are_refused(codec: str) -> None:
    data = XXE.replace('version="1.0"?>', f'version="1.0" encoding="{codec.upper()}"?>')
    with pytest.raises(InputError, match=r"refusing XML with a .*DOCTYPE"):
        read_document(data.encode(codec), name="evil.xml")


def test_a_doctype_hidden_behind_a_long_prolog_is_still_refused() -> None:
    """The prolog scan reads on until the root element (600 kB of comment first)."""
    data = ("<!--" + "x" * 600_000 + "-->\n" + XXE.split("\n", 1)[1]).encode()
    with pytest.raises(InputError, match=r"evil\.xml:2: refusing XML with a <!DOCTYPE>"):
        read_document(data, name="evil.xml")


def test_an_endless_prolog_is_refused() -> None:
    data = ("<!--" + "x" * 3_000_000 + "-->\n" + BODY).encode()
    with pytest.raises(InputError, match="no root element within the first 1048576 bytes"):
        read_document(data, name="evil.xml")


def test_the_parser_checks_the_doctype_too() -> None:
    """Second line of defence, should the byte scan be fooled: lxml's own docinfo."""
    from lxml import etree

    from annosync.cvatxml.diag import Diagnostics
    from annosync.cvatxml.safe import check_docinfo

    root = etree.fromstring(PLAIN_DOCTYPE.encode())
    with pytest.raises(InputError, match="refusing XML with a DOCTYPE declaration"):
        check_docinfo(root, Diagnostics("x.xml"))


def test_huge_text_nodes_are_refused() -> None:
    data = f'<annotations><version>{"x" * 20_000_000}</version></annotations>'.encode()
    with pytest.raises(InputError, match="malformed XML"):
        read_document(data)


def test_deep_nesting_is_refused() -> None:
    data = ("<annotations>" + "<a>" * 300 + "</a>" * 300 + "</annotations>").encode()
    with pytest.raises(InputError, match="malformed XML"):
        read_document(data)


# -- zips --------------------------------------------------------------------------------------
def _zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]],
         compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return path


def _symlink(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


XML = IMAGE_XML.read_bytes()


@pytest.mark.parametrize(("members", "message"), [
    ([("annotations.xml", XML), ("../evil.txt", b"x")], "'..' would leave the target folder"),
    ([("annotations.xml", XML), ("images/../../evil.jpg", b"x")], "'..' would leave"),
    ([("annotations.xml", XML), ("/etc/evil", b"x")], "absolute paths are not allowed"),
    ([("annotations.xml", XML), ("C:/evil.jpg", b"x")], "absolute paths are not allowed"),
    ([("annotations.xml", XML), ("images\\..\\evil.jpg", b"x")], "backslashes are not allowed"),
    ([("annotations.xml", XML), (_symlink("images/link.jpg", "/etc/passwd"), b"/etc/passwd")],
     "symbolic links are not allowed"),
], ids=["dotdot", "nested-dotdot", "absolute", "drive", "backslash", "symlink"])
def test_dangerous_member_names_are_refused(tmp_path: Path, members: list, message: str) -> None:
    path = _zip(tmp_path / "evil.zip", members)
    with pytest.raises(InputError) as info, open_zip(path):
        pass
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_declared_sizes_and_ratio_are_bounded(tmp_path: Path) -> None:
    zeros = b"\0" * (8 * 1024 * 1024)
    path = _zip(tmp_path / "bomb.zip", [("annotations.xml", XML), ("images/z.jpg", zeros)],
                zipfile.ZIP_DEFLATED)
    with pytest.raises(InputError, match=r"compression ratio \d+:1 exceeds 100:1"), \
            open_zip(path, ZipLimits(max_ratio=100)):
        pass
    with pytest.raises(InputError, match="zip bomb"), open_zip(path):  # default 1000:1
        pass
    noise = os.urandom(3 * 1024 * 1024)
    path = _zip(tmp_path / "big.zip", [("annotations.xml", XML), ("images/a.jpg", noise),
                                       ("images/b.jpg", noise)])
    with pytest.raises(InputError, match="declared size 3145728 exceeds the limit"), \
            open_zip(path, ZipLimits(max_member_bytes=1024 * 1024)):
        pass
    with pytest.raises(InputError, match=r"would expand to .* more than the limit"), \
            open_zip(path, ZipLimits(max_total_bytes=4 * 1024 * 1024)):
        pass
    with pytest.raises(InputError, match="holds 3 members, more than the limit of 2"), \
            open_zip(path, ZipLimits(max_members=2)):
        pass
    with open_zip(path):  # within the defaults
        pass


def test_a_member_lying_about_its_size_is_refused(tmp_path: Path) -> None:
    """Central directory and local header say 100 bytes; the data is much longer."""
    big = XML * 20
    path = _zip(tmp_path / "liar.zip", [("annotations.xml", big)], zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    real = len(big).to_bytes(4, "little")
    fake = (100).to_bytes(4, "little")
    assert raw.count(real) == 2
    path.write_bytes(bytes(raw).replace(real, fake))
    with open_zip(path) as zf, pytest.raises(InputError) as info:
        zf.read_member("annotations.xml")
    assert "annotations.xml" in str(info.value)
    assert "larger than its declared size" in str(info.value) or "corrupt" in str(info.value)


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(InputError, match="not a readable zip archive"), open_zip(path):
        pass


@pytest.mark.parametrize(("name", "why"), [
    ("a/../../b", "'..'"), ("/a", "absolute"), ("c:/a", "absolute"), ("a\\b", "backslash"),
    ("", "empty"), ("a\x00b", "NUL"), ("images/a.jpg", None), ("a..b/c", None),
])
def test_member_name_rules(name: str, why: str | None) -> None:
    from annosync.cvatxml.zipio import check_member_name

    result = check_member_name(name)
    assert (result is None) if why is None else (why in (result or ""))


def test_extraction_stays_inside(tmp_path: Path) -> None:
    with open_zip(IMAGE_ZIP) as zf:
        out = zf.extract("annotations.xml", tmp_path / "dest")
    assert out == (tmp_path / "dest" / "annotations.xml").resolve()
    assert out.read_bytes() == XML


# -- imports write nothing ---------------------------------------------------------------------
def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def existing(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    import_xml(IMAGE_XML, root)
    return root


def _evil_sources(tmp_path: Path) -> list[Path]:
    sources = []
    for i, data in enumerate([XXE, BILLION_LAUGHS, EXTERNAL_DTD, PLAIN_DOCTYPE]):
        p = tmp_path / f"evil{i}.xml"
        p.write_text(data)
        sources.append(p)
    sources.append(_zip(tmp_path / "slip.zip", [("annotations.xml", XML),
                                                ("images/../../../evil.jpg", b"x")]))
    sources.append(_zip(tmp_path / "abs.zip", [("annotations.xml", XML),
                                               ("/tmp/evil.jpg", b"x")]))
    sources.append(_zip(tmp_path / "link.zip", [("annotations.xml", XML),
                                                (_symlink("images/image_0.jpg", "/etc"), b"/")]))
    sources.append(_zip(tmp_path / "xxe.zip", [("annotations.xml", XXE.encode())]))
    bad = XML.replace(b'xtl="20.00"', b'xtl="oops"')
    sources.append(_zip(tmp_path / "late-error.zip", [("annotations.xml", bad),
                                                      ("images/image_0.jpg", b"jpeg")]))
    return sources


def test_malicious_inputs_write_nothing_to_an_existing_dataset(tmp_path: Path,
                                                               existing: Path) -> None:
    before = _snapshot(existing)
    for source in _evil_sources(tmp_path):
        with pytest.raises(InputError):
            import_xml(source, existing, unmatched="create")
        assert _snapshot(existing) == before, source.name
    assert not (tmp_path / "evil.jpg").exists()


def test_malicious_inputs_create_no_dataset(tmp_path: Path) -> None:
    for i, source in enumerate(_evil_sources(tmp_path)):
        target = tmp_path / f"new{i}"
        with pytest.raises(InputError):
            import_xml(source, target)
        assert not target.exists(), source.name


def test_media_from_a_good_zip_is_extracted_inside(tmp_path: Path) -> None:
    path = _zip(tmp_path / "good.zip", [("annotations.xml", XML),
                                        ("images/image_0.jpg", b"jpeg0")])
    report = import_xml(path, tmp_path / "ds")
    assert report.media == ["media/image_0.jpg"]
    assert (tmp_path / "ds" / "media" / "image_0.jpg").read_bytes() == b"jpeg0"
    leftovers = [p for p in (tmp_path / "ds").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_reading_from_a_zip_is_bounded_by_the_declared_size() -> None:
    from annosync.cvatxml.safe import LimitedReader

    reader = LimitedReader(io.BytesIO(b"x" * 10), 5, lambda: InputError.at("too big"))
    with pytest.raises(InputError, match="too big"):
        reader.read()
    assert os.path.exists(IMAGE_ZIP)
