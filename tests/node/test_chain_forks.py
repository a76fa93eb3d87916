"""Block import across forks: fork choice (`consensus.fork_choice`) picks the
longest chain holding the highest justified block, the lowest hash among
equally long heads; the canonical index and transaction index follow it,
reorganisations never cross the finalized block, and garbage blocks are
refused."""

from dataclasses import replace
from pathlib import Path

import msgpack
import pytest

from consensus.finality import Checkpoint, Vote
from consensus.fork_choice import choose_head
from genesis.spec import dev_spec
from node.chain import BlockImportError, Chain, ImportedBlock
from node.finality import FinalityGadget
from node.storage import JUSTIFIED, ChainStore
from runtime.codec import encode
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
    tie = c.import_block(fork_b[1])  # equal length: the lower hash wins, whichever came first
    assert tie.best == (fork_b[1].hash < fork_a[-1].hash)
    switch = c.import_block(fork_b[2])
    assert switch.best and switch.retracted == (() if tie.best else tuple(fork_a))
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


def _forks(tmp_path: Path, long: int = 3, short: int = 2) -> tuple[list[Block], list[Block]]:
    """Two forks from genesis: `long` blocks (slots 1..) and `short` blocks (later slots)."""
    a, b = _chain(tmp_path / "fork-a"), _chain(tmp_path / "fork-b")
    fork_a = [a.author_block(ALICE, slot, [])[0].block for slot in range(1, long + 1)]
    fork_b = [b.author_block(ALICE, 100 + slot, [])[0].block for slot in range(short)]
    a.store.close()
    b.store.close()
    return fork_a, fork_b


def _checkpoint(block: Block) -> Checkpoint:
    return Checkpoint(block.header.number, block.hash)


def test_the_shorter_fork_holding_the_justified_block_is_best(tmp_path: Path) -> None:
    fork_a, fork_b = _forks(tmp_path)
    c = _chain(tmp_path / "c")
    switches: list[ImportedBlock] = []
    c.on_switch = switches.append
    for block in [*fork_a, *fork_b]:
        c.import_block(block)
    assert c.best.hash == fork_a[-1].hash  # nothing justified yet: the longest chain
    switched = c.justify(_checkpoint(fork_b[0]))
    assert switched is not None and switches == [switched]
    assert switched.retracted == tuple(fork_a) and switched.block.hash == fork_b[-1].hash
    assert c.best.hash == fork_b[-1].hash and c.state.root == fork_b[-1].header.state_root
    assert [c.store.hash_at(n) for n in (1, 2, 3)] == [fork_b[0].hash, fork_b[1].hash, None]
    assert c.is_canonical(1, fork_b[0].hash) and not c.is_canonical(3, fork_a[-1].hash)
    # a longer chain without the justified block does not take over again
    longer = _chain(tmp_path / "fork-a2")
    for block in fork_a:
        longer.import_block(block)
    a4 = longer.author_block(ALICE, 4, [])[0].block
    assert not c.import_block(a4).best and c.best.hash == fork_b[-1].hash
    # the justified fork grows as usual
    b3 = c.author_block(ALICE, 200, [])[0].block
    assert b3.header.number == 3 and c.best.hash == b3.hash
    assert c.justify(_checkpoint(fork_b[0])) is None  # the same again: nothing moves
    assert c.justify(Checkpoint(0, c.genesis.hash)) is None  # lower: ignored


def test_a_justification_known_before_the_longer_fork_keeps_the_shorter_one(tmp_path: Path) -> None:
    fork_a, fork_b = _forks(tmp_path)
    c = _chain(tmp_path / "c")
    for block in fork_b:
        c.import_block(block)
    assert c.justify(_checkpoint(fork_b[0])) is None  # already on the best chain
    for block in fork_a:
        assert not c.import_block(block).best
    assert c.best.hash == fork_b[-1].hash


def test_a_justified_block_imported_later_becomes_best_on_arrival(tmp_path: Path) -> None:
    fork_a, fork_b = _forks(tmp_path)
    c = _chain(tmp_path / "c")
    for block in fork_a:
        c.import_block(block)
    assert c.justify(_checkpoint(fork_b[1])) is None  # not here yet: awaited (a synced justification)
    assert not c.import_block(fork_b[0]).best
    arrived = c.import_block(fork_b[1])
    assert arrived.best and arrived.retracted == tuple(fork_a)
    assert c.best.hash == fork_b[1].hash and c.justified == _checkpoint(fork_b[1])
    assert c.store.hash_at(3) is None


