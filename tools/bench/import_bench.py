"""`vcoin bench import`: sealed blocks full of signed transfers imported into
LevelDB through the node's full import path (author and seal checks, runtime
execution, one atomic WriteBatch per block), beside bare ed25519 verifies per
second measured in the same run on the same core."""

import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genesis.spec import ChainSpec, build_spec
from node.chain import Chain
from node.storage import ChainStore
from runtime.constants import UNIT
from runtime.crypto import Keypair
from runtime.types import Block
from tools.bench.runtime_bench import measure_verifies, transfer_batch


@dataclass(frozen=True)
class ImportBenchResult:
    blocks: int
    transfers: int
    seconds: float
    blocks_per_s: float
    transfers_per_s: float
    verifies_per_s: float
    ratio: float

    def to_json(self) -> dict[str, Any]:
        return {"name": "import", **self.__dict__}


def bench_spec(keys: list[Keypair]) -> ChainSpec:
    return build_spec(
        "Bench", "bench-import", [keys[0].public], [k.public for k in keys], keys[0].public,
        slot_seconds=2, endowment=1_000 * UNIT, bond=500 * UNIT, min_validator_bond=100 * UNIT,
    )  # fmt: skip


def _author_blocks(
    root: Path, keys: list[Keypair], spec: ChainSpec, blocks: int, per_block: int, rng: random.Random
) -> tuple[list[Block], list[tuple[bytes, bytes, bytes]]]:
    store = ChainStore(root / "author")
    chain = Chain(store, spec)
    nonces = {k.public: 0 for k in keys}
    built: list[Block] = []
    samples: list[tuple[bytes, bytes, bytes]] = []
    for number in range(blocks):
        raws = transfer_batch(spec.chain_id, keys, nonces, per_block, rng, samples)
        imported, rejected = chain.author_block(keys[0], number + 1, raws)
        assert not rejected
        built.append(imported.block)
    store.close()
    return built, samples


def run(accounts: int = 5_000, blocks: int = 5, per_block: int = 2_000, seed: int = 11) -> ImportBenchResult:
    rng = random.Random(seed)
    keys = [Keypair(rng.randbytes(32)) for _ in range(accounts)]
    spec = bench_spec(keys)
    with tempfile.TemporaryDirectory(prefix="vcoin-bench-") as tmp:
        root = Path(tmp)
        built, samples = _author_blocks(root, keys, spec, blocks, per_block, rng)
        store = ChainStore(root / "import")
        chain = Chain(store, spec)
        verifies_before = measure_verifies(samples)
        start = time.perf_counter()
        for block in built:
            chain.import_block(block)
        seconds = time.perf_counter() - start
        verifies = (verifies_before + measure_verifies(samples)) / 2
        store.close()
    transfers = blocks * per_block
    tps = transfers / seconds
    return ImportBenchResult(blocks, transfers, seconds, blocks / seconds, tps, verifies, tps / verifies)
