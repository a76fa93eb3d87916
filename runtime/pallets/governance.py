"""Governance: stake-weighted proposals for parameters, treasury spends and
the validator count.

A proposal reserves a deposit and is open for `voting_period` blocks. A vote
weighs the voter's bonded stake when cast (a new vote replaces the old), and
that stake stays bonded until the proposal closes (`staking.lock_for_vote`):
a snapshot weight is only sound if the stake behind it cannot move to another
account and vote again before the tally. At
the end it passes if turnout reaches `quorum_ppm` of all bonded stake and
ayes reach `approval_ppm` of turnout; a passed proposal is enacted
`enactment_delay` blocks later. The deposit is returned either way.
"""

from dataclasses import dataclass, replace
from enum import StrEnum, auto
from typing import Any

from runtime.constants import MAX_PROPOSALS_ACTIVE, PPM
from runtime.context import Ctx
from runtime.dispatch import Calls, boolean, mapping, one_of, u32
from runtime.errors import DispatchError, PalletError
from runtime.pallets import balances, staking, treasury
from runtime.pallets.system import ParamsItem
from runtime.params import governable
from runtime.record import codec
from runtime.state import State
from runtime.storage import StorageMap, StorageValue
from runtime.types import PalletEvent

PALLET = "governance"


class Error(PalletError, pallet=PALLET):
    BadAction = auto()
    OutOfBounds = auto()
    TooManyProposals = auto()
    UnknownProposal = auto()
    VotingClosed = auto()
    NoStake = auto()


class Event(PalletEvent, pallet=PALLET):
    Proposed = auto()
    Voted = auto()
    Passed = auto()
    Rejected = auto()
    EnactmentFailed = auto()
    Enacted = auto()


class Action(StrEnum):
    """What a proposal does once enacted."""

    SET_PARAM = "set_param"  # {name, value}: a governable parameter
    TREASURY_SPEND = "treasury_spend"  # {source, to, amount}
    SET_VALIDATOR_COUNT = "set_validator_count"  # {count}


class ProposalStatus(StrEnum):
    """A proposal's life; visible over RPC as these strings."""

    VOTING = "voting"
    PASSED = "passed"  # waiting `enactment_delay` blocks
    REJECTED = "rejected"
    ENACTED = "enacted"
    FAILED = "failed"  # passed, but its enactment failed (e.g. the treasury could not pay)


calls = Calls(PALLET)


@dataclass(frozen=True)
class Proposal:
    id: int
    proposer: bytes
    action: Action
    args: dict[str, Any]
    deposit: int
    end: int
    ayes: int = 0
    nays: int = 0
    status: ProposalStatus = ProposalStatus.VOTING
    enact_at: int = 0


def _ints(wire: Any) -> tuple[int, ...]:
    return tuple(wire)


def _vote(wire: Any) -> tuple[bool, int]:
    return (wire[0], wire[1])


Proposals: StorageMap[Proposal | None] = StorageMap(PALLET, "Proposals", None, *codec(Proposal | None))
NextId: StorageValue[int] = StorageValue(PALLET, "NextId", 0)
Open: StorageValue[tuple[int, ...]] = StorageValue(PALLET, "Open", (), list, _ints)
Scheduled: StorageValue[tuple[int, ...]] = StorageValue(PALLET, "Scheduled", (), list, _ints)
# (proposal id, voter) -> (aye, weight)
Votes: StorageMap[tuple[bool, int]] = StorageMap(PALLET, "Votes", (False, 0), list, _vote)


def proposal(state: State, pid: int) -> Proposal | None:
    return Proposals.get(state, pid)


def check_action(action: Action, args: dict[str, Any]) -> None:
    """Refuse an action that could never be enacted, before taking a deposit."""
    if action == Action.SET_PARAM:
        if set(args) != {"name", "value"} or type(args["name"]) is not str:
            raise Error.BadAction("set_param takes {name, value}")
        why = governable(args["name"], args["value"])
        if why:
            raise Error.OutOfBounds(why)
    elif action == Action.TREASURY_SPEND:
        if set(args) != {"source", "to", "amount"}:
            raise Error.BadAction("treasury_spend takes {source, to, amount}")
        if args["source"] not in treasury.SOURCES:
            raise Error.BadAction("source is 'ecosystem' or 'reserve'")
        if type(args["to"]) is not bytes or len(args["to"]) != 32:
            raise Error.BadAction("to is a 32-byte account id")
        if type(args["amount"]) is not int or args["amount"] <= 0:
            raise Error.BadAction("amount must be positive")
    elif action == Action.SET_VALIDATOR_COUNT:
        if set(args) != {"count"}:
            raise Error.BadAction("set_validator_count takes {count}")
        why = governable("max_validators", args["count"])
        if why:
            raise Error.OutOfBounds(why)


