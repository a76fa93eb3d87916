"""Slashing: offences cut bonded and unbonding stake; funds go to the treasury.

Offences come from the runtime (`report_offence`, called by the jobs and
verification pallets) or from anyone as evidence (`report_equivocation`: two
sealed headers by one author for one slot). A second offence by the same
account within an era is slashed at the cap, whatever its kind.
"""

from typing import Any

from runtime.codec import CodecError, decode
from runtime.constants import SLASH_CAP_PPM
from runtime.context import Ctx
from runtime.crypto import verify
from runtime.dispatch import blob, call
from runtime.errors import pallet_errors
from runtime.pallets import staking, treasury
from runtime.storage import StorageMap
from runtime.types import Header, seal_payload

PALLET = "slashing"
Error = pallet_errors(PALLET)

MISSED_REVEAL = "missed_reveal"
MISMATCH = "mismatch"
FAILED_KNOWN_ANSWER = "failed_known_answer"
EQUIVOCATION = "equivocation"
OFFENCES = (MISSED_REVEAL, MISMATCH, FAILED_KNOWN_ANSWER, EQUIVOCATION)


def _pair(wire: Any) -> tuple[int, int]:
    return (wire[0], wire[1])


# who -> (era of the last offence, offences in that era)
EraOffences: StorageMap[tuple[int, int]] = StorageMap(PALLET, "EraOffences", (0, 0), list, _pair)
# (author, slot) -> 1 once equivocation in that slot was punished
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
    if Reported.get(ctx.state, [a.author, a.slot]):
        raise Error("AlreadyReported", "this equivocation was already punished")
    if staking.ledger(ctx.state, a.author).bonded == 0:
        raise Error("NotStaked", "the author has no stake to slash")
    Reported.put(ctx.state, [a.author, a.slot], 1)
    report_offence(ctx, a.author, EQUIVOCATION)
