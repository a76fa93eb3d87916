"""The waiting set under floods (issue 11, finding 4): random job
submissions from a few accounts, at random fees, deadlines and reputation
floors, against one provider that takes jobs and never delivers them (so
jobs are also requeued and refunded). With the market shrunk to a few places:

- an honest job that bids more than the flood gets in, every time;
- the waiting set never passes its bound, nor one submitter its share of
  new jobs (a job requeued after a provider failed it keeps its place);
- every index of the waiting set agrees with the job records;
- what each account has reserved is exactly the max fee of its open jobs,
  and every refund gives a job's max fee back in full."""

from collections.abc import Sequence
from typing import Any
from unittest.mock import patch

from hypothesis import given
from hypothesis import strategies as st

from genesis.spec import BUILTIN_MODELS
from runtime.constants import UNIT
from runtime.crypto import Keypair
from runtime.pallets import job_market, jobs
from runtime.pallets.job_rules import work_units
from runtime.pallets.job_types import JobKind
from runtime.types import Event
from tests.chain import BOB, TestChain, failed
from tests.runtime.test_properties import check_invariants

EMBED = BUILTIN_MODELS[0][0]
TEXTS = b"\x91\xabhello world"  # ["hello world"]
UNITS = work_units(JobKind.EMBED, 23, len(TEXTS), {})
FLOOD = [Keypair(bytes([0x70, i]) * 16) for i in range(3)]
HONEST = [Keypair(bytes([0x71, i]) * 16) for i in range(10)]
PLACES, SHARE = 6, 3
OPEN = (jobs.JobStatus.PENDING, jobs.JobStatus.ASSIGNED, jobs.JobStatus.COMMITTED, jobs.JobStatus.REVEALED)

submission = st.tuples(
    st.integers(0, len(FLOOD) - 1),
    st.sampled_from([1, 10, 1_000, 5_000]),  # per work unit; the provider asks 1,000
    st.integers(1, 60),  # deadline
    st.sampled_from([0, 0, 1_000_000]),  # minimum reputation
)
# (flood submissions, an honest one too, empty blocks after): the gaps let idle checks and deadlines pass
blocks = st.lists(
    st.tuples(st.lists(submission, max_size=6), st.booleans(), st.sampled_from([0, 0, 0, 5, 25])),
    min_size=1,
    max_size=len(HONEST),
)


def _submit(chain: TestChain, key: Keypair, nonce: int, max_fee: int, deadline: int, floor: int) -> bytes:
    args: dict[str, Any] = {
        "kind": "embed", "model": EMBED, "input": TEXTS, "input_hash": b"", "input_size": 0, "options": {},
        "max_fee": max_fee, "deadline": deadline, "min_reputation": floor,
    }  # fmt: skip
    return chain.sign(key, "jobs", "submit", nonce=nonce, **args)


def _setup() -> TestChain:
    chain = TestChain(era_length=1_000, job_commit_window=2, job_reveal_window=2, job_challenge_window=2)
    chain.call(BOB, "staking", "bond", amount=1_000 * UNIT)
    chain.call(BOB, "registry", "register_provider", models=[EMBED], memory_mb=4096, price=1_000)
    n = chain.nonce(BOB.public)
    chain.produce([
        chain.sign(BOB, "balances", "transfer", nonce=n + i, to=key.public, amount=1_000 * UNIT)
        for i, key in enumerate(FLOOD + HONEST)
    ])  # fmt: skip
    return chain


@given(blocks)
def test_an_honest_job_above_the_flood_always_gets_in(plan: list[tuple[list[Any], bool, int]]) -> None:
    with (
        patch.object(job_market, "MAX_UNASSIGNED_JOBS", PLACES),
        patch.object(job_market, "MAX_WAITING_PER_SUBMITTER", SHARE),
    ):
        chain = _setup()
        honest_fee = 10 * 5_000 * UNITS  # above 110% of any flood job
        for number, (flood, honest, gap) in enumerate(plan):
            nonces = {key.public: chain.nonce(key.public) for key in FLOOD}
            raws = []
            for who, rate, deadline, floor in flood:
                key = FLOOD[who]
                raws.append(_submit(chain, key, nonces[key.public], UNITS * rate, deadline, floor))
                nonces[key.public] += 1
            if honest:  # bids more than 110% of everything before it, flood or honest
                honest_fee = honest_fee * 2
                key = HONEST[number]
                raws.append(_submit(chain, key, chain.nonce(key.public), honest_fee, 60, 0))
            built = chain.produce(raws)
            assert not built.bugs, built.bugs
            if honest:
                assert failed([e for e in built.events if e.extrinsic_index == len(raws) - 1]) is None
            _check_market(chain, built.events)
            check_invariants(chain.state)
            for _ in range(gap):
                _check_market(chain, chain.produce().events)


def _check_market(chain: TestChain, events: Sequence[Event]) -> None:
    records = [jobs.job(chain.state, i) for i in range(jobs.NextId.get(chain.state))]
    known = [j for j in records if j is not None]
    pending = {j.id for j in known if j.status == jobs.JobStatus.PENDING}
    assert job_market.size(chain.state) == len(pending) <= PLACES
    assert all(job_market.is_waiting(chain.state, i) == (i in pending) for i in range(len(records)))
    queued = {
        i for model in job_market.Queued.get(chain.state) for _, i in job_market.queue(chain.state, model)
    }
    assert queued == pending
    for key in FLOOD + HONEST:
        mine = [j for j in known if j.submitter == key.public]
        waiting = [j for j in mine if j.status == jobs.JobStatus.PENDING]
        assert job_market.WaitingBy.get(chain.state, key.public) == len(waiting)
        assert sum(1 for j in waiting if not j.tried) <= SHARE  # a requeued job is not refused again
        assert chain.account(key.public).reserved == sum(j.max_fee for j in mine if j.status in OPEN)
    for event in events:
        if event.pallet == "jobs" and event.name == "Refunded":
            refunded = jobs.job(chain.state, event.data["job"])
            assert refunded is not None and event.data["amount"] == refunded.max_fee
