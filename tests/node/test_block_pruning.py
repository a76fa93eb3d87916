"""Block pruning (node.block_pruning, `--blocks-pruning N`): the bodies of
blocks that finality leaves N behind go, everything else a client or a
peer reads about them stays, RPC says why a body is missing, and a kill
between two heights resumes where it stopped."""

from pathlib import Path

import pytest

from genesis.spec import dev_spec
from node import block_pruning
from node.block_pruning import BLOCKS_PRUNED_THROUGH, BlockPruner
from node.chain import Chain
from node.cli import _pruning
from node.rpc import RpcError
from node.rpc_bodies import body_of
from node.storage import ChainStore
from runtime.types import extrinsic_hash
from tests.chain import ALICE
from tests.node.test_chain_forks import _transfer
from tests.nodeproc import NodeProcess, fast_dev_spec, wait_until
from tools.client import RpcFailure


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


def test_the_flag_takes_a_count_or_archive() -> None:
    assert _pruning("archive") is None and _pruning("64") == 64
    with pytest.raises(Exception, match="at least 1"):
        _pruning("0")


@pytest.mark.slow
def test_a_node_run_with_blocks_pruning_answers_for_what_it_dropped(tmp_path: Path) -> None:
    spec_file = fast_dev_spec(tmp_path / "spec.json")
    node = NodeProcess(tmp_path / "node", spec_file, extra=["--blocks-pruning", "2"])
    node.start()
    try:

        def finalized() -> int:
            return int(node.rpc("chain_getHeader", node.rpc("chain_getFinalizedHead"))["number"])

        wait_until(lambda: finalized() >= 5, 60, "block #5 finalized")
        early = node.rpc("chain_getBlockHash", 1)
        with pytest.raises(RpcFailure, match=r"#1 pruned.*--blocks-pruning archive"):
            node.rpc("chain_getBlock", early)
        assert node.rpc("chain_getHeader", early)["number"] == 1  # the header stays
        assert node.rpc("chain_getBlock")["header"]["number"] >= 5  # the head's body is here
    finally:
        assert node.stop() == 0
