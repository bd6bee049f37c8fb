"""Draw one changed sample as a small PNG: before | after, colour-coded, with a caption.

Why Pillow: it is already a dependency, draws boxes, polygons and translucent masks, and its
PNGs are small enough to paste into a pull-request comment. Each row is one frame (an image
sample has one row; a video shows a strip of its changed frames, decoded with PyAV); the left
panel is the sample before, the right one after. Changed labels take their change's colour
(added green, edited amber, deleted red, conflicting magenta), unchanged ones stay grey;
masks and segmentations are translucent overlays; keypoints are joined by their skeleton's
edges. The caption lists each change: label, changed aspects, and who changed it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annosync.model.labels import (
    Classification,
    Detection,
    Keypoint,
    Polyline,
    Segmentation,
)
from annosync.model.sample import Sample
from annosync.visual.changes import LabelChange, SampleDiff, iter_labels

RGB = tuple[int, int, int]
COLORS: dict[str, RGB] = {
    "added": (34, 197, 94), "edited": (245, 158, 11), "deleted": (239, 68, 68),
    "conflict": (217, 70, 239), "same": (170, 170, 170),
}
MASK_ALPHA = 110
PANEL = 360  # longest side of one panel, in pixels
MAX_FRAMES = 6
CAPTION_LINES = 14
#: Keypoint skeletons: label (or field) name -> edges between point indexes (0-based).
Skeletons = dict[str, list[tuple[int, int]]]


@dataclass
class Panel:
    """Where a frame was drawn: top-left corner, scale (panel px per media px), frame."""

    side: str  # "before" | "after"
    frame: int | None
    x: int
    y: int
    width: int
    height: int
    scale: float

    def to_px(self, rx: float, ry: float, media_w: int, media_h: int) -> tuple[float, float]:
        """A relative point of the frame, as a pixel of the PNG."""
        return self.x + rx * media_w * self.scale, self.y + ry * media_h * self.scale


@dataclass
class Drawing:
    image: Any  # PIL.Image.Image
    panels: list[Panel] = field(default_factory=list)


def _font(size: int = 12) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def load_frames(path: Path, sample: Sample, frames: list[int | None]) -> dict[int | None, Any]:
    """RGB images of the wanted frames (None = the image itself); grey where unreadable."""
    from PIL import Image

    meta = sample.metadata
    size = (meta.width, meta.height) if meta else (640, 480)
    out: dict[int | None, Any] = {}
    try:
        if not sample.is_video:
            with Image.open(path) as img:
                image = img.convert("RGB")
            return {f: image for f in frames}
        import av

        wanted = {f for f in frames if f is not None}
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for index, frame in enumerate(container.decode(stream)):
                number = index + 1  # FiftyOne's frame numbers start at 1
                if number in wanted:
                    out[number] = frame.to_image().convert("RGB")
                if number >= max(wanted, default=0):
                    break
    except Exception:  # missing or unreadable media still gets a picture of its labels
        out = {}
    grey = Image.new("RGB", size, (60, 60, 60))
    return {f: out.get(f, out.get(None, grey)) for f in frames}


def _label_color(change: LabelChange | None, side: str) -> RGB:
    if change is None:
        return COLORS["same"]
    if side == "before" and change.kind == "added":
        return COLORS["same"]
    return COLORS[change.kind]


def _draw_frame(base: Any, sample: Sample | None, frame: int | None,
                changes: dict[tuple[str, int | None, str], LabelChange], side: str,
                scale: float, skeletons: Skeletons,
                load_mask: Callable[[str], Any], sample_level: bool = True) -> Any:
    from PIL import Image, ImageDraw

    img = base.resize((max(1, round(base.width * scale)), max(1, round(base.height * scale))))
    img = img.convert("RGBA")
    if sample is None:
        return img
    meta = sample.metadata
    mw, mh = (meta.width, meta.height) if meta else base.size
    sx, sy = img.width / mw, img.height / mh
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    lines = ImageDraw.Draw(overlay)
    tags: list[tuple[str, RGB]] = []
    for name, at, obj in iter_labels(sample):
        if at != frame and not (at is None and sample_level):
            continue
        change = changes.get((name, at, obj.id))
        color = _label_color(change, side)
        width = 3 if change is not None else 1
        if isinstance(obj, Detection):
            x, y, w, h = obj.bounding_box
            box = (x * mw * sx, y * mh * sy, (x + w) * mw * sx, (y + h) * mh * sy)
            if obj.mask is not None or obj.mask_path:
                mask = obj.mask.to_array() if obj.mask is not None else \
                    load_mask(obj.mask_path or "")
                if mask is not None:
                    _paint_mask(overlay, mask > 0, box, color)
            if obj.rotation:
                _rotated_box(lines, box, obj.rotation, color, width)
            else:
                lines.rectangle(box, outline=(*color, 255), width=width)
        elif isinstance(obj, Polyline):
            for shape in obj.points:
                pts = [(px * mw * sx, py * mh * sy) for px, py in shape]
                if obj.filled and len(pts) >= 3:
                    lines.polygon(pts, fill=(*color, MASK_ALPHA))
                if obj.closed and len(pts) >= 3:
                    pts = [*pts, pts[0]]
                if len(pts) >= 2:
                    lines.line(pts, fill=(*color, 255), width=width)
        elif isinstance(obj, Keypoint):
            kps: list[Any] = [None if p is None else (p[0] * mw * sx, p[1] * mh * sy)
                              for p in obj.points]
            for a, b in skeletons.get(obj.label) or skeletons.get(name) or \
                    skeletons.get("*", []):
                if 0 <= a < len(kps) and 0 <= b < len(kps) and kps[a] and kps[b]:
                    lines.line([kps[a], kps[b]], fill=(*color, 255), width=max(1, width - 1))
            for p in kps:
                if p is not None:
                    r = 2 + width
                    lines.ellipse((p[0] - r, p[1] - r, p[0] + r, p[1] + r), fill=(*color, 255))
        elif isinstance(obj, Segmentation):
            mask = obj.mask.to_array() if obj.mask is not None else \
                load_mask(obj.mask_path) if obj.mask_path else None
            if mask is not None:
                _paint_mask(overlay, mask > 0, (0, 0, img.width, img.height), color)
        elif isinstance(obj, Classification):
            tags.append((obj.label, color))
    img = Image.alpha_composite(img, overlay)
    draw = ImageDraw.Draw(img)
    font = _font(11)
    y = 3
    for text, color in tags:
        draw.rectangle((2, y, 8 + 7 * len(text), y + 14), fill=(0, 0, 0, 170))
        draw.text((5, y + 1), text, fill=(*color, 255), font=font)
        y += 16
    return img


def _paint_mask(overlay: Any, mask: Any, box: tuple[float, float, float, float],
                color: RGB) -> None:
    from PIL import Image

    x0, y0, x1, y1 = (round(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        return
    m = Image.fromarray(mask.astype("uint8") * MASK_ALPHA).resize((x1 - x0, y1 - y0),
                                                                  Image.Resampling.NEAREST)
    tint = Image.new("RGBA", m.size, (*color, 0))
    tint.putalpha(m)
    layer = Image.new("RGBA", overlay.size, (0, 0, 0, 0))
    layer.paste(tint, (x0, y0))
    overlay.alpha_composite(layer)


def _rotated_box(draw: Any, box: tuple[float, float, float, float], degrees: float,
                 color: RGB, width: int) -> None:
    import math

    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    t = math.radians(degrees)
    corners = [(box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3])]
    pts = [(cx + (x - cx) * math.cos(t) - (y - cy) * math.sin(t),
            cy + (x - cx) * math.sin(t) + (y - cy) * math.cos(t)) for x, y in corners]
    draw.line([*pts, pts[0]], fill=(*color, 255), width=width)


def render(diff: SampleDiff, media_root: Path, skeletons: Skeletons | None = None,
           mask_root: Path | None = None) -> Drawing:
    """The PNG of one changed sample (see the module docstring)."""
    from PIL import Image, ImageDraw

    skeletons = skeletons or {}
    sample = diff.sample
    assert sample is not None
    frames: list[int | None] = [None]
    if sample.is_video:
        frames = list(diff.frames[:MAX_FRAMES]) or [1]
    images: dict[str, dict[int | None, Any]] = {}
    decoded: dict[str, dict[int | None, Any]] = {}  # before and after mostly share their media
    for side, s in (("before", diff.before), ("after", diff.after)):
        if s is not None:
            if s.media not in decoded:
                decoded[s.media] = load_frames(media_root / s.media, s, frames)
            images[side] = decoded[s.media]
    first = next(iter(images.values()))[frames[0]]
    scale = min(1.0, PANEL / max(first.width, first.height))
    pw, ph = round(first.width * scale), round(first.height * scale)
    margin, label_h = 8, 16
    font = _font(12)
    caption = [c.describe() for c in diff.changes]
    shown = caption[:CAPTION_LINES]
    if len(caption) > len(shown):
        shown.append(f"... and {len(caption) - len(shown)} more")
    row_h = ph + label_h + margin
    width = margin * 3 + pw * 2
    height = margin + label_h + row_h * len(frames) + 16 * (len(shown) + 1) + margin
    canvas = Image.new("RGBA", (width, height), (255, 255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text((margin, margin), diff.key, fill=(20, 20, 20), font=_font(14))
    changes = {(c.field, c.frame, c.label_id): c for c in diff.changes}

    def load_mask(path: str) -> Any:
        import numpy as np

        try:
            with Image.open((mask_root or media_root) / path) as m:
                return np.array(m.convert("L"))
        except OSError:
            return None

    out = Drawing(canvas)
    y = margin + label_h + 4
    for frame in frames:
        for column, side in enumerate(("before", "after")):
            x = margin + column * (pw + margin)
            title = side if frame is None else f"{side}, frame {frame}"
            draw.text((x, y), title, fill=(90, 90, 90), font=font)
            s = diff.before if side == "before" else diff.after
            base = images.get(side, images.get("after", images.get("before")))
            assert base is not None
            panel = _draw_frame(base[frame], s, frame, changes, side, pw / base[frame].width,
                                skeletons, load_mask, sample_level=frame == frames[0])
            if s is None:
                ImageDraw.Draw(panel).text((6, 6), "(no label file)", fill=(255, 255, 255),
                                           font=font)
            canvas.alpha_composite(panel, (x, y + label_h))
            out.panels.append(Panel(side, frame, x, y + label_h, panel.width, panel.height,
                                    panel.width / (s.metadata.width if s and s.metadata
                                                   else base[frame].width)))
        y += row_h
    for line, change in zip(shown, [*diff.changes, None], strict=False):
        color = COLORS[change.kind] if change is not None else (90, 90, 90)
        draw.rectangle((margin, y + 3, margin + 9, y + 12), fill=color)
        draw.text((margin + 14, y), line, fill=(20, 20, 20), font=font)
        y += 16
    out.image = canvas.convert("RGB")
    return out
