"""A chain written before the storage codec was driven by the dataclass
fields (tests/data/dev-chain-321c3ef.tar.gz: a dev node of commit 321c3ef
that served an embedding job, a transfer, a bond and a governance vote):
its stored records read back to the same bytes under today's code, and the
next block runs on its state; a pallet whose storage version moves on
migrates inside the next block, and a node refuses a chain it cannot read,
naming the versions.

That store's state trie is binary, from before radix 16: a node refuses to
open it (it could not check a single root of its headers), so its best
state's records are read here with a reader of the old layout and carried
into a state of today's trie."""

import dataclasses
import tarfile
from pathlib import Path
from typing import Any

import msgpack
import plyvel
import pytest

from genesis.spec import dev_spec
from node.chain import Chain
from node.storage import TRIE_FORMAT, ChainStore, StorageError
from runtime import manifest, migrations
from runtime.codec import ZERO_HASH, encode
from runtime.executive import build_block
from runtime.merkle import MemoryNodeStore, TrieDB
from runtime.pallets import balances
from runtime.state import State
from runtime.storage import StorageMap, StorageValue, _load
from runtime.types import Header
from tests.nodeproc import vcoin

OLD_CHAIN = Path(__file__).resolve().parents[1] / "data" / "dev-chain-321c3ef.tar.gz"


def old_chain(tmp_path: Path) -> Path:
    with tarfile.open(OLD_CHAIN) as archive:
        archive.extractall(tmp_path, filter="data")
    return tmp_path / "db"


def old_state(tmp_path: Path) -> tuple[Header, State]:
    """The old chain's best header, and its state's records in a state of
    today's trie. The old layout: nodes under `n:`, an inner one
    0x01 ‖ left ‖ right, a leaf 0x00 ‖ key length ‖ key ‖ value."""
    db = plyvel.DB(str(old_chain(tmp_path)))
    try:
        best = db.get(b"m:best")
        head = Header.from_wire(msgpack.unpackb(db.get(b"H:" + best), raw=False))
        records: dict[bytes, bytes | None] = {}
        stack = [head.state_root]
        while stack:
            node_hash = stack.pop()
            if node_hash == ZERO_HASH:
                continue
            raw = db.get(b"n:" + node_hash)
            if raw[0] == 1:
                stack += [raw[1:33], raw[33:65]]
            else:
                end = 3 + int.from_bytes(raw[1:3], "big")
                records[raw[3:end]] = raw[end:]
    finally:
        db.close()
    trie = TrieDB(MemoryNodeStore())
    return head, State(trie, trie.update(ZERO_HASH, records))


def storage_items() -> dict[bytes, Any]:
    """Every storage item declared in the runtime's pallet modules, by key (prefix)."""
    import importlib
    import pkgutil

    import runtime.pallets

    found: dict[bytes, Any] = {}
    for module_info in pkgutil.iter_modules(runtime.pallets.__path__):
        module = importlib.import_module(f"runtime.pallets.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, StorageMap):
                found[value.prefix] = value
            elif isinstance(value, StorageValue):
                found[value.key] = value
    return found


def item_of(key: bytes, items: dict[bytes, Any]) -> Any:
    if key in items:
        return items[key]
    prefixes = [p for p in items if p.endswith(b"/") and key.startswith(p)]
    return items[max(prefixes, key=len)] if prefixes else None


def test_a_chain_of_the_binary_trie_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(
        StorageError, match="binary trie of earlier vcoin versions.*empty --base-path.*purge-chain"
    ):
        ChainStore(old_chain(tmp_path))
    refused = vcoin("node", "--base-path", str(tmp_path), "--dev", "--rpc-port", "0")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "binary trie" in refused.stderr
    # what the refusal says to do works on such a store
    purged = vcoin("node", "purge-chain", "--base-path", str(tmp_path), "-y")
    assert purged.returncode == 0, purged.stderr
    assert not (tmp_path / "db").exists()


def test_a_store_of_another_trie_format_is_refused_naming_it(tmp_path: Path) -> None:
    store = ChainStore(tmp_path / "db")
    store.put_meta(TRIE_FORMAT, b"radix-256")
    store.close()
    with pytest.raises(StorageError, match="a trie format b'radix-256'"):
        ChainStore(tmp_path / "db")


def test_a_chain_written_before_the_record_codec_reads_back_the_same_bytes(tmp_path: Path) -> None:
    head, state = old_state(tmp_path)
    assert head.number == 28
    items = storage_items()
    records: dict[str, int] = {}
    for key, raw in state.items():
        item = item_of(key, items)
        assert item is not None, f"no storage item declares {key!r}"
        value = item._from_wire(_load(raw))
        assert encode(item._to_wire(value)) == raw, key  # read back to the very bytes
        if dataclasses.is_dataclass(value):
            records[type(value).__name__] = records.get(type(value).__name__, 0) + 1
    # the job's, the provider's and the vote's records were all there to read
    assert {"Account", "Ledger", "Job", "Model", "Provider", "Record", "Schedule", "Proposal"} <= set(records)
    built = build_block(state.fork(), head.hash, head.slot + 1, head.author, [])
    assert built.block.header.number == 29  # the next block runs on the old state


def test_a_newer_storage_version_migrates_in_the_next_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head, state = old_state(tmp_path)
    bumped = tuple(
        dataclasses.replace(p, storage_version=1) if p.name == "balances" else p for p in manifest.PALLETS
    )
    monkeypatch.setattr(manifest, "PALLETS", bumped)
    assert migrations.problems(state) == ["pallet balances: no migration from storage version 0 to 1"]
    touched: list[int] = []

    def step(migrating: Any) -> None:  # a real one would rewrite the accounts; this one counts them
        touched.append(sum(1 for key, _ in migrating.items() if key.startswith(balances.Accounts.prefix)))

    monkeypatch.setitem(migrations.MIGRATIONS, ("balances", 0), step)
    assert migrations.problems(state) == []
    built = build_block(state, head.hash, head.slot + 1, head.author, [])
    assert touched and touched[0] > 0 and migrations.stored_version(state, "balances") == 1
    build_block(state, built.block.header.hash, head.slot + 2, head.author, [])
    assert len(touched) == 1  # once, in the first block of the new build


def test_a_node_refuses_a_chain_ahead_of_its_code(tmp_path: Path) -> None:
    _, state = old_state(tmp_path)
    state.set(migrations.version_key("governance"), encode(5))
    assert migrations.problems(state) == [
        "pallet governance: the chain's storage is at version 5, this build knows up to version 0: upgrade vcoin"
    ]


def test_the_node_names_the_version_when_it_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ChainStore(tmp_path / "db")
    try:
        Chain(store, dev_spec())  # a chain at today's storage versions
        bumped = tuple(
            dataclasses.replace(p, storage_version=2) if p.name == "jobs" else p for p in manifest.PALLETS
        )
        monkeypatch.setattr(manifest, "PALLETS", bumped)
        with pytest.raises(StorageError, match="pallet jobs: no migration from storage version 0 to 1"):
            Chain(store, dev_spec())
    finally:
        store.close()
