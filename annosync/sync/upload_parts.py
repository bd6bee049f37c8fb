"""A new task's labels sent in parts, the server storing one part while the client reads the last.

Why: one ``PUT`` of a big task keeps the client idle while the server validates and stores it,
then the server idle while the client converts the answer back (ids, base digests), and its body
grows without bound. Sent in parts, the two overlap: a worker thread sends part k+1 while
the caller converts the answer to part k, and progress moves per part. CVAT's limits are kept:
one request at a time, in frame order, on the task.

The first part goes as ``PUT /api/tasks/{id}/annotations`` (it replaces whatever the task holds,
so a resumed upload starts from a clean task exactly as a single PUT did), the others as
``PATCH ...?action=create``, whose answer echoes the created objects with their ids
(recordings2/08_annotations.json: task-level ``action=create`` answers with the new shapes and
tags; an object on a frame outside the task is dropped silently, which cannot happen here: parts
are cut from the task's own frames). A PATCH is not repeated after a dropped connection (it is
not idempotent); the upload then fails and the next run starts again with the PUT.

Only image tasks without tracks are split (a track spans frames; a video task is one sample).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from annosync.convert.results import SentObject, Upload
from annosync.cvat import CvatClient
from annosync.model.cvat import LabeledData
from annosync.sync.pool import Pool

__all__ = ["Part", "send_parts", "split_upload"]

#: Objects per request when a task's labels are sent in parts. Measured on a 10,000-box task
#: against the emulator sharing a loaded 2-core machine (docs/benchmarks.md), parts of 2,000
#: cost 0.15-0.3 s more client CPU than one PUT and gained no wall time: only tasks above this
#: many objects are split, where one request body would pass ~6 MB of JSON.
PART_OBJECTS = 20_000


@dataclass(frozen=True)
class Part:
    """Objects of the task frames ``start <= frame < stop`` (``covered``)."""

    upload: Upload
    start: int
    stop: int

    @property
    def covered(self) -> range:
        return range(self.start, self.stop)


def split_upload(upload: Upload, size: int, limit: int = PART_OBJECTS) -> list[Part] | None:
    """``upload`` (an image task of ``size`` frames) cut at frame boundaries into parts of about
    ``limit`` objects, in frame order; None when it is not to be split (tracks, an object
    without a frame, a label id on two frames, or too few objects for two parts)."""
    data = upload.data
    if data.tracks or upload.tracks or len(data.tags) + len(data.shapes) <= limit:
        return None
    per_frame = [0] * size
    frame_of: dict[str, int] = {}
    for group in (upload.tags, upload.shapes):
        for sent in group:
            if not sent.frames or not 0 <= sent.frames[0] < size:
                return None
            frame = sent.frames[0]
            per_frame[frame] += 1
            for lid in sent.label_ids:
                # a label id on two frames (a copy-pasted id): the conversion back tells such
                # labels apart across the whole task, so the task goes as one
                if frame_of.setdefault(lid, frame) != frame:
                    return None
    bounds: list[tuple[int, int]] = []
    start = count = 0
    for frame, n in enumerate(per_frame):
        count += n
        if count >= limit:
            bounds.append((start, frame + 1))
            start, count = frame + 1, 0
    if start < size:
        bounds.append((start, size))
    if len(bounds) < 2:
        return None
    part_of = [0] * size
    for i, (lo, hi) in enumerate(bounds):
        for frame in range(lo, hi):
            part_of[frame] = i
    tags: list[list[tuple]] = [[] for _ in bounds]
    shapes: list[list[tuple]] = [[] for _ in bounds]
    for out, objects, sent_list in ((tags, data.tags, upload.tags),
                                    (shapes, data.shapes, upload.shapes)):
        for obj, sent in zip(objects, sent_list, strict=True):
            out[part_of[sent.frames[0]]].append((obj, sent))
    parts = []
    for i, (lo, hi) in enumerate(bounds):
        part = Upload.model_construct(
            data=LabeledData.model_construct(
                version=data.version, tags=[o for o, _ in tags[i]],
                shapes=[o for o, _ in shapes[i]], tracks=[]),
            tags=_sent(tags[i]), shapes=_sent(shapes[i]), tracks=[], notes=[])
        parts.append(Part(part, lo, hi))
    return parts


def _sent(pairs: list[tuple]) -> list[SentObject]:
    return [s for _, s in pairs]


def send_parts(client: CvatClient, task_id: int, parts: list[Part],
               consume: Callable[[Part, LabeledData], None]) -> None:
    """Send ``parts`` in order (PUT, then PATCH create) from one worker thread, calling
    ``consume(part, answer)`` in this thread as answers arrive. On any error the parts not yet
    sent are dropped and the error propagates (the request in flight finishes first)."""

    def send(index: int, part: Part) -> LabeledData:
        body = part.upload.data.to_api()
        if index == 0:
            raw = client.put_annotations(body, task_id=task_id)
        else:
            raw = client.patch_annotations("create", body, task_id=task_id)
        return LabeledData.model_validate(raw)

    with Pool(max_workers=1) as pool:
        futures = [pool.submit(send, i, p) for i, p in enumerate(parts)]
        for part, future in zip(parts, futures, strict=True):
            consume(part, future.result())
