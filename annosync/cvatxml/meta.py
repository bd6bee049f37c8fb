"""The ``<meta>`` section of a CVAT XML document: task, job or project forms, losslessly.

CVAT's dumper builds meta as a tree of ordered dicts of strings and writes it element by element
(``XmlAnnotationWriter._add_meta`` in cvat/apps/dataset_manager/formats/cvat.py; the content comes
from ``TaskData.meta_for_task``, ``JobData._init_meta`` and ``ProjectData._init_meta`` in
bindings.py, FACTS A.1). Values are kept as the *strings* they are in the file: CVAT's importer
never reads meta (FACTS A.4), other tools write it loosely (datumaro leaves ``<id>`` empty and
writes ``<values>`` space-separated), and a reader that insisted on numbers here would refuse
files CVAT accepts. Typed accessors (``start_frame_int``, ``frame_step`` ...) parse on demand.

``None`` means the element was absent, ``""`` that it was present and empty. Elements the format
does not define are kept in ``extra`` (serialized XML) and written back at the end of their
parent. The writer emits the 2.73 order; legacy ``<flipped>`` and ``<z_order>`` (CVAT 1.x,
datumaro) are known fields too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from lxml import etree

from annosync.cvatxml.diag import Diagnostics


# -- model -------------------------------------------------------------------------------------
@dataclass(slots=True)
class Person:
    """``<owner>`` / ``<assignee>`` with a user; an empty element is the string ``""``."""

    username: str | None = None
    email: str | None = None
    extra: list[str] = field(default_factory=list)


PersonField = Union[Person, str, None]


@dataclass(slots=True)
class Segment:
    id: str | None = None
    start: str | None = None
    stop: str | None = None
    url: str | None = None
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Size:
    """``<original_size>`` of a video task."""

    width: str | None = None
    height: str | None = None
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class AttributeSpec:
    """One ``<attribute>`` of a label. ``mutable`` is ``"True"``/``"False"`` as written;
    ``values`` is the raw text (CVAT joins values with newlines)."""

    name: str | None = None
    mutable: str | None = None
    input_type: str | None = None
    default_value: str | None = None
    values: str | None = None
    extra: list[str] = field(default_factory=list)

    @property
    def is_mutable(self) -> bool:
        return (self.mutable or "").strip().lower() == "true"

    @property
    def value_list(self) -> list[str]:
        return (self.values or "").split("\n") if self.values else []


@dataclass(slots=True)
class LabelMeta:
    """One ``<label>``: sub-labels of a skeleton follow it with ``parent`` set."""

    name: str | None = None
    color: str | None = None
    type: str | None = None
    attributes: list[AttributeSpec] | None = None
    parent: str | None = None
    svg: str | None = None
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TaskMeta:
    """``<task>`` (also inside a project's ``<tasks>``) or ``<job>`` (no ``name``)."""

    id: str | None = None
    name: str | None = None
    size: str | None = None
    mode: str | None = None
    overlap: str | None = None
    bugtracker: str | None = None
    flipped: str | None = None
    z_order: str | None = None
    created: str | None = None
    updated: str | None = None
    subset: str | None = None
    start_frame: str | None = None
    stop_frame: str | None = None
    frame_filter: str | None = None
    segments: list[Segment] | None = None
    owner: PersonField = None
    assignee: PersonField = None
    labels: list[LabelMeta] | None = None
    original_size: Size | None = None
    source: str | None = None
    extra: list[str] = field(default_factory=list)

    @property
    def start_frame_int(self) -> int:
        return _int_or(self.start_frame, 0)

    @property
    def stop_frame_int(self) -> int | None:
        return _int_or(self.stop_frame, None)

    @property
    def size_int(self) -> int | None:
        return _int_or(self.size, None)

    @property
    def frame_step(self) -> int:
        return parse_frame_step(self.frame_filter)


@dataclass(slots=True)
class ProjectMeta:
    id: str | None = None
    name: str | None = None
    bugtracker: str | None = None
    created: str | None = None
    updated: str | None = None
    tasks: list[TaskMeta] | None = None
    subsets: str | None = None
    owner: PersonField = None
    assignee: PersonField = None
    labels: list[LabelMeta] | None = None
    extra: list[str] = field(default_factory=list)


MetaKind = Literal["task", "job", "project"]


@dataclass(slots=True)
class Meta:
    """``<meta>``: one of task / job / project, the dump time and (job exports) the video size,
    which CVAT writes beside ``<job>`` rather than inside it."""

    kind: MetaKind | None = None
    task: TaskMeta | None = None
    project: ProjectMeta | None = None
    original_size: Size | None = None
    dumped: str | None = None
    extra: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[LabelMeta]:
        if self.project is not None:
            return list(self.project.labels or [])
        if self.task is not None:
            return list(self.task.labels or [])
        return []

    @property
    def video_size(self) -> Size | None:
        if self.task is not None and self.task.original_size is not None:
            return self.task.original_size
        return self.original_size


_STEP = re.compile(r"^\s*step\s*=\s*(\d+)\s*$")


def parse_frame_step(frame_filter: str | None) -> int:
    """``"step=N"`` -> N; empty or absent -> 1 (CVAT's ``get_frame_step``)."""
    if not frame_filter or not frame_filter.strip():
        return 1
    match = _STEP.match(frame_filter)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"unsupported frame_filter {frame_filter!r} (expected 'step=N')")
    return int(match.group(1))


