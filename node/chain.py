"""The chain as one node sees it: genesis, the best block, block import and
authoring, over LevelDB storage.

The best block follows `consensus.fork_choice`: the longest chain that holds
the highest justified block, the lowest hash among equally long heads. The
finality gadget reports what it justified (`justify`); a block justified on
a fork other than the best chain moves the best block there (`on_switch`
tells the node), even to a shorter chain. Reorganisations never cross the
finalized block. The leaves of the block tree above the finalized block are
kept (in the same write as each block) so such a switch finds its head
after a restart too.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack

from consensus.finality import Checkpoint
from consensus.fork_choice import better_head, choose_head, higher_justified
from consensus.slots import expected_author, seal, verify_seal
from genesis.spec import ChainSpec
from node.block_pruning import BlockPruner
from node.flat_state import move_to, open_flat
from node.state_pruning import DEFAULT_KEEP, StatePruner
from node.storage import BEST, CHAIN_ID, FINALIZED, GENESIS, JUSTIFIED, ChainStore, FlatMove, StorageError
from runtime import migrations
from runtime.crypto import Keypair
from runtime.errors import InvalidBlock
from runtime.executive import Verified, apply_block, build_block
from runtime.genesis_state import build_genesis
from runtime.merkle import MissingNode, TrieDB
from runtime.pallets import staking
from runtime.state import State
from runtime.types import Block, Event, Header

log = logging.getLogger("vcoin.chain")
LEAVES = b"leaves"  # meta: [[number, hash], ...] the heads of the block tree above finality
MAX_LEAVES = 64  # beyond this many forks, the lowest are forgotten (never the best)
DEFAULT_STATE_CACHE_MB = 256  # --state-cache-mb: trie nodes and state reads together
# At most half the trie cache is warmed at start, and at most this: the top
# 5 levels of a million-account state (69,905 nodes, about half a second of
# reads), whatever --state-cache-mb says.
WARM_MAX_BYTES = 64 * 1024 * 1024


class BlockImportError(Exception):
    """A block this node refuses, with the reason."""


class UnknownParent(BlockImportError):
    """The parent is not here yet: a sync question, not the sender's fault."""


class BadBlock(BlockImportError):
    """The block is invalid whoever looks at it: its sender sent garbage."""


@dataclass(frozen=True)
class ImportedBlock:
    block: Block
    events: tuple[Event, ...]
    millis: float
    authored: bool
    best: bool = True
    retracted: tuple[Block, ...] = ()  # canonical blocks a reorg replaced
    # authored only: (raw, repr(exception)) of the candidates that made the
    # runtime raise, left out of the block (see runtime.faults)
    bugs: tuple[tuple[bytes, str], ...] = ()


@dataclass(frozen=True)
class Prepared:
    """A block stored but not yet adopted as best (see `Chain.prepare_import`)."""

    imported: ImportedBlock
    state: State | None  # the post-state, when the block becomes best
    justified: Checkpoint | None = None  # the awaited justified block, now here and followed


@dataclass(frozen=True)
class Placement:
    """Where fork choice puts an imported block (see `Chain._place`)."""

    best: bool
    reorg: list[Block] = field(default_factory=list)  # its branch below it, replacing canonical blocks
    retracted: tuple[Block, ...] = ()
    stale: range = range(0)  # canonical heights above it, when it is shorter than the old best
    justified: Checkpoint | None = None


def events_to_wire(events: tuple[Event, ...]) -> list[list[Any]]:
    return [event.to_wire() for event in events]


