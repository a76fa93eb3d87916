"""Reputation: an integer score per provider, in parts per million.

Every provider starts at the neutral score. Uptime (one heartbeat per era)
nudges it up a little. A verified or settled job moves
the score a step towards the top (a bigger step when it was delivered fast);
a failed job (missed commit or reveal) halves the distance to zero less
harshly than a proven cheat, which halves the score itself. Between updates
the score drifts back towards neutral by a tenth of the gap per era, so old
behaviour fades. The score weighs assignment and gates SLAs.
"""

from dataclasses import dataclass
from typing import Any

from runtime.constants import NEUTRAL_REPUTATION_PPM, PPM
from runtime.context import Ctx
from runtime.pallets import staking
from runtime.state import State
from runtime.storage import StorageMap

PALLET = "reputation"
FAST_STEP, SLOW_STEP = 25, 50  # success moves 1/25 (fast) or 1/50 of the way to the top
UPTIME_STEP = 200  # an era's heartbeat moves 1/200 of the way to the top
DECAY_NUM, DECAY_DEN = 9, 10  # per era, the gap to neutral keeps 9/10


@dataclass(frozen=True)
class Record:
    score: int = NEUTRAL_REPUTATION_PPM
    era: int = 0
    successes: int = 0
    failures: int = 0

    def to_wire(self) -> list[Any]:
        return [self.score, self.era, self.successes, self.failures]

    @classmethod
    def from_wire(cls, wire: Any) -> "Record":
        return cls(*wire)


Records: StorageMap[Record] = StorageMap(PALLET, "Records", Record(), Record.to_wire, Record.from_wire)


def _decayed(record: Record, era: int) -> int:
    gap = record.score - NEUTRAL_REPUTATION_PPM
    for _ in range(min(max(era - record.era, 0), 64)):  # after 64 eras the gap is gone anyway
        gap = gap * DECAY_NUM // DECAY_DEN
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
    ctx.emit(PALLET, "Updated", who=who, score=max(0, min(PPM, new_score)), success=success)


def record_success(ctx: Ctx, who: bytes, fast: bool) -> None:
    current = score(ctx.state, who)
    _update(ctx, who, current + (PPM - current) // (FAST_STEP if fast else SLOW_STEP), True)


def record_uptime(ctx: Ctx, who: bytes) -> None:
    """A heartbeat in a new era: the provider was up."""
    current = score(ctx.state, who)
    old = Records.get(ctx.state, who)
    Records.put(ctx.state, who, Record(current + (PPM - current) // UPTIME_STEP, staking.CurrentEra.get(ctx.state),
                                       old.successes, old.failures))  # fmt: skip


def record_failure(ctx: Ctx, who: bytes) -> None:
    """A job the provider took and did not deliver."""
    current = score(ctx.state, who)
    _update(ctx, who, current * 3 // 4, False)


def record_cheat(ctx: Ctx, who: bytes) -> None:
    """A proven wrong result: the score halves."""
    _update(ctx, who, score(ctx.state, who) // 2, False)
