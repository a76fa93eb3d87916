"""The jobs pallet: submission checks, assignment, commit-reveal, settlement
split, refunds, missed commits and reveals."""

from typing import Any

from genesis.spec import BUILTIN_MODELS
from runtime import constants
from runtime.codec import blake2b_256, encode
from runtime.constants import UNIT, ppm_of
from runtime.crypto import Keypair
from runtime.pallets import balances, jobs, registry, staking, treasury, verification
from tests.chain import ALICE, BOB, CHARLIE, DAVE, TestChain, failed

EMBED = BUILTIN_MODELS[0][0]
INFER = BUILTIN_MODELS[1][0]
WINDOWS: dict[str, Any] = {
    "job_commit_window": 3, "job_reveal_window": 3, "job_challenge_window": 3, "verify_window": 3,
}  # fmt: skip
TEXTS = encode(["hello world", "a second text"])


def market(*providers: Keypair, price: int = 1_000) -> TestChain:
    chain = TestChain(**WINDOWS)
    for key in providers:
        assert failed(chain.call(key, "staking", "bond", amount=1_000 * UNIT)) is None
        events = chain.call(key, "registry", "register_provider", models=[EMBED], memory_mb=4096, price=price)
        assert failed(events) is None
    return chain


def submit(chain: TestChain, key: Keypair = CHARLIE, **overrides: Any) -> list[Any]:
    args: dict[str, Any] = {
        "kind": "embed", "model": EMBED, "input": TEXTS, "input_hash": b"", "input_size": 0,
        "options": {}, "max_fee": UNIT, "deadline": 20, "min_reputation": 0, **overrides,
    }  # fmt: skip
    return chain.call(key, "jobs", "submit", **args)


def job(chain: TestChain, job_id: int = 0) -> jobs.Job:
    found = jobs.job(chain.state, job_id)
    assert found is not None
    return found


def test_a_job_is_assigned_committed_revealed_and_settled_80_5_15() -> None:
    chain = market(BOB)
    free_before = chain.account(CHARLIE.public).free
    assert failed(submit(chain)) is None
    submitted = job(chain)
    assert (
        submitted.status == jobs.JobStatus.ASSIGNED and submitted.provider == BOB.public
    )  # assigned in its block
    assert chain.account(CHARLIE.public).reserved == UNIT
    assert jobs.assignments(chain.state, BOB.public) == (0,)

    result = encode({"vectors": [[1, 2, 3]]})
    result_hash, salt = blake2b_256(result), b"\x07" * 32
    assert (
        failed(chain.call(BOB, "jobs", "commit", job=0, commitment=jobs.commitment(result_hash, salt)))
        is None
    )
    assert (
        failed(chain.call(BOB, "jobs", "reveal", job=0, result_hash=result_hash, salt=salt, result=result))
        is None
    )
    assert job(chain).status == jobs.JobStatus.REVEALED and job(chain).result == result

    provider_before = chain.account(BOB.public).free
    burned_before = balances.Burned.get(chain.state)
    chain.advance_to(job(chain).revealed_at + constants.SAMPLE_DELAY)
    checked = verification.check(chain.state, 0) is not None  # new providers are checked more often
    alice_before = chain.account(ALICE.public).free
    events, verdict_fee = [], 0
    if checked:  # //alice, the only validator, re-executed it and agrees
        assert failed(chain.call(ALICE, "verification", "verdict", job=0, match=True)) is None
        events += chain.events
        verdict_fee = next(e.data["fee"] for e in events if e.name == "ExtrinsicSuccess")
    while job(chain).status != jobs.JobStatus.SETTLED and chain.head.number <= job(chain).revealed_at + 3:
        chain.produce()
        events += chain.events
    settled = job(chain)
    fee = submitted.units * 1_000
    assert settled.status == jobs.JobStatus.SETTLED and settled.fee == fee
    assert balances.Burned.get(chain.state) - burned_before == ppm_of(fee, 150_000)
    paid = chain.account(BOB.public).free - provider_before
    rewards = sum(e.data["amount"] for e in events if e.name == "Rewarded" and e.data["who"] == BOB.public)
    assert paid - rewards == fee - ppm_of(fee, 150_000) - ppm_of(fee, 50_000)
    assert rewards > 0  # verified work earns emission in the settling block
    share = [e for e in events if e.pallet == "treasury" and e.data["reason"] == "verifier share"]
    if checked:  # the verifier's share went to the verifier
        assert (
            not share and chain.account(ALICE.public).free - alice_before == ppm_of(fee, 50_000) - verdict_fee
        )
    else:  # unverified: the share goes to the treasury
        assert share[0].data["amount"] == ppm_of(fee, 50_000)
    assert chain.account(CHARLIE.public).reserved == 0
    fees_paid = free_before - chain.account(CHARLIE.public).free - fee
    assert 0 < fees_paid < UNIT // 100  # only the transaction fee besides the job fee
    assert jobs.assignments(chain.state, BOB.public) == ()
    assert registry.provider(chain.state, BOB.public).jobs_done == 1


def test_a_job_nobody_serves_is_refunded_at_its_deadline() -> None:
    chain = market()
    free_before = chain.account(CHARLIE.public).free
    submit(chain, deadline=4)
    assert job(chain).status == jobs.JobStatus.PENDING
    chain.advance_to(job(chain).deadline)
    assert job(chain).status == jobs.JobStatus.REFUNDED
    assert chain.account(CHARLIE.public).reserved == 0
    assert free_before - chain.account(CHARLIE.public).free < UNIT // 100  # the tx fee only


