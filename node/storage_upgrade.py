"""Upgrades a data directory written before trie nodes carried their birth
(`node.node_store`).

Such a store kept nodes under `n:` with no birth, a death mark per replaced
node (`D:` node -> number ‖ hash of the block that replaced it) and journals
under `J:`. Each step moves keys to the new prefixes and deletes the old
ones in the same write, so a crash midway resumes where it stopped:

1. each journal becomes one holding only the nodes still marked dead by its
   block (exactly what the old pruner would have deleted), at birth 1;
2. each node moves with birth 0, so those journals still delete them and
   every block from now on (birth 2 and up) replaces them as usual;
3. the death marks go.
"""

import logging
import time
from collections.abc import Iterator
from itertools import islice

import plyvel

from node.node_store import JOURNAL_PREFIX, NODE_PREFIX, NODE_SEQ, birth_bytes

log = logging.getLogger("vcoin.storage")
LEGACY_NODE, LEGACY_DEATH, LEGACY_JOURNAL = b"n:", b"D:", b"J:"
CHUNK = 100_000
_NODES_BORN, _JOURNALS_BORN = birth_bytes(0), birth_bytes(1)


def _first(db: "plyvel.DB", prefix: bytes, count: int) -> list[tuple[bytes, bytes]]:
    with db.iterator(prefix=prefix) as items:
        return [item for item, _ in zip(items, range(count), strict=False)]


def _chunks(db: "plyvel.DB", prefix: bytes, count: int) -> Iterator[list[tuple[bytes, bytes]]]:
    """The keys under `prefix` in chunks, from one iterator (its snapshot
    ignores the caller's writes, and no chunk scans the deletions before it)."""
    with db.iterator(prefix=prefix) as items:
        while chunk := list(islice(items, count)):
            yield chunk


def needed(db: "plyvel.DB") -> bool:
    return any(_first(db, prefix, 1) for prefix in (LEGACY_JOURNAL, LEGACY_NODE, LEGACY_DEATH))


def upgrade(db: "plyvel.DB") -> None:
    if not needed(db):
        return
    start = time.monotonic()
    log.info("Upgrading the database: trie nodes now carry their birth (one write per node, not three)")
    if db.get(NODE_SEQ) is None:
        db.put(NODE_SEQ, _JOURNALS_BORN, sync=True)
    for chunk in _chunks(db, LEGACY_JOURNAL, 256):
        with db.write_batch(transaction=True) as batch:
            for key, hashes in chunk:
                tag = key[len(LEGACY_JOURNAL) :]
                still = [
                    hashes[i : i + 32]
                    for i in range(0, len(hashes), 32)
                    if db.get(LEGACY_DEATH + hashes[i : i + 32]) == tag
                ]
                batch.put(JOURNAL_PREFIX + tag, _JOURNALS_BORN + b"".join(still))
                batch.delete(key)
    moved = 0
    for chunk in _chunks(db, LEGACY_NODE, CHUNK):
        with db.write_batch(transaction=True) as batch:
            for key, raw in chunk:
                batch.put(NODE_PREFIX + key[len(LEGACY_NODE) :], raw + _NODES_BORN)
                batch.delete(key)
        moved += len(chunk)
        log.info("Upgrading the database: %d trie nodes moved", moved)
    for chunk in _chunks(db, LEGACY_DEATH, CHUNK):
        with db.write_batch(transaction=True) as batch:
            for key, _ in chunk:
                batch.delete(key)
    db.compact_range(start=b"\x00", stop=b"\xff" * 8)  # the old keys' space back
    log.info("Database upgraded in %.1f s (%d trie nodes)", time.monotonic() - start, moved)