def test_equally_long_heads_tie_break_on_the_lowest_hash_in_any_order(tmp_path: Path) -> None:
    fork_a, fork_b = _forks(tmp_path, long=2, short=2)
    lowest = min(fork_a[-1], fork_b[-1], key=lambda block: block.hash)
    for order, blocks in {"a first": [*fork_a, *fork_b], "b first": [*fork_b, *fork_a]}.items():
        c = _chain(tmp_path / order)
        for block in blocks:
            c.import_block(block)
        assert c.best.hash == lowest.hash, order
        assert c.state.root == lowest.header.state_root
        c.store.close()
    assert choose_head([fork_a[-1].header, fork_b[-1].header], lambda h: True) == lowest.header


def test_fork_choice_never_leaves_the_finalized_chain(tmp_path: Path) -> None:
    fork_a, fork_b = _forks(tmp_path)
    c = _chain(tmp_path / "c")
    for block in [*fork_a, *fork_b]:
        c.import_block(block)
    assert c.finalize(fork_a[0].hash, None)
    assert c.justify(_checkpoint(fork_b[1])) is None  # justified on a fork below finality: not followed
    assert c.best.hash == fork_a[-1].hash and c.justified != _checkpoint(fork_b[1])
    assert c.finalize(fork_a[1].hash, None)
    assert c.justify(_checkpoint(fork_a[0])) is None  # below finality: nothing to follow
    assert c.justify(_checkpoint(fork_a[2])) is None and c.justified == _checkpoint(fork_a[2])


def test_leaves_and_the_justified_block_survive_a_restart(tmp_path: Path) -> None:
    fork_a, fork_b = _forks(tmp_path)
    c = _chain(tmp_path / "c")
    for block in [*fork_a, *fork_b]:
        c.import_block(block)
    # the finality gadget saved a justification, then the node died before following it
    c.store.put_meta(JUSTIFIED, msgpack.packb([1, fork_b[0].hash]))
    c.store.close()
    again = _chain(tmp_path / "c")
    assert again.leaves == {fork_a[-1].hash: 3, fork_b[-1].hash: 2}
    assert again.best.hash == fork_b[-1].hash and again.justified == _checkpoint(fork_b[0])


def test_votes_that_justify_the_shorter_fork_move_the_node_there_and_finalize_it(tmp_path: Path) -> None:
    fork_a, fork_b = _forks(tmp_path)
    c = _chain(tmp_path / "c")
    for block in [*fork_a, *fork_b]:
        c.import_block(block)
    gadget = FinalityGadget(c, None)
    genesis = Checkpoint(0, c.genesis.hash)
    chain_id = c.spec.chain_id
    outcome = gadget.on_vote(Vote.sign(ALICE, chain_id, genesis, _checkpoint(fork_b[0])))  # alice: all stake
    assert outcome.justified == [_checkpoint(fork_b[0])]
    assert c.best.hash == fork_b[-1].hash
    gadget.on_vote(Vote.sign(ALICE, chain_id, _checkpoint(fork_b[0]), _checkpoint(fork_b[1])))
    assert c.finalized_hash == fork_b[0].hash and c.best.hash == fork_b[-1].hash


def test_the_node_takes_back_the_transactions_of_the_fork_it_left_for_the_justified_one(
    tmp_path: Path,
) -> None:
    from node.service import Node, NodeConfig

    a, b = _chain(tmp_path / "fork-a"), _chain(tmp_path / "fork-b")
    tx = _transfer(a, 7)
    fork_a = [a.author_block(ALICE, slot, [tx] if slot == 1 else [])[0].block for slot in (1, 2, 3)]
    fork_b = [b.author_block(ALICE, slot, [])[0].block for slot in (100, 101)]
    config = NodeConfig(
        spec=dev_spec(), base_path=tmp_path / "node", dev=True, network=False, prometheus_port=None
    )
    node = Node(config)
    try:
        for block in [*fork_a, *fork_b]:
            node.import_block(block)
        assert node.chain.best.hash == fork_a[-1].hash and len(node.pool) == 0
        vote = Vote.sign(
            ALICE, node.chain.spec.chain_id, Checkpoint(0, node.chain.genesis.hash), _checkpoint(fork_b[0])
        )
        node._gossiped_votes("peer", [encode(vote.to_wire())])
        assert node.chain.best.hash == fork_b[-1].hash
        assert extrinsic_hash(tx) in node.pool.by_hash  # back in the pool, for the chain it is now on
        assert node.metrics.best._value.get() == 2  # gauges follow
    finally:
        node.store.close()
