"""Reputation: an integer score per provider, in parts per million.

Every provider starts at the neutral score. The first heartbeat of an era
moves it 1/200 of the way to the top; a settled job 1/25 of the way when it
was delivered fast (revealed within half the commit and reveal windows),
1/50 otherwise. A failed job (missed commit or reveal) takes a quarter of
the score, a job declined inside its window 1/50 of it, a proven cheat half.

Between updates the score drifts back towards neutral: each era since the
last update keeps 9/10 of the gap, rounded down, for at most 64 eras. The
drift is applied when the score is read (`score`) and stored with the next
update, so old behaviour fades without a per-era pass over every provider.
Rounding down means a score above neutral returns to it exactly, while one
below neutral stops a few ppm short (a gap of -9 stays -9); and after 64
eras 0.9^64, about 0.1% of the gap, remains (a provider at zero stays about
590 ppm below neutral until its next update). The score weighs assignment
and gates SLAs.
"""

from dataclasses import dataclass
from enum import auto

from runtime.constants import (
    NEUTRAL_REPUTATION_PPM,
    PPM,
    REPUTATION_DECAY_DEN,
    REPUTATION_DECAY_ERAS,
    REPUTATION_DECAY_NUM,
    REPUTATION_DECLINE_STEP,
    REPUTATION_FAST_STEP,
    REPUTATION_SLOW_STEP,
    REPUTATION_UPTIME_STEP,
)
from runtime.context import Ctx
from runtime.pallets import staking
from runtime.record import codec
from runtime.state import State
from runtime.storage import StorageMap
from runtime.types import PalletEvent

PALLET = "reputation"


class Event(PalletEvent, pallet=PALLET):
    Updated = auto()


@dataclass(frozen=True)
class Record:
    score: int = NEUTRAL_REPUTATION_PPM
    era: int = 0
    successes: int = 0
    failures: int = 0


Records: StorageMap[Record] = StorageMap(PALLET, "Records", Record(), *codec(Record))


def _decayed(record: Record, era: int) -> int:
    gap = record.score - NEUTRAL_REPUTATION_PPM
    for _ in range(min(max(era - record.era, 0), REPUTATION_DECAY_ERAS)):
        gap = gap * REPUTATION_DECAY_NUM // REPUTATION_DECAY_DEN
    return NEUTRAL_REPUTATION_PPM + gap


def score(state: State, who: bytes) -> int:
    return _decayed(Records.get(state, who), staking.CurrentEra.get(state))


def record(state: State, who: bytes) -> Record:
    return Records.get(state, who)


def _update(ctx: Ctx, who: bytes, new_score: int, success: bool) -> None:
    old = Records.get(ctx.state, who)
    era = staking.CurrentEra.get(ctx.state)
    Records.put(ctx.state, who, Record(max(0, min(PPM, new_score)), era,
                                       old.successes + success, old.failures + (not success)))  # fmt: skip
    ctx.emit(Event.Updated, who=who, score=max(0, min(PPM, new_score)), success=success)


def record_success(ctx: Ctx, who: bytes, fast: bool) -> None:
    current = score(ctx.state, who)
    _update(
        ctx, who, current + (PPM - current) // (REPUTATION_FAST_STEP if fast else REPUTATION_SLOW_STEP), True
    )


def record_uptime(ctx: Ctx, who: bytes) -> None:
    """A heartbeat in a new era: the provider was up."""
    current = score(ctx.state, who)
    old = Records.get(ctx.state, who)
    Records.put(ctx.state, who, Record(current + (PPM - current) // REPUTATION_UPTIME_STEP, staking.CurrentEra.get(ctx.state),
                                       old.successes, old.failures))  # fmt: skip


def record_failure(ctx: Ctx, who: bytes) -> None:
    """A job the provider took and did not deliver."""
    current = score(ctx.state, who)
    _update(ctx, who, current * 3 // 4, False)


def record_decline(ctx: Ctx, who: bytes) -> None:
    """A job given back inside its window: a small step down, not a failure's."""
    current = score(ctx.state, who)
    _update(ctx, who, current - current // REPUTATION_DECLINE_STEP, False)


def record_cheat(ctx: Ctx, who: bytes) -> None:
    """A proven wrong result: the score halves."""
    _update(ctx, who, score(ctx.state, who) // 2, False)
