"""Verified chunks of a state trie: how warp sync downloads a state and proves
every piece of it against the state root.

The requester knows the hash of every subtree it still lacks (the root at
first), with its position: the `depth` nibbles of path above it and their
value (`prefix`). For each such hash the server answers either

- the inner node's raw bytes (0x01 ‖ bitmap ‖ children), checked by hashing
  them; its children become new subtrees to fetch, one nibble deeper; or
- every (key, value) leaf of the subtree, when it holds at most `max_leaves`;
  the requester rebuilds the subtree with the trie's own building code
  (`runtime.merkle.build_subtree`) at that depth and checks its hash.

Either way the answer is proven against the hash the requester asked for,
and that hash against its parent, up to the root. Leaves must also lie under
the subtree's path prefix and be distinct: anything else is a bad chunk.

A node proven against the root can still show that the state itself is
forged (`ForgedState`): no real trie holds an inner node with two equal
children, nor one node hash at two positions (paths differ, so the leaves
under them do), nor a leaf off its path. A forged root could otherwise
unfold a few distinct nodes into 16^63 subtrees; the requester refuses such a
state (node.warp_download also tracks every hash it met, and caps the work).

Serving is bounded per request: a subtree is answered with its leaves only
after a probe down its leftmost path suggests it is small (never a walk of
the whole state), the leaves walk stops at `max_leaves` or a byte cap, and
all the hashes of one request share one budget of node visits (`Budget`):
what does not fit is left for the requester's next request.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtime.codec import ZERO_HASH, blake2b_256
from runtime.merkle import (
    DEPTH,
    INNER,
    LEAF,
    MissingNode,
    TrieDB,
    build_subtree,
    children,
    leaf_items,
    load_node,
)

MAX_LEAVES = 1024  # the most leaves one subtree answer may carry
ANSWER_INNER, ANSWER_LEAVES, ANSWER_MISSING = 0, 1, 2
_PER_LEAF = 8  # msgpack framing of a key and a value, about


class BadChunk(ValueError):
    """An answer that is not the subtree asked for: its sender lied."""


class ForgedState(BadChunk):
    """A node that proves against the hash asked for, yet no real trie holds
    it there: the state root itself is forged (and its sender served it)."""


@dataclass(frozen=True)
class Subtree:
    """A subtree still to fetch: its hash and where it sits."""

    hash: bytes
    depth: int  # path nibbles above it: 0 for the root
    prefix: int  # the value of those nibbles


@dataclass(frozen=True)
class Verified:
    """A proven answer: the nodes to store and the subtrees it leaves to fetch."""

    nodes: dict[bytes, bytes]
    children: tuple[Subtree, ...]
    leaves: int  # leaves it carried (0 for an inner node)


# -- serving ---------------------------------------------------------------------
class Budget:
    """Node visits one request may still spend, shared by all its hashes."""

    def __init__(self, visits: int) -> None:
        self.total = self.visits = visits

    def spend(self) -> None:
        self.visits -= 1
        if self.visits < 0:
            raise _OverBudget


class _OverBudget(Exception):
    pass


def answer(db: TrieDB, node_hash: bytes, max_leaves: int, max_bytes: int) -> tuple[list[Any], int]:
    """The wire answer for one subtree and its size in bytes, about."""
    found = answer_within(db, node_hash, max_leaves, max_bytes, Budget(1 << 62))
    assert found is not None
    return found


def answer_within(
    db: TrieDB, node_hash: bytes, max_leaves: int, max_bytes: int, budget: Budget
) -> tuple[list[Any], int] | None:
    """`answer` within what is left of `budget`: None when its leaves walk
    would not fit there after earlier hashes spent some (the rest next
    time); a walk that overruns it anyway answers the inner node. A node
    pruned meanwhile (`MissingNode` mid-walk) is answered missing."""
    try:
        return _answer(db, node_hash, max_leaves, max_bytes, budget)
    except MissingNode:
        return [ANSWER_MISSING], 1


def _answer(
    db: TrieDB, node_hash: bytes, max_leaves: int, max_bytes: int, budget: Budget
) -> tuple[list[Any], int] | None:
    fresh = budget.visits == budget.total
    budget.visits -= 1
    raw_node = db.store.get(node_hash)
    if raw_node is None:
        return [ANSWER_MISSING], 1
    node = load_node(db, node_hash)
    if node[0] == LEAF:
        return [ANSWER_LEAVES, [node[2], node[3]]], len(node[2]) + len(node[3]) + _PER_LEAF
    inner = [ANSWER_INNER, raw_node], len(raw_node) + 4
    levels = (max_leaves.bit_length() + 3) // 4  # of 16 children, that many leaves fill
    try:
        depth = _probe_depth(db, node, levels + 1, budget)
        if depth > levels + 1:
            return inner  # far more leaves than an answer takes: skip the walk
        if 2 << (4 * (depth - 1)) > budget.visits and not fresh:
            return None  # its walk, about a visit a leaf, next time
        leaves = _leaves_under(db, node, max_leaves, max_bytes, budget)
    except _OverBudget:
        return inner
    if leaves is None:
        return inner
    return [ANSWER_LEAVES, leaves], sum(len(x) for x in leaves) + _PER_LEAF * len(leaves) // 2


def _probe_depth(db: TrieDB, node: Any, limit: int, budget: Budget) -> int:
    """Levels down the leftmost path to a leaf (at most `limit` + 1): about
    log16 of the leaves below, plus one (paths are hashes, so the tree is
    balanced in expectation)."""
    steps = 0
    while node[0] == INNER and steps <= limit:
        budget.spend()
        node = load_node(db, next(child for child in node[1] if child != ZERO_HASH))
        steps += 1
    return steps


def _leaves_under(
    db: TrieDB, node: Any, max_leaves: int, max_bytes: int, budget: Budget
) -> list[bytes] | None:
    """[key, value, key, value, ...] under `node`; None past either cap."""
    flat: list[bytes] = []
    size = 0
    stack = [node]
    while stack:
        node = stack.pop()
        if node[0] == LEAF:
            flat += (node[2], node[3])
            size += len(node[2]) + len(node[3]) + _PER_LEAF
            if len(flat) > 2 * max_leaves or size > max_bytes:
                return None
            continue
        for child in reversed(node[1]):
            if child != ZERO_HASH:
                budget.spend()
                stack.append(load_node(db, child))
    return flat


# -- verifying -------------------------------------------------------------------
def verify(subtree: Subtree, wire: Any, max_leaves: int = MAX_LEAVES) -> Verified | None:
    """The proven content of one answer; None when the server lacks the node
    (not a lie: it may have pruned it); `BadChunk` when it does not prove."""
    if type(wire) is not list or not wire or type(wire[0]) is not int:
        raise BadChunk("an answer is [kind, payload]")
    kind = wire[0]
    if kind == ANSWER_MISSING and len(wire) == 1:
        return None
    if len(wire) != 2:
        raise BadChunk("an answer is [kind, payload]")
    if kind == ANSWER_INNER:
        return _verify_inner(subtree, wire[1])
    if kind == ANSWER_LEAVES:
        return _verify_leaves(subtree, wire[1], max_leaves)
    raise BadChunk(f"unknown answer kind {kind}")


def _verify_inner(subtree: Subtree, raw: Any) -> Verified:
    if (
        type(raw) is not bytes
        or len(raw) < 35
        or raw[0] != INNER
        or len(raw) != 3 + 32 * int.from_bytes(raw[1:3], "big").bit_count()
    ):
        raise BadChunk("an inner node is 0x01 ‖ bitmap ‖ its children")
    if blake2b_256(raw) != subtree.hash:
        raise BadChunk("an inner node that does not hash to the subtree asked for")
    kids = children(raw)
    present = [kid for kid in kids if kid != ZERO_HASH]
    if len(present) != (len(raw) - 3) // 32:
        raise ForgedState("an inner node that lists an empty subtree as a child")
    if len(set(present)) != len(present):
        raise ForgedState("an inner node with two children the same subtree")
    depth = subtree.depth + 1
    if depth >= DEPTH:
        raise ForgedState("an inner node below the deepest level")
    prefix = subtree.prefix << 4
    found = tuple(Subtree(kid, depth, prefix | slot) for slot, kid in enumerate(kids) if kid != ZERO_HASH)
    return Verified({subtree.hash: raw}, found, 0)


def _verify_leaves(subtree: Subtree, flat: Any, max_leaves: int) -> Verified:
    if type(flat) is not list or not flat or len(flat) % 2 or len(flat) > 2 * max_leaves:
        raise BadChunk(f"leaves are [key, value, ...], 1 to {max_leaves} of them")
    if not all(type(x) is bytes for x in flat) or any(len(k) >= 1 << 16 for k in flat[::2]):
        raise BadChunk("leaf keys and values are bytes")
    items = leaf_items(list(zip(flat[::2], flat[1::2], strict=True)))
    shift = 4 * (DEPTH - subtree.depth)
    previous = -1
    for path, _, _ in items:
        if subtree.depth and path >> shift != subtree.prefix:
            raise BadChunk("a leaf outside the subtree's path")
        if path == previous:
            raise BadChunk("a leaf given twice")
        previous = path
    root, nodes = build_subtree(subtree.depth, items)
    if root != subtree.hash:
        raise BadChunk("leaves that do not rebuild the subtree asked for")
    return Verified(nodes, (), len(items))


def verify_local(subtree: Subtree, raw: bytes) -> Verified:
    """A node already held here (the genesis state, an earlier download),
    checked for the position it is met at: an inner node like a fetched one,
    a leaf under the subtree's path prefix. `ForgedState` otherwise (the
    bytes are right for their hash: the root that puts them there is not)."""
    if raw[:1] == bytes([INNER]):
        return _verify_inner(subtree, raw)
    if len(raw) < 3 or raw[0] != LEAF:
        raise ForgedState("a stored node of unknown kind")
    key = raw[3 : 3 + int.from_bytes(raw[1:3], "big")]
    ((path, _, _),) = leaf_items([(key, b"")])
    if subtree.depth and path >> (4 * (DEPTH - subtree.depth)) != subtree.prefix:
        raise ForgedState("a leaf outside the path of the position it is met at")
    return Verified({}, (), 1)


def missing_under(
    get: Callable[[bytes], bytes | None], root: bytes, limit: int, max_nodes: int = 1 << 62
) -> list[Subtree]:
    """Subtrees under `root` whose node `get` lacks (at most `limit`): a walk
    of every node, to check a downloaded state is complete before it is used
    (its nodes were proven as they were stored: only presence is checked).
    `ForgedState` past `max_nodes` (more than the state can hold)."""
    found: list[Subtree] = []
    stack = [(root, 0, 0)] if root != ZERO_HASH else []
    inner = INNER
    while stack and len(found) < limit:
        max_nodes -= 1
        if max_nodes < 0:
            raise ForgedState("more nodes than the state can hold")
        node_hash, depth, prefix = stack.pop()
        raw = get(node_hash)
        if raw is None:
            found.append(Subtree(node_hash, depth, prefix))
        elif raw[0] == inner and depth < DEPTH - 1:
            stack.extend(
                (kid, depth + 1, prefix << 4 | slot)
                for slot, kid in enumerate(children(raw))
                if kid != ZERO_HASH
            )
    return found
