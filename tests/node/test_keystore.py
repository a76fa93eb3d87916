import stat
from pathlib import Path

import pytest

from node.keystore import (
    Keystore,
    KeystoreError,
    mnemonic_for,
    resolve_key,
    seed_from_hex,
    seed_from_mnemonic,
)
from runtime.crypto import dev_keypair


def test_create_load_and_list(tmp_path: Path) -> None:
    store = Keystore(tmp_path / "keystore")
    key = store.create("main", "pw")
    assert store.names() == ["main"]
    assert store.address("main") == key.address
    assert store.load("main", "pw").public == key.public
    mode = stat.S_IMODE((tmp_path / "keystore" / "main.json").stat().st_mode)
    assert mode == 0o600
    assert key.seed.hex() not in (tmp_path / "keystore" / "main.json").read_text()


def test_wrong_password_duplicate_and_bad_names(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    store.create("main", "pw")
    with pytest.raises(KeystoreError, match="wrong password"):
        store.load("main", "nope")
    with pytest.raises(KeystoreError, match="already exists"):
        store.create("main", "pw")
    with pytest.raises(KeystoreError, match="invalid key name"):
        store.create("../evil", "pw")
    with pytest.raises(KeystoreError, match="empty password"):
        store.create("x", "")
    with pytest.raises(KeystoreError, match="no key"):
        store.load("ghost", "pw")


def test_damaged_file_is_reported(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(KeystoreError, match="damaged"):
        store.load("bad", "pw")


def test_mnemonic_and_hex_import_roundtrip(tmp_path: Path) -> None:
    seed = bytes(range(32))
    words = mnemonic_for(seed)
    assert len(words.split()) == 24
    assert seed_from_mnemonic(words) == seed
    assert seed_from_hex("0x" + seed.hex()) == seed
    with pytest.raises(KeystoreError):
        seed_from_mnemonic("abandon " * 23 + "zoo")
    with pytest.raises(KeystoreError):
        seed_from_hex("abcd")
    store = Keystore(tmp_path)
    assert store.create("imp", "pw", seed=seed).seed == seed


def test_resolve_dev_and_stored_keys(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    assert resolve_key(store, "//alice", lambda: "unused") == dev_keypair("alice")
    key = store.create("mine", "pw")
    assert resolve_key(store, "mine", lambda: "pw").public == key.public
    with pytest.raises(KeystoreError, match="unknown account"):
        resolve_key(store, "ghost", lambda: "pw")
