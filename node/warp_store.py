"""What warp sync keeps in the chain database, so a restart (even a kill -9)
goes on where it stopped.

- `warp_target`: the target block's header and justification, and whether
  the justification verified against the genesis validators (else it is
  checked against the downloaded state's, see node.warp);
- `warp_frontier:<hash>`: every subtree still to fetch (depth and prefix);
- `warp_progress`: keys, bytes and chunks so far, for the log.

Each batch of proven nodes is written in one WriteBatch with the frontier
entries it answered (deleted) and the ones it opened (added), so the
frontier always describes exactly what is missing. Those writes are not
synced: a process crash keeps them (the OS has them), a power cut may lose
the last few batches, nodes and frontier together.
"""

from dataclasses import dataclass
from typing import Any

import msgpack

from consensus.finality import Justification
from node.chain import LEAVES
from node.storage import JUSTIFIED, META_PREFIX, NODE_PREFIX, STATE_FLOOR, ChainStore
from runtime.merkle import EMPTY_ROOT
from runtime.state_chunks import Subtree
from runtime.types import Block, Header

WARP_TARGET = b"warp_target"
WARP_PROGRESS = b"warp_progress"
BACKFILL = b"backfill"  # [number, hash]: the next header backfill fetches (node.backfill)
WARP_FROM = b"warp_from"  # the block warp sync started this node at (8 bytes): none has a body below it
_FRONTIER = META_PREFIX + b"warp_frontier:"


@dataclass(frozen=True)
class Target:
    header: Header
    justification: bytes
    trusted: bool  # verified against the genesis validators already

    @property
    def proof(self) -> Justification:
        return Justification.decode(self.justification)


@dataclass
class Progress:
    keys: int = 0
    bytes: int = 0
    chunks: int = 0


def load_target(store: ChainStore) -> Target | None:
    raw = store.meta(WARP_TARGET)
    if not raw:
        return None
    header, justification, trusted = msgpack.unpackb(raw)
    return Target(Header.from_wire(msgpack.unpackb(header, raw=False)), justification, trusted)


def start(store: ChainStore, target: Target) -> None:
    """Record the target with the whole state as the one subtree to fetch."""
    wire = [target.header.encode(), target.justification, target.trusted]
    with store.db.write_batch(transaction=True, sync=True) as batch:
        for key in store.db.iterator(prefix=_FRONTIER, include_value=False):
            batch.delete(key)
        root = target.header.state_root
        if root != EMPTY_ROOT:
            batch.put(_FRONTIER + root, _entry(Subtree(root, 0, 0)))
        batch.put(META_PREFIX + WARP_TARGET, msgpack.packb(wire))
        batch.put(META_PREFIX + WARP_PROGRESS, msgpack.packb([0, 0, 0]))


def forget(store: ChainStore) -> None:
    """Drop the target and frontier (a refused target): the nodes fetched
    stay, unreferenced, like those of any abandoned fork."""
    with store.db.write_batch(transaction=True, sync=True) as batch:
        for key in store.db.iterator(prefix=_FRONTIER, include_value=False):
            batch.delete(key)
        batch.delete(META_PREFIX + WARP_TARGET)
        batch.delete(META_PREFIX + WARP_PROGRESS)


def frontier(store: ChainStore) -> list[Subtree]:
    found = []
    for key, value in store.db.iterator(prefix=_FRONTIER):
        found.append(Subtree(key[len(_FRONTIER) :], value[0], int.from_bytes(value[1:], "big")))
    return found


def progress(store: ChainStore) -> Progress:
    raw = store.meta(WARP_PROGRESS)
    return Progress() if raw is None else Progress(*msgpack.unpackb(raw))


def save_batch(
    store: ChainStore,
    nodes: dict[bytes, bytes],
    answered: list[Subtree],
    opened: list[Subtree],
    totals: Progress,
) -> None:
    """Proven nodes and the frontier they move, in one write."""
    with store.db.write_batch(transaction=True) as batch:
        for node_hash, raw in nodes.items():
            batch.put(NODE_PREFIX + node_hash, raw)
        for subtree in answered:
            batch.delete(_FRONTIER + subtree.hash)
        for subtree in opened:
            batch.put(_FRONTIER + subtree.hash, _entry(subtree))
        batch.put(META_PREFIX + WARP_PROGRESS, msgpack.packb([totals.keys, totals.bytes, totals.chunks]))


def _entry(subtree: Subtree) -> bytes:
    return bytes([subtree.depth]) + subtree.prefix.to_bytes(32, "big")


def install(store: ChainStore, target: Target, block: Block) -> None:
    """Make the warp block best and finalized, with its justification, the
    state floor and where header backfill starts. The flat table is cleared
    first, so the chain opened next rebuilds it at the new root (a crash in
    between only rebuilds the genesis table again)."""
    header = target.header
    store.clear_flat()
    meta: dict[bytes, Any] = {
        LEAVES: msgpack.packb([[header.number, header.hash]]),
        JUSTIFIED: msgpack.packb([header.number, header.hash]),
        STATE_FLOOR: header.number.to_bytes(8, "big"),
        WARP_FROM: header.number.to_bytes(8, "big"),
        BACKFILL: msgpack.packb([header.number - 1, header.parent_hash]),
        WARP_TARGET: b"",  # done
    }
    store.commit_block(block, [], best=True, finalized=True, extra_meta=meta)
    store.finalize(header.hash, target.justification)


def warped_from(store: ChainStore) -> int | None:
    """The block this node warp-synced to (no block below it has a body)."""
    raw = store.meta(WARP_FROM)
    return None if raw is None else int.from_bytes(raw, "big")
