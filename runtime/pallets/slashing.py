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

from typing import Any

from runtime.codec import CodecError, decode
from runtime.constants import SLASH_CAP_PPM
from runtime.context import Ctx
from runtime.crypto import verify
from runtime.dispatch import blob, call
from runtime.errors import pallet_errors
from runtime.pallets import registry, staking, system, treasury
from runtime.state import State
from runtime.storage import StorageMap
from runtime.types import Header, seal_payload, vote_payload, votes_conflict

PALLET = "slashing"
Error = pallet_errors(PALLET)

MISSED_REVEAL = "missed_reveal"
MISMATCH = "mismatch"
FAILED_KNOWN_ANSWER = "failed_known_answer"
EQUIVOCATION = "equivocation"
FALSE_VERDICT = "false_verdict"  # a verifier outvoted in a dispute
OFFENCES = (MISSED_REVEAL, MISMATCH, FAILED_KNOWN_ANSWER, EQUIVOCATION, FALSE_VERDICT)


def _pair(wire: Any) -> tuple[int, int]:
    return (wire[0], wire[1])


# who -> (era of the last offence, offences in that era)
EraOffences: StorageMap[tuple[int, int]] = StorageMap(PALLET, "EraOffences", (0, 0), list, _pair)
# (validator, era) -> 1 once an equivocation of theirs was punished in that era
Reported: StorageMap[int] = StorageMap(PALLET, "Reported", 0)


def rate_ppm(ctx: Ctx, kind: str) -> int:
    rate: int = getattr(ctx.params, f"slash_{kind}_ppm")
    return rate


def report_offence(ctx: Ctx, offender: bytes, kind: str) -> int:
    """Slash `offender` for `kind`; returns the amount slashed."""
    if kind not in OFFENCES:
        raise Error("UnknownOffence", kind)
    era = staking.CurrentEra.get(ctx.state)
    last_era, count = EraOffences.get(ctx.state, offender)
    count = count + 1 if last_era == era else 1
    EraOffences.put(ctx.state, offender, (era, count))
    ppm = rate_ppm(ctx, kind) if count == 1 else SLASH_CAP_PPM
    slashed = staking.slash(ctx, offender, ppm)
    treasury.receive(ctx, slashed, "slash")
    ctx.emit(PALLET, "Slashed", who=offender, offence=kind, ppm=ppm, amount=slashed, repeat=count)
    registry.enforce_bond(ctx, offender)
    if kind == EQUIVOCATION:
        staking.chill(ctx, offender, "equivocation")
    return slashed


def _sealed_header(raw: bytes, seal: bytes) -> Header:
    try:
        header = Header.from_wire(decode(raw, max_len=1024))
    except CodecError as exc:
        raise Error("BadEvidence", f"undecodable header: {exc}") from exc
    if not verify(header.author, seal_payload(header.hash), seal):
        raise Error("BadEvidence", "seal does not verify")
    return header


@call(
    PALLET,
    "report_equivocation",
    header_a=blob(1024),
    seal_a=blob(64),
    header_b=blob(1024),
    seal_b=blob(64),
)
def report_equivocation(
    ctx: Ctx, origin: bytes, header_a: bytes, seal_a: bytes, header_b: bytes, seal_b: bytes
) -> None:
    a = _sealed_header(header_a, seal_a)
    b = _sealed_header(header_b, seal_b)
    if a.slot != b.slot or a.author != b.author:
        raise Error("BadEvidence", "headers are for different slots or authors")
    if a.hash == b.hash:
        raise Error("BadEvidence", "the two headers are the same block")
    _punish_equivocation(ctx, a.author)


def already_punished(state: State, offender: bytes) -> bool:
    """Was an equivocation of `offender` punished in the current era?"""
    return Reported.get(state, [offender, staking.CurrentEra.get(state)]) == 1


def _punish_equivocation(ctx: Ctx, offender: bytes) -> None:
    key = [offender, staking.CurrentEra.get(ctx.state)]
    if already_punished(ctx.state, offender):
        raise Error("AlreadyReported", "an equivocation of this validator was already punished this era")
    if staking.ledger(ctx.state, offender).bonded == 0:
        raise Error("NotStaked", "the offender has no stake to slash")
    Reported.put(ctx.state, key, 1)
    report_offence(ctx, offender, EQUIVOCATION)


def _signed_vote(ctx: Ctx, raw: bytes) -> tuple[int, bytes, int, bytes, bytes]:
    """(source height, source hash, target height, target hash, voter) of a
    correctly signed vote `[s_num, s_hash, t_num, t_hash, voter, signature]`."""
    try:
        wire = decode(raw, max_len=256)
    except CodecError as exc:
        raise Error("BadEvidence", f"undecodable vote: {exc}") from exc
    shape = (int, bytes, int, bytes, bytes, bytes)
    if (
        type(wire) is not list
        or len(wire) != 6
        or any(type(v) is not t for v, t in zip(wire, shape, strict=True))
    ):
        raise Error("BadEvidence", "a vote is [source, source hash, target, target hash, voter, signature]")
    s_num, s_hash, t_num, t_hash, voter, signature = wire
    payload = vote_payload(system.ChainId.get(ctx.state), (s_num, s_hash), (t_num, t_hash))
    if len(voter) != 32 or not verify(voter, payload, signature):
        raise Error("BadEvidence", "vote signature does not verify")
    return s_num, s_hash, t_num, t_hash, voter


@call(PALLET, "report_vote_equivocation", vote_a=blob(256), vote_b=blob(256))
def report_vote_equivocation(ctx: Ctx, origin: bytes, vote_a: bytes, vote_b: bytes) -> None:
    a = _signed_vote(ctx, vote_a)
    b = _signed_vote(ctx, vote_b)
    if a[4] != b[4]:
        raise Error("BadEvidence", "the votes are by different validators")
    if votes_conflict((a[0], a[2]), (b[0], b[2]), a == b) is None:
        raise Error("BadEvidence", "the votes do not conflict")
    _punish_equivocation(ctx, a[4])
