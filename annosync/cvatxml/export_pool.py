"""Reading and rendering label files for ``export-xml`` in worker processes, in order.

Why: the direct path (``export_fast.py``) is pure work per label file (read, parse JSON, format
text), so a big export can use every core: workers render batches of samples, the parent writes
their text in the samples' order, so the file is byte for byte what one process writes (tested).
What a worker cannot render (``None``) the parent does the general way, in its place. At most
``2 * jobs`` batches are in flight, so memory stays flat whatever the size of the dataset.

Workers are forked (they share the parent's imports and start in milliseconds); where ``fork``
is not available, or the export is small, everything runs in the calling process. A worker that
gives no answer for ``STALL`` seconds (a fork can inherit a lock another thread held, and wait on
it forever) is given up: the pool is terminated and the calling process renders the rest, so the
output is the same and the export never hangs.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import Any

from pydantic_core import from_json

from annosync.cvatxml.encoding import NumberStyle, number_formatter
from annosync.cvatxml.export_fast import FastFrames, Note, head_of
from annosync.cvatxml.forks import available, forking

#: what a worker is given per sample: the label file's path and how to start its ``<image>``
#: (``export_fast.head_of``); ``None``: not for the direct path (the parent does it)
Job = tuple[str, tuple[Any, ...]] | None
#: what comes back per sample: (media, ``<image>`` text as UTF-8, shapes, tags) or ``None``
Done = tuple[str, bytes, int, int] | None

BATCH = 64
#: fewer samples than this: not worth starting processes
MIN_PARALLEL = 1000
#: seconds without the next batch from the workers after which this process renders the rest
#: itself (a batch of label files takes milliseconds; a worker this late is stuck)
STALL = 60.0

_frames: FastFrames | None = None


def _init(fields: set[str] | None, label_ids: bool, numbers: NumberStyle) -> None:
    global _frames
    _frames = FastFrames(fields, label_ids, number_formatter(numbers))


def render(frames: FastFrames, batch: list[Job]) -> tuple[list[Done], list[Note]]:
    """Each job of ``batch`` by the direct path (``None`` for what it leaves to the general
    path: an unreadable file or JSON the fast parser refuses included), and what it noted."""
    out: list[Done] = []
    for job in batch:
        if job is None:
            out.append(None)
            continue
        path, spec = job
        try:
            with open(path, "rb") as fh:
                raw = from_json(fh.read())
        except (OSError, ValueError):
            out.append(None)
            continue
        got = frames.image(raw, head_of(spec))
        out.append(None if got is None else (got[0], got[1].encode("utf-8"), got[2], got[3]))
    notes = frames.notes[:]
    frames.notes.clear()
    return out, notes


def _work(batch: list[Job]) -> tuple[list[Done], list[Note]]:
    assert _frames is not None, "worker not initialised"
    return render(_frames, batch)


def rendered(jobs: Iterable[Job], *, workers: int, fields: set[str] | None, label_ids: bool,
             numbers: NumberStyle, size: int) -> Iterator[tuple[Done, list[Note]]]:
    """``(done, notes)`` for each job, in order (``notes``: what the direct path noted for the
    batch of the sample, given with the batch's first sample, else ``[]``). ``workers``
    processes when there are at least ``MIN_PARALLEL`` samples (``size``) and ``fork`` exists,
    else this process."""
    batches = _batches(iter(jobs))
    if workers <= 1 or size < MIN_PARALLEL or not available():
        yield from _here(batches, fields, label_ids, numbers)
        return
    ctx = multiprocessing.get_context("fork")
    with forking():
        pool = ctx.Pool(workers, initializer=_init, initargs=(fields, label_ids, numbers))
    with pool:
        pending: deque[tuple[list[Job], Any]] = deque()
        for batch in islice(batches, 2 * workers):
            pending.append((batch, pool.apply_async(_work, (batch,))))
        while pending:
            batch, waiting = pending[0]
            try:
                result = waiting.get(STALL)
            except multiprocessing.TimeoutError:
                break  # a worker is stuck: this process does the rest, in order
            pending.popleft()
            nxt = next(batches, None)
            if nxt is not None:
                pending.append((nxt, pool.apply_async(_work, (nxt,))))
            yield from _spread(result)
        if not pending:
            return
    # Here only when a worker gave no answer for STALL seconds (the pool is terminated by
    # now). A process forked while another thread held a lock (the caller's threads: a web
    # app, a test runner's servers) can wait on it forever; the export must not.
    yield from _here(chain((batch for batch, _ in pending), batches), fields, label_ids, numbers)


def _here(batches: Iterable[list[Job]], fields: set[str] | None, label_ids: bool,
          numbers: NumberStyle) -> Iterator[tuple[Done, list[Note]]]:
    """The batches rendered in this process, in order."""
    frames = FastFrames(fields, label_ids, number_formatter(numbers))
    for batch in batches:
        yield from _spread(render(frames, batch))


def _batches(jobs: Iterator[Job]) -> Iterator[list[Job]]:
    while batch := list(islice(jobs, BATCH)):
        yield batch


def _spread(result: tuple[list[Done], list[Note]]) -> Iterator[tuple[Done, list[Note]]]:
    done, notes = result
    for i, d in enumerate(done):
        yield d, notes if i == 0 else []
