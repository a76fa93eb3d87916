"""The disk half of `vcoin bench state`: bytes a transfer leaves on disk
once the pruning window is full, with state pruning on (the default) and
off (`archive`).

The same blocks of transfers are imported twice into copies of one state,
each block finalized as it lands (the node's finality does the same a few
blocks later). After `window` blocks the pruned copy's window is full;
what the next `measured` blocks add is the steady cost of a transfer
(block body, its index entry, events and state garbage not yet pruned
do not grow any more). Disk is measured on a closed database, compacted
(LevelDB reclaims what pruning deletes only when it compacts, which it
does by itself as its levels fill) and as the import left it, and beside
them the logical bytes (keys plus values) it holds.
"""

import shutil
from pathlib import Path
from typing import Any

import plyvel

from node import gc_tuning
from node.chain import Chain
from node.state_pruning import DEFAULT_KEEP
from node.storage import DB_OPTIONS, ChainStore
from runtime.types import Block
from tools.bench.import_bench import bench_spec
from tools.bench.state_writer import write_state

WINDOW = DEFAULT_KEEP
MEASURED = 100
PER_BLOCK = 100


def _settled(path: Path) -> tuple[int, dict[bytes, int]]:
    """(bytes on disk, logical bytes by key prefix) of a closed database, compacted."""
    db = plyvel.DB(str(path), **DB_OPTIONS)
    logical: dict[bytes, int] = {}
    try:
        # plyvel's compact_range() with no bounds compacts nothing (measured:
        # 90% of the keys deleted, the files grew by the tombstones): name them.
        db.compact_range(start=b"\x00", stop=b"\xff" * 8)
        for key, value in db.iterator():
            logical[key[:2]] = logical.get(key[:2], 0) + len(key) + len(value)
    finally:
        db.close()
    return _files(path), logical


def _import(path: Path, spec: Any, blocks: list[Block], keep: int | None) -> None:
    store = ChainStore(path)
    try:
        chain = Chain(store, spec, state_pruning=keep)
        for block in blocks:
            chain.import_block(block)
            chain.finalize(block.hash, None)
    finally:
        store.close()


def author(root: Path, keys: list[Any], extra: int, txs: list[list[bytes]]) -> list[bytes]:
    """Write the state, author the blocks on a scratch copy; encoded blocks."""
    gc_tuning.tune()  # a fresh process: paced as the node paces it
    spec = bench_spec(keys)
    write_state(root / "state", spec, extra)
    shutil.copytree(root / "state", root / "author")
    store = ChainStore(root / "author")
    try:
        chain = Chain(store, spec, state_pruning=None)
        built = []
        for slot, raws in enumerate(txs, start=1):
            imported, rejected = chain.author_block(keys[0], slot, raws)
            assert not rejected, rejected[:1]
            built.append(imported.block.encode())
    finally:
        store.close()
    shutil.rmtree(root / "author")
    return built


def _files(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())


def measure(root: Path, keys: list[Any], built: list[bytes], window: int, keep: int | None) -> dict[str, Any]:
    """Bytes per transfer the blocks after `window` add, pruning `keep`:
    once compacted, and as the import left them."""
    gc_tuning.tune()  # a fresh process: paced as the node paces it
    spec = bench_spec(keys)
    path = root / ("pruned" if keep is not None else "archive")
    shutil.copytree(root / "state", path)
    blocks = [Block.decode(raw) for raw in built]
    _import(path, spec, blocks[:window], keep)
    disk_before, logical_before = _settled(path)
    _import(path, spec, blocks[window:], keep)
    left = _files(path)
    disk_after, logical_after = _settled(path)
    transfers = sum(len(block.extrinsics) for block in blocks[window:])
    shutil.rmtree(path)
    return {
        "disk_bytes_per_transfer": (disk_after - disk_before) / transfers,
        "uncompacted_bytes_per_transfer": (left - disk_before) / transfers,
        "logical_bytes_per_transfer": (sum(logical_after.values()) - sum(logical_before.values()))
        / transfers,
        "logical_by_prefix": {
            prefix.decode(errors="replace"): round(
                (logical_after.get(prefix, 0) - logical_before.get(prefix, 0)) / transfers, 1
            )
            for prefix in sorted({*logical_before, *logical_after})
        },
        "disk_mb": disk_after / 1e6,
    }
