"""CVAT's JSON annotations (``annosync.model.cvat``) <-> CVAT XML items, as CVAT converts them.

Export direction (JSON -> XML) follows the dumper (cvat/apps/dataset_manager/formats/cvat.py,
``dump_as_cvat_annotation`` / ``dump_as_cvat_interpolation``, and ``CommonData.group_by_frame``
in bindings.py):

* images layout: one ``<image>`` per task frame, empty ones included; standalone shapes and the
  visible frames of tracks (interpolated, ``outside`` dropped), ordered by ``z_order`` (stable:
  shapes before tracks); then tags. A track frame carries the track's label, source and group and
  its attributes are the frame's (mutable) ones followed by the track's (immutable) ones.
* video layout: tracks first (ids count from 0), every interpolated frame written with
  ``keyframe="0"`` between keyframes; then each standalone shape as a track of two keyframes, the
  shape and an ``outside`` copy at ``frame + step`` when the task has that frame (CVAT's dumper
  wants ``frame + step < stop_frame``, an off-by-one that leaks the shape into the last frame:
  ``cvat_stop_quirk=True`` reproduces it). Tags are not written (the video dumper has none).
* frames become absolute: ``start_frame + idx * step``; ``rotation`` is written for boxes and
  ellipses when non-zero, ``group_id`` when non-zero.

Import direction (XML -> JSON) follows ``load_anno``: images matched to task frames by the
caller; in tracks only ``keyframe="1"`` shapes are kept; a track's immutable attributes are taken
from its shapes (the last one wins) and its mutable ones stay on the shapes; a mask track
becomes one mask shape. Unlike CVAT (which stores ``source="file"``), ``source`` is kept unless
``source="file"`` is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from annosync.cvatxml.diag import Diagnostics
from annosync.cvatxml.interpolate import track_frames
from annosync.cvatxml.meta import AttributeSpec as XmlAttributeSpec
from annosync.cvatxml.meta import LabelMeta, Meta, TaskMeta
from annosync.cvatxml.model import KIND_TO_TYPE, TYPE_TO_KIND, Attr, Image, Item, Mask
from annosync.cvatxml.model import Shape as XmlShape
from annosync.cvatxml.model import Tag as XmlTag
from annosync.cvatxml.model import Track as XmlTrack
from annosync.model.cvat import (
    AttributeSpec,
    AttributeValue,
    LabeledData,
    LabelSpec,
    Shape,
    Tag,
    Track,
    TrackedShape,
)

_ROTATED = frozenset({"rectangle", "ellipse"})
_NOISE = 9  # decimals kept of derived values (ellipse radii) to drop float noise


# -- labels ------------------------------------------------------------------------------------
class LabelIndex:
    """Names <-> ids of labels (and skeleton sub-labels) and their attribute specs."""

    def __init__(self, specs: Iterable[LabelSpec]) -> None:
        self.specs: list[LabelSpec] = []
        self.by_id: dict[int, LabelSpec] = {}
        self._by_key: dict[tuple[int | None, str], LabelSpec] = {}
        self.attr_by_id: dict[int, AttributeSpec] = {}
        self._attr_by_name: dict[tuple[int, str], AttributeSpec] = {}
        for spec in specs:
            self._add(spec, None)

    def _add(self, spec: LabelSpec, parent: int | None) -> None:
        if spec.id is None:
            raise ValueError(f"label {spec.name!r} has no id")
        parent = spec.parent_id if spec.parent_id is not None else parent
        if spec.id in self.by_id:
            return
        self.specs.append(spec)
        self.by_id[spec.id] = spec
        self._by_key[(parent, spec.name)] = spec
        for a in spec.attributes:
            if a.id is None:
                raise ValueError(f"attribute {a.name!r} of label {spec.name!r} has no id")
            self.attr_by_id[a.id] = a
            self._attr_by_name[(spec.id, a.name)] = a
        for sub in spec.sublabels:
            self._add(sub, spec.id)

    def label(self, name: str, parent_id: int | None = None) -> LabelSpec | None:
        return self._by_key.get((parent_id, name))

    def attribute(self, label_id: int, name: str) -> AttributeSpec | None:
        return self._attr_by_name.get((label_id, name))

    def name(self, label_id: int) -> str:
        return self.by_id[label_id].name

    def attrs(self, values: Iterable[AttributeValue]) -> list[Attr]:
        return [Attr(self.attr_by_id[v.spec_id].name, v.value) for v in values]

    def parent_of(self, label_id: int) -> int | None:
        for (parent, _), spec in self._by_key.items():
            if spec.id == label_id:
                return parent
        return None


# -- frames ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskFrame:
    """One task frame: its path (images) or ``frame_NNNNNN`` (video), and its size."""

    name: str
    width: int | None = None
    height: int | None = None


@dataclass
class TaskFrames:
    """Task-relative frame index <-> absolute frame number (``start + idx * step``)."""

    frames: list[TaskFrame] = field(default_factory=list)
    start_frame: int = 0
    step: int = 1
    stop_frame: int | None = None

    @property
    def size(self) -> int:
        return len(self.frames)

    @property
    def stop(self) -> int:
        if self.stop_frame is not None:
            return self.stop_frame
        return self.start_frame + max(self.size - 1, 0) * self.step

    def abs(self, idx: int) -> int:
        return self.start_frame + idx * self.step

    def rel(self, absolute: int) -> int | None:
        d, m = divmod(absolute - self.start_frame, self.step)
        if m or not 0 <= d < self.size:
            return None
        return d

    @classmethod
    def video(cls, size: int, width: int | None, height: int | None, *, start_frame: int = 0,
              step: int = 1, stop_frame: int | None = None) -> TaskFrames:
        """A video task: frames named ``frame_{absolute:06d}`` as CVAT names them."""
        return cls(
            frames=[TaskFrame(f"frame_{start_frame + i * step:06d}", width, height)
                    for i in range(size)],
            start_frame=start_frame, step=step, stop_frame=stop_frame,
        )


# -- JSON -> XML -------------------------------------------------------------------------------
def _clean(value: float) -> float:
    return round(value, _NOISE) + 0.0


def _xml_coords(type_: str, points: list[float], s: XmlShape) -> None:
    if type_ == "ellipse":
        cx, cy, x2, y2 = points
        s.points = [cx, cy, _clean(x2 - cx), _clean(cy - y2)]
    elif type_ == "mask":
        s.mask = Mask.from_api_points(points)
    elif type_ == "skeleton":
        s.points = None
    else:
        s.points = list(points)


def _image_shape(shape: Shape | TrackedShape, idx: LabelIndex, *, label_id: int,
                 source: str | None, group: int | None,
                 attributes: list[AttributeValue], element: bool = False) -> XmlShape:
    type_ = shape.type
    s = XmlShape(kind=TYPE_TO_KIND[type_], label=idx.name(label_id), source=source)
    if element:
        s.outside = shape.outside
    if type_ != "skeleton":
        s.occluded = shape.occluded
    _xml_coords(type_, shape.points, s)
    if type_ in _ROTATED and shape.rotation:
        s.rotation = shape.rotation
    if not element:
        s.z_order = shape.z_order
    if group:
        s.group_id = group
    s.attributes = idx.attrs(attributes)
    return s


def _element_shapes(parent: Shape, idx: LabelIndex) -> list[XmlShape]:
    return [
        _image_shape(e, idx, label_id=e.label_id, source=e.source, group=e.group,
                     attributes=e.attributes, element=True)
        for e in parent.elements
    ]


def to_images(data: LabeledData, labels: LabelIndex, frames: TaskFrames, *,
              subset: str | None = None, task_id: int | None = None) -> Iterator[Image]:
    """The images layout of one task (``dump_as_cvat_annotation``)."""
    size = frames.size
    entries: list[tuple[int, int, XmlShape]] = []  # (z_order, frame, shape) in CVAT's order
    for shape in data.shapes:
        if not 0 <= shape.frame < size:
            continue
        xs = _image_shape(shape, labels, label_id=shape.label_id, source=shape.source,
                          group=shape.group, attributes=shape.attributes)
        xs.elements = _element_shapes(shape, labels)
        entries.append((shape.z_order, shape.frame, xs))
    for track in data.tracks:
        visible = track_frames(track, size)
        by_frame_elements: dict[int, list[XmlShape]] = {}
        if track.elements:
            for element in track.elements:
                for es in track_frames(element, size, include_outside=True):
                    by_frame_elements.setdefault(es.frame, []).append(_image_shape(
                        es, labels, label_id=element.label_id, source=element.source,
                        group=element.group, attributes=es.attributes + element.attributes,
                        element=True,
                    ))
        for ts in visible:
            if ts.outside:
                continue
            xs = _image_shape(ts, labels, label_id=track.label_id, source=track.source,
                              group=track.group, attributes=ts.attributes + track.attributes)
            if track.elements:
                xs.elements = by_frame_elements.get(ts.frame, [])
                if xs.elements and all(e.outside for e in xs.elements):
                    continue
            entries.append((ts.z_order, ts.frame, xs))
    entries.sort(key=lambda e: e[0])
    per_frame: dict[int, list[XmlShape]] = {}
    for _, frame, xs in entries:
        per_frame.setdefault(frame, []).append(xs)
    tags: dict[int, list[XmlTag]] = {}
    for tag in data.tags:
        if 0 <= tag.frame < size:
            tags.setdefault(tag.frame, []).append(XmlTag(
                label=labels.name(tag.label_id), source=tag.source,
                group_id=tag.group or None, attributes=labels.attrs(tag.attributes),
            ))
    for i, info in enumerate(frames.frames):
        yield Image(
            id=frames.abs(i), name=info.name, subset=subset, task_id=task_id,
            width=info.width, height=info.height,
            shapes=per_frame.get(i, []), tags=tags.get(i, []),
        )


def _track_shape(ts: TrackedShape, frames: TaskFrames, labels: LabelIndex,
                 attributes: list[AttributeValue]) -> XmlShape:
    type_ = ts.type
    s = XmlShape(kind=TYPE_TO_KIND[type_], frame=frames.abs(ts.frame),
                 keyframe=bool(ts.keyframe))
    if type_ != "skeleton":
        s.outside = ts.outside
        s.occluded = ts.occluded
    _xml_coords(type_, ts.points, s)
    if type_ in _ROTATED and ts.rotation:
        s.rotation = ts.rotation
    s.z_order = ts.z_order
    s.attributes = labels.attrs(attributes)
    return s


def _element_track_shape(ts: TrackedShape, label: str, labels: LabelIndex,
                         attributes: list[AttributeValue]) -> XmlShape:
    s = XmlShape(kind=TYPE_TO_KIND[ts.type], label=label, keyframe=bool(ts.keyframe),
                 outside=ts.outside, occluded=ts.occluded)
    _xml_coords(ts.type, ts.points, s)
    if ts.type in _ROTATED and ts.rotation:
        s.rotation = ts.rotation
    s.attributes = labels.attrs(attributes)
    return s


def _xml_track(track: Track, counter: int, labels: LabelIndex, frames: TaskFrames,
               interpolate: bool = True) -> XmlTrack:
    """One ``<track>``: interpolated (a real track) or exactly its shapes (a standalone shape
    wrapped by the dumper, whose two keyframes ``dump_track`` writes as they are)."""
    size = frames.size

    def shapes_of(t: Track) -> list[TrackedShape]:
        return track_frames(t, size) if interpolate else list(t.shapes)

    xt = XmlTrack(label=labels.name(track.label_id), id=counter, source=track.source,
                  group_id=track.group or None)
    element_shapes: dict[int, list[XmlShape]] = {}
    for element in track.elements:
        name = labels.name(element.label_id)
        for es in shapes_of(element):
            element_shapes.setdefault(es.frame, []).append(
                _element_track_shape(es, name, labels, es.attributes + element.attributes))
    for ts in shapes_of(track):
        xs = _track_shape(ts, frames, labels, ts.attributes + track.attributes)
        if ts.type == "skeleton":
            elements = element_shapes.get(ts.frame)
            if not elements:
                continue  # the dumper skips a skeleton frame without elements
            xs.elements = elements
        xt.shapes.append(xs)
    return xt


def to_tracks(data: LabeledData, labels: LabelIndex, frames: TaskFrames, *,
              cvat_stop_quirk: bool = False) -> Iterator[XmlTrack]:
    """The video layout of one task (``dump_as_cvat_interpolation``).

    A standalone shape ends with an ``outside`` copy on the next frame when there is one.
    CVAT's dumper adds it only if ``frame + step < stop_frame``, so a shape on the last frame
    but one gets none and, imported back, shows on the last frame too; ``cvat_stop_quirk``
    reproduces that exactly (for byte-for-byte comparisons)."""
    counter = 0
    for track in data.tracks:
        yield _xml_track(track, counter, labels, frames)
        counter += 1
    stop = frames.stop
    for shape in data.shapes:
        if not 0 <= shape.frame < frames.size:
            continue
        nxt = frames.abs(shape.frame) + frames.step
        finish = nxt < stop if cvat_stop_quirk else shape.frame + 1 < frames.size

        def two(s: Shape, outside: bool, frame: int = shape.frame,
                finish: bool = finish) -> list[TrackedShape]:
            first = TrackedShape(type=s.type, frame=frame, occluded=s.occluded,
                                 outside=outside, z_order=s.z_order, rotation=s.rotation,
                                 points=s.points, attributes=s.attributes, keyframe=True)
            if not finish:
                return [first]
            return [first, first.model_copy(update={"frame": frame + 1, "outside": True})]

        track = Track(frame=shape.frame, label_id=shape.label_id, group=shape.group,
                      source=shape.source, shapes=two(shape, False),
                      elements=[Track(frame=e.frame, label_id=e.label_id, group=e.group,
                                      source=e.source, shapes=two(e, e.outside))
                                for e in shape.elements])
        yield _xml_track(track, counter, labels, frames, interpolate=False)
        counter += 1


# -- XML -> JSON -------------------------------------------------------------------------------
def _api_points(xs: XmlShape) -> list[float]:
    if xs.kind == "ellipse" and xs.points is not None:
        cx, cy, rx, ry = xs.points
        return [cx, cy, cx + rx, cy - ry]
    if xs.kind == "mask" and xs.mask is not None:
        return xs.mask.to_api_points()
    return list(xs.points or [])


class _Importer:
    def __init__(self, labels: LabelIndex, diag: Diagnostics, source: str | None,
                 all_frames: bool = False) -> None:
        self.labels = labels
        self.diag = diag
        self.source = source
        self.all_frames = all_frames

    def label_id(self, name: str, line: int | None, parent: int | None = None) -> int:
        spec = self.labels.label(name, parent)
        if spec is None or spec.id is None:
            where = "" if parent is None else f" (a part of {self.labels.name(parent)!r})"
            raise self.diag.error(f"label {name!r}{where} is not defined for this task", line)
        return spec.id

    def attrs(self, label_id: int, attrs: list[Attr], line: int | None,
              mutable: bool | None = None) -> list[AttributeValue]:
        out = []
        for a in attrs:
            spec = self.labels.attribute(label_id, a.name)
            if spec is None or spec.id is None:
                if mutable is not False:  # report once per shape, not again for the track
                    self.diag.warn(
                        f"attribute {a.name!r} is not defined for label "
                        f"{self.labels.name(label_id)!r}; dropped (as CVAT does)", line)
                continue
            if mutable is None or spec.mutable == mutable:
                out.append(AttributeValue(spec_id=spec.id, value=a.value))
        return out

    def src(self, value: str | None) -> str:
        return self.source or value or "manual"

    def shape(self, xs: XmlShape, frame: int, parent: int | None = None) -> Shape:
        label_id = self.label_id(xs.label or "", xs.line, parent)
        return Shape(
            type=KIND_TO_TYPE[xs.kind],
            frame=frame, label_id=label_id, group=xs.group_id or 0,
            source=self.src(xs.source),
            occluded=bool(xs.occluded), outside=bool(xs.outside) if parent else False,
            z_order=xs.z_order or 0, rotation=xs.rotation or 0.0, points=_api_points(xs),
            attributes=self.attrs(label_id, xs.attributes, xs.line),
            elements=[self.shape(e, frame, label_id) for e in xs.elements],
        )

    def tag(self, xt: XmlTag, frame: int) -> Tag:
        label_id = self.label_id(xt.label, xt.line)
        return Tag(frame=frame, label_id=label_id, group=xt.group_id or 0,
                   source=self.src(xt.source),
                   attributes=self.attrs(label_id, xt.attributes, xt.line))

    def _tracked(self, xs: XmlShape, frame: int, label_id: int) -> TrackedShape:
        return TrackedShape(
            type=KIND_TO_TYPE[xs.kind],
            frame=frame, occluded=bool(xs.occluded), outside=bool(xs.outside),
            z_order=xs.z_order or 0, rotation=xs.rotation or 0.0, points=_api_points(xs),
            attributes=self.attrs(label_id, xs.attributes, xs.line, mutable=True),
            keyframe=bool(xs.keyframe) if self.all_frames else None,
        )

    def track(self, xt: XmlTrack, rel: Callable[[int, int | None], int]) -> Shape | Track | None:
        label_id = self.label_id(xt.label, xt.line)
        keyframes = [s for s in xt.shapes if s.keyframe]
        if not keyframes:
            self.diag.warn(f"track of {xt.label!r} has no keyframe; CVAT would drop it", xt.line)
            return None
        if self.all_frames:
            keyframes = list(xt.shapes)
        elif keyframes[0].kind == "mask":
            first = keyframes[0]
            return Shape(
                type="mask", frame=rel(first.frame or 0, first.line), label_id=label_id,
                group=xt.group_id or 0, source=self.src(xt.source),
                occluded=bool(first.occluded), z_order=first.z_order or 0,
                rotation=first.rotation or 0.0, points=_api_points(first),
                attributes=self.attrs(label_id, first.attributes, first.line),
            )
        shapes: list[TrackedShape] = []
        immutable: list[AttributeValue] = []
        elements: dict[str, Track] = {}
        seen: set[int] = set()
        for xs in keyframes:
            frame = rel(xs.frame or 0, xs.line)
            if frame in seen:
                raise self.diag.error(f"track has two keyframes on frame {xs.frame}", xs.line)
            seen.add(frame)
            shapes.append(self._tracked(xs, frame, label_id))
            if xs.keyframe:
                immutable = self.attrs(label_id, xs.attributes, xs.line, mutable=False)
            for xe in xs.elements:
                if not xe.keyframe and not self.all_frames:
                    continue
                eid = self.label_id(xe.label or "", xe.line, label_id)
                el_track = elements.setdefault(xe.label or "", Track(
                    frame=frame, label_id=eid, group=0, source=self.src(xt.source),
                ))
                el_track.shapes.append(self._tracked(xe, frame, eid))
        for el_track in elements.values():
            el_track.frame = min(s.frame for s in el_track.shapes)
        return Track(
            frame=min(s.frame for s in shapes), label_id=label_id, group=xt.group_id or 0,
            source=self.src(xt.source),
            attributes=immutable, shapes=shapes, elements=list(elements.values()),
        )


def to_labeled_data(
    items: Iterable[Item],
    labels: LabelIndex,
    frames: TaskFrames,
    *,
    match_image: Callable[[Image], int | None] | None = None,
    source: str | None = None,
    diag: Diagnostics | None = None,
    all_frames: bool = False,
) -> LabeledData:
    """What CVAT's importer stores for these items (``load_anno``), frames task-relative.

    ``match_image`` maps an ``<image>`` to its task frame (default: by name without extension,
    then by ``id``, as CVAT does); an image that matches nothing is an error ("Could not match
    item id", FACTS A.4). ``source="file"`` stores every annotation as CVAT does.
    ``all_frames`` keeps a track's in-between frames too (``keyframe=False``), so the written
    geometry of every frame survives (for the dataset import; CVAT keeps keyframes only).
    """
    diag = diag or Diagnostics(None)
    imp = _Importer(labels, diag, source, all_frames)
    match = match_image or default_image_matcher(frames)
    data = LabeledData()

    def rel(absolute: int, line: int | None) -> int:
        r = frames.rel(absolute)
        if r is None:
            raise diag.error(f"frame {absolute} is not a frame of this task", line)
        return r

    for item in items:
        if isinstance(item, Image):
            frame = match(item)
            if frame is None:
                raise diag.error(
                    f"could not match image {item.name!r} (id {item.id}) with any task frame",
                    item.line)
            data.shapes.extend(imp.shape(xs, frame) for xs in item.shapes)
            data.tags.extend(imp.tag(t, frame) for t in item.tags)
        else:
            result = imp.track(item, rel)
            if isinstance(result, Shape):
                data.shapes.append(result)
            elif result is not None:
                data.tracks.append(result)
    return data


def _stem(path: str) -> str:
    dot = path.rfind(".")
    slash = path.rfind("/")
    return path[:dot] if dot > slash + 0 and dot > 0 else path


def default_image_matcher(frames: TaskFrames) -> Callable[[Image], int | None]:
    """CVAT's ``match_dm_item``: the path without extension, then the ``id``."""
    by_name = {_stem(f.name): i for i, f in enumerate(frames.frames)}

    def match(image: Image) -> int | None:
        found = by_name.get(_stem(image.name))
        if found is None:
            found = frames.rel(image.id)
        return found

    return match


# -- label specs <-> meta ----------------------------------------------------------------------
def label_meta(labels: LabelIndex) -> list[LabelMeta]:
    """``<labels>`` as ``CommonData._convert_db_labels`` writes them (sub-labels after their
    skeleton, with ``<parent>``; the skeleton's ``<svg>`` last)."""
    out: list[LabelMeta] = []

    def add(spec: LabelSpec, parent: str | None) -> None:
        out.append(LabelMeta(
            name=spec.name, color=spec.color or "", type=spec.type,
            attributes=[XmlAttributeSpec(
                name=a.name, mutable=str(bool(a.mutable)), input_type=a.input_type,
                default_value=a.default_value, values="\n".join(a.values),
            ) for a in spec.attributes],
            parent=parent, svg=(spec.svg or "") if spec.type == "skeleton" else None,
        ))
        for sub in spec.sublabels:
            add(sub, spec.name)

    for spec in labels.specs:
        if spec.parent_id is None and labels.parent_of(spec.id or -1) is None:
            add(spec, None)
    return out


def specs_from_meta(meta: Meta | None) -> list[LabelSpec]:
    """Label specs (ids numbered from 1) from the ``<labels>`` of a document's meta."""
    if meta is None:
        return []
    next_id = [1]

    def nid() -> int:
        next_id[0] += 1
        return next_id[0] - 1

    specs: dict[str, LabelSpec] = {}
    pending_subs: list[tuple[str, LabelSpec]] = []
    for lab in meta.labels:
        ltype = lab.type if lab.type in _LABEL_TYPES else "any"
        spec = LabelSpec(
            id=nid(), name=lab.name or "", color=lab.color or None,
            type=ltype,
            svg=lab.svg,
            attributes=[AttributeSpec(
                id=nid(), name=a.name or "", mutable=a.is_mutable,
                input_type=a.input_type if a.input_type in _INPUT_TYPES else "text",
                default_value=a.default_value or "", values=a.value_list,
            ) for a in lab.attributes or []],
        )
        if lab.parent:
            pending_subs.append((lab.parent, spec))
        else:
            specs[spec.name] = spec
    for parent, sub in pending_subs:
        if parent in specs:
            sub.parent_id = specs[parent].id
            specs[parent].sublabels.append(sub)
    return list(specs.values())


_LABEL_TYPES = frozenset({
    "any", "rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask",
    "skeleton", "tag",
})
_INPUT_TYPES = frozenset({"checkbox", "radio", "number", "text", "select"})


def task_meta(labels: LabelIndex, frames: TaskFrames, *, name: str | None = None,
              mode: str = "annotation", source: str | None = None,
              task_id: str = "", created: str = "", dumped: str = "") -> Meta:
    """A ``<meta><task>`` in CVAT 2.73's layout for an exported task (empty where the task
    has no server-side value yet, e.g. its id)."""
    t = TaskMeta(
        id=task_id, name=name or "", size=str(frames.size), mode=mode, overlap="0",
        bugtracker="", created=created, updated=created, subset="default",
        start_frame=str(frames.start_frame), stop_frame=str(frames.stop),
        frame_filter="" if frames.step == 1 else f"step={frames.step}",
        segments=[], owner="", assignee="", labels=label_meta(labels),
    )
    if mode == "interpolation" and frames.frames:
        from annosync.cvatxml.meta import Size

        first = frames.frames[0]
        t.original_size = Size(width=str(first.width or ""), height=str(first.height or ""))
        t.source = source or ""
    return Meta(kind="task", task=t, dumped=dumped)
