import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.codec import blake2b_256
from runtime.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    MissingNode,
    TrieDB,
    _leaf_hash,
    _node_bytes,
    _path,
    decode,
    nibble,
)

keys = st.binary(min_size=0, max_size=4)
batches = st.lists(st.dictionaries(keys, st.none() | st.binary(max_size=8), max_size=12), max_size=12)


@given(batches)
def test_root_depends_only_on_content(history: list[dict[bytes, bytes | None]]) -> None:
    db = TrieDB(MemoryNodeStore())
    root, model = EMPTY_ROOT, dict[bytes, bytes]()
    for batch in history:
        root = db.update(root, batch)
        for key, value in batch.items():
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
        fresh = TrieDB(MemoryNodeStore()).update(EMPTY_ROOT, dict(model))
        assert root == fresh
        assert dict(db.items(root)) == model
        for key in model:
            assert db.get(root, key) == model[key]


@given(st.dictionaries(keys, st.binary(max_size=8), min_size=1, max_size=20), keys)
def test_old_roots_stay_readable(content: dict[bytes, bytes], extra: bytes) -> None:
    db = TrieDB(MemoryNodeStore())
    old = db.update(EMPTY_ROOT, content)
    db.update(old, {extra: b"new", **{k: None for k in content}})
    assert dict(db.items(old)) == content


def test_any_change_changes_the_root() -> None:
    db = TrieDB(MemoryNodeStore())
    base = db.update(EMPTY_ROOT, {b"a": b"1", b"b": b"2"})
    assert db.update(base, {b"a": b"3"}) != base
    assert db.update(base, {b"c": b"1"}) != base
    assert db.update(base, {b"a": None}) != base
    assert db.update(base, {b"a": b"1"}) == base
    assert db.update(base, {b"a": None, b"b": None}) == EMPTY_ROOT


def test_missing_node_is_reported() -> None:
    db = TrieDB(MemoryNodeStore())
    try:
        db.get(b"\x07" * 32, b"a")
    except MissingNode:
        pass
    else:
        raise AssertionError("read through a missing node")


def test_update_cost_is_logarithmic_in_state_size() -> None:
    store = MemoryNodeStore()
    db = TrieDB(store)
    root = db.update(EMPTY_ROOT, {i.to_bytes(4, "big"): b"v" for i in range(4096)})
    before = len(store.nodes)
    db.update(root, {(7).to_bytes(4, "big"): b"w"})
    written = len(store.nodes) - before
    assert written <= 6  # one leaf and ~log16(4096) = 3 inner nodes, not thousands


@given(st.dictionaries(keys, st.binary(max_size=8), max_size=20), batches)
def test_diff_turns_one_root_into_another(
    content: dict[bytes, bytes], history: list[dict[bytes, bytes | None]]
) -> None:
    db = TrieDB(MemoryNodeStore())
    old = db.update(EMPTY_ROOT, content)
    new = old
    for batch in history:
        new = db.update(new, batch)
    changes = db.diff(old, new)
    assert db.update(old, changes) == new
    model = dict(db.items(old))
    for key, value in changes.items():
        assert model.get(key) != value  # only real changes
    assert db.diff(new, new) == {}


def test_the_node_cache_stays_within_its_byte_budget() -> None:
    db = TrieDB(MemoryNodeStore(), cache_bytes=64_000)
    root = db.update(EMPTY_ROOT, {i.to_bytes(4, "big"): b"v" for i in range(4096)})
    for i in range(0, 4096, 7):
        assert db.get(root, i.to_bytes(4, "big")) == b"v"
    assert db._cache.bytes <= 64_000 and db._cache.evictions > 0


@given(
    history=st.lists(
        st.dictionaries(
            st.sampled_from([bytes([k]) for k in range(40)]), st.sampled_from([b"a", b"b", None])
        ),
        min_size=1,
        max_size=30,
    ),
    budget=st.sampled_from([0, 3_000, 1 << 20]),
)
def test_the_node_cache_counts_exactly_what_it_holds(
    history: list[dict[bytes, bytes | None]], budget: int
) -> None:
    """Updates take the nodes they replace out of the cache as they read
    them and put the built ones in; values coming back rebuild nodes that
    may be cached already. The byte count always equals what is held."""
    db = TrieDB(MemoryNodeStore(), cache_bytes=budget)
    root, model = EMPTY_ROOT, dict[bytes, bytes]()
    for change in history:
        root = db.update(root, change)
        model = {k: v for k, v in {**model, **change}.items() if v is not None}
        db.get(root, bytes([len(model) % 40]))  # readers fill the cache too
        assert db._cache.bytes == sum(_node_bytes(h, n) for h, n in db._cache.items()) <= budget
    assert dict(db.items(root)) == model


