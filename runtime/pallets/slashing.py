"""Slashing: offences cut bonded and unbonding stake; funds go to the treasury.

Offences come from the runtime (`report_offence`, called by the jobs and
verification pallets) or from anyone as evidence: `report_equivocation` (two
sealed headers by one author for one slot) or `report_vote_equivocation`
(two finality votes by one validator that double-vote or surround). A second
offence by the same account within an era is slashed at the cap, whatever
its kind. Equivocation is punished once per validator per era: it is chilled
by the first report and leaves the set at the next era, so later evidence of
the same era adds nothing.
"""

from collections.abc import Callable, Mapping
from enum import StrEnum, auto
from typing import Any, Final

from runtime.codec import CodecError, decode
from runtime.constants import MAX_HEADER_BYTES, MAX_VOTE_BYTES, SLASH_CAP_PPM
from runtime.context import Ctx
from runtime.crypto import SIGNATURE_BYTES, verify
from runtime.dispatch import Calls, blob
from runtime.errors import PalletError
from runtime.pallets import registry, staking, system, treasury
from runtime.params import Params
from runtime.state import State
from runtime.storage import StorageMap
from runtime.types import Header, PalletEvent, Vote, seal_payload, slashable

PALLET = "slashing"


class Error(PalletError, pallet=PALLET):
    UnknownOffence = auto()
    BadEvidence = auto()
    AlreadyReported = auto()
    NotStaked = auto()


class Event(PalletEvent, pallet=PALLET):
    Slashed = auto()


class Offence(StrEnum):
    """What an account may be slashed for; shown in `Slashed` events as these strings."""

    MISSED_REVEAL = "missed_reveal"  # a provider committed to a result and never revealed it
    MISMATCH = "mismatch"  # a dispute proved a provider's result wrong
    FAILED_KNOWN_ANSWER = "failed_known_answer"  # ... the result of a hidden known-answer job
    EQUIVOCATION = "equivocation"  # a validator sealed two blocks for a slot, or cast conflicting votes
    FALSE_VERDICT = "false_verdict"  # a verifier outvoted in a dispute


# Each offence's first slash in an era, in ppm of bonded and unbonding stake:
# governable parameters (`Params.slash_*_ppm`); a repeat in the era takes SLASH_CAP_PPM.
SLASH_RATE: Final[Mapping[Offence, Callable[[Params], int]]] = {
    Offence.MISSED_REVEAL: lambda p: p.slash_missed_reveal_ppm,
    Offence.MISMATCH: lambda p: p.slash_mismatch_ppm,
    Offence.FAILED_KNOWN_ANSWER: lambda p: p.slash_failed_known_answer_ppm,
    Offence.EQUIVOCATION: lambda p: p.slash_equivocation_ppm,
    Offence.FALSE_VERDICT: lambda p: p.slash_false_verdict_ppm,
}

calls = Calls(PALLET)


def _pair(wire: Any) -> tuple[int, int]:
    return (wire[0], wire[1])


# who -> (era of the last offence, offences in that era)
EraOffences: StorageMap[tuple[int, int]] = StorageMap(PALLET, "EraOffences", (0, 0), list, _pair)
# (validator, era) -> 1 once an equivocation of theirs was punished in that era
Reported: StorageMap[int] = StorageMap(PALLET, "Reported", 0)


def report_offence(ctx: Ctx, offender: bytes, kind: Offence) -> int:
    """Slash `offender` for `kind`; returns the amount slashed."""
    rate = SLASH_RATE.get(kind)
    if rate is None:
        raise Error.UnknownOffence(kind)
    era = staking.CurrentEra.get(ctx.state)
    last_era, count = EraOffences.get(ctx.state, offender)
    count = count + 1 if last_era == era else 1
    EraOffences.put(ctx.state, offender, (era, count))
    ppm = rate(ctx.params) if count == 1 else SLASH_CAP_PPM
    slashed = staking.slash(ctx, offender, ppm)
    treasury.receive(ctx, slashed, "slash")
    ctx.emit(Event.Slashed, who=offender, offence=kind, ppm=ppm, amount=slashed, repeat=count)
    registry.enforce_bond(ctx, offender)
    if kind == Offence.EQUIVOCATION:
        staking.chill(ctx, offender, "equivocation")
    return slashed


def _sealed_header(raw: bytes, seal: bytes) -> Header:
    try:
        header = Header.from_wire(decode(raw, max_len=MAX_HEADER_BYTES))
    except CodecError as exc:
        raise Error.BadEvidence(f"undecodable header: {exc}") from exc
    if not verify(header.author, seal_payload(header.hash), seal):
        raise Error.BadEvidence("seal does not verify")
    return header


@calls.add(
    "report_equivocation",
    header_a=blob(MAX_HEADER_BYTES),
    seal_a=blob(SIGNATURE_BYTES),
    header_b=blob(MAX_HEADER_BYTES),
    seal_b=blob(SIGNATURE_BYTES),
)
def report_equivocation(
    ctx: Ctx, origin: bytes, header_a: bytes, seal_a: bytes, header_b: bytes, seal_b: bytes
) -> None:
    a = _sealed_header(header_a, seal_a)
    b = _sealed_header(header_b, seal_b)
    if a.slot != b.slot or a.author != b.author:
        raise Error.BadEvidence("headers are for different slots or authors")
    if a.hash == b.hash:
        raise Error.BadEvidence("the two headers are the same block")
    _punish_equivocation(ctx, a.author)


def already_punished(state: State, offender: bytes) -> bool:
    """Was an equivocation of `offender` punished in the current era?"""
    return Reported.get(state, [offender, staking.CurrentEra.get(state)]) == 1


def _punish_equivocation(ctx: Ctx, offender: bytes) -> None:
    key = [offender, staking.CurrentEra.get(ctx.state)]
    if already_punished(ctx.state, offender):
        raise Error.AlreadyReported("an equivocation of this validator was already punished this era")
    if staking.ledger(ctx.state, offender).bonded == 0:
        raise Error.NotStaked("the offender has no stake to slash")
    Reported.put(ctx.state, key, 1)
    report_offence(ctx, offender, Offence.EQUIVOCATION)


def _signed_vote(ctx: Ctx, raw: bytes) -> Vote:
    """A correctly signed finality vote of this chain, in its wire form (`runtime.types.Vote`)."""
    try:
        vote = Vote.decode(raw)
    except CodecError as exc:
        raise Error.BadEvidence(f"undecodable vote: {exc}") from exc
    if not vote.verify(system.ChainId.get(ctx.state)):
        raise Error.BadEvidence("vote signature does not verify")
    return vote


@calls.add("report_vote_equivocation", vote_a=blob(MAX_VOTE_BYTES), vote_b=blob(MAX_VOTE_BYTES))
def report_vote_equivocation(ctx: Ctx, origin: bytes, vote_a: bytes, vote_b: bytes) -> None:
    a = _signed_vote(ctx, vote_a)
    b = _signed_vote(ctx, vote_b)
    if a.voter != b.voter:
        raise Error.BadEvidence("the votes are by different validators")
    if slashable(a, b) is None:
        raise Error.BadEvidence("the votes do not conflict")
    _punish_equivocation(ctx, a.voter)
