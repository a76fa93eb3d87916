"""Sampled verification of session batches: the draw (its rate, its bound,
its seed), `sessions.publish` and its refusals, checks decided like jobs',
missed publications, proven mismatches (by a dispute, or by the units
alone), emission only for verified batches, a session's end held for its
audits, and a batch's money to the base unit."""

from typing import Any

import pytest

from genesis.spec import BUILTIN_MODELS, local_spec
from runtime.codec import blake2b_256, encode
from runtime.constants import (
    MAX_PUBLISHED_REQUEST,
    MAX_SAMPLED_LEAVES,
    PPM,
    SAMPLE_DELAY,
    SESSION_CHECK_IDS,
    SESSION_PUBLISH_WINDOW,
    UNIT,
    ppm_of,
)
from runtime.context import Ctx
from runtime.crypto import Keypair
from runtime.pallets import balances, session_audits, session_checks, sessions, staking, verification
from runtime.pallets.job_types import JobKind
from runtime.pallets.session_records import Audit
from runtime.session_log import leaf, proof, root
from runtime.session_request import encode_request, parse_request
from runtime.types import Event, cheque_payload
from tests.chain import ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE, TestChain, failed

EMBED = BUILTIN_MODELS[0][0]
MILLIONS = 23  # all-minilm-l6-v2's parameters, in millions (rounded up)
PRICE = 1_000
DEPOSIT = 10 * UNIT
VALIDATORS = {k.public: k for k in (ALICE, BOB, CHARLIE, DAVE)}
RESULT = encode({"vectors": [[1, 2, 3]]})


class Log:
    """A provider's request log for one session, kept as the provider keeps it."""

    def __init__(self) -> None:
        self.records: list[tuple[int, bytes, bytes, int]] = []  # (seq, request, result, units)
        self.leaves: list[bytes] = []

    def serve(
        self, text: str, units: int | None = None, request: bytes | None = None, result: bytes = RESULT
    ) -> None:
        raw = encode_request("embed", [text], {}) if request is None else request
        cost = parse_request(raw, JobKind.EMBED).units(MILLIONS) if units is None else units
        seq = len(self.records) + 1
        self.records.append((seq, raw, result, cost))
        self.leaves.append(leaf(seq, blake2b_256(raw), blake2b_256(result), cost))

    def units(self, count: int) -> int:
        return sum(r[3] for r in self.records[:count])

    def item(self, index: int, count: int, **overrides: Any) -> dict[str, Any]:
        """Leaf `index` as a `sessions.publish` item, against the root over `count` leaves."""
        seq, request, result, units = self.records[index]
        args = {"index": index, "seq": seq, "request": request, "result": result, "units": units,
                "proof": proof(self.leaves[:count], index)}  # fmt: skip
        return {**args, **overrides}

    def publish(self, session: int, index: int, count: int, **overrides: Any) -> dict[str, Any]:
        return {"session": session, "items": [self.item(index, count, **overrides)]}


