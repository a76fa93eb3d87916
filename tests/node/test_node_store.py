"""The buffered node store's account of a block (node.node_store): over any
number of trie updates in one block, what it writes and what it journals as
replaced are exactly the difference between the parent's tree and the
block's, so pruning never deletes a live node and never leaks a dead one."""

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.storage import ChainStore
from runtime.merkle import EMPTY_ROOT, TrieDB
from tests.node.test_state_pruning import _reachable, _stored

KEYS = [bytes([k]) for k in range(8)]
changes = st.dictionaries(
    st.sampled_from(KEYS), st.sampled_from([b"", b"a", b"b", b"c"]), min_size=1, max_size=5
)


def _apply(trie: TrieDB, root: bytes, change: dict[bytes, bytes]) -> bytes:
    return trie.update(root, {key: value or None for key, value in change.items()})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parent=changes, updates=st.lists(changes, min_size=1, max_size=4))
def test_a_blocks_writes_and_replaced_nodes_are_the_trees_difference(
    tmp_path_factory: object, parent: dict[bytes, bytes], updates: list[dict[bytes, bytes]]
) -> None:
    path: Path = tmp_path_factory.mktemp("db")  # type: ignore[attr-defined]
    store = ChainStore(path)
    try:
        trie = TrieDB(store.nodes, cache_bytes=0)
        before = _apply(trie, EMPTY_ROOT, parent)
        with store.db.write_batch() as batch:
            store.nodes.drain_into(batch)
        old = _reachable(trie, before)
        root = before
        for change in updates:  # one block, several updates (as a block's hooks may make)
            root = _apply(trie, root, change)
        new = _reachable(trie, root)
        nodes = store.nodes
        assert set(nodes.pending) == new - old  # written: what the block's tree adds
        assert nodes.dead == old - new  # journaled: what it no longer holds
        with store.db.write_batch() as batch:
            nodes.drain_into(batch, journal=(1, b"\x01" * 32))
        assert _stored(store) == old | new and not nodes.pending and not nodes.dead
    finally:
        store.close()
