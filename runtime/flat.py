"""Flat state reads: a key→value table at one root plus diff layers above it.

Like Geth's snapshot: the disk table holds the whole state at one root (the
node keeps it at the finalized block), and each imported block adds an
in-memory diff layer (the keys it changed) from its parent's root to its own.
A read at a root covered by the layers walks them down to the table, so it
costs a few dict lookups and at most one table lookup, never a trie walk;
a read at any other root answers `MISS` and the caller walks the trie.

Layers are keyed by state root, which names the content: the first layer
recorded for a root stays (a second one would describe the same content),
which also keeps parent links acyclic. When finality moves, the caller
writes `fold(root)` into the table and calls `moved(root)`; layers that no
longer reach the table are dropped.

Readers may run in another thread than the one that folds: a generation
counter, odd while the table moves, makes a read that straddles a fold
answer `MISS` rather than mix two roots.
"""

from collections.abc import Mapping
from enum import Enum
from typing import Protocol

DEFAULT_MAX_LAYERS = 512
DEFAULT_MAX_LAYER_BYTES = 64 * 1024 * 1024
# Bytes a changed key costs in a layer beyond its key and value: a dict slot
# and two bytes-object headers (as runtime.state's read cache counts them).
_CHANGE_OVERHEAD = 175


class Miss(Enum):
    MISS = 0


MISS = Miss.MISS


class FlatTable(Protocol):
    """The whole state at one root, one lookup per key (LevelDB in the node)."""

    def get(self, key: bytes) -> bytes | None: ...


class DiffLayer:
    __slots__ = ("root", "parent", "changes", "bytes")

    def __init__(self, root: bytes, parent: bytes, changes: dict[bytes, bytes | None]) -> None:
        self.root = root
        self.parent = parent
        self.changes = changes
        self.bytes = sum(len(k) + len(v or b"") + _CHANGE_OVERHEAD for k, v in changes.items())


class FlatState:
    def __init__(
        self,
        table: FlatTable,
        root: bytes,
        max_layers: int = DEFAULT_MAX_LAYERS,
        max_bytes: int = DEFAULT_MAX_LAYER_BYTES,
    ) -> None:
        self.table = table
        self.root = root  # the root the table holds
        # beyond either (finality stalled), new roots read the trie
        self.max_layers = max_layers
        self.max_bytes = max_bytes
        self.bytes = 0
        self._layers: dict[bytes, DiffLayer] = {}
        self._generation = 0

    def __len__(self) -> int:
        return len(self._layers)

    def covers(self, root: bytes) -> bool:
        while root != self.root:
            layer = self._layers.get(root)
            if layer is None:
                return False
            root = layer.parent
        return True

    def get(self, root: bytes, key: bytes) -> bytes | None | Miss:
        generation = self._generation
        if generation & 1:
            return MISS
        table_root = self.root
        while root != table_root:
            layer = self._layers.get(root)
            if layer is None:
                return MISS
            changes = layer.changes
            if key in changes:
                return changes[key]  # layers never change once recorded
            root = layer.parent
        value = self.table.get(key)
        if self._generation != generation:
            return MISS
        return value

    def record(self, parent: bytes, root: bytes, changes: Mapping[bytes, bytes | None]) -> bool:
        """Add the layer `parent` → `root`; False when it cannot be read
        through (its parent is not covered, or too many layers wait)."""
        if root == parent or root == self.root or root in self._layers:
            return True
        if len(self._layers) >= self.max_layers or not self.covers(parent):
            return False
        layer = DiffLayer(root, parent, dict(changes))
        if self.bytes + layer.bytes > self.max_bytes:
            return False
        self._layers[root] = layer
        self.bytes += layer.bytes
        return True

    def fold(self, root: bytes) -> dict[bytes, bytes | None] | None:
        """The changes that move the table from its root to `root`, merged
        from the layers between them; None when the layers do not reach."""
        chain: list[DiffLayer] = []
        cursor = root
        while cursor != self.root:
            layer = self._layers.get(cursor)
            if layer is None:
                return None
            chain.append(layer)
            cursor = layer.parent
        merged: dict[bytes, bytes | None] = {}
        for layer in reversed(chain):
            merged.update(layer.changes)
        return merged

    def begin_move(self) -> None:
        """Call before the table's contents change (readers then miss)."""
        self._generation += 1

    def cancel_move(self) -> None:
        """The table did not move after all (its write failed)."""
        if self._generation & 1:
            self._generation += 1

    def moved(self, root: bytes) -> None:
        """The table now holds `root`: keep only the layers above it."""
        if not self._generation & 1:
            self._generation += 1
        kept: set[bytes] = set()
        for layer_root in list(self._layers):
            if layer_root != root and self._reaches(layer_root, root, kept):
                kept.add(layer_root)
        for layer_root in list(self._layers):
            if layer_root not in kept:
                self._layers.pop(layer_root, None)
        self.bytes = sum(layer.bytes for layer in self._layers.values())
        self.root = root
        self._generation += 1

    def _reaches(self, start: bytes, root: bytes, kept: set[bytes]) -> bool:
        cursor = start
        while cursor != root and cursor not in kept:
            layer = self._layers.get(cursor)
            if layer is None:
                return False
            cursor = layer.parent
        return True

    def reset(self, root: bytes) -> None:
        """Forget every layer: the table holds `root` (rebuilt or replaced)."""
        self._generation += 1 + (self._generation & 1)
        self._layers.clear()
        self.bytes = 0
        self.root = root
        self._generation += 1
