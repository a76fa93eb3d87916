"""A compacted sparse Merkle tree of radix 16 over BLAKE2b-256 key paths.

The tree is defined by its contents alone, so the root does not depend on the
order of writes: a subtree holding no leaves hashes to 32 zero bytes, one
holding exactly one leaf hashes to that leaf, and any other subtree hashes to
H(0x01 ‖ bitmap ‖ its non-empty children in nibble order), the 16-bit
bitmap naming which of the 16 children are there. Paths are the nibbles of
H(key), so depth stays near log16(n) and a batch update rehashes only the
paths it touches: O(changed keys × log state size).

Why radix 16 and not 2: a binary tree rebuilt ~21 nodes a changed key at a
million accounts (some 52,000 a block of 5,200 changed keys, measured),
each a hash, a cache entry and a LevelDB record; radix 16 rebuilds ~17,000
for about the same bytes, and per-node work was most of a block's cost
growth with the state (issue 19).

Nodes are immutable and content-addressed in a `NodeStore`, so every root
stays readable (forks, history) for as long as its nodes are kept.
"""

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from hashlib import blake2b as _blake2b
from typing import Any, Protocol

from runtime.codec import ZERO_HASH, blake2b_256
from runtime.lru import FifoCache

EMPTY_ROOT = ZERO_HASH
_LEAF = 0
_INNER = 1
RADIX = 16
DEPTH = 64  # nibbles in a path
_HEAD = 3  # an inner node's kind byte and bitmap, before its children
DEFAULT_CACHE_BYTES = 128 * 1024 * 1024
# The cache keeps nodes as stored (b"\x01" ‖ bitmap ‖ children, or b"\x00" ‖
# key length ‖ key ‖ value), not decoded: a tuple of bytes objects costs
# far more than the one bytes object it came from.
# Bytes one cached node costs beyond its stored bytes: the hash key, the
# value's object header and the dict slot. Measured with tracemalloc over
# 200,000 entries (CPython 3.11): 150.
_NODE_OVERHEAD = 155

# (LEAF, path, key, value) or (INNER, 16 child hashes, EMPTY_ROOT where none)
Node = tuple[Any, ...]
Item = tuple[int, bytes, bytes | None]
# What a caller already knows of the tree it updates: (found, value) of a
# key at the old root, from a cache (it must not read the store itself).
Known = Callable[[bytes], tuple[bool, bytes | None]]
# the nibble a hex digit's ASCII code stands for (bytes.translate)
_NIBBLES = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))


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
    return _leaf_node(_path(key), key, value)[0]


def _path(key: bytes) -> int:
    return int.from_bytes(blake2b_256(key), "big")


def nibble(path: int, depth: int) -> int:
    """The nibble of `path` at `depth` (0 is the top one)."""
    return (path >> (4 * (DEPTH - 1 - depth))) & 15


# an inner node of 16 children, the usual one in the top levels of a large state
_INNER_BYTES = _HEAD + RADIX * 32 + _NODE_OVERHEAD


def _node_bytes(node_hash: bytes, raw: bytes) -> int:
    return len(raw) + _NODE_OVERHEAD


def children(raw: bytes) -> list[bytes]:
    """An inner node's 16 child hashes, EMPTY_ROOT where it has none."""
    bitmap = (raw[1] << 8) | raw[2]
    found: list[bytes] = []
    offset = _HEAD
    for slot in range(RADIX):
        if bitmap >> slot & 1:
            found.append(raw[offset : offset + 32])
            offset += 32
        else:
            found.append(EMPTY_ROOT)
    return found


def present(raw: bytes) -> list[bytes]:
    """An inner node's non-empty child hashes, in nibble order."""
    return [raw[offset : offset + 32] for offset in range(_HEAD, len(raw), 32)]


def _leaf_key(raw: bytes) -> tuple[bytes, int]:
    """A stored leaf's key and where its value starts."""
    end = 3 + int.from_bytes(raw[1:3], "big")
    return raw[3:end], end


def decode(raw: bytes) -> Node:
    """A stored node as (INNER, children) or (LEAF, path, key, value)."""
    if raw[0] == _INNER:
        return (_INNER, children(raw))
    key, end = _leaf_key(raw)
    return (_LEAF, _path(key), key, raw[end:])


