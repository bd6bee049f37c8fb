"""``/api/webhooks``: CVAT's webhooks, and the deliveries a real server would send.

Why a module: a client that reacts to CVAT's webhooks must be testable without a real server.
The endpoints follow CVAT 2.73's schema (``tests/data/cvat/schema.yml``: ``WebhookWriteRequest``,
``WebhookRead``, ``WebhookDeliveryRead``, ``Events``) and ``cvat/apps/webhooks`` (serializers,
views, models, the rego rules). Deliveries are made like ``webhooks/utils.py:
perform_webhook_request``: a POST of ``json.dumps(payload)`` (what ``requests``' ``json=`` sends)
with ``Content-Type: application/json`` and, when the webhook has a secret,
``X-Signature-256: sha256=<HMAC-SHA256 of that body with the secret>``; connection errors are
recorded as 502, timeouts as 504. Payloads are those of ``webhooks/signals.py``: ``event``, the
resource as its read serializer shows it, ``sender`` (the user who caused it), for updates
``before_update`` (old values of the changed columns), and ``webhook_id``.

Events the emulator sends: ``create:task``, ``update:task``, ``delete:task`` and ``update:job``
(annotation writes touch the job and its task as ``dataset_manager/task.py`` does; job PATCHes
and the in-process annotator's stage changes update the job). Other events may be subscribed to
and are listed by ``/api/webhooks/events`` but are never sent (an infidelity). Deliveries are
made once, in a background thread (CVAT's worker queue), without CVAT's retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from .context import Ctx, basic_user
from .errors import bad_request, no_match, permission_denied, server_error
from .jobs import job_json
from .pagination import ListSpec, apply_filters, paginate
from .state import Delivery, Job, State, Task, Webhook, iso
from .tasks import task_json
from .wire import Headers, Request, Response, json_response

#: ``Events._RESOURCES`` of ``webhooks/event_type.py`` (resource, group, actions), the request
#: completions last (``REQUEST_COMPLETION_RESOURCES`` of ``webhooks/utils.py``), in their order.
RESOURCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("project", "Project", ("create", "update", "delete")),
    ("task", "Task", ("create", "update", "delete")),
    ("job", "Job", ("create", "update", "delete")),
    ("issue", "Issue", ("create", "update", "delete")),
    ("comment", "Comment", ("create", "update", "delete")),
    ("organization", "Organization", ("update",)),
    ("invitation", "Invitation", ("create", "delete")),
    ("membership", "Membership", ("create", "update", "delete")),
    ("request[export:annotations]", "Dataset export", ("completed",)),
    ("request[export:dataset]", "Dataset export", ("completed",)),
    ("request[export:backup]", "Backup export", ("completed",)),
    ("request[create:task]", "Task data creation", ("completed",)),
    ("request[merge:task]", "Consensus merge", ("completed",)),
    ("request[merge:job]", "Consensus merge", ("completed",)),
    ("request[calculate:quality]", "Quality report creation", ("completed",)),
)
Event = tuple[str, str]  # (key, group display name)


def _select(resources: set[str]) -> list[Event]:
    return [(f"{action}:{resource}", group) for resource, group, actions in RESOURCES
            if resource in resources for action in actions]


ALL_EVENTS = _select({r for r, _, _ in RESOURCES})
_REQUESTS = {r for r, _, _ in RESOURCES if r.startswith("request[")}
PROJECT_EVENTS = [*_select({"task", "job", "issue", "comment"} | _REQUESTS),
                  ("update:project", "Project"), ("delete:project", "Project")]
EVENTS = {"project": PROJECT_EVENTS, "organization": ALL_EVENTS}
EVENT_KEYS = {kind: {key for key, _ in events} for kind, events in EVENTS.items()}
TIMEOUT = 10.0
RESPONSE_LIMIT = 1024 * 1024
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to the target


# -- JSON ------------------------------------------------------------------------------------


def webhook_json(ctx: Ctx, hook: Webhook) -> dict[str, Any]:
    """``WebhookReadSerializer``: ``last_status``/``last_delivery_date`` only after a delivery
    (DRF skips a read-only field whose source is missing)."""
    out: dict[str, Any] = {
        "id": hook.id,
        "url": ctx.url(f"/api/webhooks/{hook.id}"),
        "target_url": hook.target_url,
        "description": hook.description,
        "type": hook.type,
        "content_type": hook.content_type,
        "is_active": hook.is_active,
        "enable_ssl": hook.enable_ssl,
        "created_date": iso(hook.created),
        "updated_date": iso(hook.updated),
        "owner": basic_user(ctx, hook.owner_id),
        "project_id": hook.project_id,
        "organization": hook.org_id,
        "events": sorted(hook.events),
    }
    last = _last_delivery(ctx.state, hook.id)
    if last is not None:
        out["last_status"] = last.status_code
        out["last_delivery_date"] = iso(last.updated)
    return out


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "event": delivery.event,
        "status_code": delivery.status_code,
        "redelivery": delivery.redelivery,
        "attempt": delivery.attempt,
        "request_duration": delivery.request_duration,
        "created_date": iso(delivery.created),
        "updated_date": iso(delivery.updated),
        "changed_fields": delivery.changed_fields,
        "request": delivery.request,
        "response": delivery.response,
    }


def _last_delivery(state: State, webhook_id: int) -> Delivery | None:
    found = [d for d in state.deliveries.values() if d.webhook_id == webhook_id]
    return max(found, key=lambda d: d.id) if found else None


# -- sending ---------------------------------------------------------------------------------


def signature(secret: str, body: bytes) -> str:
    """The ``X-Signature-256`` header value for a body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post(hook: Webhook, payload: dict[str, Any]) -> tuple[int, str, int]:
    """POST a payload as CVAT does: (status code, response text, duration in ms)."""
    body = json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "python-requests/2.32.3",
               "Accept": "*/*"}
    if hook.secret:
        headers["X-Signature-256"] = signature(hook.secret, body)
    start = time.perf_counter()
    req = urllib.request.Request(hook.target_url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(req, timeout=TIMEOUT) as resp:
            status, raw = int(resp.status), resp.read(RESPONSE_LIMIT + 1)
    except urllib.error.HTTPError as exc:
        status, raw = int(exc.code), exc.read(RESPONSE_LIMIT + 1)
    except TimeoutError as exc:
        status, raw = 504, str(exc).encode()
    except (urllib.error.URLError, OSError) as exc:
        status, raw = (504 if "timed out" in str(exc) else 502), str(exc).encode()
    text = raw.decode("utf-8", "replace") if len(raw) <= RESPONSE_LIMIT else ""
    return status, text, int((time.perf_counter() - start) * 1000)


class Dispatcher:
    """Turns state changes into deliveries: selects the webhooks (``services.select_webhooks``),
    serializes the payload at once (``post_save``), sends it from a worker thread."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.queue: queue.Queue[tuple[int, dict[str, Any], bool] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # called under state.lock by State.emit
    def on_event(self, action: str, resource: str, obj: Any, before: dict[str, Any]) -> None:
        state = self.state
        if not state.webhooks:
            return
        event = f"{action}:{resource}"
        org_id, project_id = self._scope(resource, obj)
        hooks = [h for h in sorted(state.webhooks.values(), key=lambda h: h.id)
                 if h.is_active and event in h.events and (
                     (h.type == "organization" and org_id is not None and h.org_id == org_id)
                     or (h.type == "project" and project_id is not None
                         and h.project_id == project_id))]
        if not hooks:
            return
        ctx = payload_ctx(state)
        data: dict[str, Any] = {"event": event, resource: self._serialize(ctx, resource, obj),
                                "sender": basic_user(ctx, state.actor)}
        if action == "update":
            data["before_update"] = {k: iso(v) if hasattr(v, "isoformat") else v
                                     for k, v in before.items()}
        for hook in hooks:
            self.enqueue(hook.id, {**data, "webhook_id": hook.id})

    def _scope(self, resource: str, obj: Any) -> tuple[int | None, int | None]:
        """The organization and project a resource belongs to (``events/handlers.py``)."""
        task = self.state.tasks.get(obj.task_id) if isinstance(obj, Job) else obj
        if isinstance(task, Task):
            return task.org_id, task.project_id
        return None, None

    def _serialize(self, ctx: Ctx, resource: str, obj: Any) -> dict[str, Any]:
        if isinstance(obj, Job):
            return job_json(ctx, obj)
        if isinstance(obj, Task):
            return task_json(ctx, obj)
        raise ValueError(f"no serializer for {resource}")

    def enqueue(self, webhook_id: int, payload: dict[str, Any], redelivery: bool = False) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="emulator-webhooks",
                                                daemon=True)
                self._thread.start()
        self.queue.put((webhook_id, payload, redelivery))

    def send(self, hook: Webhook, payload: dict[str, Any], redelivery: bool = False) -> Delivery:
        """Deliver now (the worker, and ``ping`` which CVAT sends synchronously)."""
        status, text, ms = post(hook, payload)
        with self.state.lock:
            now = self.state.now()
            delivery = Delivery(
                id=self.state.next_id("webhook_delivery"), webhook_id=hook.id,
                event=str(payload.get("event", "")), request=payload, created=now, updated=now,
                status_code=status, redelivery=redelivery,
                changed_fields=",".join(payload.get("before_update", {})), response=text,
                attempt=1, request_duration=ms)
            self.state.deliveries[delivery.id] = delivery
            return delivery

    def _work(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            webhook_id, payload, redelivery = item
            with self.state.lock:
                hook = self.state.webhooks.get(webhook_id)
                if hook is not None and not hook.is_active:
                    hook = None
            if hook is not None:
                self.send(hook, payload, redelivery)

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self.queue.put(None)
            thread.join(timeout=TIMEOUT + 2)


def install(state: State) -> Dispatcher:
    """Attach a dispatcher to the state (once)."""
    if isinstance(state.webhook_dispatcher, Dispatcher):
        return state.webhook_dispatcher
    dispatcher = Dispatcher(state)
    state.listeners.append(dispatcher.on_event)
    state.webhook_dispatcher = dispatcher
    return dispatcher


def payload_ctx(state: State) -> Ctx:
    return Ctx(req=Request("POST", "/", "", Headers([]), b""), state=state, base=state.base_url)


def _dispatcher(ctx: Ctx) -> Dispatcher:
    return install(ctx.state)


# -- permissions (cvat/apps/webhooks/rules/webhooks.rego, simplified) ------------------------


def _role(ctx: Ctx, org_id: int | None) -> str | None:
    for m in ctx.state.memberships.values():
        if m.org_id == org_id and m.user_id == ctx.uid:
            return m.role
    return None


def _project_owner(ctx: Ctx, hook_project: int | None) -> bool:
    project = ctx.state.projects.get(hook_project) if hook_project is not None else None
    return project is not None and project.owner_id == ctx.uid


def _may_manage(ctx: Ctx, hook: Webhook) -> bool:
    if ctx.is_admin or hook.owner_id == ctx.uid or _project_owner(ctx, hook.project_id):
        return True
    return hook.org_id is not None and _role(ctx, hook.org_id) in ("owner", "maintainer")


def _get_hook(ctx: Ctx) -> Webhook:
    hook = ctx.state.webhooks.get(ctx.int_param("id", "Webhook"))
    if hook is None or not ctx.scope.matches(hook.org_id) or not _may_manage(ctx, hook):
        raise no_match("Webhook")
    return hook


# -- endpoints -------------------------------------------------------------------------------


def _validate(ctx: Ctx, body: dict[str, Any], hook: Webhook | None) -> dict[str, Any]:
    """``WebhookWriteSerializer`` (type and project_id are write-once: ignored on update)."""
    errors: dict[str, Any] = {}
    partial = ctx.req.method == "PATCH"
    required = () if partial else (("target_url", "events") if hook else
                                   ("target_url", "type", "events"))
    for name in required:
        if name not in body:
            errors[name] = ["This field is required."]
    out: dict[str, Any] = {}
    if "target_url" in body:
        url = body["target_url"]
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            errors["target_url"] = ["Enter a valid URL."]
        elif len(url) > 8192:
            errors["target_url"] = ["Ensure this field has no more than 8192 characters."]
        else:
            out["target_url"] = url
    for name, limit in (("description", 128), ("secret", 64)):
        if name in body:
            value = "" if body[name] is None else str(body[name])
            if len(value) > limit:
                errors[name] = [f"Ensure this field has no more than {limit} characters."]
            out[name] = value
    if "content_type" in body:
        if body["content_type"] != "application/json":
            errors["content_type"] = [f'"{body["content_type"]}" is not a valid choice.']
        out["content_type"] = "application/json"
    for name in ("is_active", "enable_ssl"):
        if name in body:
            if not isinstance(body[name], bool):
                errors[name] = ["Must be a valid boolean."]
            out[name] = bool(body[name])
    kind = hook.type if hook is not None else body.get("type")
    if hook is None and "type" in body:
        if kind not in EVENTS:
            errors["type"] = [f'"{kind}" is not a valid choice.']
        out["type"] = kind
    if hook is None and body.get("project_id") is not None:
        try:
            out["project_id"] = int(body["project_id"])
        except (TypeError, ValueError):
            errors["project_id"] = ["A valid integer is required."]
    if "events" in body:
        events = body["events"]
        if not isinstance(events, list):
            errors["events"] = [f'Expected a list of items but got type "{type(events).__name__}".']
        else:
            bad = [e for e in events if e not in EVENT_KEYS["organization"]]
            if bad:
                errors["events"] = [f'"{bad[0]}" is not a valid choice.']
            out["events"] = sorted(set(events))
    if errors:
        raise bad_request(errors)
    if "events" in out and kind in EVENTS and not set(out["events"]) <= EVENT_KEYS[kind]:
        raise bad_request({"non_field_errors": [f"Invalid events list for {kind} webhook"]})
    return out


def create_webhook(ctx: Ctx) -> Response:
    state = ctx.state
    data = _validate(ctx, ctx.json_body(), None)
    org_id = ctx.scope.org_id if ctx.scope.kind == "org" else None
    project_id = data.get("project_id")
    if project_id is not None:
        project = state.projects.get(project_id)
        if project is None:
            raise no_match("Project")
        org_id = project.org_id  # WebhookWriteSerializer.create
    if data["type"] == "project":
        allowed = ctx.is_admin or (project_id is not None and _project_owner(ctx, project_id)) \
            or (org_id is not None and _role(ctx, org_id) in ("owner", "maintainer"))
    else:
        allowed = ctx.is_admin or (org_id is not None
                                   and _role(ctx, org_id) in ("owner", "maintainer"))
    if not allowed:
        raise permission_denied()
    if (data["type"] == "project" and project_id is None) or (
            data["type"] == "organization" and (org_id is None or project_id is not None)):
        raise server_error()  # the model's check constraint: an IntegrityError, Django's 500
    now = state.now()
    hook = Webhook(id=state.next_id("webhook"), target_url=data["target_url"], type=data["type"],
                   events=data["events"], owner_id=ctx.uid, created=now, updated=now,
                   description=data.get("description", ""),
                   secret=data.get("secret", ""), is_active=data.get("is_active", True),
                   enable_ssl=data.get("enable_ssl", True), project_id=project_id, org_id=org_id)
    state.webhooks[hook.id] = hook
    _dispatcher(ctx)
    return json_response(webhook_json(ctx, hook), 201)


def webhook_spec(state: State) -> ListSpec:
    def owner(h: Webhook) -> str | None:
        user = state.users.get(h.owner_id)
        return user.username if user else None

    return ListSpec(
        fields={"id": lambda h: h.id, "description": lambda h: h.description, "owner": owner,
                "project_id": lambda h: h.project_id, "target_url": lambda h: h.target_url,
                "type": lambda h: h.type, "updated_date": lambda h: h.updated},
        search=("description", "owner", "target_url"),
        simple=("owner", "project_id", "target_url", "type"),
    )


def list_webhooks(ctx: Ctx) -> Response:
    items = [h for h in ctx.state.webhooks.values()
             if ctx.scope.matches(h.org_id) and _may_manage(ctx, h)]
    items = apply_filters(ctx, items, webhook_spec(ctx.state))
    return paginate(ctx, items, lambda h: webhook_json(ctx, h))


def get_webhook(ctx: Ctx) -> Response:
    return json_response(webhook_json(ctx, _get_hook(ctx)))


def update_webhook(ctx: Ctx) -> Response:
    hook = _get_hook(ctx)
    data = _validate(ctx, ctx.json_body(), hook)
    for name in ("target_url", "description", "secret", "content_type", "is_active",
                 "enable_ssl", "events"):
        if name in data:
            setattr(hook, name, data[name])
    hook.updated = ctx.state.now()
    return json_response(webhook_json(ctx, hook))


def delete_webhook(ctx: Ctx) -> Response:
    hook = _get_hook(ctx)
    ctx.state.webhooks.pop(hook.id, None)
    for key in [k for k, d in ctx.state.deliveries.items() if d.webhook_id == hook.id]:
        ctx.state.deliveries.pop(key, None)
    return Response(204, b"", None)


def list_deliveries(ctx: Ctx) -> Response:
    hook = _get_hook(ctx)
    items = sorted((d for d in ctx.state.deliveries.values() if d.webhook_id == hook.id),
                   key=lambda d: (d.updated, d.id), reverse=True)
    return paginate(ctx, items, delivery_json)


def _get_delivery(ctx: Ctx, hook: Webhook) -> Delivery:
    raw = ctx.params.get("delivery_id", "")
    delivery = ctx.state.deliveries.get(int(raw)) if raw.isdigit() else None
    if delivery is None or delivery.webhook_id != hook.id:
        raise server_error()  # WebhookDelivery.objects.get: DoesNotExist is not handled
    return delivery


def get_delivery(ctx: Ctx) -> Response:
    hook = _get_hook(ctx)
    return json_response(delivery_json(_get_delivery(ctx, hook)))


def redeliver(ctx: Ctx) -> Response:
    hook = _get_hook(ctx)
    delivery = _get_delivery(ctx, hook)
    _dispatcher(ctx).enqueue(hook.id, delivery.request, redelivery=True)
    return json_response({})


def ping(ctx: Ctx) -> Response:
    """``services.ping``: sent at once, the delivery in the answer."""
    hook = _get_hook(ctx)
    payload = {"event": "ping", "webhook": webhook_json(ctx, hook),
               "sender": basic_user(ctx, ctx.uid)}
    delivery = _dispatcher(ctx).send(hook, payload)
    return json_response(delivery_json(delivery))


def events(ctx: Ctx) -> Response:
    """``EventsSerializer``: the events a webhook type may subscribe to, with their groups."""
    kind = ctx.req.q("type") if ctx.req.has_q("type") else "all"
    if kind == "all":
        chosen = ALL_EVENTS
    elif kind in EVENTS:
        chosen = EVENTS[kind]
    else:
        raise bad_request("Incorrect value of type parameter")
    return json_response({"webhook_type": kind, "events": [
        {"key": key, "group": {"display_name": group}} for key, group in chosen]})
