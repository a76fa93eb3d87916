"""Block pruning (node.block_pruning, `--blocks-pruning N`): the bodies of
blocks that finality leaves N behind go, everything else a client or a
peer reads about them stays, RPC says why a body is missing, and a kill
between two heights resumes where it stopped."""

import argparse
from pathlib import Path

import pytest

from genesis.spec import dev_spec
from node import block_pruning
from node.block_pruning import BLOCKS_PRUNED_THROUGH, MIN_KEEP, BlockPruner
from node.chain import Chain
from node.cli import _blocks_pruning
from node.rpc import RpcError
from node.rpc_bodies import body_of
from node.service import Node, NodeConfig
from node.storage import WARP_FROM, ChainStore
from runtime.types import extrinsic_hash
from tests.chain import ALICE
from tests.node.test_chain_forks import _transfer
from tests.node.test_node_cli import captured  # noqa: F401, F811 (a fixture)
from tools import cli as tools_cli


def _chain(path: Path, keep: int | None) -> Chain:
    return Chain(ChainStore(path), dev_spec(), instant_finality=True, blocks_pruning=keep)


def _grow(chain: Chain, blocks: int) -> list[bytes]:
    """`blocks` blocks, each with one transfer; their transactions' hashes."""
    sent = []
    for _ in range(blocks):
        raw = _transfer(chain, 1)
        imported, rejected = chain.author_block(ALICE, chain.best.slot + 1, [raw])
        assert not rejected and imported.best
        sent.append(extrinsic_hash(raw))
    return sent


def test_bodies_behind_the_window_go_and_the_rest_stays(tmp_path: Path) -> None:
    chain = _chain(tmp_path / "db", keep=3)
    try:
        sent = _grow(chain, 8)  # each block final as it lands: the finalized block is #8
        assert chain.store.block(chain.genesis.hash) is not None  # genesis keeps its body
        for number in range(1, 9):
            header = chain.store.header(chain.store.hash_at(number) or b"")
            assert header is not None  # headers and the number index stay
            held = chain.store.block(header.hash) is not None
            assert held == (number > 8 - 3), number
            if not held:
                with pytest.raises(RpcError, match=f"#{number} pruned.*--blocks-pruning archive"):
                    body_of(chain, header)
            else:
                assert body_of(chain, header).header == header
        assert all(chain.store.tx_location(tx) is not None for tx in sent)  # the transaction index stays
        assert chain.block_pruner.floor == 6 and chain.block_pruner.bodies_deleted == 5
    finally:
        chain.store.close()


def test_archive_keeps_every_body_and_says_nothing(tmp_path: Path) -> None:
    chain = _chain(tmp_path / "db", keep=None)
    try:
        _grow(chain, 4)
        assert all(chain.store.block(chain.store.hash_at(n) or b"") is not None for n in range(5))
        assert chain.block_pruner.message(1) is None and chain.store.meta(BLOCKS_PRUNED_THROUGH) is None
    finally:
        chain.store.close()


def test_a_kill_between_heights_resumes_from_the_mark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = _chain(tmp_path / "db", keep=None)  # an archive run first: 10 bodies held
    _grow(chain, 10)
    chain.store.close()
    store = ChainStore(tmp_path / "db")
    pruner = BlockPruner(store, keep=2)
    done = 0
    original = store.prune_body

    def dying(*args: object) -> bool:
        nonlocal done
        if done == 4:
            raise KeyboardInterrupt  # the process dies here: heights 0..3 written, 4 not
        done += 1
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "prune_body", dying)
    with pytest.raises(KeyboardInterrupt):
        pruner.finalized(10)
    store.close()

    chain = _chain(tmp_path / "db", keep=2)  # restarted with pruning on
    try:
        assert chain.block_pruner.floor == 5  # the mark: heights 1-4 were done whole
        assert chain.store.block(chain.store.hash_at(5) or b"") is not None
        _grow(chain, 1)  # finality moves: the rest goes
        held = [chain.store.block(chain.store.hash_at(n) or b"") is not None for n in range(12)]
        assert held == [True] + [False] * 9 + [True] * 2
    finally:
        chain.store.close()


def test_catching_up_over_a_long_archive_is_spread_over_blocks(tmp_path: Path) -> None:
    chain = _chain(tmp_path / "db", keep=None)
    _grow(chain, 6)
    chain.store.close()
    store = ChainStore(tmp_path / "db")
    try:
        pruner = BlockPruner(store, keep=1)
        old, block_pruning.HEIGHTS_PER_CALL = block_pruning.HEIGHTS_PER_CALL, 2
        try:
            pruner.finalized(6)
            assert pruner.floor == 3  # two heights (1 and 2) this call, the rest at the next ones
            pruner.finalized(6)
            pruner.finalized(6)
            assert pruner.floor == 6
        finally:
            block_pruning.HEIGHTS_PER_CALL = old
    finally:
        store.close()


def test_the_flag_takes_a_count_from_its_minimum_or_archive() -> None:
    assert _blocks_pruning("archive") is None and _blocks_pruning(str(MIN_KEEP)) == MIN_KEEP
    with pytest.raises(argparse.ArgumentTypeError, match=f"at least {MIN_KEEP}"):
        _blocks_pruning(str(MIN_KEEP - 1))


def test_the_node_takes_the_flag_and_its_chain_prunes(captured: list[NodeConfig], tmp_path: Path) -> None:  # noqa: F811
    assert (
        tools_cli.main(["node", "--dev", "--base-path", str(tmp_path / "a"), "--blocks-pruning", "300"]) == 0
    )
    assert captured[-1].blocks_pruning == 300
    assert tools_cli.main(["node", "--dev", "--base-path", str(tmp_path / "b")]) == 0
    assert captured[-1].blocks_pruning is None  # archive by default
    config = NodeConfig(spec=dev_spec(), base_path=tmp_path / "c", dev=True, network=False, prometheus_port=None,
                        blocks_pruning=3)  # fmt: skip
    node = Node(config)
    try:
        assert node.chain.block_pruner.keep == 3
    finally:
        node.store.close()


def test_a_warp_synced_node_starts_above_its_gap_and_says_which_it_is(tmp_path: Path) -> None:
    chain = _chain(tmp_path / "db", keep=None)
    _grow(chain, 6)
    chain.store.put_meta(WARP_FROM, (4).to_bytes(8, "big"))  # as if bodies below #4 were never fetched
    chain.store.close()
    chain = _chain(tmp_path / "db", keep=1)
    try:
        assert chain.block_pruner.floor == 4  # no walk over the heights it never held
        header = chain.store.header(chain.store.hash_at(2) or b"")
        assert header is not None
        chain.store.db.delete(b"b:" + header.hash)  # as a warp-synced node: no body below #4
        with pytest.raises(RpcError, match="warp-synced from #4"):
            body_of(chain, header)
    finally:
        chain.store.close()
