"""A least-recently-used cache bounded by an estimate of the bytes it holds.

The estimate is what the caller says an entry costs (its key and value
bytes plus a fixed per-entry overhead measured once, see the callers), so
the budget tracks real memory without calling `sys.getsizeof` on every
insert. Eviction drops the oldest entries one by one: there is never a
wholesale clear, so a large working set degrades smoothly instead of
falling off a cliff of cold reads.

Two threads may use one cache (the node imports in a worker thread while
its event loop answers reads): a hit touches only C-level, atomic
OrderedDict calls, and inserts (which also count and evict) run under the
lock the owner passes in (the runtime itself imports no threading).
"""

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from itertools import islice
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
_ABSENT = object()


class LRUCache(Generic[K, V]):
    _entries_type: type = OrderedDict  # recency kept in order (FifoCache: insertion order only)

    def __init__(
        self,
        budget_bytes: int,
        size_of: Callable[[K, V], int],
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self.budget_bytes = budget_bytes
        self._size_of = size_of
        self._lock: AbstractContextManager[object] = lock if lock is not None else nullcontext()
        self._entries: OrderedDict[K, V] = self._entries_type()
        self.bytes = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: K) -> bool:
        return key in self._entries

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value, marked most recently used; `default` on a miss."""
        value = self._entries.get(key, _ABSENT)
        if value is _ABSENT:
            return default
        try:  # noqa: SIM105 (a hot path: see lookup)
            self._entries.move_to_end(key)
        except KeyError:
            pass
        return value  # type: ignore[return-value]

    def peek(self, key: K) -> tuple[bool, V | None]:
        """(found, value) without touching recency: for readers that must
        not change a cache they do not own."""
        value = self._entries.get(key, _ABSENT)
        if value is _ABSENT:
            return False, None
        return True, value  # type: ignore[return-value]

    def lookup(self, key: K) -> tuple[bool, V | None]:
        """(found, value), marked most recently used: tells a cached None
        from a miss."""
        value = self._entries.get(key, _ABSENT)
        if value is _ABSENT:
            return False, None
        try:  # noqa: SIM105 (a hot path: suppress() would cost a context manager per hit)
            self._entries.move_to_end(key)
        except KeyError:  # evicted by another thread in between: still a hit
            pass
        return True, value  # type: ignore[return-value]

    def put(self, key: K, value: V) -> None:
        size = self._size_of(key, value)
        entries = self._entries
        with self._lock:
            # pop, not `in` then pop: a FifoCache's `take` runs outside the lock
            old = entries.pop(key, _ABSENT)
            if old is not _ABSENT:
                self.bytes -= self._size_of(key, old)  # type: ignore[arg-type]
            entries[key] = value
            self.bytes += size
            if self.bytes > self.budget_bytes:
                self._evict()

    def replace(self, gone: Iterable[K], items: Iterable[tuple[K, V]]) -> None:
        """Forget `gone`, then put `items`, under one lock."""
        entries, size_of = self._entries, self._size_of
        pop = entries.pop
        change = 0  # a local, not an attribute per entry: a block's update is ~100k entries
        with self._lock:
            for key in gone:
                value = pop(key, _ABSENT)
                if value is not _ABSENT:
                    change -= size_of(key, value)  # type: ignore[arg-type]
            for key, value in items:
                old = pop(key, _ABSENT)
                if old is not _ABSENT:
                    change -= size_of(key, old)  # type: ignore[arg-type]
                entries[key] = value
                change += size_of(key, value)
            self.bytes += change
            if self.bytes > self.budget_bytes:
                self._evict()

    def update(self, items: Iterator[tuple[K, V]] | list[tuple[K, V]]) -> None:
        for key, value in items:
            self.put(key, value)

    def items(self) -> list[tuple[K, V]]:
        """A snapshot, oldest first."""
        return list(self._entries.items())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0

    def _evict(self) -> None:
        entries = self._entries
        while self.bytes > self.budget_bytes and entries:
            key, value = entries.popitem(last=False)
            self.bytes -= self._size_of(key, value)
            self.evictions += 1


class FifoCache(LRUCache[K, V]):
    """The same budget and interface, but first in, first out: a hit leaves
    the order alone, and eviction drops the oldest in batches.

    For a cache whose readers replace what they read: a trie update drops
    every node it reads and inserts the rebuilt ones, so recency adds
    nothing there, while an ordered dict's per-entry links cost a large
    state (hundreds of thousands of entries, random keys) a cache miss or
    two per entry on every update. A plain dict pops faster; its holes are
    skipped once per batch, not once per entry.
    """

    _BATCH = 4096
    _entries_type = dict

    def get(self, key: K, default: V | None = None) -> V | None:
        return self._entries.get(key, default)

    @property
    def take(self) -> Callable[[K, None], V | None]:
        """`take(key, None)` removes and returns an entry (None if absent)
        as one C call; its bytes are counted off by the `swap` that follows."""
        return self._entries.pop

    def swap(self, taken_bytes: int, fresh: dict[K, V], fresh_bytes: int) -> None:
        """One batch's effect in C-level calls: what it took (`take`) is
        `taken_bytes` gone, `fresh` (`fresh_bytes` in all) goes in."""
        entries = self._entries
        with self._lock:
            for key in fresh.keys() & entries.keys():  # rare: equal to one cached already
                self.bytes -= self._size_of(key, entries[key])
            entries.update(fresh)
            self.bytes += fresh_bytes - taken_bytes
            if self.bytes > self.budget_bytes:
                self._evict()

    def lookup(self, key: K) -> tuple[bool, V | None]:
        return self.peek(key)

    def _evict(self) -> None:
        """Down to a low-water mark, a batch per scan: each scan skips the
        holes earlier evictions left at the dict's front, so evicting one
        entry per insert would rescan them every time."""
        entries, size_of = self._entries, self._size_of
        target = self.budget_bytes - self.budget_bytes // 16
        while self.bytes > target and entries:
            for key in list(islice(entries, self._BATCH)):  # the oldest, in one scan
                value = entries.pop(key, _ABSENT)
                if value is not _ABSENT:
                    self.bytes -= size_of(key, value)  # type: ignore[arg-type]
                    self.evictions += 1
                if self.bytes <= target:
                    break
