"""Verification: sampled checks, verdicts, disputes decided by majority, and
the fees and slashes that follow."""

from typing import Any

from genesis.spec import BUILTIN_MODELS, local_spec
from runtime import constants
from runtime.codec import blake2b_256, encode
from runtime.constants import UNIT, ppm_of
from runtime.crypto import Keypair
from runtime.pallets import jobs, known_answers, registry, reputation, staking, verification
from runtime.pallets.job_rules import check_options
from runtime.pallets.job_types import JobKind
from tests.chain import ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE, TestChain, failed

EMBED = BUILTIN_MODELS[0][0]
VALIDATORS = {k.public: k for k in (ALICE, BOB, CHARLIE, DAVE)}
SETTINGS: dict[str, Any] = {"job_commit_window": 3, "job_reveal_window": 3, "job_challenge_window": 3,
                            "verify_window": 4, "sample_rate_ppm": 500_000}  # fmt: skip


def revealed_job(sampled: bool = True) -> tuple[TestChain, int]:
    """EVE serves; FERDIE pays; the job is revealed and (if `sampled`) checked."""
    chain = TestChain(local_spec(), replicate=False, **SETTINGS)
    chain.call(EVE, "staking", "bond", amount=1_000 * UNIT)
    chain.call(EVE, "registry", "register_provider", models=[EMBED], memory_mb=4096, price=1_000)
    if sampled:  # a provider at zero reputation is checked at twice the base rate: always
        reputation.Records.put(chain.state, EVE.public, reputation.Record(score=0))
    args: dict[str, Any] = {"kind": "embed", "model": EMBED, "input": encode(["x"]), "input_hash": b"", "input_size": 0,
            "options": {}, "max_fee": UNIT, "deadline": 30, "min_reputation": 0}  # fmt: skip
    assert failed(chain.call(FERDIE, "jobs", "submit", **args)) is None
    result_hash, salt = blake2b_256(b"result"), b"s" * 32
    chain.call(EVE, "jobs", "commit", job=0, commitment=jobs.commitment(result_hash, salt))
    chain.call(EVE, "jobs", "reveal", job=0, result_hash=result_hash, salt=salt, result=b"")
    chain.advance_to(chain.head.number + constants.SAMPLE_DELAY)
    return chain, 0


def verifiers(chain: TestChain, job: int) -> list[Keypair]:
    found = verification.check(chain.state, job)
    assert found is not None
    return [VALIDATORS[v] for v in found.verifiers]


def test_a_sampled_job_waits_for_its_verdict_and_pays_the_verifier() -> None:
    chain, job = revealed_job()
    (verifier,) = verifiers(chain, job)
    assert verifier.public != EVE.public and verification.tasks(chain.state, verifier.public) == (job,)
    chain.advance_to(chain.head.number + 4 - 1)
    assert jobs.job(chain.state, job).status == jobs.JobStatus.REVEALED  # type: ignore[union-attr]  # held for the check
    before = chain.account(verifier.public).free
    events = chain.call(verifier, "verification", "verdict", job=job, match=True)
    assert failed(events) is None
    chain.advance_to(chain.head.number + 1)
    settled = jobs.job(chain.state, job)
    assert settled is not None and settled.status == jobs.JobStatus.SETTLED
    tx_fee = next(e.data["fee"] for e in events if e.name == "ExtrinsicSuccess")
    assert chain.account(verifier.public).free - before == ppm_of(settled.fee, 50_000) - tx_fee
    assert reputation.record(chain.state, EVE.public).successes == 1


