"""Creating a run on the server: project, tasks, media, labels; journaled and resumable.

Every step that creates something writes an intent to the journal before the server call and a
done line after; the run record is saved after each step. A task moves through
``planned -> created -> data_uploaded -> labels_uploaded``; an apply killed at any point resumes
at the task's state, adopting what the dead run created (found by its deterministic name) instead
of creating it twice. See docs/sync-algorithm.md, "Journal and resume".
"""

from __future__ import annotations

import contextlib
import os
import threading
import webbrowser
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from annosync.convert import (
    BoundSchema,
    FrameMap,
    FrameSize,
    PreviousLabels,
    TaskIdMap,
    Upload,
    build_id_map,
    from_cvat,
    from_sent,
    infer_fields,
    resolve_schema,
    schema_from_project,
    to_cvat,
    to_specs,
)
from annosync.convert.cvat_to_labels import boxes_from_sent
from annosync.convert.echo import EchoForm, echo_form, echoed_ids, echoes
from annosync.convert.id_map import IdEntry
from annosync.convert.id_match import EchoIdMap
from annosync.convert.labels_to_cvat import upload_json
from annosync.convert.results import Pulled
from annosync.cvat import CvatClient
from annosync.cvat.client import EncodedJson, encode_json
from annosync.errors import InputError, StateError
from annosync.gcpause import gc_paused
from annosync.model.cvat import LabeledData
from annosync.model.sample import Sample
from annosync.model.schema import ResolvedSchema
from annosync.progress import Later, byte_callback, request_callback
from annosync.sync.batching import round_robin
from annosync.sync.digest import digests, same_aspects
from annosync.sync.fields import field_items, pulled_items, rules_for
from annosync.sync.journal import Journal
from annosync.sync.merge import BaseEntry
from annosync.sync.planned import existing_project
from annosync.sync.pool import Pool
from annosync.sync.record import (
    ProjectRecord,
    RunRecord,
    SampleRef,
    ServerInfo,
    TaskRecord,
    prepare_shard,
    save_record,
)
from annosync.sync.remote import bound_schema, frame_map, job_records
from annosync.sync.sent_bases import bases_from_boxes
from annosync.sync.session import RunSession
from annosync.sync.switching import short_switches
from annosync.sync.upload_parts import PART_OBJECTS, Part, send_parts, split_upload

Report = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# -- the schema ------------------------------------------------------------------------------
def resolve_run_schema(session: RunSession, project: dict[str, Any] | None) -> ResolvedSchema:
    """The schema to send: inferred from the selected labels, or taken from a project."""
    m = session.manifest
    field_schemas = m.field_schemas()
    keys = session.selected()
    observed = infer_fields(field_schemas.keys(), (session.read(k) for k in keys))
    if project is not None:
        labels = session.client.get_labels(project_id=int(project["id"]))
        return schema_from_project(labels, field_schemas, observed, m.cvat.occluded_attr,
                                   m.cvat.group_id_attr)
    return resolve_schema(field_schemas, observed, m.cvat.occluded_attr, m.cvat.group_id_attr)


