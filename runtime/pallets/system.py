"""System: block number, chain id and the live chain parameters."""

from typing import Any

from runtime.codec import ZERO_HASH
from runtime.params import Params
from runtime.state import State
from runtime.storage import StorageValue

PALLET = "system"


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