def _child(raw: bytes, slot: int) -> bytes:
    """An inner node's child at `slot` (EMPTY_ROOT when none)."""
    bitmap = (raw[1] << 8) | raw[2]
    if not bitmap >> slot & 1:
        return EMPTY_ROOT
    offset = _HEAD + 32 * (bitmap & ((1 << slot) - 1)).bit_count()
    return raw[offset : offset + 32]


class TrieDB:
    """Reads and batch-updates trees by root over one node store."""

    def __init__(
        self,
        store: NodeStore,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self.store = store
        self._cache: FifoCache[bytes, bytes] = FifoCache(cache_bytes, _node_bytes, lock)

    def _raw(self, node_hash: bytes) -> bytes:
        """A node as stored, through the cache (filled on a miss)."""
        raw = self._cache.get(node_hash)
        if raw is None:
            raw = self._fetch(node_hash)
            self._cache.put(node_hash, raw)
        return raw

    def _load(self, node_hash: bytes) -> Node:
        return decode(self._raw(node_hash))

    def _fetch(self, node_hash: bytes) -> bytes:
        """A node as stored (the cache neither read nor filled)."""
        raw = self.store.get(node_hash)
        if raw is None:
            raise MissingNode(node_hash.hex())
        return raw

    def get(self, root: bytes, key: bytes) -> bytes | None:
        path = _path(key)
        node_hash, depth = root, 0
        while node_hash != EMPTY_ROOT:
            raw = self._raw(node_hash)
            if raw[0] == _LEAF:
                found, end = _leaf_key(raw)
                return raw[end:] if found == key else None
            node_hash = _child(raw, nibble(path, depth))
            depth += 1
        return None

    def warm(self, root: bytes, max_bytes: int) -> int:
        """Load the top levels of the tree at `root` into the cache, whole
        levels while they fit in `max_bytes`; the nodes loaded. Every block's
        update walks these levels: read once at start, in order, rather than
        cold one by one under the first blocks.
        A missing node (a state not fully here) ends the warm-up early."""
        level, loaded, spent = ([root] if root != EMPTY_ROOT else []), 0, 0
        while level and spent + len(level) * _INNER_BYTES <= max_bytes:
            below: list[bytes] = []
            for node_hash in level:
                if spent > max_bytes:  # leaves weigh more than the inner nodes counted on
                    return loaded
                try:
                    raw = self._raw(node_hash)
                except MissingNode:
                    return loaded
                loaded += 1
                spent += len(raw) + _NODE_OVERHEAD
                if raw[0] == _INNER:
                    below.extend(present(raw))
            level = below
        return loaded

    def update(self, root: bytes, changes: Mapping[bytes, bytes | None], known: Known | None = None) -> bytes:
        """The root after applying `changes` (None deletes); writes new nodes.
        `known` spares the store reads of leaves whose old values the
        caller holds (the state's read cache): a leaf is its hash."""
        if not changes:
            return root
        items: list[Item] = sorted((_path(k), k, v) for k, v in changes.items())
        work = _Update(self, known)
        try:
            new_root = work.update(root, 0, items)
        except BaseException:  # a missing node: what was taken is still counted off
            self._cache.swap(work.taken_bytes, {}, 0)
            raise
        fresh = work.fresh
        self.store.replace(work.gone, fresh)
        # The replaced nodes left the cache as they were read (only an
        # older root reads them again, reloaded then); the new ones are
        # the next block's path.
        self._cache.swap(work.taken_bytes, fresh, sum(map(len, fresh.values())) + len(fresh) * _NODE_OVERHEAD)
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
            # two inner nodes at one position split on the same nibble.
            if node_a is not None and node_b is not None and node_a[0] == node_b[0] == _INNER:
                stack.extend(zip(node_a[1], node_b[1], strict=True))
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
        paths)."""
        stack = [root]
        peek, get = self._cache.peek, self.store.get
        while stack:
            node_hash = stack.pop()
            if node_hash == EMPTY_ROOT:
                continue
            found, raw = peek(node_hash)
            if not found:
                raw = get(node_hash)
                if raw is None:
                    raise MissingNode(node_hash.hex())
            assert raw is not None
            if raw[0] == _INNER:
                stack.extend(reversed(present(raw)))
            else:
                key, end = _leaf_key(raw)
                yield key, raw[end:]


class _Update:
    """One batch update's work: the nodes it builds and replaces."""

    __slots__ = ("trie", "known", "fresh", "gone", "taken_bytes", "_take")

    def __init__(self, trie: TrieDB, known: Known | None = None) -> None:
        self.trie = trie
        self.known = known
        # Every node an update reads it replaces: it leaves the cache as it
        # is read (one dict operation, not a lookup now and a pop later).
        self._take = trie._cache.take
        self.fresh: dict[bytes, bytes] = {}  # hash -> stored bytes, also what the cache takes in
        self.gone: list[bytes] = []
        self.taken_bytes = 0  # of the nodes taken from the cache

    def read(self, node_hash: bytes) -> bytes:
        """A node this update replaces, taken from the cache or fetched."""
        raw = self._take(node_hash, None)
        if raw is None:
            return self.trie._fetch(node_hash)
        self.taken_bytes += len(raw) + _NODE_OVERHEAD
        return raw

    def update(self, node_hash: bytes, depth: int, items: list[Item]) -> bytes:
        if not items:
            return node_hash
        if node_hash == EMPTY_ROOT:
            return self.build(depth, [it for it in items if it[2] is not None])
        if len(items) == 1:  # most of a path's depth: no split to search
            return self.update_one(node_hash, depth, items[0])
        # Every node on a changed path is rebuilt (into `fresh` when it
        # stays the same), so these are all the old tree's nodes that may go.
        self.gone.append(node_hash)
        raw = self.read(node_hash)
        if raw[0] == _LEAF:
            key, end = _leaf_key(raw)
            if not any(it[1] == key for it in items):
                items = sorted([*items, (_path(key), key, raw[end:])])
            return self.build(depth, [it for it in items if it[2] is not None])
        kids = children(raw)
        for slot, group in _groups(items, depth):
            kids[slot] = self.update(kids[slot], depth + 1, group)
        return self.inner(kids)

    def update_one(self, node_hash: bytes, depth: int, item: Item) -> bytes:
        """`update` of one key in the subtree `node_hash` at `depth`: a loop
        down and one up, for a large state's paths are mostly one key deep
        and a call per level was most of the update's time. On the way up,
        a node that keeps its children has the new child's hash spliced
        into its stored bytes."""
        take, fetch, gone = self._take, self.trie._fetch, self.gone
        # The path's nibbles as bytes, top one first: a nibble is one index.
        nibbles = format(item[0], "064x").encode().translate(_NIBBLES)
        # (node, slot, offset of the slot's child or -1 where it has none)
        path: list[tuple[bytes, int, int]] = []
        taken = 0
        leaf_hash: bytes | None = None
        leaf_raw = b""
        hinted = self.known is None
        try:
            while True:
                # Every node on a changed path is rebuilt (into `fresh` when
                # it stays the same): these are all the old nodes that may go.
                gone.append(node_hash)
                found = take(node_hash, None)
                if found is None:
                    # Not cached: the paths a block touches first, below
                    # the warmed levels. Their last node is the key's old
                    # leaf, known by its hash if its value is.
                    if not hinted:
                        hinted = True
                        leaf_hash, leaf_raw = self._old_leaf(item)
                    raw = leaf_raw if node_hash == leaf_hash else fetch(node_hash)
                else:
                    raw = found
                    taken += len(raw) + _NODE_OVERHEAD
                if raw[0] == _LEAF:
                    sub = self._at_leaf(raw, depth, item)
                    break
                if depth >= DEPTH:  # pragma: no cover - a path ends at a leaf or an empty child
                    raise MissingNode("an inner node below the deepest level")
                slot = nibbles[depth]
                bitmap = (raw[1] << 8) | raw[2]
                depth += 1
                if not bitmap >> slot & 1:
                    path.append((raw, slot, -1))
                    sub = self.build(depth, [item] if item[2] is not None else [])
                    break
                offset = _HEAD + 32 * (bitmap & ((1 << slot) - 1)).bit_count()
                path.append((raw, slot, offset))
                node_hash = raw[offset : offset + 32]
        finally:
            self.taken_bytes += taken
        fresh = self.fresh
        for raw, slot, offset in reversed(path):
            # The common case: a child replaced by another, in a node of
            # two children or more (no lone leaf can rise from it).
            if offset >= 0 and sub != EMPTY_ROOT and len(raw) > _HEAD + 32:
                raw = raw[:offset] + sub + raw[offset + 32 :]
                sub = _blake2b(raw, digest_size=32).digest()
                fresh[sub] = raw
                continue
            kids = children(raw)
            kids[slot] = sub
            sub = self.inner(kids)
        return sub

    def _old_leaf(self, item: Item) -> tuple[bytes | None, bytes]:
        """The hash and stored bytes of `item`'s key's leaf at the old root,
        if the caller knows its value there (None otherwise)."""
        assert self.known is not None
        found, value = self.known(item[1])
        if not found or value is None:
            return None, b""
        return _leaf_node(item[0], item[1], value)

    def _at_leaf(self, raw: bytes, depth: int, item: Item) -> bytes:
        """The subtree where `item` meets the stored leaf `raw` (already in `gone`)."""
        key, end = _leaf_key(raw)
        items = [item]
        if key != item[1]:
            items = sorted([item, (_path(key), key, raw[end:])])
        return self.build(depth, [it for it in items if it[2] is not None])

    def build(self, depth: int, items: list[Item]) -> bytes:
        if not items:
            return EMPTY_ROOT
        if len(items) == 1:
            path, key, value = items[0]
            assert value is not None
            node_hash, raw = _leaf_node(path, key, value)
            self.fresh[node_hash] = raw
            return node_hash
        kids = [EMPTY_ROOT] * RADIX
        for slot, group in _groups(items, depth):
            kids[slot] = self.build(depth + 1, group)
        return self.inner(kids)

    def inner(self, kids: list[bytes]) -> bytes:
        """The subtree of these 16 children: a lone leaf rises to where its
        subtree would start (keeps roots independent of history)."""
        bitmap, there = 0, []
        for slot, kid in enumerate(kids):
            if kid != EMPTY_ROOT:
                bitmap |= 1 << slot
                there.append(kid)
        if not there:
            return EMPTY_ROOT
        if len(there) == 1 and self._is_leaf(there[0]):
            return there[0]
        raw = b"\x01" + bitmap.to_bytes(2, "big") + b"".join(there)
        node_hash = _blake2b(raw, digest_size=32).digest()
        self.fresh[node_hash] = raw
        return node_hash

    def _is_leaf(self, node_hash: bytes) -> bool:
        raw = self.fresh.get(node_hash)
        return (raw if raw is not None else self.trie._raw(node_hash))[0] == _LEAF


