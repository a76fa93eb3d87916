"""Long-running node tasks under supervision: a task that raises is logged
with its cause and started again after a backoff that doubles up to a
minute (and starts over once the task has run well for a while), so no
library bug, peer or job can stop the node through one of them. Cancellation
(shutdown) is never caught."""

import logging
from collections.abc import Awaitable, Callable

import trio

log = logging.getLogger("vcoin.node")
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0


async def supervised(
    name: str, task: Callable[[], Awaitable[None]], first: float = FIRST_BACKOFF, most: float = MAX_BACKOFF
) -> None:
    backoff = first
    while True:
        started = trio.current_time()
        try:
            await task()
            return
        except Exception as exc:
            if trio.current_time() - started > most:
                backoff = first  # it ran well for a long time: this is a new failure
            log.exception("%s failed (%s: %s); restarting in %.0f s", name, type(exc).__name__, exc, backoff)
        await trio.sleep(backoff)
        backoff = min(backoff * 2, most)
