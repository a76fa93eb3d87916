"""Flat reads (diff layers over a table at the finalized root) answer exactly
what the trie answers, through random blocks, forks and finality moves."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.flat import MISS, FlatState
from runtime.merkle import EMPTY_ROOT, MemoryNodeStore, TrieDB
from runtime.state import State

KEYS = [b"k%d" % i for i in range(12)]
changes = st.dictionaries(st.sampled_from(KEYS), st.none() | st.binary(min_size=1, max_size=3), max_size=6)
# ("block", parent pick, changes) | ("final", pick) | ("restart", _): picks index the tree
steps = st.lists(
    st.one_of(
        st.tuples(st.just("block"), st.integers(0, 10_000), changes),
        st.tuples(st.just("final"), st.integers(0, 10_000), st.none()),
        st.tuples(st.just("restart"), st.just(0), st.none()),
    ),
    max_size=30,
)


class Table(dict[bytes, bytes]):
    def get(self, key: bytes, default: object = None) -> bytes | None:  # type: ignore[override]
        return super().get(key)


def _fold(db: TrieDB, flat: FlatState, table: Table, root: bytes) -> None:
    merged = flat.fold(root)
    if merged is None:
        merged = db.diff(flat.root, root)
    flat.begin_move()
    for key, value in merged.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    flat.moved(root)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.sampled_from(KEYS), st.binary(min_size=1, max_size=3)),
    steps,
    st.integers(1, 4),
    st.sampled_from([400, 1 << 30]),  # a byte budget that a few layers fill, or none
)
def test_flat_reads_equal_trie_reads(
    genesis: dict[bytes, bytes], script: list[Any], max_layers: int, max_bytes: int
) -> None:
    db = TrieDB(MemoryNodeStore(), cache_bytes=2_000)  # tiny: evictions happen
    table = Table(genesis)
    root = db.update(EMPTY_ROOT, dict(genesis))
    flat = FlatState(table, root, max_layers=max_layers, max_bytes=max_bytes)
    # the block tree: (root, parent index); finality is an index into it
    tree: list[tuple[bytes, int]] = [(root, -1)]
    final = 0
    for kind, pick, batch in script:
        if kind == "block":
            parent = pick % len(tree)
            state = State(db, tree[parent][0], flat=flat, cache_bytes=500)
            for key in KEYS[::3]:
                state.get(key)  # warm the read cache at the parent's root
            for key, value in (batch or {}).items():
                if value is None:
                    state.delete(key)
                else:
                    state.set(key, value)
            tree.append((state.commit_block(), parent))
        elif kind == "final":
            target = pick % len(tree)
            ancestors, cursor = set(), target
            while cursor != -1:
                ancestors.add(cursor)
                cursor = tree[cursor][1]
            if final in ancestors and target != final:  # finality only moves up its own chain
                _fold(db, flat, table, tree[target][0])
                final = target
        else:  # a restart loses the layers; the table stays
            flat = FlatState(table, flat.root, max_layers=max_layers, max_bytes=max_bytes)
        assert dict(table) == dict(db.items(flat.root))
        assert flat.bytes <= max_bytes  # layers never hold more than their budget
        for node_root, _ in tree:
            state = State(db, node_root, flat=flat)
            for key in KEYS:
                assert state.get(key) == db.get(node_root, key)
                answer = flat.get(node_root, key)
                assert answer is MISS or answer == db.get(node_root, key)


def test_reads_above_the_table_never_walk_the_trie() -> None:
    store = MemoryNodeStore()
    db = TrieDB(store)
    base = db.update(EMPTY_ROOT, {b"a": b"1", b"b": b"2"})
    table = Table({b"a": b"1", b"b": b"2"})
    flat = FlatState(table, base)
    state = State(db, base, flat=flat)
    state.set(b"a", b"3")
    child = state.commit_block()
    store.nodes.clear()  # no trie left to walk
    fresh = State(db.__class__(store), child, flat=flat)
    assert fresh.get(b"a") == b"3" and fresh.get(b"b") == b"2" and fresh.get(b"zz") is None
    assert flat.covers(child) and len(flat) == 1


def test_a_layer_whose_parent_is_not_covered_is_not_kept() -> None:
    db = TrieDB(MemoryNodeStore())
    base = db.update(EMPTY_ROOT, {b"a": b"1"})
    flat = FlatState(Table({b"a": b"1"}), base)
    elsewhere = db.update(EMPTY_ROOT, {b"x": b"1"})
    assert not flat.record(elsewhere, db.update(elsewhere, {b"x": b"2"}), {b"x": b"2"})
    assert len(flat) == 0
