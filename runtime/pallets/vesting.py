"""Vesting: funds locked at genesis and released linearly per block.

The team's 15% starts locked under one schedule; each block moves what has
vested since the last block from `locked` to `free`. Nothing vests before the
cliff; after `duration` blocks everything has.
"""

from dataclasses import dataclass
from enum import auto

from runtime.constants import TEAM_ALLOCATION
from runtime.context import Ctx
from runtime.genesis_config import GenesisConfig
from runtime.pallets import balances
from runtime.record import codec
from runtime.storage import StorageMap, StorageValue, bytes_tuple, sorted_insert, sorted_remove
from runtime.types import PalletEvent

PALLET = "vesting"


class Event(PalletEvent, pallet=PALLET):
    Vested = auto()


@dataclass(frozen=True)
class Schedule:
    total: int
    start: int
    cliff: int
    duration: int
    released: int = 0

    def vested_at(self, number: int) -> int:
        elapsed = number - self.start
        if elapsed < self.cliff or elapsed <= 0:
            return 0
        if elapsed >= self.duration:
            return self.total
        return self.total * elapsed // self.duration


NONE = Schedule(0, 0, 0, 0)
Schedules: StorageMap[Schedule] = StorageMap(PALLET, "Schedules", NONE, *codec(Schedule))
Vesting: StorageValue[tuple[bytes, ...]] = StorageValue(PALLET, "Accounts", (), list, bytes_tuple)


def add_schedule(ctx: Ctx, who: bytes, total: int, cliff: int, duration: int) -> None:
    """Lock `total` (already minted to `who`'s free balance) under a schedule."""
    balances.withdraw(ctx, who, total)
    balances.lock(ctx, who, total)
    Schedules.put(ctx.state, who, Schedule(total, ctx.number, cliff, max(duration, 1)))
    Vesting.put(ctx.state, sorted_insert(Vesting.get(ctx.state), who))


def on_initialize(ctx: Ctx) -> None:
    for who in Vesting.get(ctx.state):
        schedule = Schedules.get(ctx.state, who)
        vested = schedule.vested_at(ctx.number)
        due = vested - schedule.released
        if due <= 0:
            continue
        balances.unlock(ctx, who, due)
        ctx.emit(Event.Vested, who=who, amount=due)
        if vested == schedule.total:
            Schedules.remove(ctx.state, who)
            Vesting.put(ctx.state, sorted_remove(Vesting.get(ctx.state), who))
        else:
            Schedules.put(
                ctx.state,
                who,
                Schedule(schedule.total, schedule.start, schedule.cliff, schedule.duration, vested),
            )


def genesis(ctx: Ctx, config: GenesisConfig) -> None:
    """The team's allocation, minted under one schedule of `vesting_cliff` and `vesting_duration`."""
    balances.mint(ctx, config.team, TEAM_ALLOCATION)
    add_schedule(
        ctx, config.team, TEAM_ALLOCATION, config.params.vesting_cliff, config.params.vesting_duration
    )
