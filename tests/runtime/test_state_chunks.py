"""Warp sync's state chunks: honest answers rebuild the exact state, and any
tampered, missing or extra piece is refused."""

import os
import random
from collections import deque

import pytest

from runtime.codec import blake2b_256
from runtime.merkle import EMPTY_ROOT, MemoryNodeStore, TrieDB, children, present
from runtime.state_chunks import (
    ANSWER_INNER,
    ANSWER_LEAVES,
    ANSWER_MISSING,
    BadChunk,
    Budget,
    ForgedState,
    Subtree,
    Verified,
    answer,
    answer_within,
    missing_under,
    verify,
    verify_local,
)

BUDGET = 1 << 20


def _state(keys: int, seed: int = 1) -> tuple[TrieDB, bytes, dict[bytes, bytes]]:
    rng = random.Random(seed)
    content = {rng.randbytes(rng.randrange(1, 40)): rng.randbytes(rng.randrange(0, 60)) for _ in range(keys)}
    db = TrieDB(MemoryNodeStore())
    return db, db.update(EMPTY_ROOT, content), content


def _download(db: TrieDB, root: bytes, max_leaves: int) -> tuple[dict[bytes, bytes], int]:
    """Fetch the whole state from `db` chunk by chunk, verifying each."""
    store: dict[bytes, bytes] = {}
    frontier = deque([Subtree(root, 0, 0)])
    answers = 0
    while frontier:
        subtree = frontier.popleft()
        wire, _ = answer(db, subtree.hash, max_leaves, BUDGET)
        proven = verify(subtree, wire, max_leaves)
        assert proven is not None
        store.update(proven.nodes)
        frontier.extend(proven.children)
        answers += 1
    return store, answers


