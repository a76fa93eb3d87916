"""The sessions pallet: opening with a named or a drawn provider, cheques
settled in batches by the jobs' split, refusals of replayed, foreign and
over-deposit cheques, the rate limit, closing, the refund after the last
settle window, expiry without a call, and a session's money to the base unit."""

from typing import Any

import pytest

from runtime.constants import (
    SAMPLE_DELAY,
    SESSION_CLOSE_WINDOW,
    SESSION_SETTLE_INTERVAL,
    SESSION_YOUNG_BATCHES,
    SESSION_YOUNG_SETTLE_INTERVAL,
    UNIT,
    ppm_of,
)
from runtime.crypto import Keypair
from runtime.pallets import balances, session_types, sessions, treasury, verification
from runtime.types import Event, cheque_payload
from tests.chain import BOB, CHARLIE, DAVE, EVE, FERDIE, TestChain, failed
from tests.runtime.pallets.test_jobs import EMBED, INFER, market

PRICE = 1_000
DEPOSIT = 1_000_000  # base units: 1,000 work units at PRICE
DELEGATE = Keypair(b"\x33" * 32)


@pytest.fixture(autouse=True)
def no_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    """These batches' roots are made up: no leaf is drawn for verification,
    so every batch is verified at its draw (tests/runtime/pallets/test_session_checks.py
    samples them)."""
    monkeypatch.setattr(verification, "sample_rate", lambda *_: 0)


def open_session(chain: TestChain, key: Keypair = CHARLIE, **overrides: Any) -> list[Event]:
    args: dict[str, Any] = {
        "model": EMBED, "provider": b"", "deposit": DEPOSIT, "max_price": PRICE, "min_reputation": 0,
        "expiry": chain.head.number + 100, "session_key": b"", **overrides,
    }  # fmt: skip
    return chain.call(key, "sessions", "open", **args)


def cheque(
    chain: TestChain, signer: Keypair, session: int, seq: int, units: int, tag: int = 1
) -> dict[str, Any]:
    request_hash = bytes([tag]) * 32
    signature = signer.sign(cheque_payload(chain.chain_id, session, seq, units, request_hash))
    return {"seq": seq, "units": units, "request_hash": request_hash, "signature": signature}


def settle(
    chain: TestChain, session: int, seq: int, units: int, signer: Keypair = CHARLIE, by: Keypair = BOB,
    count: int | None = None,
) -> list[Event]:  # fmt: skip
    return chain.call(by, "sessions", "settle", session=session, log_root=bytes([seq % 256]) * 32,
                      count=seq if count is None else count, cheque=cheque(chain, signer, session, seq, units))  # fmt: skip


def live(chain: TestChain, session: int = 0) -> sessions.Session:
    found = sessions.session(chain.state, session)
    assert found is not None
    return found


def next_settle(chain: TestChain, session: int = 0) -> None:
    chain.advance_to(sessions.next_settle(live(chain, session)) - 1)


def test_open_with_a_named_provider_reserves_the_deposit_at_its_price() -> None:
    chain = market(BOB, DAVE, price=PRICE)
    assert failed(open_session(chain, provider=DAVE.public, session_key=DELEGATE.public)) is None
    opened = live(chain)
    assert (opened.provider, opened.user, opened.key) == (DAVE.public, CHARLIE.public, DELEGATE.public)
    assert (opened.price, opened.deposit, opened.status) == (PRICE, DEPOSIT, sessions.SessionStatus.OPEN)
    assert chain.account(CHARLIE.public).reserved == DEPOSIT
    assert sessions.opened_by(chain.state, CHARLIE.public) == (0,)
    assert sessions.served_by(chain.state, DAVE.public) == (0,)


def test_open_without_a_provider_draws_one_that_serves_the_model() -> None:
    chain = market(BOB, DAVE, price=PRICE)
    for session_id in range(4):
        assert failed(open_session(chain)) is None
        opened = live(chain, session_id)
        assert opened.provider in (BOB.public, DAVE.public) and opened.key == CHARLIE.public
    assert chain.account(CHARLIE.public).reserved == 4 * DEPOSIT