# -- the steps -------------------------------------------------------------------------------
class Creator:
    """Drives the run's tasks to ``labels_uploaded``, saving progress after every step."""

    def __init__(self, session: RunSession, report: Report = _quiet) -> None:
        self.session = session
        self.client: CvatClient = session.client
        self.report = report
        self.journal = Journal(session.state_dir, session.anno_key)
        self._user_ids: dict[str, int] = {}
        self._lock = threading.RLock()
        #: tasks this process created (no data yet, by construction: no resume probe needed)
        self._fresh: set[int] = set()
        self.workers = max(1, session.options.concurrency)
        #: data/meta of tasks whose media this process just uploaded (read once, used twice)
        self._meta: dict[int, dict[str, Any]] = {}
        #: objects per request when a task's labels go up in parts (upload_parts)
        self.part_objects = PART_OBJECTS
        #: labels converted while the media went up, by task index (see ``prepare``): what
        #: starts the conversion (idempotent) and its result
        self._prepared: dict[int, tuple[Once, Future[Prepared | None]]] = {}
        #: by task id: starts ``prepare`` of the task (once its media bytes are sent)
        self._head_starts: dict[int, Once] = {}
        #: queues pure work in the pool of ``run`` (while it runs)
        self._submit: Callable[..., Future[Any]] | None = None

    @property
    def record(self) -> RunRecord:
        assert self.session.record is not None
        return self.session.record

    def save(self) -> None:
        with self._lock:
            save_record(self.session.state_dir, self.record)

    def user_id(self, username: str | None) -> int | None:
        if not username:
            return None
        if username not in self._user_ids:
            user = self.client.find_user(username)
            if user is None:
                raise StateError(
                    f"CVAT shows no user {username!r} (task/job assignee): check the name; "
                    "outside an organization CVAT shows a regular user only themselves, so "
                    "assign within an organization (cvat.organization) both belong to, or "
                    "sync as an admin")
            self._user_ids[username] = int(user["id"])
        return self._user_ids[username]

    # -- run and project -------------------------------------------------------------------
    def start(self) -> None:
        """Create the run record (first apply) and settle server, project and schema."""
        s = self.session
        if s.record is None:
            s.record = RunRecord(
                anno_key=s.anno_key,
                manifest=_relative(s.loaded.file, s.folder.root),
                config=s.manifest.model_dump(mode="json", exclude_defaults=True),
            )
        record = self.record
        about_version = self.client.server_version
        record.server = ServerInfo(url=self.client.url, version=str(about_version),
                                   organization=self.client.organization or None)
        if s.schema is None:
            project = None if record.project is None else self._project_json()
            if project is None:
                project = existing_project(s)
                if project is not None:
                    record.project = ProjectRecord(id=int(project["id"]), name=project["name"])
            s.schema = resolve_run_schema(s, project)
            record.label_schema = s.schema.model_dump(mode="json", exclude_defaults=True)
        self.ensure_project()
        self.save()

    def _project_json(self) -> dict[str, Any] | None:
        assert self.record.project is not None and self.record.project.id is not None
        return self.client.get_project(self.record.project.id)

    def ensure_project(self) -> None:
        opts = self.session.manifest.cvat
        record = self.record
        if record.project is not None or not opts.project_name:
            return
        name = opts.project_name
        if self.journal.intent_of("create_project", name):
            found = self.client.find_projects(name)
            if found:  # the dead run created it
                record.project = ProjectRecord(id=int(found[0]["id"]), name=name, created=True)
                self.journal.done("create_project", name, id=record.project.id)
                return
        assert self.session.schema is not None
        specs = [s.model_dump(mode="json", exclude_none=True) for s in to_specs(self.session.schema)]
        self.journal.intent("create_project", name)
        project = self.client.create_project(name, labels=specs)
        record.project = ProjectRecord(id=int(project["id"]), name=name, created=True)
        self.save()
        self.journal.done("create_project", name, id=record.project.id)
        self.report(f"created project {name} ({project['id']})")

    # -- tasks -----------------------------------------------------------------------------
    def add_tasks(self, tasks: list[TaskRecord]) -> None:
        record = self.record
        for task in tasks:
            record.tasks.append(task)
            for frame, key in enumerate(task.samples):
                record.samples[key] = SampleRef(task=task.index, frame=frame)
        self.save()

    def run(self) -> None:
        """Create tasks in order, upload media in parallel, assign jobs in order (round-robin
        over the whole run), then upload labels in parallel (bounded by ``concurrency``).
        While the media goes up, the first tasks' labels are converted (``prepare``)."""
        pending = [t for t in self.record.tasks if t.state != "labels_uploaded"]
        for task in pending:
            if task.state == "planned":
                self.create_task(task)
        media = [t for t in pending if t.state == "created"]
        # a run of no more tasks than go up at once is one burst (their labels' pauses would
        # overlap anyway): the collector stays off from its media to the end of its labels. A
        # full collection, falling after the last task, walked the whole heap (the plan's
        # samples included) for ~0.2 s, on the critical path; a bigger run pauses per task
        burst = gc_paused() if len(pending) <= self.workers else contextlib.nullcontext()
        with short_switches(), burst, Pool(max_workers=1) as pool:
            # pure work, for the new tasks whose labels go up first: the binding is read here
            # (every request stays in this thread's order); the conversion starts once the
            # task's media bytes are all sent (``upload_media``), so that it overlaps CVAT's
            # processing of the media and not the reading and sending of the files (each of
            # whose many GIL releases would wait behind it). The pool lives on while the
            # labels go up: a task's PUT waits for its body only, not for what the pool does
            # next (``ahead``: the work that waits for CVAT's answer otherwise)
            self._submit = pool.submit
            for task in [t for t in media if t.id in self._fresh][: self.workers]:
                assert task.id is not None and self.session.schema is not None
                result: Future[Prepared | None] = Future()
                start = Once(pool.submit, self.prepare, task, task.id,
                             bound_schema(self.client, task.id, self.session.schema), result)
                self._head_starts[task.id] = start
                self._prepared[task.index] = (start, result)
            try:
                self._parallel(self.upload_media, media)
                for task in pending:
                    self.list_and_assign_jobs(task)
                self._parallel(self.upload_labels,
                               [t for t in pending if t.state == "data_uploaded"])
            finally:
                self._head_starts.clear()
                self._prepared.clear()
                self._submit = None

    def _parallel(self, step: Callable[[TaskRecord], None], tasks: list[TaskRecord]) -> None:
        if self.workers == 1 or len(tasks) < 2:
            for task in tasks:
                step(task)
            return
        with Pool(max_workers=self.workers) as pool:
            for future in [pool.submit(step, t) for t in tasks]:
                future.result()

    def list_and_assign_jobs(self, task: TaskRecord) -> None:
        """Assign the task's new jobs (``cvat.job_assignees``, round-robin over the run). With
        no one to assign, nothing is listed: the labels' upload lists the jobs right after."""
        if task.state != "data_uploaded" or task.id is None:
            return
        if not self.session.manifest.cvat.job_assignees:
            return
        task.jobs = job_records(self.client.list_jobs(task_id=task.id))
        offset = sum(len(t.jobs) for t in self.record.tasks if t.index < task.index)
        self.assign_jobs(task, offset)
        self.save()

    def create_task(self, task: TaskRecord) -> None:
        project_id = self.record.project.id if self.record.project else None
        intent = self.journal.intent_of("create_task", task.name)
        if intent is not None:
            adopted = self._find_created_task(task.name, project_id, intent.data.get("before", []))
            if adopted is not None:
                self._created(task, adopted)
                self.report(f"adopted task {task.name} ({adopted['id']}) of an interrupted apply")
                return
        body: dict[str, Any] = {}
        if project_id is None:
            assert self.session.schema is not None
            body["labels"] = [s.model_dump(mode="json", exclude_none=True)
                              for s in to_specs(self.session.schema)]
        opts = self.session.manifest.cvat
        # the same-named tasks that exist before: on resume, a new one is ours
        before = [int(t["id"]) for t in self.client.find_tasks(task.name, project_id=project_id)]
        strangers = sorted(set(before) - set(self.record.created_task_ids()))
        if strangers and intent is None:
            # Names are deterministic per dataset, run and batch: a task of that name that this
            # record does not know was made by another clone of the dataset (or a run forgotten
            # without cleanup). Creating a second one would duplicate the work in CVAT.
            raise StateError(
                f"CVAT already has task {task.name!r} (id {', '.join(map(str, strangers))}), "
                "which this run's record does not know: another clone of this dataset synced "
                "the run (get its run record, e.g. `git pull`, then sync again), or the run was "
                "forgotten without cleanup (delete the task in CVAT, or adopt it with "
                "`annosync import-cvat`)"
            )
        self.journal.intent("create_task", task.name, before=before)
        created = self.client.create_task(
            task.name, project_id=project_id, segment_size=opts.segment_size,
            assignee_id=self.user_id(task.assignee), bug_tracker=task.bug_tracker, **body,
        )
        self._created(task, created)
        self._fresh.add(int(created["id"]))
        self.report(f"created task {task.name} ({created['id']})")

    def _created(self, task: TaskRecord, created: dict[str, Any]) -> None:
        task.id = int(created["id"])
        task.created_at = created.get("created_date")
        task.state = "created"
        self.save()
        self.journal.done("create_task", task.name, id=task.id)

    def _find_created_task(self, name: str, project_id: int | None,
                           before: list[int]) -> dict[str, Any] | None:
        """The task a killed apply created: same exact name (and project), absent when the
        intent was written, not already part of this run."""
        known = set(self.record.created_task_ids()) | set(before)
        found = [t for t in self.client.find_tasks(name, project_id=project_id)
                 if int(t["id"]) not in known]
        return max(found, key=lambda t: int(t["id"])) if found else None

    def _media(self, task: TaskRecord) -> tuple[list[tuple[str, Path]], list[str]]:
        folder = self.session.folder
        media_field = self.session.manifest.media_field
        files: list[tuple[str, Path]] = []
        server_files: list[str] = []
        for i, key in enumerate(task.samples):
            sample = self.session.read(key)
            path = folder.media_path(sample, media_field)
            if self.session.manifest.cvat.cloud_storage_id is not None:
                server_files.append(sample.media if media_field in ("filepath", "media")
                                    else str(sample.fields.get(media_field)))
                continue
            if not path.is_file():
                raise InputError.at(f"media file not found: {path}", str(folder.label_path(key)))
            # an index prefix keeps names unique and CVAT's frame order equal to ours
            name = f"{i:06d}_{path.name}" if task.media_type == "image" else path.name
            files.append((name, path))
        return files, server_files

    def upload_media(self, task: TaskRecord) -> None:
        assert task.id is not None
        with self._lock:
            head_start = self._head_starts.pop(task.id, None)
        self._upload_media(task, head_start)
        if head_start is not None:  # e.g. a task that had its media already
            head_start()

    def _upload_media(self, task: TaskRecord, head_start: Once | None) -> None:
        assert task.id is not None
        # a task from an interrupted apply may hold its data already (or be unusable)
        current = {} if task.id in self._fresh else self.client.get_task(task.id)
        if int(current.get("size") or 0) > 0:
            jobs = current.get("jobs")
            if isinstance(jobs, dict) and not jobs.get("count"):
                # a killed run did not see the creation finish: CVAT makes the jobs last
                current = self.client.wait_for_jobs(task.id)
            task.size = int(current["size"])
            task.state = "data_uploaded"
            self.save()
            self.journal.done("upload_media", str(task.id))
            return
        if self.journal.intent_of("upload_media", str(task.id)):
            # CVAT cannot attach data twice and a failed attach leaves the task unusable:
            # start the task over.
            self.client.delete_task(task.id, missing_ok=True)
            self.journal.done("upload_media", str(task.id), abandoned=True)
            task.id, task.state = None, "planned"
            self.save()
            self.create_task(task)
        opts = self.session.manifest.cvat
        files, server_files = self._media(task)
        kwargs: dict[str, Any] = {
            "image_quality": opts.image_quality, "use_cache": opts.use_cache,
            "sorting_method": "predefined",
        }
        if opts.chunk_size is not None:
            kwargs["chunk_size"] = opts.chunk_size
        if task.media_type == "video":
            kwargs["use_zip_chunks"] = opts.use_zip_chunks
            if task.frame_start is not None:
                kwargs["start_frame"] = task.frame_start
            if task.frame_stop is not None:
                kwargs["stop_frame"] = task.frame_stop
            if task.frame_step is not None:
                kwargs["frame_step"] = task.frame_step
        if server_files:
            kwargs["server_files"] = server_files
            kwargs["cloud_storage_id"] = opts.cloud_storage_id
        total = sum(p.stat().st_size for _, p in files)
        task_id = task.id
        assert task_id is not None
        count = len(files) or len(server_files)
        self.journal.intent("upload_media", str(task_id), files=count)
        tracker = self.session.options.tracker
        with tracker.step(f"upload media {task.name}", total, "B") as sent, \
                Later(tracker, f"CVAT prepares {task.name}", 100, "%", sent.close) as prepared:
            sent.status(f"{count} file(s)")
            on_bytes = byte_callback(sent)

            def progress(done: int, of: int | None) -> None:
                on_bytes(done, of)
                if head_start is not None and of is not None and done >= of:
                    head_start()  # every byte sent: CVAT processes, the client may convert

            if head_start is not None and not files:
                head_start()  # nothing to send (server files)
            self.client.upload_task_data(task_id, files, progress=progress,
                                         watch=request_callback(prepared), **kwargs)
        # data/meta carries the size, and it is what the labels' upload needs next: one
        # request where a GET of the task and then data/meta were two
        meta = self.client.get_data_meta(task_id)
        size = int(meta.get("size") or 0)
        with self._lock:
            task.size = size
            task.state = "data_uploaded"
            self._meta[task_id] = meta
            self.save()
        self.journal.done("upload_media", str(task.id))
        self.report(f"uploaded {len(files) or len(server_files)} file(s) to task {task.id}")

    def assign_jobs(self, task: TaskRecord, offset: int) -> None:
        opts = self.session.manifest.cvat
        if not opts.job_assignees:
            return
        for job, who in zip(task.jobs, round_robin(opts.job_assignees, len(task.jobs), offset),
                            strict=True):
            if who and job.assignee != who:
                self.client.update_job(job.id, assignee=self.user_id(who))
                job.assignee = who

    def upload_labels(self, task: TaskRecord) -> None:
        with gc_paused():  # a burst of small objects, bounded by the task (see gcpause)
            self._upload_labels(task)

    def prepare(self, task: TaskRecord, task_id: int, bound: BoundSchema,
                result: Future[Prepared | None]) -> None:
        """Convert a task's labels while its media is still going up, with the frame sizes
        the samples' metadata predicts; ``_upload_labels`` keeps the upload only if CVAT's
        ``data/meta`` reports those very sizes and the task is still ``task_id``, the one
        ``bound`` was read for (a resumed upload may start the task over). Any failure here
        is left for that step to meet again, in order: a head start, never a second path.
        Once the body is ready (``result`` set), what is done while CVAT stores the labels
        is queued (``Ahead``): it may start before the PUT, while CVAT processes the media."""
        prepared = None
        try:
            with gc_paused():  # as in upload_labels
                prepared = self._convert(task, None, bound=(task_id, bound))
                if prepared is not None and self._submit is not None:
                    prepared.ahead = Ahead.queue(self._submit, task, prepared,
                                                 self.session.schema)
        except Exception:  # the upload step converts (and fails) again
            prepared = None
        finally:
            result.set_result(prepared)

    def _convert(self, task: TaskRecord, frames: FrameMap | None,
                 prepared: Prepared | None = None,
                 bound: tuple[int, BoundSchema] | None = None) -> Prepared | None:
        """Samples, binding, upload and previous labels of a task (frames predicted from the
        samples' metadata when ``frames`` is None: None if they cannot be). What ``prepared``
        holds for the same task is reused but for the upload; ``bound``: (task id, binding)
        if already read."""
        assert task.id is not None and self.session.schema is not None
        schema = self.session.schema
        previous: PreviousLabels | None = None
        if bound is not None:
            task_id, binding = bound
            samples = [self.session.read(k) for k in task.samples]
        elif prepared is not None and prepared.task_id == task.id:
            task_id, binding = prepared.task_id, prepared.bound
            samples, previous = prepared.samples, prepared.previous
        else:
            task_id = task.id
            samples = [self.session.read(k) for k in task.samples]
            binding = bound_schema(self.client, task_id, schema)
        if frames is None:
            frames = predicted_frames(task, samples)
            if frames is None:
                return None
        if binding.missing:
            raise StateError(
                f"task {task_id} lacks CVAT labels {', '.join(binding.missing)} that the "
                "schema needs (was the project's schema edited?)"
            )
        upload = to_cvat(samples, list(schema.fields), frames, binding,
                         load_mask=_mask_loader(self.session))
        parts = (split_upload(upload, frames.size, self.part_objects)
                 if task.media_type == "image" else None)
        # the body of the one PUT, encoded here (in the worker, when ahead of the media), and
        # the form an answer that echoes it takes (its objects, once encoded)
        api = upload_json(upload.data) if parts is None else None
        body = encode_json(api) if api is not None else None
        echo = echo_form(api) if api is not None else None
        if previous is None:
            previous = PreviousLabels.from_samples(samples, schema.fields)
        return Prepared(task_id, samples, frames, binding, upload, previous, parts, body, echo)

    def _upload_labels(self, task: TaskRecord) -> None:
        assert task.id is not None and self.session.schema is not None
        schema = self.session.schema
        frames = frame_map(self.client, task, self._meta.pop(task.id, None))
        with self._lock:
            head = self._prepared.pop(task.index, None)
        prepared = None
        if head is not None:
            head[0]()  # started once its media was sent; if not, now
            prepared = head[1].result()
        if prepared is None or prepared.task_id != task.id or prepared.frames != frames:
            if prepared is not None and prepared.ahead is not None:
                prepared.ahead.cancel()
            prepared = self._convert(task, frames, prepared)
            assert prepared is not None
        samples, bound, upload, previous = (prepared.samples, prepared.bound, prepared.upload,
                                            prepared.previous)
        self.journal.intent("upload_labels", str(task.id))
        count = len(upload.label_ids())
        parts = prepared.parts
        bases: list[Base] | None = None
        with self.session.options.tracker.step(f"upload labels {task.name}", count,
                                               "labels") as step:
            if parts is None:
                assert prepared.body is not None
                id_map, pulled, bases = self._put_labels(task, upload, prepared.body, frames,
                                                         bound, previous, samples, prepared.echo,
                                                         prepared.ahead)
                step.update(count)
            else:
                id_map, pulled = self._put_parts(task.id, parts, frames, bound, previous,
                                                 step.update)
        if bases is None:
            assert pulled is not None
            bases = task_bases(task, samples, schema, pulled)
        jobs = job_records(self.client.list_jobs(task_id=task.id))
        with self._lock:  # other tasks' threads save the same record
            task.labels = {b.name: b.id for b in bound.labels}
            task.id_map = id_map
            for key, base in zip(task.samples, bases, strict=True):
                set_base(self.record, key, base)
            task.jobs = jobs
            task.state = "labels_uploaded"
            self.save()
        self.journal.done("upload_labels", str(task.id))
        self.report(f"uploaded {len(upload.label_ids())} label(s) to task {task.id}")

    def _put_labels(self, task: TaskRecord, upload: Upload, body: EncodedJson, frames: FrameMap,
                    bound: BoundSchema, previous: PreviousLabels, samples: list[Sample],
                    form: EchoForm | None = None, ahead: Ahead | None = None
                    ) -> tuple[TaskIdMap, Pulled | None, list[Base] | None]:
        """One PUT of the task's labels (``body``: ``upload.data`` encoded; ``form``: its
        ``echo_form``; ``ahead``: the guess and the ids of an echo, queued with the body);
        the ids it gave and either the base of each sample (when known by then: the labels
        as CVAT holds them are then not made) or the labels as CVAT holds them."""
        assert task.id is not None and self.session.schema is not None
        task_id, schema = task.id, self.session.schema
        if upload.data.tracks:
            form = None
        if ahead is not None and (form is None or ahead.cancel()):
            ahead = None  # not started yet: done here, as without it
        with short_switches(), Pool(max_workers=1) as pool:
            # while CVAT stores the labels, convert them back as an echo would give them, and
            # match the ids an echo gives (the answer then only checked and its ids read)
            guess: Future[list[Base] | None] | None
            placed: Future[EchoIdMap | None] | None
            if ahead is not None:
                guess, placed = ahead.guess, ahead.placed
            else:
                guess = (pool.submit(_guess, task, upload, frames, bound, previous, samples,
                                     schema) if not upload.data.tracks else None)
                placed = (pool.submit(_echo_ids, task_id, upload, bound)
                          if form is not None else None)
            answered = threading.Event()
            if guess is not None:  # and the record's shard of those bases, but the id map
                pool.submit(self._prepare_shard, task, guess, answered)

            def parse(raw: bytes) -> Echoed | LabeledData:
                answered.set()  # from here on, a shard prepared would delay the save
                return read_answer(form, raw)

            answer = self.client.put_annotations(body, task_id=task_id, parse=parse)
            if isinstance(answer, Echoed):
                assert guess is not None and placed is not None
                guessed, ids = guess.result(), placed.result()
                if guessed is not None and ids is not None:
                    return ids.given(*answer.ids), None, guessed
                answer = parse_answer(answer.raw)
            # validated from the answer's bytes; an answer that does not validate so is
            # validated as decoded JSON, and raises as it did
            response = LabeledData.model_validate(answer)
            id_map = build_id_map(task_id, upload, response, bound)
            guessed = guess.result() if guess is not None else None
        if guessed is not None and echoes(upload.data, response):
            return id_map, None, guessed
        # CVAT answers a PUT with the annotations as stored, ids included: for tags and shapes
        # that is what a read-back returns (recordings/05 vs 06, recordings2/08, numbers equal
        # as numbers), so it is not read back. Tracks are: a GET returns them cut at job
        # boundaries, the answer does not.
        now = (response if not upload.data.tracks
               else self.client.get_annotations(task_id=task_id))
        pulled = from_cvat(now, frames, bound, id_map=id_map, previous=previous,
                           scope=f"task{task_id}")
        return id_map, pulled, None

    def _prepare_shard(self, task: TaskRecord, guess: Future[list[Base] | None],
                       answered: threading.Event) -> None:
        """``prepare_shard`` of the task's bases, if guessed (a head start of the save that
        records them: ``_upload_labels`` sets the very same entries), unless CVAT answered
        already: the save would then wait for it, and it costs more than it saves."""
        bases = guess.result()
        if bases is None or answered.is_set():
            return
        with self._lock:
            prepare_shard(self.record, task.index,
                          {key: b for key, b in zip(task.samples, bases, strict=True) if b})

    def _put_parts(self, task_id: int, parts: list[Part], frames: FrameMap, bound: BoundSchema,
                   previous: PreviousLabels, progress: Callable[[int], Any]
                   ) -> tuple[TaskIdMap, Pulled]:
        """The same in parts (see upload_parts): each answer is converted while the server
        stores the next part. The answers echo what was stored, as a PUT's does."""
        kinds: dict[str, list[IdEntry]] = {"tag": [], "shape": [], "track": []}
        pulled = Pulled()

        def consume(part: Part, response: LabeledData) -> None:
            fresh = build_id_map(task_id, part.upload, response, bound)
            for entry in fresh.entries:
                kinds[entry.kind].append(entry)
            got = from_cvat(response, frames, bound, id_map=fresh, previous=previous,
                            covered=part.covered, scope=f"task{task_id}")
            pulled.samples.update(got.samples)
            progress(len(part.upload.label_ids()))

        send_parts(self.client, task_id, parts, consume)
        # entries in the order one PUT's answer gives them: tags, then shapes
        return TaskIdMap(task_id=task_id, entries=[e for k in kinds.values() for e in k]), pulled

    def launch_editor(self) -> None:
        if not self.session.manifest.launch_editor:
            return
        url = editor_url(self.client.url, self.record)
        if url is None:
            return
        opened = False
        with contextlib.suppress(webbrowser.Error):
            opened = webbrowser.open(url, new=2)
        if opened:
            self.report(f"opened {url} in your browser")
        else:
            self.report(f"no browser could open it: open {url}")


