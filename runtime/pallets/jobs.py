"""Jobs: a developer's paid request for compute, from submission to settlement.

    submit -> pending -> assigned -> committed -> revealed -> settled
                 ^          |            |
                 +----------+------------+  missed commit / missed reveal / declined:
                                            reassigned, or refunded when nobody is left

The assigned provider may say it started (`start`: a commit window that
follows the job's work units) or give the job back in time (`decline`);
both live in `job_windows`, with the rule.

The fee is reserved at submission (up to `max_fee`). A pending job waits in
the bounded waiting set of `job_market`: admitted by fee, with a cap per
submitter, and refunded early when outbid in a full market or when no
provider could take it (`JOB_IDLE_BLOCKS`). Assignment happens in
the block's finalization, from the parent block hash, weighted by bonded
stake x reputation among online providers that serve the model, fit the
price and meet the job's minimum reputation. The provider commits to
`H(result_hash || salt)`, then reveals; after the challenge window (where
the verification pallet acts) the fee settles: the burn, the verifiers'
share (`verifier_share_ppm`, split among the validators whose re-execution
agreed with the outcome; to the treasury when nobody checked the job), and
the rest to the provider (`job_settlement`). Work units are a deterministic function of the model's size and the input.
"""

from dataclasses import replace
from typing import Any

from runtime.codec import CodecError, blake2b_256, decode
from runtime.constants import (
    MAX_API_URL,
    MAX_INLINE_INPUT,
    MAX_INLINE_RESULT,
    MAX_REFERENCED_INPUT,
    MAX_SALT_BYTES,
    PPM,
    SAMPLE_DELAY,
)
from runtime.context import Ctx
from runtime.dispatch import Calls, amount, blob, hash32, mapping, one_of, u32
from runtime.pallets import balances, job_groups, job_market, registry, reputation, slashing, verification
from runtime.pallets.job_assignment import assign_waiting, could_serve
from runtime.pallets.job_rules import SERVES, check_input, check_options, work_units
from runtime.pallets.job_settlement import refund, settle
from runtime.pallets.job_types import PALLET as PALLET
from runtime.pallets.job_types import Assignments as Assignments
from runtime.pallets.job_types import CommitBy as CommitBy
from runtime.pallets.job_types import Due as Due
from runtime.pallets.job_types import Error as Error
from runtime.pallets.job_types import Event as Event
from runtime.pallets.job_types import Job as Job
from runtime.pallets.job_types import JobKind as JobKind
from runtime.pallets.job_types import Jobs as Jobs
from runtime.pallets.job_types import JobStatus as JobStatus
from runtime.pallets.job_types import NextId as NextId
from runtime.pallets.job_types import commit_deadline as commit_deadline
from runtime.pallets.job_types import due as due
from runtime.pallets.job_types import job as job
from runtime.pallets.job_types import schedule as _schedule
from runtime.pallets.slashing import Offence
from runtime.pallets.verification import CheckStatus
from runtime.state import State

calls = Calls(PALLET)


def assignments(state: State, who: bytes) -> tuple[int, ...]:
    return Assignments.get(state, who)


def commitment(result_hash: bytes, salt: bytes) -> bytes:
    return blake2b_256(result_hash + salt)


def _open(ctx: Ctx, who: bytes, job_id: int, add: bool) -> None:
    ids = Assignments.get(ctx.state, who)
    Assignments.put(ctx.state, who, (*ids, job_id) if add else tuple(i for i in ids if i != job_id))
    registry.count_job(ctx, who, opened=1 if add else -1)


