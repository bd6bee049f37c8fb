"""CVAT webhooks for ``watch --webhook``: register, check they arrive, watch their health, remove.

Why a module: CVAT can tell annosync when work changes instead of being polled. A webhook is
per project or per organization (``WebhookType`` in CVAT 2.73's schema); annosync registers one
for every project (else organization) its runs live in, subscribed to ``update:job`` (every
annotation save touches the job, ``dataset_manager/task.py``; stage, state and assignee changes
too), ``update:task`` and ``delete:task``, signed with a fresh secret, pointing at the local
:class:`~annosync.sync.receiver.Receiver`. CVAT's ``ping`` then proves the receiver can be
reached (a CVAT in Docker often cannot reach the host, and CVAT's outgoing proxy may refuse
private addresses): if the ping does not arrive, the webhooks are removed and the caller polls.
A clean stop removes them too; a webhook left by a killed watch at the same URL is removed the
next time one starts there.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from annosync.cvat.errors import CvatError
from annosync.sync.receiver import Receiver
from annosync.sync.session import RunSession

EVENTS = ("update:job", "update:task", "delete:task")
DESCRIPTION = "annosync watch"

Report = Callable[[str], None]


def new_secret() -> str:
    return secrets.token_hex(32)  # 64 characters: the most CVAT keeps (WebhookWriteRequest)


@dataclass
class Hook:
    session: RunSession
    webhook_id: int
    scope: str
    runs: list[str] = field(default_factory=list)


@dataclass
class Webhooks:
    """The webhooks of one ``watch``; ``uncovered`` names runs no webhook can cover."""

    receiver: Receiver
    target_url: str
    report: Report
    hooks: list[Hook] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)

    def register(self, sessions: Sequence[RunSession]) -> None:
        """One webhook per (server, project) of the runs, or (server, organization)."""
        scopes: dict[tuple[str, str, int | str], list[RunSession]] = {}
        for session in sessions:
            record = session.record
            if record is None or not record.tasks:
                self.uncovered.append(f"{session.anno_key} (not uploaded yet)")
                continue
            server = session.client.url
            if record.project is not None and record.project.id is not None:
                scopes.setdefault((server, "project", record.project.id), []).append(session)
            elif session.client.organization:
                scopes.setdefault((server, "organization", session.client.organization),
                                  []).append(session)
            else:
                self.uncovered.append(
                    f"{session.anno_key} (its tasks are in no project or organization, and "
                    "CVAT's webhooks belong to one)")
        for (_, kind, ident), members in scopes.items():
            session = members[0]
            client = session.client
            self._forget_stale(session)
            try:
                made = client.create_webhook(
                    self.target_url, EVENTS, type=kind, secret=self.receiver.secret,
                    project_id=int(ident) if kind == "project" else None,
                    description=f"{DESCRIPTION} ({socket.gethostname()}, pid {os.getpid()})"[:128])
            except CvatError as exc:
                names = ", ".join(m.anno_key for m in members)
                self.uncovered.append(f"{names} (CVAT refused a webhook on {kind} {ident}: "
                                      f"{exc})")
                continue
            hook = Hook(session, int(made["id"]), f"{kind} {ident}",
                        [m.anno_key for m in members])
            self.hooks.append(hook)
            self.report(f"webhook {hook.webhook_id} on {hook.scope} -> {self.target_url}")

    def _forget_stale(self, session: RunSession) -> None:
        """Remove webhooks a killed watch left at this very URL (they would deliver twice)."""
        try:
            for old in session.client.list_webhooks(target_url=self.target_url):
                if str(old.get("description", "")).startswith(DESCRIPTION) and \
                        old.get("target_url") == self.target_url:
                    session.client.delete_webhook(int(old["id"]), missing_ok=True)
        except CvatError:
            pass

    def reachable(self, timeout: float) -> bool:
        """Ping every webhook; True when CVAT's pings arrived at the receiver, signed."""
        if not self.hooks:
            return False
        self.receiver.pinged.clear()
        for hook in self.hooks:
            try:
                delivery = hook.session.client.ping_webhook(hook.webhook_id)
            except CvatError as exc:
                self.report(f"ping of webhook {hook.webhook_id} failed: {exc}")
                return False
            status = delivery.get("status_code")
            if status != 200:
                self.report(f"CVAT could not deliver to {self.target_url} (status {status})")
                return False
        return self.receiver.pinged.wait(timeout)

    def health(self) -> str | None:
        """Why deliveries seem to fail now (CVAT's ``last_status`` of a webhook), or None."""
        for hook in self.hooks:
            try:
                info = hook.session.client.get_webhook(hook.webhook_id)
            except CvatError as exc:
                return f"webhook {hook.webhook_id}: {exc}"
            status = info.get("last_status")
            if isinstance(status, int) and status != 200:
                return f"webhook {hook.webhook_id}: CVAT's last delivery got status {status}"
        return None

    def remove(self) -> None:
        for hook in self.hooks:
            try:
                hook.session.client.delete_webhook(hook.webhook_id, missing_ok=True)
                self.report(f"removed webhook {hook.webhook_id}")
            except CvatError as exc:
                self.report(f"could not remove webhook {hook.webhook_id}: {exc}")
        self.hooks = []
