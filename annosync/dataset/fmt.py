"""``annosync fmt``: re-save label files deterministically, assigning ids that are missing.

A label file edited by hand (or written by another tool) may have keys in any order, floats
written as ints, labels without ``_id``. Re-saving it through the model gives the canonical
bytes; after that, re-saving never changes it again. Missing ids are assigned once, here, so
they are stable from then on. With ``probe``, missing metadata is read from the media.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from annosync.dataset.atomic import write_bytes_atomic
from annosync.dataset.check import display_path
from annosync.dataset.folder import DatasetFolder, parse_sample, sample_to_bytes
from annosync.dataset.media import probe
from annosync.errors import InputError, Problem


@dataclass
class FmtResult:
    changed: list[str] = field(default_factory=list)  # keys whose file changed (or would)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)


def format_folder(
    folder: DatasetFolder,
    keys: Iterable[str] | None = None,
    check: bool = False,
    probe_media: bool = False,
) -> FmtResult:
    """Canonicalize label files; with ``check``, only report which ones would change."""
    result = FmtResult()
    for key in folder.keys() if keys is None else keys:
        try:
            path = folder.label_path(key)
        except InputError as exc:
            result.problems.extend(exc.problems)
            continue
        display = display_path(path)
        try:
            before = path.read_bytes()
            sample = parse_sample(before, display)
            if probe_media and sample.metadata is None:
                sample = sample.model_copy(update={"metadata": probe(folder.root / sample.media)})
        except InputError as exc:
            result.problems.extend(exc.problems)
            continue
        except OSError as exc:
            result.problems.extend(InputError.at(f"cannot read: {exc}", display).problems)
            continue
        after = sample_to_bytes(sample)
        if after == before:
            result.unchanged += 1
            continue
        result.changed.append(key)
        if not check:
            write_bytes_atomic(path, after)
    return result