def editor_url(server: str, record: RunRecord) -> str | None:
    """The reference's ``launch_editor``: the run's first job in CVAT's editor (the first task
    if it has no job yet), as FiftyOne's ``base_job_url``/``base_task_url`` build it."""
    first = next((t for t in record.tasks if t.id is not None), None)
    if first is None:
        return None
    base = server.rstrip("/")
    if first.jobs:
        return f"{base}/tasks/{first.id}/jobs/{first.jobs[0].id}"
    return f"{base}/tasks/{first.id}"


class Once:
    """``fn(*args)`` on the first call, nothing on the next ones (thread-safe)."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._call: tuple[Callable[..., Any], tuple[Any, ...]] | None = (fn, args)
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            call, self._call = self._call, None
        if call is not None:
            call[0](*call[1])


@dataclass
class Ahead:
    """What waits for CVAT's answer to a task's PUT unless done before (``_guess`` and
    ``_echo_ids`` of the upload), queued once its body is ready: in the pool's one thread it
    runs while CVAT processes the media, or stores the labels. Cancelled (and done as before)
    if the PUT goes out before it starts."""

    guess: Future[list[Base] | None]
    placed: Future[EchoIdMap | None]

    @classmethod
    def queue(cls, submit: Callable[..., Future[Any]], task: TaskRecord, prepared: Prepared,
              schema: ResolvedSchema | None) -> Ahead | None:
        if prepared.echo is None or prepared.upload.data.tracks or schema is None:
            return None
        ahead = cls(Future(), Future())
        submit(ahead._run, task, prepared, schema)
        return ahead

    def cancel(self) -> bool:
        """True if it had not started (it never will)."""
        return self.guess.cancel()

    def _run(self, task: TaskRecord, p: Prepared, schema: ResolvedSchema) -> None:
        if not self.guess.set_running_or_notify_cancel():
            return
        assert task.id is not None
        with gc_paused():
            _settle(self.guess, _guess, task, p.upload, p.frames, p.bound, p.previous,
                    p.samples, schema)
            self.placed.set_running_or_notify_cancel()
            _settle(self.placed, _echo_ids, p.task_id, p.upload, p.bound)


def _settle(future: Future[Any], fn: Callable[..., Any], *args: Any) -> None:
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # raised where the result is taken
        future.set_exception(exc)


@dataclass
class Prepared:
    """A task's labels converted for upload, and what the conversion started from."""

    task_id: int
    samples: list[Sample]
    frames: FrameMap
    bound: BoundSchema
    upload: Upload
    previous: PreviousLabels
    #: the upload cut in parts (``upload_parts``), or None: one PUT of ``body``
    parts: list[Part] | None = None
    body: EncodedJson | None = None
    #: ``body``'s ``echo_form`` (None: the answer is validated and compared as models)
    echo: EchoForm | None = None
    #: the work queued to be done before CVAT's answer (``prepare``)
    ahead: Ahead | None = None


