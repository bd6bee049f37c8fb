"""The Python API: FiftyOne's annotation names over annosync's reconciler, on a dataset folder.

Why a module: FiftyOne users know ``view.annotate()``, ``dataset.load_annotations()``,
``results.print_status()``; here they drive the same engine the CLI drives, on a folder
instead of a database::

    import annosync as asy
    ds = asy.load_dataset("datasets/street")
    view = ds.match("length(fields.predictions.detections[?attributes.eval == 'fp']) > `0`")
    view.limit(1).annotate("fix_fp", label_field="ground_truth", attributes=["iscrowd"])
    ds.load_annotations("fix_fp")
    ds.load_annotation_results("fix_fp").cleanup()
    ds.delete_annotation_run("fix_fp")

``annotate()`` writes the run as a manifest file, ``<dataset>/.annosync/manifests/<key>.yaml``
(the selected sample keys and every option given, never a credential), then plans and applies
it. The file is what makes the run visible to the CLI (``annosync pull <dataset> --anno-key
fix_fp``, ``annosync status <dataset>``) and lets an interrupted upload resume. Runs created from
a user's manifest are found through their run record (its manifest path, else its stored config).

Credentials: keyword arguments, then ``ANNOSYNC_CVAT_*`` environment variables, then the user
config file; a prompt only when stdin is a terminal (never in scripts or notebooks without one).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from annosync.cvat import Credentials, CvatClient
from annosync.dataset.folder import DatasetFolder
from annosync.errors import InputError, StateError
from annosync.manifest.load import LoadedManifest, load_manifests
from annosync.manifest.select import Selection, finish, iter_select
from annosync.model.manifest import CvatOptions, Manifest, SampleSelection
from annosync.model.problems import problems_from_validation
from annosync.model.sample import Sample
from annosync.sync.apply import ApplyResult
from annosync.sync.engine import Engine, apply_plan, locked, make_plan
from annosync.sync.journal import Journal
from annosync.sync.plan import Plan
from annosync.sync.record import (
    RunRecord,
    delete_record,
    list_records,
    load_record,
    record_path,
    rename_record,
)
from annosync.sync.review import ReviewFilter
from annosync.sync.session import Connection, RunSession, SyncOptions
from annosync.sync.status import get_status, status_lines

log = logging.getLogger("annosync")

#: Where ``annotate()`` keeps the manifests of the runs it creates, under ``.annosync/``.
API_MANIFESTS = "manifests"

#: ``annotate()`` keyword arguments that are CVAT options (``CVATBackendConfig``).
CVAT_OPTIONS = tuple(n for n in CvatOptions.model_fields if n not in ("url", "headers"))
CONNECTION_ARGS = ("url", "username", "password", "email", "token", "headers", "verify")
SCHEMA_ARGS = ("label_schema", "label_field", "label_type", "classes", "attributes",
               "mask_targets")
RESTRICTIONS = ("allow_additions", "allow_deletions", "allow_label_edits", "allow_index_edits",
                "allow_spatial_edits")


# -- runs of a dataset folder (shared with the CLI) ---------------------------------------------

def api_manifest_path(folder: DatasetFolder, anno_key: str) -> Path:
    return folder.state_dir / API_MANIFESTS / f"{anno_key}.yaml"


def _from_record(folder: DatasetFolder, record: RunRecord) -> LoadedManifest:
    """A run's manifest rebuilt from its record's config (the manifest as it was applied)."""
    config = dict(record.config)
    config["anno_key"] = record.anno_key
    config["dataset"] = "."
    cvat = dict(config.get("cvat") or {})
    cvat.pop("url", None)  # the record's server wins (a default URL must not contradict it)
    config["cvat"] = cvat
    try:
        manifest = Manifest.model_validate(config)
    except ValidationError as exc:
        where = str(record_path(folder.state_dir, record.anno_key))
        raise InputError(problems_from_validation(exc, where, prefix=("config",))) from None
    path = record_path(folder.state_dir, record.anno_key)
    return LoadedManifest(manifest=manifest, file=path, display=f"{path} (config)", index=0,
                          line0=1, dataset_root=folder.root)


def run_manifest(folder: DatasetFolder, anno_key: str) -> LoadedManifest:
    """The manifest of a run of this dataset: the API's file, the record's manifest, or its
    stored config, in that order."""
    api_file = api_manifest_path(folder, anno_key)
    if api_file.is_file():
        (loaded,) = [r for r in load_manifests([api_file]) if r.anno_key == anno_key]
        return loaded
    record = load_record(folder.state_dir, anno_key)
    if record is None:
        raise StateError(f"{folder.root}: no annotation run {anno_key!r} "
                         f"(runs: {', '.join(list_records(folder.state_dir)) or 'none'})")
    if record.manifest:
        path = (folder.root / record.manifest).resolve()
        if path.is_file():
            try:
                found = [r for r in load_manifests([path]) if r.anno_key == anno_key]
            except InputError:
                found = []
            if found and found[0].dataset_root.resolve() == folder.root:
                return found[0]
    return _from_record(folder, record)


def dataset_runs(folder: DatasetFolder, anno_keys: Iterable[str] | None = None
                 ) -> list[LoadedManifest]:
    """Every run of a dataset folder (recorded, or declared by ``annotate()``'s files)."""
    keys = set(list_records(folder.state_dir))
    api_dir = folder.state_dir / API_MANIFESTS
    if api_dir.is_dir():
        keys |= {p.stem for p in api_dir.glob("*.yaml")}
    wanted = set(anno_keys or [])
    if wanted:
        missing = wanted - keys
        if missing:
            raise StateError(f"{folder.root}: no annotation run(s) {', '.join(sorted(missing))}")
        keys &= wanted
    return [run_manifest(folder, k) for k in sorted(keys)]


def run_info(record: RunRecord, full: bool = False) -> dict[str, Any]:
    """What ``get_annotation_info`` / ``annosync info`` show: config, schema, server, tasks, jobs.

    ``full`` adds the id maps and base digests (the whole record)."""
    if full:
        return record.model_dump(mode="json", exclude_none=True)
    return {
        "key": record.anno_key,
        "run_id": record.run_id,
        "timestamp": record.created_at,
        "updated_at": record.updated_at,
        "pulled_at": record.pulled_at,
        "pushed_at": record.pushed_at,
        "cleaned_at": record.cleaned_at,
        "manifest": record.manifest,
        "config": record.config,
        "server": record.server.model_dump(mode="json", exclude_none=True) if record.server
        else None,
        "project": record.project.model_dump(mode="json", exclude_none=True) if record.project
        else None,
        "label_schema": record.label_schema,
        "tasks": [
            {
                "index": t.index, "id": t.id, "name": t.name, "state": t.state,
                "media_type": t.media_type, "samples": list(t.samples), "size": t.size,
                "assignee": t.assignee,
                "jobs": [j.model_dump(mode="json", exclude_none=True) for j in t.jobs],
            }
            for t in record.tasks
        ],
    }


def forget_run(folder: DatasetFolder, anno_key: str) -> bool:
    """Delete a run's record, journal and API manifest (not labels, not CVAT tasks)."""
    Journal(folder.state_dir, anno_key).clear()
    api_file = api_manifest_path(folder, anno_key)
    had_file = api_file.is_file()
    if had_file:
        api_file.unlink()
    return delete_record(folder.state_dir, anno_key) or had_file


def rename_run(folder: DatasetFolder, old: str, new: str) -> list[str]:
    """Rename a run's record (and the API manifest); returns warnings for the user."""
    try:
        Manifest.model_validate({"anno_key": new, "dataset": "."})
    except ValidationError:
        raise InputError.at(f"invalid anno key {new!r}: letters, digits, _ and -, starting "
                            "with a letter") from None
    if Journal(folder.state_dir, old).pending():
        raise StateError(f"run {old!r} has an interrupted apply: sync it before renaming")
    record = load_record(folder.state_dir, old)
    rename_record(folder.state_dir, old, new)
    Journal(folder.state_dir, old).clear()
    warnings = []
    api_file = api_manifest_path(folder, old)
    if api_file.is_file():
        data = yaml.safe_load(api_file.read_text(encoding="utf-8"))
        data["anno_key"] = new
        _write_yaml(api_manifest_path(folder, new), data)
        api_file.unlink()
    elif record is not None and record.manifest:
        warnings.append(
            f"the manifest {record.manifest} (relative to {folder.root}) still declares "
            f"anno_key {old!r}: change it to {new!r}, or the next sync starts a new run"
        )
    for suffix in ("unexpected",):
        src = folder.state_dir / suffix / f"{old}.json"
        if src.is_file():
            src.rename(folder.state_dir / suffix / f"{new}.json")
    return warnings


def _write_yaml(path: Path, data: dict[str, Any]) -> None:
    from annosync.dataset.atomic import write_bytes_atomic

    text = ("# written by annosync's Python API (view.annotate); safe to commit\n"
            + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    write_bytes_atomic(path, text.encode("utf-8"))


# -- connection -------------------------------------------------------------------------------

def connection(url: str | None = None, username: str | None = None,
               password: str | None = None, email: str | None = None,
               token: str | None = None, organization: str | None = None,
               headers: dict[str, str] | None = None, verify: bool | str | None = None
               ) -> Connection:
    return Connection(url=url, username=username, password=password, email=email, token=token,
                      organization=organization, headers=dict(headers or {}), verify=verify,
                      interactive=None)


def connect_to_api(url: str | None = None, username: str | None = None,
                   password: str | None = None, email: str | None = None,
                   token: str | None = None, organization: str | None = None,
                   headers: dict[str, str] | None = None, verify: bool | str = True
                   ) -> CvatClient:
    """A logged-in-on-first-use :class:`CvatClient` (the reference's ``connect_to_api()``)."""
    creds = Credentials.resolve(url=url, username=username, password=password, email=email,
                                token=token, organization=organization, headers=headers)
    return CvatClient(url or creds.url, creds, organization=creds.organization, verify=verify)


# -- running the engine -----------------------------------------------------------------------

def _engine(runs: Sequence[LoadedManifest], options: SyncOptions, conn: Connection) -> Engine:
    return Engine([RunSession(r, options, conn) for r in runs])


def _run(runs: Sequence[LoadedManifest], options: SyncOptions, conn: Connection
         ) -> tuple[Plan, list[ApplyResult]]:
    with _engine(runs, options, conn) as engine, locked(engine):
        plan = make_plan(engine, save_ids=True, report=log.info)
        results = apply_plan(engine, plan, report=log.info)
        return plan, results


# -- datasets and views -----------------------------------------------------------------------

class DatasetView:
    """An ordered selection of a dataset's samples (by key); views chain like FiftyOne's."""

    def __init__(self, dataset: Dataset, keys: list[str] | None) -> None:
        self._dataset = dataset
        self._keys = keys  # None: every sample, in key order

    @property
    def dataset(self) -> Dataset:
        return self._dataset

    @property
    def folder(self) -> DatasetFolder:
        return self._dataset.folder

    # -- selection ------------------------------------------------------------------------------
    def _select(self, **selection: Any) -> DatasetView:
        try:
            sel = SampleSelection.model_validate({"keys": self._keys, **selection})
        except ValidationError as exc:
            raise InputError(problems_from_validation(exc, "<view>")) from None
        out = Selection()

        def report(loc: tuple[Any, ...], message: str, severity: str) -> Any:
            from annosync.errors import Location, Problem
            return Problem(Location("<view>", None, None, ".".join(map(str, loc))), message,
                           severity)

        keys = list(iter_select(self.folder, sel, report, out))
        finish(out, report)
        errors = [p for p in out.problems if p.severity == "error"]
        if errors:
            raise InputError(errors)
        for p in out.problems:
            log.warning("%s", p)
        return DatasetView(self._dataset, keys)

    def match(self, expression: str) -> DatasetView:
        """Samples whose JSON (``fields``, ``frames``, ``tags``, ``media``, ``metadata``,
        ``key``) makes the JMESPath ``expression`` truthy."""
        return self._select(where=expression)

    def sort_by(self, expression: str, reverse: bool = False) -> DatasetView:
        """Order by a JMESPath value (a number or a string; samples without one go last)."""
        return self._select(sort_by=expression, reverse=reverse)

    def select(self, keys: str | Iterable[str], ordered: bool = False) -> DatasetView:
        """Only these sample keys (in the view's order, or in the given order if ``ordered``)."""
        wanted = [keys] if isinstance(keys, str) else list(keys)
        missing = [k for k in wanted if not self.folder.exists(k)]
        if missing:
            raise InputError.at(f"no sample(s) {', '.join(missing)} in {self.folder.root}")
        if ordered:
            present = set(self.keys())
            return DatasetView(self._dataset, [k for k in wanted if k in present])
        chosen = set(wanted)
        return DatasetView(self._dataset, [k for k in self.keys() if k in chosen])

    def exclude(self, keys: str | Iterable[str]) -> DatasetView:
        dropped = {keys} if isinstance(keys, str) else set(keys)
        return DatasetView(self._dataset, [k for k in self.keys() if k not in dropped])

    def limit(self, n: int) -> DatasetView:
        return DatasetView(self._dataset, self.keys()[: max(n, 0)])

    def skip(self, n: int) -> DatasetView:
        return DatasetView(self._dataset, self.keys()[max(n, 0):])

    # -- reading --------------------------------------------------------------------------------
    def keys(self) -> list[str]:
        return list(self._keys) if self._keys is not None else list(self.folder.keys())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def count(self) -> int:
        return len(self)

    def first(self) -> Sample:
        keys = self.keys()
        if not keys:
            raise ValueError("the view is empty")
        return self.folder.read(keys[0])

    def first_key(self) -> str:
        keys = self.keys()
        if not keys:
            raise ValueError("the view is empty")
        return keys[0]

    def iter_samples(self) -> Iterator[tuple[str, Sample]]:
        return self.folder.iter_samples(self.keys())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.folder.root} ({len(self)} samples)>"

    # -- annotate -------------------------------------------------------------------------------
    def annotate(
        self,
        anno_key: str,
        label_schema: dict[str, Any] | None = None,
        label_field: str | None = None,
        label_type: str | None = None,
        classes: list[Any] | None = None,
        attributes: bool | list[str] | dict[str, Any] | None = None,
        mask_targets: dict[int, str] | None = None,
        allow_additions: bool | None = None,
        allow_deletions: bool | None = None,
        allow_label_edits: bool | None = None,
        allow_index_edits: bool | None = None,
        allow_spatial_edits: bool | None = None,
        media_field: str = "filepath",
        backend: str | None = None,
        launch_editor: bool = False,
        url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        email: str | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        verify: bool | str | None = None,
        concurrency: int = 4,
        **cvat_options: Any,
    ) -> AnnotationResults:
        """Upload these samples (and their labels) to CVAT as annotation run ``anno_key``.

        Every CVAT option of the reference is accepted as a keyword (``project_name``,
        ``project_id``, ``task_size``, ``segment_size``, ``image_quality``, ``use_cache``,
        ``use_zip_chunks``, ``chunk_size``, ``task_assignee``, ``job_assignees``,
        ``job_reviewers``, ``issue_tracker``, ``occluded_attr``, ``group_id_attr``,
        ``frame_start``, ``frame_stop``, ``frame_step``, ``task_name``, ``organization``).
        The run is written to ``<dataset>/.annosync/manifests/<anno_key>.yaml`` first.
        """
        if backend not in (None, "cvat"):
            raise ValueError(f"unsupported backend {backend!r}: annosync speaks CVAT only")
        unknown = sorted(set(cvat_options) - set(CVAT_OPTIONS))
        if unknown:
            raise TypeError(f"annotate() got unexpected keyword argument(s): {', '.join(unknown)}")
        folder = self.folder
        if load_record(folder.state_dir, anno_key) is not None:
            raise StateError(
                f"an annotation run {anno_key!r} already exists on {folder.root}: load it, or "
                "delete_annotation_run() it first"
            )
        keys = self.keys()
        if not keys:
            raise InputError.at("the view is empty: nothing to annotate")
        data: dict[str, Any] = {"anno_key": anno_key, "dataset": "../..",
                                "samples": {"keys": keys}}
        schema = {"label_schema": label_schema, "label_field": label_field,
                  "label_type": label_type, "classes": classes, "attributes": attributes,
                  "mask_targets": mask_targets}
        data.update({k: v for k, v in schema.items() if v is not None})
        flags = {"allow_additions": allow_additions, "allow_deletions": allow_deletions,
                 "allow_label_edits": allow_label_edits, "allow_index_edits": allow_index_edits,
                 "allow_spatial_edits": allow_spatial_edits}
        data.update({k: v for k, v in flags.items() if v is not None})
        if media_field != "filepath":
            data["media_field"] = media_field
        if launch_editor:
            data["launch_editor"] = True
        cvat = {k: v for k, v in cvat_options.items() if v is not None}
        if cvat:
            data["cvat"] = cvat
        try:
            Manifest.model_validate({**data, "dataset": "."})
        except ValidationError as exc:
            raise InputError(problems_from_validation(exc, "annotate()")) from None
        path = api_manifest_path(folder, anno_key)
        _write_yaml(path, data)
        (loaded,) = [r for r in load_manifests([path]) if r.anno_key == anno_key]
        conn = connection(url, username, password, email, token,
                          cvat_options.get("organization"), headers, verify)
        _run([loaded], SyncOptions(mode="sync", progress=False, concurrency=concurrency), conn)
        return AnnotationResults(self._dataset, anno_key, conn)


class Dataset(DatasetView):
    """A dataset folder: the whole view, plus the run-management methods of the reference."""

    def __init__(self, folder: DatasetFolder) -> None:
        self._folder = folder
        super().__init__(self, None)

    @property
    def folder(self) -> DatasetFolder:
        return self._folder

    @property
    def name(self) -> str:
        return self._folder.name

    @property
    def path(self) -> Path:
        return self._folder.root

    # -- runs ---------------------------------------------------------------------------------
    def list_annotation_runs(self) -> list[str]:
        return list_records(self._folder.state_dir)

    def has_annotation_run(self, anno_key: str) -> bool:
        return load_record(self._folder.state_dir, anno_key) is not None

    def _record(self, anno_key: str) -> RunRecord:
        record = load_record(self._folder.state_dir, anno_key)
        if record is None:
            raise StateError(f"{self._folder.root}: no annotation run {anno_key!r} "
                             f"(runs: {', '.join(self.list_annotation_runs()) or 'none'})")
        return record

    def get_annotation_info(self, anno_key: str) -> AnnotationInfo:
        return AnnotationInfo(run_info(self._record(anno_key)))

    def load_annotation_results(self, anno_key: str, **conn: Any) -> AnnotationResults:
        self._record(anno_key)
        return AnnotationResults(self, anno_key, connection(**conn))

    def load_annotation_view(self, anno_key: str) -> DatasetView:
        record = self._record(anno_key)
        return DatasetView(self, [k for t in record.tasks for k in t.samples])

    def rename_annotation_run(self, anno_key: str, new_anno_key: str) -> None:
        for warning in rename_run(self._folder, anno_key, new_anno_key):
            log.warning("%s", warning)

    def delete_annotation_run(self, anno_key: str) -> None:
        """Delete the run's record only: labels and CVAT tasks stay (see ``results.cleanup``)."""
        if not forget_run(self._folder, anno_key):
            raise StateError(f"{self._folder.root}: no annotation run {anno_key!r}")

    def delete_annotation_runs(self) -> None:
        for key in self.list_annotation_runs():
            forget_run(self._folder, key)

    # -- loading --------------------------------------------------------------------------------
    def load_annotations(
        self,
        anno_key: str,
        dest_field: str | dict[str, str] | None = None,
        unexpected: str = "prompt",
        cleanup: bool = False,
        conflicts: str | None = None,
        force: bool = False,
        url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        email: str | None = None,
        token: str | None = None,
        organization: str | None = None,
        headers: dict[str, str] | None = None,
        verify: bool | str | None = None,
    ) -> dict[str, Any] | None:
        """Download the run's annotations and merge them into the label files.

        ``unexpected``: ``"prompt"`` (asks on a terminal, else behaves as ``"return"``),
        ``"ignore"``, ``"keep"`` or ``"return"``; with ``"return"`` the unexpected labels come
        back as ``{label_type: [{"sample": key, ...}, ...]}``. ``conflicts`` overrides the run's
        ``load.conflicts`` policy; ``force`` lifts the ``load.max_delete`` safety limit.
        """
        loaded = run_manifest(self._folder, anno_key)
        options = SyncOptions(mode="pull", dest_field=dest_field, unexpected=unexpected,  # type: ignore[arg-type]
                              cleanup=cleanup, conflicts=conflicts, force=force,  # type: ignore[arg-type]
                              progress=False)
        conn = connection(url, username, password, email, token, organization, headers, verify)
        _, results = _run([loaded], options, conn)
        got = results[0].unexpected
        if unexpected == "return" or (unexpected == "prompt" and got):
            by_type: dict[str, list[dict[str, Any]]] = {}
            for item in got:
                by_type.setdefault(item.get("label_type") or "unknown", []).append(item)
            return by_type
        return None

    def sync_annotations(self, anno_key: str, conflicts: str | None = None, force: bool = False,
                         **conn: Any) -> Plan:
        """Two-way: pull CVAT's changes and push local edits (``annosync sync`` for one run)."""
        loaded = run_manifest(self._folder, anno_key)
        options = SyncOptions(mode="sync", conflicts=conflicts, force=force,  # type: ignore[arg-type]
                              progress=False)
        plan, _ = _run([loaded], options, connection(**conn))
        return plan


def load_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Open a dataset folder (``labels/`` and/or ``dataset.yaml``)."""
    return Dataset(DatasetFolder.open(path))


def import_annotations(
    dataset: str | os.PathLike[str] | Dataset,
    project_name: str | None = None,
    project_id: int | None = None,
    task_ids: Iterable[int] | None = None,
    data_path: str | os.PathLike[str] | dict[str, str] | None = None,
    download_media: bool = False,
    anno_key: str | None = None,
    label_field: str | dict[str, str] = "ground_truth",
    **conn: Any,
) -> Any:
    """The reference's ``fouc.import_annotations``: bring CVAT tasks made outside annosync into a
    dataset folder. ``data_path`` is a ``{CVAT file name: sample key or media path}`` map, or the
    folder downloaded media go to (with ``download_media``); ``anno_key`` adopts the tasks as a
    run that later ``load_annotations`` / ``sync`` keep working on."""
    from annosync.sync.adopt import import_cvat

    root = dataset.path if isinstance(dataset, Dataset) else Path(dataset)
    data_map = data_path if isinstance(data_path, dict) else None
    media_dir = None if data_path is None or data_map is not None else str(data_path)
    with connect_to_api(**conn) as client:
        return import_cvat(root, client, task_ids=list(task_ids) if task_ids else None,
                           project_name=project_name, project_id=project_id,
                           data_map=data_map, download_media=download_media,
                           anno_key=anno_key, label_field=label_field, media_dir=media_dir)


# -- results ----------------------------------------------------------------------------------

@dataclass
class AnnotationInfo:
    """A run's information (``get_annotation_info``): key, timestamp, config, schema, tasks."""

    data: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return str(self.data["key"])

    @property
    def timestamp(self) -> str:
        return str(self.data["timestamp"])

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.data.get("config") or {})

    def __getitem__(self, name: str) -> Any:
        return self.data[name]

    def __str__(self) -> str:
        return json.dumps(self.data, indent=4, sort_keys=True)


