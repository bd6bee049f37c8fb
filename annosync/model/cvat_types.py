"""CVAT's label and shape type names (plain ``Literal`` types, no pydantic).

Why a module apart from ``model/cvat.py``: the run's resolved schema (``model/schema.py``) names
a CVAT label type, and a plan that never talks to CVAT should not build CVAT's eleven annotation
models to know that name (the CLI's start-up; ``tests/cli/test_startup.py``).
"""

from __future__ import annotations

from typing import Literal

ShapeType = Literal[
    "rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton"
]
LabelType = Literal[
    "any", "rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask",
    "skeleton", "tag",
]
