"""``/api/cloudstorages`` backed by in-memory or local-directory "buckets", and the file share.

Why a module: tasks can be created from files already in storage (``server_files`` with
``cloud_storage_id``, or the mounted share). The emulator has no network, so a bucket is a dict
of ``path -> bytes`` or a local directory registered on the ``Emulator``.
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path
from typing import Any

from .context import Ctx, basic_user
from .errors import bad_request, no_match, permission_denied
from .media import MediaError
from .pagination import ListSpec, apply_filters, paginate
from .state import CloudStorage, State, iso
from .wire import Response, empty, json_response

PROVIDERS = ("AWS_S3_BUCKET", "AZURE_CONTAINER", "GOOGLE_DRIVE", "GOOGLE_CLOUD_STORAGE")
CREDENTIALS = ("KEY_SECRET_KEY_PAIR", "ACCOUNT_NAME_TOKEN_PAIR", "KEY_FILE_PATH",
               "ANONYMOUS_ACCESS", "CONNECTION_STRING")


def bucket_listing(state: State, resource: str) -> dict[str, bytes | Path]:
    """All files of a bucket: ``relative path -> bytes`` (dict buckets) or ``-> Path``."""
    bucket = state.buckets.get(resource)
    if bucket is None:
        return {}
    if isinstance(bucket, dict):
        return dict(bucket)
    root = Path(bucket)
    out: dict[str, bytes | Path] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            out[path.relative_to(root).as_posix()] = path
    return out


def _read(value: bytes | Path) -> bytes:
    return value if isinstance(value, bytes) else value.read_bytes()


def _select(listing: dict[str, bytes | Path], wanted: list[str], where: str) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for item in wanted:
        item = item.lstrip("/")
        if item in listing:
            out.append((item, _read(listing[item])))
            continue
        prefix = item if item.endswith("/") else item + "/"
        matched = sorted(k for k in listing if k.startswith(prefix))
        if not matched:
            raise MediaError(f"FileNotFoundError: The file '{item}' was not found in {where}")
        out.extend((k, _read(listing[k])) for k in matched)
    return out


def read_bucket_files(state: State, cloud_storage_id: int, wanted: list[str]) -> list[tuple[str, bytes]]:
    storage = state.cloud_storages.get(cloud_storage_id)
    if storage is None:
        raise MediaError(f"ValueError: The specified cloud storage {cloud_storage_id} does not exist.")
    return _select(bucket_listing(state, storage.resource), wanted,
                   f"the cloud storage '{storage.display_name}'")


def read_share_files(state: State, wanted: list[str]) -> list[tuple[str, bytes]]:
    if not state.share_root:
        raise MediaError("FileNotFoundError: the emulator has no file share configured")
    root = Path(state.share_root)
    listing: dict[str, bytes | Path] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            listing[path.relative_to(root).as_posix()] = path
    return _select(listing, wanted, "the share")


def storage_json(ctx: Ctx, cs: CloudStorage) -> dict[str, Any]:
    return {
        "id": cs.id,
        "owner": basic_user(ctx, cs.owner_id),
        "manifests": list(cs.manifests),
        "created_date": iso(cs.created),
        "updated_date": iso(cs.updated),
        "provider_type": cs.provider_type,
        "resource": cs.resource,
        "display_name": cs.display_name,
        "credentials_type": cs.credentials_type,
        "specific_attributes": cs.specific_attributes,
        "description": cs.description,
        "organization": cs.org_id,
    }


def _visible(ctx: Ctx, cs: CloudStorage) -> bool:
    if ctx.is_admin or cs.owner_id == ctx.uid:
        return True
    return cs.org_id is not None and any(
        m.org_id == cs.org_id and m.user_id == ctx.uid for m in ctx.state.memberships.values())


def _username(state: State, uid: int) -> str | None:
    user = state.users.get(uid)
    return user.username if user else None


def _spec(state: State) -> ListSpec:
    return ListSpec(
        fields={
            "id": lambda c: c.id,
            "provider_type": lambda c: c.provider_type,
            "name": lambda c: c.display_name,
            "resource": lambda c: c.resource,
            "credentials_type": lambda c: c.credentials_type,
            "owner": lambda c: _username(state, c.owner_id),
            "description": lambda c: c.description,
        },
        search=("provider_type", "name", "resource", "credentials_type", "owner", "description"),
        simple=("provider_type", "name", "resource", "credentials_type", "owner"),
    )


def list_storages(ctx: Ctx) -> Response:
    items = [c for c in ctx.state.cloud_storages.values()
             if ctx.scope.matches(c.org_id) and _visible(ctx, c)]
    return paginate(ctx, apply_filters(ctx, items, _spec(ctx.state)), lambda c: storage_json(ctx, c))


def create_storage(ctx: Ctx) -> Response:
    body = ctx.json_body()
    errors: dict[str, list[str]] = {}
    for key in ("provider_type", "resource", "display_name", "credentials_type"):
        if not body.get(key):
            errors[key] = ["This field is required."]
    if body.get("provider_type") and body["provider_type"] not in PROVIDERS:
        errors["provider_type"] = [f'"{body["provider_type"]}" is not a valid choice.']
    if body.get("credentials_type") and body["credentials_type"] not in CREDENTIALS:
        errors["credentials_type"] = [f'"{body["credentials_type"]}" is not a valid choice.']
    if errors:
        raise bad_request(errors)
    state = ctx.state
    now = state.now()
    manifests = body.get("manifests") or []
    cs = CloudStorage(id=state.next_id("cloud_storage"), provider_type=str(body["provider_type"]),
                      resource=str(body["resource"]), display_name=str(body["display_name"]),
                      credentials_type=str(body["credentials_type"]), owner_id=ctx.uid,
                      created=now, updated=now,
                      specific_attributes=str(body.get("specific_attributes") or ""),
                      description=str(body.get("description") or ""),
                      manifests=[str(m) for m in manifests] if isinstance(manifests, list) else [],
                      org_id=ctx.scope.org_id if ctx.scope.kind == "org" else None)
    state.buckets.setdefault(cs.resource, {})
    state.cloud_storages[cs.id] = cs
    return json_response(storage_json(ctx, cs), 201)


def _get(ctx: Ctx) -> CloudStorage:
    cid = ctx.int_param("id", "CloudStorage")
    cs = ctx.state.cloud_storages.get(cid)
    if cs is None:
        raise no_match("CloudStorage")
    if not _visible(ctx, cs):
        raise permission_denied()
    return cs


def get_storage(ctx: Ctx) -> Response:
    return json_response(storage_json(ctx, _get(ctx)))


def patch_storage(ctx: Ctx) -> Response:
    cs = _get(ctx)
    body = ctx.json_body()
    for key in ("display_name", "description", "specific_attributes", "credentials_type", "resource"):
        if key in body and body[key] is not None:
            setattr(cs, key, str(body[key]))
    if isinstance(body.get("manifests"), list):
        cs.manifests = [str(m) for m in body["manifests"]]
    cs.updated = ctx.state.now()
    return json_response(storage_json(ctx, cs))


def delete_storage(ctx: Ctx) -> Response:
    cs = _get(ctx)
    ctx.state.cloud_storages.pop(cs.id, None)
    return empty(204)


def storage_status(ctx: Ctx) -> Response:
    _get(ctx)
    return json_response("AVAILABLE")


def storage_content(ctx: Ctx) -> Response:
    cs = _get(ctx)
    prefix = (ctx.req.q("prefix") or "").lstrip("/")
    listing = bucket_listing(ctx.state, cs.resource)
    entries: dict[str, dict[str, str]] = {}
    for key in sorted(listing):
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        if "/" in rest:
            name = rest.split("/", 1)[0]
            entries.setdefault(name, {"name": name, "type": "DIR", "mime_type": "DIR"})
        else:
            mime = (mimetypes.guess_type(rest)[0] or "unknown").split("/")[0]
            entries[rest] = {"name": rest, "type": "REG", "mime_type": mime}
    content = sorted(entries.values(), key=lambda e: (e["type"], e["name"]))
    return json_response({"content": content, "next": None})


def share_listing(ctx: Ctx) -> Response:
    """``/api/server/share``: the mounted share (a local directory, if configured)."""
    directory = (ctx.req.q("directory") or "/").lstrip("/")
    root = ctx.state.share_root
    if not root or not os.path.isdir(os.path.join(root, directory)):
        return json_response(f"{ctx.req.q('directory') or '/'} is an invalid directory", 400)
    out = []
    for entry in sorted(Path(root, directory).iterdir()):
        if entry.is_dir():
            out.append({"name": entry.name, "type": "DIR", "mime_type": "DIR"})
        elif entry.is_file():
            mime = (mimetypes.guess_type(entry.name)[0] or "unknown").split("/")[0]
            out.append({"name": entry.name, "type": "REG", "mime_type": mime})
    out.sort(key=lambda e: (e["type"], e["name"]))
    return json_response(out)
