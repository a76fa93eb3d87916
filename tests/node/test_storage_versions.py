"""A chain written before the storage codec was driven by the dataclass
fields (tests/data/dev-chain-321c3ef.tar.gz: a dev node of commit 321c3ef
that served an embedding job, a transfer, a bond and a governance vote)
opens under today's code with every stored record read back to the same
bytes; a pallet whose storage version moves on migrates inside the next
block, and a node refuses a chain it cannot read, naming the versions."""

import dataclasses
import tarfile
from pathlib import Path
from typing import Any

import pytest

from genesis.spec import dev_spec
from node.chain import Chain
from node.storage import ChainStore, StorageError
from runtime import manifest, migrations
from runtime.codec import encode
from runtime.executive import build_block
from runtime.pallets import balances
from runtime.storage import StorageMap, StorageValue, _load

OLD_CHAIN = Path(__file__).resolve().parents[1] / "data" / "dev-chain-321c3ef.tar.gz"


def old_chain(tmp_path: Path) -> Path:
    with tarfile.open(OLD_CHAIN) as archive:
        archive.extractall(tmp_path, filter="data")
    return tmp_path / "db"


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


def test_a_chain_written_before_the_record_codec_opens_with_the_same_bytes(tmp_path: Path) -> None:
    store = ChainStore(old_chain(tmp_path))
    try:
        chain = Chain(store, dev_spec())
        assert chain.best.number == 28 and chain.finalized.number >= 27
        items = storage_items()
        records: dict[str, int] = {}
        for key, raw in chain.state.items():
            item = item_of(key, items)
            assert item is not None, f"no storage item declares {key!r}"
            value = item._from_wire(_load(raw))
            assert encode(item._to_wire(value)) == raw, key  # read back to the very bytes
            if dataclasses.is_dataclass(value):
                records[type(value).__name__] = records.get(type(value).__name__, 0) + 1
        # the job's, the provider's and the vote's records were all there to read
        assert {"Account", "Ledger", "Job", "Model", "Provider", "Record", "Schedule", "Proposal"} <= set(
            records
        )
        head = chain.best
        built = build_block(chain.state.fork(), head.hash, head.slot + 1, head.author, [])
        assert built.block.header.number == 29  # the next block runs on the old state
    finally:
        store.close()


def test_a_newer_storage_version_migrates_in_the_next_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ChainStore(old_chain(tmp_path))
    chain = Chain(store, dev_spec())
    state, head = chain.state.fork(), chain.best
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
    store.close()


def test_a_node_refuses_a_chain_ahead_of_its_code(tmp_path: Path) -> None:
    path = old_chain(tmp_path)
    store = ChainStore(path)
    try:
        chain = Chain(store, dev_spec())
        state = chain.state.fork()
        state.set(migrations.version_key("governance"), encode(5))
        assert migrations.problems(state) == [
            "pallet governance: the chain's storage is at version 5, this build knows up to version 0: upgrade vcoin"
        ]
    finally:
        store.close()


def test_the_node_names_the_version_when_it_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bumped = tuple(
        dataclasses.replace(p, storage_version=2) if p.name == "jobs" else p for p in manifest.PALLETS
    )
    monkeypatch.setattr(manifest, "PALLETS", bumped)
    store = ChainStore(old_chain(tmp_path))
    try:
        with pytest.raises(StorageError, match="pallet jobs: no migration from storage version 0 to 1"):
            Chain(store, dev_spec())
    finally:
        store.close()
