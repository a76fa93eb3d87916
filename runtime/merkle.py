"""A compacted sparse Merkle tree over BLAKE2b-256 key paths.

The tree is defined by its contents alone, so the root does not depend on the
order of writes: a subtree holding no leaves hashes to 32 zero bytes, one
holding exactly one leaf hashes to that leaf, and any other subtree hashes to
H(0x01 ‖ left ‖ right). Paths are the bits of H(key), so depth stays near
log2(n) and a batch update rehashes only the paths it touches:
O(changed keys × log state size).

Nodes are immutable and content-addressed in a `NodeStore`, so every root
stays readable (forks, history) for as long as its nodes are kept.
"""

from bisect import bisect_left
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from hashlib import blake2b as _blake2b
from typing import Any, Protocol

from runtime.codec import ZERO_HASH, blake2b_256
from runtime.lru import FifoCache

EMPTY_ROOT = ZERO_HASH
_LEAF = 0
_INNER = 1
_TOP_BIT = 255
DEFAULT_CACHE_BYTES = 128 * 1024 * 1024
# Bytes one cached node costs beyond its hash and contents: the OrderedDict
# slot, the tuple and the bytes/int object headers (a leaf also keeps its
# 256-bit path). Measured with tracemalloc over 200,000 entries (CPython
# 3.11): 268 for an inner node, 336 for a leaf.
_INNER_OVERHEAD = 270
_LEAF_OVERHEAD = 340

# (LEAF, path, key, value) or (INNER, left hash, right hash)
Node = tuple[Any, ...]
Item = tuple[int, bytes, bytes | None]


class NodeStore(Protocol):
    """Where trie nodes live: a dict in tests, LevelDB in the node."""

    def get(self, key: bytes) -> bytes | None: ...

    def replace(self, gone: list[bytes], fresh: Mapping[bytes, bytes]) -> None:
        """One update's effect: the nodes it replaced, the nodes it built
        (a node in both is unchanged). A pruning store journals them."""
        ...


class MemoryNodeStore:
    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.nodes.get(key)

    def replace(self, gone: list[bytes], fresh: Mapping[bytes, bytes]) -> None:
        self.nodes.update(fresh)  # an archive: old roots stay readable


class MissingNode(KeyError):
    """The store lacks a node some root refers to (pruned or corrupt)."""


def _leaf_hash(key: bytes, value: bytes) -> bytes:
    return blake2b_256(b"\x00" + blake2b_256(key) + blake2b_256(value))


def _path(key: bytes) -> int:
    return int.from_bytes(blake2b_256(key), "big")


_INNER_BYTES = 96 + _INNER_OVERHEAD


def _node_bytes(node_hash: bytes, node: Node) -> int:
    if node[0] == _INNER:
        return _INNER_BYTES
    return 32 + len(node[2]) + len(node[3]) + _LEAF_OVERHEAD


