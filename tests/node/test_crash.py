"""SIGKILL under transaction load: nothing included is lost, every stored
block re-verifies, and the node carries on."""

import threading
import time
from pathlib import Path

import pytest

from genesis.spec import load_spec
from runtime.executive import apply_block
from runtime.genesis_state import build_genesis
from runtime.state import State
from runtime.types import Block, Header
from tests.nodeproc import NodeProcess, fast_dev_spec
from tools.client import NodeUnreachable, RpcFailure

pytestmark = pytest.mark.slow
SENDERS = ["bob", "charlie", "dave", "eve"]


def _load(node: NodeProcess, stop: threading.Event, submitted: list[str]) -> None:
    from runtime.crypto import dev_keypair

    client = node.client
    keys = [dev_keypair(n) for n in SENDERS]
    nonces = {k.public: client.next_nonce(k.public) for k in keys}
    target = dev_keypair("ferdie").public
    while not stop.is_set():
        for key in keys:
            try:
                raw = client.sign(
                    key, "balances", "transfer", {"to": target, "amount": 1_000}, nonce=nonces[key.public]
                )
                submitted.append(client.submit(raw))
                nonces[key.public] += 1
            except (NodeUnreachable, RpcFailure, OSError):
                return
        time.sleep(0.01)


def _block_from_json(data: dict) -> Block:  # type: ignore[type-arg]
    h = data["header"]
    header = Header(
        bytes.fromhex(h["parentHash"][2:]), h["number"], bytes.fromhex(h["stateRoot"][2:]),
        bytes.fromhex(h["extrinsicsRoot"][2:]), h["slot"], _account(h["author"]),
    )  # fmt: skip
    return Block(
        header, tuple(bytes.fromhex(x[2:]) for x in data["extrinsics"]), bytes.fromhex(data["seal"][2:])
    )


def _account(address: str) -> bytes:
    from runtime.crypto import from_address

    return from_address(address)


def test_sigkill_during_import_loses_nothing_included(tmp_path: Path) -> None:
    spec_file = fast_dev_spec(tmp_path / "spec.json")
    node = NodeProcess(tmp_path / "node", spec_file).start()
    stop, submitted = threading.Event(), list[str]()
    loader = threading.Thread(target=_load, args=(node, stop, submitted), daemon=True)
    loader.start()
    node.wait_for_block(node.best() + 4)
    included = [
        h for h in list(submitted) if node.rpc("vcoin_extrinsic", h)["status"] in ("inBlock", "finalized")
    ]
    node.kill()
    stop.set()
    loader.join(timeout=10)
    assert len(included) > 20, "the load did not get transactions into blocks"

    node.start()
    try:
        for tx_hash in included:
            assert node.rpc("vcoin_extrinsic", tx_hash)["status"] in ("inBlock", "finalized"), tx_hash
        best = node.best()
        node.wait_for_block(best + 1)
        state = State.in_memory()
        genesis = build_genesis(state, load_spec(str(spec_file)).genesis_config())
        assert node.rpc("chain_getBlockHash", 0) == "0x" + genesis.hash.hex()
        parent = genesis.hash
        for number in range(1, best + 1):
            block = _block_from_json(node.rpc("chain_getBlock", node.rpc("chain_getBlockHash", number)))
            assert block.header.parent_hash == parent
            assert apply_block(state, block).state_root == block.header.state_root
            parent = block.hash
    finally:
        node.stop()
