"""Jobs: a developer's paid request for compute, from submission to settlement.

    submit -> pending -> assigned -> committed -> revealed -> settled
                 ^          |            |
                 +----------+------------+  missed commit / missed reveal:
                                            reassigned, or refunded at the deadline

The fee is reserved at submission (up to `max_fee`). Assignment happens in
the block's finalization, from the parent block hash, weighted by bonded
stake x reputation among online providers that serve the model, fit the
price and meet the job's minimum reputation. The provider commits to
`H(result_hash || salt)`, then reveals; after the challenge window (where
the verification pallet will act) the fee settles: the provider's share, the
verifiers' share (to the treasury until verifiers are paid), and the burn.
Work units are a deterministic function of the model's size and the input.
"""

from dataclasses import dataclass, replace
from typing import Any

from runtime.codec import CodecError, blake2b_256, decode
from runtime.constants import JOB_KINDS, MAX_INLINE_INPUT, MAX_INLINE_RESULT, MAX_REFERENCED_INPUT, PPM
from runtime.context import Ctx
from runtime.dispatch import amount, blob, call, hash32, mapping, one_of, u32
from runtime.errors import pallet_errors
from runtime.pallets import balances, registry, reputation, slashing, verification
from runtime.pallets.job_assignment import choose_provider
from runtime.pallets.job_rules import SERVES, check_input, check_options, work_units
from runtime.pallets.job_settlement import refund, settle
from runtime.state import State
from runtime.storage import StorageMap, StorageValue

PALLET = "jobs"
Error = pallet_errors(PALLET)

PENDING, ASSIGNED, COMMITTED, REVEALED = "pending", "assigned", "committed", "revealed"
SETTLED, REFUNDED, REJECTED = "settled", "refunded", "rejected"
MAX_ASSIGNMENTS_PER_BLOCK = 64


@dataclass(frozen=True)
class Job:
    id: int
    submitter: bytes
    kind: str
    model: bytes
    input: bytes  # inline input (canonical msgpack), or b"" when referenced by hash
    input_hash: bytes
    input_size: int
    options: dict[str, int]
    units: int
    max_fee: int
    deadline: int
    min_reputation: int
    created: int
    status: str = PENDING
    provider: bytes = b""
    price: int = 0
    assigned_at: int = 0
    commitment: bytes = b""
    committed_at: int = 0
    result_hash: bytes = b""
    result: bytes = b""
    revealed_at: int = 0
    tried: tuple[bytes, ...] = ()
    fee: int = 0

    def to_wire(self) -> list[Any]:
        return [getattr(self, f) for f in _FIELDS[:-2]] + [list(self.tried), self.fee]

    @classmethod
    def from_wire(cls, wire: Any) -> "Job":
        values = list(wire)
        values[-2] = tuple(values[-2])
        return cls(*values)


_FIELDS = tuple(Job.__dataclass_fields__)
Jobs: StorageMap[Job | None] = StorageMap(
    PALLET, "Jobs", None, lambda j: None if j is None else j.to_wire(), lambda w: Job.from_wire(w)
)
NextId: StorageValue[int] = StorageValue(PALLET, "NextId", 0)
Unassigned: StorageValue[tuple[int, ...]] = StorageValue(PALLET, "Unassigned", (), list, tuple)
# block number -> jobs whose timers expire then
Due: StorageMap[tuple[int, ...]] = StorageMap(PALLET, "Due", (), list, tuple)
# provider -> its open jobs (assigned, committed or revealed): what its worker reads
Assignments: StorageMap[tuple[int, ...]] = StorageMap(PALLET, "Assignments", (), list, tuple)


def job(state: State, job_id: int) -> Job | None:
    return Jobs.get(state, job_id)


def assignments(state: State, who: bytes) -> tuple[int, ...]:
    return Assignments.get(state, who)


def commitment(result_hash: bytes, salt: bytes) -> bytes:
    return blake2b_256(result_hash + salt)


def _schedule(ctx: Ctx, job_id: int, at: int) -> None:
    due = Due.get(ctx.state, at)
    if job_id not in due:
        Due.put(ctx.state, at, (*due, job_id))


def _open(ctx: Ctx, who: bytes, job_id: int, add: bool) -> None:
    ids = Assignments.get(ctx.state, who)
    Assignments.put(ctx.state, who, (*ids, job_id) if add else tuple(i for i in ids if i != job_id))
    registry.count_job(ctx, who, opened=1 if add else -1)


