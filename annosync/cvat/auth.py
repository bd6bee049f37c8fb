"""Credentials for a CVAT server: where they come from, and how a session is authenticated.

Why: users reach CVAT with a password, a legacy login token or a personal access token, from
scripts (environment), from a config file, or at a terminal. Secrets must never be logged,
printed, repr'd or written anywhere by annosync: :class:`Credentials` redacts them in ``repr``.

How CVAT 2.73 authenticates (``recordings2/01_auth.json``, FACTS.md B.4):

* ``POST /api/auth/login`` with ``{"username"|"email", "password"}`` answers ``{"key"}`` plus
  session cookies. The key is then sent as ``Authorization: Token <key>``, which needs no CSRF
  token (if a server answers without a key, the session cookies are used with ``X-CSRFToken``
  and ``Origin``, as cvat-sdk does). Wrong credentials: 400 ``{"non_field_errors": [...]}``.
* A personal access token is sent as ``Authorization: Bearer <token>``; a login key given
  directly as ``Authorization: Token <key>``. An unknown token: 401 ``{"detail":"Invalid token."}``.
* ``POST /api/auth/logout`` deletes the user's login key on the server -- for *every* client
  sharing it -- so the client never logs out implicitly (only :meth:`Authenticator.logout`).
"""

from __future__ import annotations

import getpass
import os
import re
import stat
import sys
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from annosync.cvat.errors import CvatAuthError, CvatBadRequest, CvatError
from annosync.errors import InputError

if TYPE_CHECKING:
    from annosync.cvat.session import Transport

__all__ = [
    "ENV_PREFIX",
    "Authenticator",
    "Credentials",
    "InsecureConfigWarning",
    "default_config_path",
]

ENV_PREFIX = "ANNOSYNC_CVAT_"
_ENV_FIELDS = ("url", "username", "password", "email", "token", "token_type", "organization")
_CONFIG_KEYS = frozenset({
    "url", "username", "password", "email", "token", "token_type", "organization", "headers",
})
_TOKEN_TYPES = ("auto", "bearer", "token")
_LEGACY_KEY_RE = re.compile(r"^[0-9a-f]{40}$")
_REDACTED = "<redacted>"
_CVAT_COOKIES = ("sessionid", "csrftoken", "sessionfresh")


