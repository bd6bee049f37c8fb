"""The apply journal: intent before each server call, done after, so any interruption resumes.

An append-only JSON-lines file per run (``.annosync/journal/<anno_key>.jsonl``), fsynced after
every line. ``pending()`` returns intents without their done line: what a killed apply was in the
middle of. Resolving them (adopting what the dead run created, found by deterministic names) is
the applier's job; see docs/sync-algorithm.md "Journal and resume". The journal is cleared once an
apply finishes and the run record holds everything.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annosync.sync.record import now_iso

JOURNAL_DIR = "journal"
_LOCK = threading.Lock()  # appliers run steps of one run in parallel threads


@dataclass(frozen=True)
class Entry:
    seq: int
    op: str  # "intent" | "done"
    action: str
    key: str
    data: dict[str, Any]


class Journal:
    def __init__(self, state_dir: str | os.PathLike[str], anno_key: str) -> None:
        self.path = Path(state_dir) / JOURNAL_DIR / f"{anno_key}.jsonl"
        self._seq = len(self.entries())

    def entries(self) -> list[Entry]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for n, line in enumerate(lines):
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:
                # A torn last line (killed mid-write) carries no commitment: ignore it.
                if n == len(lines) - 1:
                    break
                raise
            out.append(Entry(raw["seq"], raw["op"], raw["action"], raw["key"], raw.get("data", {})))
        return out

    def _append(self, op: str, action: str, key: str, data: dict[str, Any]) -> None:
        with _LOCK:
            self._write(op, action, key, data)

    def _write(self, op: str, action: str, key: str, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        line = json.dumps(
            {"seq": self._seq, "op": op, "action": action, "key": key, "data": data,
             "at": now_iso()},
            sort_keys=True,
        )
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def intent(self, action: str, key: str, **data: Any) -> None:
        self._append("intent", action, key, data)

    def done(self, action: str, key: str, **data: Any) -> None:
        self._append("done", action, key, data)

    def pending(self) -> list[Entry]:
        """Intents not followed by their done line, oldest first."""
        open_: dict[tuple[str, str], Entry] = {}
        for e in self.entries():
            if e.op == "intent":
                open_[(e.action, e.key)] = e
            else:
                open_.pop((e.action, e.key), None)
        return sorted(open_.values(), key=lambda e: e.seq)

    def intent_of(self, action: str, key: str) -> Entry | None:
        return next((e for e in self.pending() if e.action == action and e.key == key), None)

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._seq = 0
