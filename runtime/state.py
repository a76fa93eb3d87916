"""The state overlay: transactional layers over a Merkle tree at one root.

Writes go to the innermost open layer; `rollback()` drops it, `commit()`
merges it into the one below. `commit_block()` folds everything into the
tree and returns the new state root.

Committed values are read through a byte-bounded LRU cache, then the flat
state (`runtime.flat`) when it covers this root, then the trie.
"""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from runtime.flat import MISS, FlatState
from runtime.lru import LRUCache
from runtime.merkle import EMPTY_ROOT, MemoryNodeStore, NodeStore, TrieDB

DEFAULT_READ_CACHE_BYTES = 128 * 1024 * 1024
# Bytes one cached read costs beyond its key and value: the OrderedDict slot
# and two bytes-object headers. Measured with tracemalloc over 200,000
# entries (CPython 3.11): 171.
_READ_OVERHEAD = 175

Reads = LRUCache[bytes, bytes | None]


def _read_bytes(key: bytes, value: bytes | None) -> int:
    return len(key) + (0 if value is None else len(value)) + _READ_OVERHEAD


class State:
    def __init__(
        self,
        db: TrieDB,
        root: bytes = EMPTY_ROOT,
        *,
        flat: FlatState | None = None,
        cache_bytes: int = DEFAULT_READ_CACHE_BYTES,
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self.db = db
        self.root = root
        self.flat = flat
        self._cache_bytes = cache_bytes
        self._lock = lock
        self._reads: Reads = LRUCache(cache_bytes, _read_bytes, lock)
        self._pending: dict[bytes, bytes | None] = {}
        self._layers: list[dict[bytes, bytes | None]] = []
        # Another state's read cache at the root this one forked from,
        # consulted after ours and never written (see `fork`); `_written`
        # keeps what this state committed since, which the base must not
        # answer for even once our own cache has evicted it.
        self._base: Reads | None = None
        self._written: dict[bytes, bytes | None] = {}

    @classmethod
    def in_memory(cls, store: NodeStore | None = None) -> "State":
        return cls(TrieDB(store or MemoryNodeStore()))

    def at(self, root: bytes) -> "State":
        """A fresh overlay over `root`, sharing this state's node store."""
        return State(self.db, root, flat=self.flat, cache_bytes=self._cache_bytes, lock=self._lock)

    def fork(self) -> "State":
        """A state at this one's root whose writes and reads stay its own,
        using this one's read cache without touching it: a block can be
        applied on the fork while others keep reading this state."""
        if self._layers or self._pending:
            raise RuntimeError("fork of a state with uncommitted writes")
        child = self.at(self.root)
        child._base = self._reads
        return child

    def adopt_cache(self) -> None:
        """Take over the base's read cache, brought up to this state's root.
        Call once the state it was forked from is no longer read."""
        base, self._base = self._base, None
        if base is None:
            return
        for key, value in [*self._written.items(), *self._reads.items()]:
            base.put(key, value)
        self._written = {}
        self._reads = base

    def get(self, key: bytes) -> bytes | None:
        for layer in reversed(self._layers):
            if key in layer:
                return layer[key]
        if key in self._pending:
            return self._pending[key]
        found, value = self._cached(key, self._reads.lookup)
        if found:
            return value
        value = self._committed(key)
        self._reads.put(key, value)
        return value

    def _committed(self, key: bytes) -> bytes | None:
        if self.flat is not None:
            value = self.flat.get(self.root, key)
            if value is not MISS:
                return value
        return self.db.get(self.root, key)

    def _cached(
        self, key: bytes, look: Callable[[bytes], tuple[bool, bytes | None]]
    ) -> tuple[bool, bytes | None]:
        """(found, value) of `key` at this state's root from the caches
        alone: ours (`look`: `lookup` or `peek`), then, for a fork, what it
        wrote and its base's."""
        found, value = look(key)
        if found or self._base is None:
            return found, value
        if key in self._written:
            return True, self._written[key]
        return self._base.peek(key)

    def _known(self, key: bytes) -> tuple[bool, bytes | None]:
        """What the trie update may take on trust (it checks the leaf's
        hash): a value already read, the read cache's order untouched."""
        return self._cached(key, self._reads.peek)

    def set(self, key: bytes, value: bytes) -> None:
        (self._layers[-1] if self._layers else self._pending)[key] = value

    def delete(self, key: bytes) -> None:
        (self._layers[-1] if self._layers else self._pending)[key] = None

    def begin(self) -> None:
        self._layers.append({})

    def commit(self) -> None:
        top = self._layers.pop()
        (self._layers[-1] if self._layers else self._pending).update(top)

    def rollback(self) -> None:
        self._layers.pop()

    @property
    def depth(self) -> int:
        return len(self._layers)

    def discard(self) -> None:
        """Forget every uncommitted write (a block that failed to apply)."""
        self._layers.clear()
        self._pending.clear()

    def commit_block(self) -> bytes:
        if self._layers:
            raise RuntimeError("commit_block with open transactional layers")
        parent, pending = self.root, self._pending
        self.root = self.db.update(parent, pending, known=self._known)
        if self.flat is not None:
            self.flat.record(parent, self.root, pending)
        self._reads.update(list(pending.items()))
        if self._base is not None:
            self._written.update(pending)
        self._pending = {}
        return self.root

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """All committed and pending (key, value) pairs, sorted by key."""
        merged: dict[bytes, bytes | None] = dict(self.db.items(self.root))
        for layer in (self._pending, *self._layers):
            merged.update(layer)
        for key in sorted(merged):
            value = merged[key]
            if value is not None:
                yield key, value