def _int_or(value: str | None, default: Any) -> Any:
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        return default


# -- reading -----------------------------------------------------------------------------------
def raw_xml(el: etree._Element) -> str:
    """An unknown element serialized for passthrough (without its tail)."""
    return etree.tostring(el, encoding="unicode", with_tail=False)


class _MetaParser:
    def __init__(self, diag: Diagnostics) -> None:
        self.diag = diag

    def _text(self, el: etree._Element) -> str:
        if len(el):
            self.diag.warn(
                f"<{el.tag}> should hold text only; its child elements are ignored", el.sourceline
            )
        return el.text or ""

    def _unknown(self, el: etree._Element, where: str, extra: list[str]) -> None:
        self.diag.warn(f"unknown element <{el.tag}> in <{where}> kept as-is", el.sourceline)
        extra.append(raw_xml(el))

    def _fill(self, obj: Any, el: etree._Element, texts: tuple[str, ...],
              containers: dict[str, Callable[[etree._Element], Any]]) -> None:
        seen: set[str] = set()
        for child in el:
            tag = child.tag
            if not isinstance(tag, str):
                continue  # comments and processing instructions carry no data
            if tag in seen or (tag not in texts and tag not in containers):
                self._unknown(child, str(el.tag), obj.extra)
                continue
            seen.add(tag)
            if tag in texts:
                setattr(obj, tag, self._text(child))
            else:
                setattr(obj, tag, containers[tag](child))

    def person(self, el: etree._Element) -> PersonField:
        if not len(el):
            text = el.text or ""
            if text and not text.strip() and "\n" in text:
                return Person()  # a container with no user fields, as written indented
            return text
        p = Person()
        self._fill(p, el, ("username", "email"), {})
        return p

    def size(self, el: etree._Element) -> Size:
        s = Size()
        self._fill(s, el, ("width", "height"), {})
        return s

    def _list(self, el: etree._Element, item_tag: str,
              parse: Callable[[etree._Element], Any], extra: list[str]) -> list[Any]:
        items = []
        for child in el:
            if not isinstance(child.tag, str):
                continue
            if child.tag == item_tag:
                items.append(parse(child))
            else:
                self._unknown(child, str(el.tag), extra)
        return items

    def segment(self, el: etree._Element) -> Segment:
        s = Segment()
        self._fill(s, el, ("id", "start", "stop", "url"), {})
        return s

    def attribute(self, el: etree._Element) -> AttributeSpec:
        a = AttributeSpec()
        self._fill(a, el, ("name", "mutable", "input_type", "default_value", "values"), {})
        return a

    def label(self, el: etree._Element) -> LabelMeta:
        lab = LabelMeta()
        self._fill(lab, el, ("name", "color", "type", "parent", "svg"), {
            "attributes": lambda c: self._list(c, "attribute", self.attribute, lab.extra),
        })
        return lab

    def task(self, el: etree._Element) -> TaskMeta:
        t = TaskMeta()
        self._fill(t, el, (
            "id", "name", "size", "mode", "overlap", "bugtracker", "flipped", "z_order",
            "created", "updated", "subset", "start_frame", "stop_frame", "frame_filter", "source",
        ), {
            "segments": lambda c: self._list(c, "segment", self.segment, t.extra),
            "owner": self.person,
            "assignee": self.person,
            "labels": lambda c: self._list(c, "label", self.label, t.extra),
            "original_size": self.size,
        })
        return t

    def project(self, el: etree._Element) -> ProjectMeta:
        p = ProjectMeta()
        self._fill(p, el, ("id", "name", "bugtracker", "created", "updated", "subsets"), {
            "tasks": lambda c: self._list(c, "task", self.task, p.extra),
            "owner": self.person,
            "assignee": self.person,
            "labels": lambda c: self._list(c, "label", self.label, p.extra),
        })
        return p

    def meta(self, el: etree._Element) -> Meta:
        m = Meta()
        for child in el:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            if tag in ("task", "job", "project") and m.kind is None:
                m.kind = tag  # type: ignore[assignment]
                if tag == "project":
                    m.project = self.project(child)
                else:
                    m.task = self.task(child)
            elif tag == "dumped" and m.dumped is None:
                m.dumped = self._text(child)
            elif tag == "original_size" and m.original_size is None:
                m.original_size = self.size(child)
            else:
                self._unknown(child, "meta", m.extra)
        return m