@calls.add(
    "submit", kind=one_of(*JobKind), model=hash32, input=blob(MAX_INLINE_INPUT), input_hash=blob(32),
    input_size=amount, options=mapping, max_fee=amount, deadline=u32, min_reputation=u32,
)  # fmt: skip
def submit(
    ctx: Ctx, origin: bytes, kind: JobKind, model: bytes, input: bytes, input_hash: bytes, input_size: int,
    options: dict[str, Any], max_fee: int, deadline: int, min_reputation: int,
) -> None:  # fmt: skip
    found = registry.model(ctx.state, model)
    if found is None:
        raise Error.UnknownModel("no registered model has this hash")
    if kind not in SERVES[found.kind]:
        raise Error.WrongKind(f"{found.name} serves {' and '.join(SERVES[found.kind])} jobs, not {kind}")
    if input:
        input_hash, input_size = blake2b_256(input), len(input)
        try:
            check_input(kind, decode(input, max_len=MAX_INLINE_INPUT))
        except (CodecError, ValueError) as exc:
            raise Error.BadInput(str(exc)) from None
    elif len(input_hash) != 32 or not 0 < input_size <= MAX_REFERENCED_INPUT:
        raise Error.BadInput("give the input inline, or its 32-byte hash and its size")
    try:
        settings = check_options(kind, options)
    except ValueError as exc:
        raise Error.BadOptions(str(exc)) from None
    if not 0 < deadline <= ctx.params.max_job_deadline:
        raise Error.BadDeadline(f"the deadline is 1 to {ctx.params.max_job_deadline} blocks away")
    if min_reputation > PPM:
        raise Error.BadSla("the minimum reputation is at most 1,000,000 ppm")
    units = work_units(kind, found.params_millions, input_size, settings)
    if units * ctx.params.min_job_price > max_fee:
        raise Error.FeeTooLow(f"{units} work units cost at least {units * ctx.params.min_job_price}")
    job_id = NextId.get(ctx.state)
    created = Job(
        job_id, origin, kind, model, input, input_hash, input_size, settings, units, max_fee,
        ctx.number + deadline, min_reputation, ctx.number,
    )  # fmt: skip
    group = job_groups.member_jobs(created) if job_groups.size(created) > 1 else [created]
    NextId.put(ctx.state, job_id + len(group))
    balances.reserve(ctx, origin, max_fee)
    for member in group:
        victim = job_market.admit(ctx.state, origin, member.max_fee)
        if victim is not None and victim in job_groups.members(created):
            raise Error.MarketFull(f"the market is too full for a job spread over {len(group)} providers")
        Jobs.put(ctx.state, member.id, member)
        if victim is not None:
            _evict(ctx, victim, member.id)
        job_market.enter(ctx, member)
        _schedule(ctx, member.id, ctx.number + deadline)
        ctx.emit(Event.Submitted, job=member.id, who=origin, units=member.units, max_fee=member.max_fee)


@calls.add("rendezvous", job=amount, address=blob(MAX_API_URL))
def rendezvous(ctx: Ctx, origin: bytes, job: int, address: bytes) -> None:
    """Where the lead of a job spread over providers meets the others (`job_groups`)."""
    job_groups.rendezvous(ctx, origin, job, address)


@calls.add("progress", job=amount, round=u32)
def progress(ctx: Ctx, origin: bytes, job: int, round: int) -> None:
    """A group member alive after its group broke: a fresh commit window (`job_groups.progress`)."""
    restarted = job_groups.progress(ctx, origin, job, round)
    _schedule(ctx, job, restarted.assigned_at + ctx.params.job_commit_window + 1)


@calls.add("delivered", job=amount, first=u32)
def delivered(ctx: Ctx, origin: bytes, job: int, first: int) -> None:
    """A late group member's first delivered round: paid from there (`job_groups.delivered`)."""
    job_groups.delivered(ctx, origin, job, first)


def _evict(ctx: Ctx, victim: int, by: int) -> None:
    found = Jobs.get(ctx.state, victim)
    assert found is not None and found.status == JobStatus.PENDING
    ctx.emit(Event.Evicted, job=victim, who=found.submitter, by=by)
    _refund(ctx, found, f"outbid by job {by} in a full market")


def _provider_job(ctx: Ctx, origin: bytes, job_id: int, status: JobStatus) -> Job:
    found = Jobs.get(ctx.state, job_id)
    if found is None:
        raise Error.UnknownJob(str(job_id))
    if found.provider != origin or found.status not in (JobStatus.ASSIGNED, JobStatus.COMMITTED):
        raise Error.NotAssigned("this job is not assigned to you")
    if found.status != status:
        raise Error.WrongPhase(f"the job is {found.status}")
    return found