@pytest.mark.parametrize(("keys", "max_leaves"), [(1, 16), (2, 16), (3_000, 64), (3_000, 1024)])
def test_honest_chunks_rebuild_the_exact_state(keys: int, max_leaves: int) -> None:
    db, root, content = _state(keys)
    nodes, answers = _download(db, root, max_leaves)
    fetched = MemoryNodeStore()
    fetched.nodes = nodes
    assert dict(TrieDB(fetched).items(root)) == content
    assert answers <= max(1, keys // 10)  # leaves travel in subtrees, not one node at a time
    # every node stored is one the source holds, byte for byte
    assert all(db.store.get(h) == raw for h, raw in nodes.items())


def _leaves_answer(db: TrieDB, root: bytes) -> tuple[Subtree, list]:  # type: ignore[type-arg]
    """A subtree answered with its leaves, a few levels down."""
    frontier = deque([Subtree(root, 0, 0)])
    while frontier:
        subtree = frontier.popleft()
        wire, _ = answer(db, subtree.hash, 64, BUDGET)
        if wire[0] == ANSWER_LEAVES and len(wire[1]) >= 6 and subtree.depth > 0:
            return subtree, wire
        proven = verify(subtree, wire, 64)
        assert isinstance(proven, Verified)
        frontier.extend(proven.children)
    raise AssertionError("no leaves answer")


def test_tampered_leaves_are_refused() -> None:
    db, root, _ = _state(3_000)
    subtree, wire = _leaves_answer(db, root)
    flat = wire[1]
    tampered = [
        flat[:1] + [flat[1] + b"x"] + flat[2:],  # a changed value
        flat[2:],  # a missing leaf
        flat + [b"extra", b"leaf"],  # an extra leaf outside the path
        flat + flat[:2],  # a leaf given twice
        flat[:-1],  # an odd list
        [flat[0], 5, *flat[2:]],  # not bytes
    ]
    for bad in tampered:
        with pytest.raises(BadChunk):
            verify(subtree, [ANSWER_LEAVES, bad], 64)
    with pytest.raises(BadChunk):  # more leaves than asked for
        verify(subtree, wire, 2)
    with pytest.raises(BadChunk):  # honest leaves, but not of the subtree asked for
        verify(Subtree(blake2b_256(b"x"), subtree.depth, subtree.prefix), wire, 64)


def test_a_tampered_inner_node_is_refused() -> None:
    db, root, _ = _state(3_000)
    wire, _ = answer(db, root, 64, BUDGET)
    assert wire[0] == ANSWER_INNER
    raw = wire[1]
    for bad in (raw[:1] + os.urandom(64), b"\x00" + raw[1:], raw[:-1], raw + b"\x00", "text"):
        with pytest.raises(BadChunk):
            verify(Subtree(root, 0, 0), [ANSWER_INNER, bad], 64)
    with pytest.raises(BadChunk):  # the honest node, asked for at an impossible depth
        verify(Subtree(root, 255, 0), wire, 64)
    for shape in ([], [7, b""], [ANSWER_INNER], "x", [ANSWER_INNER, raw, raw]):
        with pytest.raises(BadChunk):
            verify(Subtree(root, 0, 0), shape, 64)


def test_a_node_the_server_lacks_is_missing_not_bad() -> None:
    db, _, _ = _state(10)
    wire, _ = answer(db, blake2b_256(b"unknown"), 64, BUDGET)
    assert verify(Subtree(blake2b_256(b"unknown"), 0, 0), wire, 64) is None


def test_serving_is_bounded_by_leaves_and_bytes() -> None:
    db, root, content = _state(3_000)
    wire, size = answer(db, root, 1024, BUDGET)
    assert wire[0] == ANSWER_INNER and size < 600  # 3,000 leaves: more than one answer takes
    wire, size = answer(db, root, 4096, 1024)
    assert wire[0] == ANSWER_INNER  # within the leaf count, over the byte cap
    wire, size = answer(db, root, 4096, BUDGET)
    assert wire[0] == ANSWER_LEAVES and len(wire[1]) == 2 * len(content) and size > 50_000


def test_a_forged_state_that_would_unfold_is_refused() -> None:
    """Equal children, an empty subtree listed as a child, or a leaf held
    here at a position off its path, prove the state forged: no real trie
    holds them."""
    db, root, _ = _state(10)
    leaf = next(h for h, raw in db.store.nodes.items() if raw[0] == 0)  # type: ignore[attr-defined]
    doubled = b"\x01\x00\x03" + leaf + leaf  # children 0 and 1
    with pytest.raises(ForgedState):
        verify(Subtree(blake2b_256(doubled), 0, 0), [ANSWER_INNER, doubled])
    with pytest.raises(ForgedState):
        verify_local(Subtree(blake2b_256(doubled), 0, 0), doubled)
    for hollow in (b"\x01\x00\x01" + bytes(32), b"\x01\x00\x03" + leaf + bytes(32)):  # an empty child listed
        with pytest.raises(ForgedState):
            verify(Subtree(blake2b_256(hollow), 0, 0), [ANSWER_INNER, hollow])
        with pytest.raises(ForgedState):
            verify_local(Subtree(blake2b_256(hollow), 0, 0), hollow)
    raw = db.store.get(leaf)
    assert raw is not None
    path = int.from_bytes(blake2b_256(raw[3 : 3 + int.from_bytes(raw[1:3], "big")]), "big")
    assert verify_local(Subtree(leaf, 3, path >> 244), raw).leaves == 1
    with pytest.raises(ForgedState):
        verify_local(Subtree(leaf, 3, (path >> 244) ^ 1), raw)


def test_the_completeness_walk_finds_what_is_missing() -> None:
    db, root, _ = _state(500)
    nodes = db.store.nodes  # type: ignore[attr-defined]
    assert missing_under(nodes.get, root, 10) == []
    slot, child = next((slot, kid) for slot, kid in enumerate(children(nodes[root])) if kid != EMPTY_ROOT)
    held = {h: raw for h, raw in nodes.items() if h != child}
    assert missing_under(held.get, root, 10) == [Subtree(child, 1, slot)]
    assert missing_under(lambda h: None, root, 10) == [Subtree(root, 0, 0)]


def test_one_budget_bounds_a_whole_request() -> None:
    """Subtrees just over the leaf cap cost a leaves walk each: a shared
    budget of visits ends the request early, and a node pruned mid-walk is
    answered missing rather than failing the request."""
    db, root, _ = _state(3_000)
    level = present(db._fetch(root))  # 16 subtrees of ~190 leaves
    budget = Budget(300)
    first = answer_within(db, level[0], 4096, BUDGET, budget)
    assert first is not None and first[0][0] == ANSWER_LEAVES  # a fresh budget always answers one
    assert answer_within(db, level[1], 4096, BUDGET, budget) is None  # the rest next time
    tiny = Budget(50)  # a walk that overruns the budget answers the inner node
    inner = db._fetch(level[0])
    assert answer_within(db, level[0], 4096, BUDGET, tiny) == ([ANSWER_INNER, inner], len(inner) + 4)
    pruned = TrieDB(MemoryNodeStore(), cache_bytes=0)
    pruned.store.nodes = {h: raw for h, raw in db.store.nodes.items() if raw[0] == 1}  # type: ignore[attr-defined]
    assert answer(pruned, level[0], 1024, BUDGET)[0] == [ANSWER_MISSING]
