"""Following the node's bounded RPC pages (see `node.rpc_paging`) from the CLI."""

from collections.abc import Callable
from typing import Any, Protocol

PAGE = 200  # the node's largest page


class Caller(Protocol):
    """What a page needs of `tools.client.VcoinClient`."""

    def call(self, method: str, *params: Any) -> Any: ...


def every_page(
    client: Caller, method: str, *lead: Any, key: Callable[[Any], Any] = lambda item: item["id"]
) -> list[Any]:
    """All items of a `[..., count, start]` listing: a short page is the last."""
    items: list[Any] = []
    start = None
    while True:
        page = client.call(method, *lead, PAGE, start)
        items += page
        if len(page) < PAGE:
            return items
        start = key(page[-1])


def newest_jobs(client: Caller, filters: dict[str, str], limit: int) -> list[Any]:
    """Up to `limit` jobs matching `filters`, newest first, across pages (a
    filtered page can come back short before the end: `next` says where)."""
    listed: list[Any] = []
    start = None
    while len(listed) < limit:
        page = client.call("vcoin_jobsPage", filters, min(PAGE, limit - len(listed)), start)
        listed += page["jobs"]
        start = page["next"]
        if start is None:
            break
    return listed