class Chain:
    def __init__(
        self,
        store: ChainStore,
        spec: ChainSpec,
        instant_finality: bool = False,
        state_cache_mb: int = DEFAULT_STATE_CACHE_MB,
        state_pruning: int | None = DEFAULT_KEEP,
        blocks_pruning: int | None = None,
    ) -> None:
        self.store = store
        self.spec = spec
        self.instant_finality = instant_finality
        # Half for trie nodes (every block's root update walks the changed
        # keys' paths), half for values read (flat reads fill it).
        budget = state_cache_mb * 1024 * 1024
        self._cache_lock = threading.Lock()  # import runs in a worker thread beside RPC reads
        self._read_cache_bytes = budget // 2
        self.trie = TrieDB(store.nodes, cache_bytes=budget - budget // 2, lock=self._cache_lock)
        stored_id = store.meta(CHAIN_ID)
        if stored_id is None:
            self._init_genesis()
        elif stored_id != spec.chain_id:
            raise StorageError(
                "this base path holds another chain (different chain spec); "
                "use another --base-path or purge it"
            )
        genesis_hash = store.meta(GENESIS)
        best_hash = store.meta(BEST)
        assert genesis_hash is not None and best_hash is not None
        genesis = store.header(genesis_hash)
        best = store.header(best_hash)
        if genesis is None or best is None:
            raise StorageError("the database is missing its genesis or best block")
        self.genesis: Header = genesis
        self.best: Header = best
        final = store.header(store.meta(FINALIZED) or b"")
        # before any block writes its journal
        self.pruner = StatePruner(store, state_pruning, 0 if final is None else final.number)
        self.block_pruner = BlockPruner(store, blocks_pruning)
        self.flat = open_flat(store, self.trie, self._finalized_root())
        self._cover()
        self.state = self.new_state(best.state_root)
        behind = migrations.problems(self.state)
        if behind:  # before anything reads the state with a layout it is not in
            raise StorageError("this build cannot run this chain's storage: " + "; ".join(behind))
        self._warm(min(WARM_MAX_BYTES, (budget - budget // 2) // 2))
        self.leaves: dict[bytes, int] = self._stored_leaves()
        final = self.finalized
        self.justified = Checkpoint(final.number, final.hash)  # what fork choice follows
        self._awaited: Checkpoint | None = None  # justified, its block not here yet
        # Called when fork choice moved the best block outside an import (`justify`).
        self.on_switch: Callable[[ImportedBlock], None] | None = None
        saved = store.meta(JUSTIFIED)  # what the finality gadget saw justified before a restart
        if saved is not None:
            number, block_hash = msgpack.unpackb(saved)
            self.justify(Checkpoint(number, block_hash))

    def _warm(self, max_bytes: int) -> None:
        """The best state's top levels into the trie cache, before the
        first imports walk them cold, one random read per node."""
        start = time.perf_counter()
        loaded = self.trie.warm(self.best.state_root, max_bytes)
        seconds = time.perf_counter() - start
        (log.info if seconds >= 0.5 else log.debug)(
            "warmed the state cache: %d trie nodes in %.2f s", loaded, seconds
        )

    def _stored_leaves(self) -> dict[bytes, int]:
        raw = self.store.meta(LEAVES)
        leaves = {} if raw is None else {bytes(h): n for n, h in msgpack.unpackb(raw)}
        leaves[self.best.hash] = self.best.number
        return leaves

    def _init_genesis(self) -> None:
        state = State(self.trie)
        header = build_genesis(state, self.spec.genesis_config())
        meta = {GENESIS: header.hash, CHAIN_ID: self.spec.chain_id}
        flat = (header.state_root, dict(self.trie.items(header.state_root)))
        self.store.commit_block(Block(header, ()), [], best=True, finalized=True, extra_meta=meta, flat=flat)

    def new_state(self, root: bytes) -> State:
        """A state at `root` over this chain's trie, flat state and caches."""
        return State(
            self.trie, root, flat=self.flat, cache_bytes=self._read_cache_bytes, lock=self._cache_lock
        )

    def _finalized_root(self) -> bytes:
        return self.finalized.state_root

    def _cover(self) -> None:
        """Give the best chain above the flat table diff layers (lost at a
        restart, or not kept while finality stalled), so its reads are flat."""
        if self.flat.covers(self.best.state_root):
            return
        steps: list[Header] = []
        cursor: Header | None = self.best
        while cursor is not None and not self.flat.covers(cursor.state_root):
            if len(steps) >= self.flat.max_layers:
                return  # too far above finality: those reads walk the trie
            steps.append(cursor)
            cursor = self.store.header(cursor.parent_hash)
        if cursor is None:
            return
        for header in reversed(steps):
            changes = self.trie.diff(cursor.state_root, header.state_root)
            self.flat.record(cursor.state_root, header.state_root, changes)
            cursor = header

    def _flat_move(self, root: bytes) -> FlatMove | None:
        move = move_to(self.flat, self.trie, root)
        if move is not None:
            self.flat.begin_move()
        return move

    def _flat_moved(self, move: FlatMove | None) -> None:
        if move is not None:
            self.flat.moved(move[0])

    @property
    def finalized_hash(self) -> bytes:
        value = self.store.meta(FINALIZED)
        assert value is not None
        return value

    @property
    def finalized(self) -> Header:
        header = self.store.header(self.finalized_hash)
        assert header is not None
        return header

    def is_canonical(self, number: int, block_hash: bytes) -> bool:
        return self.store.hash_at(number) == block_hash

    def finalize(self, block_hash: bytes, justification: bytes | None) -> bool:
        """Move finality forward to a canonical block; never backwards."""
        header = self.store.header(block_hash)
        if header is None or header.number <= self.finalized.number:
            return False
        if not self.is_canonical(header.number, block_hash):
            return False
        move = self._flat_move(header.state_root)
        try:
            self.store.finalize(block_hash, justification, flat=move)
        except BaseException:
            self.flat.cancel_move()
            raise
        self._flat_moved(move)
        self._cover()
        self.pruner.finalized(header.number)
        self.block_pruner.finalized(header.number)
        return True

    def state_at(self, block_hash: bytes) -> State | None:
        """The state after a block; None for an unknown block, `StatePruned`
        for one whose state this node no longer keeps."""
        header = self.store.header(block_hash)
        if header is None:
            return None
        self.pruner.check(header.number)
        self._check_fork(header)
        return self.new_state(header.state_root)

    def _check_fork(self, header: Header) -> None:
        """A fork's state shares its fork point's nodes: gone when that
        point is below the floor, whatever the fork block's own number."""
        cursor: Header | None = header
        while cursor is not None and not self.is_canonical(cursor.number, cursor.hash):
            if cursor.number <= self.pruner.floor:
                self.pruner.check(cursor.number - 1)
            cursor = self.store.header(cursor.parent_hash)

    def validators(self) -> tuple[bytes, ...]:
        return staking.Active.get(self.state)

    def _discard_nodes(self) -> None:
        """Drop the trie nodes a failed block wrote (they wait in memory)."""
        self.store.nodes.discard()

    def import_block(self, block: Block, verified: Verified = None) -> ImportedBlock:
        """Import a block on any known parent; it becomes best if fork choice
        prefers it (forks are kept; the canonical index follows the best chain)."""
        return self.adopt(self.prepare_import(block, verified))

    def prepare_import(self, block: Block, verified: Verified = None, durable: bool = True) -> Prepared:
        """Check, execute and store a block without touching `best` or `state`,
        which others may read meanwhile (this may run in a worker thread);
        `adopt` makes it count. One prepare-adopt pair at a time."""
        with self.pruner.working():  # the pruning thread waits, not the import
            return self._prepare_import(block, verified, durable)

    def _prepare_import(self, block: Block, verified: Verified, durable: bool) -> Prepared:
        header = block.header
        if self.store.has_block(header.hash):
            raise BlockImportError("already imported")
        parent = self.store.header(header.parent_hash)
        if parent is None:
            raise UnknownParent(f"unknown parent {header.parent_hash.hex()[:12]}")
        if header.number != parent.number + 1:
            raise BadBlock(f"number {header.number} does not follow the parent's {parent.number}")
        if header.slot <= parent.slot:
            raise BadBlock(f"slot {header.slot} is not after the parent's {parent.slot}")
        if parent.number < self.pruner.floor:
            raise BlockImportError(f"its parent #{parent.number} is below the states this node keeps")
        on_best = parent.hash == self.best.hash
        state = self.state.fork() if on_best else self.new_state(parent.state_root)
        try:
            author = expected_author(header.slot, staking.Active.get(state))
        except MissingNode:  # a fork from below the kept states: pruned here, not the block's fault
            raise BlockImportError("its parent's state is pruned here") from None
        if header.author != author:
            raise BadBlock(f"wrong author for slot {header.slot}")
        if not verify_seal(header, block.seal):
            raise BadBlock("bad seal")
        place = self._place(header, parent, on_best)
        becomes_best = place.best
        start = time.perf_counter()
        try:
            result = apply_block(state, block, verified)
            if result.state_root != header.state_root:
                raise InvalidBlock("state root mismatch")
        except InvalidBlock as exc:
            self._discard_nodes()
            raise BadBlock(str(exc)) from None
        except MissingNode:
            self._discard_nodes()
            raise BlockImportError("its parent's state is pruned here") from None
        except BaseException:
            self._discard_nodes()
            raise
        leaves = self._grown_leaves(header, header.hash if becomes_best else self.best.hash)
        final = self.instant_finality and becomes_best
        self._commit(
            final, block, events_to_wire(result.events), best=becomes_best, finalized=final,
            reorg=place.reorg, durable=durable, extra_meta={LEAVES: _leaves_wire(leaves)}, stale=place.stale,
        )  # fmt: skip
        self.leaves = leaves  # as stored: an import not adopted still left a leaf
        millis = (time.perf_counter() - start) * 1e3
        imported = ImportedBlock(block, result.events, millis, False, becomes_best, place.retracted)
        return Prepared(imported, state if becomes_best else None, place.justified)

    def _commit(self, final: bool, block: Block, events: list[list[Any]], **how: Any) -> None:
        """`store.commit_block`; a block final as it lands moves the flat
        table in the same write."""
        if not final:
            self.store.commit_block(block, events, **how)
            return
        move = self._flat_move(block.header.state_root)
        try:
            self.store.commit_block(block, events, flat=move, **how)
        except BaseException:
            self.flat.cancel_move()
            raise
        self._flat_moved(move)
        self.pruner.finalized(block.header.number)
        self.block_pruner.finalized(block.header.number)

    def adopt(self, prepared: "Prepared") -> ImportedBlock:
        """Make a prepared block the best one, if it is to be."""
        if prepared.state is not None:
            prepared.state.adopt_cache()
            self.best = prepared.imported.block.header
            self.state = prepared.state
            self._cover()  # a branch whose layers a restart lost reads flat again
        if prepared.justified is not None:
            self.justified, self._awaited = prepared.justified, None
        return prepared.imported

    # -- fork choice -------------------------------------------------------------
    def _place(self, header: Header, parent: Header, on_best: bool) -> Placement:
        """Fork choice for a new block on `parent`: it becomes best if it is
        a better head than the best block and its chain holds the justified
        block (or it is the justified block we were waiting for). Only then
        is its branch walked, so fork blocks that lose cost no walk."""
        awaited = self._awaited
        arrived = awaited is not None and awaited.hash == header.hash and awaited.number == header.number
        wins = better_head(header, self.best)
        if not (wins or arrived):
            return Placement(False)
        if on_best:  # the best chain holds the justified block: so does this one
            return Placement(True, justified=awaited if arrived else None)
        branch, fork_point = self._branch_below(parent)
        if fork_point.number < self.finalized.number:
            if header.number > self.best.number:  # what used to win by length alone
                raise BlockImportError("the fork would revert the finalized block")
            return Placement(False)
        if not (arrived or self._holds(branch, fork_point, header, self._anchor())):
            return Placement(False)  # longer, maybe, but without the justified block
        return Placement(
            True, branch, self._retracted(fork_point.number + 1),
            range(header.number + 1, self.best.number + 1), awaited if arrived else None,
        )  # fmt: skip

    def _anchor(self) -> Checkpoint:
        """The block every eligible head must hold: the justified block fork
        choice follows, or the finalized block once finality passed it."""
        final = self.finalized
        if self.justified.number >= final.number:
            return self.justified
        return Checkpoint(final.number, final.hash)

    def _holds(self, branch: list[Block], fork_point: Header, head: Header, checkpoint: Checkpoint) -> bool:
        """Does the chain `canonical up to fork_point + branch + head` hold `checkpoint`?"""
        if checkpoint.number <= fork_point.number:
            return self.is_canonical(checkpoint.number, checkpoint.hash)
        for header in [*(b.header for b in branch), head]:
            if header.number == checkpoint.number:
                return header.hash == checkpoint.hash
        return False

    def _descends(self, header: Header, ancestor: Checkpoint) -> bool:
        """Is `ancestor` on the chain ending at `header` (walks down to it,
        or to the canonical chain, whichever comes first)?"""
        cursor: Header | None = header
        while cursor is not None and cursor.number > ancestor.number:
            if self.is_canonical(cursor.number, cursor.hash):
                return self.is_canonical(ancestor.number, ancestor.hash)
            cursor = self.store.header(cursor.parent_hash)
        return cursor is not None and cursor.hash == ancestor.hash

    def justify(self, checkpoint: Checkpoint) -> ImportedBlock | None:
        """The finality gadget found `checkpoint` justified. If it is higher
        than the block fork choice follows, follow it; if the best chain does
        not hold it, switch to the best known head that does (possibly a
        shorter chain) and return that switch (`on_switch` hears it too).
        A justified block not here yet is followed once it is imported; one
        that does not descend from the finalized block is never followed."""
        if not higher_justified(checkpoint, self.justified):
            return None
        header = self.store.header(checkpoint.hash)
        if header is None:
            if self._awaited is None or higher_justified(checkpoint, self._awaited):
                self._awaited = checkpoint
            return None
        final = self.finalized
        if header.number != checkpoint.number or checkpoint.number < final.number:
            return None  # below finality the finalized block is what fork choice holds to
        if not self._descends(header, Checkpoint(final.number, final.hash)):
            log.warning("justified #%d is not on the finalized chain: not followed", header.number)
            return None
        self.justified = checkpoint
        if self._awaited is not None and not higher_justified(self._awaited, checkpoint):
            self._awaited = None
        if self.is_canonical(checkpoint.number, checkpoint.hash):
            return None  # the best chain holds it: the best head stays the best
        heads = [h for h in map(self.store.header, self.leaves) if h is not None]
        head = choose_head(heads, lambda h: self._descends(h, checkpoint)) or header
        return self._switch(head)

    def _switch(self, head: Header) -> ImportedBlock:
        """Make the stored block `head` (not on the best chain) the best one."""
        branch, fork_point = self._branch_below(head)
        block, reorg = branch[-1], branch[:-1]
        retracted = self._retracted(fork_point.number + 1)
        leaves = {**self.leaves, head.hash: head.number}
        self.store.commit_block(
            block, self.store.events(head.hash), best=True, finalized=False, reorg=reorg,
            extra_meta={LEAVES: _leaves_wire(leaves)}, stale=range(head.number + 1, self.best.number + 1),
        )  # fmt: skip
        self.leaves = leaves
        log.info(
            "Fork choice: best #%d -> #%d (%s), the chain holding justified #%d",
            self.best.number, head.number, head.hash.hex()[:12], self.justified.number,
        )  # fmt: skip
        self.best, self.state = head, self.new_state(head.state_root)
        switched = ImportedBlock(block, (), 0.0, False, True, retracted)
        if self.on_switch is not None:
            self.on_switch(switched)
        return switched

    def _grown_leaves(self, header: Header, best_hash: bytes) -> dict[bytes, int]:
        """The leaves once `header` is stored: it replaces its parent; those
        below finality can never win again, and past `MAX_LEAVES` the lowest
        go (never the best one)."""
        final = self.finalized.number
        leaves = {h: n for h, n in self.leaves.items() if n >= final and h != header.parent_hash}
        leaves[header.hash] = header.number
        if len(leaves) > MAX_LEAVES:
            kept = sorted(leaves.items(), key=lambda item: (item[0] != best_hash, -item[1], item[0]))
            leaves = dict(kept[:MAX_LEAVES])
        return leaves

    def _retracted(self, from_number: int) -> tuple[Block, ...]:
        """The canonical blocks from `from_number` up to the best one."""
        blocks = []
        for number in range(from_number, self.best.number + 1):
            block_hash = self.store.hash_at(number)
            block = None if block_hash is None else self.store.block(block_hash)
            if block is not None:
                blocks.append(block)
        return tuple(blocks)

    def _branch_below(self, top: Header) -> tuple[list[Block], Header]:
        """The blocks from the fork point (exclusive) up to `top`, oldest
        first, and the fork point: the highest canonical block below them."""
        branch: list[Block] = []
        cursor: Header | None = top
        while cursor is not None and self.store.hash_at(cursor.number) != cursor.hash:
            found = self.store.block(cursor.hash)
            assert found is not None
            branch.append(found)
            cursor = self.store.header(cursor.parent_hash)
        if cursor is None:
            raise BlockImportError("the fork does not reach the canonical chain")
        return branch[::-1], cursor

    def author_block(
        self, key: Keypair, slot: int, candidates: list[bytes], verified: Verified = None
    ) -> tuple[ImportedBlock, tuple[tuple[bytes, str], ...]]:
        prepared, rejected = self.prepare_author(key, slot, candidates, verified)
        return self.adopt(prepared), rejected

    def prepare_author(
        self, key: Keypair, slot: int, candidates: list[bytes], verified: Verified = None
    ) -> tuple[Prepared, tuple[tuple[bytes, str], ...]]:
        """Build, seal and store our block on the best one, like
        `prepare_import` (worker-thread safe; `adopt` makes it best)."""
        with self.pruner.working():
            return self._prepare_author(key, slot, candidates, verified)

    def _prepare_author(
        self, key: Keypair, slot: int, candidates: list[bytes], verified: Verified
    ) -> tuple[Prepared, tuple[tuple[bytes, str], ...]]:
        start = time.perf_counter()
        state = self.state.fork()
        try:
            built = build_block(state, self.best.hash, slot, key.public, candidates, verified=verified)
        except BaseException:
            self._discard_nodes()
            raise
        header = built.block.header
        block = Block(header, built.block.extrinsics, seal(key, header))
        leaves = self._grown_leaves(header, header.hash)
        self._commit(
            self.instant_finality, block, events_to_wire(built.events), best=True,
            finalized=self.instant_finality, extra_meta={LEAVES: _leaves_wire(leaves)},
        )  # fmt: skip
        self.leaves = leaves
        millis = (time.perf_counter() - start) * 1e3
        imported = ImportedBlock(block, built.events, millis, True, bugs=built.bugs)
        return Prepared(imported, state), built.rejected

    def build_sealed(self, key: Keypair, parent_hash: bytes, slot: int, candidates: list[bytes]) -> Block:
        """A sealed block on `parent_hash` that this node does not import
        (used only by the test suite's plugin that makes a validator
        equivocate: tests/plugins/misbehave.py)."""
        state = self.state_at(parent_hash)
        assert state is not None
        try:
            built = build_block(state, parent_hash, slot, key.public, candidates)
        finally:
            self._discard_nodes()
        return Block(built.block.header, built.block.extrinsics, seal(key, built.block.header))


def _leaves_wire(leaves: dict[bytes, int]) -> bytes:
    return bytes(msgpack.packb(sorted([n, h] for h, n in leaves.items())))
