"""The URL table: every endpoint the emulator answers, with CVAT's trailing-slash rules.

Why a module: one readable list of what exists. Collections and items have no trailing slash
(``/api/tasks/`` is Django's 404 page); ``annotations`` and ``data`` accept both forms; TUS
chunk URLs are ``.../data/<file_id>`` and ``.../annotations/<file_id>``.
"""

from __future__ import annotations

from functools import partial

from . import annotations as ann_api
from . import (
    auth,
    cloud,
    data,
    exports,
    jobs,
    labels,
    orgs,
    projects,
    rq,
    tasks,
    users,
    webhooks,
)
from .context import Ctx
from .server import Route, route
from .wire import Response, json_response

ABOUT_DESCRIPTION = (
    "CVAT is completely re-designed and re-implemented version of Video Annotation Tool from "
    "Irvine, California tool. It is free, online, interactive video and image annotation tool "
    "for computer vision. It is being used by our team to annotate million of objects with "
    "different properties. Many UI and UX decisions are based on feedbacks from professional "
    "data annotation team."
)
VERSION = "2.73.0"


def about(ctx: Ctx) -> Response:
    return json_response({
        "name": "Computer Vision Annotation Tool",
        "description": ABOUT_DESCRIPTION,
        "version": VERSION,
        "logo_url": ctx.url("/static/logo.svg"),
        "subtitle": "Open Data Annotation Platform",
    })


def plugins(ctx: Ctx) -> Response:
    return json_response({"GIT_INTEGRATION": False, "ANALYTICS": False, "MODELS": False,
                          "PREDICT": False})


def task_status(ctx: Ctx) -> Response:
    """Deprecated ``/api/tasks/<id>/status`` (``RqStatusSerializer``)."""
    task = tasks.get_task_obj(ctx)
    req = ctx.state.rq.get(rq.create_rq_id(task.id))
    if req is None:
        body = {"state": "Finished", "message": "", "progress": 0.0}
    else:
        status = rq.current_status(ctx.state, req, advance=False)
        body = {"state": status.capitalize(),
                "message": req.message + "\n" if status == "failed" else "",
                "progress": 0.0}
    resp = json_response(body)
    resp.header("Deprecation", "true")
    return resp


