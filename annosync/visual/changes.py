"""What changed in one sample, label by label, for drawing: pure, no I/O.

Why a module: ``plan --render`` (the merge a sync would make) and ``diff --render`` (two
versions of the label files: a git revision, or the state before the last pull) describe changes
the same way, so one drawing and one gallery serve both. A :class:`SampleDiff` holds the sample
before and after and one :class:`LabelChange` per changed label, with who changed it (the CVAT
job and its assignee) where the run record knows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from annosync.model.labels import label_objects
from annosync.model.sample import Sample
from annosync.sync.record import RunRecord

Kind = Literal["added", "edited", "deleted", "conflict"]
KINDS: tuple[Kind, ...] = ("added", "edited", "deleted", "conflict")


@dataclass(frozen=True)
class LabelChange:
    field: str
    label_id: str
    kind: Kind
    label: str = ""  # the class name (before's for a deletion)
    frame: int | None = None
    aspects: tuple[str, ...] = ()
    by: str = ""  # "CVAT" (pulled) or "local" (to push); "" for a plain diff
    who: str = ""  # "job 12 (alice)"

    def describe(self) -> str:
        where = f" frame {self.frame}" if self.frame is not None else ""
        text = f"{self.kind} {self.label or '?'} [{self.field}{where}]"
        if self.aspects:
            text += f" {', '.join(self.aspects)}"
        if self.by:
            text += f" by {self.by}"
        if self.who:
            text += f", {self.who}"
        return text


@dataclass
class SampleDiff:
    key: str
    before: Sample | None
    after: Sample | None
    changes: list[LabelChange] = field(default_factory=list)

    @property
    def kinds(self) -> list[str]:
        return [k for k in KINDS if any(c.kind == k for c in self.changes)]

    @property
    def labels(self) -> list[str]:
        return sorted({c.label for c in self.changes if c.label})

    @property
    def frames(self) -> list[int]:
        return sorted({c.frame for c in self.changes if c.frame is not None})

    @property
    def sample(self) -> Sample | None:
        return self.after or self.before


def iter_labels(sample: Sample | None) -> Iterator[tuple[str, int | None, Any]]:
    """(field, frame, label object) of every label of a sample (frame fields too)."""
    if sample is None:
        return
    for name, value in sample.fields.items():
        for obj in label_objects(value):
            yield name, None, obj
    for number, fields in sorted(sample.frames.items()):
        for name, value in fields.items():
            for obj in label_objects(value):
                yield f"frames.{name}", number, obj


def class_of(obj: Any) -> str:
    return str(getattr(obj, "label", None) or getattr(obj, "type", "") or "")


def aspects_of(before: Any, after: Any) -> tuple[str, ...]:
    """What differs between two versions of a label: label, spatial, attr:<name>, ..."""
    a = before.model_dump(mode="json", by_alias=True)
    b = after.model_dump(mode="json", by_alias=True)
    out: list[str] = []
    for key in sorted(set(a) | set(b)):
        if key in ("_id", "_type") or a.get(key) == b.get(key):
            continue
        if key == "attributes":
            attrs_a, attrs_b = a.get(key) or {}, b.get(key) or {}
            out += [f"attr:{n}" for n in sorted(set(attrs_a) | set(attrs_b))
                    if attrs_a.get(n) != attrs_b.get(n)]
        elif key in ("bounding_box", "points", "mask", "mask_path", "rotation", "closed",
                     "filled"):
            if "spatial" not in out:
                out.append("spatial")
        else:
            out.append(key)
    return tuple(out)


def diff_samples(key: str, before: Sample | None, after: Sample | None,
                 record: RunRecord | None = None) -> SampleDiff:
    """Label-by-label comparison of two versions of a sample (by label id)."""
    old = {(f, fr, o.id): o for f, fr, o in iter_labels(before)}
    new = {(f, fr, o.id): o for f, fr, o in iter_labels(after)}
    diff = SampleDiff(key, before, after)
    for ident in sorted(set(old) | set(new), key=lambda i: (i[0], i[1] or 0, i[2])):
        name, frame, label_id = ident
        o, n = old.get(ident), new.get(ident)
        if o is not None and n is not None:
            aspects = aspects_of(o, n)
            if not aspects:
                continue
            kind: Kind = "edited"
        else:
            kind, aspects = ("added" if o is None else "deleted"), ()
        diff.changes.append(LabelChange(name, label_id, kind, class_of(n or o), frame, aspects,
                                        who=job_of(record, key, frame)))
    return diff


def job_of(record: RunRecord | None, key: str, frame: int | None = None) -> str:
    """``job 12 (alice)``: the CVAT job holding a sample (a video's frame) in a run."""
    if record is None or key not in record.samples:
        return ""
    ref = record.samples[key]
    task = record.tasks[ref.task] if ref.task < len(record.tasks) else None
    if task is None:
        return ""
    position = ref.frame
    if task.media_type == "video" and frame is not None:
        position = max(0, (frame - 1 - (task.frame_start or 0)) // (task.frame_step or 1))
    for job in task.jobs:
        if job.start_frame <= position <= job.stop_frame:
            return f"job {job.id}" + (f" ({job.assignee})" if job.assignee else "")
    return f"task {task.id}" if task.id is not None else ""


def from_merges(key: str, original: Sample, merged: Sample, merges: dict[str, Any],
                record: RunRecord | None) -> SampleDiff:
    """A sample of a plan: before = the label file now, after = the file once applied; pull
    changes come from CVAT (with the job that made them), push changes from local edits."""
    before = {(f, fr, o.id): o for f, fr, o in iter_labels(original)}
    after = {(f, fr, o.id): o for f, fr, o in iter_labels(merged)}
    diff = SampleDiff(key, original, merged)
    for path, m in merges.items():
        conflicted = {(c.label_id, c.frame) for c in m.conflicts}
        for c in m.changes:
            if (c.label_id, c.frame) in conflicted:
                continue
            obj = after.get((path, c.frame, c.label_id)) or before.get((path, c.frame, c.label_id))
            kind: Kind = {"add": "added", "edit": "edited", "delete": "deleted"}[c.kind]  # type: ignore[assignment]
            by = "CVAT" if c.side == "pull" else "local"
            who = job_of(record, key, c.frame) if c.side == "pull" else ""
            diff.changes.append(LabelChange(path, c.label_id, kind, class_of(obj), c.frame,
                                            tuple(c.aspects), by, who))
        for c in m.conflicts:
            obj = after.get((path, c.frame, c.label_id)) or before.get((path, c.frame, c.label_id))
            diff.changes.append(LabelChange(
                path, c.label_id, "conflict", class_of(obj), c.frame, tuple(c.aspects),
                f"both ({c.kind}, {c.resolution})", job_of(record, key, c.frame)))
    return diff
