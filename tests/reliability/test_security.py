"""Secrets stay secret: never in run records, plan files, ``--json``, logs, error messages or
tracebacks; config files holding them must be private; TLS is verified by default; a server
that redirects to another host never gets the credentials."""

from __future__ import annotations

import http.server
import logging
import os
import shutil
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from lab import Workspace, edit_in_cvat

from annosync.cvat import Credentials, CvatClient, CvatConnectionError, CvatError
from annosync.emulator import Emulator
from annosync.sync.session import default_client

PASSWORD = f"pw-{uuid.uuid4().hex}"
WRONG = f"wrong-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(users=[("keeper", PASSWORD)]) as server:
        yield server


def token_for(emu: Emulator) -> str:
    resp = requests.post(f"{emu.url}/api/auth/access_tokens", json={"name": "t",
                                                                    "read_only": False},
                         auth=("keeper", PASSWORD), timeout=10)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["value"])


def artefacts(root: Path) -> dict[str, bytes]:
    """Every file a run left in the workspace (dataset, state, plan files)."""
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def leaks(secrets: list[str], texts: dict[str, Any]) -> list[str]:
    found = []
    for name, text in texts.items():
        blob = text if isinstance(text, bytes) else str(text).encode()
        for secret in secrets:
            if secret.encode() in blob:
                found.append(f"{secret[:6]}... in {name}")
    return found


@pytest.mark.parametrize("how", ["password", "token"])
def test_secrets_never_leave_memory(tmp_path: Path, emu: Emulator, how: str) -> None:
    token = token_for(emu)
    secrets = [PASSWORD, token, WRONG]
    ws = Workspace(tmp_path, emu.url, f"sec{how}x").create()
    env = {"ANNOSYNC_CVAT_USERNAME": "keeper", "ANNOSYNC_CVAT_PASSWORD": PASSWORD}
    if how == "token":
        env = {"ANNOSYNC_CVAT_TOKEN": token}
    outputs: dict[str, Any] = {}

    def run(*args: str, extra: dict[str, str] | None = None) -> int:
        full = {**{k: v for k, v in ws.env().items()
                   if not k.startswith(("ANNOSYNC_CVAT_USERNAME", "ANNOSYNC_CVAT_PASSWORD"))},
                **env, **(extra or {})}
        proc = subprocess.run(
            [os.sys.executable, "-c", "from annosync.cli.main import main; main()", *args],
            cwd=ws.root, env=full, capture_output=True, text=True, timeout=300, check=False)
        outputs[f"{' '.join(args)} (stdout)"] = proc.stdout
        outputs[f"{' '.join(args)} (stderr)"] = proc.stderr
        return proc.returncode

    assert run("sync", "-v") == 0
    with CvatClient(emu.url, Credentials(username="admin", password="admin-password-1")) as c:
        edit_in_cvat(c, ws)
    assert run("plan", "-v", "-o", "plan.json") == 2
    assert run("plan", "--json") == 2
    assert run("sync", "-v") == 0
    for verb in (("status",), ("runs",), ("info", ws.key, "--json")):
        assert run(*verb) == 0, outputs
    # errors and tracebacks: a wrong secret, a server that is not there, an internal error
    wrong = ({"ANNOSYNC_CVAT_PASSWORD": WRONG} if how == "password"
             else {"ANNOSYNC_CVAT_TOKEN": WRONG})
    assert run("plan", extra=wrong) == 1
    assert run("plan", extra={"ANNOSYNC_CVAT_URL": "http://127.0.0.1:9"}) == 1
    broken = ws.root / "manifests" / "run.yaml"
    text = broken.read_text()
    broken.write_text(text.replace("task_size: 2", "task_size: two"))
    assert run("plan", extra={"ANNOSYNC_DEBUG": "1"}) == 1
    broken.write_text(text)
    assert "login failed" in outputs["plan (stderr)"] or outputs

    found = leaks(secrets, {**outputs, **artefacts(ws.root)})
    assert found == []


