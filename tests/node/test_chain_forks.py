"""Block import across forks: the longest chain wins, the canonical index and
transaction index follow it, and garbage blocks are refused."""

from dataclasses import replace
from pathlib import Path

import pytest

from genesis.spec import dev_spec
from node.chain import BlockImportError, Chain
from node.storage import ChainStore
from runtime.types import Block, extrinsic_hash
from tests.chain import ALICE, BOB


def _chain(path: Path) -> Chain:
    return Chain(ChainStore(path), dev_spec())


def _transfer(chain: Chain, amount: int) -> bytes:
    from runtime.pallets import balances
    from runtime.types import Call, Extrinsic

    nonce = balances.get(chain.state, ALICE.public).nonce
    return Extrinsic.sign(
        ALICE, chain.spec.chain_id, nonce, Call("balances", "transfer", {"to": BOB.public, "amount": amount})
    ).encode()


def test_longest_fork_wins_and_indices_follow(tmp_path: Path) -> None:
    a, b, c = _chain(tmp_path / "a"), _chain(tmp_path / "b"), _chain(tmp_path / "c")
    tx_a = _transfer(a, 1)
    fork_a = [a.author_block(ALICE, slot, [tx_a] if slot == 1 else [])[0].block for slot in (1, 2)]
    tx_b = _transfer(b, 2)
    fork_b = [b.author_block(ALICE, slot, [tx_b] if slot == 3 else [])[0].block for slot in (3, 4, 5)]
    for block in fork_a:
        assert c.import_block(block).best
    assert c.store.tx_location(extrinsic_hash(tx_a)) is not None
    first = c.import_block(fork_b[0])
    assert not first.best and c.best.hash == fork_a[-1].hash
    assert not c.import_block(fork_b[1]).best  # equal length: the first seen stays
    switch = c.import_block(fork_b[2])
    assert switch.best and switch.retracted == tuple(fork_a)
    assert c.best.hash == fork_b[-1].hash and c.state.root == fork_b[-1].header.state_root
    assert [c.store.hash_at(n) for n in (1, 2, 3)] == [blk.hash for blk in fork_b]
    assert c.store.tx_location(extrinsic_hash(tx_b)) is not None
    assert c.store.tx_location(extrinsic_hash(tx_a)) is None  # left behind with its fork
    # the chain goes on from the new head
    assert c.author_block(ALICE, 6, [])[0].block.header.number == 4


def test_bad_blocks_are_refused_and_change_nothing(tmp_path: Path) -> None:
    a, c = _chain(tmp_path / "a"), _chain(tmp_path / "c")
    good = a.author_block(ALICE, 1, [])[0].block
    root = c.state.root
    cases = {
        "unknown parent": replace(good, header=replace(good.header, parent_hash=b"\x09" * 32)),
        "bad seal": replace(good, seal=bytes(64)),
        "wrong author": Block(replace(good.header, author=BOB.public), good.extrinsics, BOB.sign(b"x")),
        "state root": replace(good, header=replace(good.header, state_root=b"\x01" * 32)),
        "follow": replace(good, header=replace(good.header, number=5)),
    }
    for reason, block in cases.items():
        with pytest.raises(BlockImportError):
            c.import_block(block)
        assert c.state.root == root, reason
    c.import_block(good)
    with pytest.raises(BlockImportError, match="already imported"):
        c.import_block(good)


def test_a_fork_below_the_finalized_block_is_refused(tmp_path: Path) -> None:
    a = _chain(tmp_path / "a")
    c = Chain(ChainStore(tmp_path / "c"), dev_spec(), instant_finality=True)
    b = _chain(tmp_path / "b")
    for slot in (1, 2):
        c.import_block(a.author_block(ALICE, slot, [])[0].block)
    fork = [b.author_block(ALICE, slot, [])[0].block for slot in (3, 4, 5)]
    c.import_block(fork[0])
    c.import_block(fork[1])
    with pytest.raises(BlockImportError, match="finalized"):
        c.import_block(fork[2])
