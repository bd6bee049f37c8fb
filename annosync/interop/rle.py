"""COCO's run-length encoding of masks, without pycocotools (``maskApi.c``, re-written).

COCO RLE runs over the mask in column-major (Fortran) order, alternating 0s and 1s starting with
0s; ``counts`` is either a list of ints ("uncompressed") or a string in COCO's own compact
encoding (``rleToString``/``rleFrString``: 5 bits a character, offset 48, counts after the
second stored as the difference to the count two before).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from annosync.model.labels import bool_runs, runs_to_bools


def decode_counts(s: str) -> list[int]:
    """``rleFrString``."""
    counts: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            if p >= len(s):
                raise ValueError("truncated RLE string")
            c = ord(s[p]) - 48
            if c < 0 or c > 63:
                raise ValueError(f"invalid character {s[p]!r} in RLE string")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def encode_counts(counts: list[int]) -> str:
    """``rleToString``."""
    out: list[str] = []
    for i, value in enumerate(counts):
        x = value - counts[i - 2] if i > 2 else value
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """A COCO RLE (``{"size": [h, w], "counts": str | list}``) as a bool array (h, w)."""
    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    runs = decode_counts(counts) if isinstance(counts, str) else [int(c) for c in counts]
    if any(c < 0 for c in runs):
        raise ValueError("negative run length")
    if sum(runs) != h * w:
        raise ValueError(f"run lengths sum to {sum(runs)}, expected {h}*{w} = {h * w}")
    return runs_to_bools(runs).reshape(w, h).T


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """A bool array as a compressed COCO RLE (what pycocotools' ``encode`` gives)."""
    counts = bool_runs(np.asarray(mask, dtype=bool).T.reshape(-1))
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": encode_counts(counts)}

