"""Emission: the 550M compute-reward pool, released per block on a schedule
that decays 15% a year, paid to providers in proportion to verified work.

Year y (from 0) emits YEAR1 * 0.85^y, spread evenly over its blocks; the
series sums to the pool. A block's emission is paid only against work the
jobs pallet reported in that block (`report_work`); whatever is not paid
stays in the pool. Every division rounds down, so the pool never goes
negative and issuance never passes the cap.
"""

from enum import auto
from typing import Any

from runtime.constants import EMISSION_DECAY_DEN, EMISSION_DECAY_NUM, REWARD_POOL, YEAR1_EMISSION
from runtime.context import Ctx
from runtime.errors import PalletError
from runtime.pallets import balances
from runtime.storage import StorageValue
from runtime.types import PalletEvent

PALLET = "emission"


class Error(PalletError, pallet=PALLET):
    NoWork = auto()


class Event(PalletEvent, pallet=PALLET):
    Rewarded = auto()


def _work_from_wire(wire: Any) -> dict[bytes, int]:
    return dict(wire)


Pool: StorageValue[int] = StorageValue(PALLET, "Pool", REWARD_POOL)
Paid: StorageValue[int] = StorageValue(PALLET, "Paid", 0)
# provider -> verified work units reported during the current block
BlockWork: StorageValue[dict[bytes, int]] = StorageValue(PALLET, "BlockWork", {}, dict, _work_from_wire)


# YEAR1 * 0.85^y rounds to zero from year 240 on; past this the
# exact power would only cost time.
LAST_EMITTING_YEAR = 300


def annual_emission(year: int) -> int:
    if year > LAST_EMITTING_YEAR:
        return 0
    emitted: int = YEAR1_EMISSION * EMISSION_DECAY_NUM**year // EMISSION_DECAY_DEN**year
    return emitted


def block_emission(number: int, blocks_per_year: int) -> int:
    """Emission released by block `number` (blocks count from 1)."""
    if number < 1:
        return 0
    year = (number - 1) // blocks_per_year
    return annual_emission(year) // blocks_per_year


def report_work(ctx: Ctx, provider: bytes, units: int) -> None:
    """The hook the jobs pallet calls when a provider's work is verified."""
    if units <= 0:
        raise Error.NoWork("work units must be positive")
    work = BlockWork.get(ctx.state)
    work = {**work, provider: work.get(provider, 0) + units}
    BlockWork.put(ctx.state, work)


def on_finalize(ctx: Ctx) -> None:
    work = BlockWork.get(ctx.state)
    if not work:
        return
    BlockWork.put(ctx.state, {})
    pool = Pool.get(ctx.state)
    release = min(block_emission(ctx.number, ctx.params.blocks_per_year), pool)
    total_units = sum(work.values())
    paid = 0
    for provider in sorted(work):
        reward = release * work[provider] // total_units
        if reward:
            balances.mint(ctx, provider, reward)
            ctx.emit(Event.Rewarded, who=provider, amount=reward, units=work[provider])
            paid += reward
    Pool.put(ctx.state, pool - paid)
    Paid.put(ctx.state, Paid.get(ctx.state) + paid)
