import json
import stat
from pathlib import Path

import nacl.pwhash
import nacl.secret
import nacl.utils
import pytest

from node.keystore import (
    Keystore,
    KeystoreError,
    mnemonic_for,
    resolve_key,
    seed_from_hex,
    seed_from_mnemonic,
)
from runtime.crypto import Keypair, dev_keypair


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


def _interactive_file(path: Path, key: Keypair, password: str) -> None:
    """A key file as the keystore wrote them before the cost was raised."""
    kdf = nacl.pwhash.argon2id
    salt = nacl.utils.random(kdf.SALTBYTES)
    ops, mem = kdf.OPSLIMIT_INTERACTIVE, kdf.MEMLIMIT_INTERACTIVE
    box_key = kdf.kdf(nacl.secret.SecretBox.KEY_SIZE, password.encode(), salt, ops, mem)
    sealed = nacl.secret.SecretBox(box_key).encrypt(key.seed)
    record = {"version": 1, "name": path.stem, "address": key.address, "kdf": "argon2id", "salt": salt.hex(),
              "opslimit": ops, "memlimit": mem, "cipher": "xsalsa20-poly1305", "sealed": bytes(sealed).hex()}  # fmt: skip
    path.write_text(json.dumps(record))


def test_new_keys_use_the_moderate_cost_and_old_files_still_open(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    store.create("new", "pw")
    record = json.loads((tmp_path / "new.json").read_text())
    assert record["opslimit"] >= nacl.pwhash.argon2id.OPSLIMIT_MODERATE
    assert record["memlimit"] >= nacl.pwhash.argon2id.MEMLIMIT_MODERATE
    old = Keypair.generate()
    _interactive_file(tmp_path / "old.json", old, "pw")
    assert store.load("old", "pw").public == old.public
    with pytest.raises(KeystoreError, match="wrong password"):
        store.load("old", "nope")


def test_a_file_demanding_absurd_memory_is_damaged_not_obeyed(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    _interactive_file(tmp_path / "greedy.json", Keypair.generate(), "pw")
    record = json.loads((tmp_path / "greedy.json").read_text())
    (tmp_path / "greedy.json").write_text(json.dumps({**record, "memlimit": 64 << 30}))
    with pytest.raises(KeystoreError, match="damaged"):
        store.load("greedy", "pw")
