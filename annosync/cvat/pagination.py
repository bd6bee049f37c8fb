"""Walk CVAT's paginated list endpoints to the end, and exact name look-ups on top of them.

Why: FiftyOne read only the first page of search results, so a user or project beyond the
first ten was "not found". CVAT answers lists as ``{count, next, previous, results}``; ``next``
is an absolute URL (page number moved first, ``recordings2/04_projects.json``) or null on the
last page; asking past the end is a 404 ``{"detail": "Invalid page."}``.

The walk follows ``next`` (re-based onto the configured server URL, since servers behind a proxy
build it with their internal host), bounded by the page count ``count`` announces, and stops on
a repeated page. ``search``/``name`` filters narrow what the server sends, but equality is always
checked here, on the exact string: CVAT's ``search`` is a case-insensitive substring match over
several fields, and older servers ignore unknown filters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from annosync.cvat.errors import CvatNotFound, CvatProtocolError

if TYPE_CHECKING:
    from annosync.cvat.session import Transport

__all__ = ["DEFAULT_PAGE_SIZE", "exact_matches", "iter_pages"]

DEFAULT_PAGE_SIZE = 100


def iter_pages(
    transport: Transport,
    path: str,
    params: Mapping[str, Any] | None = None,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Iterator[dict[str, Any]]:
    """Yield every item of a paginated CVAT list, page after page, to the last one."""
    query: list[tuple[str, Any]] = [
        (k, _param(v)) for k, v in (params or {}).items() if v is not None
    ]
    query.append(("page_size", page_size))
    seen: set[tuple[tuple[str, str], ...]] = set()
    max_pages: int | None = None
    pages = 0
    while True:
        key = tuple(sorted((str(k), str(v)) for k, v in query))
        if key in seen:
            raise CvatProtocolError(f"pagination of {path} loops (page repeated)", path=path)
        seen.add(key)
        try:
            resp = transport.request("GET", path, params=query)
        except CvatNotFound as exc:
            # "Invalid page.": objects were deleted while we walked; what we have is the list.
            if pages and "page" in dict(query):
                return
            raise exc
        body = transport.json(resp)
        pages += 1
        if isinstance(body, list):  # an unpaginated answer (some endpoints, old servers)
            yield from _objects(body, path)
            return
        if not isinstance(body, dict) or "results" not in body:
            raise CvatProtocolError(f"expected a paginated list from {path}", path=path)
        yield from _objects(body["results"], path)
        nxt = body.get("next")
        if not nxt:
            return
        if not isinstance(nxt, str):
            raise CvatProtocolError(
                f"expected the next page of {path} as a URL, got {type(nxt).__name__}", path=path
            )
        if max_pages is None:
            count = body.get("count")
            size = max(1, len(body["results"]) or page_size)
            max_pages = math.ceil(count / size) + 1 if isinstance(count, int) else 100_000
        if pages >= max_pages:
            raise CvatProtocolError(
                f"pagination of {path} did not end after {pages} pages", path=path
            )
        query = parse_qsl(urlsplit(nxt).query, keep_blank_values=True)


def _objects(items: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise CvatProtocolError(f"expected a list of objects from {path}", path=path)
    return items


def exact_matches(
    items: Iterator[dict[str, Any]], value: str, key: str = "name",
    extra: Callable[[dict[str, Any]], bool] | None = None,
) -> list[dict[str, Any]]:
    """Items whose ``key`` equals ``value`` exactly (case and whitespace included)."""
    return [it for it in items if it.get(key) == value and (extra is None or extra(it))]


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
