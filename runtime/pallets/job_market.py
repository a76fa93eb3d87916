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

from bisect import insort

from runtime.constants import (
    JOB_IDLE_BLOCKS,
    MARKET_OUTBID_PPM,
    MAX_UNASSIGNED_JOBS,
    MAX_WAITING_PER_SUBMITTER,
    PPM,
)
from runtime.context import Ctx
from runtime.errors import pallet_errors
from runtime.pallets.job_types import PALLET, Job, schedule
from runtime.state import State
from runtime.storage import StorageMap, StorageValue, bytes_tuple, sorted_insert, sorted_remove

Error = pallet_errors(PALLET)
Entries = tuple[tuple[int, int], ...]


def _entries(wire: list[list[int]]) -> Entries:
    return tuple((a, b) for a, b in wire)


def _entries_wire(entries: Entries) -> list[list[int]]:
    return [list(entry) for entry in entries]


# every waiting job as (max fee, id), the next to be outbid first: the cheapest,
# and among equals the newest (the older one keeps its place)
Waiting: StorageValue[Entries] = StorageValue(PALLET, "Waiting", (), _entries_wire, _entries)
# model -> its waiting jobs as (fee per work unit, id): best paid first, among equals the oldest
Queue: StorageMap[Entries] = StorageMap(PALLET, "Queue", (), _entries_wire, _entries)
# the models with a waiting job, sorted
Queued: StorageValue[tuple[bytes, ...]] = StorageValue(PALLET, "Queued", (), list, bytes_tuple)
WaitingBy: StorageMap[int] = StorageMap(PALLET, "WaitingBy", 0)  # submitter -> its waiting jobs
# waiting job -> block of its next idle check; present exactly while the job waits
IdleCheck: StorageMap[int] = StorageMap(PALLET, "IdleCheck", 0)


def _bid_order(entry: tuple[int, int]) -> tuple[int, int]:
    return entry[0], -entry[1]


def _queue_order(entry: tuple[int, int]) -> tuple[int, int]:
    return -entry[0], entry[1]


def outbids(max_fee: int, cheapest: int) -> bool:
    return max_fee * PPM > cheapest * (PPM + MARKET_OUTBID_PPM)


def admit(state: State, submitter: bytes, max_fee: int) -> int | None:
    """The waiting job a new one must evict to get in, None if there is room;
    raises when the submitter has too many waiting or the bid is too low."""
    if WaitingBy.get(state, submitter) >= MAX_WAITING_PER_SUBMITTER:
        raise Error(
            "TooManyWaiting", f"at most {MAX_WAITING_PER_SUBMITTER} of your jobs may wait for a provider"
        )
    waiting = Waiting.get(state)
    if len(waiting) < MAX_UNASSIGNED_JOBS:
        return None
    cheapest, victim = waiting[0]
    if not outbids(max_fee, cheapest):
        least = cheapest * (PPM + MARKET_OUTBID_PPM) // PPM + 1
        raise Error("MarketFull", f"too many jobs wait for a provider; a max fee of {least} or more gets in")
    return victim


def is_waiting(state: State, job_id: int) -> bool:
    return IdleCheck.contains(state, job_id)


def size(state: State) -> int:
    return len(Waiting.get(state))


def enter(ctx: Ctx, job: Job) -> None:
    """Add a pending job (new or requeued; a requeued one is never refused)."""
    waiting = list(Waiting.get(ctx.state))
    insort(waiting, (job.max_fee, job.id), key=_bid_order)
    Waiting.put(ctx.state, tuple(waiting))
    queue = list(Queue.get(ctx.state, job.model))
    insort(queue, (job.rate, job.id), key=_queue_order)
    Queue.put(ctx.state, job.model, tuple(queue))
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
    Waiting.put(ctx.state, tuple(e for e in Waiting.get(ctx.state) if e[1] != job.id))
    queue = tuple(e for e in Queue.get(ctx.state, job.model) if e[1] != job.id)
    Queue.put(ctx.state, job.model, queue)
    if not queue:
        Queued.put(ctx.state, sorted_remove(Queued.get(ctx.state), job.model))
    WaitingBy.put(ctx.state, job.submitter, WaitingBy.get(ctx.state, job.submitter) - 1)
    IdleCheck.remove(ctx.state, job.id)
