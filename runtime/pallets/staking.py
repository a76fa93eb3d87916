"""Staking: bond, unbond, withdraw, the validator role, eras and validator
election.

Bonded and unbonding stake sit in the account's `reserved` balance. Stake
that backs a vote on an open proposal may not be unbonded before the
proposal closes: otherwise it could be withdrawn, moved to another account,
bonded again and vote a second time on the same proposal. The
active validator set of each era is the top `max_validators` candidates by
bonded stake (ties broken by account id), among those bonded at least
`min_validator_bond`; an election that finds nobody keeps the old set so the
chain never halts.

Serving compute is not a staking role: an account becomes a provider by
registering (`registry.register_provider`) with at least `min_provider_bond`
bonded here.
"""

from dataclasses import dataclass
from enum import StrEnum, auto

from runtime.constants import MAX_UNBONDING_CHUNKS, PPM
from runtime.context import Ctx
from runtime.dispatch import Calls, amount
from runtime.errors import PalletError
from runtime.genesis_config import GenesisConfig
from runtime.pallets import balances
from runtime.record import codec
from runtime.state import State
from runtime.storage import StorageMap, StorageValue, bytes_tuple, sorted_insert, sorted_remove
from runtime.types import PalletEvent

PALLET = "staking"


class Error(PalletError, pallet=PALLET):
    ZeroAmount = auto()
    InsufficientBond = auto()
    VoteLocked = auto()
    TooManyChunks = auto()
    NothingToWithdraw = auto()
    AlreadyInRole = auto()
    NoRole = auto()


class Event(PalletEvent, pallet=PALLET):
    Bonded = auto()
    Chilled = auto()
    Unbonded = auto()
    Withdrawn = auto()
    RoleSet = auto()
    NewEra = auto()


class Role(StrEnum):
    """What an account's bond is for, in its ledger."""

    NONE = ""
    VALIDATOR = "validator"  # a candidate for the validator set


calls = Calls(PALLET)


@dataclass(frozen=True)
class Ledger:
    bonded: int = 0
    unbonding: tuple[tuple[int, int], ...] = ()  # (amount, unlocks at block)
    role: Role = Role.NONE

    @property
    def unbonding_total(self) -> int:
        return sum(value for value, _ in self.unbonding)


EMPTY = Ledger()
Ledgers: StorageMap[Ledger] = StorageMap(PALLET, "Ledgers", EMPTY, *codec(Ledger))
Candidates: StorageValue[tuple[bytes, ...]] = StorageValue(PALLET, "Candidates", (), list, bytes_tuple)
Active: StorageValue[tuple[bytes, ...]] = StorageValue(PALLET, "Active", (), list, bytes_tuple)
CurrentEra: StorageValue[int] = StorageValue(PALLET, "CurrentEra", 0)
TotalBonded: StorageValue[int] = StorageValue(PALLET, "TotalBonded", 0)
# voter -> (proposal id, vote weight, last block of the vote) of each vote that may still be open
VoteLocks: StorageMap[tuple[tuple[int, int, int], ...]] = StorageMap(
    PALLET,
    "VoteLocks",
    (),
    lambda locks: [list(lock) for lock in locks],
    lambda w: tuple((a, b, c) for a, b, c in w),
)


def ledger(state: State, who: bytes) -> Ledger:
    return Ledgers.get(state, who)


def _min_bond(ctx: Ctx, role: Role) -> int:
    return ctx.params.min_validator_bond if role == Role.VALIDATOR else 0


def _set_role(ctx: Ctx, who: bytes, old: Role, new: Role) -> None:
    if old == Role.VALIDATOR and new != Role.VALIDATOR:
        Candidates.put(ctx.state, sorted_remove(Candidates.get(ctx.state), who))
    if new == Role.VALIDATOR and old != Role.VALIDATOR:
        Candidates.put(ctx.state, sorted_insert(Candidates.get(ctx.state), who))


def _add_bonded(ctx: Ctx, delta: int) -> None:
    TotalBonded.put(ctx.state, TotalBonded.get(ctx.state) + delta)


def bond_funds(ctx: Ctx, who: bytes, value: int) -> None:
    if value <= 0:
        raise Error.ZeroAmount("bond a positive amount")
    balances.reserve(ctx, who, value)
    led = ledger(ctx.state, who)
    Ledgers.put(ctx.state, who, Ledger(led.bonded + value, led.unbonding, led.role))
    _add_bonded(ctx, value)
    ctx.emit(Event.Bonded, who=who, amount=value)


def chill(ctx: Ctx, who: bytes, reason: str) -> None:
    """Drop the validator role; a chilled validator leaves the set at the next era."""
    led = ledger(ctx.state, who)
    if led.role == Role.NONE:
        return
    _set_role(ctx, who, led.role, Role.NONE)
    Ledgers.put(ctx.state, who, Ledger(led.bonded, led.unbonding, Role.NONE))
    ctx.emit(Event.Chilled, who=who, reason=reason)


@calls.add("bond", amount=amount)
def bond(ctx: Ctx, origin: bytes, amount: int) -> None:
    bond_funds(ctx, origin, amount)


def lock_for_vote(ctx: Ctx, who: bytes, proposal: int, weight: int, until: int) -> None:
    """Keep `weight` of `who`'s bond bonded up to block `until` (the proposal's last
    voting block); a new vote on the same proposal replaces the old lock."""
    kept = tuple(
        lock for lock in VoteLocks.get(ctx.state, who) if lock[0] != proposal and lock[2] >= ctx.number
    )
    VoteLocks.put(ctx.state, who, tuple(sorted((*kept, (proposal, weight, until)))))


