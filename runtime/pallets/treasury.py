"""Treasury: the ecosystem account and the protocol reserve.

Both are keyless accounts. Funds leave them only through `spend`, which only
an enacted governance proposal calls; the reserve has no other way out.
"""

from runtime.context import Ctx
from runtime.crypto import derived_account
from runtime.errors import pallet_errors
from runtime.pallets import balances

PALLET = "treasury"
Error = pallet_errors(PALLET)

ECOSYSTEM = derived_account("treasury/ecosystem")
RESERVE = derived_account("treasury/reserve")
SOURCES = {"ecosystem": ECOSYSTEM, "reserve": RESERVE}


def receive(ctx: Ctx, value: int, reason: str) -> None:
    """Slashed funds, transaction fees and unowned payouts land here."""
    if value:
        balances.deposit(ctx, ECOSYSTEM, value)
        ctx.emit(PALLET, "Deposit", amount=value, reason=reason)


def spend(ctx: Ctx, source: str, to: bytes, value: int) -> None:
    account = SOURCES.get(source)
    if account is None:
        raise Error("UnknownSource", source)
    available = balances.get(ctx.state, account).free
    if available < value:
        raise Error("InsufficientFunds", f"{source} holds {available}")
    balances.transfer_free(ctx, account, to, value)
    ctx.emit(PALLET, "Spent", source=source, to=to, amount=value)
