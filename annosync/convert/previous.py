"""What labels looked like before CVAT: ids of interpolated video frames, track indexes, and what
a CVAT shape cannot carry (missing keypoints).

Why: CVAT stores only a track's keyframes, so an interpolated frame has no ``label_id`` of its
own, and a re-pulled track would get new ids on every frame but the keyframes; the label at the
same (field, track index, frame) before the round trip keeps its id. Likewise CVAT's ``points``
shape has no "missing point": annosync uploads the present points and restores the gaps from the
label the shape's ``label_id`` names, when its point count still matches.

Build it from the samples as uploaded (the run's base) or as they are locally; it keeps only
small facts per label, streaming over the samples once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from annosync.model.labels import Keypoint, label_objects
from annosync.model.sample import Sample


@dataclass(frozen=True)
class PreviousLabel:
    field: str
    frame: int | None
    index: int | None
    #: Keypoints: positions of missing (None) points, and the total number of points.
    missing: tuple[int, ...] = ()
    points: int = 0


class PreviousLabels:
    """Lookups by label id, and by (field, track index, frame) for video frame labels."""

    def __init__(self) -> None:
        self._by_id: dict[str, PreviousLabel] = {}
        self._by_track: dict[tuple[str, int, int], str] = {}
        self._max_index: dict[str, int] = {}

    def add(self, field: str, frame: int | None, obj: object) -> None:
        """Record one label object of ``field`` (``frame``: the video frame number, or None)."""
        label_id = getattr(obj, "id", None)
        if not isinstance(label_id, str):
            return
        index = getattr(obj, "index", None)
        missing: tuple[int, ...] = ()
        points = 0
        if isinstance(obj, Keypoint):
            missing = tuple(i for i, p in enumerate(obj.points) if p is None)
            points = len(obj.points)
        self._by_id.setdefault(label_id, PreviousLabel(field, frame, index, missing, points))
        if index is not None:
            if frame is not None:
                self._by_track.setdefault((field, index, frame), label_id)
            self._max_index[field] = max(self._max_index.get(field, index), index)

    def add_sample(self, sample: Sample, fields: Iterable[str]) -> None:
        for path in fields:
            if path.startswith("frames."):
                name = path[len("frames."):]
                for number, frame in sorted(sample.frames.items()):
                    for obj in label_objects(frame.get(name)):
                        self.add(path, number, obj)
            else:
                for obj in label_objects(sample.fields.get(path)):
                    self.add(path, None, obj)

    @classmethod
    def from_samples(cls, samples: Iterable[Sample], fields: Iterable[str]) -> PreviousLabels:
        out = cls()
        paths = list(fields)
        for sample in samples:
            out.add_sample(sample, paths)
        return out

    def info(self, label_id: str) -> PreviousLabel | None:
        return self._by_id.get(label_id)

    def id_at(self, field: str, index: int, frame: int) -> str | None:
        """The id of the track ``index``'s label on video frame ``frame`` of ``field``."""
        return self._by_track.get((field, index, frame))

    def max_index(self, field: str) -> int | None:
        return self._max_index.get(field)
