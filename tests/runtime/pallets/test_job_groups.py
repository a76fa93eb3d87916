"""Group jobs: one LoRA job spread over several providers as member jobs on
distinct providers, with the fee and the work split, and the lead's rendezvous."""

from typing import Any

from genesis.spec import BUILTIN_MODELS
from runtime.codec import encode
from runtime.constants import MAX_LORA_STEPS, UNIT
from runtime.crypto import Keypair
from runtime.pallets import job_groups, jobs
from runtime.pallets.job_rules import check_options, work_units
from runtime.types import Call
from runtime.weights import weight_of
from tests.chain import BOB, CHARLIE, DAVE, EVE, FERDIE, TestChain, failed

CAUSAL = BUILTIN_MODELS[1][0]
WINDOWS: dict[str, Any] = {
    "job_commit_window": 3, "job_reveal_window": 3, "job_challenge_window": 3, "verify_window": 3,
}  # fmt: skip
TEXTS = encode([f"text {i}" for i in range(8)])
GROUP = {"providers": 3, "sync_every": 5, "rounds": 2}


def market(*providers: Keypair, commit_window: int = 3) -> TestChain:
    chain = TestChain(**{**WINDOWS, "job_commit_window": commit_window})
    for key in providers:
        assert failed(chain.call(key, "staking", "bond", amount=1_000 * UNIT)) is None
        events = chain.call(key, "registry", "register_provider", models=[CAUSAL], memory_mb=4096, price=1)
        assert failed(events) is None
    return chain


def submit(chain: TestChain, options: dict[str, int], max_fee: int = 10 * UNIT) -> list[Any]:
    return chain.call(FERDIE, "jobs", "submit", kind="lora", model=CAUSAL, input=TEXTS, input_hash=b"",
                      input_size=0, options=options, max_fee=max_fee, deadline=30, min_reputation=0)  # fmt: skip


def job(chain: TestChain, job_id: int) -> jobs.Job:
    found = jobs.job(chain.state, job_id)
    assert found is not None
    return found


def test_a_group_job_is_members_on_distinct_providers_sharing_fee_and_work() -> None:
    chain = market(BOB, DAVE, EVE)
    reserved = chain.account(FERDIE.public).reserved
    assert failed(submit(chain, GROUP, max_fee=10 * UNIT + 2)) is None
    members = [job(chain, i) for i in range(3)]
    assert [(m.options["lead"], m.options["member"]) for m in members] == [(0, 0), (0, 1), (0, 2)]
    assert (
        sum(m.max_fee for m in members) == 10 * UNIT + 2 == chain.account(FERDIE.public).reserved - reserved
    )
    total = work_units(jobs.JobKind.LORA, 135, len(TEXTS), check_options(jobs.JobKind.LORA, GROUP))
    assert sum(m.units for m in members) == total
    assert all(m.status == jobs.JobStatus.ASSIGNED for m in members)
    assert len({m.provider for m in members}) == 3  # never two members on one provider


def test_members_wait_rather_than_share_a_provider() -> None:
    chain = market(BOB, DAVE)
    assert failed(submit(chain, GROUP)) is None
    statuses = [job(chain, i).status for i in range(3)]
    assert statuses.count(jobs.JobStatus.ASSIGNED) == 2
    providers = {job(chain, i).provider for i in range(3)} - {b""}
    assert providers == {BOB.public, DAVE.public}
    chain.advance_to(chain.head.number + 5)
    waiting = next(i for i in range(3) if job(chain, i).status == jobs.JobStatus.PENDING)
    assert set(job(chain, waiting).tried) >= {BOB.public, DAVE.public}


def test_the_leads_provider_sets_the_rendezvous_and_a_requeue_forgets_it() -> None:
    chain = market(BOB, DAVE, EVE, CHARLIE, commit_window=20)
    assert failed(submit(chain, GROUP)) is None
    lead, follower = job(chain, 0), job(chain, 1)
    set_by = {k.public: k for k in (BOB, DAVE, EVE, CHARLIE)}
    refused = chain.call(set_by[follower.provider], "jobs", "rendezvous", job=1, address=b"10.0.0.2:29500")
    assert failed(refused) == "jobs.NotGroupLead"
    stranger = next(k for k in set_by.values() if k.public not in {job(chain, i).provider for i in range(3)})
    assert (
        failed(chain.call(stranger, "jobs", "rendezvous", job=0, address=b"10.0.0.2:1")) == "jobs.NotAssigned"
    )
    for bad in (b"no-port", b"host:99999", b"a b:1", b"h:" + b"1" * 300):
        assert failed(chain.call(set_by[lead.provider], "jobs", "rendezvous", job=0, address=bad)) in (
            "jobs.BadAddress", "system.BadArguments",
        )  # fmt: skip
    assert (
        failed(chain.call(set_by[lead.provider], "jobs", "rendezvous", job=0, address=b"10.0.0.1:29500"))
        is None
    )
    assert job_groups.Rendezvous.get(chain.state, 0) == b"10.0.0.1:29500"
    chain.advance_to(lead.assigned_at + 20 + 1)  # the lead missed its commit
    requeued = job(chain, 0)
    assert job_groups.Rendezvous.get(chain.state, 0) == b""
    others = {job(chain, i).provider for i in (1, 2)} - {b""}
    assert requeued.provider not in others  # a new lead, still apart from its members


