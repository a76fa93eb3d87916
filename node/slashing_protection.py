"""Slashing protection: the finality votes this node's validator keys signed,
kept apart from the chain database.

The chain database can be wiped and resynced (`vcoin node purge-chain`); a
validator that then forgot its votes could sign a double or surround vote and
lose half its bond. So the vote history lives in its own small files under
`BASE/slashing_protection/<chain id>/<public key>.json`, one per key and
chain, each replaced atomically and fsynced before the vote it admits is
signed.

Each file holds the minimal form of EIP-3076: the highest source and the
highest target height this key ever signed (not necessarily one vote). A new
vote `(s, t)` is allowed only if `t` is above every earlier target and `s` is
not below any earlier source. That covers every pair the runtime punishes
(`runtime.types.votes_conflict`): no earlier vote shares the target height
(double vote); none surrounds it (that needs an earlier target above `t`); it
surrounds none (that needs `s` below an earlier source). Re-signing the very
same link, which the runtime forgives, is refused too: the node never needs it.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.storage import StorageError
from runtime.crypto import to_address

DIRECTORY = "slashing_protection"
FORMAT_VERSION = 1


class SlashingProtectionError(StorageError):
    """The slashing protection store cannot be read or does not fit."""


@dataclass(frozen=True)
class SignedRange:
    """The highest source and target heights one key signed on one chain."""

    source: int
    target: int
    target_hash: bytes | None = None  # of the block at `target`, when known

    def permits(self, source: int, target: int) -> bool:
        return target > source and target > self.target and source >= self.source

    def merge(self, other: "SignedRange") -> "SignedRange":
        """Both histories at once: never lose what either side signed."""
        if other.target > self.target:
            target_hash = other.target_hash
        elif other.target < self.target:
            target_hash = self.target_hash
        else:  # the same height: a hash only when both sides agree or one is silent
            hashes = {h for h in (self.target_hash, other.target_hash) if h is not None}
            target_hash = hashes.pop() if len(hashes) == 1 else None
        return SignedRange(max(self.source, other.source), max(self.target, other.target), target_hash)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in `path` survive a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path) -> None:
    """mkdir -p, with each new directory's entry fsynced in its parent."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        fsync_dir(directory.parent)


def write_atomic(path: Path, data: bytes) -> None:
    """After a crash at any instant, `path` holds either the old or the new bytes."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


class SlashingProtection:
    """The signed-vote history of every key on one chain, under one base path.

    Meant for one process at a time: the node (which holds the base path's
    database lock while it runs) or an offline `vcoin node slashing-protection`
    command."""

    def __init__(self, base_path: Path, chain_id: bytes) -> None:
        self.chain_id = chain_id
        self.root = base_path / DIRECTORY / chain_id.hex()
        self._cache: dict[bytes, SignedRange | None] = {}

    def _path(self, pubkey: bytes) -> Path:
        return self.root / f"{pubkey.hex()}.json"

    def get(self, pubkey: bytes) -> SignedRange | None:
        if pubkey not in self._cache:
            self._cache[pubkey] = self._read(pubkey)
        return self._cache[pubkey]

    def pubkeys(self) -> list[bytes]:
        """The keys with a history here, in sorted order."""
        if not self.root.is_dir():
            return []
        keys = []
        for path in self.root.glob("*.json"):
            try:
                key = bytes.fromhex(path.stem)
            except ValueError:
                continue
            if len(key) == 32:
                keys.append(key)
        return sorted(keys)

    def permits(self, pubkey: bytes, source: int, target: int) -> bool:
        last = self.get(pubkey)
        return target > source if last is None else last.permits(source, target)

    def register(self, pubkey: bytes, source: int, target: int, target_hash: bytes) -> bool:
        """Record a vote on disk before it is signed; False (nothing written)
        if it could be slashable against anything signed before."""
        if not self.permits(pubkey, source, target):
            return False
        self._write(pubkey, SignedRange(source, target, target_hash))
        return True

    def merge(self, pubkey: bytes, signed: SignedRange) -> SignedRange:
        """Add a history from elsewhere (an old database, an interchange file)."""
        last = self.get(pubkey)
        merged = signed if last is None else last.merge(signed)
        if merged != last:
            self._write(pubkey, merged)
        return merged

    def _write(self, pubkey: bytes, signed: SignedRange) -> None:
        make_dirs(self.root)
        record = {
            "version": FORMAT_VERSION,
            "chain_id": "0x" + self.chain_id.hex(),
            "pubkey": "0x" + pubkey.hex(),
            "address": to_address(pubkey),
            "source_number": signed.source,
            "target_number": signed.target,
            "target_hash": None if signed.target_hash is None else "0x" + signed.target_hash.hex(),
        }
        write_atomic(self._path(pubkey), json.dumps(record, indent=1).encode())
        self._cache[pubkey] = signed

    def _read(self, pubkey: bytes) -> SignedRange | None:
        path = self._path(pubkey)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SlashingProtectionError(f"cannot read {path}: {exc.strerror}") from None
        try:
            return _parse_record(json.loads(raw), self.chain_id, pubkey)
        except ValueError as exc:  # json's decode errors are ValueErrors too
            # Never treat an unreadable history as empty: that is how keys get slashed.
            raise SlashingProtectionError(
                f"the slashing protection record {path} is unreadable ({exc}); "
                "restore it, or import a slashing-protection export before validating again"
            ) from None


def parse_hash(text: Any) -> bytes:
    """A 0x-prefixed 32-byte hex hash."""
    if not isinstance(text, str) or not text.startswith("0x") or len(text) != 66:
        raise ValueError(f"{text!r} is not a 0x-prefixed 32-byte hex hash")
    return bytes.fromhex(text[2:])


def _parse_record(record: Any, chain_id: bytes, pubkey: bytes) -> SignedRange:
    if not isinstance(record, dict) or record.get("version") != FORMAT_VERSION:
        raise ValueError("not a version 1 record")
    if record.get("chain_id") != "0x" + chain_id.hex() or record.get("pubkey") != "0x" + pubkey.hex():
        raise ValueError("it names another chain or key than its path")
    source, target = record.get("source_number"), record.get("target_number")
    if type(source) is not int or type(target) is not int or not 0 <= source < target:
        raise ValueError("bad heights")
    target_hash = record.get("target_hash")
    return SignedRange(source, target, None if target_hash is None else parse_hash(target_hash))
