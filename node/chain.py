"""The chain as one node sees it: genesis, the best block, block import and
authoring, over LevelDB storage."""

import time
from dataclasses import dataclass
from typing import Any

from consensus.slots import expected_author, seal, verify_seal
from genesis.spec import ChainSpec
from node.storage import BEST, CHAIN_ID, FINALIZED, GENESIS, ChainStore, StorageError
from runtime.crypto import Keypair
from runtime.errors import InvalidBlock
from runtime.executive import Verified, apply_block, build_block
from runtime.genesis_state import build_genesis
from runtime.merkle import TrieDB
from runtime.pallets import staking
from runtime.state import State
from runtime.types import Block, Event, Header


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


@dataclass(frozen=True)
class Prepared:
    """A block stored but not yet adopted as best (see `Chain.prepare_import`)."""

    imported: ImportedBlock
    state: State | None  # the post-state, when the block becomes best


def events_to_wire(events: tuple[Event, ...]) -> list[list[Any]]:
    return [event.to_wire() for event in events]


class Chain:
    def __init__(self, store: ChainStore, spec: ChainSpec, instant_finality: bool = False) -> None:
        self.store = store
        self.spec = spec
        self.instant_finality = instant_finality
        self.trie = TrieDB(store.nodes)
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
        self.state = State(self.trie, best.state_root)

    def _init_genesis(self) -> None:
        state = State(self.trie)
        header = build_genesis(state, self.spec.genesis_config())
        meta = {GENESIS: header.hash, CHAIN_ID: self.spec.chain_id}
        self.store.commit_block(Block(header, ()), [], best=True, finalized=True, extra_meta=meta)

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
        self.store.finalize(block_hash, justification)
        return True

    def state_at(self, block_hash: bytes) -> State | None:
        header = self.store.header(block_hash)
        return None if header is None else State(self.trie, header.state_root)

    def validators(self) -> tuple[bytes, ...]:
        return staking.Active.get(self.state)

    def _discard_nodes(self) -> None:
        """Drop the trie nodes a failed block wrote (they wait in memory)."""
        self.store.nodes.discard()

    def import_block(self, block: Block, verified: Verified = None) -> ImportedBlock:
        """Import a block on any known parent; it becomes best if its chain is
        longer (forks are kept; the canonical index follows the best chain)."""
        return self.adopt(self.prepare_import(block, verified))

    def prepare_import(self, block: Block, verified: Verified = None, durable: bool = True) -> Prepared:
        """Check, execute and store a block without touching `best` or `state`,
        which others may read meanwhile (this may run in a worker thread);
        `adopt` makes it count. One prepare-adopt pair at a time."""
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
        on_best = parent.hash == self.best.hash
        state = self.state.fork() if on_best else State(self.trie, parent.state_root)
        if header.author != expected_author(header.slot, staking.Active.get(state)):
            raise BadBlock(f"wrong author for slot {header.slot}")
        if not verify_seal(header, block.seal):
            raise BadBlock("bad seal")
        becomes_best = header.number > self.best.number
        reorg = self._branch_below(parent) if becomes_best and not on_best else []
        retracted = self._retracted(reorg[0].header.number) if reorg else ()
        start = time.perf_counter()
        try:
            result = apply_block(state, block, verified)
            if result.state_root != header.state_root:
                raise InvalidBlock("state root mismatch")
        except InvalidBlock as exc:
            self._discard_nodes()
            raise BadBlock(str(exc)) from None
        except BaseException:
            self._discard_nodes()
            raise
        self.store.commit_block(
            block, events_to_wire(result.events), best=becomes_best,
            finalized=self.instant_finality and becomes_best, reorg=reorg, durable=durable,
        )  # fmt: skip
        millis = (time.perf_counter() - start) * 1e3
        imported = ImportedBlock(block, result.events, millis, False, becomes_best, retracted)
        return Prepared(imported, state if becomes_best else None)

    def adopt(self, prepared: "Prepared") -> ImportedBlock:
        """Make a prepared block the best one, if it is to be."""
        if prepared.state is not None:
            prepared.state.adopt_cache()
            self.best = prepared.imported.block.header
            self.state = prepared.state
        return prepared.imported

    def _retracted(self, from_number: int) -> tuple[Block, ...]:
        """The canonical blocks from `from_number` up to the best one."""
        blocks = []
        for number in range(from_number, self.best.number + 1):
            block_hash = self.store.hash_at(number)
            block = None if block_hash is None else self.store.block(block_hash)
            if block is not None:
                blocks.append(block)
        return tuple(blocks)

    def _branch_below(self, parent: Header) -> list[Block]:
        """The blocks from the fork point (exclusive) up to `parent`, oldest
        first; refuses a branch that would revert the finalized block."""
        branch: list[Block] = []
        cursor: Header | None = parent
        while cursor is not None and self.store.hash_at(cursor.number) != cursor.hash:
            found = self.store.block(cursor.hash)
            assert found is not None
            branch.append(found)
            cursor = self.store.header(cursor.parent_hash)
        finalized = self.store.header(self.finalized_hash)
        if cursor is None or (finalized is not None and cursor.number < finalized.number):
            raise BlockImportError("the fork would revert the finalized block")
        return branch[::-1]

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
        start = time.perf_counter()
        state = self.state.fork()
        try:
            built = build_block(state, self.best.hash, slot, key.public, candidates, verified=verified)
        except BaseException:
            self._discard_nodes()
            raise
        header = built.block.header
        block = Block(header, built.block.extrinsics, seal(key, header))
        self.store.commit_block(
            block, events_to_wire(built.events), best=True, finalized=self.instant_finality
        )
        imported = ImportedBlock(block, built.events, (time.perf_counter() - start) * 1e3, True)
        return Prepared(imported, state), built.rejected

    def build_sealed(self, key: Keypair, parent_hash: bytes, slot: int, candidates: list[bytes]) -> Block:
        """A sealed block on `parent_hash` that this node does not import
        (used only by the test switch that makes a validator equivocate)."""
        state = self.state_at(parent_hash)
        assert state is not None
        try:
            built = build_block(state, parent_hash, slot, key.public, candidates)
        finally:
            self._discard_nodes()
        return Block(built.block.header, built.block.extrinsics, seal(key, built.block.header))
