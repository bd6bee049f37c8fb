"""Resolved schema -> CVAT label specs (the ``labels`` of ``POST /api/projects`` or ``/api/tasks``).

Why these choices (checked against the recordings, 02_create_project and recordings2/08):

- one CVAT label per class, named ``ResolvedClass.cvat_name`` (``<class>_<field>`` when several
  fields share the class); the label ``type`` hints the drawing tool (``rectangle`` for
  detections, ``mask`` for instances and segmentation, ``polygon``, ``polyline``, ``points``,
  ``tag`` for classifications and scalars, ``any`` where a field mixes kinds);
- attribute values as CVAT stores them: checkbox ``values == [default]`` (``"false"`` or
  ``"true"``), text ``[default]`` (usually ``[""]``), select/radio the values as strings, number
  ``[min, max, step]``;
- ``occluded`` / ``group_id`` attributes are not sent: they ride on the shape's own ``occluded``
  flag and ``group`` number;
- ``read_only`` attributes are sent (annotators see them) but never loaded back;
- every label whose objects carry a label id gets a mutable ``label_id`` text attribute (mutable
  so each keyframe of a video track carries its own label's id); scalar labels have no ids;
- a scalar field without classes is one tag label named after the field with a ``value`` text
  attribute (the reference's convention).
"""

from __future__ import annotations

from collections.abc import Iterable

from annosync.convert.attrs import default_string
from annosync.model.cvat import AttributeSpec, LabelSpec
from annosync.model.schema import LABEL_ID_ATTR, ResolvedAttribute, ResolvedSchema
from annosync.model.schema_rules import stringify

#: The text attribute holding a scalar field's value when the field has no classes.
VALUE_ATTR = "value"


def attribute_spec(attr: ResolvedAttribute) -> AttributeSpec:
    default = default_string(attr)
    if attr.type in ("select", "radio", "number"):
        values = [stringify(v) for v in attr.values or []]
    else:  # checkbox, text: CVAT keeps the default as the only value
        values = [default]
    kind = attr.type
    assert kind not in ("occluded", "group_id"), "wired attributes are not sent"
    return AttributeSpec(name=attr.name, mutable=attr.mutable, input_type=kind,
                         default_value=default, values=values)


def label_id_spec() -> AttributeSpec:
    return AttributeSpec(name=LABEL_ID_ATTR, mutable=True, input_type="text", default_value="",
                         values=[""])


def to_specs(schema: ResolvedSchema) -> list[LabelSpec]:
    """The CVAT labels to create for a run, in schema order (fields, then classes)."""
    out: list[LabelSpec] = []
    seen: set[str] = set()
    for rf in schema.fields.values():
        if rf.scalar_as_value and rf.value_cvat_name:
            if rf.value_cvat_name not in seen:
                seen.add(rf.value_cvat_name)
                out.append(LabelSpec(
                    name=rf.value_cvat_name, type="tag",
                    attributes=[AttributeSpec(name=VALUE_ATTR, mutable=True, input_type="text",
                                              default_value="", values=[""])],
                ))
            continue
        for cls in rf.classes:
            if cls.cvat_name in seen:  # a project schema shares labels between fields
                continue
            seen.add(cls.cvat_name)
            attrs = [attribute_spec(a) for a in cls.sent_attributes]
            if rf.type != "scalar":
                attrs.append(label_id_spec())
            out.append(LabelSpec(name=cls.cvat_name, type=rf.cvat_type, attributes=attrs))
    return out


def label_id_patches(labels: Iterable[LabelSpec]) -> list[LabelSpec]:
    """Labels of an existing project lacking the ``label_id`` attribute, with it added: the body
    items of ``PATCH /api/projects/{id}`` ``{"labels": [...]}`` (as the reference does before
    uploading to an existing project). Existing attributes keep their ids."""
    out: list[LabelSpec] = []
    for label in labels:
        if label.parent_id is not None or any(a.name == LABEL_ID_ATTR for a in label.attributes):
            continue
        patched = label.model_copy(deep=True)
        patched.attributes.append(label_id_spec())
        patched.sublabels = []
        out.append(patched)
    return out
