"""LevelDB storage for one chain: trie nodes, blocks, indices and heads.

Everything one imported block writes (its new trie nodes, the block, its
events and indices, the head pointers) goes into a single WriteBatch, so a
crash at any instant leaves the last fully imported block intact.

Durability: LevelDB appends every batch to one log, and a synced write
flushes the log up to itself. Every block commit and every finality step is
synced, so a power cut never loses a finalized block, the finalized pointer,
or a block this node authored (re-authoring its slot would be equivocation).
The price is one fsync per block (see `commit_block`).
"""

import fcntl
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgpack
import plyvel

from node.node_store import BufferedNodeStore
from runtime.codec import blake2b_256, encode
from runtime.types import Block, Header

_BLOCK = b"b:"
_HEADER = b"H:"  # headers apart from bodies: import and RPC read them without the body
_NUMBER = b"h:"
EVENTS_PREFIX = _EVENTS = b"e:"
_TX = b"x:"
META_PREFIX = _META = b"m:"
_JUSTIFICATION = b"j:"
_HISTORY = b"i:"  # the history index's own keys (node.history), apart from the chain's
FLAT_PREFIX = _FLAT = (
    b"f:"  # the state at FLAT_ROOT as key -> value (node.flat_state): reads without the trie
)
BEST = b"best"
FINALIZED = b"finalized"
GENESIS = b"genesis"
CHAIN_ID = b"chain_id"
LAST_VOTE = b"last_vote"
JUSTIFIED = b"justified"
FLAT_ROOT = b"flat_root"  # the state root the flat table holds; absent while it is rebuilt
STATE_FLOOR = b"state_floor"  # the lowest block number whose state is kept (8 bytes, big-endian)
PRUNED_THROUGH = b"pruned_through"  # the highest number whose replaced nodes are deleted
# LevelDB's options for the chain's store (measured with 1M accounts' state,
# random reads of trie nodes: 7.5 µs with the defaults, 2.5 µs without
# compression, for 11% more disk). No block compression: trie nodes and
# signatures are hashes, and each cold read decompressed a 4 KiB block.
# Bloom filters: every level-0 table spans the whole key space (node keys
# are hashes), so without them a read probes each one. Tables written with
# the old options stay readable; LevelDB flags each block.
DB_OPTIONS: dict[str, Any] = {"compression": None, "bloom_filter_bits": 10}
WARP_FROM = b"warp_from"  # the block warp sync started this node at (8 bytes): none has a body below it
PRUNING_MODE = b"state_pruning"  # how the store was last run: b"archive" or b"pruned"
# How the state trie is built (runtime.merkle): its roots are in every
# header, so a store of another format cannot be read, only started afresh.
TRIE_FORMAT = b"trie_format"
RADIX_16 = b"radix-16"

# (the root the flat table moves to, the changes that move it there)
FlatMove = tuple[bytes, Mapping[bytes, bytes | None]]


class StorageError(Exception):
    """The data directory cannot be used (in use, corrupt, another chain)."""


def _locked_elsewhere(lock_file: Path) -> bool:
    """Whether another process holds LevelDB's lock (a POSIX record lock on
    LOCK): asked of the kernel, not read from an error message."""
    try:
        with lock_file.open("r+b") as handle:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.lockf(handle, fcntl.LOCK_UN)
    except OSError:
        return lock_file.exists()
    return False


def _check_trie_format(db: Any, path: Path) -> None:
    """Mark a new store with the trie format; refuse one of an older format."""
    found = db.get(_META + TRIE_FORMAT)
    if found == RADIX_16:
        return
    with db.iterator(include_value=False) as keys:
        empty = next(keys, None) is None
    if empty:
        db.put(_META + TRIE_FORMAT, RADIX_16, sync=True)
        return
    db.close()
    written = "the binary trie of earlier vcoin versions" if found is None else f"a trie format {found!r}"
    raise StorageError(
        f"the database at {path} holds a chain whose state roots use {written}, which this version "
        "cannot read: start this node on an empty --base-path, or remove the chain with "
        "`vcoin node purge-chain`; it syncs the chain again from peers of this version"
    )


