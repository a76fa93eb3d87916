from runtime.lru import FifoCache, LRUCache


def _size(key: bytes, value: bytes | None) -> int:
    return len(key) + len(value or b"") + 10


def test_evicts_the_least_recently_used_one_at_a_time() -> None:
    cache: LRUCache[bytes, bytes | None] = LRUCache(3 * 12, _size)
    for key in (b"a", b"b", b"c"):
        cache.put(key, b"x")
    assert cache.bytes == 36 and len(cache) == 3
    assert cache.get(b"a") == b"x"  # a is now the most recent
    cache.put(b"d", b"x")
    assert b"b" not in cache and all(k in cache for k in (b"a", b"c", b"d"))
    assert cache.evictions == 1 and cache.bytes == 36


def test_budget_counts_bytes_not_entries() -> None:
    cache: LRUCache[bytes, bytes | None] = LRUCache(100, _size)
    cache.put(b"big", b"v" * 80)
    cache.put(b"k", b"v")  # 93 + 12 bytes: over budget with two entries
    assert b"big" not in cache and cache.bytes == 12
    cache.put(b"k", b"v" * 50)  # replacing an entry counts its new size, not both
    assert cache.bytes == 61


def test_a_cached_none_is_a_hit_and_peek_keeps_the_order() -> None:
    cache: LRUCache[bytes, bytes | None] = LRUCache(2 * 11, _size)
    cache.put(b"a", None)
    cache.put(b"b", None)
    assert cache.lookup(b"a") == (True, None)
    assert cache.lookup(b"zz") == (False, None)
    assert cache.peek(b"b") == (True, None)  # b stays the oldest
    cache.put(b"c", None)
    assert b"b" not in cache and b"a" in cache


def test_never_exceeds_its_budget() -> None:
    cache: LRUCache[int, bytes] = LRUCache(1_000, lambda k, v: len(v) + 8)
    for i in range(5_000):
        cache.put(i % 700, b"x" * (i % 37))
        assert cache.bytes <= 1_000
    assert cache.bytes == sum(len(v) + 8 for _, v in cache.items())


def test_fifo_evicts_the_oldest_whatever_was_read() -> None:
    cache: FifoCache[bytes, bytes | None] = FifoCache(16 * 12, _size)
    for key in range(16):
        cache.put(bytes([key]), b"x")
    assert cache.get(bytes([0])) == b"x" and cache.lookup(bytes([0])) == (True, b"x")  # no reorder
    cache.put(b"new", b"x")
    # down to the low-water mark (15/16 of the budget): the three oldest go
    assert [k for k, _ in cache.items()] == [bytes([k]) for k in range(3, 16)] + [b"new"]
    assert cache.evictions == 3 and cache.bytes == 13 * 12 + 14


def test_fifo_replace_keeps_its_budget_through_many_batches() -> None:
    """A trie update's shape: drop what was read, add what was built; the
    bytes always match the entries and the oldest go first."""
    cache: FifoCache[int, bytes] = FifoCache(5_000, lambda k, v: len(v) + 8)
    for step in range(300):
        gone = [k for k in range(step * 10 - 40, step * 10 - 35) if k >= 0]  # half of them
        cache.replace(gone, [(step * 10 + i, b"x" * (i * 7 % 50)) for i in range(10)])
        assert cache.bytes <= 5_000
        assert cache.bytes == sum(len(v) + 8 for _, v in cache.items())
    kept = [k for k, _ in cache.items()]
    assert kept == sorted(kept) and kept[-1] == 2_999  # in insertion order, the newest kept
    assert cache.evictions > 0


class _TakenMeanwhile(dict[bytes, bytes | None]):
    """Entries whose membership test lets another thread's `take` land
    right after it (a FifoCache's take runs outside the cache's lock)."""

    def __contains__(self, key: object) -> bool:
        found = super().__contains__(key)
        if found and isinstance(key, bytes):
            super().pop(key)
        return found


def test_a_put_racing_a_take_neither_raises_nor_miscounts() -> None:
    """A put that first asks whether the key is there, then pops it, raises
    KeyError when a take lands in between (seen with RPC reads during an
    import); one pop with a default cannot."""
    cache: FifoCache[bytes, bytes | None] = FifoCache(1000, _size)
    cache.put(b"k", b"old")
    cache.put(b"j", b"other")
    cache._entries = _TakenMeanwhile(cache._entries)  # type: ignore[assignment]
    cache.put(b"k", b"new")
    cache.put(b"fresh", b"x")
    assert dict(cache._entries) == {b"k": b"new", b"j": b"other", b"fresh": b"x"}
    assert cache.bytes == sum(_size(k, v) for k, v in cache._entries.items())