def test_two_mismatch_verdicts_of_three_slash_the_provider_and_refund_the_submitter() -> None:
    chain, job = revealed_job()
    first = verifiers(chain, job)[0]
    chain.call(first, "verification", "verdict", job=job, match=False)
    check = verification.check(chain.state, job)
    assert (
        check is not None and check.status == verification.CheckStatus.DISPUTED and len(check.verifiers) == 3
    )
    bonded = staking.ledger(chain.state, EVE.public).bonded
    second, third = verifiers(chain, job)[1:]
    chain.call(second, "verification", "verdict", job=job, match=False)
    honest_third = staking.ledger(chain.state, third.public).bonded
    chain.call(third, "verification", "verdict", job=job, match=True)  # outvoted
    assert staking.ledger(chain.state, EVE.public).bonded == bonded - ppm_of(bonded, 200_000)
    assert staking.ledger(chain.state, third.public).bonded == honest_third - ppm_of(honest_third, 200_000)
    chain.advance_to(chain.head.number + 3)
    assert jobs.job(chain.state, job).status == jobs.JobStatus.REJECTED  # type: ignore[union-attr]
    assert chain.account(FERDIE.public).reserved == 0
    assert reputation.score(chain.state, EVE.public) == 0
    chilled = registry.provider(chain.state, EVE.public)  # out of the market for an era
    assert chilled.models == () and EVE.public not in registry.Serving.get(chain.state, EMBED)
    again = chain.call(EVE, "registry", "register_provider", models=[EMBED], memory_mb=4096, price=1_000)
    assert failed(again) == "registry.Chilled"
    chain.advance_to(chilled.chilled_until)
    again = chain.call(EVE, "registry", "register_provider", models=[EMBED], memory_mb=4096, price=1_000)
    assert failed(again) is None


def test_one_malicious_verifier_cannot_slash_an_honest_provider() -> None:
    chain, job = revealed_job()
    liar = verifiers(chain, job)[0]
    chain.call(liar, "verification", "verdict", job=job, match=False)
    provider_bond = staking.ledger(chain.state, EVE.public).bonded
    liar_bond = staking.ledger(chain.state, liar.public).bonded
    for honest in verifiers(chain, job)[1:]:
        assert failed(chain.call(honest, "verification", "verdict", job=job, match=True)) is None
    assert staking.ledger(chain.state, EVE.public).bonded == provider_bond
    assert staking.ledger(chain.state, liar.public).bonded == liar_bond - ppm_of(liar_bond, 200_000)
    chain.advance_to(chain.head.number + 3)
    assert jobs.job(chain.state, job).status == jobs.JobStatus.SETTLED  # type: ignore[union-attr]
    assert verification.rewarded_verifiers(chain.state, job) == tuple(
        v.public for v in verifiers(chain, job)[1:]
    )


def _bonds(chain: TestChain, keys: list[Keypair]) -> list[int]:
    return [staking.ledger(chain.state, k.public).bonded for k in keys]


def test_a_dispute_without_enough_answers_never_slashes() -> None:
    """Neither the provider nor the verifier whose mismatch the others
    never answered: late validators prove nobody wrong."""
    chain, job = revealed_job()
    first = verifiers(chain, job)[0]
    chain.call(first, "verification", "verdict", job=job, match=False)
    before = _bonds(chain, [EVE, first])
    chain.advance_to(chain.head.number + 5)  # the other two never answer
    assert _bonds(chain, [EVE, first]) == before
    assert verification.outcome(chain.state, job) == verification.CheckStatus.PASSED


def test_a_tie_left_by_a_missing_answer_slashes_nobody() -> None:
    chain, job = revealed_job()
    first = verifiers(chain, job)[0]
    chain.call(first, "verification", "verdict", job=job, match=False)
    second = verifiers(chain, job)[1]
    chain.call(second, "verification", "verdict", job=job, match=True)
    before = _bonds(chain, [EVE, first, second])
    chain.advance_to(chain.head.number + 5)  # the third never answers: one against one
    assert _bonds(chain, [EVE, first, second]) == before
    assert verification.outcome(chain.state, job) == verification.CheckStatus.PASSED


def test_verdicts_only_from_chosen_verifiers_once_each_and_unanswered_checks_expire() -> None:
    chain, job = revealed_job()
    (verifier,) = verifiers(chain, job)
    outsider = next(k for k in VALIDATORS.values() if k.public != verifier.public)
    assert (
        failed(chain.call(outsider, "verification", "verdict", job=job, match=True))
        == "verification.NotVerifier"
    )
    assert (
        failed(chain.call(verifier, "verification", "verdict", job=9, match=True))
        == "verification.NoOpenCheck"
    )
    chain.advance_to(chain.head.number + 5)
    assert verification.outcome(chain.state, job) == verification.CheckStatus.EXPIRED
    assert (
        failed(chain.call(verifier, "verification", "verdict", job=job, match=True))
        == "verification.NoOpenCheck"
    )
    assert jobs.job(chain.state, job).status == jobs.JobStatus.SETTLED  # type: ignore[union-attr]