def test_open_refuses_what_no_provider_could_serve() -> None:
    chain = market(BOB, price=PRICE)
    head = chain.head.number
    cases: dict[str, dict[str, Any]] = {
        "sessions.UnknownModel": {"model": b"\x09" * 32},
        "sessions.NoProvider": {"model": INFER},  # nobody serves it
        "sessions.PriceTooHigh": {"provider": BOB.public, "max_price": PRICE - 1},
        "sessions.NotServing": {"provider": DAVE.public},
        "sessions.BadKey": {"session_key": b"\x01" * 31},
        "sessions.BadExpiry": {"expiry": head},
        "sessions.BadSla": {"min_reputation": 1_000_001},
        "sessions.ReputationTooLow": {"provider": BOB.public, "min_reputation": 1_000_000},
        "sessions.DepositTooLow": {"deposit": PRICE - 1},
        "balances.InsufficientBalance": {"deposit": 10**9 * UNIT},
    }
    for error, overrides in cases.items():
        assert failed(open_session(chain, **overrides)) == error, overrides
    assert failed(open_session(chain, expiry=chain.head.number + 100_002)) == "sessions.BadExpiry"
    assert failed(open_session(chain, BOB, provider=BOB.public)) == "sessions.SelfDealing"
    assert failed(open_session(chain, BOB)) == "sessions.NoProvider"  # the opener is never drawn
    assert sessions.NextId.get(chain.state) == 0 and chain.account(CHARLIE.public).reserved == 0