def test_secrets_never_in_logs_or_exception_text(tmp_path: Path, emu: Emulator,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    token = token_for(emu)
    caplog.set_level(logging.DEBUG, logger="annosync")
    texts: dict[str, Any] = {}
    with CvatClient(emu.url, Credentials(username="keeper", password=PASSWORD)) as client:
        client.list_tasks()
        texts["client repr"] = repr(client)
        texts["credentials repr"] = repr(client.credentials if hasattr(client, "credentials")
                                         else None)
    for creds in (Credentials(username="keeper", password=WRONG), Credentials(token=WRONG)):
        with CvatClient(emu.url, creds) as client, pytest.raises(CvatError) as info:
            client.list_tasks()
        texts[f"error {creds!r}"] = f"{info.value} {info.value!r} {info.value.body!r}"
    texts["creds"] = repr(Credentials(username="u", password=PASSWORD, token=token))
    texts["log"] = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records  # the client did log (at DEBUG)
    assert leaks([PASSWORD, token, WRONG], texts) == []


def test_a_config_file_holding_secrets_must_be_private(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"url: https://cvat.example.com\nusername: u\npassword: {PASSWORD}\n")
    config.chmod(0o644)
    from annosync.cvat.auth import InsecureConfigWarning

    with pytest.warns(InsecureConfigWarning, match="chmod 600") as caught:
        Credentials.resolve(env={"ANNOSYNC_CONFIG": str(config)}, interactive=False)
    assert PASSWORD not in str(caught[0].message)
    config.chmod(0o600)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        creds = Credentials.resolve(env={"ANNOSYNC_CONFIG": str(config)}, interactive=False)
    assert creds.password == PASSWORD and PASSWORD not in repr(creds)


# -- TLS ------------------------------------------------------------------------------------------

@pytest.fixture
def tls_emulator(tmp_path: Path) -> Iterator[Emulator]:
    """The emulator behind a self-signed certificate (made with the openssl tool)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl tool")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    emu = Emulator()
    emu.start()
    assert emu._server is not None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    emu._server.socket = context.wrap_socket(emu._server.socket, server_side=True)
    emu.cert = cert  # type: ignore[attr-defined]
    try:
        yield emu
    finally:
        emu.stop()


def test_tls_is_verified_by_default(tls_emulator: Emulator, tmp_path: Path) -> None:
    url = tls_emulator.url.replace("http://", "https://")
    creds = Credentials(username="admin", password="admin-password-1")
    with CvatClient(url, creds) as client, pytest.raises(CvatConnectionError,
                                                        match="TLS verification failed"):
        client.list_tasks()
    with CvatClient(url, creds, verify=str(tls_emulator.cert)) as client:  # type: ignore[attr-defined]
        assert client.list_tasks() == []
    # the reconciler's client too: verification unless the manifest or caller turns it off
    ws = Workspace(tmp_path, url, "tlsx").create()
    from annosync.sync.engine import open_sessions
    from annosync.sync.session import Connection

    conn = Connection(url=url, username="admin", password="admin-password-1", interactive=False)
    with open_sessions([ws.manifest], connection=conn, env=ws.env()) as engine:
        client = default_client(engine.sessions[0])
        assert client.transport.session.verify is True
        client.close()


# -- redirects ------------------------------------------------------------------------------------

class Recorder(http.server.BaseHTTPRequestHandler):
    """Another host: records what reaches it."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        Recorder.seen.append(dict(self.headers.items()))
        body = b'{"count":0,"next":null,"previous":null,"results":[]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.cvat+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_redirect_to_another_host_never_gets_the_credentials(emu: Emulator) -> None:
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    Recorder.seen.clear()
    target = f"http://127.0.0.1:{other.server_address[1]}"
    try:
        # the same host, another port: cookies would follow (they ignore ports)
        emu.faults.add(method="GET", path=r"^/api/tasks$", status=302,
                       headers={"Location": f"{target}/api/tasks"}, times=1)
        creds = Credentials(username="keeper", password=PASSWORD,
                            headers={"X-Team-Key": "team-secret"})
        with CvatClient(emu.url, creds) as client:
            client.login()
            with pytest.raises(CvatError, match="redirected GET to another host") as info:
                client.list_tasks()
        assert PASSWORD not in str(info.value)
        assert Recorder.seen == []  # not followed at all
        # a redirect within the server is followed
        hop = emu.faults.add(method="GET", path=r"^/api/projects$", status=302,
                             headers={"Location": f"{emu.url}/api/projects?page_size=10"},
                             times=1)
        with CvatClient(emu.url, Credentials(username="keeper", password=PASSWORD)) as client:
            assert isinstance(client.list_projects(), list)
        assert hop.hits == 1
    finally:
        emu.faults.clear()
        other.shutdown()
        other.server_close()
