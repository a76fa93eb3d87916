"""What a call or hook sees while a block executes."""

from dataclasses import dataclass, field
from typing import Any

from runtime.params import Params
from runtime.state import State
from runtime.types import Event, PalletEvent


@dataclass
class Ctx:
    state: State
    number: int
    slot: int
    author: bytes
    parent_hash: bytes
    chain_id: bytes
    params: Params
    events: list[Event] = field(default_factory=list)
    extrinsic_index: int | None = None
    # Fees are never rolled back, so they accumulate here and are paid out
    # once at the end of the block instead of touching two accounts per tx.
    base_fees: int = 0
    tips: int = 0
    weight: int = 0  # of the extrinsics applied so far; bounded by MAX_BLOCK_WEIGHT

    def emit(self, event: PalletEvent, **data: Any) -> None:
        self.events.append(Event(event.pallet, event.value, data, self.extrinsic_index))
