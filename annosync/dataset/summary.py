"""Short, printable summaries of samples (for ``annosync ls --long`` and ``annosync show``)."""

from __future__ import annotations

from typing import Any

from annosync.model.labels import label_objects
from annosync.model.sample import Sample


def _value_summary(value: Any) -> dict[str, Any]:
    kind = getattr(value, "type", None)
    if kind is None:
        return {"type": "scalar", "value": value}
    objects = label_objects(value)
    out: dict[str, Any] = {"type": kind, "labels": len(objects)}
    classes = sorted({o.label for o in objects if isinstance(getattr(o, "label", None), str)})
    if classes:
        out["classes"] = classes
    tracks = sorted({o.index for o in objects if getattr(o, "index", None) is not None})
    if tracks:
        out["tracks"] = tracks
    return out


def sample_summary(key: str, sample: Sample) -> dict[str, Any]:
    """Key, media, size, and per field: type, label count, classes (frames: totals)."""
    meta = sample.metadata
    out: dict[str, Any] = {"key": key, "media": sample.media}
    if meta is not None:
        out["media_type"] = meta.media_type
        out["width"], out["height"] = meta.width, meta.height
        if meta.frame_count is not None:
            out["frame_count"] = meta.frame_count
        if meta.fps is not None:
            out["fps"] = meta.fps
    out["fields"] = {name: _value_summary(v) for name, v in sorted(sample.fields.items())}
    frame_fields: dict[str, dict[str, Any]] = {}
    for _, frame in sorted(sample.frames.items()):
        for name, value in frame.items():
            s = _value_summary(value)
            agg = frame_fields.setdefault(f"frames.{name}", {"type": s["type"], "frames": 0,
                                                               "labels": 0})
            agg["frames"] += 1
            agg["labels"] += s.get("labels", 0)
            if "classes" in s:
                agg["classes"] = sorted(set(agg.get("classes", [])) | set(s["classes"]))
            if "tracks" in s:
                agg["tracks"] = sorted(set(agg.get("tracks", [])) | set(s["tracks"]))
    out["fields"].update(frame_fields)
    if sample.tags:
        out["tags"] = list(sample.tags)
    out["labels"] = len(sample.label_ids())
    return out


def format_summary(summary: dict[str, Any]) -> list[str]:
    """Human-readable lines for ``annosync show``."""
    lines = [f"sample  {summary['key']}", f"media   {summary['media']}"]
    if "media_type" in summary:
        size = f"{summary['width']}x{summary['height']}"
        if summary.get("media_type") == "video":
            size += f", {summary.get('frame_count', '?')} frames"
            if summary.get("fps"):
                size += f" at {summary['fps']:g} fps"
        lines.append(f"type    {summary['media_type']} ({size})")
    if summary.get("tags"):
        lines.append(f"tags    {', '.join(summary['tags'])}")
    lines.append(f"labels  {summary['labels']}")
    if summary["fields"]:
        lines.append("fields")
        width = max(len(n) for n in summary["fields"])
        for name, f in summary["fields"].items():
            if f["type"] == "scalar":
                desc = f"scalar = {f['value']!r}"
            else:
                desc = f"{f['type']}: {f['labels']} label(s)"
                if "frames" in f:
                    desc += f" in {f['frames']} frame(s)"
                if f.get("tracks"):
                    desc += f", tracks {', '.join(str(t) for t in f['tracks'])}"
                if f.get("classes"):
                    desc += f" [{', '.join(f['classes'])}]"
            lines.append(f"  {name.ljust(width)}  {desc}")
    return lines