def _leaf_node(path: int, key: bytes, value: bytes) -> tuple[bytes, bytes]:
    """A leaf's hash, H(0 ‖ H(key) ‖ H(value)) with H(key) the path already
    known, and its stored bytes."""
    value_hash = _blake2b(value, digest_size=32).digest()
    node_hash = _blake2b(b"\x00" + path.to_bytes(32, "big") + value_hash, digest_size=32).digest()
    return node_hash, b"\x00" + len(key).to_bytes(2, "big") + key + value


def _groups(items: list[Item], depth: int) -> Iterator[tuple[int, list[Item]]]:
    """`items` (sorted by path, sharing the nibbles above `depth`) split by
    their nibble at `depth`, in order."""
    shift = 4 * (DEPTH - 1 - depth)
    start, slot = 0, (items[0][0] >> shift) & 15
    for index in range(1, len(items)):
        next_slot = (items[index][0] >> shift) & 15
        if next_slot != slot:
            yield slot, items[start:index]
            start, slot = index, next_slot
    yield slot, items[start:]


# -- for verified state chunks (runtime.state_chunks) ---------------------------
LEAF, INNER = _LEAF, _INNER


def load_node(db: TrieDB, node_hash: bytes) -> Node:
    """A stored node decoded: (INNER, children) or (LEAF, path, key, value)."""
    return db._load(node_hash)


def leaf_items(leaves: list[tuple[bytes, bytes]]) -> list[Item]:
    """(path, key, value) of each leaf, in path order: what `build_subtree` takes."""
    return sorted((_path(key), key, value) for key, value in leaves)


def build_subtree(depth: int, items: list[Item]) -> tuple[bytes, dict[bytes, bytes]]:
    """The hash of the subtree at `depth` holding exactly `items` (sorted,
    distinct paths sharing every nibble above `depth`) and its raw nodes by
    hash: the same building code as `TrieDB.update`, over a scratch store,
    so a verifier rebuilds a subtree from its leaves exactly as the chain did."""
    work = _Update(TrieDB(MemoryNodeStore(), cache_bytes=0))
    return work.build(depth, items), work.fresh
