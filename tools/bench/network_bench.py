"""`vcoin bench network`: real node processes on 127.0.0.1.

- sync: a node holding `sync_blocks` blocks (built offline, sealed by the
  spec's one validator) serves a fresh node over libp2p; blocks/s from the
  fresh node's first block to the last, beside the rate at which the same
  blocks import in-process straight from disk (the limit, measured in the
  same run). The headline ratio is the first over the second.
- finality and inclusion: a 4-validator testnet with 1 s slots; the gap
  between best and finalized sampled twice a slot, and how long transfers
  submitted to one node take to be in a block.
- junk votes (issue 11): on the same testnet, a peer floods one validator
  with finality votes about blocks nobody has, coming back under a new key
  whenever it is banned; the block interval during the flood, against the
  slot time (goal: within 1.2x), beside the interval before it.
"""

import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from genesis.spec import dev_spec
from node.chain import Chain
from node.storage import ChainStore
from runtime.constants import UNIT
from runtime.crypto import dev_keypair
from tools.client import VcoinClient
from tools.procs import spawn, stop_all, wait_rpc
from tools.testnet import plan_node, plan_testnet

SLOT_SECONDS = 1


@dataclass(frozen=True)
class NetworkBenchResult:
    sync_blocks: int
    sync_seconds: float
    sync_blocks_per_s: float
    local_import_blocks_per_s: float
    ratio: float
    finality_lag_slots_median: float
    finality_lag_slots_max: int
    inclusion_seconds_median: float
    inclusion_slots_median: float
    block_interval_s: float
    junk_flood_block_interval_s: float
    junk_flood_interval_over_slot: float
    junk_flood: dict[str, Any]
    goal_sync_blocks_per_s: int = 1_000
    goal_junk_flood_interval_over_slot: float = 1.2

    def to_json(self) -> dict[str, Any]:
        return {"name": "network", **self.__dict__}


def build_chain(root: Path, blocks: int, chain_id: str = "bench-network", node: str = "server") -> Path:
    """A spec file and a base path (`root/node`) holding `blocks` sealed empty
    blocks whose slots end just before now (so none is 'in the future')."""
    spec = dev_spec()
    spec = replace(spec, id=chain_id, params=replace(spec.params, slot_seconds=1))
    spec_path = root / "spec.json"
    spec_path.write_text(spec.to_json())
    store = ChainStore(root / node / "db")
    chain = Chain(store, spec)
    alice = dev_keypair("//alice")
    first_slot = int(time.time()) - blocks - 10
    for index in range(blocks):
        chain.author_block(alice, first_slot + index, [])
    store.close()
    return spec_path


def _local_import_rate(root: Path, spec_path: Path) -> float:
    from genesis.spec import load_spec

    spec = load_spec(str(spec_path))
    source = ChainStore(root / "server" / "db")
    blocks = []
    number = 1
    while (block_hash := source.hash_at(number)) is not None:
        block = source.block(block_hash)
        assert block is not None
        blocks.append(block)
        number += 1
    source.close()
    target = ChainStore(root / "local-import")
    chain = Chain(target, spec)
    start = time.perf_counter()
    for block in blocks:
        chain.import_block(block)
    seconds = time.perf_counter() - start
    target.close()
    return len(blocks) / seconds


def _measure_sync(root: Path, spec_path: Path, blocks: int) -> tuple[float, float]:
    server = plan_node(root / "server", "server")
    client = plan_node(root / "client", "client")
    procs = [spawn(server.command(spec_path, []), root / "server.log")]
    try:
        wait_rpc(server.rpc_url, procs[0])
        procs.append(spawn(client.command(spec_path, [server.multiaddr]), root / "client.log"))
        rpc = wait_rpc(client.rpc_url, procs[1])
        started = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            best = int(rpc.call("system_health")["bestNumber"])
            now = time.monotonic()
            if best > 0 and started is None:
                started = (now, best)
            if best >= blocks and started is not None:
                seconds = now - started[0]
                return seconds, (best - started[1]) / max(seconds, 1e-6)
            time.sleep(0.05)
        raise TimeoutError("the fresh node did not sync in 10 minutes")
    finally:
        stop_all(procs)


