"""Replay the recorded CVAT 2.73 exchanges against the emulator.

Every exchange of ``shared/cvat/recordings/*.json`` and ``recordings2/*.json`` is sent again,
in order, to a fresh emulator (one per recording set). Ids the real server returned are mapped
to the ids the emulator returns (learned by walking both answers in parallel), secrets are
replaced by real credentials, and media that the recordings only summarize are regenerated.
The answer must have the same status, the same JSON keys and JSON types (recursively), and
the same important headers.
"""

from __future__ import annotations

import base64
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

import requests

from annosync.emulator import Emulator, clock_from

from . import media_factory as mf

SHARED = Path(__file__).resolve().parents[1] / "data" / "cvat"
RECORDED_BASE = "http://127.0.0.1:8080"

# Collections in URLs -> id namespaces.
COLLECTIONS = {
    "projects": "project", "tasks": "task", "jobs": "job", "labels": "label", "users": "user",
    "organizations": "org", "memberships": "membership", "access_tokens": "token",
    "cloudstorages": "cloud_storage",
}
ID_KEYS = {
    "spec_id": "attr", "label_id": "label", "parent_id": "label", "task_id": "task",
    "project_id": "project", "job_id": "job", "organization": "org", "organization_id": "org",
    "org_id": "org", "data": "data", "assignee_id": "user", "owner_id": "user",
}
HEADERS_TO_CHECK = ("location", "www-authenticate", "upload-offset", "upload-length",
                    "upload-filename", "content-disposition", "tus-resumable", "allow")

# Exchanges that cannot be reproduced locally, with the reason (seq -> reason).
SKIPPED: dict[tuple[str, int], str] = {}


def load_exchanges(folder: str) -> list[tuple[str, int, dict[str, Any]]]:
    out = []
    for path in sorted((SHARED / folder).glob("*.json")):
        doc = json.loads(path.read_text())
        exchanges = doc["exchanges"] if isinstance(doc, dict) else doc
        for index, exchange in enumerate(exchanges):
            out.append((path.name, index, exchange))
    return out


_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def _iso_dates(body: Any) -> list[datetime]:
    if isinstance(body, dict):
        return [d for k, v in body.items() for d in (
            [datetime.fromisoformat(v[:-1] + "+00:00")]
            if k.endswith("_date") and isinstance(v, str) and _ISO.match(v) else _iso_dates(v))]
    if isinstance(body, list):
        return [d for v in body for d in _iso_dates(v)]
    return []


def recorded_start(folder: str) -> datetime:
    """When the recording was made: its first ``Date`` header, else just before its earliest
    ``*_date`` value (the first recording set kept no ``Date`` headers)."""
    exchanges = [e for _, _, e in load_exchanges(folder)]
    for exchange in exchanges:
        for key, value in (exchange.get("response_headers") or {}).items():
            if key.lower() == "date":
                return parsedate_to_datetime(value).astimezone(timezone.utc)
    dates = [d for e in exchanges for d in _iso_dates(e.get("response_body"))]
    return min(dates) - timedelta(seconds=1)


def replay_emulator(folder: str, **kwargs: Any) -> Emulator:
    """A fresh emulator whose clock starts when ``folder`` was recorded.

    The replay runs on this fake clock (it advances with real time from the recording's first
    moment), so recorded absolute dates keep their relation to the server's "now": a token the
    recording created with an expiry two days ahead is still valid, whatever today's date is.
    """
    return Emulator(clock=clock_from(recorded_start(folder)), **kwargs)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    return "dict"


# Fields of background-request answers whose null-ness depends on worker timing (the real
# server went queued -> started -> finished at its own pace): null and a date are both fine.
TIMING_FIELDS = {"$.started_date", "$.finished_date", "$.expiry_date", "$.result_url"}


