"""The bench state writer: a chain whose genesis state holds any number of
accounts, written straight into a fresh store (the genesis allocation caps
what a chain spec may endow; this moves 100 VC per extra account out of the
ecosystem account instead, so the supply invariant still holds).

Accounts are written in chunks, each committed to the trie and flushed to
LevelDB, so building a million does not hold a million trie nodes in memory;
the flat table is then built by the node's own rebuild (node.flat_state).
"""

from dataclasses import replace
from pathlib import Path

from genesis.spec import ChainSpec
from node.chain import Chain
from node.storage import CHAIN_ID, GENESIS, ChainStore
from runtime.codec import ZERO_HASH, blake2b_256, merkle_root
from runtime.constants import UNIT
from runtime.genesis_state import build_genesis
from runtime.merkle import TrieDB
from runtime.pallets import balances, treasury
from runtime.state import State
from runtime.types import Block, Header

EXTRA_BALANCE = 100 * UNIT
CHUNK = 50_000
_CACHE_BYTES = 32 * 1024 * 1024


def extra_account(index: int) -> bytes:
    """The id of the `index`th account beyond the spec's endowed ones."""
    return blake2b_256(b"vcoin-bench-account" + index.to_bytes(8, "big"))


def write_state(path: Path, spec: ChainSpec, extra: int) -> Header:
    """A store at `path` whose genesis is `spec`'s plus `extra` accounts."""
    store = ChainStore(path)
    try:
        state = State(TrieDB(store.nodes, cache_bytes=_CACHE_BYTES), cache_bytes=_CACHE_BYTES)
        build_genesis(state, spec.genesis_config())
        _flush(store)
        eco = balances.get(state, treasury.ECOSYSTEM)
        balances.Accounts.put(state, treasury.ECOSYSTEM, replace(eco, free=eco.free - extra * EXTRA_BALANCE))
        funded = balances.Account(free=EXTRA_BALANCE)
        for start in range(0, extra, CHUNK):
            for index in range(start, min(extra, start + CHUNK)):
                balances.Accounts.put(state, extra_account(index), funded)
            state.commit_block()
            _flush(store)
        root = state.commit_block()
        _flush(store)
        header = Header(ZERO_HASH, 0, root, merkle_root([]), 0, ZERO_HASH)
        meta = {GENESIS: header.hash, CHAIN_ID: spec.chain_id}
        store.commit_block(Block(header, ()), [], best=True, finalized=True, extra_meta=meta)
        Chain(store, spec)  # builds the flat table from the trie
        return header
    finally:
        store.close()


def _flush(store: ChainStore) -> None:
    with store.db.write_batch() as batch:
        store.nodes.drain_into(batch)
