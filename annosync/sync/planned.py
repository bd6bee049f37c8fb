"""What a run will create: tasks for the selected samples it does not hold yet, and the project
it will use. Apart from ``create.py`` so that a plan loads none of the creation machinery (the
conversion to CVAT shapes, the client's upload code) until a plan is applied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from annosync.errors import InputError
from annosync.model.sample import Sample
from annosync.sync.batching import SampleInfo, plan_tasks
from annosync.sync.record import TaskRecord
from annosync.sync.session import RunSession


def sample_infos(session: RunSession, keys: list[str],
                 seen: Callable[[str, Sample], None] | None = None) -> list[SampleInfo]:
    """What batching needs of each sample; ``seen`` is shown each parsed sample (a plan counts
    its labels there: a file too recent for its stat to be trusted, ``sync/index.py``'s racy
    window, is not kept by ``RunSession.read``, and counting them later parsed it again)."""
    out = []
    for key in keys:
        sample = session.read(key)
        if seen is not None:
            seen(key, sample)
        if sample.metadata is None:
            raise InputError.at(
                "sample has no metadata (width/height): run `annosync init` or `annosync fmt` "
                "to probe its media", str(session.folder.label_path(key)),
            )
        out.append(SampleInfo(key, sample.media, sample.metadata.media_type,
                              sample.metadata.frame_count))
    return out


def new_keys(session: RunSession) -> list[str]:
    return session.selected_except(session.record.samples if session.record else {})


def planned_tasks(session: RunSession, seen: Callable[[str, Sample], None] | None = None
                  ) -> list[TaskRecord]:
    """Tasks for the selected samples the run does not hold yet; ``seen``: see
    ``sample_infos``."""
    keys = new_keys(session)
    if not keys:
        return []
    first = len(session.record.tasks) if session.record else 0
    return plan_tasks(sample_infos(session, keys, seen), session.manifest.cvat,
                      session.folder.name, session.anno_key, first_index=first)


def existing_project(session: RunSession) -> dict[str, Any] | None:
    """The CVAT project the manifest names (by id or name), if it exists: asks the server."""
    opts = session.manifest.cvat
    client = session.client
    if opts.project_id is not None:
        return client.get_project(opts.project_id)
    if opts.project_name:
        found = client.find_projects(opts.project_name)
        return found[0] if found else None
    return None
