"""`jobs.refuse`: only the assigned provider, only before its commit, only
a referenced input; the submitter is refunded less the burn, the provider
earns nothing and loses no reputation."""

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
    chain = market(BOB)
    assert failed(referenced(chain)) is None
    assigned = job(chain)
    charlie, bob = chain.account(CHARLIE.public), chain.account(BOB.public)
    burned_before, score = balances.Burned.get(chain.state), reputation.score(chain.state, BOB.public)
    events = chain.call(BOB, "jobs", "refuse", job=0, reason="not a list of texts")
    assert failed(events) is None
    burn = ppm_of(assigned.price * assigned.units, chain.params.burn_rate_ppm)
    assert 0 < burn < UNIT
    assert chain.account(CHARLIE.public).free == charlie.free + UNIT - burn
    assert chain.account(CHARLIE.public).reserved == charlie.reserved - UNIT
    assert balances.Burned.get(chain.state) == burned_before + burn
    assert chain.account(BOB.public).free <= bob.free  # only its transaction fee moved
    assert reputation.score(chain.state, BOB.public) == score
    assert registry.provider(chain.state, BOB.public).jobs_failed == 0
    assert job(chain).status == jobs.REFUNDED and jobs.assignments(chain.state, BOB.public) == ()
    assert failed(chain.call(BOB, "jobs", "refuse", job=0, reason="again")) == "jobs.NotAssigned"


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