@calls.add("commit", job=amount, commitment=hash32)
def commit(ctx: Ctx, origin: bytes, job: int, commitment: bytes) -> None:
    found = _provider_job(ctx, origin, job, JobStatus.ASSIGNED)
    if ctx.number > commit_deadline(ctx.state, found, ctx.params):
        raise Error.TooLate("the commit window has closed")
    CommitBy.remove(ctx.state, job)
    Jobs.put(
        ctx.state,
        job,
        replace(found, status=JobStatus.COMMITTED, commitment=commitment, committed_at=ctx.number),
    )
    _schedule(ctx, job, ctx.number + ctx.params.job_reveal_window + 1)
    ctx.emit(Event.Committed, job=job, provider=origin)


@calls.add(
    "reveal", job=amount, result_hash=hash32, salt=blob(MAX_SALT_BYTES), result=blob(MAX_INLINE_RESULT)
)
def reveal(ctx: Ctx, origin: bytes, job: int, result_hash: bytes, salt: bytes, result: bytes) -> None:
    found = _provider_job(ctx, origin, job, JobStatus.COMMITTED)
    if ctx.number <= found.committed_at:
        raise Error.TooEarly("reveal in a later block than the commit")
    if commitment(result_hash, salt) != found.commitment:
        raise Error.CommitmentMismatch("the result hash and salt do not open the commitment")
    if result and blake2b_256(result) != result_hash:
        raise Error.ResultMismatch("the inline result does not hash to the result hash")
    Jobs.put(ctx.state, job, replace(found, status=JobStatus.REVEALED, result_hash=result_hash, result=result,
                                     revealed_at=ctx.number))  # fmt: skip
    _schedule(ctx, job, ctx.number + SAMPLE_DELAY)
    _schedule(ctx, job, ctx.number + max(ctx.params.job_challenge_window, SAMPLE_DELAY))
    ctx.emit(Event.Revealed, job=job, provider=origin, result_hash=result_hash)


def _close(ctx: Ctx, found: Job, status: JobStatus, **changes: Any) -> None:
    if found.provider and found.status in (JobStatus.ASSIGNED, JobStatus.COMMITTED, JobStatus.REVEALED):
        _open(ctx, found.provider, found.id, add=False)
    CommitBy.remove(ctx.state, found.id)
    job_groups.forget(ctx, found)
    Jobs.put(ctx.state, found.id, replace(found, status=status, **changes))


def _requeue(ctx: Ctx, found: Job, happened: Event, failed: bool = True, **data: Any) -> None:
    """The provider failed the job (or refused it, not `failed`): another
    one gets it, or the submitter a refund; `happened` (with `data`) says why."""
    apart = job_groups.busy_providers(ctx.state, found)  # a group's members stay on distinct providers
    tried = tuple(dict.fromkeys((*found.tried, found.provider, *sorted(apart))))
    _close(ctx, found, JobStatus.PENDING, provider=b"", price=0, tried=tried)
    if failed:
        registry.count_job(ctx, found.provider, failed=1)
        reputation.record_failure(ctx, found.provider)
    ctx.emit(happened, job=found.id, provider=found.provider, **data)
    if ctx.number >= found.deadline:
        requeued = Jobs.get(ctx.state, found.id)
        assert requeued is not None
        _refund(ctx, requeued, "deadline passed after a failed attempt")
    else:
        requeued = Jobs.get(ctx.state, found.id)
        assert requeued is not None
        # Said now, not at the next idle check: its submitter is waiting. A group's
        # member waits on for a provider to join, the way a group heals (`job_groups`).
        if job_groups.size(requeued) == 1 and not could_serve(ctx, requeued):
            _refund(ctx, requeued, "no provider left to take it")
            return
        victim = job_market.make_room(ctx.state, requeued)
        if victim == requeued.id:
            _refund(ctx, requeued, "the market is full of better-paying jobs")
            return
        if victim is not None:
            _evict(ctx, victim, requeued.id)
        job_market.enter(ctx, requeued)


