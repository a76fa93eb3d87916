"""The keystore: one JSON file per key, the seed encrypted at rest.

The secret is sealed with XSalsa20-Poly1305 (pynacl SecretBox) under a key
derived from the password with Argon2id; the file is mode 0600 in a 0700
directory. The address is stored in the clear so listing needs no password.
"""

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils
from mnemonic import Mnemonic

from runtime.crypto import DEV_ACCOUNT_NAMES, Keypair, dev_keypair

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_KDF = nacl.pwhash.argon2id
# New keys: libsodium's "moderate" cost (256 MiB, ~0.5 s here) makes each
# password guess against a stolen file ~5x dearer than "interactive" did.
# "Sensitive" (1 GiB, ~3.6 s here) would stall every signing command.
NEW_OPS, NEW_MEM = _KDF.OPSLIMIT_MODERATE, _KDF.MEMLIMIT_MODERATE
# Files keep their own cost (older ones "interactive"); a file asking for more
# than this is damaged or hostile, not a reason to exhaust memory.
_MAX_OPS, _MAX_MEM = 4 * _KDF.OPSLIMIT_SENSITIVE, _KDF.MEMLIMIT_SENSITIVE
_WORDS = Mnemonic("english")


class KeystoreError(Exception):
    """A keystore failure with a message fit for the user."""


def mnemonic_for(seed: bytes) -> str:
    """The 24 words that encode a 32-byte seed (BIP-39 wordlist)."""
    return str(_WORDS.to_mnemonic(seed))


def seed_from_mnemonic(words: str) -> bytes:
    words = " ".join(words.split())
    if not _WORDS.check(words):
        raise KeystoreError("not a valid BIP-39 mnemonic (wrong word or checksum)")
    entropy = bytes(_WORDS.to_entropy(words))
    if len(entropy) != 32:
        raise KeystoreError("a VCoin mnemonic has 24 words")
    return entropy


def seed_from_hex(text: str) -> bytes:
    text = text.removeprefix("0x")
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        raise KeystoreError("the seed is not hex") from None
    if len(seed) != 32:
        raise KeystoreError("a seed is 32 bytes (64 hex digits)")
    return seed


class Keystore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _file(self, name: str) -> Path:
        if name.startswith("//"):  # a dev key is built in: there is no file to read or write
            raise KeystoreError(
                f"{name!r} is a built-in dev key, not a keystore entry: name yours without '//'"
            )
        if not _NAME.match(name):
            raise KeystoreError(f"invalid key name {name!r}: use letters, digits, '.', '_' or '-'")
        return self.path / f"{name}.json"

    def names(self) -> list[str]:
        if not self.path.is_dir():
            return []
        return sorted(p.stem for p in self.path.glob("*.json"))

    def address(self, name: str) -> str:
        try:
            data = json.loads(self._file(name).read_text())
            return str(data["address"])
        except FileNotFoundError:
            raise KeystoreError(f"no key named {name!r} in {self.path}") from None
        except (ValueError, KeyError):
            raise KeystoreError(f"the key file for {name!r} is damaged") from None

    def create(self, name: str, password: str, seed: bytes | None = None) -> Keypair:
        target = self._file(name)
        if target.exists():
            raise KeystoreError(f"a key named {name!r} already exists")
        if not password:
            raise KeystoreError("refusing to store a key under an empty password")
        key = Keypair(seed) if seed is not None else Keypair.generate()
        salt = nacl.utils.random(_KDF.SALTBYTES)
        ops, mem = NEW_OPS, NEW_MEM
        box_key = _KDF.kdf(nacl.secret.SecretBox.KEY_SIZE, password.encode(), salt, ops, mem)
        sealed = nacl.secret.SecretBox(box_key).encrypt(key.seed)
        record = {
            "version": 1,
            "name": name,
            "address": key.address,
            "kdf": "argon2id",
            "salt": salt.hex(),
            "opslimit": ops,
            "memlimit": mem,
            "cipher": "xsalsa20-poly1305",
            "sealed": bytes(sealed).hex(),
        }
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = target.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        return key

    def load(self, name: str, password: str) -> Keypair:
        try:
            record = json.loads(self._file(name).read_text())
            salt = bytes.fromhex(record["salt"])
            sealed = bytes.fromhex(record["sealed"])
            ops, mem = int(record["opslimit"]), int(record["memlimit"])
            if not (_KDF.OPSLIMIT_MIN <= ops <= _MAX_OPS and _KDF.MEMLIMIT_MIN <= mem <= _MAX_MEM):
                raise ValueError("key derivation cost out of range")
        except FileNotFoundError:
            raise KeystoreError(f"no key named {name!r} in {self.path}") from None
        except (ValueError, KeyError, TypeError):
            raise KeystoreError(f"the key file for {name!r} is damaged") from None
        box_key = _KDF.kdf(nacl.secret.SecretBox.KEY_SIZE, password.encode(), salt, ops, mem)
        try:
            seed = nacl.secret.SecretBox(box_key).decrypt(sealed)
        except nacl.exceptions.CryptoError:
            raise KeystoreError(f"wrong password for key {name!r}") from None
        key = Keypair(seed)
        if key.address != record.get("address"):
            raise KeystoreError(f"the key file for {name!r} does not match its address")
        return key


# Seeds derived from public strings: whoever reads the source holds them.
_DEV_PUBLICS = frozenset(dev_keypair(name).public for name in (*DEV_ACCOUNT_NAMES, "team"))


def is_dev_key(name: str, key: Keypair) -> bool:
    """A `//name` key, or a keystore entry holding one of the dev seeds."""
    return name.startswith("//") or key.public in _DEV_PUBLICS


def dev_key(name: str) -> Keypair | None:
    """The dev key `//name` stands for; None for a name that is not one.
    Every command that takes a key name asks this first."""
    if not name.startswith("//"):
        return None
    if len(name) == 2:
        raise KeystoreError("a dev key needs a name, e.g. //alice")
    return dev_keypair(name)


def key_address(keystore: Keystore, name: str) -> str:
    """The address of `//name` or of a keystore entry: no password needed."""
    key = dev_key(name)
    return key.address if key is not None else keystore.address(name)


def resolve_key(keystore: Keystore, name: str, password: Callable[[], str]) -> Keypair:
    """`//name` is a dev key; anything else a keystore entry (asks for the password)."""
    key = dev_key(name)
    if key is not None:
        return key
    keystore._file(name)  # validate the name before asking for a password
    if name not in keystore.names():
        raise KeystoreError(f"unknown account {name!r}: not in {keystore.path} and not a //dev key")
    return keystore.load(name, password())
