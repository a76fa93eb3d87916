"""The node's flat state: `runtime.flat` over a LevelDB table kept at the
finalized block's state root.

The table moves in the same WriteBatch as the finalized pointer (or as the
block, when a block is final as it lands), and records the root it holds
(`FLAT_ROOT`). On start, a table at another root is brought to the finalized
one by a trie diff (cost: the keys changed in between); a table that is
missing or was being rebuilt when the node died is rebuilt from the trie,
with progress in the log.
"""

import logging
import time

from node.storage import FLAT_PREFIX, FLAT_ROOT, ChainStore, FlatMove
from runtime.flat import FlatState
from runtime.merkle import MissingNode, TrieDB

log = logging.getLogger("vcoin.flat")
REBUILD_CHUNK = 50_000
PROGRESS_SECONDS = 5.0


class LevelDBTable:
    """The `FlatTable` a `FlatState` reads: one LevelDB lookup per key."""

    def __init__(self, store: ChainStore) -> None:
        self._get = store.db.get

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._get(FLAT_PREFIX + key)
        return value


def open_flat(store: ChainStore, trie: TrieDB, finalized_root: bytes) -> FlatState:
    stored = store.meta(FLAT_ROOT)
    if stored != finalized_root:
        if stored is not None and _catch_up(store, trie, stored, finalized_root):
            pass
        else:
            rebuild(store, trie, finalized_root)
    return FlatState(LevelDBTable(store), finalized_root)


def _catch_up(store: ChainStore, trie: TrieDB, stored: bytes, root: bytes) -> bool:
    try:
        changes = trie.diff(stored, root)
    except MissingNode:  # the table's root is gone from the trie: rebuild
        return False
    log.info("Flat state: %d keys changed since its root, brought up to the finalized block", len(changes))
    store.move_flat((root, changes))
    return True


def rebuild(store: ChainStore, trie: TrieDB, root: bytes) -> None:
    """Write the whole state at `root` into the flat table, then its root."""
    start = last = time.monotonic()
    log.info("Flat state: rebuilding the table from the trie at %s", root.hex()[:12])
    store.clear_flat()
    chunk: dict[bytes, bytes] = {}
    written = 0
    for key, value in trie.items(root):
        chunk[key] = value
        if len(chunk) >= REBUILD_CHUNK:
            store.fill_flat(chunk)
            written += len(chunk)
            chunk = {}
            if time.monotonic() - last >= PROGRESS_SECONDS:
                last = time.monotonic()
                log.info("Flat state: %d keys written (%.0f s)", written, last - start)
    store.fill_flat(chunk)
    written += len(chunk)
    store.move_flat((root, {}))
    log.info("Flat state: rebuilt, %d keys in %.1f s", written, time.monotonic() - start)


def move_to(flat: FlatState, trie: TrieDB, root: bytes) -> FlatMove | None:
    """The write that moves the table to `root`: the diff layers' changes
    when they reach it, else a trie diff. Call `flat.begin_move()` before
    writing it and `flat.moved(root)` after."""
    if root == flat.root:
        return None
    changes = flat.fold(root)
    if changes is None:
        changes = trie.diff(flat.root, root)
    return root, changes
