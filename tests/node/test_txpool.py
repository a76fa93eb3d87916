import pytest

from node.txpool import MAX_FUTURE_NONCES, PoolError, TxPool
from runtime.types import extrinsic_hash
from tests.chain import ALICE, BOB, CHARLIE, TestChain


def _tx(chain: TestChain, key, nonce: int, tip: int = 0, amount: int = 1) -> bytes:  # type: ignore[no-untyped-def]
    return chain.sign(key, "balances", "transfer", tip=tip, nonce=nonce, to=BOB.public, amount=amount)


def test_ready_orders_by_nonce_per_sender_and_tip_across_senders() -> None:
    chain = TestChain(replicate=False)
    pool = TxPool()
    a, c = chain.nonce(ALICE.public), chain.nonce(CHARLIE.public)
    a1, a0 = _tx(chain, ALICE, a + 1, tip=100), _tx(chain, ALICE, a, tip=1)
    c0 = _tx(chain, CHARLIE, c, tip=50)
    for raw in (a1, a0, c0):
        pool.submit(chain.state, raw)
    assert list(pool.ready(chain.state)) == [c0, a0, a1]
    built = chain.produce(list(pool.ready(chain.state)))
    assert len(built.block.extrinsics) == 3
    pool.remove([extrinsic_hash(r) for r in built.block.extrinsics])
    assert len(pool) == 0


def test_future_transactions_wait_for_the_gap() -> None:
    chain = TestChain(replicate=False)
    pool = TxPool()
    n = chain.nonce(ALICE.public)
    pool.submit(chain.state, _tx(chain, ALICE, n + 2))
    assert list(pool.ready(chain.state)) == []
    pool.submit(chain.state, _tx(chain, ALICE, n))
    assert len(list(pool.ready(chain.state))) == 1
    pool.submit(chain.state, _tx(chain, ALICE, n + 1))
    assert len(list(pool.ready(chain.state))) == 3
    assert pool.next_nonce(chain.state, ALICE.public) == n + 3
    with pytest.raises(PoolError, match="Future"):
        pool.submit(chain.state, _tx(chain, ALICE, n + MAX_FUTURE_NONCES + 1))


def test_duplicates_replacement_and_invalid() -> None:
    chain = TestChain(replicate=False)
    pool = TxPool()
    n = chain.nonce(ALICE.public)
    raw = _tx(chain, ALICE, n, tip=5)
    pool.submit(chain.state, raw)
    with pytest.raises(PoolError, match="AlreadyInPool"):
        pool.submit(chain.state, raw)
    with pytest.raises(PoolError, match="Underpriced"):
        pool.submit(chain.state, _tx(chain, ALICE, n, tip=5, amount=2))
    better = _tx(chain, ALICE, n, tip=6, amount=2)
    pool.submit(chain.state, better)
    assert list(pool.ready(chain.state)) == [better]
    with pytest.raises(PoolError, match="Malformed"):
        pool.submit(chain.state, b"\x00junk")


def test_full_pool_evicts_the_cheapest_and_refuses_cheaper() -> None:
    chain = TestChain(replicate=False)
    pool = TxPool(max_count=2)
    a, c = chain.nonce(ALICE.public), chain.nonce(CHARLIE.public)
    pool.submit(chain.state, _tx(chain, ALICE, a, tip=1))
    pool.submit(chain.state, _tx(chain, CHARLIE, c, tip=5))
    with pytest.raises(PoolError, match="PoolFull"):
        pool.submit(chain.state, _tx(chain, BOB, chain.nonce(BOB.public), tip=1))
    pool.submit(chain.state, _tx(chain, BOB, chain.nonce(BOB.public), tip=9))
    assert len(pool) == 2
    assert {tx.sender for tx in pool.pending()} == {BOB.public, CHARLIE.public}


def test_prune_drops_what_a_block_made_stale() -> None:
    chain = TestChain(replicate=False)
    pool = TxPool()
    n = chain.nonce(ALICE.public)
    pool.submit(chain.state, _tx(chain, ALICE, n, tip=1))
    chain.produce([_tx(chain, ALICE, n, tip=2)])  # another tx took the nonce
    assert pool.prune(chain.state) == 1 and len(pool) == 0


def test_full_blocks_leave_valid_transactions_in_the_pool() -> None:
    from runtime.executive import build_block

    chain = TestChain(replicate=False)
    pool = TxPool()
    n = chain.nonce(ALICE.public)
    for i in range(10):
        pool.submit(chain.state, _tx(chain, ALICE, n + i))
    built = build_block(
        chain.state,
        chain.head.hash,
        chain.head.slot + 1,
        ALICE.public,
        list(pool.ready(chain.state)),
        max_extrinsics=4,
    )
    pool.remove([extrinsic_hash(r) for r in built.block.extrinsics])
    pool.prune(chain.state)
    assert len(built.block.extrinsics) == 4 and len(pool) == 6
    assert len(list(pool.ready(chain.state))) == 6


def test_pool_vouches_only_for_the_exact_bytes_it_verified() -> None:
    """Import may skip the signature check of a pending transaction: the pool
    checked those very bytes. Anything else (a forged twin) is checked again."""
    from runtime.executive import apply_block

    chain = TestChain(replicate=False)
    pool = TxPool()
    n = chain.nonce(ALICE.public)
    raw = _tx(chain, ALICE, n)
    pool.submit(chain.state, raw)
    assert pool.verified(raw)
    forged = raw[:-1] + bytes([raw[-1] ^ 1])  # same transaction, broken signature
    assert not pool.verified(forged)
    replica = TestChain(replicate=False)
    built = chain.produce([raw])
    result = apply_block(replica.state, built.block, pool.verified)
    assert result.state_root == built.block.header.state_root
    twin = TestChain(replicate=False)
    built_forged = twin.produce([forged])  # the author refuses it: bad signature
    assert forged not in built_forged.block.extrinsics
