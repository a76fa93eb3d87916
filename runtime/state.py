"""The state overlay: transactional layers over a Merkle tree at one root.

Writes go to the innermost open layer; `rollback()` drops it, `commit()`
merges it into the one below. `commit_block()` folds everything into the
tree and returns the new state root.
"""

from collections.abc import Iterator

from runtime.merkle import EMPTY_ROOT, MemoryNodeStore, NodeStore, TrieDB

_READ_CACHE_LIMIT = 500_000


class State:
    def __init__(self, db: TrieDB, root: bytes = EMPTY_ROOT) -> None:
        self.db = db
        self.root = root
        self._reads: dict[bytes, bytes | None] = {}
        self._pending: dict[bytes, bytes | None] = {}
        self._layers: list[dict[bytes, bytes | None]] = []
        # Another state's read cache at this same root, consulted after ours
        # and never written (see `fork`).
        self._base: dict[bytes, bytes | None] | None = None

    @classmethod
    def in_memory(cls, store: NodeStore | None = None) -> "State":
        return cls(TrieDB(store or MemoryNodeStore()))

    def at(self, root: bytes) -> "State":
        """A fresh overlay over `root`, sharing this state's node store."""
        return State(self.db, root)

    def fork(self) -> "State":
        """A state at this one's root whose writes and reads stay its own,
        using this one's read cache without touching it: a block can be
        applied on the fork while others keep reading this state."""
        if self._layers or self._pending:
            raise RuntimeError("fork of a state with uncommitted writes")
        child = State(self.db, self.root)
        child._base = self._reads
        return child

    def adopt_cache(self) -> None:
        """Take over the base's read cache, brought up to this state's root.
        Call once the state it was forked from is no longer read."""
        base, self._base = self._base, None
        if base is None:
            return
        if len(base) + len(self._reads) >= _READ_CACHE_LIMIT:
            return
        base.update(self._reads)
        self._reads = base

    def get(self, key: bytes) -> bytes | None:
        for layer in reversed(self._layers):
            if key in layer:
                return layer[key]
        if key in self._pending:
            return self._pending[key]
        if key in self._reads:
            return self._reads[key]
        if self._base is not None and key in self._base:  # written keys are all in _reads
            return self._base[key]
        value = self.db.get(self.root, key)
        if len(self._reads) >= _READ_CACHE_LIMIT:
            self._reads.clear()
        self._reads[key] = value
        return value

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
        self.root = self.db.update(self.root, self._pending)
        if len(self._reads) + len(self._pending) >= _READ_CACHE_LIMIT:
            self._reads.clear()
            self._base = None  # it would answer for keys written before the clear
        self._reads.update(self._pending)
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
