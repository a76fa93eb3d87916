"""What the provider and verifier workers share: they act after every new
best block (the node calls `notify`), each in a nursery of its own, and
close their executor when they stop.

Nothing a job, a peer or the sandbox does may stop the node: a step or a
task that raises is logged with its cause and isolated, and the worker goes
on with the next block."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from agent.executor import Executor

log = logging.getLogger("vcoin.worker")


def spawn(nursery: trio.Nursery, what: str, task: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Run `task` in `nursery`; if it raises, only it fails."""

    async def isolated() -> None:
        try:
            await task(*args)
        except Exception as exc:
            log.exception("%s failed and was isolated: %s", what, exc)

    nursery.start_soon(isolated)


def isolated_step(what: str, step: Callable[[], None]) -> None:
    """One item of a block step: if it raises, the others still run."""
    try:
        step()
    except Exception as exc:
        log.exception("%s failed and was skipped: %s", what, exc)


class BlockDriven:
    executor: Executor

    def __init__(self) -> None:
        self.wake = trio.Event()

    def notify(self) -> None:
        """A new best block: look at the chain again."""
        self.wake.set()

    def step(self, nursery: trio.Nursery) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                while True:
                    isolated_step(f"{type(self).__name__}'s block step", lambda: self.step(nursery))
                    await self.wake.wait()
                    self.wake = trio.Event()
        finally:
            self.executor.close()
