"""Bounded pages for RPC lists that grow with the chain's history.

Substrate's `state_getKeysPaged(prefix, count, startKey)` shape: a page of at
most `count` items (a default when omitted, never above a maximum) that
continues after `start`, the key of the previous page's last item. Every
list an RPC method answers goes through here, so no answer grows with
history and no call walks all of it.
"""

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_PAGE = 100
MAX_PAGE = 200
# Records a filtered listing may look at in one call: a filter that matches
# nothing must not walk the whole history on the event loop.
MAX_SCAN = 2_000
# Raw bytes of a page of large items (pending extrinsics), beside the count.
MAX_PAGE_BYTES = 1024 * 1024


def page_size(count: Any, default: int = DEFAULT_PAGE, maximum: int = MAX_PAGE) -> int:
    if count is None:
        return default
    if type(count) is not int or not 1 <= count <= maximum:
        raise ValueError(f"count is an integer from 1 to {maximum}")
    return count


def cursor_id(start: Any) -> int | None:
    """`start`: the id of the previous page's last item (None: the first page)."""
    if start is None:
        return None
    if type(start) is not int or start < 0:
        raise ValueError("start is the non-negative id of the previous page's last item")
    return start


def take(items: Iterable[T], count: int, size: Callable[[T], int] | None = None) -> list[T]:
    """At most `count` items and, with `size`, at most MAX_PAGE_BYTES of them
    (always at least one, so a page never stalls a client)."""
    page: list[T] = []
    total = 0
    for item in items:
        if len(page) >= count:
            break
        if size is not None:
            total += size(item)
            if page and total > MAX_PAGE_BYTES:
                break
        page.append(item)
    return page


def descending_ids(top: int, start: int | None, budget: int = MAX_SCAN) -> Iterator[int]:
    """Ids below `start` (or from `top` down), newest first, at most `budget`."""
    first = top if start is None else min(top, start - 1)
    return iter(range(first, max(first - budget, -1), -1))