def parse_meta(el: etree._Element, diag: Diagnostics) -> Meta:
    """Parse a fully built ``<meta>`` element (unknown children become warnings + passthrough)."""
    return _MetaParser(diag).meta(el)


# -- writing -----------------------------------------------------------------------------------
@dataclass(slots=True)
class Node:
    """One element of the meta tree as CVAT's ``_add_meta`` writes it: ``text`` for a leaf,
    ``children`` (possibly empty) for a container, ``raw`` for a passthrough element."""

    tag: str
    text: str | None = None
    children: list[Node] | None = None
    raw: str | None = None


def _leaves(obj: Any, names: tuple[str, ...]) -> list[Node]:
    return [Node(n, text=getattr(obj, n)) for n in names if getattr(obj, n) is not None]


def _raws(extra: list[str]) -> list[Node]:
    return [Node("", raw=r) for r in extra]


def _person(tag: str, value: PersonField) -> list[Node]:
    if value is None:
        return []
    if isinstance(value, str):
        return [Node(tag, text=value)]
    return [Node(tag, children=_leaves(value, ("username", "email")) + _raws(value.extra))]


def _size(tag: str, value: Size | None) -> list[Node]:
    if value is None:
        return []
    return [Node(tag, children=_leaves(value, ("width", "height")) + _raws(value.extra))]


def _label_nodes(labels: list[LabelMeta] | None) -> list[Node]:
    if labels is None:
        return []
    out = []
    for lab in labels:
        kids = _leaves(lab, ("name", "color", "type"))
        if lab.attributes is not None:
            kids.append(Node("attributes", children=[
                Node("attribute", children=_leaves(
                    a, ("name", "mutable", "input_type", "default_value", "values")
                ) + _raws(a.extra))
                for a in lab.attributes
            ]))
        kids += _leaves(lab, ("parent", "svg")) + _raws(lab.extra)
        out.append(Node("label", children=kids))
    return [Node("labels", children=out)]


def task_nodes(t: TaskMeta) -> list[Node]:
    kids = _leaves(t, (
        "id", "name", "size", "mode", "overlap", "bugtracker", "flipped", "z_order",
        "created", "updated", "subset", "start_frame", "stop_frame", "frame_filter",
    ))
    if t.segments is not None:
        kids.append(Node("segments", children=[
            Node("segment", children=_leaves(s, ("id", "start", "stop", "url")) + _raws(s.extra))
            for s in t.segments
        ]))
    kids += _person("owner", t.owner) + _person("assignee", t.assignee)
    kids += _label_nodes(t.labels)
    kids += _size("original_size", t.original_size)
    kids += _leaves(t, ("source",)) + _raws(t.extra)
    return kids


def project_nodes(p: ProjectMeta) -> list[Node]:
    kids = _leaves(p, ("id", "name", "bugtracker", "created", "updated"))
    if p.tasks is not None:
        kids.append(Node("tasks", children=[Node("task", children=task_nodes(t)) for t in p.tasks]))
    kids += _leaves(p, ("subsets",))
    kids += _person("owner", p.owner) + _person("assignee", p.assignee)
    kids += _label_nodes(p.labels) + _raws(p.extra)
    return kids


def meta_nodes(meta: Meta) -> list[Node]:
    """The children of ``<meta>`` in CVAT 2.73's order (a job's ``original_size`` is added to
    the meta dict after ``dumped``, so it comes last)."""
    kids: list[Node] = []
    if meta.kind == "project" and meta.project is not None:
        kids.append(Node("project", children=project_nodes(meta.project)))
    elif meta.kind in ("task", "job") and meta.task is not None:
        kids.append(Node(meta.kind, children=task_nodes(meta.task)))
    if meta.dumped is not None:
        kids.append(Node("dumped", text=meta.dumped))
    kids += _size("original_size", meta.original_size)
    return kids + _raws(meta.extra)
