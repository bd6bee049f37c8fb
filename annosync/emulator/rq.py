"""Background requests: ``/api/requests/<rq_id>`` and ``/api/requests`` (CVAT's RQ jobs).

Why a module: task creation, annotation import and dataset export answer ``202 {"rq_id"}`` and
are polled. Ids are deterministic strings (``action=create&target=task&target_id=11``). The
emulator does the work at once but reveals it like a worker would: each poll advances one
recorded stage (``queued`` -> ``started``) and then the final state (``finished``/``failed``);
after a short real delay the final state is shown anyway, so every request always finishes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from .context import Ctx
from .errors import html
from .pagination import ListSpec, apply_filters, paginate
from .state import RqJob, State, iso
from .wire import Response, json_response

REVEAL_AFTER = timedelta(seconds=1.0)


def export_rq_id(target: str, target_id: int, user_id: int, fmt: str, subresource: str) -> str:
    fmt_id = fmt.replace(" ", "_").replace(".", "~")
    return (f"action=export&target={target}&target_id={target_id}&user_id={user_id}"
            f"&format={fmt_id}&subresource={subresource}")


def enqueue(state: State, rq_id: str, *, type: str, target: str, owner_id: int,
            stages: list[str], project_id: int | None = None, task_id: int | None = None,
            job_id: int | None = None, org_id: int | None = None, format: str | None = None,
            final_status: str = "finished", message: str = "",
            expiry: timedelta = timedelta(days=1), failed_expiry: timedelta | None = None,
            result_url: str | None = None, result_bytes: bytes | None = None,
            result_filename: str | None = None,
            on_finish: Callable[[], None] | None = None) -> RqJob:
    now = state.now()
    rq = RqJob(id=rq_id, type=type, target=target, owner_id=owner_id, created=now,
               project_id=project_id, task_id=task_id, job_id=job_id, org_id=org_id,
               format=format, stages=list(stages), deadline=now + REVEAL_AFTER,
               final_status=final_status, message=message,
               expiry_delta=(failed_expiry if final_status == "failed" and failed_expiry
                             else expiry),
               result_url=result_url if final_status == "finished" else None,
               result_bytes=result_bytes, result_filename=result_filename, on_finish=on_finish)
    state.rq[rq_id] = rq
    return rq


def is_final(state: State, rq: RqJob) -> bool:
    return rq.finished is not None


def _finalize(state: State, rq: RqJob) -> None:
    if rq.finished is not None:
        return
    now = state.now()
    if rq.started is None:
        rq.started = now
    rq.finished = state.now()
    if rq.on_finish is not None:
        callback, rq.on_finish = rq.on_finish, None
        callback()


def current_status(state: State, rq: RqJob, *, advance: bool) -> str:
    """The status shown now; ``advance`` consumes one stage (a poll of this very request)."""
    if rq.finished is not None:
        return rq.final_status
    now = state.now()
    if rq.polls < len(rq.stages) and (rq.deadline is None or now < rq.deadline):
        status = rq.stages[rq.polls]
        if advance:
            rq.polls += 1
        if status == "started" and rq.started is None:
            rq.started = now
        return status
    if not advance and rq.polls < len(rq.stages) and rq.deadline is not None and now < rq.deadline:
        return rq.stages[rq.polls]
    _finalize(state, rq)
    return rq.final_status


def finish_now(state: State, rq: RqJob) -> None:
    _finalize(state, rq)


def create_rq_id(task_id: int) -> str:
    """The id of the request creating task ``task_id`` from its media (``RQId`` in CVAT)."""
    return f"action=create&target=task&target_id={task_id}"


def being_created(state: State, task_id: int) -> bool:
    """Whether task ``task_id``'s creation request has not finished yet.

    CVAT's ``_create_thread`` (engine/task.py) runs in one database transaction and makes the
    task's segments and jobs at its end (``_create_segments_and_jobs``), so until the request
    finishes no job of the task exists for any other request. The emulator does the work at
    once; this hides its jobs until the request is revealed as final (polled to the end, or
    ``REVEAL_AFTER`` later, as ``running`` says). Clients that wait by listing jobs, like
    FiftyOne's ``upload_data``, then see an empty list first, as they would on CVAT."""
    return running(state, create_rq_id(task_id))


def running(state: State, rq_id: str) -> bool:
    rq = state.rq.get(rq_id)
    if rq is None or rq.finished is not None:
        return False
    if rq.deadline is not None and state.now() >= rq.deadline:
        _finalize(state, rq)
        return False
    return True


def request_json(ctx: Ctx, rq: RqJob, *, advance: bool) -> dict[str, Any]:
    state = ctx.state
    status = current_status(state, rq, advance=advance)
    final = rq.finished is not None and status == rq.final_status
    owner = state.users.get(rq.owner_id)
    return {
        "status": status,
        "message": (rq.message + "\n") if final and status == "failed" and rq.message else "",
        "id": rq.id,
        "operation": {
            "type": rq.type,
            "target": rq.target,
            "project_id": rq.project_id,
            "task_id": rq.task_id,
            "job_id": rq.job_id,
            "org_id": rq.org_id,
            "format": rq.format,
            "lightweight": None,
        },
        "progress": 0.0,
        "created_date": iso(rq.created),
        "started_date": iso(rq.started) if status != "queued" else None,
        "finished_date": iso(rq.finished) if final else None,
        "expiry_date": iso(rq.finished + rq.expiry_delta) if final and rq.finished else None,
        "owner": {"id": rq.owner_id, "username": owner.username if owner else ""},
        "result_url": rq.result_url if final and status == "finished" else None,
        "result_id": rq.result_id if final else None,
    }


def result_url(ctx: Ctx, kind: str, ident: int, rq_id: str) -> str:
    return ctx.url(f"/api/{kind}/{ident}/dataset/download?rq_id={quote(rq_id, safe='')}")


def get_request(ctx: Ctx) -> Response:
    from urllib.parse import unquote

    rq_id = unquote(ctx.params["rq_id"])
    rq = ctx.state.rq.get(rq_id)
    if rq is None or (rq.owner_id != ctx.uid and not ctx.is_admin):
        raise html(404, "There is no request with specified id")
    resp = json_response(request_json(ctx, rq, advance=True))
    resp.header("cache-control", "max-age=0, no-cache, no-store, must-revalidate, private")
    return resp


def _action(rq: RqJob) -> str:
    return rq.id.split("&", 1)[0].split("=", 1)[-1]


def _subresource(rq: RqJob) -> str | None:
    for part in rq.id.split("&"):
        if part.startswith("subresource="):
            return part.split("=", 1)[1]
    return None


RQ_SPEC = ListSpec(
    fields={
        "action": _action,
        "target": lambda r: r.target,
        "subresource": _subresource,
        "status": lambda r: r.final_status if r.finished else None,
        "project_id": lambda r: r.project_id,
        "task_id": lambda r: r.task_id,
        "job_id": lambda r: r.job_id,
        "format": lambda r: r.format,
        "org": lambda r: r.org_id,
        "created_date": lambda r: r.created,
        "id": lambda r: r.id,
    },
    simple=("action", "target", "subresource", "project_id", "task_id", "job_id", "format"),
    ordering="-created_date",
)


def list_requests(ctx: Ctx) -> Response:
    items = [r for r in ctx.state.rq.values() if r.owner_id == ctx.uid]
    items = apply_filters(ctx, items, RQ_SPEC)
    status = ctx.req.q("status")
    if status:
        items = [r for r in items if current_status(ctx.state, r, advance=False) == status]
    return paginate(ctx, items, lambda r: request_json(ctx, r, advance=False))