def _refund(ctx: Ctx, found: Job, reason: str) -> None:
    refund(ctx, found.submitter, found.max_fee)
    job_market.leave(ctx, found)
    Jobs.put(ctx.state, found.id, replace(found, status=JobStatus.REFUNDED))
    ctx.emit(Event.Refunded, job=found.id, who=found.submitter, amount=found.max_fee, reason=reason)


def _expire(ctx: Ctx, job_id: int) -> None:
    found = Jobs.get(ctx.state, job_id)
    if found is None:
        return
    p = ctx.params
    if found.status == JobStatus.PENDING and ctx.number >= found.deadline:
        _refund(ctx, found, "no provider before the deadline")
    elif found.status == JobStatus.PENDING and job_market.idle_check_due(ctx.state, found.id, ctx.number):
        if could_serve(ctx, found):
            job_market.recheck(ctx, found)
        else:
            _refund(ctx, found, "no provider can serve it")
    elif found.status == JobStatus.ASSIGNED and ctx.number > commit_deadline(ctx.state, found, p):
        _requeue(ctx, found, Event.MissedCommit)
    elif found.status == JobStatus.COMMITTED and ctx.number > found.committed_at + p.job_reveal_window:
        slashing.report_offence(ctx, found.provider, Offence.MISSED_REVEAL)
        _requeue(ctx, found, Event.MissedReveal)
    elif found.status == JobStatus.REVEALED:
        if ctx.number >= found.revealed_at + SAMPLE_DELAY:
            verification.sample(ctx, found.id, found.provider)
        if ctx.number >= found.revealed_at + p.job_challenge_window:
            _finish(ctx, found)


def _finish(ctx: Ctx, found: Job) -> None:
    """After the challenge window: settle, wait for an open check, or reject."""
    result = verification.outcome(ctx.state, found.id)
    if result == CheckStatus.OPEN:
        _schedule(ctx, found.id, ctx.number + 1)
        return
    forfeited = verification.cheated_since(ctx.state, found.provider, found.assigned_at)
    if result == CheckStatus.FAILED or forfeited:  # slashing was done by the dispute
        refund(ctx, found.submitter, found.max_fee)
        _close(ctx, found, JobStatus.REJECTED)
        registry.count_job(ctx, found.provider, failed=1)
        ctx.emit(Event.Rejected, job=found.id, provider=found.provider, refunded=found.max_fee,
                 forfeited=forfeited and result != CheckStatus.FAILED)  # fmt: skip
        return
    verifiers = verification.rewarded_verifiers(ctx.state, found.id)
    units = job_groups.paid_units(found)  # a late group member: only the rounds it delivered
    fee = settle(ctx, found.submitter, found.provider, found.max_fee, found.price * units, units, verifiers)
    _close(ctx, found, JobStatus.SETTLED, fee=fee)
    registry.count_job(ctx, found.provider, done=1)
    windows = ctx.params.job_commit_window + ctx.params.job_reveal_window
    reputation.record_success(ctx, found.provider, fast=found.revealed_at - found.assigned_at <= windows // 2)
    ctx.emit(Event.Settled, job=found.id, provider=found.provider, fee=fee)


def _assign(ctx: Ctx, found: Job, who: bytes, price: int) -> None:
    job_market.leave(ctx, found)
    Jobs.put(ctx.state, found.id, replace(found, status=JobStatus.ASSIGNED, provider=who, price=price,
                                          assigned_at=ctx.number))  # fmt: skip
    _open(ctx, who, found.id, add=True)
    job_groups.keep_apart(ctx, found, who)
    _schedule(ctx, found.id, ctx.number + ctx.params.job_commit_window + 1)
    ctx.emit(Event.Assigned, job=found.id, provider=who, price=price)


def on_finalize(ctx: Ctx) -> None:
    for job_id in due(ctx.state, ctx.number):
        _expire(ctx, job_id)
    Due.remove(ctx.state, ctx.number)
    assign_waiting(ctx, _assign)
