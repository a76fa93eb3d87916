"""The waiting set: jobs that wait for a provider, admitted by fee.

A waiting set bounded only by a count is closed by whoever fills it first
with the cheapest jobs and a far deadline (issue 11, finding 4). So:

- one submitter may have at most `MAX_WAITING_PER_SUBMITTER` jobs waiting;
- when `MAX_UNASSIGNED_JOBS` wait, a new job whose max fee beats the cheapest
  waiting one's by more than `MARKET_OUTBID_PPM` takes its place, and the
  evicted job is refunded in full. Bids are compared per job, not per work
  unit, because every limit a waiting job takes up (a place here, a slot
  of a provider, an assignment in a block) counts jobs: ranked per unit, a
  one-unit job at a high rate would hold a place for almost nothing. To
  keep honest users out, a flood must lock more per job than they offer;
- every `JOB_IDLE_BLOCKS` a waiting job is looked at, and one that no
  provider could take is refunded then rather than at its deadline
  (`jobs._expire`);
- each model has its own queue, best rate first, so assignment reads only
  the head of the queues of models that have a provider with room.
"""

import struct
from collections.abc import Iterator

from runtime.constants import (
    JOB_IDLE_BLOCKS,
    MARKET_OUTBID_PPM,
    MAX_U64,
    MAX_UNASSIGNED_JOBS,
    MAX_WAITING_PER_SUBMITTER,
    PPM,
)
from runtime.context import Ctx
from runtime.pallets.job_types import PALLET, Error, Job, schedule
from runtime.state import State
from runtime.storage import StorageMap, StorageValue, bytes_tuple, sorted_insert, sorted_remove

# The two orders are kept as sorted runs of 16-byte records whose byte order
# is the order wanted, so that adding or removing a job is a binary search
# and one copy, not a re-encoding of a thousand-entry list on every submit.
_RECORD = struct.Struct(">QQ")
_SIZE = _RECORD.size

# every waiting job as (max fee, MAX_U64 - id): the next to be outbid first,
# which is the cheapest and among equals the newest (the older keeps its place)
Waiting: StorageValue[bytes] = StorageValue(PALLET, "Waiting", b"")
# model -> its waiting jobs as (MAX_U64 - fee per work unit, id): best paid first, among equals the oldest
Queue: StorageMap[bytes] = StorageMap(PALLET, "Queue", b"")
# the models with a waiting job, sorted
Queued: StorageValue[tuple[bytes, ...]] = StorageValue(PALLET, "Queued", (), list, bytes_tuple)
WaitingBy: StorageMap[int] = StorageMap(PALLET, "WaitingBy", 0)  # submitter -> its waiting jobs
# waiting job -> block of its next idle check; present exactly while the job waits
IdleCheck: StorageMap[int] = StorageMap(PALLET, "IdleCheck", 0)


def _bid(job: Job) -> bytes:
    return _RECORD.pack(job.max_fee, MAX_U64 - job.id)


def _place(job: Job) -> bytes:
    return _RECORD.pack(MAX_U64 - job.rate, job.id)


def _search(run: bytes, record: bytes) -> int:
    """Where `record` is or would go in the sorted run (bisect left)."""
    lo, hi = 0, len(run) // _SIZE
    while lo < hi:
        mid = (lo + hi) // 2
        if run[mid * _SIZE : (mid + 1) * _SIZE] < record:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _insert(run: bytes, record: bytes) -> bytes:
    at = _search(run, record) * _SIZE
    return run[:at] + record + run[at:]


def _remove(run: bytes, record: bytes) -> bytes:
    at = _search(run, record) * _SIZE
    return run[:at] + run[at + _SIZE :] if run[at : at + _SIZE] == record else run


def queue(state: State, model: bytes) -> Iterator[tuple[int, int]]:
    """(fee per work unit, job id) of the model's waiting jobs, best paid first."""
    for inverse_rate, job_id in _RECORD.iter_unpack(Queue.get(state, model)):
        yield MAX_U64 - inverse_rate, job_id