def _measure_finality(root: Path, seconds: float, transfers: int, flood_seconds: float) -> dict[str, Any]:
    plan = plan_testnet(root / "testnet", 4, slot_seconds=SLOT_SECONDS)
    procs = [spawn(plan.command(i), root / f"validator-{i + 1}.log") for i in range(4)]
    try:
        clients = [wait_rpc(node.rpc_url, proc) for node, proc in zip(plan.nodes, procs, strict=True)]
        _wait(lambda: clients[0].call("system_health")["finalizedNumber"] >= 2, 180)
        lags = []
        start, first = time.monotonic(), _best(clients[0])
        end = start + seconds
        while time.monotonic() < end:
            health = clients[0].call("system_health")
            lags.append(int(health["bestNumber"]) - int(health["finalizedNumber"]))
            time.sleep(0.5)
        interval = (time.monotonic() - start) / max(_best(clients[0]) - first, 1)
        inclusion = _inclusion_times(clients[1], transfers)
        flood_interval, flood = _junk_vote_flood(clients[0], flood_seconds)
        return {"lags": lags, "inclusion": inclusion, "interval": interval, "flood_interval": flood_interval,
                "flood": flood}  # fmt: skip
    finally:
        stop_all(procs)


def _best(client: VcoinClient) -> int:
    return int(client.call("system_health")["bestNumber"])


def _junk_vote_flood(client: VcoinClient, seconds: float) -> tuple[float, dict[str, Any]]:
    """Blocks authored by the whole net while one validator is flooded."""
    import threading

    import trio

    from tools.bench import junk_votes

    target = client.call("system_localListenAddresses")[0]
    genesis = bytes.fromhex(client.call("chain_getBlockHash", 0)[2:])
    chain_id = client.chain_id()
    validator = dev_keypair("//bob").public
    result: dict[str, Any] = {}

    def attack() -> None:
        result.update(trio.run(junk_votes.flood, target, genesis, chain_id, validator, seconds))

    thread = threading.Thread(target=attack, daemon=True)
    start, first = time.monotonic(), _best(client)
    thread.start()
    thread.join(seconds + 30)
    blocks = _best(client) - first
    return (time.monotonic() - start) / max(blocks, 1), result


def _inclusion_times(client: VcoinClient, transfers: int) -> list[float]:
    alice, bob = dev_keypair("//alice"), dev_keypair("//bob")
    times = []
    for _ in range(transfers):
        start = time.monotonic()
        tx = client.submit_call(alice, "balances", "transfer", {"to": bob.public, "amount": UNIT})
        client.wait(tx, timeout=30, poll=0.05)
        times.append(time.monotonic() - start)
    return times


def _wait(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the testnet did not start finalizing")
        time.sleep(0.2)


def run(
    sync_blocks: int = 10_000,
    finality_seconds: float = 20.0,
    transfers: int = 10,
    flood_seconds: float = 20.0,
) -> NetworkBenchResult:
    with tempfile.TemporaryDirectory(prefix="vcoin-bench-net-") as tmp:
        root = Path(tmp)
        spec_path = build_chain(root, sync_blocks)
        local_rate = _local_import_rate(root, spec_path)
        sync_seconds, sync_rate = _measure_sync(root, spec_path, sync_blocks)
        net = _measure_finality(root, finality_seconds, transfers, flood_seconds)
    lags, inclusion_median = net["lags"], statistics.median(net["inclusion"])
    return NetworkBenchResult(
        sync_blocks=sync_blocks, sync_seconds=sync_seconds, sync_blocks_per_s=sync_rate,
        local_import_blocks_per_s=local_rate, ratio=sync_rate / local_rate,
        finality_lag_slots_median=statistics.median(lags), finality_lag_slots_max=max(lags),
        inclusion_seconds_median=inclusion_median, inclusion_slots_median=inclusion_median / SLOT_SECONDS,
        block_interval_s=net["interval"], junk_flood_block_interval_s=net["flood_interval"],
        junk_flood_interval_over_slot=net["flood_interval"] / SLOT_SECONDS, junk_flood=net["flood"],
    )  # fmt: skip
