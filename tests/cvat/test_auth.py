"""Credentials: precedence, redaction, prompting; login, tokens and re-login as CVAT expects."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import pytest
from cvat_fake import FakeCvat, assert_like_recorded, recordings2

from annosync.cvat import Credentials, CvatAuthError, CvatClient, InsecureConfigWarning
from annosync.errors import InputError

SECRET = "s3cr3t-pa55"
PAT = "pat_" + "Zx9" * 10


def _resolve(tmp_path: Path, env: dict[str, str] | None = None, config: str | None = None,
             **kw) -> Credentials:
    path = tmp_path / "config.yaml"
    if config is not None:
        path.write_text(config)
        os.chmod(path, 0o600)
    kw.setdefault("interactive", False)
    return Credentials.resolve(env=env or {}, config_path=path, **kw)


# ------------------------------------------------------------------------------ precedence


def test_arguments_beat_environment_beat_config(tmp_path: Path) -> None:
    env = {"ANNOSYNC_CVAT_URL": "https://env", "ANNOSYNC_CVAT_USERNAME": "envuser",
           "ANNOSYNC_CVAT_PASSWORD": "envpw", "ANNOSYNC_CVAT_EMAIL": "env@x"}
    config = ("url: https://file\nusername: fileuser\npassword: filepw\norganization: org1\n"
              "headers: {X-A: file, X-B: file}\n")
    c = _resolve(tmp_path, env, config, username="arguser", headers={"X-A": "arg"})
    assert c.url == "https://env"
    assert c.username == "arguser"
    assert c.password == "envpw" and c.source == "environment"
    assert c.email == "env@x"
    assert c.organization == "org1"
    assert dict(c.headers) == {"X-A": "arg", "X-B": "file"}


def test_explicit_token_beats_password_from_environment(tmp_path: Path) -> None:
    env = {"ANNOSYNC_CVAT_USERNAME": "u", "ANNOSYNC_CVAT_PASSWORD": "pw"}
    c = _resolve(tmp_path, env, token=PAT)
    assert (c.kind, c.token, c.password, c.source) == ("token", PAT, None, "arguments")


def test_environment_token(tmp_path: Path) -> None:
    c = _resolve(tmp_path, {"ANNOSYNC_CVAT_TOKEN": PAT, "ANNOSYNC_CVAT_URL": "https://h"},
                 "username: fileuser\npassword: filepw\n")
    assert c.kind == "token" and c.source == "environment" and c.url == "https://h"


def test_config_file_alone_and_cvat_section(tmp_path: Path) -> None:
    c = _resolve(tmp_path, {}, "cvat:\n  url: https://f\n  email: a@b.c\n  password: pw\n")
    assert (c.url, c.email, c.password, c.kind) == ("https://f", "a@b.c", "pw", "password")
    assert c.source.startswith("config file")


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.yaml"
    path.write_text("token: abc\n")
    os.chmod(path, 0o600)
    c = Credentials.resolve(env={"ANNOSYNC_CONFIG": str(path)}, interactive=False)
    assert c.token == "abc"


def test_group_readable_config_warns(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("username: u\npassword: pw\n")
    os.chmod(path, 0o644)
    with pytest.warns(InsecureConfigWarning, match="chmod 600"):
        Credentials.resolve(env={}, config_path=path, interactive=False)


def test_bad_config_is_reported_with_line(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        _resolve(tmp_path, {}, "url: https://x\nusername: [unclosed\n")
    assert info.value.problems[0].location.line is not None
    with pytest.raises(InputError, match="unknown key"):
        _resolve(tmp_path, {}, "passwd: x\n")


def test_prompt_only_when_nothing_configured_and_a_terminal(tmp_path: Path) -> None:
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return "alice"

    def secret(prompt: str) -> str:
        asked.append(prompt)
        return SECRET

    c = _resolve(tmp_path, {"ANNOSYNC_CVAT_URL": "https://h"}, interactive=True,
                 input_func=ask, getpass_func=secret)
    assert (c.username, c.password, c.source) == ("alice", SECRET, "prompt")
    assert asked == ["https://h username: ", "https://h password for alice: "]
    asked.clear()
    c = _resolve(tmp_path, {"ANNOSYNC_CVAT_TOKEN": PAT}, interactive=True, input_func=ask,
                 getpass_func=secret)
    assert asked == [] and c.kind == "token"
    c = _resolve(tmp_path, {}, interactive=False, input_func=ask, getpass_func=secret)
    assert asked == [] and c.kind == "none"


def test_no_prompt_without_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", None)

    def boom(prompt: str) -> str:
        raise AssertionError("prompted")

    c = Credentials.resolve(env={}, config_path=tmp_path / "none.yaml", input_func=boom,
                            getpass_func=boom)
    assert c.kind == "none"


# ------------------------------------------------------------------------------ redaction


def test_repr_never_shows_secrets() -> None:
    c = Credentials(url="https://h", username="u", password=SECRET, token=PAT,
                    headers={"X-Proxy-Auth": "hidden-header-value"})
    for text in (repr(c), str(c), f"{c}", repr([c])):
        assert SECRET not in text and PAT not in text and "hidden-header-value" not in text
        assert "<redacted>" in text and "'u'" in text
    client = CvatClient("https://h", c)
    assert SECRET not in repr(client) and PAT not in repr(client)
    client.close()


def test_secrets_never_logged_nor_in_errors(make_client, fake: FakeCvat,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.users["admin"] = SECRET
    c = make_client(credentials=Credentials(username="admin", password=SECRET))
    c.login()
    c.list_projects()
    bad = make_client(credentials=Credentials(username="admin", password="wrong-" + SECRET))
    with pytest.raises(CvatAuthError) as info:
        bad.login()
    text = caplog.text + str(info.value) + repr(info.value)
    assert SECRET not in text and FakeCvat.KEY not in text
    assert "Unable to log in with provided credentials." in str(info.value)


def test_credentials_pickle_and_equality() -> None:
    c = Credentials(username="u", password="p")
    assert pickle.loads(pickle.dumps(c)) == c


# ------------------------------------------------------------------------------ login


def test_password_login_matches_recording(make_client, fake: FakeCvat) -> None:
    client = make_client(credentials=Credentials(username="admin", password="secret"))
    user = client.login()
    assert user["username"] == "admin"
    assert client.login() is user  # idempotent: no second login
    login = [c for c in fake.calls if c.path == "/api/auth/login"]
    assert len(login) == 1
    assert_like_recorded(login[0], recordings2()[0])
    assert login[0].header("Authorization") is None
    after = next(c for c in fake.calls if c.path == "/api/users/self")
    assert after.header("Authorization") == f"Token {FakeCvat.KEY}"  # as recordings2 seq 5
    assert after.header("X-CSRFToken") is None and after.header("Cookie") is None


def test_email_login_matches_recording(make_client, fake: FakeCvat) -> None:
    c = make_client(credentials=Credentials(email="admin@example.com", password="secret"))
    assert c.login()["username"] == "admin"
    login = next(call for call in fake.calls if call.path == "/api/auth/login")
    assert_like_recorded(login, recordings2()[4])


def test_version_checked_before_credentials_are_sent(make_client, fake: FakeCvat) -> None:
    make_client(credentials=Credentials(username="admin", password="secret")).login()
    assert [c.path for c in fake.calls[:2]] == ["/api/server/about", "/api/auth/login"]
    assert fake.calls[0].header("Authorization") is None


def test_personal_access_token_is_bearer(make_client, fake: FakeCvat) -> None:
    fake.tokens[f"Bearer {PAT}"] = ("Bearer", "bob")
    c = make_client(credentials=Credentials(token=PAT))
    assert c.login()["username"] == "bob"
    assert not any(call.path == "/api/auth/login" for call in fake.calls)
    assert_like_recorded(next(x for x in fake.calls if x.path == "/api/users/self"),
                         recordings2()[11])


def test_login_key_given_directly_is_token(make_client, fake: FakeCvat) -> None:
    c = make_client(credentials=Credentials(token=FakeCvat.KEY))
    assert c.login()["username"] == "admin"
    selfs = [x for x in fake.calls if x.path == "/api/users/self"]
    assert len(selfs) == 1
    assert_like_recorded(selfs[0], recordings2()[5])


def test_auto_token_type_falls_back_to_the_other_scheme(make_client, fake: FakeCvat) -> None:
    odd = "f" * 40  # looks like a login key, but is a PAT
    fake.tokens[f"Bearer {odd}"] = ("Bearer", "bob")
    c = make_client(credentials=Credentials(token=odd))
    assert c.login()["username"] == "bob"
    schemes = [x.header("Authorization").split()[0] for x in fake.calls
               if x.path == "/api/users/self"]
    assert schemes == ["Token", "Bearer"]


def test_refused_token(make_client, fake: FakeCvat) -> None:
    c = make_client(credentials=Credentials(token="nope", token_type="bearer"))
    with pytest.raises(CvatAuthError) as info:
        c.login()
    assert info.value.status == 401 and "Invalid token." in str(info.value)


def test_no_credentials(make_client) -> None:
    c = make_client(credentials=Credentials(source="none"))
    with pytest.raises(CvatAuthError, match="ANNOSYNC_CVAT_TOKEN"):
        c.login()


def test_relogin_when_the_key_is_revoked(make_client, fake: FakeCvat) -> None:
    client = make_client(credentials=Credentials(username="admin", password="secret"))
    client.login()
    del fake.tokens[f"Token {FakeCvat.KEY}"]  # another client logged out
    assert client.list_projects() == []
    assert len([c for c in fake.calls if c.path == "/api/auth/login"]) == 2


def test_organization_and_extra_headers(make_client, fake: FakeCvat) -> None:
    fake.tokens[f"Bearer {PAT}"] = ("Bearer", "admin")
    c = make_client(credentials=Credentials(token=PAT), organization="rec2-org",
                    headers={"X-Trace": "1"})
    c.login()
    c.list_projects()
    listing = next(x for x in fake.calls if x.path == "/api/projects")
    assert listing.header("X-Organization") == "rec2-org"
    assert listing.header("X-Trace") == "1"
    assert_like_recorded(listing, recordings2()[44])


def test_logout_is_explicit(client: CvatClient, fake: FakeCvat) -> None:
    client.login()
    client.close()
    assert not any(c.path == "/api/auth/logout" for c in fake.calls)
    client.logout()
    assert [c.path for c in fake.calls][-1] == "/api/auth/logout"


def test_concurrent_401s_relogin_once(make_client, fake: FakeCvat) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = make_client(credentials=Credentials(username="admin", password="secret"))
    client.login()
    del fake.tokens[f"Token {FakeCvat.KEY}"]
    fake.KEY = "f" * 40  # type: ignore[misc]  # the next login issues a new key
    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(lambda _: client.list_projects(), range(12))) == [[]] * 12
    assert len([c for c in fake.calls if c.path == "/api/auth/login"]) == 2


def test_empty_organization_means_personal_sandbox(make_client, fake: FakeCvat) -> None:
    c = make_client(organization="")
    c.list_projects()
    listing = next(x for x in fake.calls if x.path == "/api/projects")
    assert listing.header("X-Organization") == ""
    assert_like_recorded(listing, recordings2()[47])


def test_cookie_session_when_login_returns_no_key(make_client, fake: FakeCvat) -> None:
    """As cvat-sdk does (recordings/01_login.json): session cookies + X-CSRFToken + Origin."""
    from cvat_fake import Reply

    fake._login = lambda call: Reply(json={})  # type: ignore[method-assign]
    real = fake._user_of
    fake._user_of = lambda call: ("admin" if call.header("X-CSRFToken") == "csrf-value"  # type: ignore[method-assign]
                                  else real(call))
    c = make_client(credentials=Credentials(username="admin", password="secret"))
    c.transport.session.cookies.set("csrftoken", "csrf-value")
    c.transport.session.cookies.set("sessionid", "session-value")
    c.login()
    c.create_project("cookie")
    post = next(x for x in fake.calls if x.path == "/api/projects")
    assert post.header("X-CSRFToken") == "csrf-value"
    assert post.header("Origin") == "https://cvat.example.com"
    assert post.header("Authorization") is None
