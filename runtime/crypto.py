"""ed25519 keys and signatures (pynacl), account ids and their `vc1` text form."""

import base64
from dataclasses import dataclass, field

import nacl.bindings
import nacl.exceptions
import nacl.signing

from runtime.codec import blake2b_256

ACCOUNT_BYTES = 32
SIGNATURE_BYTES = 64
ADDRESS_PREFIX = "vc1"
_CHECKSUM_BYTES = 4
DEV_ACCOUNT_NAMES = ("alice", "bob", "charlie", "dave", "eve", "ferdie")


class AddressError(ValueError):
    """A text address that is malformed or fails its checksum."""


@dataclass(frozen=True)
class Keypair:
    """An ed25519 signing key; the account id is its 32-byte public key."""

    seed: bytes = field(repr=False)
    public: bytes = field(init=False)
    _signing: nacl.signing.SigningKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            raise ValueError("an ed25519 seed is 32 bytes")
        signing = nacl.signing.SigningKey(self.seed)
        object.__setattr__(self, "_signing", signing)
        object.__setattr__(self, "public", bytes(signing.verify_key))

    def sign(self, message: bytes) -> bytes:
        return bytes(self._signing.sign(message).signature)

    @property
    def address(self) -> str:
        return to_address(self.public)

    @classmethod
    def generate(cls) -> "Keypair":
        return cls(bytes(nacl.signing.SigningKey.generate()))


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    if len(public) != ACCOUNT_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, public)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
        return False
    except Exception:  # libsodium rejects some malformed points with other errors
        return False
    return True


def dev_seed(name: str) -> bytes:
    """Seed of the dev account `//name`: blake2b-256(b"vcoin-dev//name")."""
    return blake2b_256(b"vcoin-dev//" + name.encode())


def dev_keypair(name: str) -> Keypair:
    return Keypair(dev_seed(name.removeprefix("//")))


def derived_account(label: str) -> bytes:
    """A keyless account id for a protocol-owned account (treasury, reserve).

    It is a hash, not a curve point anyone holds the key for.
    """
    return blake2b_256(b"vcoin-module/" + label.encode())


def _checksum(public: bytes) -> bytes:
    return blake2b_256(ADDRESS_PREFIX.encode() + public)[:_CHECKSUM_BYTES]


def to_address(public: bytes) -> str:
    if len(public) != ACCOUNT_BYTES:
        raise AddressError("an account id is 32 bytes")
    body = base64.b32encode(public + _checksum(public)).decode().rstrip("=").lower()
    return ADDRESS_PREFIX + body


def from_address(text: str) -> bytes:
    if not text.startswith(ADDRESS_PREFIX):
        raise AddressError(f"address must start with {ADDRESS_PREFIX!r}")
    body = text[len(ADDRESS_PREFIX) :].upper()
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError as exc:
        raise AddressError("address is not valid base32") from exc
    if len(raw) != ACCOUNT_BYTES + _CHECKSUM_BYTES:
        raise AddressError("address has the wrong length")
    public, checksum = raw[:ACCOUNT_BYTES], raw[ACCOUNT_BYTES:]
    if _checksum(public) != checksum:
        raise AddressError("address checksum mismatch")
    if to_address(public) != text.lower():  # the last character carries padding bits
        raise AddressError("address is not in canonical form")
    return public
