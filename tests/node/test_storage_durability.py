"""Blocks and finality reach the disk before the node moves on: every write
that stores a block or the finalized pointer is a synced LevelDB write (a
power cut loses the page cache, which a killed process would not show)."""

from pathlib import Path
from typing import Any

from genesis.spec import dev_spec
from node.chain import Chain
from node.storage import FINALIZED, ChainStore
from runtime.crypto import dev_keypair


class _Recording:
    """The store's LevelDB handle, noting whether each write is synced."""

    def __init__(self, db: Any, writes: list[tuple[str, bool]]) -> None:
        self._db, self._writes = db, writes

    def write_batch(self, **options: Any) -> Any:
        self._writes.append(("batch", bool(options.get("sync"))))
        return self._db.write_batch(**options)

    def put(self, key: bytes, value: bytes, **options: Any) -> None:
        self._writes.append(("put", bool(options.get("sync"))))
        self._db.put(key, value, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def test_blocks_and_finality_are_synced_writes(tmp_path: Path) -> None:
    store = ChainStore(tmp_path / "db")
    writes: list[tuple[str, bool]] = []
    store.db = _Recording(store.db, writes)
    chain = Chain(store, dev_spec())
    chain.instant_finality = False  # as on a multi-validator chain: finality comes apart
    alice = dev_keypair("alice")
    for slot in (1, 2, 3):
        chain.author_block(alice, slot, [])
    assert chain.finalize(chain.store.hash_at(2) or b"", b"justification")
    assert writes and all(synced for _, synced in writes), writes
    store.close()
    reopened = ChainStore(tmp_path / "db")
    assert reopened.meta(FINALIZED) == reopened.hash_at(2)
    reopened.close()
