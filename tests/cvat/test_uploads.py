"""Task data and annotation uploads: the requests match the recordings; TUS resumes."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cvat_fake import FakeCvat, Reply, assert_like_recorded, connection_dropped, recordings2

from annosync.cvat import CvatClient, CvatError, CvatRequestFailed
from annosync.cvat.uploads import UploadFile, UploadLimits, bundle

REC = recordings2()
SIX = ["z_first.jpg", "a_second.jpg", "m_third.jpg", "b_fourth.jpg", "y_fifth.jpg",
       "c_sixth.jpg"]


def _task(c: CvatClient, **kw) -> int:
    return c.create_task("t", labels=[{"name": "thing", "type": "any"}], **kw)["id"]


def _calls(fake: FakeCvat, method: str, pattern: str) -> list:
    import re
    return [x for x in fake.calls if x.method == method and re.search(pattern, x.path)]


def test_single_request_upload_matches_recording(client: CvatClient, fake: FakeCvat) -> None:
    tid = _task(client)
    files = [(n, b"\xff\xd8" + n.encode()) for n in SIX]
    status = client.upload_task_data(tid, files, image_quality=75, use_cache=True,
                                     sorting_method="predefined")
    assert status["status"] == "finished"
    [post] = _calls(fake, "POST", r"/data/?$")
    assert_like_recorded(post, REC[104])  # client_files[0..5] in order + the three fields
    assert fake.task_files[tid] == SIX
    polls = _calls(fake, "GET", r"^/api/requests/")
    assert_like_recorded(polls[0], REC[105])


def test_chunked_upload_matches_recording(make_client, fake: FakeCvat) -> None:
    c = make_client(upload_limits=UploadLimits(bundle_size=30, tus_threshold=1000))
    tid = _task(c, segment_size=3)
    names = [f"b_00{i}.jpg" for i in range(6)]
    files = [(n, b"x" * 10) for n in names]
    c.upload_task_data(tid, files)
    posts = _calls(fake, "POST", r"/data/?$")
    assert len(posts) == 4
    assert_like_recorded(posts[0], REC[111])  # Upload-Start, empty
    assert_like_recorded(posts[1], REC[112])  # Upload-Multiple, client_files[0..2]
    assert_like_recorded(posts[2], REC[113])  # indices restart at 0 in each bundle
    assert_like_recorded(posts[3], REC[131])  # Upload-Finish with a JSON body
    assert fake.task_files[tid] == names


def test_predefined_order_is_stated_at_finish(make_client, fake: FakeCvat) -> None:
    c = make_client(upload_limits=UploadLimits(bundle_size=10, tus_threshold=15,
                                               chunk_size=8))
    tid = _task(c)
    files = [("3.jpg", b"a" * 20), ("1.jpg", b"b" * 5), ("2.jpg", b"c" * 5)]
    c.upload_task_data(tid, files, sorting_method="predefined")
    finish = [x for x in _calls(fake, "POST", r"/data/?$") if x.header("Upload-Finish") == ""]
    assert finish[0].json() == {"image_quality": 70, "sorting_method": "predefined",
                                "upload_file_order": ["3.jpg", "1.jpg", "2.jpg"]}


def test_tus_upload_matches_recording(make_client, fake: FakeCvat, tmp_path: Path) -> None:
    c = make_client(upload_limits=UploadLimits(bundle_size=10, tus_threshold=10, chunk_size=10))
    tid = _task(c)
    big = tmp_path / "big_noise.png"
    content = bytes(range(25))
    big.write_bytes(content)
    c.upload_task_data(tid, [big])
    [create] = [x for x in fake.calls if x.header("Upload-Length")]
    assert_like_recorded(create, REC[123])
    assert create.header("Upload-Length") == "25"
    assert create.header("Upload-Metadata") == REC[123]["request_headers"]["Upload-Metadata"]
    patches = _calls(fake, "PATCH", r"/data/1_")
    assert [p.header("Upload-Offset") for p in patches] == ["0", "10", "20"]
    assert [len(p.body) for p in patches] == [10, 10, 5]
    for p in patches:
        assert p.header("Content-Type") == "application/offset+octet-stream"
        assert p.header("Tus-Resumable") == "1.0.0"
    assert_like_recorded(patches[0], REC[125], body=False)
    assert bytes(next(iter(fake.tus.values()))["data"]) == content
    assert fake.task_files[tid] == ["big_noise.png"]


def test_tus_resumes_after_a_dropped_chunk(make_client, fake: FakeCvat, clock) -> None:
    c = make_client(upload_limits=UploadLimits(bundle_size=4, tus_threshold=4, chunk_size=4))
    tid = _task(c)
    content = b"0123456789abcdef!"
    fake.fault(r"/data/1_", method="PATCH", times=1, exc=connection_dropped)
    c.upload_task_data(tid, [("v.mp4", content)])
    offsets = [(x.method, x.header("Upload-Offset")) for x in fake.calls
               if x.method in ("PATCH", "HEAD")]
    assert offsets == [("PATCH", "0"), ("HEAD", None), ("PATCH", "0"), ("PATCH", "4"),
                       ("PATCH", "8"), ("PATCH", "12"), ("PATCH", "16")]
    assert bytes(next(iter(fake.tus.values()))["data"]) == content
    head = _calls(fake, "HEAD", r"/data/1_")[0]
    assert_like_recorded(head, REC[124])


def test_tus_resumes_from_server_offset_when_only_the_answer_was_lost(
        make_client, fake: FakeCvat) -> None:
    c = make_client(upload_limits=UploadLimits(bundle_size=4, tus_threshold=4, chunk_size=4))
    tid = _task(c)
    content = b"abcdefghij"
    real = fake.handle
    lost = {"done": False}

    def lose_second_answer(call):
        reply = real(call)
        if call.method == "PATCH" and call.header("Upload-Offset") == "4" and not lost["done"]:
            lost["done"] = True
            return connection_dropped()  # the chunk was stored, the answer never came
        return reply

    fake.adapter.handler = lose_second_answer
    c.upload_task_data(tid, [("v.mp4", content)])
    offsets = [(x.method, x.header("Upload-Offset")) for x in fake.calls
               if x.method in ("PATCH", "HEAD")]
    assert offsets == [("PATCH", "0"), ("PATCH", "4"), ("HEAD", None), ("PATCH", "8")]
    assert bytes(next(iter(fake.tus.values()))["data"]) == content


def test_tus_last_chunk_answer_lost(make_client, fake: FakeCvat) -> None:
    """HEAD after completion is a 404 (recordings2 seq 130): the upload is complete."""
    c = make_client(upload_limits=UploadLimits(bundle_size=4, tus_threshold=4, chunk_size=8))
    tid = _task(c)
    real = fake.handle

    def lose_last(call):
        reply = real(call)
        if call.method == "PATCH" and call.header("Upload-Offset") == "8":
            fake.adapter.handler = real
            return connection_dropped()
        return reply

    fake.adapter.handler = lose_last
    c.upload_task_data(tid, [("v.mp4", b"0123456789")])
    assert [x.method for x in fake.calls if x.method in ("PATCH", "HEAD")] == [
        "PATCH", "PATCH", "HEAD"]
    assert fake.task_files[tid] == ["v.mp4"]


def test_tus_stale_offset_409_is_resolved_with_head(make_client, fake: FakeCvat) -> None:
    c = make_client(upload_limits=UploadLimits(bundle_size=4, tus_threshold=4, chunk_size=4))
    tid = _task(c)
    fake.fault(r"/data/1_", method="PATCH", times=1, reply=Reply(409, body=b""))
    c.upload_task_data(tid, [("v.mp4", b"0123456789")])
    assert bytes(next(iter(fake.tus.values()))["data"]) == b"0123456789"


def test_tus_gives_up_after_bounded_resumes(make_client, fake: FakeCvat) -> None:
    c = make_client(upload_limits=UploadLimits(bundle_size=4, tus_threshold=4, chunk_size=4,
                                               max_resumes=2))
    tid = _task(c)
    fake.fault(r"/data/1_", method="PATCH", times=100, exc=connection_dropped)
    with pytest.raises(CvatError, match="failed 3 times at byte 0 of 10"):
        c.upload_task_data(tid, [("v.mp4", b"0123456789")])


def test_progress_is_reported_in_file_bytes(make_client, fake: FakeCvat) -> None:
    c = make_client(upload_limits=UploadLimits(bundle_size=20, tus_threshold=30,
                                               chunk_size=16))
    tid = _task(c)
    seen: list[tuple[int, int | None]] = []
    files = [("a.jpg", b"a" * 15), ("b.jpg", b"b" * 15), ("c.mp4", b"c" * 40)]
    c.upload_task_data(tid, files, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (70, 70)
    dones = [d for d, _ in seen]
    assert dones == sorted(dones) and all(t == 70 for _, t in seen)


def test_single_request_progress(client: CvatClient, fake: FakeCvat) -> None:
    tid = _task(client)
    seen: list[int] = []
    client.upload_task_data(tid, [("a.jpg", b"a" * 50000)], progress=lambda d, t: seen.append(d))
    assert seen[-1] == 50000 and len(seen) > 2 and seen == sorted(seen)


def test_cloud_storage_task_uploads_nothing(client: CvatClient, fake: FakeCvat) -> None:
    tid = _task(client)
    client.upload_task_data(tid, server_files=["images/1.jpg", "images/2.jpg"],
                            cloud_storage_id=3, use_cache=True)
    [post] = _calls(fake, "POST", r"/data/?$")
    assert post.header("Content-Type") == "application/json"
    assert post.json() == {"image_quality": 70, "use_cache": True, "cloud_storage_id": 3,
                           "server_files": ["images/1.jpg", "images/2.jpg"]}


def test_video_options_match_recording(client: CvatClient, fake: FakeCvat) -> None:
    tid = _task(client)
    client.upload_task_data(tid, [("clip.mp4", b"\x00" * 100)], start_frame=4, stop_frame=33,
                            frame_step=2)
    [post] = _calls(fake, "POST", r"/data/?$")
    assert_like_recorded(post, REC[203])
    with pytest.raises(ValueError):
        client.upload_task_data(tid, [("clip.mp4", b"")], frame_step=2, frame_filter="step=2")


def test_failed_task_creation_surfaces_cvat_message(client: CvatClient, fake: FakeCvat) -> None:
    tid = _task(client)
    msg = ("PIL.UnidentifiedImageError: cannot identify image file "
           "'<CVAT_BASE_DIR>/data/data/79/raw/not_an_image.jpg'\n")
    fake.fail_next["action=create"] = msg
    with pytest.raises(CvatRequestFailed) as info:
        client.upload_task_data(tid, [("not_an_image.jpg", b"text")])
    assert info.value.rq_id == f"action=create&target=task&target_id={tid}"
    assert "PIL.UnidentifiedImageError: cannot identify image file" in str(info.value)


def test_data_twice_is_refused_with_cvat_text(client: CvatClient, fake: FakeCvat) -> None:
    tid = _task(client)
    client.upload_task_data(tid, [("a.jpg", b"a")])
    with pytest.raises(CvatError, match="Adding more data is not supported"):
        client.upload_task_data(tid, [("again.jpg", b"a")])


def test_no_wait_returns_rq_id(client: CvatClient, fake: FakeCvat) -> None:
    tid = _task(client)
    out = client.upload_task_data(tid, [("a.jpg", b"a")], wait=False)
    assert out == {"rq_id": f"action=create&target=task&target_id={tid}"}
    assert not _calls(fake, "GET", r"^/api/requests/")


def test_import_single_request_matches_recording(client: CvatClient, fake: FakeCvat,
                                                 tmp_path: Path) -> None:
    tid = _task(client)
    client.upload_task_data(tid, [("b_000.jpg", b"a")])
    xml = tmp_path / "import.xml"
    xml.write_bytes(b"<annotations/>")
    status = client.import_annotations(xml, task_id=tid)
    assert status["status"] == "finished"
    [post] = [x for x in _calls(fake, "POST", r"/annotations/?$")]
    assert_like_recorded(post, REC[228])
    assert fake.imports[tid] == b"<annotations/>"
    poll = _calls(fake, "GET", r"^/api/requests/action%3Dimport")[0]
    assert_like_recorded(poll, REC[229])


def test_import_tus_matches_recording(make_client, fake: FakeCvat, tmp_path: Path) -> None:
    c = make_client(upload_limits=UploadLimits(tus_threshold=5, chunk_size=4096))
    tid = _task(c)
    c.upload_task_data(tid, [("b_000.jpg", b"a")])
    xml = tmp_path / "import2.xml"
    xml.write_bytes(b"<annotations>x</annotations>")
    c.import_annotations(xml, task_id=tid, format="CVAT 1.1")
    posts = _calls(fake, "POST", r"/annotations/?$")
    assert_like_recorded(posts[0], REC[233])  # Upload-Start ?format=&filename=import2.xml
    assert_like_recorded(posts[1], REC[234], body=False)  # TUS create (filename only)
    assert posts[1].header("Upload-Metadata") == "filename " + base64.b64encode(
        b"import2.xml").decode()
    [patch] = _calls(fake, "PATCH", r"/annotations/1_")
    assert_like_recorded(patch, REC[235], body=False)
    fid = next(iter(fake.tus))
    finish = {**REC[237], "query": f"format=CVAT+1.1&filename={fid}"}
    assert_like_recorded(posts[2], finish)  # Upload-Finish names the server's file id
    assert fake.imports[tid] == b"<annotations>x</annotations>"


def test_import_failure_message(client: CvatClient, fake: FakeCvat) -> None:
    tid = _task(client)
    fake.fail_next["action=import"] = ("cvat.apps.dataset_manager.bindings.CvatImportError: "
                                       "Could not match item id: 'no_such_image' with any task "
                                       "frame\n")
    with pytest.raises(CvatRequestFailed, match="Could not match item id"):
        client.import_annotations(("bad.xml", b"<annotations/>"), task_id=tid)


def test_bundling() -> None:
    files = [UploadFile(str(i), size) for i, size in enumerate([5, 5, 5, 20, 200, 5])]
    bundles, tus = bundle(files, UploadLimits(bundle_size=10, tus_threshold=100))
    assert [[f.name for f in b] for b in bundles] == [["0", "1"], ["2"], ["3"], ["5"]]
    assert [f.name for f in tus] == ["4"]
