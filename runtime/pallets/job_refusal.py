"""`jobs.refuse`: the assigned provider declares a job's referenced input
unusable (it does not decode, has the wrong shape, or is larger than the
size its fee was computed from).

The chain cannot read a referenced input, so it cannot judge the claim;
it makes lying pointless instead: the provider earns nothing from a
refusal, and the submitter gets the fee back less the burn rate of what the
job would have cost, so flooding providers with unusable inputs is paid
for and a refusing provider gains nothing it could want. Inline inputs are
checked at submission, so they cannot be refused.
"""

from runtime.constants import ppm_of
from runtime.context import Ctx
from runtime.dispatch import amount, call, text
from runtime.pallets import balances, jobs
from runtime.pallets.job_settlement import refund

MAX_REASON = 200


@call(jobs.PALLET, "refuse", job=amount, reason=text(MAX_REASON))
def refuse(ctx: Ctx, origin: bytes, job: int, reason: str) -> None:
    found = jobs.Jobs.get(ctx.state, job)
    if found is None:
        raise jobs.Error("UnknownJob", str(job))
    if found.provider != origin or found.status != jobs.ASSIGNED:
        raise jobs.Error("NotAssigned", "only a job assigned to you and not yet committed can be refused")
    if found.input:
        raise jobs.Error("InlineInput", "an inline input was checked at submission and cannot be refused")
    burned = min(found.max_fee, ppm_of(found.price * found.units, ctx.params.burn_rate_ppm))
    jobs._close(ctx, found, jobs.REFUNDED)
    refund(ctx, found.submitter, found.max_fee - burned)
    balances.burn(ctx, balances.take_reserved(ctx, found.submitter, burned))
    ctx.emit(jobs.PALLET, "Refused", job=job, provider=origin, burned=burned, reason=reason)
