"""Issue 11, finding 4: about 1.3 VCoin of minimum-fee jobs with a far
deadline closed the compute market, and every block scanned them all.
The waiting set now admits by fee with a cap per submitter, refunds jobs
nobody can serve early, and assignment reads only what it can assign."""

from typing import Any
from unittest.mock import patch

from genesis.spec import BUILTIN_MODELS
from runtime.codec import encode
from runtime.constants import (
    JOB_IDLE_BLOCKS,
    MAX_JOBS_PER_PROVIDER,
    MAX_UNASSIGNED_JOBS,
    MAX_WAITING_PER_SUBMITTER,
    UNIT,
)
from runtime.crypto import Keypair
from runtime.pallets import job_assignment, jobs
from runtime.pallets.job_rules import work_units
from runtime.pallets.job_types import JobKind
from tests.chain import BOB, CHARLIE, DAVE, EVE, TestChain, failed
from tests.runtime.pallets.test_jobs import TEXTS, market, submit

UNITS = work_units(JobKind.EMBED, 23, len(TEXTS), {})  # all-minilm-l6-v2 has 22.7M parameters
FLOOD_FEE = UNITS * 10  # 10 base units per work unit: less than any provider here asks
FAR = 90_000  # blocks


def flooders(chain: TestChain, count: int) -> list[Keypair]:
    keys = [Keypair(bytes([0x60, i]) * 16) for i in range(count)]
    n = chain.nonce(BOB.public)
    chain.produce([
        chain.sign(BOB, "balances", "transfer", nonce=n + i, to=key.public, amount=10 * UNIT)
        for i, key in enumerate(keys)
    ])  # fmt: skip
    return keys


def flood(chain: TestChain, keys: list[Keypair], per_key: int, **overrides: Any) -> list[Any]:
    """`per_key` minimum-rate jobs with a far deadline from every key; the events of the last block."""
    args: dict[str, Any] = {
        "kind": "embed", "model": BUILTIN_MODELS[0][0], "input": TEXTS, "input_hash": b"", "input_size": 0,
        "options": {}, "max_fee": FLOOD_FEE, "deadline": FAR, "min_reputation": 0, **overrides,
    }  # fmt: skip
    raws = []
    for key in keys:
        n = chain.nonce(key.public)
        raws += [chain.sign(key, "jobs", "submit", nonce=n + i, **args) for i in range(per_key)]
    built = None
    for start in range(0, len(raws), 512):
        built = chain.produce(raws[start : start + 512])
    assert built is not None
    return list(built.events)


def waiting(chain: TestChain) -> list[jobs.Job]:
    found = [jobs.job(chain.state, i) for i in range(jobs.NextId.get(chain.state))]
    return [j for j in found if j is not None and j.status == jobs.JobStatus.PENDING]


