"""Acting as a person in CVAT's UI over HTTP: the in-process annotator's twin for real servers.

Why a module: the end-to-end tests need a "human" changing annotations between runs, on the
emulator and on a real CVAT alike. :class:`HttpAnnotator` has the methods and semantics of
``annosync.emulator.annotator.Annotator`` (the contract), but every read and write goes through
the REST API with :class:`annosync.cvat.CvatClient`:

* reads are ``GET /api/tasks/{id}/annotations`` and ``GET /api/jobs/{id}/annotations``;
* each edit of a shape or tag is one job-level ``PATCH /api/jobs/{id}/annotations?action=...``
  as the UI saves it (``recordings2/08_annotations.json``: create without ids, update with the
  full objects, delete by id); a split or a merge is a delete then a create, as in the UI;
* a new track is a task-level ``PATCH /api/tasks/{id}/annotations?action=create`` (CVAT slices
  it per job), as the in-process annotator does, since a track may span jobs;
* a relabel clears the attributes (``label_id`` included) and fills the new label's defaults
  when the attribute schemas differ, and carries values by name when they are the same, like
  CVAT's UI (the reference's "CVAT limitations").

Objects are found by id in the jobs of the tasks this annotator has seen (read from or drawn
in) first, then in every job the user can see, in job id order like the in-process annotator.
Labels and jobs are read afresh on every call (a run may change a project's labels).
"""

from __future__ import annotations

import copy
from typing import Any

from annosync.cvat import CvatBadRequest, CvatClient, CvatNotFound
from annosync.emulator.tracks import interpolated_shapes

Obj = dict[str, Any]
KEYS = (("shapes", "shape"), ("tags", "tag"), ("tracks", "track"))
STAGES = ("annotation", "validation", "acceptance")
STATES = ("new", "in progress", "rejected", "completed")


