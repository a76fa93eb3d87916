from runtime.state import State


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