def cheapest(state: State) -> tuple[int, int] | None:
    """(max fee, id) of the job a full market evicts next."""
    run = Waiting.get(state)
    if not run:
        return None
    fee, inverse_id = _RECORD.unpack_from(run)
    return fee, MAX_U64 - inverse_id


def waiting(state: State) -> list[int]:
    """The ids of every waiting job, the next to be outbid first."""
    return [MAX_U64 - inverse_id for _, inverse_id in _RECORD.iter_unpack(Waiting.get(state))]


def size(state: State) -> int:
    return len(Waiting.get(state)) // _SIZE


def outbids(max_fee: int, lowest: int) -> bool:
    return max_fee * PPM > lowest * (PPM + MARKET_OUTBID_PPM)


def admit(state: State, submitter: bytes, max_fee: int) -> int | None:
    """The waiting job a new one must evict to get in, None if there is room;
    raises when the submitter has too many waiting or the bid is too low."""
    if WaitingBy.get(state, submitter) >= MAX_WAITING_PER_SUBMITTER:
        raise Error.TooManyWaiting(
            f"at most {MAX_WAITING_PER_SUBMITTER} of your jobs may wait for a provider"
        )
    low = cheapest(state)
    if low is None or size(state) < MAX_UNASSIGNED_JOBS:
        return None
    fee, victim = low
    if not outbids(max_fee, fee):
        least = fee * (PPM + MARKET_OUTBID_PPM) // PPM + 1
        raise Error.MarketFull(f"too many jobs wait for a provider; a max fee of {least} or more gets in")
    return victim


def make_room(state: State, job: Job) -> int | None:
    """For a job back from a failed attempt, which keeps its place without a
    bid increase: the job to refund so that the set stays bounded (the
    cheapest waiting one, or this one if it bids no more), None if there is room."""
    low = cheapest(state)
    if low is None or size(state) < MAX_UNASSIGNED_JOBS:
        return None
    fee, victim = low
    return victim if job.max_fee > fee else job.id


def is_waiting(state: State, job_id: int) -> bool:
    return IdleCheck.contains(state, job_id)


def enter(ctx: Ctx, job: Job) -> None:
    """Add a pending job (new or requeued: `admit` or `make_room` first)."""
    Waiting.put(ctx.state, _insert(Waiting.get(ctx.state), _bid(job)))
    Queue.put(ctx.state, job.model, _insert(Queue.get(ctx.state, job.model), _place(job)))
    Queued.put(ctx.state, sorted_insert(Queued.get(ctx.state), job.model))
    WaitingBy.put(ctx.state, job.submitter, WaitingBy.get(ctx.state, job.submitter) + 1)
    recheck(ctx, job)


def recheck(ctx: Ctx, job: Job) -> None:
    """Look at the job again in `JOB_IDLE_BLOCKS`, unless its deadline comes first."""
    at = ctx.number + JOB_IDLE_BLOCKS
    IdleCheck.put(ctx.state, job.id, at)
    if at < job.deadline:
        schedule(ctx, job.id, at)


def idle_check_due(state: State, job_id: int, number: int) -> bool:
    return IdleCheck.get(state, job_id) == number


def leave(ctx: Ctx, job: Job) -> None:
    """Remove a job that stops waiting (assigned, refunded or evicted)."""
    if not is_waiting(ctx.state, job.id):
        return
    Waiting.put(ctx.state, _remove(Waiting.get(ctx.state), _bid(job)))
    run = _remove(Queue.get(ctx.state, job.model), _place(job))
    Queue.put(ctx.state, job.model, run)
    if not run:
        Queued.put(ctx.state, sorted_remove(Queued.get(ctx.state), job.model))
    WaitingBy.put(ctx.state, job.submitter, WaitingBy.get(ctx.state, job.submitter) - 1)
    IdleCheck.remove(ctx.state, job.id)
