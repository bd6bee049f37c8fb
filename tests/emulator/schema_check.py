"""Validate emulator answers against CVAT's OpenAPI schema (``shared/cvat/schema.yml``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml
from openapi_schema_validator import OAS30ReadValidator

from .replay import SHARED


@cache
def spec() -> dict[str, Any]:
    with (SHARED / "schema.yml").open() as fh:
        return dict(yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


def _nullable_compositions(node: Any) -> Any:
    """Rewrite ``{allOf: [...], nullable: true}`` as ``anyOf: [that, null]``.

    OpenAPI 3.0 lets ``nullable`` on the outer schema admit ``null`` (drf-spectacular emits it
    for every nullable nested serializer), but jsonschema-based validators apply the inner
    ``$ref``'s ``type: object`` to ``null`` first and reject it. Real CVAT sends ``null`` there.
    """
    if isinstance(node, list):
        return [_nullable_compositions(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable_compositions(value) for key, value in node.items()}
    if out.get("nullable") is True and any(k in out for k in ("allOf", "oneOf", "anyOf", "$ref")):
        inner = {k: v for k, v in out.items() if k != "nullable"}
        return {"anyOf": [inner, {"enum": [None], "nullable": True}]}
    return out


@cache
def components() -> dict[str, Any]:
    return dict(_nullable_compositions(spec()["components"]))


@cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    out = []
    for tpl in spec()["paths"]:
        regex = "^" + re.sub(r"\{[^}]+\}", "[^/]+", tpl.rstrip("/")) + "/?$"
        out.append((re.compile(regex), tpl))
    # prefer literal segments over parameters (``/api/users/self`` over ``/api/users/{id}``)
    out.sort(key=lambda item: item[1].count("{"))
    return out


def find_operation(method: str, path: str) -> dict[str, Any] | None:
    for regex, tpl in _templates():
        if regex.match(path):
            op = spec()["paths"][tpl].get(method.lower())
            if op is not None:
                return dict(op)
    return None


@dataclass
class SchemaReport:
    validated: int = 0
    undocumented_status: list[str] = field(default_factory=list)
    unknown_path: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def check(self, method: str, path: str, status: int, content_type: str, body: Any) -> None:
        op = find_operation(method, path)
        if op is None:
            self.unknown_path.append(f"{method} {path}")
            return
        response = op["responses"].get(str(status))
        if response is None:
            self.undocumented_status.append(f"{method} {path} {status}")
            return
        content = response.get("content") or {}
        media = next((m for m in content if "json" in m), None)
        if media is None or "json" not in content_type:
            return
        schema = dict(content[media].get("schema") or {})
        schema["components"] = components()
        validator = OAS30ReadValidator(schema)
        problems = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        self.validated += 1
        for err in problems[:3]:
            where = "/".join(str(p) for p in err.path)
            self.errors.append(f"{method} {path} {status} at {where or '$'}: {err.message[:200]}")