def _open(path: Path) -> Any:
    path.mkdir(parents=True, exist_ok=True)
    try:
        return plyvel.DB(str(path), create_if_missing=True, **DB_OPTIONS)
    except plyvel.IOError as exc:
        if _locked_elsewhere(path / "LOCK"):
            raise StorageError(f"the database at {path} is already in use by another vcoin process") from None
        raise StorageError(f"cannot open the database at {path}: {exc}") from None
    except plyvel.CorruptionError as exc:
        raise StorageError(f"the database at {path} is corrupt: {exc}") from None


def peek_meta(path: Path, key: bytes) -> bytes | None:
    """One meta entry of the database at `path`, whatever its trie format
    (the maintenance commands: purging an old chain is what its refusal
    asks for); StorageError while a node holds it."""
    db = _open(path)
    try:
        value: bytes | None = db.get(_META + key)
        return value
    finally:
        db.close()


class ChainStore:
    def __init__(self, path: Path) -> None:
        self.db = _open(path)
        _check_trie_format(self.db, path)
        self.nodes = BufferedNodeStore(self.db)
        # Block commits against the pruner's check-then-delete (node.state_pruning).
        self.write_lock = threading.Lock()
        self.journal_nodes = False  # set by a pruning node

    def close(self) -> None:
        self.db.close()

    def history_db(self) -> Any:
        """The keys of the history index (`node.history`): written apart from
        block commits, and rebuilt from the blocks when lost."""
        return self.db.prefixed_db(_HISTORY)

    def meta(self, key: bytes) -> bytes | None:
        value: bytes | None = self.db.get(_META + key)
        return value

    def block(self, block_hash: bytes) -> Block | None:
        raw = self.block_bytes(block_hash)
        return None if raw is None else Block.decode(raw)

    def block_bytes(self, block_hash: bytes) -> bytes | None:
        """The block as stored (its canonical encoding), for serving as is."""
        value: bytes | None = self.db.get(_BLOCK + block_hash)
        return value

    def header(self, block_hash: bytes) -> Header | None:
        raw = self.db.get(_HEADER + block_hash)
        return None if raw is None else Header.from_wire(msgpack.unpackb(raw, raw=False))

    def has_block(self, block_hash: bytes) -> bool:
        return self.db.get(_HEADER + block_hash) is not None

    def hash_at(self, number: int) -> bytes | None:
        # a client's number past any key (2**64 and up) is simply no block
        return self.db.get(_NUMBER + number.to_bytes(8, "big")) if 0 <= number < 1 << 64 else None

    def events(self, block_hash: bytes) -> list[Any]:
        raw = self.db.get(_EVENTS + block_hash)
        return [] if raw is None else list(msgpack.unpackb(raw, raw=False, strict_map_key=False))

    def justification(self, block_hash: bytes) -> bytes | None:
        value: bytes | None = self.db.get(_JUSTIFICATION + block_hash)
        return value

    def prune_body(self, block_hash: bytes | None, mark: tuple[bytes, bytes]) -> bool:
        """Delete a block's body (whether it was held is the answer) and
        set the meta entry `mark` in the same write (node.block_pruning).
        No `write_lock`: no commit writes a body below finality again, and
        this runs where finality lands (the event loop among them)."""
        held = block_hash is not None and self.db.get(_BLOCK + block_hash) is not None
        with self.db.write_batch(transaction=True) as batch:
            if held and block_hash is not None:
                batch.delete(_BLOCK + block_hash)
            batch.put(_META + mark[0], mark[1])
        return held

    def put_meta(self, key: bytes, value: bytes) -> None:
        self.db.put(_META + key, value, sync=True)

    def flush(self) -> None:
        """Make every earlier write durable: LevelDB's log is one sequence,
        and a synced write flushes it up to itself."""
        self.db.put(_META + b"flushed", b"", sync=True)

    def finalize(self, block_hash: bytes, justification: bytes | None, flat: FlatMove | None = None) -> None:
        """Move the finalized pointer, and the flat table with it (one write)."""
        with self.db.write_batch(transaction=True, sync=True) as batch:
            if justification is not None:
                batch.put(_JUSTIFICATION + block_hash, justification)
            batch.put(_META + FINALIZED, block_hash)
            _move_flat(batch, flat)

    # -- the flat state table (node.flat_state) --------------------------------
    def flat_get(self, key: bytes) -> bytes | None:
        value: bytes | None = self.db.get(_FLAT + key)
        return value

    def move_flat(self, flat: FlatMove) -> None:
        with self.db.write_batch(transaction=True, sync=True) as batch:
            _move_flat(batch, flat)

    def clear_flat(self, chunk: int = 100_000) -> None:
        """Forget the flat table (its root first, so a crash midway leaves
        a table known to be incomplete)."""
        self.db.delete(_META + FLAT_ROOT, sync=True)
        while True:
            keys = [
                key
                for key, _ in zip(
                    self.db.iterator(prefix=_FLAT, include_value=False), range(chunk), strict=False
                )
            ]
            if not keys:
                return
            with self.db.write_batch() as batch:
                for key in keys:
                    batch.delete(key)

    def fill_flat(self, items: Mapping[bytes, bytes]) -> None:
        with self.db.write_batch() as batch:
            for key, value in items.items():
                batch.put(_FLAT + key, value)

    def tx_location(self, tx_hash: bytes) -> tuple[bytes, int] | None:
        raw = self.db.get(_TX + tx_hash)
        if raw is None:
            return None
        header = self.header(raw[:32])
        if header is None or self.hash_at(header.number) != raw[:32]:
            return None  # it was in a block a reorg left behind
        return raw[:32], int.from_bytes(raw[32:], "big")

    def commit_block(
        self,
        block: Block,
        events: list[list[Any]],
        best: bool,
        finalized: bool,
        extra_meta: Mapping[bytes, bytes] | None = None,
        reorg: list[Block] | None = None,
        durable: bool = True,
        stale: range = range(0),
        flat: FlatMove | None = None,
    ) -> None:
        """Store `block`; with `best`, make it the head. `reorg` lists the
        blocks of its branch below it that replace the canonical ones;
        `stale` the heights above a new head shorter than the old one (fork
        choice follows the justified block), which lose their canonical entry.
        `durable=False` skips the fsync (blocks synced from peers, fetched
        again if lost; `flush` makes them durable at the end of a batch).
        `flat` moves the flat table along (a block finalized as it lands)."""
        block_hash = block.hash
        # Measured: +0.2-0.4 ms per block (empty blocks import at ~1,800/s
        # instead of ~3,500/s); no difference within noise on full blocks.
        journal = (block.header.number, block_hash) if self.journal_nodes else None
        with self.write_lock, self.db.write_batch(transaction=True, sync=durable) as batch:
            self.nodes.drain_into(batch, journal)
            batch.put(_BLOCK + block_hash, block.encode())
            batch.put(_HEADER + block_hash, block.header.encode())
            batch.put(_EVENTS + block_hash, encode(events))
            if best:
                for canonical in [*(reorg or []), block]:
                    canonical_hash = canonical.hash
                    batch.put(_NUMBER + canonical.header.number.to_bytes(8, "big"), canonical_hash)
                    for index, raw in enumerate(canonical.extrinsics):
                        batch.put(_TX + blake2b_256(raw), canonical_hash + index.to_bytes(4, "big"))
                for number in stale:
                    batch.delete(_NUMBER + number.to_bytes(8, "big"))
                batch.put(_META + BEST, block_hash)
            if finalized:
                batch.put(_META + FINALIZED, block_hash)
            for key, value in (extra_meta or {}).items():
                batch.put(_META + key, value)
            _move_flat(batch, flat)

    def put_headers(self, headers: list[Header], meta: Mapping[bytes, bytes]) -> None:
        """Canonical headers without their bodies (a warp-synced node's
        history: node.backfill), with `meta`, in one write."""
        with self.db.write_batch(transaction=True) as batch:
            for header in headers:
                header_hash = header.hash
                batch.put(_HEADER + header_hash, header.encode())
                batch.put(_NUMBER + header.number.to_bytes(8, "big"), header_hash)
            for key, value in meta.items():
                batch.put(_META + key, value)


def _move_flat(batch: Any, flat: FlatMove | None) -> None:
    if flat is None:
        return
    root, changes = flat
    for key, value in changes.items():
        if value is None:
            batch.delete(_FLAT + key)
        else:
            batch.put(_FLAT + key, value)
    batch.put(_META + FLAT_ROOT, root)
