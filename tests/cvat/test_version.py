"""Server versions: parsing, refusing non-2.x, and the verified 2.x API differences."""

from __future__ import annotations

import pytest
from cvat_fake import FakeCvat, Reply, connection_dropped

from annosync.cvat import CvatClient, CvatVersionError, ServerVersion
from annosync.cvat.uploads import UploadLimits
from annosync.cvat.version import parse_version


@pytest.mark.parametrize(("text", "parsed"), [
    ("2.73.0", (2, 73, 0)), ("v2.4.0", (2, 4, 0)), ("2.5.0-alpha", (2, 5, 0)),
    ("2.3.0.dev20220101", (2, 3, 0)), ("2.16", (2, 16, 0)), ("3", (3, 0, 0)),
])
def test_parse(text: str, parsed: tuple[int, int, int]) -> None:
    v = parse_version(text)
    assert v == parsed and isinstance(v, ServerVersion)


def test_unparseable() -> None:
    with pytest.raises(CvatVersionError):
        parse_version("dev")


def test_predicates() -> None:
    assert parse_version("2.16.0").has_requests_api
    assert not parse_version("2.15.9").has_requests_api
    assert parse_version("2.2.1").has_tus_head and not parse_version("2.2.0").has_tus_head


@pytest.mark.parametrize("version", ["3.0.0", "1.7.0"])
def test_other_majors_are_refused_before_credentials_are_sent(make_client, fake: FakeCvat,
                                                              version: str) -> None:
    fake.version = version
    c = make_client()
    with pytest.raises(CvatVersionError) as info:
        c.login()
    assert f"CVAT server version {version} is not supported" in str(info.value)
    assert [x.path for x in fake.calls] == ["/api/server/about"]
    assert fake.calls[0].header("Authorization") is None


def test_server_version_property(client: CvatClient) -> None:
    assert client.server_version == (2, 73, 0)
    assert client.server_version >= (2, 16)
    assert client.server_about()["version"] == "2.73.0"


def test_about_needing_auth_before_2_3(make_client, fake: FakeCvat) -> None:
    fake.version = "2.2.0"
    real = fake._route

    def about_needs_auth(call):
        if call.path == "/api/server/about" and not call.header("Authorization"):
            return Reply(401, json={"detail": "Authentication credentials were not provided."})
        return real(call)

    fake._route = about_needs_auth  # type: ignore[method-assign]
    c = make_client()
    c.login()
    assert c.server_version == (2, 2, 0)
    assert [x.path for x in fake.calls] == ["/api/server/about", "/api/users/self",
                                            "/api/server/about"]


def test_task_creation_polled_with_status_before_2_16(make_client, fake: FakeCvat) -> None:
    fake.version = "2.15.0"
    c = make_client()
    tid = c.create_task("old")["id"]
    status = c.upload_task_data(tid, [("a.jpg", b"a")])
    assert status["state"] == "Finished"
    assert not [x for x in fake.calls if x.path.startswith("/api/requests")]
    assert [x.path for x in fake.calls][-1] == f"/api/tasks/{tid}/status"


def test_legacy_export_before_2_16(make_client, fake: FakeCvat, tmp_path) -> None:
    fake.version = "2.10.0"
    fake.adapter.validator = None  # the pre-2.16 export endpoints are not in the 2.73 schema
    real = fake._route
    polls = {"n": 0}

    def legacy(call):
        if call.method == "GET" and call.path.endswith("/annotations") and "format" in call.params:
            if call.params.get("action") == "download":
                return Reply(200, body=b"ZIP", headers={"Content-Type": "application/zip"})
            polls["n"] += 1
            return Reply(202 if polls["n"] < 3 else 201, body=b"")
        return real(call)

    fake._route = legacy  # type: ignore[method-assign]
    c = make_client()
    tid = c.create_task("old")["id"]
    out = c.export_dataset(tmp_path / "old.zip", "CVAT for images 1.1", task_id=tid)
    assert out.read_bytes() == b"ZIP"
    gets = [x for x in fake.calls if x.path == f"/api/tasks/{tid}/annotations"]
    assert [x.params for x in gets] == [{"format": "CVAT for images 1.1"}] * 3 + [
        {"format": "CVAT for images 1.1", "action": "download"}]
    assert not [x for x in fake.calls if "dataset/export" in x.path]


def test_legacy_import_before_2_16(make_client, fake: FakeCvat) -> None:
    fake.version = "2.10.0"
    fake.adapter.validator = None
    real = fake._route
    finishes = {"n": 0}

    def legacy(call):
        if (call.method == "POST" and call.path.endswith("/annotations/")
                and "filename" in call.params and not call.header("Upload-Start")):
            if call.header("Upload-Finish") == "":
                real(call)
                return Reply(202, body=b"")
            finishes["n"] += 1
            return Reply(202 if finishes["n"] < 2 else 201, body=b"")
        return real(call)

    fake._route = legacy  # type: ignore[method-assign]
    c = make_client()
    tid = c.create_task("old")["id"]
    assert c.import_annotations(("a.xml", b"<annotations/>"), task_id=tid) == {
        "status": "finished"}
    assert finishes["n"] == 2
    assert [x.header("Upload-Start") for x in fake.calls if x.method == "POST"][1] == ""


def test_tus_without_head_restarts_before_2_2_1(make_client, fake: FakeCvat) -> None:
    fake.version = "2.2.0"
    real = fake._route

    def no_head(call):
        if call.method == "HEAD":
            return Reply(405, json={"detail": 'Method "GET" not allowed.'})
        if call.method == "PATCH" and call.header("Upload-Offset") == "0":
            fid = call.path.rsplit("/", 1)[1]
            fake.tus[fid]["data"] = bytearray()  # the server restarts the file too
        return real(call)

    fake._route = no_head  # type: ignore[method-assign]
    fake.fault(r"/data/1_", method="PATCH", times=1, exc=connection_dropped)
    c = make_client(upload_limits=UploadLimits(bundle_size=4, tus_threshold=4, chunk_size=4))
    tid = c.create_task("old")["id"]
    c.upload_task_data(tid, [("v.mp4", b"0123456789")])
    offsets = [x.header("Upload-Offset") for x in fake.calls if x.method == "PATCH"]
    assert offsets[:2] == ["0", "0"]
    assert not [x for x in fake.calls if x.method == "HEAD"]  # not even asked
