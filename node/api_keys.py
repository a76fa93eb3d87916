"""API keys for the OpenAI-compatible API: a bearer secret that spends from
one account, up to an optional limit.

`vcoin api-key new --account NAME` prints the key once. What is kept, one
file per key under the key directory (default `~/.vcoin/api-keys`), is its
hash (to find it), the account's signing seed sealed with a secret box
whose key is derived from the API key itself (so the file alone signs
nothing: whoever holds the key can spend, as the key was meant to), the
limit and what it has spent. The node re-reads the directory when it
changes, so a key made or revoked while it runs takes effect at once.
"""

import base64
import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.secret

from offchain.records import RecordDir
from runtime.crypto import Keypair

PREFIX = "vck_"
DEFAULT_DIR = Path.home() / ".vcoin" / "api-keys"
SAVE_EVERY = 1.0  # seconds: spending is written back at most this often (and on close)


def _digest(tag: bytes, secret: bytes) -> bytes:
    return hashlib.blake2b(tag + secret, digest_size=32).digest()


def _secret_of(key: str) -> bytes | None:
    if not key.startswith(PREFIX):
        return None
    try:
        raw = base64.urlsafe_b64decode(key[len(PREFIX) :] + "=")
    except (ValueError, TypeError):
        return None
    return raw if len(raw) == 32 else None


@dataclass
class ApiKey:
    id: str
    hash: bytes
    account: bytes
    sealed: bytes
    limit: int | None  # base units; None: whatever the account holds
    spent: int
    created: int

    def left(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.spent)

    def record(self) -> dict[str, object]:
        return {"id": self.id, "hash": self.hash, "account": self.account, "sealed": self.sealed,
                "limit": self.limit, "spent": self.spent, "created": self.created}  # fmt: skip


class ApiKeys:
    def __init__(self, folder: Path = DEFAULT_DIR) -> None:
        self.records = RecordDir(folder)
        os.chmod(folder, 0o700)
        self.keys: dict[bytes, ApiKey] = {}
        self._seen: float = -1.0
        self._dirty: set[str] = set()
        self._saved = time.monotonic()

    def new(self, account: Keypair, limit: int | None) -> tuple[str, ApiKey]:
        """A fresh key for `account`: its text (shown once) and its record."""
        secret = secrets.token_bytes(32)
        text = PREFIX + base64.urlsafe_b64encode(secret).decode().rstrip("=")
        hashed = _digest(b"vcoin-api-key", secret)
        box = nacl.secret.SecretBox(_digest(b"vcoin-api-key-seal", secret))
        key = ApiKey(hashed[:6].hex(), hashed, account.public, bytes(box.encrypt(account.seed)), limit, 0,
                     int(time.time()))  # fmt: skip
        self.records.put(key.id, key.record())
        return text, key

    def _reload(self) -> None:
        try:
            seen = os.stat(self.records.root).st_mtime
        except OSError:
            return
        if seen == self._seen:
            return
        self._seen = seen
        fresh: dict[bytes, ApiKey] = {}
        for name in self.records.names():
            record = self.records.get(name)
            if record is None:
                continue
            try:
                loaded = ApiKey(**record)
            except TypeError:
                continue
            known = self.keys.get(loaded.hash)
            if known is not None:  # this process's spending is newer than the file's
                loaded.spent = max(loaded.spent, known.spent)
            fresh[loaded.hash] = loaded
        self.keys = fresh

    def list(self) -> list[ApiKey]:
        self._reload()
        return sorted(self.keys.values(), key=lambda k: k.created)

    def unlock(self, text: str) -> tuple[ApiKey, Keypair] | None:
        """The key and its account's signing key, or None for a wrong or revoked key."""
        secret = _secret_of(text)
        if secret is None:
            return None
        self._reload()
        key = self.keys.get(_digest(b"vcoin-api-key", secret))
        if key is None:
            return None
        try:
            seed = nacl.secret.SecretBox(_digest(b"vcoin-api-key-seal", secret)).decrypt(key.sealed)
        except nacl.exceptions.CryptoError:
            return None
        return key, Keypair(seed)

    def revoke(self, key_id: str) -> bool:
        if self.records.get(key_id) is None:
            return False
        self.records.forget(key_id)
        self._reload()
        return True

    def charge(self, key: ApiKey, amount: int) -> None:
        key.spent += amount
        self._dirty.add(key.id)
        if time.monotonic() - self._saved >= SAVE_EVERY:
            self.save()

    def save(self) -> None:
        for key_id in sorted(self._dirty):
            key = next((k for k in self.keys.values() if k.id == key_id), None)
            if key is not None and self.records.get(key_id) is not None:  # not revoked meanwhile
                self.records.put(key_id, key.record())
        self._dirty.clear()
        self._saved = time.monotonic()
        self._seen = -1.0