def test_a_missed_commit_reassigns_to_another_provider() -> None:
    chain = market(BOB, DAVE)
    submit(chain)
    first = job(chain).provider
    chain.advance_to(job(chain).assigned_at + 4)
    moved = job(chain)
    assert moved.status == jobs.JobStatus.ASSIGNED and moved.provider != first and moved.tried == (first,)
    assert registry.provider(chain.state, first).jobs_failed == 1
    assert jobs.assignments(chain.state, first) == ()


def test_a_missed_reveal_is_slashed_five_percent() -> None:
    chain = market(BOB)
    submit(chain, deadline=6)
    bonded = staking.ledger(chain.state, BOB.public).bonded
    chain.call(BOB, "jobs", "commit", job=0, commitment=b"\x01" * 32)
    chain.advance_to(job(chain).committed_at + 4)
    assert staking.ledger(chain.state, BOB.public).bonded == bonded - ppm_of(bonded, 50_000)
    assert job(chain).status in (
        jobs.JobStatus.PENDING,
        jobs.JobStatus.REFUNDED,
    )  # no one else serves the model


def test_only_the_assigned_provider_commits_and_the_reveal_must_open_the_commitment() -> None:
    chain = market(BOB)
    submit(chain)
    assert failed(chain.call(DAVE, "jobs", "commit", job=0, commitment=b"\x01" * 32)) == "jobs.NotAssigned"
    assert failed(chain.call(BOB, "jobs", "commit", job=9, commitment=b"\x01" * 32)) == "jobs.UnknownJob"
    chain.call(BOB, "jobs", "commit", job=0, commitment=jobs.commitment(b"\x02" * 32, b"salt"))
    wrong = chain.call(BOB, "jobs", "reveal", job=0, result_hash=b"\x03" * 32, salt=b"salt", result=b"")
    assert failed(wrong) == "jobs.CommitmentMismatch"
    lying = chain.call(BOB, "jobs", "reveal", job=0, result_hash=b"\x02" * 32, salt=b"salt", result=b"xx")
    assert failed(lying) == "jobs.ResultMismatch"
    assert (
        failed(chain.call(BOB, "jobs", "reveal", job=0, result_hash=b"\x02" * 32, salt=b"salt", result=b""))
        is None
    )


def test_malformed_jobs_are_refused_with_a_reason() -> None:
    chain = market(BOB)
    cases: dict[str, dict[str, Any]] = {
        "system.BadArguments": {"kind": "mining"},
        "jobs.UnknownModel": {"model": b"\x09" * 32},
        "jobs.WrongKind": {"kind": "inference", "input": encode("hi")},  # an encoder does not generate
        "jobs.BadInput": {"input": encode("not a list")},
        "jobs.BadOptions": {"options": {"rank": 4}},
        "jobs.BadDeadline": {"deadline": 0},
        "jobs.FeeTooLow": {"max_fee": 1},
        "balances.InsufficientBalance": {"max_fee": 10**9 * UNIT},
    }
    for error, overrides in cases.items():
        assert failed(submit(chain, **overrides)) == error, overrides
    assert failed(
        submit(chain, kind="inference", model=INFER, input=encode("hi"), options={"max_tokens": 0})
    ) == ("jobs.BadOptions")
    assert jobs.NextId.get(chain.state) == 0
    assert chain.account(CHARLIE.public).reserved == 0


def test_providers_need_a_bond_registered_models_and_enough_memory() -> None:
    chain = TestChain()
    reg: dict[str, Any] = {"models": [EMBED], "memory_mb": 4096, "price": 1_000}
    assert failed(chain.call(DAVE, "registry", "register_provider", **reg)) == "registry.InsufficientBond"
    chain.call(DAVE, "staking", "bond", amount=1_000 * UNIT)
    unknown = {**reg, "models": [b"\x05" * 32]}
    assert failed(chain.call(DAVE, "registry", "register_provider", **unknown)) == "registry.UnknownModel"
    small = {**reg, "memory_mb": 16}
    assert failed(chain.call(DAVE, "registry", "register_provider", **small)) == "registry.NotEnoughMemory"
    assert failed(chain.call(DAVE, "registry", "register_provider", **reg)) is None
    assert registry.Serving.get(chain.state, EMBED) == (DAVE.public,)
    assert failed(chain.call(DAVE, "registry", "deregister_provider")) is None
    assert registry.Serving.get(chain.state, EMBED) == ()


def test_models_register_once_by_hash_and_name() -> None:
    chain = TestChain()
    args: dict[str, Any] = {
        "hash": b"\x42" * 32,
        "model_name": "tiny",
        "kind": "inference",
        "params": 1000,
        "memory_mb": 1,
    }
    assert failed(chain.call(DAVE, "registry", "register_model", **args)) is None
    assert failed(chain.call(DAVE, "registry", "register_model", **args)) == "registry.ModelExists"
    renamed = {**args, "hash": b"\x43" * 32}
    assert failed(chain.call(DAVE, "registry", "register_model", **renamed)) == "registry.NameTaken"
    found = registry.model_by_name(chain.state, "tiny")
    assert found is not None and found.owner == DAVE.public and found.params_millions == 1
    assert registry.model(chain.state, EMBED).owner == treasury.ECOSYSTEM  # type: ignore[union-attr]


def test_a_heartbeat_in_a_new_era_nudges_reputation_up_once() -> None:
    from runtime.pallets import reputation

    chain = market(BOB)
    before = reputation.score(chain.state, BOB.public)
    chain.call(BOB, "registry", "heartbeat")  # same era as the registration: nothing new
    assert reputation.score(chain.state, BOB.public) == before
    chain.advance_to(chain.params.era_length + 1)
    chain.call(BOB, "registry", "heartbeat")
    after = reputation.score(chain.state, BOB.public)
    assert after > before
    chain.call(BOB, "registry", "heartbeat")
    assert reputation.score(chain.state, BOB.public) == after