def test_an_update_that_meets_a_missing_node_leaves_the_cache_count_exact() -> None:
    store = MemoryNodeStore()
    db = TrieDB(store)
    root = db.update(EMPTY_ROOT, {bytes([k]): b"v" for k in range(64)})
    del store.nodes[_leaf_hash(bytes([63]), b"v")]  # pruned, say
    db._cache.clear()
    for k in range(63):
        db.get(root, bytes([k]))  # the cache holds the rest of the tree
    with pytest.raises(MissingNode):
        db.update(root, {bytes([k]): b"w" for k in range(64)})
    assert db._cache.bytes == sum(_node_bytes(h, n) for h, n in db._cache.items())


def reads_of(store: MemoryNodeStore) -> list[bytes]:
    """The keys `store` is asked for from now on (until `del store.get`)."""
    reads: list[bytes] = []
    real_get = store.get

    def get(key: bytes) -> bytes | None:
        reads.append(key)
        return real_get(key)

    store.get = get  # type: ignore[method-assign]
    return reads


class _CountingStore(MemoryNodeStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key: bytes) -> bytes | None:
        self.reads += 1
        return super().get(key)


def _top_levels(db: TrieDB, root: bytes, depth: int) -> set[bytes]:
    """The hashes of the tree's first `depth` levels, walked from `root`."""
    level, seen = [root], set()
    for _ in range(depth):
        seen.update(level)
        level = [c for h in level if (n := decode(db._fetch(h)))[0] == 1 for c in n[1] if c != EMPTY_ROOT]
    return seen


def _path_nodes(db: TrieDB, root: bytes, key: bytes) -> int:
    """How many nodes a read of `key` walks."""
    path, node_hash, depth, walked = _path(key), root, 0, 0
    while True:
        node, walked = decode(db._fetch(node_hash)), walked + 1
        if node[0] == 0:
            return walked
        node_hash, depth = node[1][nibble(path, depth)], depth + 1


def test_warming_loads_whole_top_levels_within_its_budget_and_then_reads_nothing_there() -> None:
    store = _CountingStore()
    root = TrieDB(store).update(EMPTY_ROOT, {i.to_bytes(4, "big"): b"v" for i in range(4096)})
    db = TrieDB(store)
    budget = 300 * _node_bytes(root, db._fetch(root))  # 1 + 16 + 256 full inner nodes: levels 0-2, not 3
    loaded = db.warm(root, budget)
    assert loaded == 273 and db._cache.bytes <= budget
    assert {h for h, _ in db._cache.items()} == _top_levels(db, root, 3)
    for i in (7, 1000, 4095):
        store.reads = 0
        assert db.get(root, i.to_bytes(4, "big")) == b"v"
        assert store.reads == _path_nodes(db, root, i.to_bytes(4, "big")) - 3  # only below the warmed levels


def test_warming_a_missing_or_empty_state_stops_without_raising() -> None:
    store = MemoryNodeStore()
    db = TrieDB(store)
    root = db.update(EMPTY_ROOT, {bytes([k]): b"v" for k in range(64)})
    assert TrieDB(store).warm(EMPTY_ROOT, 1 << 20) == 0
    assert TrieDB(store).warm(root, 1 << 20) == len(_top_levels(db, root, 64))  # the whole tree
    store.nodes.clear()
    assert TrieDB(store).warm(root, 1 << 20) == 0


def test_warming_stays_within_its_budget_where_leaves_weigh_more() -> None:
    store = MemoryNodeStore()
    root = TrieDB(store).update(EMPTY_ROOT, {bytes([k]): b"v" * 500 for k in range(64)})
    db = TrieDB(store, cache_bytes=1 << 20)
    for budget in (0, 2_000, 10_000, 40_000):
        db._cache.clear()
        db.warm(root, budget)
        assert db._cache.bytes <= budget + 500 + 32 + 1 + 340  # at most one node past it


