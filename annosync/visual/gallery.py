"""Write the review: one PNG per changed sample and an ``index.html`` gallery beside them.

The gallery is one static file (inline CSS and JavaScript, images by relative path), so it opens
from disk with no server and can be attached to a CI run or a pull request as it is. Filters
by change kind (checkboxes) and by label (a select) show and hide the cards.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from annosync.progress import NULL, Progress
from annosync.visual.changes import KINDS, SampleDiff
from annosync.visual.draw import COLORS, Skeletons, render


@dataclass
class Review:
    out: Path
    images: dict[str, str] = field(default_factory=dict)  # sample key -> PNG file name

    @property
    def index(self) -> Path:
        return self.out / "index.html"


def png_name(key: str, taken: set[str]) -> str:
    base = "".join(c if c.isalnum() or c in "-_." else "_" for c in key.replace("/", "__"))
    name, n = f"{base}.png", 1
    while name in taken:
        name, n = f"{base}_{n}.png", n + 1
    taken.add(name)
    return name


def write_review(diffs: list[tuple[SampleDiff, Path]], out: str | Path, *,
                 title: str = "annosync review", skeletons: Skeletons | None = None,
                 progress: Progress = NULL) -> Review:
    """Render every changed sample (with the dataset root its media paths are relative to)
    into ``out`` and write ``out/index.html``."""
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    review = Review(target)
    taken: set[str] = set()
    todo = [(d, root) for d, root in diffs if d.changes and d.sample is not None]
    shown = [d for d, _ in todo]
    with progress.step(f"render {target.name}", len(todo), "samples") as step:
        for diff, root in todo:
            name = png_name(diff.key, taken)
            drawing = render(diff, root, skeletons)
            drawing.image.save(target / name, optimize=True)
            review.images[diff.key] = name
            step.advance()
    review.index.write_text(gallery_html(shown, review.images, title), encoding="utf-8")
    return review


def _card(diff: SampleDiff, image: str) -> str:
    counts = Counter(c.kind for c in diff.changes)
    badges = "".join(f'<span class="badge {k}">{counts[k]} {k}</span>' for k in KINDS
                     if counts[k])
    items = "".join(f'<li class="{c.kind}">{html.escape(c.describe())}</li>'
                    for c in diff.changes)
    labels = "|".join(diff.labels)
    return (f'<figure class="card" data-key="{html.escape(diff.key)}" '
            f'data-kinds="{" ".join(diff.kinds)}" data-labels="{html.escape(labels)}">'
            f'<a href="{html.escape(image)}"><img src="{html.escape(image)}" '
            f'alt="{html.escape(diff.key)}" loading="lazy"></a>'
            f'<figcaption><span class="key">{html.escape(diff.key)}</span>{badges}'
            f'<ul>{items}</ul></figcaption></figure>')


def gallery_html(diffs: list[SampleDiff], images: dict[str, str], title: str) -> str:
    labels = sorted({label for d in diffs for label in d.labels})
    kinds = [k for k in KINDS if any(k in d.kinds for d in diffs)] or list(KINDS)
    colors = "".join(
        f".badge.{k},li.{k}::marker{{color:rgb{COLORS[k]}}}.badge.{k}{{border-color:rgb{COLORS[k]}}}"
        for k in KINDS)
    checks = "".join(
        f'<label><input type="checkbox" class="kind" id="kind-{k}" value="{k}" checked> {k}'
        f"</label>" for k in kinds)
    options = "".join(f'<option value="{html.escape(label)}">{html.escape(label)}</option>'
                      for label in labels)
    cards = "\n".join(_card(d, images[d.key]) for d in diffs)
    summary = json.dumps({"samples": len(diffs),
                          "changes": dict(Counter(c.kind for d in diffs for c in d.changes))},
                         sort_keys=True)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body{{font:14px system-ui,sans-serif;margin:16px;background:#f6f7f9;color:#1b1f24}}
h1{{font-size:18px;margin:0 0 8px}}
#filters{{display:flex;gap:16px;align-items:center;flex-wrap:wrap;margin-bottom:12px}}
#gallery{{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:12px}}
.card{{margin:0;background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px}}
.card img{{max-width:100%;display:block}}
.card.hidden{{display:none}}
.key{{font-weight:600;margin-right:8px}}
.badge{{display:inline-block;border:1px solid;border-radius:10px;padding:0 6px;margin-right:4px;font-size:12px}}
ul{{margin:6px 0 0;padding-left:18px;font-size:12px}}
{colors}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<div id="filters">{checks}
<label>label <select id="label"><option value="">all labels</option>{options}</select></label>
<span id="shown"></span></div>
<div id="gallery">
{cards}
</div>
<script id="summary" type="application/json">{summary}</script>
<script>
function applyFilters() {{
  const kinds = new Set([...document.querySelectorAll('input.kind:checked')].map(e => e.value));
  const label = document.getElementById('label').value;
  const cards = [...document.querySelectorAll('.card')];
  let shown = 0;
  for (const card of cards) {{
    const hasKind = card.dataset.kinds.split(' ').some(k => kinds.has(k));
    const hasLabel = !label || card.dataset.labels.split('|').includes(label);
    const visible = hasKind && hasLabel;
    card.classList.toggle('hidden', !visible);
    if (visible) shown += 1;
  }}
  document.getElementById('shown').textContent = shown + ' of ' + cards.length + ' samples';
}}
document.querySelectorAll('input.kind, #label').forEach(e => e.addEventListener('change', applyFilters));
applyFilters();
</script>
</body></html>
"""