@call(
    PALLET, "submit", kind=one_of(*JOB_KINDS), model=hash32, input=blob(MAX_INLINE_INPUT),
    input_hash=blob(32), input_size=amount, options=mapping, max_fee=amount, deadline=u32,
    min_reputation=u32,
)  # fmt: skip
def submit(
    ctx: Ctx, origin: bytes, kind: str, model: bytes, input: bytes, input_hash: bytes, input_size: int,
    options: dict[str, Any], max_fee: int, deadline: int, min_reputation: int,
) -> None:  # fmt: skip
    found = registry.model(ctx.state, model)
    if found is None:
        raise Error("UnknownModel", "no registered model has this hash")
    if kind not in SERVES[found.kind]:
        raise Error("WrongKind", f"{found.name} serves {' and '.join(SERVES[found.kind])} jobs, not {kind}")
    if input:
        input_hash, input_size = blake2b_256(input), len(input)
        try:
            check_input(kind, decode(input, max_len=MAX_INLINE_INPUT))
        except (CodecError, ValueError) as exc:
            raise Error("BadInput", str(exc)) from None
    elif len(input_hash) != 32 or not 0 < input_size <= MAX_REFERENCED_INPUT:
        raise Error("BadInput", "give the input inline, or its 32-byte hash and its size")
    try:
        settings = check_options(kind, options)
    except ValueError as exc:
        raise Error("BadOptions", str(exc)) from None
    if not 0 < deadline <= ctx.params.max_job_deadline:
        raise Error("BadDeadline", f"the deadline is 1 to {ctx.params.max_job_deadline} blocks away")
    if min_reputation > PPM:
        raise Error("BadSla", "the minimum reputation is at most 1,000,000 ppm")
    units = work_units(kind, found.params_millions, input_size, settings)
    if units * ctx.params.min_job_price > max_fee:
        raise Error("FeeTooLow", f"{units} work units cost at least {units * ctx.params.min_job_price}")
    if len(Unassigned.get(ctx.state)) >= MAX_ASSIGNMENTS_PER_BLOCK * 16:
        raise Error("MarketFull", "too many jobs wait for a provider; try again later")
    balances.reserve(ctx, origin, max_fee)
    job_id = NextId.get(ctx.state)
    NextId.put(ctx.state, job_id + 1)
    Jobs.put(ctx.state, job_id, Job(
        job_id, origin, kind, model, input, input_hash, input_size, settings, units, max_fee,
        ctx.number + deadline, min_reputation, ctx.number,
    ))  # fmt: skip
    Unassigned.put(ctx.state, (*Unassigned.get(ctx.state), job_id))
    _schedule(ctx, job_id, ctx.number + deadline)
    ctx.emit(PALLET, "Submitted", job=job_id, who=origin, units=units, max_fee=max_fee)


def _provider_job(ctx: Ctx, origin: bytes, job_id: int, status: str) -> Job:
    found = Jobs.get(ctx.state, job_id)
    if found is None:
        raise Error("UnknownJob", str(job_id))
    if found.provider != origin or found.status not in (ASSIGNED, COMMITTED):
        raise Error("NotAssigned", "this job is not assigned to you")
    if found.status != status:
        raise Error("WrongPhase", f"the job is {found.status}")
    return found


@call(PALLET, "commit", job=amount, commitment=hash32)
def commit(ctx: Ctx, origin: bytes, job: int, commitment: bytes) -> None:
    found = _provider_job(ctx, origin, job, ASSIGNED)
    if ctx.number > found.assigned_at + ctx.params.job_commit_window:
        raise Error("TooLate", "the commit window has closed")
    Jobs.put(ctx.state, job, replace(found, status=COMMITTED, commitment=commitment, committed_at=ctx.number))
    _schedule(ctx, job, ctx.number + ctx.params.job_reveal_window + 1)
    ctx.emit(PALLET, "Committed", job=job, provider=origin)


@call(PALLET, "reveal", job=amount, result_hash=hash32, salt=blob(64), result=blob(MAX_INLINE_RESULT))
def reveal(ctx: Ctx, origin: bytes, job: int, result_hash: bytes, salt: bytes, result: bytes) -> None:
    found = _provider_job(ctx, origin, job, COMMITTED)
    if ctx.number <= found.committed_at:
        raise Error("TooEarly", "reveal in a later block than the commit")
    if commitment(result_hash, salt) != found.commitment:
        raise Error("CommitmentMismatch", "the result hash and salt do not open the commitment")
    if result and blake2b_256(result) != result_hash:
        raise Error("ResultMismatch", "the inline result does not hash to the result hash")
    Jobs.put(ctx.state, job, replace(found, status=REVEALED, result_hash=result_hash, result=result,
                                     revealed_at=ctx.number))  # fmt: skip
    _schedule(ctx, job, ctx.number + verification.SAMPLE_DELAY)
    _schedule(ctx, job, ctx.number + max(ctx.params.job_challenge_window, verification.SAMPLE_DELAY))
    ctx.emit(PALLET, "Revealed", job=job, provider=origin, result_hash=result_hash)