@calls.add("propose", action=one_of(*Action), args=mapping)
def propose(ctx: Ctx, origin: bytes, action: Action, args: dict[str, Any]) -> None:
    check_action(action, args)
    open_ids = Open.get(ctx.state)
    if len(open_ids) >= MAX_PROPOSALS_ACTIVE:
        raise Error.TooManyProposals(f"at most {MAX_PROPOSALS_ACTIVE} open")
    deposit = ctx.params.proposal_deposit
    balances.reserve(ctx, origin, deposit)
    pid = NextId.get(ctx.state)
    NextId.put(ctx.state, pid + 1)
    end = ctx.number + ctx.params.voting_period
    Proposals.put(ctx.state, pid, Proposal(pid, origin, action, args, deposit, end))
    Open.put(ctx.state, (*open_ids, pid))
    ctx.emit(Event.Proposed, id=pid, proposer=origin, action=action, end=end)


@calls.add("vote", id=u32, aye=boolean)
def vote(ctx: Ctx, origin: bytes, id: int, aye: bool) -> None:
    prop = proposal(ctx.state, id)
    if prop is None:
        raise Error.UnknownProposal(str(id))
    if prop.status != ProposalStatus.VOTING or ctx.number > prop.end:
        raise Error.VotingClosed(f"proposal {id} is {prop.status}")
    weight = staking.ledger(ctx.state, origin).bonded
    if weight == 0:
        raise Error.NoStake("only bonded stake votes")
    old_aye, old_weight = Votes.get(ctx.state, [id, origin])
    ayes = prop.ayes - (old_weight if old_aye else 0) + (weight if aye else 0)
    nays = prop.nays - (0 if old_aye else old_weight) + (0 if aye else weight)
    Votes.put(ctx.state, [id, origin], (aye, weight))
    staking.lock_for_vote(ctx, origin, id, weight, prop.end)
    Proposals.put(ctx.state, id, replace(prop, ayes=ayes, nays=nays))
    ctx.emit(Event.Voted, id=id, voter=origin, aye=aye, weight=weight)


def passes(ayes: int, nays: int, total_bonded: int, quorum_ppm: int, approval_ppm: int) -> bool:
    turnout = ayes + nays
    if turnout == 0:
        return False
    return turnout * PPM >= quorum_ppm * total_bonded and ayes * PPM >= approval_ppm * turnout


def _close(ctx: Ctx, prop: Proposal) -> None:
    ok = passes(
        prop.ayes,
        prop.nays,
        staking.TotalBonded.get(ctx.state),
        ctx.params.quorum_ppm,
        ctx.params.approval_ppm,
    )
    balances.unreserve(ctx, prop.proposer, min(prop.deposit, balances.get(ctx.state, prop.proposer).reserved))
    if ok:
        enact_at = ctx.number + ctx.params.enactment_delay
        Proposals.put(ctx.state, prop.id, replace(prop, status=ProposalStatus.PASSED, enact_at=enact_at))
        Scheduled.put(ctx.state, (*Scheduled.get(ctx.state), prop.id))
        ctx.emit(Event.Passed, id=prop.id, ayes=prop.ayes, nays=prop.nays, enact_at=enact_at)
    else:
        Proposals.put(ctx.state, prop.id, replace(prop, status=ProposalStatus.REJECTED))
        ctx.emit(Event.Rejected, id=prop.id, ayes=prop.ayes, nays=prop.nays)


def _enact(ctx: Ctx, prop: Proposal) -> None:
    ctx.state.begin()
    try:
        if prop.action == Action.SET_PARAM:
            ctx.params = ctx.params.with_value(prop.args["name"], prop.args["value"])
        elif prop.action == Action.SET_VALIDATOR_COUNT:
            ctx.params = ctx.params.with_value("max_validators", prop.args["count"])
        else:
            treasury.spend(ctx, prop.args["source"], prop.args["to"], prop.args["amount"])
        ParamsItem.put(ctx.state, ctx.params)
    except DispatchError as err:
        ctx.state.rollback()
        Proposals.put(ctx.state, prop.id, replace(prop, status=ProposalStatus.FAILED))
        ctx.emit(Event.EnactmentFailed, id=prop.id, reason=str(err))
        return
    ctx.state.commit()
    Proposals.put(ctx.state, prop.id, replace(prop, status=ProposalStatus.ENACTED))
    ctx.emit(Event.Enacted, id=prop.id, action=prop.action)


def on_finalize(ctx: Ctx) -> None:
    open_ids = Open.get(ctx.state)
    still_open = []
    for pid in open_ids:
        prop = proposal(ctx.state, pid)
        if prop is not None and ctx.number >= prop.end:
            _close(ctx, prop)
        else:
            still_open.append(pid)
    if len(still_open) != len(open_ids):
        Open.put(ctx.state, tuple(still_open))
    scheduled = Scheduled.get(ctx.state)
    due = [pid for pid in scheduled if (p := proposal(ctx.state, pid)) and p.enact_at <= ctx.number]
    if due:
        Scheduled.put(ctx.state, tuple(pid for pid in scheduled if pid not in due))
        for pid in due:
            prop = proposal(ctx.state, pid)
            if prop is not None:
                _enact(ctx, prop)