class TrieDB:
    """Reads and batch-updates trees by root over one node store."""

    def __init__(
        self,
        store: NodeStore,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self.store = store
        self._cache: FifoCache[bytes, Node] = FifoCache(cache_bytes, _node_bytes, lock)

    def _load(self, node_hash: bytes) -> Node:
        node = self._cache.get(node_hash)
        if node is None:
            node = self._fetch(node_hash)
            self._cache.put(node_hash, node)
        return node

    def _fetch(self, node_hash: bytes) -> Node:
        """A node decoded from the store (the cache neither read nor filled)."""
        raw = self.store.get(node_hash)
        if raw is None:
            raise MissingNode(node_hash.hex())
        if raw[0] == _INNER:
            return (_INNER, raw[1:33], raw[33:65])
        key_len = int.from_bytes(raw[1:3], "big")
        key = raw[3 : 3 + key_len]
        return (_LEAF, _path(key), key, raw[3 + key_len :])

    def get(self, root: bytes, key: bytes) -> bytes | None:
        path = _path(key)
        node_hash, shift = root, _TOP_BIT
        while node_hash != EMPTY_ROOT:
            node = self._load(node_hash)
            if node[0] == _LEAF:
                return node[3] if node[2] == key else None
            node_hash = node[2] if (path >> shift) & 1 else node[1]
            shift -= 1
        return None

    def warm(self, root: bytes, max_bytes: int) -> int:
        """Load the top levels of the tree at `root` into the cache, whole
        levels while they fit in `max_bytes`; the nodes loaded. Every block's
        update walks these levels: read once at start, in order, rather than
        cold one by one under the first blocks (measured at 1M accounts: 17
        levels in 0.7 s; the first block after a start then imported in
        0.57 s instead of 0.73 s).
        A missing node (a state not fully here) ends the warm-up early."""
        level, loaded, spent = ([root] if root != EMPTY_ROOT else []), 0, 0
        while level and spent + len(level) * _INNER_BYTES <= max_bytes:
            below: list[bytes] = []
            for node_hash in level:
                if spent > max_bytes:  # leaves weigh more than the inner nodes counted on
                    return loaded
                try:
                    node = self._load(node_hash)
                except MissingNode:
                    return loaded
                loaded += 1
                spent += _node_bytes(node_hash, node)
                if node[0] == _INNER:
                    below.extend(child for child in node[1:] if child != EMPTY_ROOT)
            level = below
        return loaded

    def update(self, root: bytes, changes: Mapping[bytes, bytes | None]) -> bytes:
        """The root after applying `changes` (None deletes); writes new nodes."""
        if not changes:
            return root
        items: list[Item] = sorted((_path(k), k, v) for k, v in changes.items())
        work = _Update(self)
        try:
            new_root = work.update(root, _TOP_BIT, items)
        except BaseException:  # a missing node: what was taken is still counted off
            self._cache.swap(work.taken_bytes, {}, 0)
            raise
        self.store.replace(work.gone, work.fresh)
        # The replaced nodes left the cache as they were read (only an
        # older root reads them again, reloaded then); the new ones are
        # the next block's path.
        self._cache.swap(work.taken_bytes, work.built, work.built_bytes)
        return new_root

    def diff(self, old: bytes, new: bytes) -> dict[bytes, bytes | None]:
        """The changes that turn the tree at `old` into the one at `new`
        (None deletes). Equal hashes prune whole subtrees, so the cost
        follows the number of changed keys, not the size of the state."""
        changes: dict[bytes, bytes | None] = {}
        stack = [(old, new)]
        while stack:
            a, b = stack.pop()
            if a == b:
                continue
            node_a = None if a == EMPTY_ROOT else self._load(a)
            node_b = None if b == EMPTY_ROOT else self._load(b)
            # Inner nodes exist at every depth (only lone leaves rise), so
            # two inner nodes at one position split on the same bit.
            if node_a is not None and node_b is not None and node_a[0] == node_b[0] == _INNER:
                stack.append((node_a[1], node_b[1]))
                stack.append((node_a[2], node_b[2]))
                continue
            before = dict(self.items(a))
            after = dict(self.items(b))
            for key in before.keys() - after.keys():
                changes[key] = None
            for key, value in after.items():
                if before.get(key) != value:
                    changes[key] = value
        return changes

    def items(self, root: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) under `root`, in path order. A whole-state walk
        neither fills the cache nor reorders it (it would evict the hot
        paths), and decodes no more than it yields."""
        stack = [root]
        peek, get = self._cache.peek, self.store.get
        while stack:
            node_hash = stack.pop()
            if node_hash == EMPTY_ROOT:
                continue
            found, node = peek(node_hash)
            if found:
                assert node is not None
                if node[0] == _LEAF:
                    yield node[2], node[3]
                else:
                    stack.append(node[2])
                    stack.append(node[1])
                continue
            raw = get(node_hash)
            if raw is None:
                raise MissingNode(node_hash.hex())
            if raw[0] == _INNER:
                stack.append(raw[33:65])
                stack.append(raw[1:33])
            else:
                key_end = 3 + int.from_bytes(raw[1:3], "big")
                yield raw[3:key_end], raw[key_end:]


class _Update:
    """One batch update's work: the nodes it builds and replaces."""

    __slots__ = ("trie", "fresh", "built", "gone", "taken_bytes", "built_bytes", "_take")

    def __init__(self, trie: TrieDB) -> None:
        self.trie = trie
        # Every node an update reads it replaces: it leaves the cache as it
        # is read (one dict operation, not a lookup now and a pop later).
        self._take = trie._cache.take
        self.fresh: dict[bytes, bytes] = {}  # hash -> stored bytes
        self.built: dict[bytes, Node] = {}  # hash -> decoded, for the cache
        self.gone: list[bytes] = []
        self.taken_bytes = 0  # of the nodes taken from the cache
        self.built_bytes = 0

    def read(self, node_hash: bytes) -> Node:
        """A node this update replaces, taken from the cache or fetched."""
        node = self._take(node_hash, None)
        if node is None:
            return self.trie._fetch(node_hash)
        self.taken_bytes += _INNER_BYTES if node[0] == _INNER else _node_bytes(node_hash, node)
        return node

    def update(self, node_hash: bytes, shift: int, items: list[Item]) -> bytes:
        if not items:
            return node_hash
        if node_hash == EMPTY_ROOT:
            return self.build(shift, [it for it in items if it[2] is not None])
        # Every node on a changed path is rebuilt (into `fresh` when it
        # stays the same), so these are all the old tree's nodes that may go.
        self.gone.append(node_hash)
        node = self.read(node_hash)
        if node[0] == _LEAF:
            _, path, key, value = node
            if not any(it[1] == key for it in items):
                items = sorted([*items, (path, key, value)])
            return self.build(shift, [it for it in items if it[2] is not None])
        if len(items) == 1:  # most of a path's depth: no split to search
            return self.update_one(node, shift, items[0])
        split = _split(items, shift)
        left = self.update(node[1], shift - 1, items[:split])
        right = self.update(node[2], shift - 1, items[split:])
        return self.inner(left, right)

    def update_one(self, node: Node, shift: int, item: Item) -> bytes:
        """`update` of one key below the inner `node` (already in `gone`):
        a loop down and one up, for a large state's paths are mostly one
        key deep and a call per level was most of the update's time."""
        path, take, gone = item[0], self._take, self.gone
        siblings: list[tuple[int, bytes]] = []  # (our side, the other child) per level
        while True:
            side = (path >> shift) & 1
            siblings.append((side, node[1] if side else node[2]))
            node_hash = node[2] if side else node[1]
            shift -= 1
            if node_hash == EMPTY_ROOT:
                sub = self.build(shift, [item] if item[2] is not None else [])
                break
            gone.append(node_hash)
            found = take(node_hash, None)
            if found is None:
                node = self.trie._fetch(node_hash)
            else:
                node = found
                self.taken_bytes += _INNER_BYTES if node[0] == _INNER else _node_bytes(node_hash, node)
            if node[0] == _LEAF:
                sub = self._at_leaf(node, shift, item)
                break
        fresh, built = self.fresh, self.built
        for side, sibling in reversed(siblings):
            left, right = (sibling, sub) if side else (sub, sibling)
            if left == EMPTY_ROOT or right == EMPTY_ROOT:
                sub = self.inner(left, right)  # a lone leaf may rise
                continue
            raw = b"\x01" + left + right
            sub = _blake2b(raw, digest_size=32).digest()
            fresh[sub] = raw
            built[sub] = (_INNER, left, right)
            self.built_bytes += _INNER_BYTES
        return sub

    def _at_leaf(self, node: Node, shift: int, item: Item) -> bytes:
        """The subtree where `item` meets the leaf `node` (already in `gone`)."""
        items = [item]
        if node[2] != item[1]:
            items = sorted([item, (node[1], node[2], node[3])])
        return self.build(shift, [it for it in items if it[2] is not None])

    def build(self, shift: int, items: list[Item]) -> bytes:
        if not items:
            return EMPTY_ROOT
        if len(items) == 1:
            path, key, value = items[0]
            assert value is not None
            node_hash = _leaf_hash(key, value)
            self.fresh[node_hash] = b"\x00" + len(key).to_bytes(2, "big") + key + value
            self.built[node_hash] = leaf = (_LEAF, path, key, value)
            self.built_bytes += _node_bytes(node_hash, leaf)
            return node_hash
        split = _split(items, shift)
        left = self.build(shift - 1, items[:split])
        right = self.build(shift - 1, items[split:])
        return self.inner(left, right)

    def inner(self, left: bytes, right: bytes) -> bytes:
        # A lone leaf rises to where its subtree would start: keeps roots
        # independent of history.
        if left == EMPTY_ROOT and (right == EMPTY_ROOT or self._is_leaf(right)):
            return right
        if right == EMPTY_ROOT and self._is_leaf(left):
            return left
        raw = b"\x01" + left + right
        node_hash = blake2b_256(raw)
        self.fresh[node_hash] = raw
        self.built[node_hash] = (_INNER, left, right)
        self.built_bytes += _INNER_BYTES
        return node_hash

    def _is_leaf(self, node_hash: bytes) -> bool:
        node = self.built.get(node_hash)
        kind: int = (node if node is not None else self.trie._load(node_hash))[0]
        return kind == _LEAF


def _item_path(item: Item) -> int:
    return item[0]


def _split(items: list[Item], shift: int) -> int:
    """Index of the first item whose path has bit `shift` set (items share
    every higher bit, and are sorted by path)."""
    prefix = (items[0][0] >> (shift + 1)) << (shift + 1)
    return bisect_left(items, prefix | (1 << shift), key=_item_path)


# -- for verified state chunks (runtime.state_chunks) ---------------------------
LEAF, INNER = _LEAF, _INNER


def load_node(db: TrieDB, node_hash: bytes) -> Node:
    """A stored node decoded: (INNER, left, right) or (LEAF, path, key, value)."""
    return db._load(node_hash)


def leaf_items(leaves: list[tuple[bytes, bytes]]) -> list[Item]:
    """(path, key, value) of each leaf, in path order: what `build_subtree` takes."""
    return sorted((_path(key), key, value) for key, value in leaves)


def build_subtree(shift: int, items: list[Item]) -> tuple[bytes, dict[bytes, bytes]]:
    """The hash of the subtree holding exactly `items` (sorted, distinct paths
    sharing every bit above `shift`) and its raw nodes by hash: the same
    building code as `TrieDB.update`, over a scratch store, so a verifier
    rebuilds a subtree from its leaves exactly as the chain did."""
    work = _Update(TrieDB(MemoryNodeStore(), cache_bytes=0))
    return work.build(shift, items), work.fresh
