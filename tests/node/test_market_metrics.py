"""The market's Prometheus counters, from the events the runtime really
emits: jobs by kind and registered model name, failures and slashes by
offence, verification outcomes, a provider's earnings; labels a peer could
multiply stay few, and nothing a block holds makes counting raise."""

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from genesis.spec import BUILTIN_MODELS
from node.market_metrics import MarketMetrics
from node.metric_labels import MAX_CHARS, OTHER, UNKNOWN, BoundedLabel
from runtime import constants
from runtime.codec import blake2b_256, encode
from runtime.constants import UNIT, ppm_of
from runtime.crypto import Keypair
from runtime.executive import BuiltBlock
from runtime.pallets import jobs, verification
from runtime.types import Event
from tests.chain import ALICE, BOB, CHARLIE, TestChain, failed

EMBED = BUILTIN_MODELS[0][0]
WINDOWS: dict[str, Any] = {
    "job_commit_window": 3,
    "job_reveal_window": 3,
    "job_challenge_window": 3,
    "verify_window": 3,
}
EMBED_JOB = {"kind": "embed", "model": "all-minilm-l6-v2"}


class ObservedChain(TestChain):
    """A test chain whose every block is counted, as a node counts the blocks it imports."""

    __test__ = False

    def __init__(self, provider: bytes | None = None, **params: Any) -> None:
        super().__init__(**WINDOWS, **params)
        self.registry = CollectorRegistry()
        self.metrics = MarketMetrics(self.registry)
        self.provider = provider

    def produce(self, extrinsics: list[bytes] = ()) -> BuiltBlock:  # type: ignore[assignment]
        built = super().produce(extrinsics)
        self.metrics.observe_block(built.block.header, self.state, built.events, self.provider)
        return built

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def market(provider: Keypair, **params: Any) -> ObservedChain:
    chain = ObservedChain(provider.public, **params)
    assert failed(chain.call(provider, "staking", "bond", amount=1_000 * UNIT)) is None
    registered = chain.call(
        provider, "registry", "register_provider", models=[EMBED], memory_mb=4096, price=1_000
    )
    assert failed(registered) is None
    submitted = chain.call(CHARLIE, "jobs", "submit", kind="embed", model=EMBED, input=encode(["hello"]),
                           input_hash=b"", input_size=0, options={}, max_fee=UNIT, deadline=20, min_reputation=0)  # fmt: skip
    assert failed(submitted) is None
    return chain


def test_a_served_job_counts_its_assignment_check_settlement_and_the_providers_fee() -> None:
    chain = market(BOB)
    assert chain.value("vcoin_market_jobs_assigned_total", **EMBED_JOB) == 1
    result = encode({"vectors": [[1, 2, 3]]})
    result_hash, salt = blake2b_256(result), b"\x07" * 32
    chain.call(BOB, "jobs", "commit", job=0, commitment=jobs.commitment(result_hash, salt))
    chain.call(BOB, "jobs", "reveal", job=0, result_hash=result_hash, salt=salt, result=result)
    chain.advance_to(chain.head.number + constants.SAMPLE_DELAY)
    checked = verification.check(chain.state, 0) is not None  # new providers are checked more often
    if checked:  # //alice, the only validator, re-executed it and agrees
        assert failed(chain.call(ALICE, "verification", "verdict", job=0, match=True)) is None
    while (found := jobs.job(chain.state, 0)) is not None and found.status != jobs.JobStatus.SETTLED:
        assert chain.head.number < 40, found
        chain.produce()
    assert chain.value("vcoin_market_jobs_served_total", **EMBED_JOB) == 1
    assert chain.value("vcoin_market_verifications_total", outcome="passed") == int(checked)
    assert chain.value("vcoin_market_verifications_total", outcome="mismatch") == 0
    assert found is not None
    fee = found.fee
    kept = fee - ppm_of(fee, 150_000) - ppm_of(fee, 50_000)
    assert chain.value("vcoin_provider_earnings_base_units_total", source="job_fee") == kept > 0


def test_a_missed_reveal_counts_a_failure_and_a_slash_by_offence() -> None:
    chain = market(BOB)
    chain.call(BOB, "jobs", "commit", job=0, commitment=b"\x01" * 32)
    chain.advance_to(chain.head.number + 5)
    assert chain.value("vcoin_market_jobs_failed_total", **EMBED_JOB, reason="missed_reveal") == 1
    assert chain.value("vcoin_market_slashes_total", offence="missed_reveal") == 1
    assert chain.value("vcoin_market_slashed_base_units_total", offence="missed_reveal") > 0
    assert chain.value("vcoin_market_slashes_total", offence="mismatch") == 0  # every offence starts at 0


def test_labels_a_peer_can_multiply_stay_few() -> None:
    label = BoundedLabel(limit=3)
    assert [label(v) for v in ("a", "b", "c", "d", "a", None, "")] == [
        "a",
        "b",
        "c",
        OTHER,
        "a",
        OTHER,
        OTHER,
    ]
    assert BoundedLabel()("x" * 1000) == "x" * MAX_CHARS
    assert BoundedLabel()(None) == UNKNOWN
    chain = ObservedChain()
    # a job id no job has (an event this node cannot explain) is counted, not named
    chain.metrics.observe_block(chain.head, chain.state, [Event("jobs", "Assigned", {"job": 99})], None)
    assert chain.value("vcoin_market_jobs_assigned_total", kind=UNKNOWN, model=UNKNOWN) == 1


@pytest.mark.parametrize(
    "event",
    [
        Event("jobs", "Assigned", {}),
        Event("jobs", "Settled", {"job": "zero"}),
        Event("sessions", "Settled", {"session": 7}),
        Event("sessions", "Settled", {}),
        Event("slashing", "Slashed", {"offence": "gremlins", "amount": "lots"}),
        Event("verification", "CheckClosed", {"status": ["passed"]}),
        Event("known_answers", "Opened", {}),
        Event("emission", "Rewarded", {"who": BOB.public, "amount": "x", "units": None}),
    ],
)
def test_whatever_a_block_holds_counting_never_raises(event: Event) -> None:
    chain = ObservedChain(BOB.public)
    chain.metrics.observe_block(chain.head, chain.state, [event], BOB.public)  # logged at worst
    chain.metrics.observe_block(chain.head, chain.state, [event, Event("jobs", "Assigned", {"job": 5})], None)
    assert chain.value("vcoin_market_jobs_assigned_total", kind=UNKNOWN, model=UNKNOWN) >= 1
