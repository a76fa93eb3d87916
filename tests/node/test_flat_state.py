"""The node's flat state (node.flat_state over runtime.flat): reads at the
best chain's roots come from diff layers over a LevelDB table kept at the
finalized root, and answer what the trie answers, through random blocks,
forks, finality moves and restarts; a lost or stale table is rebuilt."""

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genesis.spec import dev_spec
from node.chain import Chain
from node.storage import FLAT_PREFIX, FLAT_ROOT, ChainStore
from runtime.flat import MISS
from runtime.merkle import decode
from runtime.pallets import balances
from runtime.types import Call, Extrinsic
from tests.chain import ALICE, BOB

steps = st.lists(
    st.one_of(
        st.tuples(st.just("block"), st.integers(0, 1_000), st.integers(0, 3)),
        st.tuples(st.just("final"), st.integers(0, 1_000), st.just(0)),
        st.tuples(st.just("restart"), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=14,
)


def _table(chain: Chain) -> dict[bytes, bytes]:
    n = len(FLAT_PREFIX)
    return {key[n:]: value for key, value in chain.store.db.iterator(prefix=FLAT_PREFIX)}


def _block_on(chain: Chain, parent_hash: bytes, slot: int, transfers: int) -> bytes:
    state = chain.state_at(parent_hash)
    assert state is not None
    nonce = balances.get(state, ALICE.public).nonce
    txs = [
        Extrinsic.sign(
            ALICE,
            chain.spec.chain_id,
            nonce + i,
            Call("balances", "transfer", {"to": BOB.public, "amount": slot}),
        ).encode()
        for i in range(transfers)
    ]
    block = chain.build_sealed(ALICE, parent_hash, slot, txs)
    chain.import_block(block)
    return block.hash


def alive(chain: Chain, block_hash: bytes) -> bool:
    """On the canonical chain or on a branch from the finalized block: a
    block may be built on it."""
    header = chain.store.header(block_hash)
    final = chain.finalized
    while header is not None and header.number > final.number:
        header = chain.store.header(header.parent_hash)
    return header is not None and (
        header.hash == final.hash or chain.is_canonical(header.number, header.hash)
    )


def _check(chain: Chain, blocks: list[bytes]) -> None:
    final = chain.finalized
    assert chain.store.meta(FLAT_ROOT) == final.state_root == chain.flat.root
    assert _table(chain) == dict(chain.trie.items(final.state_root))
    assert chain.flat.covers(chain.best.state_root)
    for block_hash in blocks:
        header = chain.store.header(block_hash)
        assert header is not None
        truth = dict(chain.trie.items(header.state_root))
        state = chain.state_at(block_hash)
        assert state is not None
        for key in [*truth, b"no such key"]:
            assert state.get(key) == truth.get(key)
            answer = chain.flat.get(header.state_root, key)
            assert answer is MISS or answer == truth.get(key)
    for key, value in chain.trie.items(chain.best.state_root):
        assert chain.state.get(key) == value


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps)
def test_flat_reads_equal_trie_reads_through_forks_finality_and_restarts(
    tmp_path: Path, script: list[Any]
) -> None:
    path = tmp_path / f"db{len(list(tmp_path.iterdir()))}"
    chain = Chain(ChainStore(path), dev_spec())
    blocks = [chain.genesis.hash]
    slot = 0
    try:
        for kind, pick, transfers in script:
            if kind == "block":
                above = [h for h in blocks if alive(chain, h)]
                slot += 1
                blocks.append(_block_on(chain, above[pick % len(above)], slot, transfers))
            elif kind == "final":
                canonical = [h for h in blocks if chain.is_canonical(chain.store.header(h).number, h)]  # type: ignore[union-attr]
                chain.finalize(canonical[pick % len(canonical)], None)
            else:
                chain.store.close()
                chain = Chain(ChainStore(path), dev_spec())
            _check(chain, blocks)
    finally:
        chain.store.close()


def _grown(path: Path, blocks: int) -> Chain:
    chain = Chain(ChainStore(path), dev_spec())
    for slot in range(1, blocks + 1):
        _block_on(chain, chain.best.hash, slot, 2)
    return chain


def test_best_chain_reads_do_not_walk_the_trie(tmp_path: Path) -> None:
    chain = _grown(tmp_path / "db", 4)
    chain.finalize(chain.store.hash_at(2), None)  # type: ignore[arg-type]
    fresh = chain.new_state(chain.best.state_root)

    def walk(*_: object) -> None:
        raise AssertionError("walked the trie")

    chain.trie.get = walk  # type: ignore[method-assign, assignment]
    assert balances.get(fresh, BOB.public).free > 0
    chain.store.close()


@pytest.mark.parametrize("damage", ["lost", "stale", "half rebuilt"])
def test_a_lost_or_stale_table_is_rebuilt_on_start(tmp_path: Path, damage: str) -> None:
    chain = _grown(tmp_path / "db", 3)
    chain.finalize(chain.store.hash_at(1), None)  # type: ignore[arg-type]
    old_root = chain.flat.root
    chain.finalize(chain.store.hash_at(3), None)  # type: ignore[arg-type]
    store = chain.store
    if damage == "lost":
        store.clear_flat()
    elif damage == "stale":  # the table at an older root, as an old build would leave it
        store.clear_flat()
        store.fill_flat(dict(chain.trie.items(old_root)))
        store.move_flat((old_root, {}))
    else:  # died midway through a rebuild: some keys, no root
        store.clear_flat()
        store.fill_flat(dict(list(chain.trie.items(old_root))[:5]))
    store.close()
    again = Chain(ChainStore(tmp_path / "db"), dev_spec())
    try:
        _check(again, [again.store.hash_at(n) for n in range(4)])  # type: ignore[misc]
    finally:
        again.store.close()


def test_a_reopened_chain_has_its_best_state_warmed_and_imports_without_a_cold_read(tmp_path: Path) -> None:
    chain = _grown(tmp_path / "db", 3)
    state = chain.state_at(chain.best.hash)
    assert state is not None
    nonce = balances.get(state, ALICE.public).nonce
    tx = Extrinsic.sign(
        ALICE, chain.spec.chain_id, nonce, Call("balances", "transfer", {"to": BOB.public, "amount": 5})
    )
    block = chain.build_sealed(ALICE, chain.best.hash, 4, [tx.encode()])  # built, not imported
    chain.store.close()
    reopened = Chain(ChainStore(tmp_path / "db"), dev_spec())
    try:
        cached = {node_hash for node_hash, _ in reopened.trie._cache.items()}
        assert _node_hashes(reopened, reopened.best.state_root) <= cached  # a dev state fits whole
        nodes, reads = reopened.store.nodes, []
        real_get = nodes.get

        def get(key: bytes) -> bytes | None:
            if key not in nodes.pending:  # this block's own nodes wait in memory
                reads.append(key)
            return real_get(key)

        nodes.get = get  # type: ignore[method-assign]
        reopened.import_block(block)
        assert reads == [] and reopened.best.hash == block.hash
    finally:
        reopened.store.close()


def _node_hashes(chain: Chain, root: bytes) -> set[bytes]:
    level, seen = [root], set()
    while level:
        seen.update(level)
        level = [
            c for h in level if (n := decode(chain.trie._fetch(h)))[0] == 1 for c in n[1] if c != bytes(32)
        ]
    return seen
