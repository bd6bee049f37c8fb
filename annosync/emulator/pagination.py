"""List endpoints: CVAT's filters (search, simple, JSON-logic ``filter``, ``sort``) and pages.

Why a module: every collection in CVAT goes through the same DRF filter backends
(``cvat/apps/engine/filters.py``) and the same page-number pagination, whose ``next`` and
``previous`` links have a precise shape (absolute, params sorted, ``page`` omitted on page 1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from .context import Ctx
from .errors import bad_request, detail
from .wire import Response, json_response

DEFAULT_PAGE_SIZE = 10

Getter = Callable[[Any], Any]


@dataclass
class ListSpec:
    """How one collection can be filtered and sorted.

    ``fields`` maps public field names to getters; ``search``/``simple`` name the fields that
    ``?search=`` and ``?<field>=`` apply to; ``ordering`` is the default sort.
    """

    fields: dict[str, Getter] = field(default_factory=dict)
    search: Sequence[str] = ()
    simple: Sequence[str] = ()
    ordering: str = "-id"


def _coerce(value: Any, arg: Any) -> Any:
    """Compare like the database would: cast the query argument to the column type."""
    if isinstance(value, bool):
        if isinstance(arg, str):
            return arg.strip().lower() in ("true", "1", "yes")
        return bool(arg)
    if isinstance(value, int) and isinstance(arg, str):
        try:
            return int(arg)
        except ValueError:
            return arg
    if isinstance(value, str) and not isinstance(arg, str) and arg is not None:
        return str(arg)
    return arg


def _cmp(op: str, value: Any, arg: Any) -> bool:
    arg = _coerce(value, arg)
    if op == "==":
        return bool(value == arg)
    if value is None or arg is None:
        return False
    try:
        if op == "<":
            return bool(value < arg)
        if op == "<=":
            return bool(value <= arg)
        if op == ">":
            return bool(value > arg)
        if op == ">=":
            return bool(value >= arg)
    except TypeError:
        return False
    return False


def _eval_logic(rule: Any, obj: Any, fields: dict[str, Getter]) -> bool:
    if not isinstance(rule, dict) or not rule:
        raise bad_request([f"filter: {rule!r} term is not supported"])
    op, args = next(iter(rule.items()))

    def var(term: Any) -> Any:
        name = term.get("var") if isinstance(term, dict) else None
        if name not in fields:
            raise bad_request([f"filter: '{name}' term is not supported"])
        return fields[name](obj)

    if op in ("and", "or"):
        results = [_eval_logic(arg, obj, fields) for arg in args]
        return all(results) if op == "and" else any(results)
    if op == "!":
        return not _eval_logic(args, obj, fields)
    if op == "!!":
        return _eval_logic(args, obj, fields)
    if op == "var":
        if args not in fields:
            raise bad_request([f"filter: '{args}' term is not supported"])
        return fields[args](obj) is not None
    if op in ("==", "<", ">", "<=", ">=") and isinstance(args, list) and len(args) == 2:
        return _cmp(op, var(args[0]), args[1])
    if op == "in" and isinstance(args, list) and len(args) == 2:
        if isinstance(args[0], dict):
            value = var(args[0])
            return any(_cmp("==", value, item) for item in (args[1] or []))
        value = var(args[1])
        return isinstance(value, str) and str(args[0]) in value
    if op == "<=" and isinstance(args, list) and len(args) == 3:
        value = var(args[1])
        return _cmp(">=", value, args[0]) and _cmp("<=", value, args[2])
    raise bad_request([f"filter: {op} operation with {args} arguments is not implemented"])


def _search_terms(text: str) -> list[str]:
    return [t for t in re.split(r"[\s,]+", text.replace("\x00", "")) if t]


def apply_filters(ctx: Ctx, items: list[Any], spec: ListSpec) -> list[Any]:
    """Apply ``?search=``, simple filters, ``?filter=`` and ``?sort=`` to ``items``."""
    req = ctx.req
    out = list(items)

    search = req.q("search")
    if search:
        terms = _search_terms(search)

        def matches(obj: Any) -> bool:
            for term in terms:
                found = False
                for name in spec.search:
                    value = spec.fields[name](obj)
                    if value is not None and term.lower() in str(value).lower():
                        found = True
                        break
                if not found:
                    return False
            return True

        out = [obj for obj in out if matches(obj)]

    for name in spec.simple:
        if req.has_q(name):
            raw = req.q(name)
            out = [obj for obj in out if _cmp("==", spec.fields[name](obj), raw)]

    raw_filter = req.q("filter")
    if raw_filter:
        try:
            rules = json.loads(raw_filter)
        except json.JSONDecodeError as exc:
            raise bad_request([f"filter: can't parse filter expression: {exc}"]) from exc
        if not rules:
            raise bad_request(["filter shouldn't be empty"])
        out = [obj for obj in out if _eval_logic(rules, obj, spec.fields)]

    ordering = [t for t in (req.q("sort") or "").split(",") if t.strip()]
    ordering = [t.strip() for t in ordering if t.strip().lstrip("-") in spec.fields]
    if not ordering:
        ordering = [spec.ordering] if spec.ordering else []
    for term in reversed(ordering):
        reverse = term.startswith("-")
        getter = spec.fields[term.lstrip("-")]

        def key(obj: Any, getter: Getter = getter) -> tuple[bool, Any]:
            value = getter(obj)
            if isinstance(value, str):
                return (value is None, value)
            return (value is None, value if value is not None else 0)

        # NULLs sort last ascending and first descending, like PostgreSQL.
        out.sort(key=key, reverse=reverse)
    return out


def _page_url(ctx: Ctx, page: int | None) -> str:
    query = parse_qs(ctx.req.query_string)
    query.pop("page", None)
    if page is not None:
        query["page"] = [str(page)]
    encoded = urlencode(sorted(query.items()), doseq=True)
    return ctx.url(ctx.req.raw_path) + ("?" + encoded if encoded else "")


def page_size_of(ctx: Ctx) -> int:
    raw = ctx.req.q("page_size")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        value = int(raw)
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return value if value > 0 else DEFAULT_PAGE_SIZE


def paginate(ctx: Ctx, items: Sequence[Any], render: Callable[[Any], Any]) -> Response:
    """CVAT's page-number pagination envelope ``{count, next, previous, results}``."""
    size = page_size_of(ctx)
    count = len(items)
    pages = max(1, (count + size - 1) // size)
    raw_page = ctx.req.q("page") or "1"
    if raw_page == "last":
        page = pages
    else:
        try:
            page = int(raw_page)
        except ValueError:
            raise detail(404, "Invalid page.") from None
    if page < 1 or page > pages:
        raise detail(404, "Invalid page.")
    chunk = items[(page - 1) * size: page * size]
    next_url = _page_url(ctx, page + 1) if page < pages else None
    if page <= 1:
        prev_url = None
    elif page == 2:
        prev_url = _page_url(ctx, None)
    else:
        prev_url = _page_url(ctx, page - 1)
    return json_response({
        "count": count,
        "next": next_url,
        "previous": prev_url,
        "results": [render(item) for item in chunk],
    })