class AnnotationResults:
    """A run's handle on the server (``load_annotation_results``): status, ids, cleanup."""

    def __init__(self, dataset: Dataset, anno_key: str, conn: Connection | None = None) -> None:
        self.dataset = dataset
        self.anno_key = anno_key
        self._conn = conn or Connection()

    @property
    def record(self) -> RunRecord:
        return self.dataset._record(self.anno_key)

    @property
    def task_ids(self) -> list[int]:
        return self.record.created_task_ids()

    @property
    def job_ids(self) -> dict[int, list[int]]:
        return {t.id: [j.id for j in t.jobs] for t in self.record.tasks if t.id is not None}

    @property
    def project_id(self) -> int | None:
        project = self.record.project
        return project.id if project else None

    def _session(self, options: SyncOptions | None = None) -> RunSession:
        loaded = run_manifest(self.dataset.folder, self.anno_key)
        return RunSession(loaded, options or SyncOptions(progress=False), self._conn)

    def connect_to_api(self) -> CvatClient:
        """The client this run talks to (the reference's ``results.connect_to_api()``)."""
        return self._session().client

    def get_status(self) -> dict[str, Any]:
        session = self._session()
        try:
            return get_status(self.record, session.client,
                              ReviewFilter.of(session.manifest.load))
        finally:
            session.close()

    def print_status(self) -> None:
        from annosync.sync.render import emit

        emit(status_lines(self.get_status()))

    def cleanup(self) -> list[int]:
        """Delete the run's tasks (and the project it created) from CVAT; returns task ids.

        The run record stays, marked as cleaned up (``delete_annotation_run`` removes it)."""
        loaded = run_manifest(self.dataset.folder, self.anno_key)
        _, results = _run([loaded], SyncOptions(mode="cleanup", progress=False), self._conn)
        return results[0].cleaned

    def __repr__(self) -> str:
        return f"<AnnotationResults {self.anno_key} on {self.dataset.path}>"
