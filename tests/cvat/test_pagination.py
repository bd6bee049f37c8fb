"""Lists are read to the last page; name look-ups are exact and URL-encoded."""

from __future__ import annotations

import pytest
from cvat_fake import INTERNAL, FakeCvat, Reply, assert_like_recorded, recordings2

from annosync.cvat import CvatClient, CvatProtocolError


def test_list_follows_next_to_the_end(make_client, fake: FakeCvat) -> None:
    c = make_client(page_size=2)
    for name in ("rec2 alpha", "rec2 beta", "rec2 gamma & delta", "rec2-epsilon", "rec2 zeta"):
        c.create_project(name)
    got = c.list_projects(search="rec2")
    assert sorted(p["name"] for p in got) == sorted(p["name"] for p in fake.projects.values())
    listing = [x for x in fake.calls if x.method == "GET" and x.path == "/api/projects"]
    assert len(listing) == 3
    # the same requests as recordings2 seq 69-71 (page_size=2, next followed)
    for call, rec in zip(listing, recordings2()[69:72], strict=True):
        assert_like_recorded(call, rec, extra_query=())
    # `next` named the server's internal host; every request still went to the configured URL
    assert INTERNAL.split("//")[1] not in "".join(x.url for x in fake.calls)
    assert all(x.url.startswith("https://cvat.example.com/") for x in fake.calls)


@pytest.mark.parametrize("name", [
    "rec2 gamma & delta", "a+b=c?d#e", "100% done", "überprüfung 検査 ✓", " spaced ", "a/b",
])
def test_find_projects_is_exact_and_url_encoded(client: CvatClient, fake: FakeCvat,
                                                name: str) -> None:
    target = client.create_project(name)
    client.create_project(name + " (copy)")
    client.create_project(name.upper() if name.upper() != name else name + "x")
    found = client.find_projects(name)
    assert [p["id"] for p in found] == [target["id"]]
    call = [x for x in fake.calls if x.method == "GET" and x.path == "/api/projects"][-1]
    assert call.params["name"] == name  # decoded back exactly
    assert "&" not in call.raw_query.split("name=")[1].split("&")[0] or "&" not in name


def test_exact_name_query_matches_recording(client: CvatClient, fake: FakeCvat) -> None:
    client.create_project("rec2 gamma & delta")
    client.find_projects("rec2 gamma & delta")
    call = [x for x in fake.calls if x.path == "/api/projects" and x.method == "GET"][-1]
    assert "name=rec2+gamma+%26+delta" in call.raw_query  # recordings2 seq 75
    assert_like_recorded(call, recordings2()[75])


def test_find_when_server_ignores_the_name_filter(client: CvatClient, fake: FakeCvat) -> None:
    """Old servers ignore unknown filters; equality is still checked client-side."""
    for i in range(25):
        client.create_project(f"proj {i}")
    real = fake._filtered
    fake._filtered = lambda call, items: sorted(items, key=lambda i: -i["id"])  # type: ignore
    try:
        assert [p["name"] for p in client.find_projects("proj 3")] == ["proj 3"]
    finally:
        fake._filtered = real  # type: ignore


def test_find_user_exact_across_pages(make_client, fake: FakeCvat) -> None:
    for i in range(30):
        fake.users[f"al{i}"] = "x"
        fake.user_ids[f"al{i}"] = 10 + i
    fake.users["Al"] = "x"
    fake.user_ids["Al"] = 99
    c = make_client(page_size=7)
    assert c.find_user("al29")["id"] == 39
    assert c.find_user("Al")["id"] == 99
    assert c.find_user("a") is None
    searches = [x for x in fake.calls if x.path == "/api/users"]
    assert searches[0].params["search"] == "al29"
    assert_like_recorded(searches[0], {**recordings2()[59], "query": "search=al29"},
                         extra_query=("page_size",))


def test_find_tasks_in_project(client: CvatClient, fake: FakeCvat) -> None:
    p1 = client.create_project("p1")
    p2 = client.create_project("p2")
    t1 = client.create_task("same", project_id=p1["id"])
    client.create_task("same", project_id=p2["id"])
    client.create_task("same")
    assert len(client.find_tasks("same")) == 3
    assert [t["id"] for t in client.find_tasks("same", project_id=p1["id"])] == [t1["id"]]
    assert client.find_tasks("sam") == []


def test_page_gone_while_walking_ends_the_list(make_client, fake: FakeCvat) -> None:
    c = make_client(page_size=2)
    for i in range(5):
        c.create_project(f"p{i}")
    fake.fault(r"^/api/projects$", method="GET", times=1,
               reply=Reply(404, json={"detail": "Invalid page."}))
    # the first page itself 404s: that is an error, not an empty list
    with pytest.raises(Exception, match="Invalid page"):
        c.list_projects()

    real = fake._page

    def shrink(call, items):
        if call.params.get("page") == "2":
            return Reply(404, json={"detail": "Invalid page."})
        return real(call, items)

    fake._page = shrink  # type: ignore[method-assign]
    assert len(c.list_projects()) == 2


def test_pagination_loop_is_detected(client: CvatClient, fake: FakeCvat) -> None:
    client.login()
    fake.fault(r"^/api/tasks$", times=10, reply=Reply(json={
        "count": 10, "next": f"{INTERNAL}/api/tasks?page=2&page_size=100", "previous": None,
        "results": [{"id": 1}]}))
    with pytest.raises(CvatProtocolError, match=r"loops|did not end"):
        client.list_tasks()
