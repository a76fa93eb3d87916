"""Balances: free / reserved / locked funds, transfers, fees, supply counters.

`locked` holds vesting funds that cannot move; `reserved` holds bonded stake,
deposits and job escrow. An account whose total falls below the existential
deposit is reaped and its dust burned. A re-created account starts its nonce
at `block_number * NONCE_EPOCH`, so no transaction signed in an earlier life
of the account can ever be replayed.
"""

from dataclasses import dataclass
from enum import auto

from runtime.constants import CAP, ECOSYSTEM_ALLOCATION, NONCE_EPOCH
from runtime.context import Ctx
from runtime.dispatch import Calls, account, amount
from runtime.errors import PalletError
from runtime.genesis_config import GenesisConfig
from runtime.record import codec
from runtime.state import State
from runtime.storage import StorageMap, StorageValue
from runtime.types import PalletEvent

PALLET = "balances"


class Error(PalletError, pallet=PALLET):
    CapExceeded = auto()
    InsufficientBalance = auto()
    InsufficientReserved = auto()
    KeepAlive = auto()
    ExistentialDeposit = auto()


class Event(PalletEvent, pallet=PALLET):
    Reaped = auto()
    Transfer = auto()


calls = Calls(PALLET)


@dataclass(frozen=True)
class Account:
    free: int = 0
    reserved: int = 0
    locked: int = 0
    nonce: int = 0

    @property
    def total(self) -> int:
        return self.free + self.reserved + self.locked


EMPTY = Account()
Accounts: StorageMap[Account] = StorageMap(PALLET, "Accounts", EMPTY, *codec(Account))
Minted: StorageValue[int] = StorageValue(PALLET, "Minted", 0)
Burned: StorageValue[int] = StorageValue(PALLET, "Burned", 0)


def get(state: State, who: bytes) -> Account:
    return Accounts.get(state, who)


def exists(state: State, who: bytes) -> bool:
    return Accounts.contains(state, who)


def put(ctx: Ctx, who: bytes, acc: Account) -> None:
    """Store `acc`, reaping it (and burning its dust) below the existential deposit."""
    if acc.total < ctx.params.existential_deposit:
        if acc.total:
            burn(ctx, acc.total)
        if exists(ctx.state, who):
            Accounts.remove(ctx.state, who)
            ctx.emit(Event.Reaped, who=who, dust=acc.total)
        return
    Accounts.put(ctx.state, who, acc)


def _fresh(ctx: Ctx, who: bytes) -> Account:
    acc = Accounts.get(ctx.state, who)
    if acc is EMPTY:
        return Account(nonce=ctx.number * NONCE_EPOCH)
    return acc


def burn(ctx: Ctx, value: int) -> None:
    Burned.put(ctx.state, Burned.get(ctx.state) + value)


def mint(ctx: Ctx, who: bytes, value: int) -> None:
    """New issuance: only emission and genesis call this; never passes the cap."""
    minted = Minted.get(ctx.state)
    if minted + value > CAP:
        raise Error.CapExceeded(f"minting {value} would pass the cap")
    Minted.put(ctx.state, minted + value)
    deposit(ctx, who, value)


def deposit(ctx: Ctx, who: bytes, value: int) -> None:
    """Credit free funds (rewards, refunds, payouts); dust to a dead account burns."""
    if value == 0:
        return
    acc = _fresh(ctx, who)
    put(ctx, who, Account(acc.free + value, acc.reserved, acc.locked, acc.nonce))


def withdraw(ctx: Ctx, who: bytes, value: int) -> None:
    acc = get(ctx.state, who)
    if acc.free < value:
        raise Error.InsufficientBalance(f"free {acc.free} < {value}")
    put(ctx, who, Account(acc.free - value, acc.reserved, acc.locked, acc.nonce))


def reserve(ctx: Ctx, who: bytes, value: int) -> None:
    acc = get(ctx.state, who)
    if acc.free < value:
        raise Error.InsufficientBalance(f"free {acc.free} < {value}")
    put(ctx, who, Account(acc.free - value, acc.reserved + value, acc.locked, acc.nonce))


def unreserve(ctx: Ctx, who: bytes, value: int) -> None:
    acc = get(ctx.state, who)
    if acc.reserved < value:
        raise Error.InsufficientReserved(f"reserved {acc.reserved} < {value}")
    put(ctx, who, Account(acc.free + value, acc.reserved - value, acc.locked, acc.nonce))


def take_reserved(ctx: Ctx, who: bytes, value: int) -> int:
    """Remove up to `value` from reserved and return what was taken; the
    caller must deposit or burn it, or issuance would leak."""
    acc = get(ctx.state, who)
    taken = min(value, acc.reserved)
    put(ctx, who, Account(acc.free, acc.reserved - taken, acc.locked, acc.nonce))
    return taken


def lock(ctx: Ctx, who: bytes, value: int) -> None:
    acc = _fresh(ctx, who)
    put(ctx, who, Account(acc.free, acc.reserved, acc.locked + value, acc.nonce))


def unlock(ctx: Ctx, who: bytes, value: int) -> None:
    acc = get(ctx.state, who)
    value = min(value, acc.locked)
    put(ctx, who, Account(acc.free + value, acc.reserved, acc.locked - value, acc.nonce))


def transfer_free(ctx: Ctx, src: bytes, dst: bytes, value: int, keep_alive: bool = False) -> None:
    sender = get(ctx.state, src)
    if sender.free < value:
        raise Error.InsufficientBalance(f"free {sender.free} < {value}")
    ed = ctx.params.existential_deposit
    if keep_alive and sender.total - value < ed:
        raise Error.KeepAlive("the transfer would reap the sender")
    if src == dst:
        return
    receiver = _fresh(ctx, dst)
    if receiver.total + value < ed:
        raise Error.ExistentialDeposit(f"the receiver would hold less than {ed}")
    put(ctx, src, Account(sender.free - value, sender.reserved, sender.locked, sender.nonce))
    put(ctx, dst, Account(receiver.free + value, receiver.reserved, receiver.locked, receiver.nonce))


def charge_fee(ctx: Ctx, who: bytes, acc: Account, base_fee: int, tip: int) -> None:
    """Take the fee and bump the nonce in one write (the hot path of every tx)."""
    ctx.base_fees += base_fee
    ctx.tips += tip
    put(ctx, who, Account(acc.free - base_fee - tip, acc.reserved, acc.locked, acc.nonce + 1))


@calls.add("transfer", to=account, amount=amount)
def transfer(ctx: Ctx, origin: bytes, to: bytes, amount: int) -> None:
    transfer_free(ctx, origin, to, amount)
    ctx.emit(Event.Transfer, src=origin, dst=to, amount=amount)


@calls.add("transfer_keep_alive", to=account, amount=amount)
def transfer_keep_alive(ctx: Ctx, origin: bytes, to: bytes, amount: int) -> None:
    transfer_free(ctx, origin, to, amount, keep_alive=True)
    ctx.emit(Event.Transfer, src=origin, dst=to, amount=amount)


def genesis(ctx: Ctx, config: GenesisConfig) -> None:
    """Dev and test endowments, minted out of the ecosystem allocation (the
    treasury's genesis mints the rest of it)."""
    if sum(value for _, value in config.endowments) > ECOSYSTEM_ALLOCATION:
        raise ValueError("endowments exceed the ecosystem allocation")
    if len({who for who, _ in config.endowments}) != len(config.endowments):
        raise ValueError("an account is endowed twice")
    for who, value in config.endowments:
        mint(ctx, who, value)
