"""A pruning node as its users meet it: RPC on a pruned block answers a
clear error, and SIGKILL while it prunes (under transaction load) leaves
every kept state whole, with the node carrying on."""

import threading
from pathlib import Path

import pytest

from genesis.spec import load_spec
from node.chain import Chain
from node.state_pruning import StatePruned
from node.storage import ChainStore
from runtime.crypto import dev_keypair, to_address
from runtime.merkle import EMPTY_ROOT, MemoryNodeStore, TrieDB
from tests.node.test_crash import _load
from tests.nodeproc import NodeProcess, fast_dev_spec
from tools.client import RpcFailure

pytestmark = pytest.mark.slow
ALICE = to_address(dev_keypair("alice").public)


def test_sigkill_while_pruning_keeps_every_kept_state(tmp_path: Path) -> None:
    spec_file = fast_dev_spec(tmp_path / "spec.json")
    # one node per write, so most of the pruner's time is inside a height
    node = NodeProcess(tmp_path / "node", spec_file, extra=["--state-pruning", "2"])
    node.env = {"VCOIN_PRUNE_CHUNK": "1"}
    node.start()
    try:
        first: list[str] = []
        for _ in range(2):
            stop, submitted = threading.Event(), list[str]()
            loader = threading.Thread(target=_load, args=(node, stop, submitted), daemon=True)
            loader.start()
            node.wait_for_block(node.best() + 3)
            node.kill()
            stop.set()
            loader.join(timeout=10)
            first = first or submitted[:1]
            node.start()
        best = node.best()
        node.wait_for_block(best + 1)
        early = node.rpc("chain_getBlockHash", 1)
        with pytest.raises(RpcFailure, match="pruned.*--state-pruning archive"):
            node.rpc("vcoin_account", ALICE, early)
        with pytest.raises(RpcFailure, match="pruned"):
            node.rpc("state_getStorage", "0x00", early)
        with pytest.raises(RpcFailure, match="events of block #1 are pruned"):
            node.rpc("chain_getEvents", early)
        old = node.rpc("vcoin_extrinsic", first[0])  # gone with its block's state, the block still known
        assert old["status"] == "finalized" and old["events"] is None and "pruned" in old["detail"]
        assert int(node.rpc("vcoin_account", ALICE)["free"]) > 0
    finally:
        assert node.stop() == 0

    store = ChainStore(tmp_path / "node" / "db")
    try:
        chain = Chain(store, load_spec(str(spec_file)), state_pruning=2)
        floor = chain.pruner.floor
        assert floor >= chain.finalized.number - 1 > 0
        for number in range(floor, chain.best.number + 1):
            block_hash = store.hash_at(number)
            header = None if block_hash is None else store.header(block_hash)
            assert header is not None
            items = dict(chain.trie.items(header.state_root))  # every node is there
            assert TrieDB(MemoryNodeStore()).update(EMPTY_ROOT, items) == header.state_root
        below = store.hash_at(floor - 1)
        assert below is not None
        with pytest.raises(StatePruned):
            chain.state_at(below)
    finally:
        store.close()
