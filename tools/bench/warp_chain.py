"""A chain for warp sync to fetch: the dev spec (1 s slots), a block #1 whose
state holds `accounts` extra funded accounts written straight into the store
(as tools.bench.state_writer does for a genesis: 100 VC each, moved out of
the ecosystem account, so the supply invariant holds), then empty blocks
sealed by //alice up to just before now.

Block #1 is not what executing its (empty) body gives: only a node that
fetches the state instead of replaying blocks (warp sync) can follow this
chain; a full node must start from a copy of the database. The state is
written in chunks, each committed to the trie and flushed to LevelDB, so a
million accounts never sit in memory at once.
"""

import time
from dataclasses import replace
from pathlib import Path

import msgpack

from consensus.slots import seal
from genesis.spec import ChainSpec, dev_spec
from node.chain import LEAVES, Chain
from node.flat_state import rebuild
from node.storage import ChainStore
from runtime.crypto import dev_keypair
from runtime.executive import build_block
from runtime.merkle import TrieDB
from runtime.pallets import balances, treasury
from runtime.state import State
from runtime.types import Block, Header
from tools.bench.state_writer import EXTRA_BALANCE, extra_account

CHUNK = 50_000
_CACHE_BYTES = 32 * 1024 * 1024


def warp_spec(chain_id: str = "bench-warp") -> ChainSpec:
    spec = dev_spec()
    return replace(spec, id=chain_id, params=replace(spec.params, slot_seconds=1))


def build_chain(base_path: Path, spec: ChainSpec, accounts: int, blocks: int) -> Header:
    """A base path holding `blocks` blocks (the first carrying the big
    state) whose slots end just before now; the best header."""
    alice = dev_keypair("//alice")
    first_slot = int(time.time()) - blocks - 10
    store = ChainStore(base_path / "db")
    try:
        chain = Chain(store, spec)
        header = _grow(store, chain.genesis, accounts, alice.public, first_slot)
        block = Block(header, (), seal(alice, header))
        leaves = {LEAVES: msgpack.packb([[1, header.hash]])}
        store.commit_block(block, [], best=True, finalized=True, extra_meta=leaves)
        rebuild(store, TrieDB(store.nodes, cache_bytes=_CACHE_BYTES), header.state_root)
    finally:
        store.close()
    store = ChainStore(base_path / "db")
    try:
        chain = Chain(store, spec)
        for slot in range(first_slot + 1, first_slot + blocks):
            chain.author_block(alice, slot, [])
        return chain.best
    finally:
        store.close()


def _grow(store: ChainStore, genesis: Header, accounts: int, author: bytes, slot: int) -> Header:
    """The header of a block #1 over the genesis state plus `accounts`."""
    state = State(TrieDB(store.nodes, cache_bytes=_CACHE_BYTES), genesis.state_root, cache_bytes=_CACHE_BYTES)
    eco = balances.get(state, treasury.ECOSYSTEM)
    moved = accounts * EXTRA_BALANCE
    balances.Accounts.put(state, treasury.ECOSYSTEM, replace(eco, free=eco.free - moved))
    funded = balances.Account(free=EXTRA_BALANCE)
    for start in range(0, accounts, CHUNK):
        for index in range(start, min(accounts, start + CHUNK)):
            balances.Accounts.put(state, extra_account(index), funded)
        state.commit_block()
        with store.db.write_batch() as batch:
            store.nodes.drain_into(batch)
    # The block's own bookkeeping (its number, slot, emission) on top.
    header = build_block(state, genesis.hash, slot, author, []).block.header
    with store.db.write_batch() as batch:
        store.nodes.drain_into(batch)
    return header