class Market:
    """EVE serves the embedding model at PRICE; FERDIE opens a session with it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, rate: int = PPM, verify_window: int = 10) -> None:
        # every leaf (up to the bound), or none: the draw's rate is tested apart
        monkeypatch.setattr(verification, "sample_rate", lambda *_: rate)
        self.chain = TestChain(local_spec(), replicate=False, verify_window=verify_window)
        self.chain.call(EVE, "staking", "bond", amount=1_000 * UNIT)
        self.chain.call(EVE, "registry", "register_provider", models=[EMBED], memory_mb=4096, price=PRICE)
        args: dict[str, Any] = {"model": EMBED, "provider": EVE.public, "deposit": DEPOSIT, "max_price": PRICE,
                "min_reputation": 0, "expiry": self.chain.head.number + 500, "session_key": b""}  # fmt: skip
        assert failed(self.chain.call(FERDIE, "sessions", "open", **args)) is None
        self.log = Log()

    def settle(self, count: int) -> list[Event]:
        seq, request, _, _ = self.log.records[count - 1]
        units = self.log.units(count)
        payload = cheque_payload(self.chain.chain_id, 0, seq, units, blake2b_256(request))
        cheque = {"seq": seq, "units": units, "request_hash": blake2b_256(request),
                  "signature": FERDIE.sign(payload)}  # fmt: skip
        return self.chain.call(EVE, "sessions", "settle", session=0, log_root=root(self.log.leaves[:count]),
                               count=count, cheque=cheque)  # fmt: skip

    def drawn(self, batch: int = 0) -> Audit:
        """Advance to the batch's draw; its audit after it."""
        self.chain.advance_to(self.chain.head.number + SAMPLE_DELAY)
        found = session_audits.audit(self.chain.state, 0, batch)
        assert found is not None
        return found

    def publish(self, index: int, count: int, by: Keypair = EVE, **overrides: Any) -> list[Event]:
        return self.chain.call(by, "sessions", "publish", **self.log.publish(0, index, count, **overrides))

    def publish_all(self, items: list[dict[str, Any]], by: Keypair = EVE) -> list[Event]:
        return self.chain.call(by, "sessions", "publish", session=0, items=items)

    def challenge(self, seq: int, by: Keypair = FERDIE, session: int = 0) -> list[Event]:
        return self.chain.call(by, "sessions", "challenge", session=session, seq=seq)

    def verifiers(self, check_id: int) -> list[Keypair]:
        found = verification.check(self.chain.state, check_id)
        assert found is not None
        return [VALIDATORS[v] for v in found.verifiers]

    def events(self, until: int) -> list[Event]:
        """Produce blocks up to `until`, returning all their events."""
        seen: list[Event] = []
        while self.chain.head.number < until:
            self.chain.produce()
            seen += self.chain.events
        return seen


def fee_of(events: list[Event]) -> int:
    return int(next(e.data["fee"] for e in events if e.name == "ExtrinsicSuccess"))


def named(events: list[Event], name: str) -> list[Any]:
    return [e.data for e in events if e.pallet == "sessions" and e.name == name]


def _ctx(chain: TestChain, parent: bytes) -> Ctx:
    ctx = chain.ctx()
    ctx.parent_hash = parent
    return ctx


def test_the_draw_samples_each_leaf_at_the_providers_rate_bounded_per_batch() -> None:
    chain = TestChain(replicate=False)
    rate = verification.sample_rate(chain.state, EVE.public, chain.params.sample_rate_ppm)
    assert rate == 300_000  # a new provider: on probation at 3 x 10%
    picks: dict[int, int] = {}
    sampled_batches = 0
    for n in range(2_000):  # a batch of 2 leaves (fewer than 1/rate), at leaves 5 and 6
        found = Audit(n, 0, EVE.public, FERDIE.public, EMBED, b"\0" * 32, 5, 7, 2, 2, 0, 1)
        leaves = session_audits.draw(_ctx(chain, blake2b_256(n.to_bytes(4, "big"))), found)
        assert set(leaves) <= {5, 6} and len(set(leaves)) == len(leaves)
        sampled_batches += bool(leaves)
        for i in leaves:
            picks[i] = picks.get(i, 0) + 1
    assert 1_100 < sampled_batches < 1_300  # 2 x 30% = 60% of the batches
    assert all(530 < picks[i] < 670 for i in (5, 6))  # each leaf 30% of the time
    big = Audit(0, 1, EVE.public, FERDIE.public, EMBED, b"\0" * 32, 0, 100_000, 1, 1, 0, 1)
    drawn = session_audits.draw(_ctx(chain, b"\1" * 32), big)
    assert len(drawn) == MAX_SAMPLED_LEAVES == len(set(drawn)) and all(0 <= i < 100_000 for i in drawn)
    assert session_audits.draw(_ctx(chain, b"\1" * 32), big) == drawn  # the same block hash, the same draw
    assert session_audits.draw(_ctx(chain, b"\2" * 32), big) != drawn


