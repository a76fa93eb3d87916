"""Issue 12, cause 5: importing a block of thousands of transfers must not
stall the node. The work runs in a worker thread (`Node.import_block_async`),
so RPC is answered while it runs; here a `system_health` request sent once
the import is under way is answered before the import ends, still showing
the old best block, in a small part of the import's time."""

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import trio

from consensus.slots import expected_author, slot_at
from node.http import rpc_app, serve_app
from runtime.crypto import dev_keypair
from runtime.types import Block, Call, Extrinsic
from tests.nodeproc import in_process_dev_node
from tools.testnet import free_port

SENDERS = ("alice", "bob", "charlie", "dave", "eve", "ferdie")
PER_SENDER = 500  # 3,000 transfers: what a block may carry (its budget)


def _heavy_block(author: Any) -> Block:
    """A block of thousands of transfers, sealed by //alice (the dev chain's
    one validator) for the current slot, built by another node."""
    keys = [dev_keypair(f"//{name}") for name in SENDERS]
    chain_id = author.chain.spec.chain_id
    raws = [
        Extrinsic.sign(key, chain_id, nonce, Call("balances", "transfer", {"to": keys[i - 1].public, "amount": 1}))
        .encode()
        for nonce in range(PER_SENDER)
        for i, key in enumerate(keys)
    ]  # fmt: skip
    alice = keys[0]
    slot = slot_at(time.time(), author.chain.spec.params.slot_seconds)
    while expected_author(slot, author.chain.validators()) != alice.public:
        slot += 1
    prepared, rejected = author.chain.prepare_author(alice, slot, raws, None)
    assert not rejected
    block: Block = author.chain.adopt(prepared).block
    return block


def _health(port: int) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "system_health", "params": []}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["result"]  # type: ignore[no-any-return]


def test_rpc_is_answered_while_a_heavy_block_imports(tmp_path: Path) -> None:
    with in_process_dev_node(tmp_path / "author") as author, in_process_dev_node(tmp_path / "node") as node:
        block = _heavy_block(author)
        assert len(block.extrinsics) >= 2_000
        port = free_port()
        times: dict[str, float] = {}

        async def import_it() -> None:
            await node.import_block_async(block)
            times["imported"] = time.perf_counter()

        async def main() -> dict[str, Any]:
            async with trio.open_nursery() as nursery:
                await nursery.start(serve_app, rpc_app(node.rpc, 1 << 20), "127.0.0.1", port, "JSON-RPC")
                assert (await trio.to_thread.run_sync(_health, port))["bestNumber"] == 0  # the server is up
                nursery.start_soon(import_it)
                while not node.chain_lock.locked():  # the import is under way
                    await trio.sleep(0)
                times["started"] = time.perf_counter()
                health = await trio.to_thread.run_sync(_health, port)
                times["answered"] = time.perf_counter()
                with trio.fail_after(120):
                    while "imported" not in times:
                        await trio.sleep(0.01)
                nursery.cancel_scope.cancel()
            return health

        health = trio.run(main)
        assert node.chain.best.number == 1
        assert health["bestNumber"] == 0  # answered before the block was adopted
        assert times["answered"] < times["imported"]
        answer, duration = times["answered"] - times["started"], times["imported"] - times["started"]
        assert answer < duration / 2, f"RPC took {answer:.3f} s of a {duration:.3f} s import"