class HttpAnnotator:
    """Annotation work done by the user ``client`` is logged in as."""

    def __init__(self, client: CvatClient) -> None:
        self.client = client
        self._seen: set[int] = set()

    # -- helpers -----------------------------------------------------------------------------

    def _labels(self, task_id: int) -> list[Obj]:
        """The task's top-level labels (its own or its project's), sublabels nested."""
        try:
            labels = self.client.get_labels(task_id=task_id)
        except CvatNotFound:
            raise KeyError(f"no such task: {task_id}") from None
        self._seen.add(task_id)
        return sorted(labels, key=lambda lb: int(lb["id"]))

    @staticmethod
    def _label(labels: list[Obj], name: str, parent: Obj | None = None,
               task_id: int | None = None) -> Obj:
        pool = parent.get("sublabels", []) if parent is not None else labels
        for label in sorted(pool, key=lambda lb: int(lb["id"])):
            if label["name"] == name:
                return label
        raise KeyError(f"task {task_id} has no label {name!r}")

    @staticmethod
    def _by_id(labels: list[Obj], label_id: int) -> Obj:
        for label in labels:
            if label["id"] == label_id:
                return label
            for sub in label.get("sublabels", []):
                if sub["id"] == label_id:
                    return sub
        raise KeyError(f"no label with id {label_id}")

    @staticmethod
    def _value(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def _attrs(self, label: Obj, values: dict[str, Any] | None, *,
               mutable: bool | None = None) -> list[Obj]:
        out = []
        by_name = {a["name"]: a for a in label.get("attributes", [])}
        for name, value in (values or {}).items():
            spec = by_name.get(name)
            if spec is None:
                raise KeyError(f"label {label['name']!r} has no attribute {name!r}")
            if mutable is not None and bool(spec["mutable"]) != mutable:
                continue
            out.append({"spec_id": spec["id"], "value": self._value(value)})
        return out

    def _jobs(self, task_id: int) -> list[Obj]:
        return sorted(self.client.list_jobs(task_id=task_id), key=lambda j: int(j["id"]))

    def _job_for_frame(self, task_id: int, frame: int) -> Obj:
        for job in self._jobs(task_id):
            if int(job["start_frame"]) <= frame <= int(job["stop_frame"]):
                return job
        raise ValueError(f"frame {frame} is not in task {task_id}")

    def _find(self, object_id: int, kind: str | None = None) -> tuple[Obj, str, Obj]:
        """(job, kind, object as the job's GET shows it), like the in-process ``_find``."""
        seen_jobs: list[Obj] = []
        for task_id in sorted(self._seen):
            try:
                seen_jobs += self._jobs(task_id)
            except CvatNotFound:  # pragma: no cover - deleted meanwhile
                continue
        found = self._find_in(sorted(seen_jobs, key=lambda j: int(j["id"])), object_id, kind)
        if not found:
            everything = sorted(self.client.list_jobs(), key=lambda j: int(j["id"]))
            known = {int(j["id"]) for j in seen_jobs}
            found = self._find_in([j for j in everything if int(j["id"]) not in known],
                                  object_id, kind)
        kinds = {k for _, k, _ in found}
        if not found:
            raise KeyError(f"no annotation object with id {object_id}")
        if len(kinds) > 1:
            raise ValueError(f"id {object_id} is used by several kinds {sorted(kinds)}; pass kind=")
        return found[0]

    def _find_in(self, jobs: list[Obj], object_id: int, kind: str | None
                 ) -> list[tuple[Obj, str, Obj]]:
        found = []
        for job in jobs:
            data = self.client.get_annotations(job_id=int(job["id"]))
            for key, name in KEYS:
                if kind is not None and kind != name:
                    continue
                for obj in data[key]:
                    if obj["id"] == object_id:
                        found.append((job, name, obj))
        return found

    def _save(self, job: Obj, action: str, *, shapes: list[Obj] | None = None,
              tags: list[Obj] | None = None, tracks: list[Obj] | None = None) -> Obj:
        payload = {"shapes": shapes or [], "tags": tags or [], "tracks": tracks or []}
        try:
            return self.client.patch_annotations(action, payload, job_id=int(job["id"]))
        except CvatBadRequest as exc:
            raise ValueError(f"CVAT refused the change: {exc.body}") from None

    def _stored(self, job: Obj, key: str, object_id: int) -> Obj:
        """The object as ``GET /api/jobs/{id}/annotations`` shows it after a save."""
        data = self.client.get_annotations(job_id=int(job["id"]))
        return next(o for o in data[key] if o["id"] == object_id)

    # -- reading --------------------------------------------------------------------------

    def _task_annotations(self, task_id: int) -> Obj:
        try:
            data = self.client.get_annotations(task_id=task_id)
        except CvatNotFound:
            raise KeyError(f"no such task: {task_id}") from None
        self._seen.add(task_id)
        return data

    def shapes(self, task_id: int) -> list[Obj]:
        return list(self._task_annotations(task_id)["shapes"])

    def tags(self, task_id: int) -> list[Obj]:
        return list(self._task_annotations(task_id)["tags"])

    def tracks(self, task_id: int) -> list[Obj]:
        return list(self._task_annotations(task_id)["tracks"])

    def job_annotations(self, job_id: int) -> Obj:
        try:
            return self.client.get_annotations(job_id=job_id)
        except CvatNotFound:
            raise KeyError(job_id) from None

    # -- drawing ----------------------------------------------------------------------------

    def add_shape(self, task_id: int, frame: int, label: str, type: str, points: list[float], *,
                  attributes: dict[str, Any] | None = None, occluded: bool = False,
                  z_order: int = 0, group: int = 0, rotation: float = 0.0,
                  source: str = "manual", elements: list[Obj] | None = None) -> Obj:
        """Draw a shape; ``elements`` (skeletons) are ``{"label", "points", ...}`` dicts."""
        labels = self._labels(task_id)
        lb = self._label(labels, label, task_id=task_id)
        shape: Obj = {"type": type, "frame": frame, "label_id": lb["id"], "points": list(points),
                      "attributes": self._attrs(lb, attributes), "occluded": occluded,
                      "z_order": z_order, "group": group, "rotation": rotation, "source": source}
        if elements:
            shape["elements"] = []
            for element in elements:
                sub = self._label(labels, element["label"], lb, task_id)
                shape["elements"].append({
                    "type": "points", "frame": frame, "label_id": sub["id"],
                    "points": list(element["points"]),
                    "occluded": bool(element.get("occluded", False)),
                    "outside": bool(element.get("outside", False)),
                    "attributes": self._attrs(sub, element.get("attributes")),
                    "source": source})
        job = self._job_for_frame(task_id, frame)
        result = self._save(job, "create", shapes=[shape])
        return self._stored(job, "shapes", result["shapes"][0]["id"])

    def add_tag(self, task_id: int, frame: int, label: str, *,
                attributes: dict[str, Any] | None = None, group: int = 0,
                source: str = "manual") -> Obj:
        lb = self._label(self._labels(task_id), label, task_id=task_id)
        tag = {"frame": frame, "label_id": lb["id"], "attributes": self._attrs(lb, attributes),
               "group": group, "source": source}
        job = self._job_for_frame(task_id, frame)
        result = self._save(job, "create", tags=[tag])
        return self._stored(job, "tags", result["tags"][0]["id"])

    def add_track(self, task_id: int, label: str, shapes: list[Obj], *,
                  attributes: dict[str, Any] | None = None, group: int = 0,
                  source: str = "manual") -> Obj:
        """Draw a track; ``shapes`` are keyframes (``frame``, ``type``, ``points``, ...)."""
        lb = self._label(self._labels(task_id), label, task_id=task_id)
        keyframes = []
        for shape in sorted(shapes, key=lambda s: s["frame"]):
            keyframes.append({
                "type": shape["type"], "frame": shape["frame"], "points": list(shape["points"]),
                "outside": bool(shape.get("outside", False)),
                "occluded": bool(shape.get("occluded", False)),
                "z_order": shape.get("z_order", 0), "rotation": shape.get("rotation", 0.0),
                "attributes": self._attrs(lb, shape.get("attributes"), mutable=True)})
        track = {"frame": keyframes[0]["frame"] if keyframes else 0, "label_id": lb["id"],
                 "group": group, "source": source,
                 "attributes": self._attrs(lb, attributes, mutable=False), "shapes": keyframes}
        try:
            result = self.client.patch_annotations(
                "create", {"shapes": [], "tags": [], "tracks": [track]}, task_id=task_id)
        except CvatBadRequest as exc:
            raise ValueError(f"CVAT refused the change: {exc.body}") from None
        if not result["tracks"]:
            raise ValueError("the track has no frame inside the task")
        first_id = min(t["id"] for t in result["tracks"])
        for job in self._jobs(task_id):
            for stored in self.client.get_annotations(job_id=int(job["id"]))["tracks"]:
                if stored["id"] == first_id:
                    return dict(stored)
        raise AssertionError("created track not found")  # pragma: no cover

    # -- editing ----------------------------------------------------------------------------

    def update_shape(self, shape_id: int, *, points: list[float] | None = None,
                     attributes: dict[str, Any] | None = None, occluded: bool | None = None,
                     z_order: int | None = None, rotation: float | None = None,
                     outside: bool | None = None, group: int | None = None,
                     frame: int | None = None) -> Obj:
        """Partial edit of a shape; ``attributes`` are merged by name into the current ones."""
        job, _, obj = self._find(shape_id, "shape")
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
            lb = self._by_id(self._labels(int(job["task_id"])), obj["label_id"])
            new = {a["spec_id"]: a for a in self._attrs(lb, attributes)}
            merged = [new.pop(a["spec_id"], a) for a in updated["attributes"]]
            updated["attributes"] = merged + list(new.values())
        for element in updated.get("elements", []):
            element["frame"] = updated["frame"]
        self._save(job, "update", shapes=[updated])
        return self._stored(job, "shapes", shape_id)

    def change_label(self, object_id: int, new_label: str, *, kind: str | None = None) -> Obj:
        """Relabel like CVAT's UI: attributes are cleared (then filled with the new label's
        defaults) unless both labels have the same attribute schema, in which case values are
        carried over by attribute name."""
        job, found_kind, obj = self._find(object_id, kind)
        task_id = int(job["task_id"])
        labels = self._labels(task_id)
        old = self._by_id(labels, obj["label_id"])
        new = self._label(labels, new_label, task_id=task_id)
        if "skeleton" in (old["type"], new["type"]) and old["type"] != new["type"]:
            raise ValueError("skeletons can only be relabelled to skeletons")

        def schema(label: Obj) -> list[tuple[str, str, bool, tuple[str, ...]]]:
            return sorted((a["name"], a["input_type"], bool(a["mutable"]), tuple(a["values"]))
                          for a in label.get("attributes", []))

        same = schema(old) == schema(new)
        old_names = {a["id"]: a["name"] for a in old.get("attributes", [])}
        new_specs = {a["name"]: a for a in new.get("attributes", [])}

        def remap(values: list[Obj], mutable: bool | None) -> list[Obj]:
            if same:
                return [{"spec_id": new_specs[old_names[v["spec_id"]]]["id"], "value": v["value"]}
                        for v in values if v["spec_id"] in old_names]
            return [{"spec_id": a["id"], "value": a["default_value"]}
                    for a in new.get("attributes", [])
                    if mutable is None or bool(a["mutable"]) == mutable]

        def relabel_elements(updated: Obj) -> None:
            for element in updated.get("elements", []):
                name = self._by_id(labels, element["label_id"])["name"]
                element["label_id"] = self._label(labels, name, new, task_id)["id"]

        updated = copy.deepcopy(obj)
        updated["label_id"] = new["id"]
        if found_kind == "track":
            updated["attributes"] = remap(updated["attributes"], False)
            for i, shape in enumerate(updated["shapes"]):
                shape["attributes"] = remap(shape["attributes"], True) if (same or i == 0) else []
        else:
            updated["attributes"] = remap(updated["attributes"], None)
        relabel_elements(updated)
        key = {"shape": "shapes", "tag": "tags", "track": "tracks"}[found_kind]
        self._save(job, "update", **{key: [updated]})
        return self._stored(job, key, object_id)

    def delete(self, object_id: int, *, kind: str | None = None) -> None:
        """Delete a shape, tag or track (``kind`` disambiguates equal ids of different kinds)."""
        job, found_kind, obj = self._find(object_id, kind)
        key = {"shape": "shapes", "tag": "tags", "track": "tracks"}[found_kind]
        self._save(job, "delete", **{key: [copy.deepcopy(obj)]})

    def split_track(self, track_id: int, frame: int) -> tuple[int, int]:
        """Split a track at ``frame`` like CVAT's UI (see the in-process annotator)."""
        job, _, obj = self._find(track_id, "track")
        keyframes = sorted(obj["shapes"], key=lambda s: s["frame"])
        if frame <= keyframes[0]["frame"]:
            raise ValueError("the split frame must be after the first keyframe of the track")
        start, stop = int(job["start_frame"]), int(job["stop_frame"])
        if not start <= frame <= stop:
            raise ValueError(f"frame {frame} is outside job {job['id']} ({start}-{stop}) "
                             "holding the track")
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

        self._save(job, "delete", tracks=[copy.deepcopy(obj)])
        result = self._save(job, "create", tracks=[track(first), track(second)])
        return result["tracks"][0]["id"], result["tracks"][1]["id"]

    def merge_tracks(self, track_ids: list[int]) -> int:
        """Merge tracks of one label into one (UI "merge"), see the in-process annotator."""
        found = [self._find(tid, "track") for tid in track_ids]
        if len(found) < 2:
            raise ValueError("at least two tracks are needed")
        job, _, _ = found[0]
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
            self._save(job_i, "delete", tracks=[copy.deepcopy(obj)])
        result = self._save(job, "create", tracks=[merged])
        return int(result["tracks"][0]["id"])

    # -- workflow -----------------------------------------------------------------------------

    def set_job_state(self, job_id: int, stage: str | None = None,
                      state: str | None = None) -> Obj:
        """Change a job's stage/state like the UI (``PATCH /api/jobs/{id}``; CVAT resets the
        state to "new" on a stage change and derives the status)."""
        try:
            self.client.get_job(job_id)
        except CvatNotFound:
            raise KeyError(f"no such job: {job_id}") from None
        if stage is not None and stage not in STAGES:
            raise ValueError(f"invalid stage {stage!r}")
        if state is not None and state not in STATES:
            raise ValueError(f"invalid state {state!r}")
        fields = {k: v for k, v in (("stage", stage), ("state", state)) if v is not None}
        job = self.client.update_job(job_id, **fields)
        return {"id": job["id"], "stage": job["stage"], "state": job["state"],
                "status": job["status"]}
