"""Acting as a person in CVAT's UI, in-process: draw, edit, relabel, split and merge objects.

Why a module: sync tests need a "human" changing annotations on the server between runs. Each
call saves like the UI does (a job-level PATCH), so ids, attribute filling and the job, task
and project ``updated_date`` change exactly as they would on a real server.
"""

from __future__ import annotations

import copy
from typing import Any

from .annotations import (
    job_read,
    job_write,
    shape_read,
    tag_read,
    task_read,
    task_write,
    track_read,
    validate_payload,
)
from .errors import ApiError
from .jobs import STAGES, STATES, changed_fields, derive_status, job_fields
from .state import Job, Label, State, Task, User
from .tracks import interpolated_shapes

Obj = dict[str, Any]
KINDS = ("shape", "tag", "track")


class Annotator:
    """Annotation work done by ``user`` (see ``Emulator.annotator``)."""

    def __init__(self, state: State, user: User) -> None:
        self.state = state
        self.user = user

    # -- helpers -----------------------------------------------------------------------------

    def _task(self, task_id: int) -> Task:
        task = self.state.tasks.get(task_id)
        if task is None:
            raise KeyError(f"no such task: {task_id}")
        return task

    def _label(self, task: Task, name: str, parent: Label | None = None) -> Label:
        for label in self.state.task_labels(task):
            if label.name == name and label.parent_id == (parent.id if parent else None):
                return label
        raise KeyError(f"task {task.id} has no label {name!r}")

    @staticmethod
    def _value(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def _attrs(self, label: Label, values: dict[str, Any] | None, *,
               mutable: bool | None = None) -> list[Obj]:
        out = []
        by_name = {a.name: a for a in label.attributes}
        for name, value in (values or {}).items():
            spec = by_name.get(name)
            if spec is None:
                raise KeyError(f"label {label.name!r} has no attribute {name!r}")
            if mutable is not None and spec.mutable != mutable:
                continue
            out.append({"spec_id": spec.id, "value": self._value(value)})
        return out

    def _job_for_frame(self, task: Task, frame: int) -> Job:
        for job in self.state.task_jobs(task.id):
            if job.start_frame <= frame <= job.stop_frame:
                return job
        raise ValueError(f"frame {frame} is not in task {task.id}")

    def _find(self, object_id: int, kind: str | None = None) -> tuple[Job, str, Obj]:
        found = []
        for job in sorted(self.state.jobs.values(), key=lambda j: j.id):
            for key, name in (("shapes", "shape"), ("tags", "tag"), ("tracks", "track")):
                if kind is not None and kind != name:
                    continue
                for obj in getattr(job, key):
                    if obj["id"] == object_id:
                        found.append((job, name, obj))
        kinds = {k for _, k, _ in found}
        if not found:
            raise KeyError(f"no annotation object with id {object_id}")
        if len(kinds) > 1:
            raise ValueError(f"id {object_id} is used by several kinds {sorted(kinds)}; pass kind=")
        return found[0]

    def _save(self, task: Task, job: Job, action: str, *, shapes: list[Obj] | None = None,
              tags: list[Obj] | None = None, tracks: list[Obj] | None = None) -> Obj:
        payload = {"shapes": shapes or [], "tags": tags or [], "tracks": tracks or []}
        self.state.actor = self.user.id  # the sender of the webhook events this save causes
        try:
            data = validate_payload(payload, action)
            return job_write(self.state, task, job, data, action)
        except ApiError as exc:
            raise ValueError(f"CVAT refused the change: {exc.body}") from None

    # -- reading --------------------------------------------------------------------------

    def shapes(self, task_id: int) -> list[Obj]:
        with self.state.lock:
            return task_read(self.state, self._task(task_id))["shapes"]

    def tags(self, task_id: int) -> list[Obj]:
        with self.state.lock:
            return task_read(self.state, self._task(task_id))["tags"]

    def tracks(self, task_id: int) -> list[Obj]:
        with self.state.lock:
            return task_read(self.state, self._task(task_id))["tracks"]

    def job_annotations(self, job_id: int) -> Obj:
        with self.state.lock:
            return job_read(self.state, self.state.jobs[job_id])

    # -- drawing ----------------------------------------------------------------------------

    def add_shape(self, task_id: int, frame: int, label: str, type: str, points: list[float], *,
                  attributes: dict[str, Any] | None = None, occluded: bool = False,
                  z_order: int = 0, group: int = 0, rotation: float = 0.0,
                  source: str = "manual", elements: list[Obj] | None = None) -> Obj:
        """Draw a shape; ``elements`` (skeletons) are ``{"label", "points", ...}`` dicts."""
        with self.state.lock:
            task = self._task(task_id)
            lb = self._label(task, label)
            shape: Obj = {"type": type, "frame": frame, "label_id": lb.id, "points": list(points),
                          "attributes": self._attrs(lb, attributes), "occluded": occluded,
                          "z_order": z_order, "group": group, "rotation": rotation,
                          "source": source}
            if elements:
                shape["elements"] = []
                for element in elements:
                    sub = self._label(task, element["label"], lb)
                    shape["elements"].append({
                        "type": "points", "frame": frame, "label_id": sub.id,
                        "points": list(element["points"]),
                        "occluded": bool(element.get("occluded", False)),
                        "outside": bool(element.get("outside", False)),
                        "attributes": self._attrs(sub, element.get("attributes")),
                        "source": source})
            job = self._job_for_frame(task, frame)
            result = self._save(task, job, "create", shapes=[shape])
            stored = next(s for s in job.shapes if s["id"] == result["shapes"][0]["id"])
            return shape_read(self.state, stored)

    def add_tag(self, task_id: int, frame: int, label: str, *,
                attributes: dict[str, Any] | None = None, group: int = 0,
                source: str = "manual") -> Obj:
        with self.state.lock:
            task = self._task(task_id)
            lb = self._label(task, label)
            tag = {"frame": frame, "label_id": lb.id, "attributes": self._attrs(lb, attributes),
                   "group": group, "source": source}
            job = self._job_for_frame(task, frame)
            result = self._save(task, job, "create", tags=[tag])
            stored = next(t for t in job.tags if t["id"] == result["tags"][0]["id"])
            return tag_read(self.state, stored)

    def add_track(self, task_id: int, label: str, shapes: list[Obj], *,
                  attributes: dict[str, Any] | None = None, group: int = 0,
                  source: str = "manual") -> Obj:
        """Draw a track; ``shapes`` are keyframes (``frame``, ``type``, ``points``, ...)."""
        with self.state.lock:
            task = self._task(task_id)
            lb = self._label(task, label)
            keyframes = []
            for shape in sorted(shapes, key=lambda s: s["frame"]):
                keyframes.append({
                    "type": shape["type"], "frame": shape["frame"], "points": list(shape["points"]),
                    "outside": bool(shape.get("outside", False)),
                    "occluded": bool(shape.get("occluded", False)),
                    "z_order": shape.get("z_order", 0), "rotation": shape.get("rotation", 0.0),
                    "attributes": self._attrs(lb, shape.get("attributes"), mutable=True)})
            track = {"frame": keyframes[0]["frame"] if keyframes else 0, "label_id": lb.id,
                     "group": group, "source": source,
                     "attributes": self._attrs(lb, attributes, mutable=False), "shapes": keyframes}
            try:
                data = validate_payload({"tracks": [track]}, "create")
                result = task_write(self.state, task, data, "create")
            except ApiError as exc:
                raise ValueError(f"CVAT refused the change: {exc.body}") from None
            if not result["tracks"]:
                raise ValueError("the track has no frame inside the task")
            first_id = min(t["id"] for t in result["tracks"])
            for job in self.state.task_jobs(task.id):
                for stored in job.tracks:
                    if stored["id"] == first_id:
                        return track_read(self.state, stored)
            raise AssertionError("created track not found")  # pragma: no cover

    # -- editing ----------------------------------------------------------------------------

    def update_shape(self, shape_id: int, *, points: list[float] | None = None,
                     attributes: dict[str, Any] | None = None, occluded: bool | None = None,
                     z_order: int | None = None, rotation: float | None = None,
                     outside: bool | None = None, group: int | None = None,
                     frame: int | None = None) -> Obj:
        """Partial edit of a shape; ``attributes`` are merged by name into the current ones."""
        with self.state.lock:
            job, _, obj = self._find(shape_id, "shape")
            task = self.state.tasks[job.task_id]
            lb = self.state.labels[obj["label_id"]]
            updated = copy.deepcopy(obj)
            if points is not None:
                updated["points"] = list(points)
            changes: dict[str, Any] = {"occluded": occluded, "z_order": z_order,
                                       "rotation": rotation, "outside": outside, "group": group,
                                       "frame": frame}
            for key, value in changes.items():
                if value is not None:
                    updated[key] = value
            if attributes:
                new = {a["spec_id"]: a for a in self._attrs(lb, attributes)}
                merged = [new.pop(a["spec_id"], a) for a in updated["attributes"]]
                updated["attributes"] = merged + list(new.values())
            for element in updated.get("elements", []):
                element["frame"] = updated["frame"]
            self._save(task, job, "update", shapes=[updated])
            stored = next(s for s in job.shapes if s["id"] == shape_id)
            return shape_read(self.state, stored)

    def change_label(self, object_id: int, new_label: str, *, kind: str | None = None) -> Obj:
        """Relabel like CVAT's UI: attributes are cleared (then filled with the new label's
        defaults) unless both labels have the same attribute schema, in which case values are
        carried over by attribute name."""
        with self.state.lock:
            job, found_kind, obj = self._find(object_id, kind)
            task = self.state.tasks[job.task_id]
            old = self.state.labels[obj["label_id"]]
            new = self._label(task, new_label)
            if "skeleton" in (old.type, new.type) and old.type != new.type:
                raise ValueError("skeletons can only be relabelled to skeletons")

            def schema(label: Label) -> list[tuple[str, str, bool, tuple[str, ...]]]:
                return sorted((a.name, a.input_type, a.mutable, tuple(a.values))
                              for a in label.attributes)

            same = schema(old) == schema(new)
            old_names = {a.id: a.name for a in old.attributes}
            new_specs = {a.name: a for a in new.attributes}

            def remap(values: list[Obj], mutable: bool | None) -> list[Obj]:
                if same:
                    return [{"spec_id": new_specs[old_names[v["spec_id"]]].id, "value": v["value"]}
                            for v in values if v["spec_id"] in old_names]
                return [{"spec_id": a.id, "value": a.default_value} for a in new.attributes
                        if mutable is None or a.mutable == mutable]

            updated = copy.deepcopy(obj)
            updated["label_id"] = new.id
            if found_kind == "track":
                updated["attributes"] = remap(updated["attributes"], False)
                for i, shape in enumerate(updated["shapes"]):
                    shape["attributes"] = remap(shape["attributes"], True) if (same or i == 0) else []
                for element in updated.get("elements", []):
                    sub = self._label(task, self.state.labels[element["label_id"]].name, new)
                    element["label_id"] = sub.id
            else:
                updated["attributes"] = remap(updated["attributes"], None)
                for element in updated.get("elements", []):
                    sub = self._label(task, self.state.labels[element["label_id"]].name, new)
                    element["label_id"] = sub.id
            key = {"shape": "shapes", "tag": "tags", "track": "tracks"}[found_kind]
            self._save(task, job, "update", **{key: [updated]})
            stored = next(o for o in getattr(job, key) if o["id"] == object_id)
            if found_kind == "shape":
                return shape_read(self.state, stored)
            if found_kind == "tag":
                return tag_read(self.state, stored)
            return track_read(self.state, stored)

    def delete(self, object_id: int, *, kind: str | None = None) -> None:
        """Delete a shape, tag or track (``kind`` disambiguates equal ids of different kinds)."""
        with self.state.lock:
            job, found_kind, obj = self._find(object_id, kind)
            task = self.state.tasks[job.task_id]
            key = {"shape": "shapes", "tag": "tags", "track": "tracks"}[found_kind]
            self._save(task, job, "delete", **{key: [copy.deepcopy(obj)]})

    def split_track(self, track_id: int, frame: int) -> tuple[int, int]:
        """Split a track at ``frame`` like CVAT's UI.

        The first track keeps the keyframes before ``frame`` and gets an ``outside`` keyframe at
        ``frame``; the second starts at ``frame`` with the interpolated shape (its mutable
        attributes copied from the interpolation) and keeps the later keyframes. Both copy the
        track-level (immutable) attributes; the original track is deleted.
        """
        with self.state.lock:
            job, _, obj = self._find(track_id, "track")
            task = self.state.tasks[job.task_id]
            keyframes = sorted(obj["shapes"], key=lambda s: s["frame"])
            if frame <= keyframes[0]["frame"]:
                raise ValueError("the split frame must be after the first keyframe of the track")
            if not job.start_frame <= frame <= job.stop_frame:
                raise ValueError(f"frame {frame} is outside job {job.id} "
                                 f"({job.start_frame}-{job.stop_frame}) holding the track")
            at = [s for s in interpolated_shapes(copy.deepcopy(obj), frame, frame + 1)
                  if s["frame"] == frame]
            if not at or at[0]["outside"]:
                raise ValueError(f"the track is not visible on frame {frame}")
            current = at[0]

            def plain(shape: Obj, **changes: Any) -> Obj:
                out: Obj = {k: copy.deepcopy(shape[k]) for k in ("type", "frame", "points", "occluded",
                                                            "outside", "z_order", "rotation",
                                                            "attributes") if k in shape}
                out.update(changes)
                return out

            first = [plain(s) for s in keyframes if s["frame"] < frame]
            first.append(plain(current, outside=True, frame=frame))
            second = [plain(current, outside=False, frame=frame)]
            second += [plain(s) for s in keyframes if s["frame"] > frame]

            def track(shapes: list[Obj]) -> Obj:
                return {"frame": shapes[0]["frame"], "label_id": obj["label_id"],
                        "group": obj.get("group", 0), "source": obj.get("source", "manual"),
                        "attributes": copy.deepcopy(obj["attributes"]), "shapes": shapes}

            self._save(task, job, "delete", tracks=[copy.deepcopy(obj)])
            result = self._save(task, job, "create", tracks=[track(first), track(second)])
            return result["tracks"][0]["id"], result["tracks"][1]["id"]

    def merge_tracks(self, track_ids: list[int]) -> int:
        """Merge tracks of one label into one (UI "merge"): keyframes are combined in frame
        order (a visible keyframe wins over another track's ``outside`` one on the same frame),
        a track that ends visible gets an ``outside`` keyframe after its last one unless the
        next track starts there; attributes come from the earliest track."""
        with self.state.lock:
            found = [self._find(tid, "track") for tid in track_ids]
            if len(found) < 2:
                raise ValueError("at least two tracks are needed")
            job, _, _ = found[0]
            task = self.state.tasks[job.task_id]
            objs = sorted((obj for _, _, obj in found),
                          key=lambda t: min(s["frame"] for s in t["shapes"]))
            if len({o["label_id"] for o in objs}) != 1:
                raise ValueError("only tracks with the same label can be merged")
            keyframes: dict[int, Obj] = {}
            starts = {min(s["frame"] for s in o["shapes"]) for o in objs}
            for obj in objs:
                shapes = sorted(obj["shapes"], key=lambda s: s["frame"])
                for shape in shapes:
                    held = keyframes.get(shape["frame"])
                    if held is not None and not held["outside"]:
                        if shape["outside"]:
                            continue  # a visible keyframe beats another track's "outside" end
                        raise ValueError(f"tracks overlap on frame {shape['frame']}")
                    keyframes[shape["frame"]] = {k: copy.deepcopy(shape[k]) for k in (
                        "type", "frame", "points", "occluded", "outside", "z_order", "rotation",
                        "attributes") if k in shape}
                last = shapes[-1]
                end = last["frame"] + 1
                if not last["outside"] and end not in starts and obj is not objs[-1]:
                    keyframes[end] = dict(copy.deepcopy(keyframes[last["frame"]]), frame=end,
                                          outside=True)
            merged = {"frame": min(keyframes), "label_id": objs[0]["label_id"],
                      "group": objs[0].get("group", 0), "source": objs[0].get("source", "manual"),
                      "attributes": copy.deepcopy(objs[0]["attributes"]),
                      "shapes": [keyframes[f] for f in sorted(keyframes)]}
            for job_i, _, obj in found:
                self._save(task, job_i, "delete", tracks=[copy.deepcopy(obj)])
            result = self._save(task, job, "create", tracks=[merged])
            return int(result["tracks"][0]["id"])

    # -- workflow -----------------------------------------------------------------------------

    def set_job_state(self, job_id: int, stage: str | None = None,
                      state: str | None = None) -> Obj:
        """Change a job's stage/state like the UI (status follows CVAT's rules)."""
        with self.state.lock:
            job = self.state.jobs.get(job_id)
            if job is None:
                raise KeyError(f"no such job: {job_id}")
            if stage is not None and stage not in STAGES:
                raise ValueError(f"invalid stage {stage!r}")
            if state is not None and state not in STATES:
                raise ValueError(f"invalid state {state!r}")
            new_stage = stage or job.stage
            new_state = state or ("new" if new_stage != job.stage else job.state)
            before = job_fields(job)
            job.status = derive_status(new_stage, new_state)
            job.stage, job.state = new_stage, new_state
            job.updated = self.state.now()
            self.state.actor = self.user.id
            self.state.emit("update", "job", job, changed_fields(before, job_fields(job)))
            return {"id": job.id, "stage": job.stage, "state": job.state, "status": job.status}
