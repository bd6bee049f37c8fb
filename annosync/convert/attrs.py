"""Attribute values as CVAT strings and back, keeping their Python types.

Why: CVAT stores every attribute value as a string (``AttributeVal.value``); the reference parses
them back by guessing, so ``"1"`` may come back as an int from a text box or a select of
``[True, False]`` as strings. Here the resolved schema decides:

- checkbox / occluded: ``"true"``/``"false"`` <-> bool (anything else -> None);
- select / radio: the CVAT string is matched against the schema's values, which keep their
  original types (``3`` stays an int, ``True`` a bool); unknown strings are parsed by
  ``value_type``;
- number: int when the text is an integer literal (and the values are not floats), else float;
- text: parsed to ``value_type`` when it parses (an int attribute edited in a text box stays an
  int), else kept as the string annotators typed;
- CVAT's blank (``""``) -> None, for every kind but checkbox.

On upload, None becomes ``""`` (a checkbox sends its default: CVAT has no unset checkbox).
"""

from __future__ import annotations

import math
import re
from typing import Any

from annosync.model.labels import Scalar
from annosync.model.schema import ResolvedAttribute
from annosync.model.schema_rules import stringify

_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def encode(attr: ResolvedAttribute, value: Any) -> str:
    """The CVAT string of a label's attribute value."""
    if value is None:
        if attr.type == "checkbox":
            return "true" if attr.default is True else "false"
        return ""
    if isinstance(value, (bool, int, float, str)):
        return stringify(value)
    return str(value)


def default_string(attr: ResolvedAttribute) -> str:
    """CVAT's ``default_value`` for the spec."""
    if attr.type == "checkbox":
        return "true" if attr.default is True else "false"
    if attr.default is not None:
        return stringify(attr.default)
    if attr.type in ("select", "radio") and attr.values:
        return stringify(attr.values[0])
    if attr.type == "number" and attr.values:
        return stringify(attr.values[0])
    return ""


def parse_number(text: str, prefer_int: bool) -> int | float | None:
    text = text.strip()
    if prefer_int and _INT.match(text):
        return int(text)
    if _FLOAT.match(text) or _INT.match(text):
        f = float(text)
        if not math.isfinite(f):
            return None
        return f
    return None


def _typed(text: str, value_type: str | None) -> Scalar:
    if value_type == "bool":
        if text in ("true", "True"):
            return True
        if text in ("false", "False"):
            return False
        return text
    if value_type in ("int", "float"):
        number = parse_number(text, prefer_int=value_type == "int")
        return text if number is None else number
    return text


def decode(attr: ResolvedAttribute, text: str | None) -> Scalar:
    """The label value of a CVAT attribute string (see the module docstring)."""
    if text is None:
        return None
    if attr.type in ("checkbox", "occluded"):
        return True if text == "true" else False if text == "false" else None
    if text == "":
        return None
    if attr.type in ("select", "radio"):
        for value in attr.values or []:
            if stringify(value) == text:
                return value
        return _typed(text, attr.value_type)
    if attr.type == "number":
        number = parse_number(text, prefer_int=attr.value_type != "float")
        return number
    return _typed(text, attr.value_type)


def parse_scalar(text: str, value_type: str | None) -> Scalar:
    """A scalar field's value from a tag's ``value`` attribute or class name."""
    if text == "":
        return None
    if value_type is None:
        return text
    return _typed(text, value_type)