def test_a_batch_with_no_sample_is_verified_at_its_draw_and_earns_emission(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = Market(monkeypatch, rate=0)
    for text in ("a", "b", "c"):
        m.log.serve(text)
    assert failed(m.settle(3)) is None
    assert session_audits.holding(m.chain.state, 0)
    seen = m.events(m.chain.head.number + SAMPLE_DELAY)
    (verified,) = named(seen, "BatchVerified")
    assert (verified["units"], verified["sampled"]) == (m.log.units(3), 0)
    rewarded = [e.data for e in seen if e.name == "Rewarded" and e.data["who"] == EVE.public]
    assert rewarded and rewarded[0]["units"] == m.log.units(3)
    assert not session_audits.holding(m.chain.state, 0) and session_audits.audit(m.chain.state, 0, 0) is None


def test_a_published_leaf_opens_a_check_and_an_honest_verdict_pays_and_credits_emission(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = Market(monkeypatch)
    for text in ("one", "two", "three"):
        m.log.serve(text)
    user0, eve0 = m.chain.account(FERDIE.public), m.chain.account(EVE.public)
    burned0 = balances.Burned.get(m.chain.state)
    settled = m.settle(3)
    fee, eve_fees = m.log.units(3) * PRICE, fee_of(settled)
    found = m.drawn()
    assert found.leaves == (0, 1, 2) and found.publish_by == m.chain.head.number + SESSION_PUBLISH_WINDOW
    assert session_audits.owed(m.chain.state, EVE.public) == [found]
    checks = []
    for index in found.leaves:
        events = m.publish(index, 3)
        assert failed(events) is None
        eve_fees += fee_of(events)
        (published,) = named(events, "SamplePublished")
        checks.append(published["check"])
        sample = session_checks.sample(m.chain.state, published["check"])
        assert sample is not None and sample.request == m.log.records[index][1] and sample.result == RESULT
    assert checks == [SESSION_CHECK_IDS + i for i in range(3)]
    assert session_audits.owed(m.chain.state, EVE.public) == []
    chosen: list[bytes] = []
    before = {v: m.chain.account(v).free for v in VALIDATORS}
    seen: list[Event] = []
    for check_id in checks:
        (verifier,) = m.verifiers(check_id)
        assert verifier.public != EVE.public
        assert check_id in verification.tasks(m.chain.state, verifier.public)
        events = m.chain.call(verifier, "verification", "verdict", job=check_id, match=True)
        assert failed(events) is None
        before[verifier.public] -= fee_of(events)
        chosen.append(verifier.public)
        seen += m.chain.events  # the batch clears in the block its last check closes
    (verified,) = named(seen, "BatchVerified")
    assert verified["sampled"] == 3
    rewards = sum(e.data["amount"] for e in seen if e.name == "Rewarded" and e.data["who"] == EVE.public)
    assert rewards > 0
    held = ppm_of(fee, 50_000)
    got = {v: m.chain.account(v).free - before[v] for v in chosen}
    assert all(g == held // 3 * chosen.count(v) for v, g in got.items())  # the rounding to the treasury
    assert staking.ledger(m.chain.state, EVE.public).bonded == 1_000 * UNIT  # never slashed
    # the money, to the base unit: the provider's 80%, 15% burned, 5% to the verifiers (rounding to the treasury)
    eve = m.chain.account(EVE.public)
    provider_got = eve.free + eve.reserved - eve0.free - eve0.reserved + eve_fees - rewards
    burned = balances.Burned.get(m.chain.state) - burned0
    assert provider_got == fee - ppm_of(fee, 150_000) - held and burned == ppm_of(fee, 150_000)
    assert m.chain.account(FERDIE.public).reserved - user0.reserved == -fee
    assert provider_got + burned + held == fee


def test_publish_refuses_wrong_proofs_units_sizes_requests_and_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = Market(monkeypatch)
    m.log.serve("fine")
    m.log.serve("x", request=encode(["embed", b"not msgpack of a list", {}]), units=5)
    assert failed(m.settle(2)) is None
    found = m.drawn()
    assert found.leaves == (0, 1)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("sessions.BadProof", {"units": m.log.records[0][3] + 1}),  # other units than the leaf's
        ("sessions.BadProof", {"result": b"another result"}),
        ("sessions.BadProof", {"proof": []}),
        ("sessions.BadProof", {"seq": 9}),
        ("sessions.TooLarge", {"request": b"\0" * (MAX_PUBLISHED_REQUEST + 1)}),
        ("system.BadArguments", {"proof": [b"\0" * 31]}),
    ]
    for error, overrides in cases:
        assert failed(m.publish(0, 2, **overrides)) == error, overrides
    assert failed(m.publish(1, 2)) == "sessions.BadRequest"  # in the log, but no request of the model's kind
    assert failed(m.publish(0, 2, by=FERDIE)) == "sessions.NotProvider"
    assert (
        failed(m.chain.call(EVE, "sessions", "publish", **m.log.publish(3, 0, 2)))
        == "sessions.UnknownSession"
    )
    assert failed(m.publish(0, 2)) is None
    assert failed(m.publish(0, 2)) == "sessions.AlreadyPublished"
    m.log.serve("later")
    assert failed(m.publish(2, 3)) == "sessions.NotSampled"  # never settled, never drawn


def test_a_missed_publication_slashes_5_percent_refunds_the_batch_and_earns_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = Market(monkeypatch)
    m.log.serve("one")
    m.log.serve("two")
    assert failed(m.settle(2)) is None
    fee = m.log.units(2) * PRICE
    found = m.drawn()
    assert failed(m.publish(0, 2)) is None  # one of two published (its check expires unanswered)
    user = m.chain.account(FERDIE.public).free
    seen = m.events(found.publish_by)
    assert not named(seen, "PublicationMissed")
    seen = m.events(found.publish_by + 1)
    (missed,) = named(seen, "PublicationMissed")
    assert missed["leaves"] == [1]
    assert staking.ledger(m.chain.state, EVE.public).bonded == 1_000 * UNIT - ppm_of(1_000 * UNIT, 50_000)
    (rejected,) = named(seen, "BatchRejected")
    assert (rejected["refunded"], rejected["reason"]) == (fee, "missed")
    assert not [e for e in seen if e.name == "Rewarded"] and not named(seen, "BatchVerified")
    assert m.chain.account(FERDIE.public).free - user == fee


def test_a_provider_withholds_once_its_sampled_leaves_wait_past_the_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = Market(monkeypatch)
    m.log.serve("one")
    m.log.serve("two")
    assert failed(m.settle(2)) is None
    found = m.drawn()
    began, grace = found.publish_by - SESSION_PUBLISH_WINDOW, 4
    state = m.chain.state
    assert not session_audits.withholding(state, EVE.public, began + grace, grace)
    assert session_audits.withholding(state, EVE.public, began + grace + 1, grace)
    assert not session_audits.withholding(state, FERDIE.public, began + grace + 1, grace)  # not a provider
    assert failed(m.publish(0, 2)) is None  # one of two published: the other is still owed
    assert session_audits.withholding(m.chain.state, EVE.public, began + grace + 1, grace)
    assert failed(m.publish(1, 2)) is None  # all shown: nothing withheld, however late
    assert not session_audits.withholding(m.chain.state, EVE.public, found.publish_by, grace)


def test_a_disputed_mismatch_slashes_20_percent_refunds_the_batch_and_never_credits_emission(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = Market(monkeypatch)
    m.log.serve("only")
    assert failed(m.settle(1)) is None
    fee = m.log.units(1) * PRICE
    m.drawn()
    eve_free = m.chain.account(EVE.public).free
    events = m.publish(0, 1)
    eve_free -= fee_of(events)
    (check_id,) = [p["check"] for p in named(events, "SamplePublished")]
    first = m.verifiers(check_id)[0]
    m.chain.call(first, "verification", "verdict", job=check_id, match=False)
    second, third = m.verifiers(check_id)[1:]
    m.chain.call(second, "verification", "verdict", job=check_id, match=False)
    third_bond = staking.ledger(m.chain.state, third.public).bonded
    user = m.chain.account(FERDIE.public)
    m.chain.call(third, "verification", "verdict", job=check_id, match=True)  # outvoted
    seen = m.chain.events  # the check fails, and the batch is rejected, in this block
    assert verification.outcome(m.chain.state, check_id) == verification.CheckStatus.FAILED
    assert staking.ledger(m.chain.state, EVE.public).bonded == 1_000 * UNIT - ppm_of(1_000 * UNIT, 200_000)
    assert staking.ledger(m.chain.state, third.public).bonded == third_bond - ppm_of(third_bond, 200_000)
    (rejected,) = named(seen, "BatchRejected")
    assert (rejected["refunded"], rejected["reason"]) == (fee, "mismatch")
    assert not [e for e in seen if e.name == "Rewarded"]
    assert m.chain.account(FERDIE.public).free - user.free == fee  # the whole batch back
    eve = m.chain.account(EVE.public)
    assert eve.free == eve_free - (fee - ppm_of(fee, 50_000))  # repaid, the held share aside
    assert eve.reserved == staking.ledger(m.chain.state, EVE.public).bonded  # nothing held any more


def test_units_that_are_not_the_requests_cost_are_proven_cheating_without_a_verifier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = Market(monkeypatch)
    honest = parse_request(encode_request("embed", ["pricey"], {}), JobKind.EMBED).units(MILLIONS)
    m.log.serve("pricey", units=honest * 10)  # overcharged, and logged so
    assert failed(m.settle(1)) is None
    m.drawn()
    events = m.publish(0, 1)
    assert failed(events) is None
    (mismatch,) = named(events, "UnitsMismatch")
    assert (mismatch["units"], mismatch["expected"]) == (honest * 10, honest)
    assert staking.ledger(m.chain.state, EVE.public).bonded == 1_000 * UNIT - ppm_of(1_000 * UNIT, 200_000)
    assert verification.check(m.chain.state, SESSION_CHECK_IDS) is None  # nobody re-executes it
    seen = m.events(m.chain.head.number + 2)
    (rejected,) = named(seen, "BatchRejected")
    assert (rejected["refunded"], rejected["reason"]) == (honest * 10 * PRICE, "units")
    assert not [e for e in seen if e.name == "Rewarded"]


def test_a_sessions_end_waits_for_its_open_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    m = Market(monkeypatch, verify_window=40)
    m.log.serve("one")
    assert failed(m.chain.call(FERDIE, "sessions", "close", session=0)) is None
    ends_at = sessions.session(m.chain.state, 0).ends_at  # type: ignore[union-attr]
    m.chain.advance_to(ends_at - 1)
    assert failed(m.settle(1)) is None  # the last settle, in the session's last block
    found = m.drawn()
    assert m.chain.head.number > ends_at and sessions.session(m.chain.state, 0) is not None  # held
    check_id = named(m.publish(0, 1), "SamplePublished")[0]["check"]
    m.chain.advance_to(found.publish_by + 2)
    assert sessions.session(m.chain.state, 0) is not None  # the check is open
    (verifier,) = m.verifiers(check_id)
    m.chain.call(verifier, "verification", "verdict", job=check_id, match=True)
    seen = m.chain.events + m.events(m.chain.head.number + 1)  # verified at once, ended next block
    assert named(seen, "BatchVerified") and named(seen, "Ended")
    assert sessions.session(m.chain.state, 0) is None and not session_audits.holding(m.chain.state, 0)
    assert m.chain.account(FERDIE.public).reserved == 0
    ended = named(seen, "Ended")[0]
    assert ended["refunded"] == DEPOSIT - m.log.units(1) * PRICE
