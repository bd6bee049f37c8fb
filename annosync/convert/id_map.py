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


_KINDS = ("tag", "shape", "track")
_SLOTS = ("kind", "cvat_id", "field", "label_id", "index", "part", "frame")


class IdEntry:
    """One CVAT object (or one keyframe of a track) and the label it holds.

    A plain class with slots, not a pydantic model: a run holds one per label (as pydantic
    objects they took ~1.4 KB each, most of a loaded shard's memory; now ~0.2 KB). Validation
    happens where entries are read from a file, through ``__get_pydantic_core_schema__``
    (``extra="forbid"``, the same types and defaults as the model it replaces), and they
    serialize to the same JSON (``exclude_none``: ``label_id``, ``index`` and ``frame`` only
    when set). Never changed in place (the run record's save relies on it, ``record._Written``).
    """

    __slots__ = _SLOTS

    kind: ObjectKind
    cvat_id: int
    field: str
    label_id: str | None
    index: int | None
    part: int
    #: tracks: the keyframe's task frame
    frame: int | None

    def __init__(self, kind: str, cvat_id: int, field: str, label_id: str | None = None,
                 index: int | None = None, part: int = 0, frame: int | None = None) -> None:
        # ``str``: as the pydantic model took it (callers pass a kind held in a ``str``)
        self.kind = kind  # type: ignore[assignment]
        self.cvat_id = cvat_id
        self.field = field
        self.label_id = label_id
        self.index = index
        self.part = part
        self.frame = frame

    def _values(self) -> tuple[Any, ...]:
        return (self.kind, self.cvat_id, self.field, self.label_id, self.index, self.part,
                self.frame)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IdEntry):
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # like the model it replaces

    def __repr__(self) -> str:
        return "IdEntry(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in _SLOTS) + ")"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "cvat_id": self.cvat_id, "field": self.field}
        if self.label_id is not None:
            out["label_id"] = self.label_id
        if self.index is not None:
            out["index"] = self.index
        out["part"] = self.part
        if self.frame is not None:
            out["frame"] = self.frame
        return out

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema as cs

        def opt(schema: Any) -> Any:
            return cs.typed_dict_field(cs.with_default_schema(cs.nullable_schema(schema),
                                                              default=None), required=False)

        fields = cs.typed_dict_schema(
            {"kind": cs.typed_dict_field(cs.literal_schema(list(_KINDS))),
             "cvat_id": cs.typed_dict_field(cs.int_schema()),
             "field": cs.typed_dict_field(cs.str_schema()),
             "label_id": opt(cs.str_schema()),
             "index": opt(cs.int_schema()),
             "part": cs.typed_dict_field(cs.with_default_schema(cs.int_schema(), default=0),
                                         required=False),
             "frame": opt(cs.int_schema())},
            extra_behavior="forbid")
        from_dict = cs.no_info_after_validator_function(lambda d: cls(**d), fields)
        return cs.json_or_python_schema(
            json_schema=from_dict,
            # an entry as it is, else a dict validated (errors located as the model's were)
            python_schema=cs.no_info_wrap_validator_function(
                lambda v, inner: v if isinstance(v, cls) else inner(v), from_dict),
            serialization=cs.plain_serializer_function_ser_schema(lambda e: e.to_json()),
        )


class TaskIdMap(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    task_id: int
    entries: list[IdEntry] = Field(default_factory=list)
    #: kind -> CVAT id -> entry (tags, shapes); (track id, frame) -> label id; track id ->
    #: entry: built on first lookup (a shard loaded only to be saved again never needs them)
    _objects: dict[str, dict[int, IdEntry]] | None = PrivateAttr(default=None)
    _keys: dict[tuple[int, int], str] | None = PrivateAttr(default=None)
    _tracks: dict[int, IdEntry] | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        """Equal content (whether or not the lookup tables are built yet)."""
        if not isinstance(other, TaskIdMap):
            return NotImplemented
        return self.task_id == other.task_id and self.entries == other.entries

    __hash__ = None  # type: ignore[assignment]

    def _index(self) -> None:
        objects: dict[str, dict[int, IdEntry]] = {"tag": {}, "shape": {}}
        keys: dict[tuple[int, int], str] = {}
        tracks: dict[int, IdEntry] = {}
        for e in self.entries:
            if e.kind == "track":
                if e.frame is None:
                    tracks[e.cvat_id] = e
                elif e.label_id is not None:
                    keys[(e.cvat_id, e.frame)] = e.label_id
            else:
                objects[e.kind][e.cvat_id] = e
        self._objects, self._keys, self._tracks = objects, keys, tracks

    def label_for(self, kind: ObjectKind, cvat_id: int | None) -> str | None:
        """The label id of a tag or shape."""
        if cvat_id is None:
            return None
        if self._objects is None:
            self._index()
        assert self._objects is not None
        entry = self._objects.get(kind, {}).get(cvat_id)
        return entry.label_id if entry else None

    def track(self, cvat_id: int | None) -> IdEntry | None:
        """(field, index, part) of a track."""
        if cvat_id is None:
            return None
        if self._tracks is None:
            self._index()
        assert self._tracks is not None
        return self._tracks.get(cvat_id)

    def keyframe_label(self, track_id: int | None, frame: int) -> str | None:
        """The label id of a track's keyframe on a task frame."""
        if track_id is None:
            return None
        if self._keys is None:
            self._index()
        assert self._keys is not None
        return self._keys.get((track_id, frame))

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
