"""Dataset folders on disk: deterministic JSON label files, atomic writes, media probing."""

from annosync.dataset.folder import DatasetFolder, DatasetInfo, parse_sample, sample_to_bytes

__all__ = ["DatasetFolder", "DatasetInfo", "parse_sample", "sample_to_bytes"]