@given(
    st.dictionaries(keys, st.binary(max_size=8), min_size=1, max_size=30),
    st.dictionaries(keys, st.none() | st.binary(max_size=8), min_size=1, max_size=12),
    st.dictionaries(keys, st.none() | st.binary(max_size=8), max_size=12),
)
def test_what_the_caller_claims_to_know_never_changes_the_root(
    content: dict[bytes, bytes], change: dict[bytes, bytes | None], claims: dict[bytes, bytes | None]
) -> None:
    """`known` values are taken only where a leaf's hash proves them: true
    ones, lies and absent keys all give the root of a plain update."""
    store = MemoryNodeStore()
    root = TrieDB(store).update(EMPTY_ROOT, content)
    expected = TrieDB(MemoryNodeStore()).update(
        EMPTY_ROOT, {k: v for k, v in {**content, **change}.items() if v is not None}
    )
    truth = {key: content.get(key) for key in change}
    for told in (truth, claims, {**truth, **claims}):
        db = TrieDB(store, cache_bytes=0)  # every node read cold: where the claims are consulted

        def known(key: bytes, told: dict[bytes, bytes | None] = told) -> tuple[bool, bytes | None]:
            return (key in told), told.get(key)

        assert db.update(root, change, known=known) == expected


def test_known_values_spare_the_store_reads_of_the_old_leaves() -> None:
    store = _CountingStore()
    content = {i.to_bytes(4, "big"): b"v%d" % i for i in range(4096)}
    root = TrieDB(store).update(EMPTY_ROOT, content)
    change = {i.to_bytes(4, "big"): b"w" for i in range(0, 4096, 97)}
    leaves = {_leaf_hash(key, content[key]) for key in change}
    reads = reads_of(store)
    plain = TrieDB(store, cache_bytes=0).update(root, change)
    assert leaves <= set(reads)  # without: each old leaf is read
    reads.clear()
    told = TrieDB(store, cache_bytes=0).update(root, change, known=lambda key: (True, content[key]))
    assert told == plain and reads and not leaves & set(reads)


def _sharing(nibbles: int, count: int) -> list[bytes]:
    """`count` keys whose paths share their first `nibbles` nibbles."""
    found: dict[int, list[bytes]] = {}
    i = 0
    while True:
        key = i.to_bytes(4, "big")
        group = found.setdefault(_path(key) >> (256 - 4 * nibbles), [])
        group.append(key)
        if len(group) == count:
            return group
        i += 1


def test_leaves_sharing_nibbles_hang_under_a_chain_of_inner_nodes_and_a_lone_one_rises() -> None:
    """A subtree of two leaves or more is an inner node at its depth, even
    with one child; a subtree of one leaf is that leaf, wherever it sits."""
    a, b = _sharing(2, 2)
    db = TrieDB(MemoryNodeStore())
    root = db.update(EMPTY_ROOT, {a: b"1", b: b"2"})
    top = decode(db._fetch(root))
    assert top[0] == 1 and sum(child != EMPTY_ROOT for child in top[1]) == 1  # the shared first nibble
    middle_hash = top[1][nibble(_path(a), 0)]
    middle = decode(db._fetch(middle_hash))
    assert middle[0] == 1 and sum(child != EMPTY_ROOT for child in middle[1]) == 1  # and the second
    # the format as documented: H(0x01 ‖ bitmap ‖ the children there are)
    assert root == blake2b_256(b"\x01" + (1 << nibble(_path(a), 0)).to_bytes(2, "big") + middle_hash)
    assert db.update(root, {b: None}) == _leaf_hash(a, b"1")  # the survivor rises to the root
    assert db.update(db.update(root, {b: None}), {b: b"2"}) == root


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3_000), st.none() | st.binary(max_size=4)), min_size=1, max_size=300)
)
def test_a_large_tree_updated_key_by_key_equals_one_built_whole(
    changes: list[tuple[int, bytes | None]],
) -> None:
    """Deep paths (one key each, the update's loop down and up) through
    inserts, overwrites and deletes that empty whole subtrees."""
    content = {i.to_bytes(4, "big"): b"v" for i in range(0, 3_000, 2)}
    db = TrieDB(MemoryNodeStore(), cache_bytes=1 << 16)
    root = db.update(EMPTY_ROOT, content)
    for index, value in changes:
        key = index.to_bytes(4, "big")
        root = db.update(root, {key: value})
        if value is None:
            content.pop(key, None)
        else:
            content[key] = value
    assert root == TrieDB(MemoryNodeStore()).update(EMPTY_ROOT, content)
    assert dict(db.items(root)) == content
