"""Print a plan like terraform does: one header per run, one line per action, a summary line.

Why a module: ``plan``, ``sync``, ``apply``, ``pull``, ``push`` and the demo all show plans, and
they must look the same everywhere. Rendering is pure (a ``Plan`` in, styled lines out); the
only I/O is :func:`emit`, which colours through rich on a terminal and writes plain,
deterministic text otherwise (pipes, files, tests).

Symbols: ``+`` create, ``~`` change pulled from CVAT, ``>`` change pushed to CVAT, ``-`` delete
(cleanup), ``!`` conflict or rejection, ``x`` blocked (apply will refuse), ``*`` resume, ``=`` a
CVAT job (its review stage and state, pulled or held back; unchanged jobs with ``-v``).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO

from annosync.dataset.check import display_path
from annosync.sync.plan import Counts, JobInfo, LabelLine, Plan, RunPlan, SampleChange

Segment = tuple[str, str | None]  # (text, rich style)

STYLES = {
    "+": "green",
    "~": "yellow",
    ">": "cyan",
    "-": "red",
    "!": "bold red",
    "x": "bold red",
    "*": "magenta",
    "=": "blue",
    "header": "bold",
    "dim": "dim",
    "warning": "yellow",
    "summary": "bold",
}


CONFLICT_KINDS = {
    "edit/edit": "edited locally and in CVAT",
    "edit/delete": "edited locally, deleted in CVAT",
    "delete/edit": "deleted locally, edited in CVAT",
    "no-base": "added on both sides, different",
}


@dataclass
class Line:
    """One output line: styled segments (the plain text is their concatenation)."""

    segments: list[Segment] = field(default_factory=list)

    def add(self, text: str, style: str | None = None) -> Line:
        self.segments.append((text, style))
        return self

    @property
    def plain(self) -> str:
        return "".join(text for text, _ in self.segments)


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def label_file(key: str) -> str:
    return f"labels/{key}.json"


def _counts(c: Counts) -> str:
    parts = []
    if c.edit:
        parts.append(f"{c.edit} edited")
    if c.add:
        parts.append(f"{c.add} added")
    if c.delete:
        parts.append(f"{c.delete} deleted")
    return ", ".join(parts) or "no changes"


def _field(s: SampleChange) -> str:
    return f"{s.field} -> {s.dest_field}" if s.dest_field else s.field


def _where(frame: int | None) -> str:
    return "" if frame is None else f" frame {frame}"


def _label_line(line: LabelLine) -> Line:
    symbol = {"add": "+", "edit": "~", "delete": "-"}[line.kind]
    verb = {"add": "added", "edit": "edited", "delete": "deleted"}[line.kind]
    by = "in CVAT" if line.side == "pull" else "locally"
    text = f"      {symbol} {line.label_id}{_where(line.frame)}  {verb} {by}"
    if line.aspects:
        text += f" ({', '.join(line.aspects)})"
    return Line().add(text, STYLES[symbol])


def job_line(job: JobInfo) -> Line:
    """``= job 93 (task 77, frames 0-1, alice): acceptance/completed -> pull``."""
    start, stop = job.frames
    text = (f"  = job {job.job_id} (task {job.task_id}, frames {start}-{stop}, "
            f"{job.assignee or 'unassigned'}): {job.stage}/{job.state} -> ")
    if job.held:
        text += f"held back ({job.held})"
    else:
        text += "pull" if job.changed else "unchanged"
    if job.reopened:
        text += f"; {job.reopened}"
    return Line().add(text, STYLES["warning"] if job.held or job.reopened else STYLES["="])


def header(rp: RunPlan) -> Line:
    where = display_path(rp.dataset)
    server = rp.server or "<no server>"
    extra = ""
    if rp.create_project:
        extra = f", project {rp.create_project}"
    elif rp.use_project is not None:
        extra = f", project {rp.use_project}"
    line = Line().add(rp.anno_key, STYLES["header"])
    line.add(f" ({where} -> {server}{extra})", STYLES["dim"])
    return line


def run_lines(rp: RunPlan, verbose: bool = False) -> list[Line]:
    """The lines of one run, header first."""
    out = [header(rp)]
    for step in rp.resume:
        out.append(Line().add(f"  * resume {step}", STYLES["*"]))
    if rp.create_project:
        out.append(Line().add(f"  + project {rp.create_project}", STYLES["+"]))
    elif rp.use_project is not None and rp.create_tasks:
        out.append(Line().add(f"  = project {rp.use_project} (existing)", STYLES["dim"]))
    for task in rp.create_tasks:
        what = _plural(task.samples, "sample")
        if task.media_type == "video":
            what = _plural(task.samples, "video")
        if task.objects:
            what += f", {_plural(task.objects, 'label')} to upload"
        if task.assignee:
            what += f", assigned to {task.assignee}"
        out.append(Line().add(f"  + task  {task.name}  {what}", STYLES["+"]))
    jobs = [j for j in rp.jobs if verbose or j.changed or j.reopened]
    quiet = sum(1 for j in jobs if not (j.changed or j.reopened))  # unchanged, with -v
    out += [job_line(j) for j in jobs]
    conflicts = Counter((c.sample, c.field) for c in rp.conflicts)
    for s in rp.samples:
        if s.pull.total:
            n = conflicts.get((s.sample, s.field), 0)
            text = (f"  ~ {label_file(s.sample)}  {_field(s)}: {_counts(s.pull)} (by CVAT), "
                    f"{_plural(n, 'conflict')}")
            out.append(Line().add(text, STYLES["~"]))
            if verbose:
                out += [_label_line(x) for x in s.labels if x.side == "pull"]
        if s.push.total:
            text = f"  > {label_file(s.sample)}  {_field(s)}: {_counts(s.push)} (locally), " \
                   "to push to CVAT"
            out.append(Line().add(text, STYLES[">"]))
            if verbose:
                out += [_label_line(x) for x in s.labels if x.side == "push"]
    for c in rp.conflicts:
        kind = CONFLICT_KINDS.get(c.kind, c.kind)
        aspects = f" [{', '.join(c.aspects)}]" if c.aspects else ""
        resolution = ("unresolved (load.conflicts=fail)" if c.resolution == "unresolved"
                      else c.resolution)
        text = (f"  ! conflict {label_file(c.sample)}  {c.field} {c.label_id}{_where(c.frame)}: "
                f"{kind}{aspects} -> {resolution}")
        out.append(Line().add(text, STYLES["!"]))
    for r in rp.rejections:
        text = (f"  ! rejected {label_file(r.sample)}  {r.field} {r.label_id}{_where(r.frame)}: "
                f"{r.reason} (kept local; revert it in CVAT)")
        out.append(Line().add(text, STYLES["!"]))
    if rp.unexpected:
        out.append(Line().add(
            f"  ? {_plural(rp.unexpected, 'unexpected label')} in CVAT (fit no field; handled "
            "per load.unexpected)", STYLES["warning"]))
    if rp.ignored:
        out.append(Line().add(f"  ? {_plural(rp.ignored, 'label')} ignored", STYLES["dim"]))
    if rp.cleanup is not None:
        ids = ", ".join(str(i) for i in rp.cleanup.tasks)
        text = f"  - cleanup: delete {_plural(len(rp.cleanup.tasks), 'task')}"
        if ids:
            text += f" ({ids})"
        if rp.cleanup.project is not None:
            text += f" and project {rp.cleanup.project}"
        out.append(Line().add(text + " from CVAT", STYLES["-"]))
    for why in rp.blocked:
        out.append(Line().add(f"  x blocked: {why}", STYLES["x"]))
    for note in rp.warnings:
        out.append(Line().add(f"  warning: {note}", STYLES["warning"]))
    if len(out) - quiet == 1:
        out.append(Line().add("  (no changes)", STYLES["dim"]))
    return out


def summary(plan: Plan | Iterable[RunPlan]) -> str:
    """The last line: what apply will do, in counts (terraform's ``Plan: ...``)."""
    runs = list(plan.runs if isinstance(plan, Plan) else plan)
    projects = sum(1 for r in runs if r.create_project)
    tasks = sum(len(r.create_tasks) for r in runs)
    upload = sum(t.objects for r in runs for t in r.create_tasks)
    pull = sum(r.pull_counts.total for r in runs)
    push = sum(r.push_counts.total for r in runs)
    resume = sum(len(r.resume) for r in runs)
    cleanup = sum(len(r.cleanup.tasks) for r in runs if r.cleanup is not None)
    unresolved = sum(len(r.unresolved) for r in runs)
    blocked = [r.anno_key for r in runs if r.blocked]
    parts: list[str] = []
    creation = []
    if projects:
        creation.append(_plural(projects, "project"))
    if tasks:
        creation.append(_plural(tasks, "task"))
    if creation:
        parts.append(", ".join(creation) + " to create")
    if upload:
        parts.append(f"{_plural(upload, 'label')} to upload")
    if resume:
        parts.append(f"{_plural(resume, 'interrupted step')} to resume")
    if pull:
        parts.append(f"{_plural(pull, 'label change')} to pull")
    if push:
        parts.append(f"{push} to push" if pull else f"{_plural(push, 'label change')} to push")
    if cleanup:
        parts.append(f"{_plural(cleanup, 'task')} to delete")
    if unresolved:
        parts.append(f"{_plural(unresolved, 'unresolved conflict')}")
    if not parts:
        text = "No changes. CVAT and the dataset agree."
    else:
        text = "Plan: " + "; ".join(parts) + "."
    if blocked:
        text += f" Blocked: {', '.join(blocked)} (apply will refuse; see above)."
    return text


def plan_lines(plan: Plan, verbose: bool = False) -> list[Line]:
    out: list[Line] = []
    for rp in plan.runs:
        out += run_lines(rp, verbose)
    out.append(Line().add(summary(plan), STYLES["summary"]))
    return out


def render_text(plan: Plan, verbose: bool = False) -> str:
    """The plan as plain text (what a pipe or a test sees)."""
    return "\n".join(line.plain for line in plan_lines(plan, verbose)) + "\n"


def use_color(stream: IO[str] | None = None) -> bool:
    stream = stream or sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def emit(lines: Iterable[Line], color: bool | None = None, stream: IO[str] | None = None) -> None:
    """Write lines: styled through rich on a terminal, plain text otherwise."""
    stream = stream or sys.stdout
    if color is None:
        color = use_color(stream)
    if not color:
        for line in lines:
            stream.write(line.plain + "\n")
        stream.flush()
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(file=stream, highlight=False, soft_wrap=True, force_terminal=True)
    for line in lines:
        text = Text()
        for chunk, style in line.segments:
            text.append(chunk, style=style or "")
        console.print(text)


def print_plan(plan: Plan, verbose: bool = False, color: bool | None = None,
               stream: IO[str] | None = None) -> None:
    emit(plan_lines(plan, verbose), color, stream)