class InsecureConfigWarning(UserWarning):
    """The annosync config file holding credentials is readable by group or others."""


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$ANNOSYNC_CONFIG``, else ``$XDG_CONFIG_HOME/annosync/config.yaml``, else
    ``~/.config/annosync/config.yaml``."""
    env = os.environ if env is None else env
    explicit = env.get("ANNOSYNC_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = env.get("XDG_CONFIG_HOME")
    root = Path(base).expanduser() if base else Path.home() / ".config"
    return root / "annosync" / "config.yaml"


@dataclass(frozen=True, repr=False)
class Credentials:
    """How to reach and authenticate to one CVAT server. ``repr``/``str`` never show secrets.

    ``token`` is a personal access token (sent as ``Bearer``) or a login key (sent as
    ``Token``); ``token_type`` is ``"bearer"``, ``"token"`` or ``"auto"`` (a 40-hex-digit key is
    tried as ``Token`` first, anything else as ``Bearer`` first; the other scheme is tried if
    the server answers 401). ``source`` says where the secret came from (for messages only).
    """

    url: str | None = None
    username: str | None = None
    password: str | None = None
    email: str | None = None
    token: str | None = None
    token_type: str = "auto"
    organization: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    source: str = "arguments"

    def __post_init__(self) -> None:
        if self.token_type not in _TOKEN_TYPES:
            raise CvatError(
                f"token_type must be one of {', '.join(_TOKEN_TYPES)}, not {self.token_type!r}"
            )

    def __repr__(self) -> str:
        def secret(v: str | None) -> str:
            return "None" if v is None else _REDACTED

        hdrs = "{" + ", ".join(f"{k!r}: {_REDACTED}" for k in self.headers) + "}"
        return (
            f"Credentials(url={self.url!r}, username={self.username!r}, "
            f"email={self.email!r}, password={secret(self.password)}, "
            f"token={secret(self.token)}, token_type={self.token_type!r}, "
            f"organization={self.organization!r}, headers={hdrs}, source={self.source!r})"
        )

    __str__ = __repr__

    @property
    def kind(self) -> str:
        """``"token"``, ``"password"`` or ``"none"``: how :class:`Authenticator` will log in."""
        if self.token:
            return "token"
        if self.password and (self.username or self.email):
            return "password"
        return "none"

    @classmethod
    def resolve(
        cls,
        url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        email: str | None = None,
        token: str | None = None,
        organization: str | None = None,
        headers: Mapping[str, str] | None = None,
        token_type: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        config_path: str | os.PathLike[str] | None = None,
        interactive: bool | None = None,
        input_func: Callable[[str], str] = input,
        getpass_func: Callable[[str], str] = getpass.getpass,
    ) -> Credentials:
        """Collect credentials, highest precedence first:

        1. the keyword arguments of this call;
        2. the environment: ``ANNOSYNC_CVAT_URL``, ``ANNOSYNC_CVAT_USERNAME``,
           ``ANNOSYNC_CVAT_PASSWORD``, ``ANNOSYNC_CVAT_EMAIL``, ``ANNOSYNC_CVAT_TOKEN`` (also
           ``ANNOSYNC_CVAT_TOKEN_TYPE``, ``ANNOSYNC_CVAT_ORGANIZATION``);
        3. the user config file ``config_path``, else ``$ANNOSYNC_CONFIG``, else
           ``~/.config/annosync/config.yaml`` (keys ``url``, ``username``, ``password``,
           ``email``, ``token``, ``token_type``, ``organization``, ``headers``; optionally under
           a top-level ``cvat:`` key). A warning (:class:`InsecureConfigWarning`) is issued when
           the file is readable by group or others;
        4. an interactive prompt (username, then password via ``getpass``) -- only when no
           source above gave a password or a token, and stdin is a terminal (``interactive``
           overrides that check; ``False`` never prompts).

        Plain fields (url, username, email, organization, token_type) are taken one by one from
        the first source that sets them; ``headers`` are merged (higher precedence wins per
        header). Secrets are taken as a whole from the first source that gives a password or a
        token, so an explicit token beats a password in the environment; a source giving both
        uses the token. Nothing read here is logged or written anywhere.
        """
        env = os.environ if env is None else env
        explicit: dict[str, Any] = {
            "url": url, "username": username, "password": password, "email": email,
            "token": token, "organization": organization, "token_type": token_type,
            "headers": dict(headers) if headers else None,
        }
        from_env: dict[str, Any] = {
            name: (env.get(ENV_PREFIX + name.upper()) or None) for name in _ENV_FIELDS
        }
        path = Path(config_path).expanduser() if config_path else default_config_path(env)
        from_file = _read_config(path)
        sources: list[tuple[str, dict[str, Any]]] = [
            ("arguments", explicit),
            ("environment", from_env),
            (f"config file {path}", from_file),
        ]

        def first(name: str) -> Any:
            for _, values in sources:
                v = values.get(name)
                if v not in (None, ""):
                    return v
            return None

        merged_headers: dict[str, str] = {}
        for _, values in reversed(sources):
            merged_headers.update({str(k): str(v) for k, v in (values.get("headers") or {}).items()})

        secret_source = None
        pw: str | None = None
        tok: str | None = None
        for name, values in sources:
            if values.get("token") or values.get("password"):
                secret_source = name
                tok = values.get("token") or None
                pw = None if tok else values.get("password")
                break

        user = first("username")
        mail = first("email")
        if secret_source is None:
            if interactive is None:
                interactive = _stdin_is_tty()
            if interactive:
                server = first("url") or "CVAT"
                if not user and not mail:
                    user = input_func(f"{server} username: ").strip() or None
                pw = getpass_func(f"{server} password for {user or mail}: ") or None
                secret_source = "prompt"

        return cls(
            url=first("url"),
            username=user,
            password=pw,
            email=mail,
            token=tok,
            token_type=(first("token_type") or "auto").lower(),
            organization=first("organization"),
            headers=merged_headers,
            source=secret_source or "none",
        )


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _read_config(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InputError.at(f"cannot read the annosync config file: {exc}", str(path)) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError.at(f"invalid YAML: {problem}", str(path), line) from exc
    if data is None:
        return {}
    if isinstance(data, dict) and isinstance(data.get("cvat"), dict):
        data = data["cvat"]
    if not isinstance(data, dict):
        raise InputError.at("the config file must be a mapping of keys to values", str(path))
    unknown = sorted(str(k) for k in data if k not in _CONFIG_KEYS and k != "cvat")
    if unknown:
        raise InputError.at(
            f"unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(_CONFIG_KEYS))}",
            str(path),
        )
    hdrs = data.get("headers")
    if hdrs is not None and not isinstance(hdrs, dict):
        raise InputError.at("'headers' must be a mapping of header names to values", str(path))
    secrets = any(data.get(k) for k in ("password", "token")) or bool(hdrs)
    if secrets and os.name != "nt":
        try:
            mode = path.stat().st_mode
        except OSError:
            mode = 0
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.warn(
                InsecureConfigWarning(
                    f"{path} holds CVAT credentials and is readable by group or others "
                    f"(mode {stat.S_IMODE(mode):o}); restrict it with: chmod 600 {path}"
                ),
                stacklevel=3,
            )
    return {k: (str(v) if k != "headers" and v is not None else v) for k, v in data.items()}


def _schemes(token: str, token_type: str) -> list[str]:
    if token_type == "bearer":
        return ["Bearer"]
    if token_type == "token":
        return ["Token"]
    if _LEGACY_KEY_RE.match(token):
        return ["Token", "Bearer"]
    return ["Bearer", "Token"]


class Authenticator:
    """Authenticates a :class:`~annosync.cvat.session.Transport` with :class:`Credentials`.

    ``authenticate()`` logs in (password) or installs the token header, then checks it with
    ``GET /api/users/self`` and returns that user. Thread-safe and idempotent.
    """

    def __init__(self, transport: Transport, credentials: Credentials) -> None:
        self._transport = transport
        self._credentials = credentials
        self._lock = threading.RLock()
        self.user: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"Authenticator({self._credentials!r})"

    @property
    def credentials(self) -> Credentials:
        return self._credentials

    def authenticate(self, force: bool = False) -> dict[str, Any]:
        with self._lock:
            if self.user is not None and not force:
                return self.user
            creds = self._credentials
            if creds.kind == "token":
                assert creds.token is not None
                self.user = self._use_token(creds.token, creds.token_type)
            elif creds.kind == "password":
                self._login_password()
                self.user = self._self()
            else:
                raise CvatAuthError(
                    "no CVAT credentials: pass a token or username and password, or set "
                    "ANNOSYNC_CVAT_TOKEN (or ANNOSYNC_CVAT_USERNAME and "
                    "ANNOSYNC_CVAT_PASSWORD), or put them in ~/.config/annosync/config.yaml"
                )
            return self.user

    def reauthenticate(self, failed_auth: str | None = None) -> bool:
        """Log in again after a 401 (the login key may have been deleted by a logout
        elsewhere). Only possible with a password. ``failed_auth`` is the Authorization header
        the refused request carried: if another thread already logged in again since, its new
        key is used without a second login. Returns whether the request may be replayed."""
        with self._lock:
            if self._credentials.kind != "password":
                return False
            current = self._transport.session.headers.get("Authorization")
            if current and current != failed_auth:
                return True
            try:
                self._login_password()
            except CvatError:
                return False
            return True

    def logout(self) -> None:
        """``POST /api/auth/logout``. Deletes the user's login key on the server (shared by
        all clients of that user), so call it only when nobody else uses the key."""
        with self._lock:
            self._transport.request("POST", "/api/auth/logout", retry=False, reauth=False)
            session = self._transport.session
            session.headers.pop("Authorization", None)
            session.headers.pop("X-CSRFToken", None)
            for name in _CVAT_COOKIES:
                session.cookies.pop(name, None)
            self.user = None

    # ---------------------------------------------------------------------------- helpers

    def _self(self) -> dict[str, Any]:
        resp = self._transport.request("GET", "/api/users/self", reauth=False)
        user = self._transport.json(resp)
        if not isinstance(user, dict):
            raise CvatAuthError("unexpected answer from /api/users/self")
        return user

    def _use_token(self, token: str, token_type: str) -> dict[str, Any]:
        session = self._transport.session
        last: CvatAuthError | None = None
        for scheme in _schemes(token, token_type):
            session.headers["Authorization"] = f"{scheme} {token}"
            try:
                return self._self()
            except CvatAuthError as exc:
                if exc.status != 401:
                    raise
                last = exc
        session.headers.pop("Authorization", None)
        assert last is not None
        raise CvatAuthError(
            "the CVAT token was refused", status=last.status, method=last.method,
            path=last.path, detail=last.detail,
        )

    def _login_password(self) -> None:
        creds = self._credentials
        body: dict[str, str] = {"password": creds.password or ""}
        if creds.username:
            body["username"] = creds.username
        else:
            body["email"] = creds.email or ""
        session = self._transport.session
        try:
            # No stale credentials on the login itself (None removes a session header).
            resp = self._transport.request(
                "POST", "/api/auth/login", json=body, retry=True, reauth=False,
                headers={"Authorization": None, "X-CSRFToken": None},  # type: ignore[dict-item]
            )
        except CvatBadRequest as exc:
            raise CvatAuthError(
                "CVAT login failed", status=exc.status, method=exc.method, path=exc.path,
                detail=exc.detail, body=exc.body,
            ) from None
        answer = self._transport.json(resp)
        key = answer.get("key") if isinstance(answer, dict) else None
        if key:
            session.headers.pop("X-CSRFToken", None)
            session.headers["Authorization"] = f"Token {key}"
            for name in _CVAT_COOKIES:
                session.cookies.pop(name, None)
        else:
            csrf = session.cookies.get("csrftoken")
            if not csrf:
                raise CvatAuthError(
                    "CVAT login answered neither a token key nor a CSRF cookie",
                    status=resp.status_code, method="POST", path="/api/auth/login",
                )
            session.headers.pop("Authorization", None)
            session.headers["X-CSRFToken"] = csrf
            session.headers["Origin"] = self._transport.origin