def test_sampling_rate_follows_reputation_and_a_job_is_drawn_once() -> None:
    chain, job = revealed_job(sampled=False)
    base = 100_000
    new = constants.PROBATION_FACTOR * base
    assert verification.sample_rate(chain.state, BOB.public, base) == new  # a new provider: probation
    proven = constants.PROBATION_JOBS
    reputation.Records.put(chain.state, BOB.public, reputation.Record(successes=proven))
    assert verification.sample_rate(chain.state, BOB.public, base) == base  # neutral
    reputation.Records.put(chain.state, BOB.public, reputation.Record(score=0, successes=proven))
    assert verification.sample_rate(chain.state, BOB.public, base) == 2 * base
    reputation.Records.put(chain.state, BOB.public, reputation.Record(score=1_000_000, successes=proven))
    assert verification.sample_rate(chain.state, BOB.public, base) == base  # never below the base
    drawn = verification.Sampled.get(chain.state, job)
    assert drawn == 1 and verification.sample(chain.ctx(), job, EVE.public) == (
        verification.check(chain.state, job) is not None
    )


def test_a_proven_cheat_forfeits_unsettled_jobs_and_a_small_bond_deregisters() -> None:
    chain, job = revealed_job()
    args: dict[str, Any] = {"kind": "embed", "model": EMBED, "input": encode(["y"]), "input_hash": b"",
                            "input_size": 0, "options": {}, "max_fee": UNIT, "deadline": 30, "min_reputation": 0}  # fmt: skip
    chain.call(FERDIE, "jobs", "submit", **args)  # job 1, also EVE's, revealed before the verdicts
    second = jobs.job(chain.state, 1)
    assert second is not None and second.provider == EVE.public
    chain.call(EVE, "jobs", "commit", job=1, commitment=jobs.commitment(b"\x01" * 32, b"s"))
    chain.call(EVE, "jobs", "reveal", job=1, result_hash=b"\x01" * 32, salt=b"s", result=b"")
    chain.call(verifiers(chain, job)[0], "verification", "verdict", job=job, match=False)
    for other in verifiers(chain, job)[1:]:
        chain.call(other, "verification", "verdict", job=job, match=False)
    assert verification.outcome(chain.state, job) == verification.CheckStatus.FAILED
    chain.advance_to(chain.head.number + 12)
    assert jobs.job(chain.state, 1).status == jobs.JobStatus.REJECTED  # type: ignore[union-attr]  # forfeited
    assert chain.account(FERDIE.public).reserved == 0
    from runtime.pallets import registry, slashing

    for _ in range(6):  # repeated offences within the era: each at the 50% cap
        slashing.report_offence(chain.ctx(), EVE.public, slashing.Offence.MISMATCH)
    assert staking.ledger(chain.state, EVE.public).bonded < 100 * UNIT
    assert registry.provider(chain.state, EVE.public).models == ()


def known_answer_job(seal_first: bool = True) -> tuple[TestChain, bytes, bytes]:
    """FERDIE (a validator's ordinary-looking account) pays; ALICE seals the answer."""
    chain = TestChain(local_spec(), replicate=False, **SETTINGS)
    chain.call(EVE, "staking", "bond", amount=1_000 * UNIT)
    chain.call(EVE, "registry", "register_provider", models=[EMBED], memory_mb=4096, price=1_000)
    args: dict[str, Any] = {"kind": "embed", "model": EMBED, "input": encode(["known"]), "input_hash": b"",
                            "input_size": 0, "options": {}, "max_fee": UNIT, "deadline": 30, "min_reputation": 0}  # fmt: skip
    expected, salt = blake2b_256(b"the right answer"), b"k" * 16
    task = known_answers.task_of("embed", EMBED, blake2b_256(args["input"]), check_options(JobKind.EMBED, {}))
    seal = known_answers.seal_of(task, expected, salt)
    if seal_first:  # the seal names no job, so it may come before the job exists
        assert failed(chain.call(ALICE, "known_answers", "seal", seal=seal)) is None
    chain.call(FERDIE, "jobs", "submit", **args)
    wrong = blake2b_256(b"a lazy answer")
    chain.call(EVE, "jobs", "commit", job=0, commitment=jobs.commitment(wrong, b"s"))
    chain.call(EVE, "jobs", "reveal", job=0, result_hash=wrong, salt=b"s", result=b"")
    if not seal_first:
        chain.call(ALICE, "known_answers", "seal", seal=seal)
    return chain, expected, salt


