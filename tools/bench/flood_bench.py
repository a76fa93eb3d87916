"""`vcoin bench flood`: a transaction flood at ten times the block capacity
against an in-process dev node (its real pool, authoring and import; no
network, and slots as fast as the node can author them).

Flood accounts send large transactions worth `overload` x the block's byte
capacity per block: half a ready run at zero tip, half gapped nonces that
tip high (the jam of issue 11). Beside them, five honest accounts send one
small zero-tip transfer per block. Reported: how many blocks an honest
transfer waits (p50, p99; the headline ratio is the p99), honest transfers
refused or never included (must be 0), and the pool's bytes at their peak
against its cap.
"""

import contextlib
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from genesis.spec import dev_spec
from node.pool_admission import PoolError
from node.service import Node, NodeConfig
from runtime.constants import MAX_BLOCK_BYTES, UNIT
from runtime.crypto import Keypair, dev_keypair
from runtime.types import Call, Extrinsic, extrinsic_hash

FLOODERS = 24
FLOOD_TX_BYTES = 16 * 1024
HONEST = ("bob", "charlie", "dave", "eve", "ferdie")
DRAIN_BLOCKS = 20


def _sign(node: Node, key: Keypair, nonce: int, tip: int = 0, pad: int = 0) -> bytes:
    args: dict[str, Any] = {"to": key.public, "amount": 1}
    if pad:  # an argument the call refuses: it is included, pays its fee and fails
        args["pad"] = b"\x00" * pad
    call = Call("balances", "transfer", args)
    return Extrinsic.sign(key, node.chain.spec.chain_id, nonce, call, tip).encode()


def _author(node: Node) -> list[bytes]:
    imported = node.author_slot(node.chain.best.slot + 1)
    assert imported is not None, "the dev validator authors every slot"
    return [extrinsic_hash(raw) for raw in imported.block.extrinsics]


def _fund(node: Node, flooders: list[Keypair]) -> None:
    alice = dev_keypair("alice")
    for key in flooders:
        nonce = node.pool.next_nonce(node.chain.state, alice.public)
        call = Call("balances", "transfer", {"to": key.public, "amount": 10_000 * UNIT})
        node.submit_extrinsic(Extrinsic.sign(alice, node.chain.spec.chain_id, nonce, call).encode())
    _author(node)


def _flood(node: Node, flooders: list[Keypair], per_block: int, round_: int) -> int:
    """Submit one block's worth of flood; returns the bytes offered."""
    state, offered = node.chain.state, 0
    pad = FLOOD_TX_BYTES - 200
    for i in range(per_block):
        key = flooders[i % len(flooders)]
        if i % 2 == 0:  # a ready run at zero tip
            raw = _sign(node, key, node.pool.next_nonce(state, key.public), pad=pad)
        else:  # a gap that never fills, tipping high
            gap = node.pool.next_nonce(state, key.public) + 2 + (i + round_) % 60
            raw = _sign(node, key, gap, tip=1_000 + i, pad=pad)
        offered += len(raw)
        with contextlib.suppress(PoolError):
            node.pool.submit(state, raw)  # as gossip or RPC would
    return offered


def run(seconds: float = 60.0, overload: int = 10) -> dict[str, Any]:
    logging.disable(logging.INFO)  # one line per block and per refusal otherwise
    flooders = [dev_keypair(f"flood-{i}") for i in range(FLOODERS)]
    per_block = overload * MAX_BLOCK_BYTES // FLOOD_TX_BYTES
    with tempfile.TemporaryDirectory(prefix="vcoin-bench-flood-") as tmp:
        node = Node(NodeConfig(spec=dev_spec(), base_path=Path(tmp), dev=True, validator_key=dev_keypair("alice"),
                               network=False, prometheus_port=None))  # fmt: skip
        try:
            _fund(node, flooders)
            figures = _measure(node, flooders, per_block, seconds)
            figures["pool_cap_bytes"] = node.pool.max_bytes
        finally:
            node.store.close()
            logging.disable(logging.NOTSET)
    return {"name": "flood", "ratio": float(figures["honest_inclusion_p99_blocks"]), **figures,
            "block_capacity_bytes": MAX_BLOCK_BYTES, "seconds": seconds, "goal_inclusion_p99_blocks": 2}  # fmt: skip


def _measure(node: Node, flooders: list[Keypair], per_block: int, seconds: float) -> dict[str, Any]:
    honest = [dev_keypair(name) for name in HONEST]
    waiting: dict[bytes, int] = {}  # honest tx hash -> best number when submitted
    waits: list[int] = []
    refused = blocks = offered = peak_bytes = peak_count = drain = 0
    end = time.monotonic() + seconds
    while True:
        if time.monotonic() >= end:  # flood over: give the honest stragglers a few blocks
            if not waiting or drain >= DRAIN_BLOCKS:
                break
            drain += 1
        else:
            offered += _flood(node, flooders, per_block, blocks)
            for key in honest:  # after the flood: the pool is as full as it gets
                raw = _sign(node, key, node.pool.next_nonce(node.chain.state, key.public))
                try:
                    waiting[node.submit_extrinsic(raw)] = node.chain.best.number
                except PoolError:
                    refused += 1
        peak_bytes, peak_count = max(peak_bytes, node.pool.bytes), max(peak_count, len(node.pool))
        included = _author(node)
        blocks += 1
        waits += [node.chain.best.number - waiting.pop(h) for h in included if h in waiting]
    flooded = blocks - drain
    return {
        "honest_inclusion_p50_blocks": _percentile(waits, 50), "honest_inclusion_p99_blocks": _percentile(waits, 99),
        "honest_included": len(waits), "honest_refused": refused, "honest_lost": len(waiting), "blocks": blocks,
        "flood_bytes_per_block": offered // max(flooded, 1),
        "flood_over_capacity": offered / max(flooded, 1) / MAX_BLOCK_BYTES,
        "pool_peak_bytes": peak_bytes, "pool_peak_count": peak_count,
    }  # fmt: skip


def _percentile(values: list[int], pct: int) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, (len(ordered) * pct + 99) // 100 - 1)]