def build_routes() -> list[Route]:
    ann = partial
    return [
        route("/api/server/about", auth="public", get=about),
        route("/api/server/annotation/formats", get=exports.server_formats),
        route("/api/server/plugins", get=plugins),
        route("/api/server/share", get=cloud.share_listing),
        route("/api/auth/login", auth="login", post=auth.login),
        route("/api/auth/logout", auth="login", get=auth.logout_get, post=auth.logout),
        route("/api/auth/access_tokens", get=users.list_tokens, post=users.create_token),
        route("/api/auth/access_tokens/self", auth="bearer", get=users.token_self),
        route("/api/auth/access_tokens/{id}", get=users.get_token, patch=users.patch_token,
              delete=users.delete_token),
        route("/api/users", get=users.list_users),
        route("/api/users/self", get=users.users_self),
        route("/api/users/{id}", get=users.get_user, patch=users.patch_user,
              delete=users.delete_user),
        route("/api/organizations", get=orgs.list_orgs, post=orgs.create_org),
        route("/api/organizations/{id}", get=orgs.get_org, patch=orgs.patch_org,
              delete=orgs.delete_org),
        route("/api/memberships", get=orgs.list_memberships),
        route("/api/memberships/{id}", get=orgs.get_membership, patch=orgs.patch_membership,
              delete=orgs.delete_membership),
        route("/api/projects", get=projects.list_projects, post=projects.create_project),
        route("/api/projects/{id}", get=projects.get_project, patch=projects.patch_project,
              delete=projects.delete_project),
        route("/api/projects/{id}/dataset/?", get=ann(exports.retired_dataset_get, kind="projects"),
              post=exports.import_project_dataset),
        route("/api/projects/{id}/dataset/export",
              post=ann(exports.export_dataset, kind="projects")),
        route("/api/projects/{id}/dataset/download",
              get=ann(exports.download_dataset, kind="projects")),
        route("/api/projects/{id}/annotations",
              get=ann(exports.retired_annotations_get, kind="projects")),
        route("/api/labels", get=labels.list_labels),
        route("/api/labels/{id}", get=labels.get_label, patch=labels.patch_label,
              delete=labels.delete_label),
        route("/api/tasks", get=tasks.list_tasks, post=tasks.create_task),
        route("/api/tasks/{id}", get=tasks.get_task, patch=tasks.patch_task,
              delete=tasks.delete_task),
        route("/api/tasks/{id}/data/meta", get=data.task_meta, patch=data.patch_task_meta),
        route("/api/tasks/{id}/data/?", get=data.get_task_data, post=data.post_data,
              options=data.options_data),
        route("/api/tasks/{id}/data/{file_id}", head=data.head_data_chunk,
              patch=data.patch_data_chunk),
        route("/api/tasks/{id}/annotations/?", get=ann_api.get_task_annotations,
              post=ann(exports.post_annotations, kind="tasks"),
              put=ann_api.put_task_annotations, patch=ann_api.patch_task_annotations,
              delete=ann_api.delete_task_annotations,
              options=ann(exports.options_annotations, kind="tasks")),
        route("/api/tasks/{id}/annotations/{file_id}",
              head=ann(exports.head_annotations_chunk, kind="tasks"),
              patch=ann(exports.patch_annotations_chunk, kind="tasks")),
        route("/api/tasks/{id}/dataset", get=ann(exports.retired_dataset_get, kind="tasks")),
        route("/api/tasks/{id}/dataset/export", post=ann(exports.export_dataset, kind="tasks")),
        route("/api/tasks/{id}/dataset/download",
              get=ann(exports.download_dataset, kind="tasks")),
        route("/api/tasks/{id}/preview", get=data.task_preview),
        route("/api/tasks/{id}/status", get=task_status),
        route("/api/jobs", get=jobs.list_jobs, post=jobs.create_job),
        route("/api/jobs/{id}", get=jobs.get_job, patch=jobs.patch_job, delete=jobs.delete_job),
        route("/api/jobs/{id}/annotations/?", get=ann_api.get_job_annotations,
              post=ann(exports.post_annotations, kind="jobs"),
              put=ann_api.put_job_annotations, patch=ann_api.patch_job_annotations,
              delete=ann_api.delete_job_annotations,
              options=ann(exports.options_annotations, kind="jobs")),
        route("/api/jobs/{id}/annotations/{file_id}",
              head=ann(exports.head_annotations_chunk, kind="jobs"),
              patch=ann(exports.patch_annotations_chunk, kind="jobs")),
        route("/api/jobs/{id}/data/meta", get=jobs.job_meta, patch=jobs.patch_job_meta),
        route("/api/jobs/{id}/data", get=jobs.job_data),
        route("/api/jobs/{id}/dataset", get=ann(exports.retired_dataset_get, kind="jobs")),
        route("/api/jobs/{id}/dataset/export", post=ann(exports.export_dataset, kind="jobs")),
        route("/api/jobs/{id}/dataset/download", get=ann(exports.download_dataset, kind="jobs")),
        route("/api/jobs/{id}/preview", get=jobs.job_preview),
        route("/api/requests", get=rq.list_requests),
        route("/api/requests/{rq_id}", get=rq.get_request),
        route("/api/webhooks", get=webhooks.list_webhooks, post=webhooks.create_webhook),
        route("/api/webhooks/events", get=webhooks.events),
        route("/api/webhooks/{id}", get=webhooks.get_webhook, put=webhooks.update_webhook,
              patch=webhooks.update_webhook, delete=webhooks.delete_webhook),
        route("/api/webhooks/{id}/deliveries", get=webhooks.list_deliveries),
        route("/api/webhooks/{id}/deliveries/{delivery_id}", get=webhooks.get_delivery),
        route("/api/webhooks/{id}/deliveries/{delivery_id}/redelivery",
              post=webhooks.redeliver),
        route("/api/webhooks/{id}/ping", post=webhooks.ping),
        route("/api/cloudstorages", get=cloud.list_storages, post=cloud.create_storage),
        route("/api/cloudstorages/{id}", get=cloud.get_storage, patch=cloud.patch_storage,
              delete=cloud.delete_storage),
        route("/api/cloudstorages/{id}/content-v2", get=cloud.storage_content),
        route("/api/cloudstorages/{id}/status", get=cloud.storage_status),
    ]