def test_a_full_market_takes_a_better_bid_and_refunds_the_job_it_evicts_in_full() -> None:
    chain = market(BOB)  # asks 1,000 per work unit: the flood can never be served
    keys = flooders(chain, MAX_UNASSIGNED_JOBS // MAX_WAITING_PER_SUBMITTER)
    flood(chain, keys, MAX_WAITING_PER_SUBMITTER)
    assert len(waiting(chain)) == MAX_UNASSIGNED_JOBS
    newest = max(j.id for j in waiting(chain))
    victim = jobs.job(chain.state, newest)
    assert victim is not None
    reserved = chain.account(victim.submitter).reserved

    assert failed(submit(chain, max_fee=FLOOD_FEE * 11 // 10)) == "jobs.MarketFull"  # 10% more is not enough
    events = submit(chain, max_fee=UNIT)  # an honest job that pays what providers ask
    assert failed(events) is None
    evicted = next(e for e in events if e.name == "Evicted")
    assert evicted.data["job"] == newest and evicted.data["who"] == victim.submitter
    refunded = next(e for e in events if e.name == "Refunded")
    assert refunded.data["job"] == newest and refunded.data["amount"] == FLOOD_FEE
    assert chain.account(victim.submitter).reserved == reserved - FLOOD_FEE
    assert job_of(chain, newest).status == jobs.JobStatus.REFUNDED
    honest = job_of(chain, newest + 1)
    assert honest.status == jobs.JobStatus.ASSIGNED and honest.provider == BOB.public  # and served at once
    assert len(waiting(chain)) == MAX_UNASSIGNED_JOBS - 1


def job_of(chain: TestChain, job_id: int) -> jobs.Job:
    found = jobs.job(chain.state, job_id)
    assert found is not None
    return found


def test_one_submitter_may_hold_only_its_share_of_the_waiting_set() -> None:
    chain = TestChain()
    events = flood(chain, [CHARLIE], MAX_WAITING_PER_SUBMITTER + 1)
    last = [e for e in events if e.extrinsic_index == MAX_WAITING_PER_SUBMITTER]
    assert failed(last) == "jobs.TooManyWaiting"
    assert len(waiting(chain)) == MAX_WAITING_PER_SUBMITTER
    assert failed(submit(chain, key=DAVE)) is None  # others are not affected


def test_jobs_no_provider_can_serve_are_refunded_long_before_their_deadline() -> None:
    chain = market(BOB)
    reserved = chain.account(CHARLIE.public).reserved
    submit(chain, max_fee=FLOOD_FEE, deadline=FAR)  # below BOB's price
    submit(chain, deadline=FAR, min_reputation=1_000_000)  # above BOB's reputation
    model = BUILTIN_MODELS[1][0]  # nobody serves it
    submit(chain, kind="inference", model=model, input=encode("hi"), deadline=FAR)
    assert [j.status for j in waiting(chain)] == [jobs.JobStatus.PENDING] * 3
    chain.advance_to(chain.head.number + JOB_IDLE_BLOCKS)
    assert waiting(chain) == []
    assert [job_of(chain, i).status for i in range(3)] == [jobs.JobStatus.REFUNDED] * 3
    assert chain.account(CHARLIE.public).reserved == reserved


def test_a_job_that_waits_for_a_busy_provider_keeps_waiting() -> None:
    chain = TestChain(job_commit_window=3 * JOB_IDLE_BLOCKS, era_length=1_000)  # BOB stays online
    chain.call(BOB, "staking", "bond", amount=1_000 * UNIT)
    chain.call(
        BOB, "registry", "register_provider", models=[BUILTIN_MODELS[0][0]], memory_mb=4096, price=1_000
    )
    half = MAX_JOBS_PER_PROVIDER // 2
    flood(chain, [CHARLIE, DAVE], half, max_fee=UNIT)
    flood(chain, [EVE], 1, max_fee=UNIT)  # BOB has no room left for this one
    assert len(jobs.assignments(chain.state, BOB.public)) == MAX_JOBS_PER_PROVIDER
    chain.advance_to(chain.head.number + 2 * JOB_IDLE_BLOCKS)
    assert [j.submitter for j in waiting(chain)] == [EVE.public]


def test_an_empty_block_reads_no_waiting_job_that_no_provider_can_take() -> None:
    chain = market(BOB)
    keys = flooders(chain, MAX_UNASSIGNED_JOBS // MAX_WAITING_PER_SUBMITTER)
    flood(chain, keys, MAX_WAITING_PER_SUBMITTER)
    reads: list[bytes] = []
    plain_get = chain.state.get

    def counting_get(key: bytes) -> bytes | None:
        if key.startswith(jobs.Jobs.prefix):
            reads.append(key)
        return plain_get(key)

    chain.state.get = counting_get  # type: ignore[method-assign]
    chain.produce()
    assert reads == []  # the old scan decoded all 1,024 waiting jobs in every block
    submit(chain, max_fee=UNIT)  # one job BOB can take: read and assigned in its block
    assert job_of(chain, MAX_UNASSIGNED_JOBS).provider == BOB.public
    assert len(reads) < 8


def test_better_paying_jobs_are_assigned_first_and_the_rest_in_later_blocks() -> None:
    chain = market(BOB, DAVE)  # room for 128 jobs, but at most 64 assignments a block
    args: dict[str, Any] = {
        "kind": "embed", "model": BUILTIN_MODELS[0][0], "input": TEXTS, "input_hash": b"", "input_size": 0,
        "options": {}, "deadline": FAR, "min_reputation": 0,
    }  # fmt: skip
    raws = []
    for key, rate in ((CHARLIE, 2_000), (EVE, 3_000)):
        n = chain.nonce(key.public)
        raws += [
            chain.sign(key, "jobs", "submit", nonce=n + i, max_fee=UNITS * rate, **args) for i in range(40)
        ]
    chain.produce(raws)
    assert {job_of(chain, i).status for i in range(40, 80)} == {jobs.JobStatus.ASSIGNED}  # EVE's pay more
    assert [j.id for j in waiting(chain)] == list(range(24, 40))  # the newest of CHARLIE's
    chain.produce()
    assert waiting(chain) == []


def test_a_queue_whose_head_never_fits_does_not_starve_other_models() -> None:
    chain = market(BOB)
    chain.call(DAVE, "staking", "bond", amount=1_000 * UNIT)
    model = BUILTIN_MODELS[1][0]
    chain.call(DAVE, "registry", "register_provider", models=[model], memory_mb=4096, price=1_000)
    with patch.object(job_assignment, "MAX_ASSIGN_STEPS_PER_BLOCK", 4):  # one queue's worth
        flood(chain, [CHARLIE], 5, max_fee=UNIT, min_reputation=1_000_000)  # BOB never qualifies
        submit(chain, key=EVE, kind="inference", model=model, input=encode("hi"))
        chain.produce()
    assert job_of(chain, 5).status == jobs.JobStatus.ASSIGNED and job_of(chain, 5).provider == DAVE.public
