from runtime.lru import LRUCache


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
