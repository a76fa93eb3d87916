"""What warp sync keeps in the chain database, so a restart (even a kill -9)
goes on where it stopped.

- `warp_target`: the target block's header and justification, and whether
  the justification verified against the genesis validators (else it is
  checked against the downloaded state's, see node.warp);
- `warp_frontier:<hash>`: every subtree still to fetch (depth and prefix);
- `warp_seen:<hash>`: every subtree ever put in the frontier: in a real
  trie no node hash sits at two positions, so meeting one again proves the
  state forged (`ForgedState`), before a forged root can unfold a few nodes
  into exponentially many subtrees;
- `warp_root`: the state root the frontier and progress belong to: a
  target refused or abandoned keeps them, and a later target with that same
  root goes on from them instead of walking the whole state again;
- `warp_progress`: keys, bytes and chunks so far, for the log.

Each batch of proven nodes is written in one WriteBatch with the frontier
entries it answered (deleted) and the ones it opened (added), so the
frontier always describes exactly what is missing. Those writes are not
synced: a process crash keeps them (the OS has them), a power cut may lose
the last few batches, nodes and frontier together.

Install writes the block (best, finalized) and then its justification: two
writes, as `ChainStore` offers no single one for both. The target stays
recorded until the second is done, so a restart between them finds the
justification missing and writes it (`repair_install`).
"""

from dataclasses import dataclass
from typing import Any

import msgpack

from consensus.finality import Justification
from node.chain import LEAVES
from node.node_store import NODE_PREFIX
from node.storage import FINALIZED, JUSTIFIED, META_PREFIX, STATE_FLOOR, WARP_FROM, ChainStore
from runtime.merkle import EMPTY_ROOT
from runtime.state_chunks import ForgedState, Subtree
from runtime.types import Block, Header

WARP_TARGET = b"warp_target"
WARP_PROGRESS = b"warp_progress"
BACKFILL = b"backfill"  # [number, hash]: the next header backfill fetches (node.backfill)
WARP_ROOT = b"warp_root"
_FRONTIER = META_PREFIX + b"warp_frontier:"
_SEEN = META_PREFIX + b"warp_seen:"


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


def start(store: ChainStore, target: Target) -> bool:
    """Record the target; its state to fetch is the frontier kept from an
    earlier target with the same state root, else the whole state as the
    one subtree. True when that earlier frontier goes on."""
    wire = [target.header.encode(), target.justification, target.trusted]
    root = target.header.state_root
    same = store.meta(WARP_ROOT) == root
    with store.db.write_batch(transaction=True, sync=True) as batch:
        if not same:
            _clear(store, batch)
            if root != EMPTY_ROOT:
                batch.put(_FRONTIER + root, _entry(Subtree(root, 0, 0)))
                batch.put(_SEEN + root, b"")
            batch.put(META_PREFIX + WARP_PROGRESS, msgpack.packb([0, 0, 0]))
            batch.put(META_PREFIX + WARP_ROOT, root)
        batch.put(META_PREFIX + WARP_TARGET, msgpack.packb(wire))
    return same


def forget(store: ChainStore) -> None:
    """Drop the target (refused or abandoned). Its frontier and progress
    stay with their root (`start` goes on from them if that root is chosen
    again); the nodes fetched stay, like those of any abandoned fork."""
    store.db.delete(META_PREFIX + WARP_TARGET, sync=True)


def _clear(store: ChainStore, batch: Any) -> None:
    for prefix in (_FRONTIER, _SEEN):
        for key in store.db.iterator(prefix=prefix, include_value=False):
            batch.delete(key)
    batch.delete(META_PREFIX + WARP_ROOT)
    batch.delete(META_PREFIX + WARP_PROGRESS)


def reopen(store: ChainStore, subtrees: list[Subtree]) -> None:
    """Put subtrees found missing after the download back in the frontier
    (deleted meanwhile: nodes met again below them are no forgery, so the
    record of subtrees met starts over from them)."""
    with store.db.write_batch(transaction=True, sync=True) as batch:
        for key in store.db.iterator(prefix=_SEEN, include_value=False):
            batch.delete(key)
        for subtree in subtrees:
            batch.put(_FRONTIER + subtree.hash, _entry(subtree))
            batch.put(_SEEN + subtree.hash, b"")


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
    """Proven nodes and the frontier they move, in one write; `ForgedState`
    (nothing written) when a subtree opened was met before, at another
    position. Callers serialize their calls (the check reads, then writes)."""
    fresh: set[bytes] = set()
    for subtree in opened:
        if subtree.hash in fresh or store.db.get(_SEEN + subtree.hash) is not None:
            raise ForgedState(f"one subtree at two positions ({subtree.hash.hex()[:12]})")
        fresh.add(subtree.hash)
    with store.db.write_batch(transaction=True) as batch:
        for node_hash, raw in nodes.items():
            batch.put(NODE_PREFIX + node_hash, store.nodes.stored(raw))
        for subtree in answered:
            batch.delete(_FRONTIER + subtree.hash)
        for subtree in opened:
            batch.put(_FRONTIER + subtree.hash, _entry(subtree))
            batch.put(_SEEN + subtree.hash, b"")
        batch.put(META_PREFIX + WARP_PROGRESS, msgpack.packb([totals.keys, totals.bytes, totals.chunks]))


def _entry(subtree: Subtree) -> bytes:
    return bytes([subtree.depth]) + subtree.prefix.to_bytes(32, "big")


def install(store: ChainStore, target: Target, block: Block) -> None:
    """Make the warp block best and finalized, with its justification, the
    state floor and where header backfill starts. The flat table is cleared
    first, so the chain opened next rebuilds it at the new root (a crash in
    between only rebuilds the genesis table again). The target stays
    recorded until the justification is written (see `repair_install`)."""
    header = target.header
    store.clear_flat()
    meta: dict[bytes, Any] = {
        LEAVES: msgpack.packb([[header.number, header.hash]]),
        JUSTIFIED: msgpack.packb([header.number, header.hash]),
        STATE_FLOOR: header.number.to_bytes(8, "big"),
        WARP_FROM: header.number.to_bytes(8, "big"),
        BACKFILL: msgpack.packb([header.number - 1, header.parent_hash]),
    }
    store.commit_block(block, [], best=True, finalized=True, extra_meta=meta)
    _finish(store, target)


def _finish(store: ChainStore, target: Target) -> None:
    store.finalize(target.header.hash, target.justification)
    with store.db.write_batch(transaction=True, sync=True) as batch:
        _clear(store, batch)
        batch.put(META_PREFIX + WARP_TARGET, b"")  # done


def repair_install(store: ChainStore) -> bool:
    """Finish an install a crash cut between its two writes: the target is
    the finalized block, its justification not written yet. True if so."""
    target = load_target(store)
    if (
        target is None
        or store.meta(FINALIZED) != target.header.hash
        or not store.has_block(target.header.hash)
    ):
        return False
    if store.justification(target.header.hash) is None:
        _finish(store, target)
    else:
        store.put_meta(WARP_TARGET, b"")
    return True


def warped_from(store: ChainStore) -> int | None:
    """The block this node warp-synced to (no block below it has a body)."""
    raw = store.meta(WARP_FROM)
    return None if raw is None else int.from_bytes(raw, "big")