def compare(recorded: Any, actual: Any, path: str = "$", *, timing: bool = False) -> list[str]:
    """Same keys and JSON types, recursively (lists: same length, item by item)."""
    rt, at = json_type(recorded), json_type(actual)
    if timing and path in TIMING_FIELDS and {rt, at} <= {"null", "str"}:
        return []
    if rt != at:
        return [f"{path}: type {rt} != {at} ({recorded!r:.60} vs {actual!r:.60})"]
    problems: list[str] = []
    if rt == "dict":
        missing = sorted(set(recorded) - set(actual))
        extra = sorted(set(actual) - set(recorded))
        if missing:
            problems.append(f"{path}: missing keys {missing}")
        if extra:
            problems.append(f"{path}: extra keys {extra}")
        for key in recorded:
            if key in actual:
                problems += compare(recorded[key], actual[key], f"{path}.{key}", timing=timing)
    elif rt == "list":
        if len(recorded) != len(actual):
            problems.append(f"{path}: length {len(recorded)} != {len(actual)}")
        for i, (r, a) in enumerate(zip(recorded, actual, strict=False)):
            problems += compare(r, a, f"{path}[{i}]", timing=timing)
    return problems


SKIP_VALUE_KEYS = {
    "url", "created_date", "updated_date", "date_joined", "last_login", "last_used_date",
    "expiry_date", "started_date", "finished_date", "assignee_updated_date",
    "chunks_updated_date", "result_url", "key", "logo_url", "next", "previous", "rq_id",
}
ID_VALUE_KEYS = {"id", "spec_id", "label_id", "parent_id", "task_id", "project_id", "job_id",
                 "organization", "organization_id", "org_id", "data", "target_id", "user_id",
                 "result_id", "cloud_storage_id", "data_cloud_storage_id"}


def _norm(text: str) -> str:
    text = text.replace(RECORDED_BASE, "<BASE>")
    text = re.sub(r"http://127\.0\.0\.1:\d+", "<BASE>", text)
    text = re.sub(r"<CVAT_BASE_DIR>|/home/django", "<DIR>", text)
    return re.sub(r"\d+", "N", text)


def compare_values(recorded: Any, actual: Any, mapper: Any, path: str = "$",
                   ns: str | None = None) -> list[str]:
    """Leaf values must match too (ids through the id map, dates and urls excepted)."""
    problems: list[str] = []
    if isinstance(recorded, dict) and isinstance(actual, dict):
        for key, rvalue in recorded.items():
            if key not in actual or key in SKIP_VALUE_KEYS:
                continue
            avalue = actual[key]
            if key == "attributes" and isinstance(rvalue, list) and rvalue and "spec_id" in rvalue[0]:
                want = sorted((mapper.map("attr", a["spec_id"]), a["value"]) for a in rvalue)
                got = sorted((a.get("spec_id"), a.get("value")) for a in avalue)
                if want != got:
                    problems.append(f"{path}.attributes: {want} != {got}")
                continue
            if key in ID_VALUE_KEYS:
                kind = "user" if ns == "user" and key == "id" else (ns if key == "id" else ID_KEYS.get(key))
                if kind and isinstance(rvalue, int) and mapper.ids.get((kind, rvalue), rvalue) != avalue:
                    problems.append(f"{path}.{key}: {rvalue} (-> {mapper.map(kind, rvalue)}) != {avalue}")
                continue
            if key == "value" and ns == "token":
                continue
            problems += compare_values(rvalue, avalue, mapper, f"{path}.{key}",
                                       Replayer.child_ns(ns, key, ()))
    elif isinstance(recorded, list) and isinstance(actual, list):
        for i, (r, a) in enumerate(zip(recorded, actual, strict=False)):
            problems += compare_values(r, a, mapper, f"{path}[{i}]", ns)
    elif isinstance(recorded, str) and isinstance(actual, str):
        if _norm(recorded) != _norm(actual):
            problems.append(f"{path}: {recorded!r:.120} != {actual!r:.120}")
    elif recorded != actual and not (isinstance(recorded, (dict, list)) or isinstance(actual, (dict, list))):
        problems.append(f"{path}: {recorded!r} != {actual!r}")
    return problems


@dataclass
class Session:
    cookies: dict[str, str]


