"""`jobs.refuse`: the assigned provider declares a job's referenced input
unusable (it does not decode, has the wrong shape, is larger than the size
its fee was computed from, or never arrived), inside its commit window.

The chain cannot read a referenced input, so it cannot judge the claim; it
makes lying pointless instead. The job goes to another provider (the
refuser may not take it again) or, when nobody is left, back to its
submitter; each refusal burns the burn rate of what the job would have
cost from the submitter's reserved fee, so flooding providers with unusable
inputs is paid for, while a refusing provider earns nothing and cannot end
anyone's job. Inline inputs are checked at submission: they cannot be
refused.
"""

from dataclasses import replace

from runtime.constants import MAX_REFUSAL_REASON, ppm_of
from runtime.context import Ctx
from runtime.dispatch import Calls, amount, text
from runtime.pallets import balances, jobs

calls = Calls(jobs.PALLET)


@calls.add("refuse", job=amount, reason=text(MAX_REFUSAL_REASON))
def refuse(ctx: Ctx, origin: bytes, job: int, reason: str) -> None:
    found = jobs.Jobs.get(ctx.state, job)
    if found is None:
        raise jobs.Error.UnknownJob(str(job))
    if found.provider != origin or found.status != jobs.JobStatus.ASSIGNED:
        raise jobs.Error.NotAssigned("only a job assigned to you and not yet committed can be refused")
    if found.input:
        raise jobs.Error.InlineInput("an inline input was checked at submission and cannot be refused")
    if ctx.number > jobs.commit_deadline(ctx.state, found, ctx.params):
        raise jobs.Error.TooLate("the commit window has closed")
    burned = balances.take_reserved(
        ctx, found.submitter, min(found.max_fee, ppm_of(found.price * found.units, ctx.params.burn_rate_ppm))
    )
    balances.burn(ctx, burned)
    jobs._requeue(ctx, replace(found, max_fee=found.max_fee - burned), jobs.Event.Refused, failed=False,
                  burned=burned, why=reason)  # fmt: skip
