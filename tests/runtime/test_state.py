from runtime.merkle import EMPTY_ROOT, MemoryNodeStore, TrieDB, _leaf_hash
from runtime.state import State
from tests.runtime.test_merkle import reads_of


def test_layers_commit_and_rollback() -> None:
    state = State.in_memory()
    state.set(b"a", b"1")
    state.begin()
    state.set(b"a", b"2")
    state.begin()
    state.delete(b"a")
    assert state.get(b"a") is None
    state.rollback()
    assert state.get(b"a") == b"2"
    state.commit()
    assert state.get(b"a") == b"2"
    root = state.commit_block()
    assert state.at(root).get(b"a") == b"2"


def test_commit_block_refuses_open_layers() -> None:
    state = State.in_memory()
    state.begin()
    try:
        state.commit_block()
    except RuntimeError:
        pass
    else:
        raise AssertionError("committed with an open layer")


def test_discard_forgets_pending_writes() -> None:
    state = State.in_memory()
    state.set(b"a", b"1")
    root = state.commit_block()
    state.set(b"a", b"2")
    state.begin()
    state.set(b"b", b"3")
    state.discard()
    assert state.get(b"a") == b"1" and state.get(b"b") is None
    assert state.commit_block() == root


def test_items_merge_pending_and_sorted() -> None:
    state = State.in_memory()
    state.set(b"b", b"1")
    state.set(b"a", b"1")
    state.commit_block()
    state.delete(b"b")
    state.set(b"c", b"2")
    assert list(state.items()) == [(b"a", b"1"), (b"c", b"2")]


def test_a_fork_leaves_its_parent_readable_and_hands_over_the_cache() -> None:
    """A block applied on a fork is invisible to readers of the parent until
    the fork is adopted; the fork's root equals applying in place."""
    parent = State.in_memory()
    for i in range(20):
        parent.set(b"k%d" % i, b"v%d" % i)
    parent.commit_block()
    assert parent.get(b"k1") == b"v1"  # cached in the parent's reads

    in_place = parent.at(parent.root)
    fork = parent.fork()
    for state in (fork, in_place):
        state.set(b"k1", b"new")
        state.delete(b"k2")
        state.set(b"k99", b"added")
    assert parent.get(b"k1") == b"v1" and parent.get(b"k2") == b"v2" and parent.get(b"k99") is None
    assert fork.commit_block() == in_place.commit_block()
    assert parent.get(b"k1") == b"v1"  # still the old root's value
    assert fork.get(b"k1") == b"new" and fork.get(b"k2") is None and fork.get(b"k3") == b"v3"

    fork.adopt_cache()
    assert fork.get(b"k1") == b"new" and fork.get(b"k2") is None and fork.get(b"k99") == b"added"
    assert all(fork.get(b"k%d" % i) == in_place.get(b"k%d" % i) for i in range(20))


def test_only_a_clean_state_forks() -> None:
    import pytest

    state = State.in_memory()
    state.set(b"a", b"1")
    with pytest.raises(RuntimeError):
        state.fork()


def test_a_fork_with_a_tiny_cache_never_reads_the_base_for_what_it_wrote() -> None:
    parent = State.in_memory()
    for i in range(50):
        parent.set(b"k%d" % i, b"old")
    parent.commit_block()
    for i in range(50):
        parent.get(b"k%d" % i)
    fork = parent.fork()
    fork._reads.budget_bytes = 400  # evicts nearly everything it holds
    for i in range(50):
        fork.set(b"k%d" % i, b"new")
    fork.commit_block()
    assert all(fork.get(b"k%d" % i) == b"new" for i in range(50))
    assert all(parent.get(b"k%d" % i) == b"old" for i in range(50))
    fork.adopt_cache()
    assert all(fork.get(b"k%d" % i) == b"new" for i in range(50))


def test_a_block_that_read_what_it_writes_does_not_read_the_old_leaves_back() -> None:
    """The root update takes the old values from the state's read cache
    (a fork's too), so it reads no old leaf from the store."""
    store = MemoryNodeStore()
    content = {i.to_bytes(4, "big"): b"v%d" % i for i in range(2048)}
    root = TrieDB(store).update(EMPTY_ROOT, content)
    written = [i.to_bytes(4, "big") for i in range(0, 2048, 61)]
    for fork in (False, True):
        base = State(TrieDB(store, cache_bytes=0), root)
        if fork:  # the base read them: the fork answers from the base's cache
            for key in written:
                base.get(key)
        state = base.fork() if fork else base
        for key in written:
            value = state.get(key)
            assert value is not None
            state.set(key, value + b"+")
        reads = reads_of(store)
        new_root = state.commit_block()
        assert reads and not {_leaf_hash(key, content[key]) for key in written} & set(reads)
        assert new_root == TrieDB(MemoryNodeStore()).update(
            EMPTY_ROOT, {**content, **{key: content[key] + b"+" for key in written}}
        )
        del store.get
