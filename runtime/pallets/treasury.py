"""Treasury: the ecosystem account and the protocol reserve.

Both are keyless accounts. Funds leave them only through `spend`, which only
an enacted governance proposal calls; the reserve has no other way out.
"""

from enum import auto

from runtime.constants import ECOSYSTEM_ALLOCATION, RESERVE_ALLOCATION
from runtime.context import Ctx
from runtime.crypto import derived_account
from runtime.errors import PalletError
from runtime.genesis_config import GenesisConfig
from runtime.pallets import balances
from runtime.types import PalletEvent

PALLET = "treasury"


class Error(PalletError, pallet=PALLET):
    UnknownSource = auto()
    InsufficientFunds = auto()


class Event(PalletEvent, pallet=PALLET):
    Deposit = auto()
    Spent = auto()


ECOSYSTEM = derived_account("treasury/ecosystem")
RESERVE = derived_account("treasury/reserve")
SOURCES = {"ecosystem": ECOSYSTEM, "reserve": RESERVE}


def receive(ctx: Ctx, value: int, reason: str) -> None:
    """Slashed funds, transaction fees and unowned payouts land here."""
    if value:
        balances.deposit(ctx, ECOSYSTEM, value)
        ctx.emit(Event.Deposit, amount=value, reason=reason)


def spend(ctx: Ctx, source: str, to: bytes, value: int) -> None:
    account = SOURCES.get(source)
    if account is None:
        raise Error.UnknownSource(source)
    available = balances.get(ctx.state, account).free
    if available < value:
        raise Error.InsufficientFunds(f"{source} holds {available}")
    balances.transfer_free(ctx, account, to, value)
    ctx.emit(Event.Spent, source=source, to=to, amount=value)


def genesis(ctx: Ctx, config: GenesisConfig) -> None:
    """The ecosystem allocation, less the endowments `balances` minted out of it, and the reserve."""
    endowed = sum(value for _, value in config.endowments)
    balances.mint(ctx, ECOSYSTEM, ECOSYSTEM_ALLOCATION - endowed)
    balances.mint(ctx, RESERVE, RESERVE_ALLOCATION)
