"""Which provider gets a job: drawn from the parent block hash and the job
id, weighted by bonded stake x reputation, among the providers that serve
the model, are online, have room, fit the job's price and meet its minimum
reputation, are not under dispute, and have not already failed it.

Assignment reads the waiting set by model (`job_market.Queue`, best rate
first), never the whole set: a model's queue is read only when a provider
of the model has room, and only down to the first job that pays less per
work unit than the cheapest such provider asks, since no job after it can
pay any of them. The work of a block is bounded (`MAX_ASSIGN_STEPS_PER_BLOCK`,
`MAX_ASSIGNMENTS_PER_BLOCK`); the next block starts at the model after the
last one it read (or the first one it did not reach), so that every model
has its turn and providers shared by several models do not always go to the
same one first.
"""

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

from runtime.codec import blake2b_256
from runtime.constants import MAX_ASSIGN_STEPS_PER_BLOCK, MAX_ASSIGNMENTS_PER_BLOCK, MAX_JOBS_PER_PROVIDER
from runtime.context import Ctx
from runtime.pallets import job_market, registry, reputation, staking, verification
from runtime.pallets.job_types import PALLET, Job, Jobs, JobStatus
from runtime.storage import StorageValue

Assign = Callable[[Ctx, Job, bytes, int], None]  # (ctx, job, provider, price per unit)
# the model whose queue the next block looks at first
Cursor: StorageValue[bytes] = StorageValue(PALLET, "Cursor", b"")


@dataclass
class Offer:
    """A provider of one model as this block sees it (not stored)."""

    who: bytes
    weight: int
    price: int
    score: int
    room: int

    def fits(self, job: Job) -> bool:
        return self.who not in job.tried and self.price <= job.rate and self.score >= job.min_reputation


def offers(ctx: Ctx, model: bytes, now: bool = True) -> list[Offer]:
    """The providers that could take a job of `model`, in account order: now
    (room, no open dispute), or at all (a busy or disputed provider counts)."""
    found = []
    for who in registry.Serving.get(ctx.state, model):
        if now and verification.under_dispute(ctx.state, who):
            continue
        prov = registry.provider(ctx.state, who)
        room = MAX_JOBS_PER_PROVIDER - prov.open_jobs
        if not registry.is_online(ctx, prov) or (now and room <= 0):
            continue
        stake = staking.ledger(ctx.state, who).bonded
        if stake < ctx.params.min_provider_bond:
            continue
        score = reputation.score(ctx.state, who)
        found.append(Offer(who, stake * max(score, 1), prov.price, score, room))
    return found


def could_serve(ctx: Ctx, job: Job) -> bool:
    """Whether any provider could ever take the job as things stand."""
    return any(offer.fits(job) for offer in offers(ctx, job.model, now=False))


def draw(ctx: Ctx, job: Job, pool: list[Offer]) -> Offer | None:
    """The provider for `job` among the offers that fit it, None when none does."""
    seed = blake2b_256(b"vcoin-assign" + ctx.parent_hash + job.id.to_bytes(8, "big"))
    return pick([offer for offer in pool if offer.fits(job)], seed)


def pick(eligible: list[Offer], seed: bytes) -> Offer | None:
    """One of the eligible offers, drawn by `seed` with odds in proportion to
    stake x reputation (the jobs' and the sessions' choice); None when none is."""
    total = sum(offer.weight for offer in eligible)
    if total == 0:
        return None
    point = int.from_bytes(seed, "big") % total
    for offer in eligible:
        if point < offer.weight:
            return offer
        point -= offer.weight
    raise AssertionError("unreachable: the point lies below the total weight")


def assign_waiting(ctx: Ctx, assign: Assign) -> None:
    """Hand waiting jobs to providers; `assign(ctx, job, provider, price)` records one."""
    models = job_market.Queued.get(ctx.state)
    if not models:
        return
    start = bisect_left(models, Cursor.get(ctx.state)) % len(models)
    order = models[start:] + models[:start]
    budget = _Budget()
    resume = order[1 % len(order)]
    for index, model in enumerate(order):
        if budget.spent():
            resume = model  # not looked at in this block: first in the next
            break
        if not _serve_queue(ctx, model, budget, assign):
            # the next block starts one model further on, so that a queue whose head
            # never fits (it waits for a busy provider) cannot take every block's budget
            resume = order[(index + 1) % len(order)]
            break
    Cursor.put(ctx.state, resume)


@dataclass
class _Budget:
    steps: int = 0
    assigned: int = 0

    def spent(self) -> bool:
        return self.steps >= MAX_ASSIGN_STEPS_PER_BLOCK or self.assigned >= MAX_ASSIGNMENTS_PER_BLOCK


def _serve_queue(ctx: Ctx, model: bytes, budget: _Budget, assign: Assign) -> bool:
    """Assign from one model's queue; False if the budget ran out before its end."""
    pool = offers(ctx, model)
    budget.steps += 1 + len(registry.Serving.get(ctx.state, model))
    cheapest = min((offer.price for offer in pool), default=None)
    for rate, job_id in job_market.queue(ctx.state, model):
        if cheapest is None or rate < cheapest:
            return True  # best rate first: no job after this one fits any provider with room
        if budget.spent():
            return False
        budget.steps += 1
        found = Jobs.get(ctx.state, job_id)
        chosen = None if found is None or found.status != JobStatus.PENDING else draw(ctx, found, pool)
        if found is None or chosen is None:
            continue
        assign(ctx, found, chosen.who, chosen.price)
        budget.assigned += 1
        chosen.room -= 1
        if chosen.room == 0:
            pool.remove(chosen)
            cheapest = min((offer.price for offer in pool), default=None)
    return True
