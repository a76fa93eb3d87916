"""`vcoin bench runtime`: signed transfers applied per second through the
full dispatch path (decode, nonce, fee, signature, call, state root), beside
bare ed25519 verifies per second measured in the same run on the same core."""

import random
import time
from dataclasses import dataclass
from typing import Any

from genesis.spec import build_spec
from runtime.constants import UNIT
from runtime.crypto import Keypair, verify
from runtime.executive import apply_block, build_block
from runtime.genesis_state import build_genesis
from runtime.state import State
from runtime.types import Block, Call, Extrinsic


@dataclass(frozen=True)
class RuntimeBenchResult:
    transfers: int
    blocks: int
    accounts: int
    seconds: float
    transfers_per_s: float
    verifies_per_s: float
    ratio: float

    def to_json(self) -> dict[str, Any]:
        return {"name": "runtime", **self.__dict__}


def _prepare(
    accounts: int, blocks: int, per_block: int, seed: int
) -> tuple[State, list[Block], list[tuple[bytes, bytes, bytes]]]:
    rng = random.Random(seed)
    keys = [Keypair(rng.randbytes(32)) for _ in range(accounts)]
    spec = build_spec(
        "Bench", "bench", [keys[0].public], [k.public for k in keys], keys[0].public,
        slot_seconds=2, endowment=1_000 * UNIT, bond=500 * UNIT, min_validator_bond=100 * UNIT,
    )  # fmt: skip
    builder = State.in_memory()
    build_genesis(builder, spec.genesis_config())
    nonces = {k.public: 0 for k in keys}
    built_blocks: list[Block] = []
    samples: list[tuple[bytes, bytes, bytes]] = []
    parent = b"\x00" * 32
    for number in range(blocks):
        raws = transfer_batch(spec.chain_id, keys, nonces, per_block, rng, samples)
        built = build_block(builder, parent, number + 1, keys[0].public, raws)
        assert not built.rejected, built.rejected[:1]
        built_blocks.append(built.block)
        parent = built.block.hash
    importer = State.in_memory()
    build_genesis(importer, spec.genesis_config())
    return importer, built_blocks, samples


Sample = tuple[bytes, bytes, bytes]  # (public key, signed payload, signature)


def transfer_batch(
    chain_id: bytes,
    keys: list[Keypair],
    nonces: dict[bytes, int],
    count: int,
    rng: random.Random,
    samples: list[Sample],
) -> list[bytes]:
    """`count` signed transfers from distinct senders; keeps up to 4096
    (key, payload, signature) samples for the bare-verify baseline."""
    raws = []
    for key in rng.sample(keys, count):
        call = Call("balances", "transfer", {"to": rng.choice(keys).public, "amount": rng.randrange(1, UNIT)})
        xt = Extrinsic.sign(key, chain_id, nonces[key.public], call)
        nonces[key.public] += 1
        raws.append(xt.encode())
        if len(samples) < 4096:
            samples.append(
                (key.public, Extrinsic.signing_payload(chain_id, key.public, xt.nonce, 0, call), xt.signature)
            )
    return raws


def measure_verifies(samples: list[tuple[bytes, bytes, bytes]], seconds: float = 1.0) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for public, payload, signature in samples:
            if not verify(public, payload, signature):
                raise AssertionError("benchmark signature failed to verify")
        done += len(samples)
    return done / (time.perf_counter() - start)


def run(accounts: int = 5_000, blocks: int = 5, per_block: int = 2_000, seed: int = 7) -> RuntimeBenchResult:
    state, built_blocks, samples = _prepare(accounts, blocks, per_block, seed)
    verifies_before = measure_verifies(samples)
    start = time.perf_counter()
    for block in built_blocks:
        result = apply_block(state, block)
        if result.state_root != block.header.state_root:
            raise AssertionError("import diverged from the builder")
    seconds = time.perf_counter() - start
    verifies = (verifies_before + measure_verifies(samples)) / 2
    transfers = blocks * per_block
    tps = transfers / seconds
    return RuntimeBenchResult(transfers, blocks, accounts, seconds, tps, verifies, tps / verifies)