def test_group_options_are_bounded_and_internal_ones_refused() -> None:
    chain = market(BOB, DAVE)
    too_long = {"providers": 2, "sync_every": MAX_LORA_STEPS, "rounds": 2}
    assert failed(submit(chain, too_long)) == "jobs.BadOptions"
    assert failed(submit(chain, {"providers": 9})) == "jobs.BadOptions"
    assert failed(submit(chain, {"lead": 0, "member": 1})) == "jobs.BadOptions"


def test_a_group_submission_weighs_one_job_per_provider() -> None:
    def weight(options: Any) -> int:
        return weight_of(Call("jobs", "submit", {"options": options}))

    assert weight({"providers": 4}) == 4 * weight({})
    assert weight({"providers": "4"}) == weight({"providers": 99}) == weight(None) == weight({})


def test_a_member_reporting_progress_gets_a_fresh_commit_window_until_the_deadline() -> None:
    chain = market(BOB, DAVE, commit_window=5)
    assert failed(submit(chain, {**GROUP, "providers": 2})) is None
    keys = {k.public: k for k in (BOB, DAVE)}
    alive, lost = job(chain, 0), job(chain, 1)
    assert failed(chain.call(keys[lost.provider], "jobs", "progress", job=0, round=1)) == "jobs.NotAssigned"
    assert failed(chain.call(keys[alive.provider], "jobs", "progress", job=0, round=3)) == "jobs.BadOptions"
    address = b"127.0.0.1:4000"
    assert failed(chain.call(keys[alive.provider], "jobs", "rendezvous", job=0, address=address)) is None
    assert job_groups.Rendezvous.get(chain.state, 0) == address
    assert failed(chain.call(keys[alive.provider], "jobs", "progress", job=0, round=1)) is None
    assert job_groups.Rendezvous.get(chain.state, 0) == b""  # the lead lost its group: nobody meets there now
    restarted = job(chain, 0).assigned_at
    assert restarted > alive.assigned_at
    chain.advance_to(lost.assigned_at + 5 + 1)  # the silent member misses its commit, the other waits on
    assert job(chain, 1).status == jobs.JobStatus.PENDING and job(chain, 0).status == jobs.JobStatus.ASSIGNED
    chain.advance_to(restarted + 5 + 1)  # ... for its own fresh window only
    assert alive.provider in job(chain, 0).tried  # missed it in turn: requeued away from its provider
    single = market(BOB)
    assert failed(single.call(FERDIE, "jobs", "submit", kind="lora", model=CAUSAL, input=TEXTS, input_hash=b"",
                              input_size=0, options={}, max_fee=UNIT, deadline=30, min_reputation=0)) is None  # fmt: skip
    assert failed(single.call(BOB, "jobs", "progress", job=0, round=0)) == "jobs.NotGroupLead"


def test_a_late_member_declares_its_first_round_and_is_paid_for_the_rest() -> None:
    chain = market(BOB, DAVE, commit_window=20)
    assert failed(submit(chain, {**GROUP, "providers": 2, "rounds": 4})) is None
    keys = {k.public: k for k in (BOB, DAVE)}
    member = job(chain, 1)
    by = keys[member.provider]
    assert failed(chain.call(by, "jobs", "delivered", job=1, first=4)) == "jobs.BadOptions"
    assert (
        failed(chain.call(keys[job(chain, 0).provider], "jobs", "delivered", job=1, first=1))
        == "jobs.NotAssigned"
    )
    assert failed(chain.call(by, "jobs", "delivered", job=1, first=1)) is None
    assert job(chain, 1).options["first"] == 1
    assert job_groups.paid_units(job(chain, 1)) == member.units * 3 // 4
    assert job_groups.paid_units(job(chain, 0)) == job(chain, 0).units  # delivered every round
    assert failed(submit(chain, {**GROUP, "first": 1})) == "jobs.BadOptions"  # never the submitter's to say
