"""A supervised task that raises is restarted with a growing backoff; a
shutdown (cancellation) is never swallowed."""

import trio
import trio.testing

from node.supervise import FIRST_BACKOFF, supervised


def test_a_failing_task_is_restarted_with_backoff_until_it_finishes() -> None:
    starts: list[float] = []

    async def flaky() -> None:
        starts.append(trio.current_time())
        if len(starts) < 4:
            raise KeyError("a library's internal error")

    async def main() -> None:
        await supervised("flaky", flaky)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert gaps == [FIRST_BACKOFF, 2 * FIRST_BACKOFF, 4 * FIRST_BACKOFF]


def test_an_exception_group_from_a_nursery_is_restarted_too() -> None:
    runs = 0

    async def nursery_task() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_raise)

    async def main() -> None:
        await supervised("nursery", nursery_task)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert runs == 2


async def _raise() -> None:
    raise RuntimeError("peer teardown race")


def test_cancellation_is_not_caught() -> None:
    async def forever() -> None:
        await trio.sleep_forever()

    async def main() -> None:
        with trio.move_on_after(5) as scope:
            await supervised("forever", forever)
        assert scope.cancelled_caught

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
