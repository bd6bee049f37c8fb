"""Checks that a captured request is valid against CVAT's OpenAPI schema (``schema.yml``).

Why: every request the client sends must be one a CVAT 2.73 server declares. openapi-core
validates path, method, query, security and JSON bodies. Three documented gaps are bridged:

* multipart bodies are text, so field values are cast per the schema's declared types before
  checking (DRF does the same on the server); file parts are checked by field name;
* ``Upload-Start``/``Upload-Multiple``/``Upload-Finish`` are declared boolean headers, but
  cvat-sdk and the recordings send them with an empty value (the server tests presence), so
  they are left out of the validated copy;
* URLs the server itself hands out but does not declare (export ``result_url`` downloads, TUS
  chunk URLs ``.../data/<file id>``) are exempt, as is authentication on ``/api/server/about``
  (public since 2.3, ``recordings2/01_auth.json`` seq 28).
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

import requests
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest

EXEMPT = [
    re.compile(r"^/api/(tasks|jobs|projects)/\d+/dataset/download$"),
    re.compile(r"^/api/(tasks|jobs)/\d+/(data|annotations)/[0-9A-Za-z_\-]+$"),
]
UPLOAD_HEADERS = {"upload-start", "upload-multiple", "upload-finish"}


class SchemaValidator:
    def __init__(self, path: str) -> None:
        self.path = path
        self.checked = 0

    @cached_property
    def openapi(self) -> OpenAPI:
        return OpenAPI.from_file_path(self.path)

    @cached_property
    def spec(self) -> dict[str, Any]:
        with open(self.path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)

    @cached_property
    def templates(self) -> list[tuple[re.Pattern[str], str]]:
        out = []
        for template in self.spec["paths"]:
            rx = "^" + re.sub(r"\{[^}]+\}", r"[^/]+", re.escape(template).replace(r"\{", "{")
                              .replace(r"\}", "}")) + "$"
            out.append((re.compile(rx), template))
        return out

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            node = self.spec["components"]["schemas"][name]
        if "allOf" in node and len(node["allOf"]) == 1:
            return self._resolve(node["allOf"][0])
        return node

    def __call__(self, call: Any) -> None:
        path = call.path
        if any(rx.match(path) for rx in EXEMPT):
            return
        headers = {k: v for k, v in call.headers.items() if k.lower() not in UPLOAD_HEADERS}
        if path == "/api/server/about" and "Authorization" not in headers:
            headers["Authorization"] = "Token public-endpoint"
        ctype = (call.header("Content-Type") or "").split(";")[0].strip()
        body: bytes | None = call.body or None
        multipart = ctype == "multipart/form-data"
        if multipart:
            self._check_multipart(call)
            headers = {k: v for k, v in headers.items()
                       if k.lower() not in ("content-type", "content-length")}
            body = None
        cookies = {}
        for part in (call.header("Cookie") or "").split(";"):
            if "=" in part:
                k, v = part.strip().split("=", 1)
                cookies[k] = v
        headers = {k: v for k, v in headers.items() if k.lower() != "cookie"}
        req = requests.Request(call.method, call.url, headers=headers, data=body,
                               cookies=cookies).prepare()
        try:
            self.openapi.validate_request(RequestsOpenAPIRequest(req))
        except Exception as exc:
            cause = exc.__cause__
            detail = getattr(cause, "schema_errors", None) or cause or ""
            raise AssertionError(
                f"{call.method} {path}?{call.raw_query} is not valid against schema.yml: "
                f"{exc} {detail}"
            ) from exc
        self.checked += 1

    def _check_multipart(self, call: Any) -> None:
        template = next((t for rx, t in self.templates if rx.match(call.path)), None)
        assert template is not None, f"{call.path} is not in schema.yml"
        op = self.spec["paths"][template][call.method.lower()]
        content = op["requestBody"]["content"]
        assert "multipart/form-data" in content, f"{call.method} {template} takes no multipart"
        schema = self._resolve(content["multipart/form-data"]["schema"])
        props = schema.get("properties", {})
        form, files = call.form()
        for name, value in list(form.items(multi=True)) + [(k, None) for k in files]:
            base = re.sub(r"\[\d+\]$", "", name)
            assert base in props, f"multipart field {name!r} is not in {template} request body"
            prop = self._resolve(props[base])
            if value is None:  # a file part
                fmt = prop.get("format") or self._resolve(prop.get("items", {})).get("format")
                assert fmt == "binary", f"{name!r} is not a file field"
                continue
            kind = prop.get("type")
            if kind == "array":
                prop = self._resolve(prop.get("items", {}))
                kind = prop.get("type")
            if kind == "integer":
                number = int(value)
                assert prop.get("minimum", number) <= number <= prop.get("maximum", number), name
            elif kind == "boolean":
                assert value in ("true", "false"), f"{name}={value!r} is not a boolean"
            elif "enum" in prop:
                assert value in prop["enum"], f"{name}={value!r} not in {prop['enum']}"
        for req_name in schema.get("required", []):
            assert req_name in form or req_name in files, f"required field {req_name} missing"
