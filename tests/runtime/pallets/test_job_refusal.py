"""`jobs.refuse`: only the assigned provider, only before its commit and
inside its window, only a referenced input; the job goes to another
provider with the burn taken from its fee, the refuser earns nothing, loses
no reputation and cannot end the job."""

from runtime.codec import blake2b_256, encode
from runtime.constants import UNIT, ppm_of
from runtime.pallets import balances, jobs, registry, reputation
from runtime.types import Event
from tests.chain import BOB, CHARLIE, DAVE, TestChain, failed
from tests.runtime.pallets.test_jobs import job, market, submit

RAW = encode(["some", "texts"])


def referenced(chain: TestChain) -> list[Event]:
    return submit(chain, input=b"", input_hash=blake2b_256(RAW), input_size=len(RAW))


def test_the_assigned_provider_refuses_a_referenced_input_for_no_gain() -> None:
    chain = market(BOB, DAVE)
    assert failed(referenced(chain)) is None
    assigned = job(chain)
    burned_before = balances.Burned.get(chain.state)
    refuser, other = (BOB, DAVE) if assigned.provider == BOB.public else (DAVE, BOB)
    charlie, bob = chain.account(CHARLIE.public), chain.account(refuser.public)
    score = reputation.score(chain.state, refuser.public)
    events = chain.call(refuser, "jobs", "refuse", job=0, reason="not a list of texts")
    assert failed(events) is None
    burn = ppm_of(assigned.price * assigned.units, chain.params.burn_rate_ppm)
    assert 0 < burn < UNIT
    assert chain.account(CHARLIE.public).free == charlie.free
    assert chain.account(CHARLIE.public).reserved == charlie.reserved - burn
    assert balances.Burned.get(chain.state) == burned_before + burn
    assert chain.account(refuser.public).free <= bob.free  # only its transaction fee moved
    assert reputation.score(chain.state, refuser.public) == score
    assert registry.provider(chain.state, refuser.public).jobs_failed == 0
    again = job(chain)  # assigned again in the same block, to the other provider only
    assert (
        again.status == jobs.JobStatus.ASSIGNED
        and again.provider == other.public
        and again.max_fee == UNIT - burn
    )
    assert jobs.assignments(chain.state, refuser.public) == ()
    assert failed(chain.call(refuser, "jobs", "refuse", job=0, reason="again")) == "jobs.NotAssigned"


def test_a_refusal_after_the_commit_window_is_too_late() -> None:
    chain = market(BOB)
    assert failed(referenced(chain)) is None
    chain.advance_to(job(chain).assigned_at + chain.params.job_commit_window)
    assert failed(chain.call(BOB, "jobs", "refuse", job=0, reason="late")) == "jobs.TooLate"


def test_nobody_else_refuses_and_inline_inputs_cannot_be_refused() -> None:
    chain = market(BOB)
    assert failed(referenced(chain)) is None
    assert failed(chain.call(DAVE, "jobs", "refuse", job=0, reason="x")) == "jobs.NotAssigned"
    assert failed(chain.call(BOB, "jobs", "refuse", job=7, reason="x")) == "jobs.UnknownJob"
    assert failed(submit(chain)) is None
    assert failed(chain.call(BOB, "jobs", "refuse", job=1, reason="x")) == "jobs.InlineInput"


def test_a_committed_job_cannot_be_refused() -> None:
    chain = market(BOB)
    assert failed(referenced(chain)) is None
    chain.call(BOB, "jobs", "commit", job=0, commitment=b"\x01" * 32)
    assert failed(chain.call(BOB, "jobs", "refuse", job=0, reason="x")) == "jobs.NotAssigned"
