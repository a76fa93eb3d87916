"""Issue 11, finding 2: a few funded accounts fill their nonce horizon with
large gapped transactions. The pool must keep room for honest ready
transactions and for the node's own, and the junk must cost the sender."""

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.txpool import MAX_FUTURE_NONCES, PoolError, TxPool
from runtime.constants import UNIT
from runtime.crypto import Keypair, dev_keypair
from tests.chain import ALICE, BOB, CHARLIE, FERDIE, TestChain

FLOODERS = [dev_keypair(f"flooder{i}") for i in range(6)]
POOR = dev_keypair("poor")


def _funded_chain() -> TestChain:
    chain = TestChain(replicate=False)
    n = chain.nonce(ALICE.public)
    funding = [
        chain.sign(ALICE, "balances", "transfer", nonce=n + i, to=key.public, amount=1_000 * UNIT)
        for i, key in enumerate(FLOODERS)
    ]
    funding.append(chain.sign(ALICE, "balances", "transfer", nonce=n + len(FLOODERS), to=POOR.public,
                              amount=UNIT // 2))  # fmt: skip
    built = chain.produce(funding)
    assert not built.rejected
    return chain


CHAIN = _funded_chain()


def _tx(key: Keypair, nonce: int, tip: int = 0, pad: int = 0, amount: int = 1) -> bytes:
    args: dict[str, Any] = {"to": BOB.public, "amount": amount}
    if pad:  # the pool does not dispatch, so junk arguments make a large transaction
        args["pad"] = b"\x00" * pad
    return CHAIN.sign(key, "balances", "transfer", tip=tip, nonce=nonce, **args)


def _flood(pool: TxPool, plan: list[tuple[int, list[tuple[int, int, int]]]]) -> int:
    """Submit each flooder's gapped transactions (its next nonce left out)."""
    admitted = 0
    for who, txs in plan:
        key = FLOODERS[who]
        base = CHAIN.nonce(key.public)
        for offset, tip, pad in txs:
            try:
                pool.submit(CHAIN.state, _tx(key, base + offset, tip, pad))
                admitted += 1
            except PoolError:
                pass
    return admitted


flood_plans = st.lists(
    st.tuples(
        st.integers(0, len(FLOODERS) - 1),
        st.lists(
            st.tuples(st.integers(1, MAX_FUTURE_NONCES), st.integers(0, 10**6), st.integers(0, 8_000)),
            min_size=24,
            max_size=64,
        ),
    ),
    min_size=2,
    max_size=5,
)


@settings(max_examples=25)
@given(flood_plans, st.sampled_from([BOB, CHARLIE]))
def test_an_honest_ready_transfer_is_admitted_while_a_gapped_flood_fills_the_pool(
    plan: list[tuple[int, list[tuple[int, int, int]]]], honest: Keypair
) -> None:
    pool = TxPool(max_count=64, max_bytes=256 * 1024)
    _flood(pool, plan)
    assert pool.max_count == 64  # the flood never grows the pool
    pool.submit(CHAIN.state, _tx(honest, CHAIN.nonce(honest.public), tip=0))
    assert len(list(pool.ready(CHAIN.state))) == 1  # the flood itself is never ready


def test_gapped_transactions_are_refused_before_their_signature_is_checked(
    signature_checks: list[bytes],
) -> None:
    checks = signature_checks
    pool = TxPool()
    key = FLOODERS[0]
    base = CHAIN.nonce(key.public)
    with pytest.raises(PoolError, match="Future"):
        pool.submit(CHAIN.state, _tx(key, base + MAX_FUTURE_NONCES + 1))
    admitted = _flood(pool, [(0, [(offset, 0, 0) for offset in range(1, MAX_FUTURE_NONCES + 1)])])
    assert admitted < MAX_FUTURE_NONCES // 2  # a per-sender quota for gapped transactions
    assert len(checks) == admitted  # refused ones never cost a signature check


def test_a_sender_cannot_queue_more_than_it_can_pay() -> None:
    pool = TxPool()
    base = CHAIN.nonce(POOR.public)
    admitted = 0
    with pytest.raises(PoolError, match="Unpayable"):
        for i in range(40):  # 0.5 VCoin pays eight 60 kB fees, not 40
            pool.submit(CHAIN.state, _tx(POOR, base + i, pad=60_000))
            admitted += 1
    assert 0 < admitted < 40
    # a single overdraft still enters: it will pay its fee and fail in the block
    pool = TxPool()
    pool.submit(CHAIN.state, _tx(POOR, base, amount=10**6 * UNIT))


def test_a_flood_of_better_paying_gossip_cannot_take_the_nodes_own_room() -> None:
    pool = TxPool(max_count=64, max_bytes=1024 * 1024)
    for key in FLOODERS:
        base = CHAIN.nonce(key.public)
        for i in range(20):  # ready, high tips: a perfectly valid flood
            try:
                pool.submit(CHAIN.state, _tx(key, base + i, tip=10**6))
            except PoolError:
                break
    with pytest.raises(PoolError, match="PoolFull"):
        pool.submit(CHAIN.state, _tx(CHARLIE, CHAIN.nonce(CHARLIE.public), tip=1))
    # the worker's reveal (a local, zero-tip transaction) still gets in
    pool.submit(CHAIN.state, _tx(BOB, CHAIN.nonce(BOB.public), tip=0), local=True)


def test_equal_tips_take_turns_so_a_backlog_cannot_starve_a_single_transfer() -> None:
    pool = TxPool()
    # the honest sender's key sorts after every flooder's: ties by key would starve it
    honest_key = max([BOB, CHARLIE, FERDIE], key=lambda k: k.public)
    assert all(k.public < honest_key.public for k in FLOODERS)
    for key in FLOODERS[:3]:
        base = CHAIN.nonce(key.public)
        for i in range(10):
            pool.submit(CHAIN.state, _tx(key, base + i))
    honest = _tx(honest_key, CHAIN.nonce(honest_key.public))
    pool.submit(CHAIN.state, honest)
    assert list(pool.ready(CHAIN.state)).index(honest) < 4


def test_gaps_that_never_fill_expire_and_free_their_room() -> None:
    from node.pool_admission import PoolLimits

    chain = TestChain(replicate=False)
    pool = TxPool(limits=PoolLimits(future_expiry_blocks=2))
    n = chain.nonce(CHARLIE.public)
    gapped = chain.sign(CHARLIE, "balances", "transfer", nonce=n + 1, to=BOB.public, amount=1)
    pool.submit(chain.state, gapped)
    for _ in range(2):
        chain.produce([])
        assert pool.prune(chain.state) == 0
    chain.produce([])
    assert pool.prune(chain.state) == 1 and len(pool) == 0


def test_refusals_say_whom_to_blame() -> None:
    from node.pool_admission import Blame

    pool = TxPool()
    key = FLOODERS[1]
    base = CHAIN.nonce(key.public)
    cases = {
        _tx(key, base + MAX_FUTURE_NONCES + 5): Blame.SPAM,
        _tx(key, base)[:-1] + b"\x00": Blame.BAD,
        b"\x00junk": Blame.BAD,
        _tx(key, base - 1) if base else _tx(key, base): Blame.NONE,
    }
    for raw, blame in cases.items():
        with pytest.raises(PoolError) as err:
            pool.submit(CHAIN.state, raw)
            pool.submit(CHAIN.state, raw)  # the stale case at base 0: a duplicate
        assert getattr(err.value, "blame", None) is blame, err.value


def _check_books(pool: TxPool) -> None:
    """The running totals agree with the transactions, class by class."""
    from node.pool_admission import PoolLimits

    limits: PoolLimits = pool.limits
    future = [t for q in pool.by_sender.values() for t in q.future()]
    assert pool.future_count == len(future) and pool.future_bytes == sum(t.size for t in future)
    assert pool.bytes == sum(t.size for t in pool.by_hash.values()) <= limits.max_bytes
    assert len(pool) == sum(len(q.txs) for q in pool.by_sender.values()) <= limits.max_count
    assert pool.local_count == sum(t.local for t in pool.by_hash.values())
    assert len(pool) - pool.local_count <= limits.external_count
    assert pool.future_count <= limits.future_count
    for queue in pool.by_sender.values():
        assert len(queue.future()) <= limits.sender_future_count


ops = st.lists(
    st.tuples(
        st.sampled_from(["submit", "local", "block", "drop"]),
        st.integers(0, len(FLOODERS) - 1),
        st.integers(0, 24),
        st.integers(0, 3),
        st.integers(0, 4_000),
    ),
    max_size=80,
)


@settings(max_examples=30)
@given(ops)
def test_the_pool_books_stay_consistent_under_random_floods(
    steps: list[tuple[str, int, int, int, int]],
) -> None:
    pool = TxPool(max_count=24, max_bytes=48 * 1024)
    for op, who, offset, tip, pad in steps:
        key = FLOODERS[who]
        if op in ("submit", "local"):
            with contextlib.suppress(PoolError):
                pool.submit(
                    CHAIN.state, _tx(key, CHAIN.nonce(key.public) + offset, tip, pad), local=op == "local"
                )
        elif op == "drop":
            pool.remove([t.hash for t in pool.pending()[offset % 3 :: 4]])
        else:
            pool.prune(CHAIN.state)
        _check_books(pool)


def test_a_few_accounts_flooding_ready_transactions_at_equal_tips_cannot_lock_others_out() -> None:
    pool = TxPool(max_count=64, max_bytes=1024 * 1024)
    for key in FLOODERS[:3]:
        base = CHAIN.nonce(key.public)
        for i in range(40):
            with contextlib.suppress(PoolError):
                pool.submit(CHAIN.state, _tx(key, base + i, tip=0))
    assert len(pool) >= 56  # full (less the node's own share) of valid, ready, zero-tip transfers
    for honest in (BOB, CHARLIE, FERDIE):
        pool.submit(CHAIN.state, _tx(honest, CHAIN.nonce(honest.public), tip=0))
    assert len(list(pool.ready(CHAIN.state))) == len(pool)  # the hogs lost their tails, nothing stranded