def predicted_frames(task: TaskRecord, samples: list[Sample]) -> FrameMap | None:
    """The frame map CVAT will report for an image task whose samples' metadata is right
    (the size of each image, none deleted); None for a video or a sample without metadata.
    A guess: it is used only once ``data/meta`` confirms it."""
    if task.media_type != "image" or not samples:
        return None
    sizes = []
    for sample in samples:
        meta = sample.metadata
        if meta is None or meta.media_type != "image":
            return None
        sizes.append(FrameSize(width=meta.width, height=meta.height))
    return FrameMap(media_type="image", size=len(samples), sizes=sizes)


def parse_answer(raw: bytes) -> LabeledData:
    """CVAT's answer to a labels' ``PUT``, validated straight from its bytes by pydantic's JSON
    parser: ~3x faster on 10,000 shapes than ``json.loads`` then validating the objects, the
    same model (tests/sync/test_answer_parse.py); what it refuses (``ValueError``) the client
    decodes as JSON, validated as before."""
    return LabeledData.model_validate_json(raw)


@dataclass(frozen=True)
class Echoed:
    """An answer that echoes the PUT (``echoed_ids``): the ids it gave tags and shapes, and
    its bytes (validated as any answer if the bases cannot be known before it)."""

    ids: tuple[list[int], list[int]]
    raw: bytes


