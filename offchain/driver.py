"""What the provider and verifier workers share: they act after every new
best block (the node calls `notify`), each in a nursery of its own, and
close their executor when they stop."""

import trio

from agent.executor import Executor


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
                    self.step(nursery)
                    await self.wake.wait()
                    self.wake = trio.Event()
        finally:
            self.executor.close()
