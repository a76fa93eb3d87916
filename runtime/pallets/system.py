"""System: block number, chain id, the live chain parameters, and the
outcome of each extrinsic (its events are emitted by the executive)."""

from enum import auto
from typing import Any

from runtime.codec import ZERO_HASH
from runtime.context import Ctx
from runtime.errors import PalletError
from runtime.genesis_config import GenesisConfig
from runtime.params import Params
from runtime.state import State
from runtime.storage import StorageValue
from runtime.types import PalletEvent

PALLET = "system"


class Error(PalletError, pallet=PALLET):
    UnknownCall = auto()
    BadArguments = auto()


class Event(PalletEvent, pallet=PALLET):
    ExtrinsicSuccess = auto()  # fee
    ExtrinsicFailed = auto()  # error ("pallet.Error"), detail, fee
    ExtrinsicInvalid = auto()  # reason: skipped in an imported block, nothing changed


def _params_wire(params: Params | None) -> Any:
    return None if params is None else params.to_wire()


def _params_from_wire(wire: Any) -> Params | None:
    return None if wire is None else Params.from_wire(wire)


Number: StorageValue[int] = StorageValue(PALLET, "Number", 0)
ChainId: StorageValue[bytes] = StorageValue(PALLET, "ChainId", ZERO_HASH)
ParamsItem: StorageValue[Params | None] = StorageValue(
    PALLET, "Params", None, _params_wire, _params_from_wire
)


def params(state: State) -> Params:
    value = ParamsItem.get(state)
    if value is None:
        raise RuntimeError("state has no parameters: was genesis built?")
    return value


def genesis(ctx: Ctx, config: GenesisConfig) -> None:
    ParamsItem.put(ctx.state, config.params)
    ChainId.put(ctx.state, config.chain_id)