def read_answer(form: EchoForm | None, raw: bytes) -> Echoed | LabeledData:
    """The answer to the labels' PUT: ``Echoed`` when it echoes the body ``form`` was made
    of (checked on its decoded JSON: ~4x faster than validating 10,000 shapes into models and
    comparing them); else ``parse_answer``."""
    if form is not None:
        ids = echoed_ids(raw, form)
        if ids is not None:
            return Echoed(ids, raw)
    return parse_answer(raw)


def _echo_ids(task_id: int, upload: Upload, bound: BoundSchema) -> EchoIdMap | None:
    """``EchoIdMap`` of the upload, or None if it cannot be made (a head start only: the
    answer then goes the general way)."""
    try:
        return EchoIdMap(task_id, upload, bound)
    except Exception:
        return None


#: One sample's base digests by field and label key (None: nothing on both sides).
Base = Union[dict[str, dict[str, BaseEntry]], None]


def _guess(task: TaskRecord, upload: Upload, frames: FrameMap, bound: BoundSchema,
           previous: PreviousLabels, samples: list[Sample], schema: ResolvedSchema
           ) -> list[Base] | None:
    """What the bases will be if CVAT's answer echoes ``upload`` (checked by the caller with
    ``echoes``); None when they cannot be known before the answer. The boxes of an image task
    are read back as plain values (``sent_bases``); anything else as ``from_cvat`` would."""
    try:
        if task.media_type == "image":
            boxes = boxes_from_sent(upload.data, frames, bound, previous=previous)
            if boxes is not None:
                return bases_from_boxes(samples, schema, boxes)
        pulled = from_sent(upload.data, frames, bound, previous=previous,
                           scope=f"task{task.id}")
    except Exception:  # the general path meets it again, on the answer
        return None
    if pulled is None:
        return None
    return task_bases(task, samples, schema, pulled)


