"""The field schema FiftyOne's ``metadata.json`` declares (``sample_fields``/``frame_fields``).

FiftyOne's importer replaces its dataset document with ``metadata.json`` wholesale, so a
loadable export must declare every field with FiftyOne's own ``ftype`` names and the standard
sub-fields of each label class, as FiftyOne 1.x writes them (see tests/data/fiftyone/). Dynamic
attributes are not declared (FiftyOne does not declare them either until asked to).
"""

from __future__ import annotations

from typing import Any

F = "fiftyone.core.fields."
L = "fiftyone.core.labels."

_STR, _INT, _FLOAT, _BOOL = F + "StringField", F + "IntField", F + "FloatField", F + "BooleanField"


def field(name: str, ftype: str, embedded: str | None = None, subfield: str | None = None,
          fields: list[dict[str, Any]] | None = None, db_field: str | None = None,
          read_only: bool = False, created_at: str | None = None) -> dict[str, Any]:
    return {"name": name, "ftype": ftype, "embedded_doc_type": embedded, "subfield": subfield,
            "fields": fields or [], "db_field": db_field or name, "description": None,
            "info": None, "read_only": read_only,
            "created_at": {"$date": created_at} if created_at else None}


def _base(with_attributes: bool = True) -> list[dict[str, Any]]:
    out = [field("id", F + "ObjectIdField", db_field="_id"),
           field("tags", F + "ListField", subfield=_STR)]
    if with_attributes:
        out.append(field("attributes", F + "DictField", L + "Attribute",
                         F + "EmbeddedDocumentField"))
    return out


def _item_fields(cls: str) -> list[dict[str, Any]]:
    if cls == "Classification":
        return [*_base(False), field("label", _STR), field("confidence", _FLOAT), field("logits", F + "VectorField")]
    if cls == "Detection":
        return [*_base(), field("label", _STR), field("bounding_box", F + "ListField", subfield=_FLOAT), field("mask", F + "ArrayField"), field("mask_path", _STR), field("confidence", _FLOAT), field("index", _INT)]
    if cls == "Polyline":
        return [*_base(), field("label", _STR), field("points", F + "PolylinePointsField"), field("confidence", _FLOAT), field("index", _INT), field("closed", _BOOL), field("filled", _BOOL)]
    if cls == "Keypoint":
        return [*_base(), field("label", _STR), field("points", F + "KeypointsField"), field("confidence", F + "ListField", subfield=_FLOAT), field("index", _INT)]
    if cls == "Segmentation":
        return [*_base(False), field("mask", F + "ArrayField"), field("mask_path", _STR)]
    raise ValueError(cls)


CONTAINERS = {"Classifications": ("Classification", "classifications"),
              "Detections": ("Detection", "detections"), "Polylines": ("Polyline", "polylines"),
              "Keypoints": ("Keypoint", "keypoints")}


def label_field(name: str, cls: str) -> dict[str, Any]:
    if cls in CONTAINERS:
        item, key = CONTAINERS[cls]
        sub = [field(key, F + "ListField", L + item, F + "EmbeddedDocumentField",
                     _item_fields(item))]
        if cls == "Classifications":
            sub.append(field("logits", F + "VectorField"))
        return field(name, F + "EmbeddedDocumentField", L + cls, fields=sub)
    return field(name, F + "EmbeddedDocumentField", L + cls, fields=_item_fields(cls))


SCALAR_FTYPES = {bool: _BOOL, int: _INT, float: _FLOAT, str: _STR}


def scalar_field(name: str, kinds: set[type]) -> dict[str, Any]:
    if kinds <= {int, float} and float in kinds:
        return field(name, _FLOAT)
    (kind,) = kinds
    return field(name, SCALAR_FTYPES[kind])


def sample_fields(media: str, created: str) -> list[dict[str, Any]]:
    """The fields every sample has (before the dataset's own)."""
    meta = "fiftyone.core.metadata." + ("VideoMetadata" if media == "video" else "ImageMetadata")
    if media == "video":
        meta_fields = [field("size_bytes", _INT), field("mime_type", _STR),
                       field("frame_width", _INT), field("frame_height", _INT),
                       field("frame_rate", _FLOAT), field("total_frame_count", _INT),
                       field("duration", _FLOAT), field("encoding_str", _STR)]
    else:
        meta_fields = [field("size_bytes", _INT), field("mime_type", _STR),
                       field("width", _INT), field("height", _INT), field("num_channels", _INT)]
    return [
        field("created_at", F + "DateTimeField", read_only=True, created_at=created),
        field("_media_type", _STR, created_at=created),
        field("_dataset_id", F + "ObjectIdField", created_at=created),
        field("_rand", _FLOAT, created_at=created),
        field("filepath", _STR, created_at=created),
        field("last_modified_at", F + "DateTimeField", read_only=True, created_at=created),
        field("tags", F + "ListField", subfield=_STR, created_at=created),
        field("metadata", F + "EmbeddedDocumentField", meta, fields=meta_fields,
              created_at=created),
        field("id", F + "ObjectIdField", db_field="_id", created_at=created),
    ]


def frame_fields(created: str) -> list[dict[str, Any]]:
    return [
        field("_sample_id", F + "ObjectIdField", created_at=created),
        field("created_at", F + "DateTimeField", read_only=True, created_at=created),
        field("_dataset_id", F + "ObjectIdField", created_at=created),
        field("frame_number", F + "FrameNumberField", created_at=created),
        field("last_modified_at", F + "DateTimeField", read_only=True, created_at=created),
        field("id", F + "ObjectIdField", db_field="_id", created_at=created),
    ]
