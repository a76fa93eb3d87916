"""The trie's node store in LevelDB: a block's nodes wait in memory until
the block commits, then go in the block's one WriteBatch.

Each stored node ends with its birth: the sequence number of the write that
stored it (one per commit, counting up for the life of the store). State
pruning (`node.state_pruning`) deletes a node a block replaced only if it
was not born again after that block; the birth travels in the node's own
value, so a block writes one key per node it builds and one journal, not a
mark per node besides (measured: the marks tripled a block's write).
"""

from collections.abc import Mapping
from typing import Any

import plyvel

NODE_PREFIX = b"N:"  # node hash -> raw node ‖ birth
JOURNAL_PREFIX = b"R:"  # number ‖ block hash -> that block's birth ‖ the node hashes it replaced
NODE_SEQ = b"m:node_seq"  # the last birth handed out (the chain store's meta key space)
BIRTH_BYTES = 8


def birth_bytes(birth: int) -> bytes:
    return birth.to_bytes(BIRTH_BYTES, "big")


def raw_node(stored: bytes | None) -> bytes | None:
    """A stored node's trie bytes (its birth dropped)."""
    return None if stored is None else stored[:-BIRTH_BYTES]


class BufferedNodeStore:
    """A `runtime.merkle.NodeStore` whose writes wait until the block commits.

    It also keeps what the block did to the tree, net over every update the
    block made: the nodes it added (`pending`, which are exactly the ones
    to write) and the ones it replaced (`dead`); a pruning node journals
    the latter.
    """

    def __init__(self, db: "plyvel.DB") -> None:
        self._db = db
        self.birth = int.from_bytes(db.get(NODE_SEQ) or bytes(BIRTH_BYTES), "big")
        self.pending: dict[bytes, bytes] = {}
        self.dead: set[bytes] = set()

    def get(self, key: bytes) -> bytes | None:
        value = self.pending.get(key)
        if value is None:
            stored = self._db.get(NODE_PREFIX + key)
            return None if stored is None else stored[:-BIRTH_BYTES]
        return value

    def stored(self, raw: bytes) -> bytes:
        """`raw` as written outside a block (a warp download): born before
        any block still to come."""
        return raw + birth_bytes(self.birth)

    def replace(self, gone: list[bytes], fresh: Mapping[bytes, bytes]) -> None:
        if not self.pending and not self.dead:  # a block's one update: set algebra in C
            # A node rebuilt as it was is not written again: it is in the
            # parent's (kept) state, so it was born after any block that
            # replaced it before (see node.state_pruning).
            self.dead = set(gone)
            kept = self.dead.intersection(fresh)
            self.pending = dict(fresh)
            if kept:
                self.dead -= kept
                for node_hash in kept:
                    del self.pending[node_hash]
            return
        for node_hash in gone:
            if self.pending.pop(node_hash, None) is None:  # built earlier in this block: never stored
                self.dead.add(node_hash)
        for node_hash, raw in fresh.items():
            if node_hash in self.dead:  # rebuilt as it was: already stored
                self.dead.discard(node_hash)
            else:
                self.pending[node_hash] = raw

    def drain_into(self, batch: Any, journal: tuple[int, bytes] | None = None) -> None:
        """Write the pending nodes, born now; with `journal` (the block's
        number and hash), also what the block replaced, for pruning."""
        self.birth += 1
        birth = birth_bytes(self.birth)
        for key, value in self.pending.items():
            batch.put(NODE_PREFIX + key, value + birth)
        if journal is not None and (self.pending or self.dead):  # not a re-commit (reorg)
            number, block_hash = journal
            batch.put(JOURNAL_PREFIX + number.to_bytes(8, "big") + block_hash, birth + b"".join(self.dead))
        batch.put(NODE_SEQ, birth)
        self.discard()

    def discard(self) -> None:
        self.pending = {}
        self.dead = set()