def task_bases(task: TaskRecord, samples: list[Sample], schema: ResolvedSchema,
               pulled: Pulled) -> list[Base]:
    """The base of each of the task's samples (in order) once CVAT holds ``pulled``."""
    out = []
    for position, sample in enumerate(samples):
        got = pulled.samples.get(0 if task.media_type == "video" else position)
        out.append(base_of(sample, schema, (got.fields, got.frames) if got else ({}, {})))
    return out


def set_base(record: RunRecord, key: str, base: Base) -> None:
    if base:
        record.base[key] = base
    else:
        record.base.pop(key, None)


def record_base(record: RunRecord, key: str, local: Sample, schema: ResolvedSchema,
                remote: tuple[dict, dict]) -> None:
    """Base digests of a sample whose labels both sides now hold (after an upload)."""
    set_base(record, key, base_of(local, schema, remote))


def base_of(local: Sample, schema: ResolvedSchema, remote: tuple[dict, dict]) -> Base:
    """The base digests of ``local`` against ``remote`` (fields, frames): pure."""
    fields: dict[str, dict[str, BaseEntry]] = {}
    for path, rf in schema.fields.items():
        rules = rules_for(rf)
        remote_by = {i.key: i for i in pulled_items(remote[0], remote[1], rf)}
        entries = {}
        for item in field_items(local, rf):
            other = remote_by.get(item.key)
            if other is not None:
                ld = digests(item.obj, rules.attributes)
                # a label that came back as it went needs no second digest
                rd = (ld if same_aspects(item.obj, other.obj, rules.attributes)
                      else digests(other.obj, rules.attributes))
                entries[item.key] = BaseEntry.of(ld, rd)
        if entries:
            fields[path] = entries
    return fields or None


def _mask_loader(session: RunSession) -> Callable[[str], Any]:
    def load(path: str) -> Any:
        import numpy as np
        from PIL import Image

        full = (session.folder.root / path).resolve()
        if not full.is_relative_to(session.folder.root):  # not a prefix test: /ds vs /ds2
            raise InputError.at("mask_path leaves the dataset folder", path)
        with Image.open(full) as img:
            return np.asarray(img)

    return load


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(os.path.relpath(path.resolve(), root)).as_posix()
    except ValueError:  # another drive on Windows
        return str(path)


