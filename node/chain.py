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
from runtime.executive import apply_block, build_block
from runtime.genesis_state import build_genesis
from runtime.merkle import TrieDB
from runtime.pallets import staking
from runtime.state import State
from runtime.types import Block, Event, Header, extrinsic_hash


class BlockImportError(Exception):
    """A block this node refuses, with the reason."""


@dataclass(frozen=True)
class ImportedBlock:
    block: Block
    events: tuple[Event, ...]
    millis: float
    authored: bool


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
        self.store.commit_block(Block(header, ()), [], [], best=True, finalized=True, extra_meta=meta)

    @property
    def finalized_hash(self) -> bytes:
        value = self.store.meta(FINALIZED)
        assert value is not None
        return value

    def state_at(self, block_hash: bytes) -> State | None:
        header = self.store.header(block_hash)
        return None if header is None else State(self.trie, header.state_root)

    def validators(self) -> tuple[bytes, ...]:
        return staking.Active.get(self.state)

    def _reset_state(self) -> None:
        self.store.nodes.discard()
        self.state = State(self.trie, self.best.state_root)

    def import_block(self, block: Block) -> ImportedBlock:
        header = block.header
        if self.store.block(header.hash) is not None:
            raise BlockImportError("already imported")
        if header.parent_hash != self.best.hash:
            raise BlockImportError(f"parent {header.parent_hash.hex()[:12]} is not our best block")
        if header.slot <= self.best.slot:
            raise BlockImportError(f"slot {header.slot} is not after the parent's {self.best.slot}")
        author = expected_author(header.slot, self.validators())
        if header.author != author:
            raise BlockImportError(f"wrong author for slot {header.slot}")
        if not verify_seal(header, block.seal):
            raise BlockImportError("bad seal")
        start = time.perf_counter()
        try:
            result = apply_block(self.state, block)
        except InvalidBlock as exc:
            self._reset_state()
            raise BlockImportError(str(exc)) from None
        if result.state_root != header.state_root:
            self._reset_state()
            raise BlockImportError("state root mismatch")
        self._commit(block, result.events)
        return ImportedBlock(block, result.events, (time.perf_counter() - start) * 1e3, False)

    def author_block(
        self, key: Keypair, slot: int, candidates: list[bytes]
    ) -> tuple[ImportedBlock, tuple[tuple[bytes, str], ...]]:
        start = time.perf_counter()
        try:
            built = build_block(self.state, self.best.hash, slot, key.public, candidates)
        except BaseException:
            self._reset_state()
            raise
        header = built.block.header
        block = Block(header, built.block.extrinsics, seal(key, header))
        self._commit(block, built.events)
        return ImportedBlock(block, built.events, (time.perf_counter() - start) * 1e3, True), built.rejected

    def _commit(self, block: Block, events: tuple[Event, ...]) -> None:
        tx_hashes = [extrinsic_hash(raw) for raw in block.extrinsics]
        self.store.commit_block(
            block, events_to_wire(events), tx_hashes, best=True, finalized=self.instant_finality
        )
        self.best = block.header
