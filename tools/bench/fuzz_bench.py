"""`vcoin bench fuzz`: every decoder a peer, an RPC client or a job
submitter reaches, fed mutated and random inputs against an in-process dev
node (the real chain, pool, finality gadget and RPC table, no network).

A case passes when the decoder answers or refuses with its declared error;
any other exception is a crash, and a case that takes longer than
`HANG_SECONDS` is a hang. The headline ratio is crashes + hangs per case,
which must be 0."""

import json
import logging
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from consensus.finality import Checkpoint, Justification, Vote
from consensus.slots import slot_at
from genesis.spec import dev_spec
from node.gossip import MESSAGE_LIMITS, decode_items
from node.p2p import _sync_item
from node.service import Node, NodeConfig
from node.txpool import PoolError
from offchain.job_input import InvalidInput, checked_input
from runtime.codec import CodecError, blake2b_256, encode
from runtime.constants import UNIT
from runtime.crypto import dev_keypair, to_address
from runtime.pallets import jobs
from runtime.types import Call, Extrinsic
from tools.bench.mutations import case, mutate_value

HANG_SECONDS = 2.0
PEER = "fuzzer"
Target = tuple[list[bytes], Callable[[bytes], Any], tuple[type[BaseException], ...]]


def _targets(node: Node) -> dict[str, Target]:
    chain, spec = node.chain, node.chain.spec
    alice, bob = dev_keypair("alice"), dev_keypair("bob")
    transfer = Extrinsic.sign(
        bob, spec.chain_id, 0, Call("balances", "transfer", {"to": alice.public, "amount": UNIT})
    )
    submit = Extrinsic.sign(bob, spec.chain_id, 1, Call("jobs", "submit", {
        "kind": "embed", "model": bytes(32), "input": encode(["a text"]), "input_hash": b"", "input_size": 0,
        "options": {}, "max_fee": UNIT, "deadline": 10, "min_reputation": 0}))  # fmt: skip
    slot = slot_at(time.time(), spec.params.slot_seconds)
    block = chain.build_sealed(alice, chain.best.hash, slot, [transfer.encode()])
    genesis = Checkpoint(0, chain.genesis.hash)
    vote = Vote.sign(alice, spec.chain_id, genesis, Checkpoint(1, block.hash))
    proof = Justification(genesis, Checkpoint(1, block.hash), (vote,)).encode()
    texts = encode(["one text", "two texts"])
    referenced = jobs.Job(
        0, bob.public, jobs.JobKind.EMBED, bytes(32), b"", blake2b_256(texts), len(texts), {}, 1, 1, 9, 0, 0
    )
    rpc = [json.dumps({"jsonrpc": "2.0", "id": 1, "method": m, "params": p}).encode() for m, p in [
        ("system_health", []), ("chain_getBlock", []), ("chain_getHeader", ["0x" + block.hash.hex()]),
        ("author_submitExtrinsic", ["0x" + transfer.encode().hex()]), ("vcoin_account", [to_address(bob.public)]),
        ("state_getStorage", ["0x00"]), ("vcoin_jobs", [{"status": "pending"}]), ("vcoin_getBlob", ["0x" + "00" * 32]),
        ("vcoin_putBlob", ["0x" + texts.hex()]), ("chain_getBlockHash", [0]), ("vcoin_proposals", []),
    ]]  # fmt: skip
    rpc.append(b"[" + b",".join(rpc[:3]) + b"]")

    def gossip(handler: Callable[[Any, list[bytes]], Any]) -> Callable[[bytes], Any]:
        return lambda item: handler(PEER, [item])  # the framing has a target of its own

    def sync_response(data: bytes) -> Any:
        import msgpack

        items = msgpack.unpackb(data, raw=False)
        if type(items) is not list:
            raise CodecError("not a list")
        return [_sync_item(item) for item in items]

    return {
        "gossip framing": ([encode([transfer.encode(), submit.encode()]), encode([block.encode()])],
                           lambda d: decode_items(d, MESSAGE_LIMITS["blocks"]), ()),
        "extrinsic gossip": ([transfer.encode(), submit.encode()], gossip(node._gossiped_extrinsics), ()),
        "block gossip": ([block.encode()], gossip(node._gossiped_blocks), ()),
        "vote gossip": ([encode(vote.to_wire())], gossip(node._gossiped_votes), ()),
        "sync response": ([encode([[block.encode(), proof], [block.encode(), None]])], sync_response,
                          (CodecError, ValueError)),
        "justification": ([proof], Justification.decode, (CodecError,)),
        "extrinsic": ([transfer.encode(), submit.encode()], lambda d: node.pool.submit(chain.state, d), (PoolError,)),
        "referenced input": ([texts, encode("a prompt")], lambda d: checked_input(referenced, d), (InvalidInput,)),
        "rpc body": (rpc, node.rpc.handle, ()),
    }  # fmt: skip


def _json_case(rng: random.Random, seeds: list[bytes]) -> bytes:
    if rng.random() < 0.5:
        return case(rng, seeds)
    value = mutate_value(rng, json.loads(rng.choice(seeds)))
    return json.dumps(value, default=lambda raw: "0x" + bytes(raw).hex()).encode()


def run(cases: int = 10_000, seed: int = 0) -> dict[str, Any]:
    rng = random.Random(seed)
    logging.disable(logging.CRITICAL)  # refusals are logged per case: millions of lines
    with tempfile.TemporaryDirectory(prefix="vcoin-fuzz-") as tmp:
        node = Node(NodeConfig(spec=dev_spec(), base_path=Path(tmp), dev=True, validator_key=dev_keypair("alice"),
                               network=False, prometheus_port=None))  # fmt: skip
        try:
            results = {name: _fuzz(rng, cases, *target, json_body=name == "rpc body")
                       for name, target in _targets(node).items()}  # fmt: skip
        finally:
            node.store.close()
            logging.disable(logging.NOTSET)
    failures = sum(r["crashes"] + r["hangs"] for r in results.values())
    total = sum(r["cases"] for r in results.values())
    return {"name": "fuzz", "ratio": failures / total, "cases": total, "failures": failures,
            "slowest_ms": max(r["slowest_ms"] for r in results.values()), "targets": results}  # fmt: skip


def _fuzz(
    rng: random.Random, cases: int, seeds: list[bytes], target: Callable[[bytes], Any],
    allowed: tuple[type[BaseException], ...], json_body: bool = False,
) -> dict[str, Any]:  # fmt: skip
    crashes: list[str] = []
    hangs, slowest, started = 0, 0.0, time.perf_counter()
    for _ in range(cases):
        data = _json_case(rng, seeds) if json_body else case(rng, seeds)
        begin = time.perf_counter()
        try:
            target(data)
        except allowed:
            pass
        except Exception as exc:
            crashes.append(f"{type(exc).__name__}: {exc} on 0x{data[:64].hex()}")
        took = time.perf_counter() - begin
        slowest = max(slowest, took)
        hangs += took > HANG_SECONDS
    seconds = time.perf_counter() - started
    return {"cases": cases, "crashes": len(crashes), "hangs": hangs, "slowest_ms": round(slowest * 1e3, 2),
            "cases_per_s": round(cases / seconds, 1), "examples": crashes[:3]}  # fmt: skip