def test_a_failed_known_answer_confirmed_by_dispute_is_slashed_30_percent() -> None:
    chain, expected, salt = known_answer_job()
    bonded = staking.ledger(chain.state, EVE.public).bonded
    events = chain.call(
        ALICE, "known_answers", "open", job=0, expected_hash=expected, salt=salt, matches=False
    )
    assert failed(events) is None
    check = verification.check(chain.state, 0)
    assert check is not None and check.status == verification.CheckStatus.DISPUTED
    for key in verifiers(chain, 0)[1:]:
        chain.call(key, "verification", "verdict", job=0, match=False)
    assert staking.ledger(chain.state, EVE.public).bonded == bonded - ppm_of(bonded, 300_000)


def test_known_answer_seals_must_precede_the_reveal_and_open_only_for_their_sealer() -> None:
    chain, expected, salt = known_answer_job(seal_first=False)
    late = chain.call(ALICE, "known_answers", "open", job=0, expected_hash=expected, salt=salt, matches=False)
    assert failed(late) == "known_answers.SealedTooLate"
    chain, expected, salt = known_answer_job()
    stranger = chain.call(
        BOB, "known_answers", "open", job=0, expected_hash=expected, salt=salt, matches=False
    )
    assert failed(stranger) == "known_answers.UnknownSeal"
    assert (
        failed(chain.call(FERDIE, "known_answers", "seal", seal=b"\x01" * 32)) == "known_answers.NotValidator"
    )
    honest_noise = chain.call(
        ALICE, "known_answers", "open", job=0, expected_hash=expected, salt=salt, matches=True
    )
    assert failed(honest_noise) is None and honest_noise[0].data["passed"] is True
    check = verification.check(chain.state, 0)  # (random sampling may still check it, as any job)
    assert check is None or check.offence != "failed_known_answer"


def test_an_unopened_seal_lapses_after_the_longest_job_could_have_ended() -> None:
    chain = TestChain(local_spec(), replicate=False, max_job_deadline=20, **SETTINGS)
    assert failed(chain.call(ALICE, "known_answers", "seal", seal=b"\x05" * 32)) is None
    sealed_at = chain.head.number
    p = chain.params
    lapses = sealed_at + constants.SEAL_GRACE + p.max_job_deadline + p.job_challenge_window + p.verify_window
    chain.advance_to(lapses - 1)
    assert known_answers.Seals.contains(chain.state, b"\x05" * 32)
    chain.advance_to(lapses)
    assert not known_answers.Seals.contains(chain.state, b"\x05" * 32)
    assert known_answers.Lapsing.get(chain.state, lapses) == ()


def test_a_provider_under_dispute_gets_no_new_job_until_it_is_decided() -> None:
    chain, job = revealed_job()
    chain.call(verifiers(chain, job)[0], "verification", "verdict", job=job, match=False)
    assert verification.under_dispute(chain.state, EVE.public)
    args: dict[str, Any] = {"kind": "embed", "model": EMBED, "input": encode(["y"]), "input_hash": b"",
                            "input_size": 0, "options": {}, "max_fee": UNIT, "deadline": 30, "min_reputation": 0}  # fmt: skip
    assert failed(chain.call(FERDIE, "jobs", "submit", **args)) is None
    chain.advance_to(chain.head.number + 1)
    assert jobs.job(chain.state, 1).status == jobs.JobStatus.PENDING  # type: ignore[union-attr]  # EVE is the only provider
    for key in verifiers(chain, job)[1:]:  # cleared: the accuser is outvoted
        chain.call(key, "verification", "verdict", job=job, match=True)
    assert not verification.under_dispute(chain.state, EVE.public)
    chain.advance_to(chain.head.number + 1)
    assigned = jobs.job(chain.state, 1)
    assert (
        assigned is not None
        and assigned.status == jobs.JobStatus.ASSIGNED
        and assigned.provider == EVE.public
    )
