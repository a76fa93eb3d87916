"""`jobs.start` and `jobs.decline` (`runtime.pallets.job_windows`): a
started job's commit window follows its work units, and a provider that
cannot make it gives the job back for a small reputation step, where a
vanished one loses a quarter."""

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.codec import encode
from runtime.constants import JOB_MIN_UNITS_PER_SECOND, REPUTATION_DECLINE_STEP, UNIT
from runtime.pallets import job_windows, jobs, reputation
from tests.chain import BOB, CHARLIE, DAVE, TestChain, failed
from tests.runtime.pallets.test_jobs import EMBED, job, market, submit

COMMITMENT = b"\x01" * 32


def _long_job(chain: TestChain, text_bytes: int = 8_000, deadline: int = 200) -> jobs.Job:
    """An embedding job of many work units (a long text)."""
    assert failed(submit(chain, input=encode(["x" * text_bytes]), deadline=deadline)) is None
    return job(chain)


def test_a_started_job_may_commit_until_its_work_is_done() -> None:
    chain = market(BOB)
    found = _long_job(chain)
    base, slot = chain.params.job_commit_window, chain.params.slot_seconds
    work = job_windows.work_blocks(found.units, slot)
    assert work > base  # the base window alone would be missed
    events = chain.call(BOB, "jobs", "start", job=0)
    assert failed(events) is None
    started = chain.head.number
    until = started + base + work
    assert [e.data["commit_by"] for e in events if e.name == "Started"] == [until]
    assert jobs.commit_deadline(chain.state, job(chain), chain.params) == until
    assert failed(chain.call(BOB, "jobs", "start", job=0)) == "jobs.AlreadyStarted"
    chain.advance_to(until - 1)
    assert job(chain).status == jobs.JobStatus.ASSIGNED
    assert failed(chain.call(BOB, "jobs", "commit", job=0, commitment=COMMITMENT)) is None
    assert not jobs.CommitBy.contains(chain.state, 0)  # nothing left behind


def test_a_started_provider_that_vanishes_misses_its_stretched_window() -> None:
    chain = market(BOB, DAVE)
    found = _long_job(chain)
    keys = {BOB.public: BOB, DAVE.public: DAVE}
    assert failed(chain.call(keys[found.provider], "jobs", "start", job=0)) is None
    until = jobs.commit_deadline(chain.state, job(chain), chain.params)
    score = reputation.score(chain.state, found.provider)
    chain.advance_to(until)
    assert job(chain).status == jobs.JobStatus.ASSIGNED
    chain.produce()
    assert job(chain).provider != found.provider and found.provider in job(chain).tried
    assert reputation.score(chain.state, found.provider) == score * 3 // 4  # vanished: a quarter
    assert not jobs.CommitBy.contains(chain.state, 0) or job(chain).status == jobs.JobStatus.ASSIGNED


def test_the_stretched_window_stops_at_the_deadline_and_start_is_checked() -> None:
    chain = market(BOB)
    found = _long_job(chain, text_bytes=16_000, deadline=12)
    assert failed(chain.call(DAVE, "jobs", "start", job=0)) == "jobs.NotAssigned"
    assert failed(chain.call(BOB, "jobs", "start", job=9)) == "jobs.UnknownJob"
    assert failed(chain.call(BOB, "jobs", "start", job=0)) is None
    assert jobs.commit_deadline(chain.state, job(chain), chain.params) == found.deadline
    late = market(BOB)
    _long_job(late)
    late.advance_to(job(late).assigned_at + late.params.job_commit_window)
    assert failed(late.call(BOB, "jobs", "start", job=0)) == "jobs.TooLate"
    committed = market(BOB)
    assert failed(submit(committed)) is None
    committed.call(BOB, "jobs", "commit", job=0, commitment=COMMITMENT)
    assert failed(committed.call(BOB, "jobs", "start", job=0)) == "jobs.NotAssigned"


def test_a_declined_job_goes_to_another_provider_for_a_small_reputation_step() -> None:
    chain = market(BOB, DAVE)
    assert failed(submit(chain)) is None
    first = job(chain)
    keys = {BOB.public: BOB, DAVE.public: DAVE}
    decliner = keys[first.provider]
    score = reputation.score(chain.state, decliner.public)
    reserved = chain.account(CHARLIE.public).reserved
    events = chain.call(decliner, "jobs", "decline", job=0, reason="running past its window")
    assert failed(events) is None
    assert any(e.name == "Declined" and e.data["why"] == "running past its window" for e in chain.events)
    assert reputation.score(chain.state, decliner.public) == score - score // REPUTATION_DECLINE_STEP
    assert chain.account(CHARLIE.public).reserved == reserved  # nothing burned: the submitter pays nothing
    again = job(chain)
    assert again.status == jobs.JobStatus.ASSIGNED and again.provider != decliner.public
    assert decliner.public in again.tried and jobs.assignments(chain.state, decliner.public) == ()
    assert failed(chain.call(decliner, "jobs", "decline", job=0, reason="x")) == "jobs.NotAssigned"


def test_a_declined_job_nobody_else_can_take_is_refunded_at_once() -> None:
    chain = market(BOB)
    assert failed(submit(chain)) is None
    assert failed(chain.call(BOB, "jobs", "decline", job=0, reason="too slow")) is None
    assert job(chain).status == jobs.JobStatus.REFUNDED
    assert chain.account(CHARLIE.public).reserved == 0
    refunds = [e.data["reason"] for e in chain.events if e.name == "Refunded"]
    assert refunds == ["no provider left to take it"]


def test_a_decline_after_the_window_is_too_late() -> None:
    chain = market(BOB)
    assert failed(submit(chain)) is None
    chain.advance_to(job(chain).assigned_at + chain.params.job_commit_window)
    assert failed(chain.call(BOB, "jobs", "decline", job=0, reason="late")) == "jobs.TooLate"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text_bytes=st.integers(1, 15_000),
    base=st.integers(2, 8),
    start_after=st.integers(1, 8),
    commit_after=st.integers(1, 8),
)
def test_an_honest_provider_as_fast_as_planned_for_never_misses_its_window(
    text_bytes: int, base: int, start_after: int, commit_after: int
) -> None:
    """It says it started within its base window, runs at the planned-for
    speed (`JOB_MIN_UNITS_PER_SECOND`), and once done commits within the
    base window again (what any small job is given): the commit lands."""
    chain = TestChain(
        job_commit_window=base, job_reveal_window=3, job_challenge_window=3, verify_window=3, era_length=1_000
    )
    assert failed(chain.call(BOB, "staking", "bond", amount=1_000 * UNIT)) is None
    events = chain.call(BOB, "registry", "register_provider", models=[EMBED], memory_mb=4096, price=1)
    assert failed(events) is None
    found = _long_job(chain, text_bytes, deadline=100_000)
    start_after = min(start_after, base)
    chain.advance_to(found.assigned_at + start_after - 1)
    assert failed(chain.call(BOB, "jobs", "start", job=0)) is None
    started, slot = chain.head.number, chain.params.slot_seconds
    run_seconds = found.units / JOB_MIN_UNITS_PER_SECOND  # the slowest honest speed
    finished = started + math.ceil(run_seconds / slot)
    chain.advance_to(finished + min(commit_after, base) - 1)
    assert failed(chain.call(BOB, "jobs", "commit", job=0, commitment=COMMITMENT)) is None
    assert job(chain).status == jobs.JobStatus.COMMITTED