def vote_locked(state: State, who: bytes, number: int) -> tuple[int, int]:
    """(stake that must stay bonded at block `number`, last block it must)."""
    live = [(weight, until) for _, weight, until in VoteLocks.get(state, who) if until >= number]
    return (max(w for w, _ in live), max(u for _, u in live)) if live else (0, 0)


@calls.add("unbond", amount=amount)
def unbond(ctx: Ctx, origin: bytes, amount: int) -> None:
    led = ledger(ctx.state, origin)
    if amount <= 0:
        raise Error.ZeroAmount("unbond a positive amount")
    if amount > led.bonded:
        raise Error.InsufficientBond(f"bonded {led.bonded} < {amount}")
    locked, until = vote_locked(ctx.state, origin, ctx.number)
    if led.bonded - amount < locked:
        raise Error.VoteLocked(f"{locked} backs votes on open proposals until block {until}")
    if not locked:  # every vote lock has expired: drop them
        VoteLocks.put(ctx.state, origin, ())
    if len(led.unbonding) >= MAX_UNBONDING_CHUNKS:
        raise Error.TooManyChunks("withdraw matured chunks first")
    unlock_at = ctx.number + ctx.params.unbonding_period
    remaining = led.bonded - amount
    Ledgers.put(ctx.state, origin, Ledger(remaining, (*led.unbonding, (amount, unlock_at)), led.role))
    _add_bonded(ctx, -amount)
    ctx.emit(Event.Unbonded, who=origin, amount=amount, unlocks_at=unlock_at)
    if remaining < _min_bond(ctx, led.role):
        chill(ctx, origin, "below minimum bond")


@calls.add("withdraw_unbonded")
def withdraw_unbonded(ctx: Ctx, origin: bytes) -> None:
    led = ledger(ctx.state, origin)
    matured = sum(value for value, at in led.unbonding if at <= ctx.number)
    if matured == 0:
        raise Error.NothingToWithdraw("no unbonding chunk has matured")
    left = tuple(chunk for chunk in led.unbonding if chunk[1] > ctx.number)
    Ledgers.put(ctx.state, origin, Ledger(led.bonded, left, led.role))
    balances.unreserve(ctx, origin, matured)
    ctx.emit(Event.Withdrawn, who=origin, amount=matured)


def _take_role(ctx: Ctx, origin: bytes, role: Role) -> None:
    led = ledger(ctx.state, origin)
    if led.role == role:
        raise Error.AlreadyInRole(role)
    if led.bonded < _min_bond(ctx, role):
        raise Error.InsufficientBond(f"{role} needs {_min_bond(ctx, role)} bonded")
    _set_role(ctx, origin, led.role, role)
    Ledgers.put(ctx.state, origin, Ledger(led.bonded, led.unbonding, role))
    ctx.emit(Event.RoleSet, who=origin, role=role)


@calls.add("validate")
def validate(ctx: Ctx, origin: bytes) -> None:
    _take_role(ctx, origin, Role.VALIDATOR)


@calls.add("chill")
def chill_call(ctx: Ctx, origin: bytes) -> None:
    if ledger(ctx.state, origin).role == Role.NONE:
        raise Error.NoRole("nothing to chill")
    chill(ctx, origin, "requested")


def slash(ctx: Ctx, who: bytes, ppm: int) -> int:
    """Cut `ppm` of bonded and of every unbonding chunk; return the amount
    taken out of the account (the caller decides where it goes)."""
    led = ledger(ctx.state, who)
    bonded_cut = led.bonded * ppm // PPM
    chunks = tuple((value - value * ppm // PPM, at) for value, at in led.unbonding)
    cut = bonded_cut + led.unbonding_total - sum(value for value, _ in chunks)
    if cut == 0:
        return 0
    Ledgers.put(ctx.state, who, Ledger(led.bonded - bonded_cut, chunks, led.role))
    _add_bonded(ctx, -bonded_cut)
    taken = balances.take_reserved(ctx, who, cut)
    if led.bonded - bonded_cut < _min_bond(ctx, led.role):
        chill(ctx, who, "below minimum bond after slash")
    return taken


def elect(ctx: Ctx) -> tuple[bytes, ...]:
    minimum = ctx.params.min_validator_bond
    bonds = ((ledger(ctx.state, who).bonded, who) for who in Candidates.get(ctx.state))
    ranked = sorted((-bonded, who) for bonded, who in bonds if bonded >= minimum)
    return tuple(sorted(who for _, who in ranked[: ctx.params.max_validators]))


def on_finalize(ctx: Ctx) -> None:
    if ctx.number % ctx.params.era_length:
        return
    era = CurrentEra.get(ctx.state) + 1
    CurrentEra.put(ctx.state, era)
    elected = elect(ctx)
    if elected:
        Active.put(ctx.state, elected)
    ctx.emit(Event.NewEra, era=era, validators=list(Active.get(ctx.state)))


def genesis(ctx: Ctx, config: GenesisConfig) -> None:
    for who, bond in config.validators:
        bond_funds(ctx, who, bond)
        validate(ctx, who)
    Active.put(ctx.state, elect(ctx))
    if not Active.get(ctx.state):
        raise ValueError("genesis elects no validator: check bonds against min_validator_bond")
