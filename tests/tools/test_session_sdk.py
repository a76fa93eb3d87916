"""Sessions for clients, without a node: the SDK's cheques are what the
pallet's `settle` accepts (and only from the session's key), and
`vcoin_session`/`vcoin_sessions` answer a session's record and an account's
sessions, as opener or provider, in bounded pages."""

from types import SimpleNamespace
from typing import Any, cast

import pytest

from node.rpc import RpcError
from node.rpc_market import build_market_methods
from runtime.constants import SESSION_CLOSE_WINDOW
from runtime.crypto import Keypair, to_address
from runtime.pallets import sessions, verification
from tests.chain import BOB, CHARLIE, DAVE, EVE, TestChain, failed
from tests.runtime.pallets.test_jobs import EMBED, market
from tools.cheque import ChequeBook, cheque_from_json, cheque_is_valid, cheque_json, request_hash, sign_cheque

PRICE = 1_000
DEPOSIT = 1_000_000
DELEGATE = Keypair(b"\x44" * 32)


@pytest.fixture(autouse=True)
def no_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    """These settles name made-up logs nobody could publish: no batch is
    sampled (sampled verification has its own tests)."""
    monkeypatch.setattr(verification, "sample_rate", lambda *_: 0)


def open_session(chain: TestChain, key: Keypair = CHARLIE, **overrides: Any) -> int:
    args: dict[str, Any] = {
        "model": EMBED, "provider": BOB.public, "deposit": DEPOSIT, "max_price": PRICE, "min_reputation": 0,
        "expiry": chain.head.number + 100, "session_key": b"", **overrides,
    }  # fmt: skip
    assert failed(chain.call(key, "sessions", "open", **args)) is None
    return sessions.NextId.get(chain.state) - 1


def methods(chain: TestChain) -> dict[str, Any]:
    node = SimpleNamespace(chain=SimpleNamespace(state=chain.state))  # MarketRpc reads the state lazily
    return cast(dict[str, Any], build_market_methods(cast(Any, node)))


def test_a_cheque_book_signs_what_settle_accepts_from_the_session_key_only() -> None:
    chain = market(BOB, price=PRICE)
    session = open_session(chain, session_key=DELEGATE.public)
    book = ChequeBook(DELEGATE, chain.chain_id, session)
    for units in (3, 5, 12):
        cheque = book.next(units, request_hash(f"request {units}".encode()))
    assert (cheque["seq"], cheque["units"]) == (3, 12) and (book.seq, book.units) == (3, 12)
    assert cheque_is_valid(cheque, chain.chain_id, session, DELEGATE.public)
    assert not cheque_is_valid(cheque, chain.chain_id, session + 1, DELEGATE.public)
    assert cheque_from_json(cheque_json(cheque)) == cheque
    with pytest.raises(ValueError, match="cumulative"):
        book.next(11, request_hash(b"fewer units"))

    foreign = sign_cheque(CHARLIE, chain.chain_id, session, 3, 12, cheque["request_hash"])  # not the delegate
    settle: dict[str, Any] = {"session": session, "log_root": b"\x01" * 32, "count": 3}
    assert failed(chain.call(BOB, "sessions", "settle", **settle, cheque=foreign)) == "sessions.BadSignature"
    assert failed(chain.call(BOB, "sessions", "settle", **settle, cheque=cheque)) is None
    found = sessions.session(chain.state, session)
    assert found is not None and (found.seq, found.units, found.paid) == (3, 12, 12 * PRICE)


def test_sign_cheque_refuses_what_the_pallet_would() -> None:
    for seq, units, hashed in ((0, 1, b"\0" * 32), (1, -1, b"\0" * 32), (1, 1, b"\0" * 31)):
        with pytest.raises(ValueError):
            sign_cheque(CHARLIE, b"c" * 32, 0, seq, units, hashed)


def test_vcoin_session_answers_the_record_and_null_once_ended() -> None:
    chain = market(BOB, price=PRICE)
    rpc = methods(chain)
    session = open_session(chain)
    cheque = sign_cheque(CHARLIE, chain.chain_id, session, 2, 40, request_hash(b"x"))
    chain.call(BOB, "sessions", "settle", session=session, log_root=b"\x07" * 32, count=2, cheque=cheque)
    record = rpc["vcoin_session"]([session])
    assert {k: record[k] for k in ("id", "user", "provider", "key", "status", "price", "deposit", "paid")} == {
        "id": session, "user": to_address(CHARLIE.public), "provider": to_address(BOB.public),
        "key": to_address(CHARLIE.public), "status": "open", "price": PRICE, "deposit": DEPOSIT,
        "paid": 40 * PRICE,
    }  # fmt: skip
    assert (record["units"], record["seq"], record["count"], record["batches"]) == (40, 2, 2, 1)
    assert record["remaining"] == DEPOSIT - 40 * PRICE and record["model"] == "0x" + EMBED.hex()
    assert record["recentBatches"][0]["logRoot"] == "0x" + "07" * 32
    assert record["endsAt"] == record["expiry"] + SESSION_CLOSE_WINDOW and record["closedAt"] is None
    assert rpc["vcoin_session"]([session + 1]) is None
    for bad in ([-1], ["0"], [True]):
        with pytest.raises(ValueError):
            rpc["vcoin_session"](bad)
    for wrong_count in ([], [0, 1]):
        with pytest.raises(RpcError, match="parameters"):
            rpc["vcoin_session"](wrong_count)

    assert failed(chain.call(CHARLIE, "sessions", "close", session=session)) is None
    closing = rpc["vcoin_session"]([session])
    assert closing["status"] == "closing" and closing["endsAt"] == chain.head.number + SESSION_CLOSE_WINDOW
    chain.advance_to(closing["endsAt"])
    assert rpc["vcoin_session"]([session]) is None  # ended: refunded and removed


def test_vcoin_sessions_lists_an_accounts_sessions_as_opener_or_provider_in_pages() -> None:
    chain = market(BOB, DAVE, price=PRICE)
    rpc = methods(chain)
    opened = [open_session(chain, CHARLIE), open_session(chain, EVE), open_session(chain, CHARLIE),
              open_session(chain, EVE, provider=DAVE.public), open_session(chain, BOB, provider=DAVE.public)]  # fmt: skip

    def ids(*params: Any) -> list[int]:
        return [s["id"] for s in rpc["vcoin_sessions"](list(params))]

    assert ids({"account": to_address(CHARLIE.public)}) == [opened[2], opened[0]]
    assert ids({"account": to_address(BOB.public)}) == [opened[4], opened[2], opened[1], opened[0]]
    assert ids({"account": "0x" + DAVE.public.hex()}) == [opened[4], opened[3]]
    assert ids({"account": to_address(BOB.public)}, 2) == [opened[4], opened[2]]
    assert ids({"account": to_address(BOB.public)}, 2, opened[2]) == [opened[1], opened[0]]
    assert ids() == ids({}) == ids(None, 200) == opened[::-1]
    assert ids(None, 2, opened[3]) == [opened[2], opened[1]]
    for bad in ([{"who": "x"}], [{"account": "vc1nope"}], [{}, 0], [{}, 201], [{}, 5, -1], ["acct"]):
        with pytest.raises(ValueError):
            rpc["vcoin_sessions"](bad)
