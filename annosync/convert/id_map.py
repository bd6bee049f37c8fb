"""label id <-> CVAT id, per task: the second source of provenance after the ``label_id`` attribute.

Why: annotators (and CVAT itself, when a class changes to one with other attributes, or a track
is split or merged) clear or duplicate ``label_id``. The reference keeps a map from CVAT's ids to
label ids, but overwrites it per batch, so all tasks but the last lose it; here the map is one
``TaskIdMap`` per task, gathered in a ``RunIdMap`` that survives any number of tasks.

The map alone lives here (a run record holds it; loading one needs nothing else);
``id_match.build_id_map`` builds it from an upload and the server's answer.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

#: What a CVAT object is: a tag, a shape or a track.
ObjectKind = Literal["tag", "shape", "track"]


class IdEntry(BaseModel):
    """One CVAT object (or one keyframe of a track) and the label it holds."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    kind: ObjectKind
    cvat_id: int
    field: str
    label_id: str | None = None
    index: int | None = None
    part: int = 0
    frame: int | None = Field(default=None, description="tracks: the keyframe's task frame")


class TaskIdMap(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    task_id: int
    entries: list[IdEntry] = Field(default_factory=list)
    _objects: dict[tuple[str, int], IdEntry] = PrivateAttr(default_factory=dict)
    _keys: dict[tuple[int, int], str] = PrivateAttr(default_factory=dict)
    _tracks: dict[int, IdEntry] = PrivateAttr(default_factory=dict)

    def model_post_init(self, __context: Any) -> None:
        self._index()

    def _index(self) -> None:
        self._objects.clear()
        self._keys.clear()
        self._tracks.clear()
        for e in self.entries:
            if e.kind == "track":
                if e.frame is None:
                    self._tracks[e.cvat_id] = e
                elif e.label_id is not None:
                    self._keys[(e.cvat_id, e.frame)] = e.label_id
            else:
                self._objects[(e.kind, e.cvat_id)] = e

    def label_for(self, kind: ObjectKind, cvat_id: int | None) -> str | None:
        """The label id of a tag or shape."""
        if cvat_id is None:
            return None
        entry = self._objects.get((kind, cvat_id))
        return entry.label_id if entry else None

    def track(self, cvat_id: int | None) -> IdEntry | None:
        """(field, index, part) of a track."""
        return self._tracks.get(cvat_id) if cvat_id is not None else None

    def keyframe_label(self, track_id: int | None, frame: int) -> str | None:
        """The label id of a track's keyframe on a task frame."""
        return self._keys.get((track_id, frame)) if track_id is not None else None

    def merged(self, newer: TaskIdMap) -> TaskIdMap:
        """This map updated with ``newer``'s entries (same CVAT object: the newer entry wins)."""
        def key(e: IdEntry) -> tuple[str, int, int | None]:
            return (e.kind, e.cvat_id, e.frame)

        table = {key(e): e for e in self.entries}
        table.update({key(e): e for e in newer.entries})
        return TaskIdMap(task_id=self.task_id, entries=[table[k] for k in sorted(
            table, key=lambda k: (k[0], k[1], -1 if k[2] is None else k[2]))])


class RunIdMap(BaseModel):
    """One ``TaskIdMap`` per task of a run."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    tasks: dict[int, TaskIdMap] = Field(default_factory=dict)

    def for_task(self, task_id: int) -> TaskIdMap:
        return self.tasks.get(task_id) or TaskIdMap(task_id=task_id)

    def update(self, task_map: TaskIdMap) -> None:
        old = self.tasks.get(task_map.task_id)
        self.tasks[task_map.task_id] = old.merged(task_map) if old else task_map