def _close(ctx: Ctx, found: Job, status: str, **changes: Any) -> None:
    if found.provider and found.status in (ASSIGNED, COMMITTED, REVEALED):
        _open(ctx, found.provider, found.id, add=False)
    Jobs.put(ctx.state, found.id, replace(found, status=status, **changes))


def _requeue(ctx: Ctx, found: Job, reason: str) -> None:
    """The provider failed the job: another one gets it, or the submitter a refund."""
    _close(ctx, found, PENDING, provider=b"", price=0, tried=(*found.tried, found.provider))
    registry.count_job(ctx, found.provider, failed=1)
    reputation.record_failure(ctx, found.provider)
    ctx.emit(PALLET, reason, job=found.id, provider=found.provider)
    if ctx.number >= found.deadline:
        requeued = Jobs.get(ctx.state, found.id)
        assert requeued is not None
        _refund(ctx, requeued, "deadline passed after a failed attempt")
    else:
        Unassigned.put(ctx.state, (*Unassigned.get(ctx.state), found.id))


def _refund(ctx: Ctx, found: Job, reason: str) -> None:
    refund(ctx, found.submitter, found.max_fee)
    Unassigned.put(ctx.state, tuple(i for i in Unassigned.get(ctx.state) if i != found.id))
    Jobs.put(ctx.state, found.id, replace(found, status=REFUNDED))
    ctx.emit(PALLET, "Refunded", job=found.id, who=found.submitter, amount=found.max_fee, reason=reason)


def _expire(ctx: Ctx, job_id: int) -> None:
    found = Jobs.get(ctx.state, job_id)
    if found is None:
        return
    p = ctx.params
    if found.status == PENDING and ctx.number >= found.deadline:
        _refund(ctx, found, "no provider before the deadline")
    elif found.status == ASSIGNED and ctx.number > found.assigned_at + p.job_commit_window:
        _requeue(ctx, found, "MissedCommit")
    elif found.status == COMMITTED and ctx.number > found.committed_at + p.job_reveal_window:
        slashing.report_offence(ctx, found.provider, slashing.MISSED_REVEAL)
        _requeue(ctx, found, "MissedReveal")
    elif found.status == REVEALED:
        if ctx.number >= found.revealed_at + verification.SAMPLE_DELAY:
            verification.sample(ctx, found.id, found.provider)
        if ctx.number >= found.revealed_at + p.job_challenge_window:
            _finish(ctx, found)


def _finish(ctx: Ctx, found: Job) -> None:
    """After the challenge window: settle, wait for an open check, or reject."""
    result = verification.outcome(ctx.state, found.id)
    if result == verification.OPEN:
        _schedule(ctx, found.id, ctx.number + 1)
        return
    forfeited = verification.cheated_since(ctx.state, found.provider, found.assigned_at)
    if result == verification.FAILED or forfeited:  # slashing was done by the dispute
        refund(ctx, found.submitter, found.max_fee)
        _close(ctx, found, REJECTED)
        registry.count_job(ctx, found.provider, failed=1)
        ctx.emit(PALLET, "Rejected", job=found.id, provider=found.provider, refunded=found.max_fee,
                 forfeited=forfeited and result != verification.FAILED)  # fmt: skip
        return
    verifiers = verification.rewarded_verifiers(ctx.state, found.id)
    fee = settle(ctx, found.submitter, found.provider, found.max_fee, found.price * found.units, found.units,
                 verifiers)  # fmt: skip
    _close(ctx, found, SETTLED, fee=fee)
    registry.count_job(ctx, found.provider, done=1)
    windows = ctx.params.job_commit_window + ctx.params.job_reveal_window
    reputation.record_success(ctx, found.provider, fast=found.revealed_at - found.assigned_at <= windows // 2)
    ctx.emit(PALLET, "Settled", job=found.id, provider=found.provider, fee=fee)


def _assign(ctx: Ctx) -> None:
    waiting = Unassigned.get(ctx.state)
    left: list[int] = []
    for index, job_id in enumerate(waiting):
        found = Jobs.get(ctx.state, job_id)
        if found is None or found.status != PENDING:
            continue
        chosen = choose_provider(ctx, found) if index < MAX_ASSIGNMENTS_PER_BLOCK else None
        if chosen is None:
            left.append(job_id)
            continue
        who, price = chosen
        Jobs.put(ctx.state, job_id, replace(found, status=ASSIGNED, provider=who, price=price,
                                            assigned_at=ctx.number))  # fmt: skip
        _open(ctx, who, job_id, add=True)
        _schedule(ctx, job_id, ctx.number + ctx.params.job_commit_window + 1)
        ctx.emit(PALLET, "Assigned", job=job_id, provider=who, price=price)
    Unassigned.put(ctx.state, tuple(left))


def on_finalize(ctx: Ctx) -> None:
    for job_id in Due.get(ctx.state, ctx.number):
        _expire(ctx, job_id)
    Due.put(ctx.state, ctx.number, ())
    _assign(ctx)