@dataclass
class Replayer:
    """State of one replay run (one recording set against one emulator)."""

    emu: Emulator
    folder: str
    ids: dict[tuple[str, Any], Any] = field(default_factory=dict)
    sessions: list[Session] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # "ro" / "rw" -> value
    legacy_key: str | None = None
    http: requests.Session = field(default_factory=requests.Session)
    results: list[tuple[str, int, int, list[str]]] = field(default_factory=list)
    check_values: bool = True
    on_response: Any = None  # callable(method, path, status, content_type, json_or_None)
    _pending_values: Any = None
    downloads: list[tuple[str, bytes]] = field(default_factory=list)  # (recording, zip bytes)
    value_problems: list[tuple[int, list[str]]] = field(default_factory=list)

    # -- id mapping --------------------------------------------------------------------------

    def learn(self, ns: str | None, recorded: Any, actual: Any) -> None:
        if ns is None or recorded is None or actual is None:
            return
        if isinstance(recorded, bool) or not isinstance(recorded, (int, str)):
            return
        self.ids.setdefault((ns, recorded), actual)

    def map(self, ns: str | None, value: Any) -> Any:
        if ns is None:
            return value
        return self.ids.get((ns, value), value)

    def endpoint_ns(self, path: str) -> str | None:
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "api":
            if parts[1] == "auth" and len(parts) >= 3 and parts[2] == "access_tokens":
                return "token"
            return COLLECTIONS.get(parts[1])
        return None

    def walk(self, recorded: Any, actual: Any, ns: str | None, ctx: tuple[str, ...]) -> None:
        """Learn id mappings from a recorded answer and the emulator's answer."""
        if isinstance(recorded, dict) and isinstance(actual, dict):
            for key, rvalue in recorded.items():
                if key not in actual:
                    continue
                avalue = actual[key]
                if key == "id":
                    self.learn(ns, rvalue, avalue)
                elif key in ID_KEYS and not isinstance(rvalue, (dict, list)):
                    self.learn(ID_KEYS[key], rvalue, avalue)
                elif isinstance(rvalue, (dict, list)):
                    self.walk(rvalue, avalue, self.child_ns(ns, key, ctx), (*ctx, key))
        elif isinstance(recorded, list) and isinstance(actual, list):
            for r, a in zip(recorded, actual, strict=False):
                self.walk(r, a, ns, ctx)

    @staticmethod
    def child_ns(ns: str | None, key: str, ctx: tuple[str, ...]) -> str | None:
        if key in ("owner", "assignee", "user"):
            return "user"
        if key == "results":
            return ns
        if key == "attributes":
            return "attr"
        if key == "sublabels":
            return "label"
        if key == "tags":
            return "tag"
        if key == "shapes":
            return "tracked_shape" if ns == "track" else "shape"
        if key == "tracks":
            return "track"
        if key == "elements":
            return ns
        return None

    def sub_body(self, body: Any, ns: str | None) -> Any:
        if isinstance(body, dict):
            out = {}
            for key, value in body.items():
                if key == "id":
                    out[key] = self.map(ns, value)
                elif key in ID_KEYS and not isinstance(value, (dict, list)):
                    out[key] = self.map(ID_KEYS[key], value)
                elif key == "assignee" and not isinstance(value, (dict, list)):
                    out[key] = self.map("user", value)
                elif isinstance(value, (dict, list)):
                    child = self.child_ns(ns, key, ())
                    if key == "labels":
                        child = "label"
                    out[key] = self.sub_body(value, child)
                else:
                    out[key] = value
            return out
        if isinstance(body, list):
            return [self.sub_body(item, ns) for item in body]
        return body

    def sub_rq_id(self, rq_id: str) -> str:
        parts = dict(parse_qsl(rq_id, keep_blank_values=True))
        target = parts.get("target")
        if "target_id" in parts and target:
            parts["target_id"] = str(self.map(target, int(parts["target_id"])))
        if "user_id" in parts:
            parts["user_id"] = str(self.map("user", int(parts["user_id"])))
        return "&".join(f"{k}={v}" for k, v in parts.items())

    def sub_path(self, path: str) -> str:
        parts = path.split("/")
        out = []
        for i, part in enumerate(parts):
            prev = parts[i - 1] if i else ""
            if part.isdigit() and prev in COLLECTIONS:
                out.append(str(self.map(COLLECTIONS[prev], int(part))))
            elif part.isdigit() and prev == "access_tokens":
                out.append(str(self.map("token", int(part))))
            elif prev == "requests" and part:
                out.append(quote(self.sub_rq_id(unquote(part)), safe=""))
            elif re.fullmatch(r"\d+_[0-9a-f-]{36}", part):
                out.append(str(self.map("file", part)))
            else:
                out.append(part)
        return "/".join(out)

    def sub_query(self, query: str) -> str:
        pairs = []
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key in ("project_id", "task_id", "job_id", "parent_id") and value.isdigit():
                value = str(self.map(ID_KEYS[key], int(value)))
            elif key == "org_id" and value.isdigit():
                value = str(self.map("org", int(value)))
            elif key == "rq_id":
                value = self.sub_rq_id(value)
            elif key == "filename":
                value = str(self.map("file", value))
            pairs.append((key, value))
        return urlencode(pairs)

    # -- credentials -------------------------------------------------------------------------

    def credentials(self, seq: int, headers: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        auth = headers.get("Authorization", "")
        admin, password = self.emu.admin_username, self.emu.admin_password
        if auth.startswith("Basic"):
            secret = password if seq != 25 else "wrong-password"
            out["Authorization"] = "Basic " + base64.b64encode(f"{admin}:{secret}".encode()).decode()
        elif auth.startswith("Token"):
            key = self.legacy_key or "nothing"
            out["Authorization"] = f"Token {'0' * 40 if seq == 21 else key}"
        elif auth.startswith("Bearer"):
            if seq == 20:
                value = "definitely-not-a-token"
            elif seq in (11, 12, 13, 14, 34):
                value = self.tokens.get("ro", "")
            else:
                value = self.tokens.get("rw", "")
            out["Authorization"] = f"Bearer {value}"
        if "Cookie" in headers and self.sessions:
            index = -1
            if self.folder == "recordings2" and seq in (29, 30):
                index = 0
            session = self.sessions[index]
            out["Cookie"] = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
            if "X-CSRFToken" in headers:
                out["X-CSRFToken"] = session.cookies.get("csrftoken", "")
        return out

    # -- bodies --------------------------------------------------------------------------------

    def media_for(self, name: str, size: int) -> bytes:
        if name.endswith(".mp4"):
            return mf.mp4(12, 160, 120) if name == "tiny.mp4" else mf.mp4(40, 320, 240)
        if name == "not_an_image.jpg":
            return b"this is not an image, really!\n"[:31].ljust(31, b"\n")
        if name == "truncated.jpg":
            return mf.jpeg(640, 480, 1)[:300]
        if name.startswith("image_"):
            return mf.jpeg(320, 240, int(re.sub(r"\D", "", name) or 0))
        return mf.jpeg(640, 480, sum(map(ord, name)) % 7)

    def tus_file(self) -> bytes:
        return mf.padded_png(3000, 2800, 25210976)

    def build_body(self, exchange: dict[str, Any]) -> tuple[Any, dict[str, str]]:
        """(data for requests, extra headers)."""
        body = exchange.get("request_body")
        headers = exchange.get("request_headers") or {}
        ctype = headers.get("Content-Type", "")
        path = exchange["path"]
        if body is None:
            return None, {}
        if isinstance(body, str):
            return body.encode(), {"Content-Type": ctype}
        if isinstance(body, dict) and body.get("_form_urlencoded"):
            return urlencode(body["fields"]), {"Content-Type": "application/x-www-form-urlencoded"}
        if isinstance(body, dict) and body.get("_binary"):
            size = body.get("size", 0)
            if "/annotations/" in path:
                return self.import_xml()[:size], {"Content-Type": body.get("content_type") or ""}
            blob = self.tus_file()
            offset = int(headers.get("Upload-Offset", "0"))
            if size < 1000:
                return b"x" * size, {"Content-Type": body.get("content_type") or ""}
            return blob[offset: offset + size], {"Content-Type": body.get("content_type") or ""}
        if isinstance(body, dict) and ("_multipart" in body or "_form_fields" in body):
            return self.multipart(exchange), {}
        return None, {}

    def import_xml(self) -> bytes:
        for _, _, exchange in load_exchanges("recordings2"):
            body = exchange.get("request_body")
            if isinstance(body, dict) and body.get("_multipart"):
                for f in body["files"]:
                    if f["filename"] == "import.xml":
                        return str(f["text"]).encode()
        raise AssertionError("import.xml not found")

    def multipart(self, exchange: dict[str, Any]) -> dict[str, Any]:
        body = exchange["request_body"]
        files: list[tuple[str, tuple[str, bytes, str]]] = []
        fields: list[tuple[str, str]] = []
        if "_multipart" in body:
            for name, value in body.get("fields", {}).items():
                fields.append((name, value))
            for f in body.get("files", []):
                content = f.get("text")
                blob = content.encode() if content is not None else self.media_for(f["filename"], f["size"])
                files.append((f["field"], (f["filename"], blob, f["content_type"])))
        else:  # recordings/: only the field names were kept
            for name in body["_form_fields"]:
                if name.startswith("client_files"):
                    index = int(re.sub(r"\D", "", name))
                    is_video = "video" in self.current_note
                    filename = "tiny.mp4" if is_video else f"image_{index}.jpg"
                    files.append((name, (filename, self.media_for(filename, 0),
                                         "video/mp4" if is_video else "image/jpeg")))
                elif name == "image_quality":
                    fields.append((name, "70"))
        return {"fields": fields, "files": files}

    current_note: str = ""

    # -- replay ----------------------------------------------------------------------------------

    def send(self, seq: int, exchange: dict[str, Any]) -> requests.Response:
        self.http.cookies.clear()  # cookies are sent only when the recording sent them
        headers_in = exchange.get("request_headers") or {}
        method = exchange["method"]
        path = self.sub_path(exchange["path"])
        query = self.sub_query(exchange.get("query") or "")
        url = self.emu.url + path + ("?" + query if query else "")
        headers: dict[str, str] = {}
        for key, value in headers_in.items():
            if key.lower() in ("authorization", "cookie", "x-csrftoken", "content-length", "host",
                               "connection", "user-agent", "accept-encoding", "content-type"):
                continue
            if key.lower() == "origin":
                value = self.emu.url
            if key.lower() == "upload-length" and value == "25210976":
                value = str(len(self.tus_file()))
            headers[key] = value
        headers.update(self.credentials(seq, headers_in))
        if "Accept-Encoding" in headers_in:
            headers["Accept-Encoding"] = headers_in["Accept-Encoding"]
        data, extra = self.build_body(exchange)
        body = exchange.get("request_body")
        if isinstance(data, dict) and "files" in data:
            parts: list[tuple[str, Any]] = [(k, (None, v)) for k, v in data["fields"]]
            parts += data["files"]
            return self.http.request(method, url, headers=headers, files=parts)
        if data is None and isinstance(body, (dict, list)) and not _summary(body):
            payload = self.sub_body(body, self.endpoint_ns(path))
            if isinstance(payload, dict) and payload.get("password") == "<redacted>":
                if seq == 22:
                    payload["password"] = "wrong-password"
                else:
                    payload["password"] = self.emu.admin_password
            if headers_in.get("Content-Type", "").startswith("multipart"):
                return self.http.request(method, url, headers=headers,
                                         files={k: (None, str(v)) for k, v in payload.items()})
            return self.http.request(method, url, headers=headers, json=payload)
        headers.update(extra)
        if data is None and headers_in.get("Content-Type"):
            headers["Content-Type"] = headers_in["Content-Type"]
        return self.http.request(method, url, headers=headers, data=data)

    def check(self, exchange: dict[str, Any], resp: requests.Response) -> list[str]:
        problems: list[str] = []
        if resp.status_code != exchange["status"]:
            problems.append(f"status {exchange['status']} != {resp.status_code}: {resp.text[:300]}")
        recorded = exchange.get("response_body")
        rheaders = {k.lower(): v for k, v in (exchange.get("response_headers") or {}).items()}
        for name in HEADERS_TO_CHECK:
            if name in rheaders and name not in {k.lower() for k in resp.headers}:
                problems.append(f"header {name} missing")
        if "allow" in rheaders and resp.headers.get("allow") not in (None, rheaders["allow"]):
            problems.append(f"allow {rheaders['allow']!r} != {resp.headers.get('allow')!r}")
        rtype = (rheaders.get("content-type") or "").split(";")[0]
        atype = (resp.headers.get("content-type") or "").split(";")[0]
        if rtype and rtype != atype:
            problems.append(f"content-type {rtype} != {atype}")
        if recorded is None or exchange["method"] == "HEAD":
            return problems
        if isinstance(recorded, dict) and (recorded.get("_binary") or recorded.get("_streamed")):
            if recorded.get("zip_entries"):
                try:
                    with zipfile.ZipFile(BytesIO(resp.content)) as zf:
                        names = sorted(zf.namelist())
                except zipfile.BadZipFile:
                    return [*problems, f"not a zip: {resp.content[:100]!r}"]
                wanted = sorted(e["name"] for e in recorded["zip_entries"])
                if names != wanted:
                    problems.append(f"zip entries {wanted} != {names}")
            if recorded.get("image"):
                from PIL import Image

                try:
                    with Image.open(BytesIO(resp.content)) as img:
                        if img.format != recorded["image"]["format"]:
                            problems.append(
                                f"image format {recorded['image']['format']} != {img.format}")
                except Exception as exc:
                    problems.append(f"not an image: {exc}: {resp.content[:100]!r}")
            return problems
        if rtype == "text/html" or (isinstance(recorded, str) and not rtype.endswith("json")):
            if not isinstance(recorded, str):
                problems.append("expected a text body")
            return problems
        if recorded == "":
            if resp.content:
                problems.append(f"expected an empty body, got {resp.content[:80]!r}")
            return problems
        try:
            actual = resp.json()
        except ValueError:
            return [*problems, f"body is not JSON: {resp.content[:120]!r}"]
        timing = exchange["method"] == "GET" and exchange["path"].startswith("/api/requests/")
        problems += compare(recorded, actual, timing=timing)
        if self.check_values and not timing:
            self._pending_values = (recorded, actual)
        return problems

    def after(self, seq: int, exchange: dict[str, Any], resp: requests.Response) -> None:
        path = exchange["path"]
        recorded = exchange.get("response_body")
        try:
            actual = resp.json() if resp.content and "json" in resp.headers.get("content-type", "") else None
        except ValueError:
            actual = None
        if path.startswith("/api/auth/login") and resp.status_code == 200:
            self.sessions.append(Session(dict(resp.cookies)))
            self.legacy_key = (actual or {}).get("key")
        if path == "/api/auth/access_tokens" and resp.status_code == 201 and actual:
            self.tokens["ro" if actual.get("read_only") else "rw"] = actual["value"]
        location = exchange.get("response_headers", {}).get("location")
        if location and resp.headers.get("location"):
            rec_last = location.rstrip("/").rsplit("/", 1)[-1]
            act_last = resp.headers["location"].rstrip("/").rsplit("/", 1)[-1]
            if re.fullmatch(r"\d+_[0-9a-f-]{36}", rec_last):
                self.learn("file", rec_last, act_last)
        if isinstance(recorded, (dict, list)) and actual is not None:
            self.walk(recorded, actual, self.endpoint_ns(path), ())
            if isinstance(recorded, dict) and "rq_id" in recorded and isinstance(actual, dict):
                self.learn("rq", recorded["rq_id"], actual.get("rq_id"))

    def run(self) -> list[tuple[str, int, int, list[str]]]:
        for fname, index, exchange in load_exchanges(self.folder):
            seq = exchange.get("seq", index)
            if (self.folder, seq) in SKIPPED:
                continue
            self.current_note = f"{fname} {exchange.get('note') or ''}"
            resp = self.send(seq, exchange)
            self._pending_values = None
            problems = self.check(exchange, resp)
            self.after(seq, exchange, resp)
            if "/dataset/download" in exchange["path"] and resp.status_code == 200:
                self.downloads.append((fname, resp.content))
            if self.on_response is not None:
                ctype = resp.headers.get("content-type", "")
                try:
                    payload = resp.json() if "json" in ctype and resp.content else None
                except ValueError:
                    payload = None
                self.on_response(exchange["method"], self.sub_path(exchange["path"]),
                                 resp.status_code, ctype, payload)
            if self._pending_values is not None:
                recorded, actual = self._pending_values
                self.value_problems.append((seq, [f"{fname} #{seq}: {p}" for p in compare_values(
                    recorded, actual, self, "$", self.endpoint_ns(exchange["path"]))]))
            self.results.append((fname, seq, exchange["status"], problems))
        return self.results


def _summary(body: Any) -> bool:
    return isinstance(body, dict) and any(k.startswith("_") for k in body)