def test_settle_pays_the_cheques_difference_80_5_15() -> None:
    chain = market(BOB, price=PRICE)
    open_session(chain)
    for seq, units, fee in ((3, 100, 100 * PRICE), (7, 250, 150 * PRICE), (9, 250, 0)):
        bob, burned = chain.account(BOB.public).free, balances.Burned.get(chain.state)
        ecosystem = chain.account(treasury.ECOSYSTEM).free
        events = settle(chain, 0, seq, units)
        assert failed(events) is None
        tx_fee = next(e.data["fee"] for e in events if e.name == "ExtrinsicSuccess")
        rewards = sum(
            e.data["amount"] for e in chain.events if e.name == "Rewarded" and e.data["who"] == BOB.public
        )
        assert balances.Burned.get(chain.state) - burned == ppm_of(fee, 150_000)
        assert (
            chain.account(BOB.public).free - bob
            == fee - ppm_of(fee, 150_000) - ppm_of(fee, 50_000) - tx_fee + rewards
        )
        assert chain.account(treasury.ECOSYSTEM).free - ecosystem == tx_fee  # the verifiers' share is held
        assert chain.account(BOB.public).reserved == 1_000 * UNIT + ppm_of(fee, 50_000)
        assert rewards == 0  # unverified session work earns no emission (yet)
        batch = sessions.batch(chain.state, 0, live(chain).batches - 1)
        assert batch is not None and (batch.count, batch.units, batch.seq) == (seq, fee // PRICE, seq)
        chain.advance_to(chain.head.number + SAMPLE_DELAY - 1)
        chain.produce()  # the draw: no sample, so the batch is verified
        assert chain.account(treasury.ECOSYSTEM).free - ecosystem == ppm_of(fee, 50_000) + tx_fee
        assert chain.account(BOB.public).reserved == 1_000 * UNIT
        rewarded = [
            e.data["units"] for e in chain.events if e.name == "Rewarded" and e.data["who"] == BOB.public
        ]
        assert rewarded == ([fee // PRICE] if fee else [])  # its work units reach emission now
        next_settle(chain)
    assert (live(chain).paid, live(chain).units, live(chain).count) == (250 * PRICE, 250, 9)
    assert chain.account(CHARLIE.public).reserved == DEPOSIT - 250 * PRICE


def test_a_replayed_or_older_cheque_is_refused() -> None:
    chain = market(BOB, price=PRICE)
    open_session(chain)
    assert failed(settle(chain, 0, 5, 100)) is None
    next_settle(chain)
    assert failed(settle(chain, 0, 5, 100)) == "sessions.StaleCheque"  # the same cheque again
    assert failed(settle(chain, 0, 4, 50)) == "sessions.StaleCheque"  # an older one
    assert failed(settle(chain, 0, 6, 99, count=6)) == "sessions.StaleCheque"  # fewer units
    assert failed(settle(chain, 0, 6, 100)) is None  # a newer seq with no new units: nothing to pay
    assert live(chain).paid == 100 * PRICE


def test_only_the_session_key_signs_and_only_the_provider_settles() -> None:
    chain = market(BOB, DAVE, price=PRICE)
    open_session(chain, provider=BOB.public, session_key=DELEGATE.public)
    assert failed(settle(chain, 0, 1, 10, signer=CHARLIE)) == "sessions.BadSignature"  # not the delegated key
    assert failed(settle(chain, 0, 1, 10, signer=EVE)) == "sessions.BadSignature"
    assert failed(settle(chain, 0, 1, 10, signer=DELEGATE, by=DAVE)) == "sessions.NotProvider"
    wrong_session = cheque(chain, DELEGATE, 1, 1, 10)  # signed for another session
    events = chain.call(
        BOB, "sessions", "settle", session=0, log_root=b"\x01" * 32, count=1, cheque=wrong_session
    )
    assert failed(events) == "sessions.BadSignature"
    assert failed(settle(chain, 0, 1, 10, signer=DELEGATE)) is None
    assert failed(settle(chain, 7, 1, 10, signer=DELEGATE)) == "sessions.UnknownSession"


def test_a_cheque_above_the_deposit_or_a_bad_count_is_refused() -> None:
    chain = market(BOB, price=PRICE)
    open_session(chain)
    assert failed(settle(chain, 0, 1, DEPOSIT // PRICE + 1)) == "sessions.OverDeposit"
    assert failed(settle(chain, 0, 2, 10, count=3)) == "sessions.BadCount"  # more leaves than requests
    assert failed(settle(chain, 0, 2, 10, count=0)) == "sessions.BadCount"  # an empty batch
    bad_shape = {"seq": 1, "units": 1, "request_hash": b"\x01" * 32}
    events = chain.call(
        BOB, "sessions", "settle", session=0, log_root=b"\x01" * 32, count=1, cheque=bad_shape
    )
    assert failed(events) == "system.BadArguments"
    assert failed(settle(chain, 0, 1, DEPOSIT // PRICE)) is None  # exactly the deposit
    assert chain.account(CHARLIE.public).reserved == 0


def test_settles_are_rate_limited_except_the_closing_one() -> None:
    chain = market(BOB, price=PRICE)
    open_session(chain)
    assert failed(settle(chain, 0, 1, 10)) is None
    assert failed(settle(chain, 0, 2, 20)) == "sessions.TooSoon"
    assert failed(chain.call(CHARLIE, "sessions", "close", session=0)) is None
    assert failed(settle(chain, 0, 2, 20)) is None  # the closing settle
    assert failed(settle(chain, 0, 3, 30)) == "sessions.TooSoon"
    assert failed(chain.call(CHARLIE, "sessions", "close", session=0)) == "sessions.AlreadyClosing"


def test_a_young_session_settles_at_the_young_interval_then_the_grown_one() -> None:
    chain = market(BOB, price=PRICE)
    open_session(chain)
    seq = 1
    assert failed(settle(chain, 0, seq, seq)) is None
    for batches in range(1, SESSION_YOUNG_BATCHES + 2):
        interval = (
            SESSION_YOUNG_SETTLE_INTERVAL if batches < SESSION_YOUNG_BATCHES else SESSION_SETTLE_INTERVAL
        )
        last = live(chain).settled_at
        assert live(chain).batches == batches and sessions.next_settle(live(chain)) == last + interval
        chain.advance_to(last + interval - 2)  # the settle goes in the next block: one too soon
        assert failed(settle(chain, 0, seq + 1, seq + 1)) == "sessions.TooSoon"
        assert failed(settle(chain, 0, seq + 1, seq + 1)) is None  # the block after: allowed
        assert live(chain).settled_at == last + interval
        seq += 1


def _measured_settle(chain: TestChain, seq: int, units: int) -> tuple[int, int]:
    """Settle, and measure what the provider got (net of its transaction fee
    and of emission) and what went to the verifiers' share (held until the
    batch's draw, SAMPLE_DELAY blocks later)."""
    before = chain.account(BOB.public).free
    events = settle(chain, 0, seq, units)
    assert failed(events) is None
    tx_fee = next(e.data["fee"] for e in events if e.name == "ExtrinsicSuccess")
    rewards = sum(
        e.data["amount"] for e in chain.events if e.name == "Rewarded" and e.data["who"] == BOB.public
    )
    got = chain.account(BOB.public).free - before + tx_fee - rewards
    share = 0
    for _ in range(SAMPLE_DELAY):
        chain.produce()
        share += sum(
            e.data["amount"]
            for e in chain.events
            if e.pallet == "treasury" and e.data["reason"] == "verifier share"
        )
    return got, share


def test_close_and_refund_after_the_window_and_the_money_adds_up() -> None:
    chain = market(BOB, price=PRICE)
    open_session(chain, deposit=DEPOSIT + 7)  # an odd deposit: the rounding stays in it
    burned0, user_free0 = balances.Burned.get(chain.state), chain.account(CHARLIE.public).free
    to_provider = to_verifiers = 0
    for seq, units in ((1, 33), (4, 101), (9, 457)):
        got, share = _measured_settle(chain, seq, units)
        to_provider, to_verifiers = to_provider + got, to_verifiers + share
        next_settle(chain)
    assert failed(chain.call(EVE, "sessions", "close", session=0)) == "sessions.NotParty"
    assert failed(chain.call(BOB, "sessions", "close", session=0)) is None  # either side closes
    ends_at = live(chain).ends_at
    assert ends_at == chain.head.number + SESSION_CLOSE_WINDOW
    got, share = _measured_settle(chain, 10, 500)  # the provider's last settle, in the window
    to_provider, to_verifiers = to_provider + got, to_verifiers + share
    chain.advance_to(ends_at - 1)
    assert chain.account(CHARLIE.public).reserved == DEPOSIT + 7 - 500 * PRICE  # not yet refunded
    chain.advance_to(ends_at)
    ended = next(e for e in chain.events if e.name == "Ended")
    refund = ended.data["refunded"]
    assert refund == DEPOSIT + 7 - 500 * PRICE and ended.data["paid"] == 500 * PRICE
    burned = balances.Burned.get(chain.state) - burned0
    assert to_provider + burned + to_verifiers + refund == DEPOSIT + 7  # to the base unit
    assert to_provider >= 500 * PRICE * 80 // 100 and 0 < to_verifiers <= 500 * PRICE * 5 // 100
    assert chain.account(CHARLIE.public).reserved == 0
    assert chain.account(CHARLIE.public).free == user_free0 + refund
    assert sessions.session(chain.state, 0) is None and sessions.batches(chain.state, 0) == []
    assert sessions.batch(chain.state, 0, 0) is None
    assert (
        sessions.opened_by(chain.state, CHARLIE.public) == () == sessions.served_by(chain.state, BOB.public)
    )
    assert failed(settle(chain, 0, 11, 500)) == "sessions.UnknownSession"  # a cheque settles once


def test_an_expired_session_ends_without_a_call() -> None:
    chain = market(BOB, price=PRICE)
    expiry = chain.head.number + 5
    open_session(chain, expiry=expiry)
    assert failed(settle(chain, 0, 1, 10)) is None
    chain.advance_to(expiry + 1)
    assert failed(settle(chain, 0, 2, 20)) is None  # past the expiry: the last settle, no interval
    chain.advance_to(expiry + SESSION_CLOSE_WINDOW - 1)
    assert live(chain).status == sessions.SessionStatus.OPEN
    chain.advance_to(expiry + SESSION_CLOSE_WINDOW)
    assert sessions.session(chain.state, 0) is None
    assert chain.account(CHARLIE.public).reserved == 0


def test_sessions_are_bounded_per_account_and_in_kept_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions, "MAX_SESSIONS_PER_ACCOUNT", 2)
    monkeypatch.setattr(sessions, "MAX_SESSION_BATCHES", 2)
    monkeypatch.setattr(sessions, "SESSION_YOUNG_SETTLE_INTERVAL", 1)
    monkeypatch.setattr(session_types, "MAX_SESSION_BATCHES", 2)
    monkeypatch.setattr(sessions, "SESSION_SETTLE_INTERVAL", 1)
    chain = market(BOB, price=PRICE)
    assert failed(open_session(chain)) is None and failed(open_session(chain)) is None
    assert failed(open_session(chain)) == "sessions.TooManySessions"
    for seq in range(1, 5):
        assert failed(settle(chain, 0, seq, seq)) is None
    assert [b.index for b in sessions.batches(chain.state, 0)] == [2, 3]
    assert sessions.batch(chain.state, 0, 1) is None


def test_a_block_ends_a_bounded_number_of_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions, "MAX_SESSION_ENDS_PER_BLOCK", 1)
    chain = market(BOB, price=PRICE)
    expiry = chain.head.number + 5
    for key in (CHARLIE, DAVE, FERDIE):
        assert failed(open_session(chain, key, expiry=expiry)) is None
    chain.advance_to(expiry + SESSION_CLOSE_WINDOW)
    assert [i for i in range(3) if sessions.session(chain.state, i) is None] == [0]
    chain.produce()
    chain.produce()
    assert all(sessions.session(chain.state, i) is None for i in range(3))
    assert all(chain.account(k.public).reserved == 0 for k in (CHARLIE, DAVE, FERDIE))
