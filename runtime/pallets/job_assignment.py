"""Which provider gets a job: drawn from the parent block hash and the job
id, weighted by bonded stake x reputation, among the providers that serve
the model, are online, have room, fit the job's price and meet its minimum
reputation, are not under dispute, and have not already failed it."""

from typing import TYPE_CHECKING

from runtime.codec import blake2b_256
from runtime.constants import MAX_JOBS_PER_PROVIDER
from runtime.context import Ctx
from runtime.pallets import registry, reputation, staking, verification

if TYPE_CHECKING:
    from runtime.pallets.jobs import Job


def candidates(ctx: Ctx, job: "Job") -> list[tuple[bytes, int, int]]:
    """(provider, weight, price) of every eligible provider, in account order."""
    found = []
    for who in registry.Serving.get(ctx.state, job.model):
        if who in job.tried or verification.under_dispute(ctx.state, who):
            continue
        prov = registry.provider(ctx.state, who)
        if not registry.is_online(ctx, prov) or prov.open_jobs >= MAX_JOBS_PER_PROVIDER:
            continue
        if prov.price * job.units > job.max_fee:
            continue
        score = reputation.score(ctx.state, who)
        stake = staking.ledger(ctx.state, who).bonded
        if score < job.min_reputation or stake < ctx.params.min_provider_bond:
            continue
        found.append((who, stake * max(score, 1), prov.price))
    return found


def choose_provider(ctx: Ctx, job: "Job") -> tuple[bytes, int] | None:
    """(provider, price per unit), or None when nobody is eligible."""
    eligible = candidates(ctx, job)
    total = sum(weight for _, weight, _ in eligible)
    if total == 0:
        return None
    seed = blake2b_256(b"vcoin-assign" + ctx.parent_hash + job.id.to_bytes(8, "big"))
    point = int.from_bytes(seed, "big") % total
    for who, weight, price in eligible:
        if point < weight:
            return who, price
        point -= weight
    raise AssertionError("unreachable: the point lies below the total weight")
