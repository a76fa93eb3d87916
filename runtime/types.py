"""Chain types: frozen dataclasses with a canonical wire form each."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from runtime.codec import CodecError, blake2b_256, decode, encode, merkle_root
from runtime.constants import MAX_EXTRINSIC_BYTES, MAX_VOTE_BYTES
from runtime.crypto import ACCOUNT_BYTES, SIGNATURE_BYTES, Keypair, verify

_NAME_MAX = 64


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise CodecError(what)


@dataclass(frozen=True)
class Call:
    """A pallet call: `pallet.name(**args)`; args are checked at dispatch."""

    pallet: str
    name: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def to_wire(self) -> list[Any]:
        return [self.pallet, self.name, dict(self.args)]

    @classmethod
    def from_wire(cls, wire: Any) -> "Call":
        _expect(type(wire) is list and len(wire) == 3, "call is [pallet, name, args]")
        pallet, name, args = wire
        _expect(type(pallet) is str and 0 < len(pallet) <= _NAME_MAX, "bad pallet name")
        _expect(type(name) is str and 0 < len(name) <= _NAME_MAX, "bad call name")
        _expect(type(args) is dict and all(type(k) is str for k in args), "bad call args")
        return cls(pallet, name, args)


@dataclass(frozen=True)
class Extrinsic:
    """A signed transaction. The signature covers the chain id, so it cannot
    be replayed on another chain."""

    signer: bytes
    nonce: int
    tip: int
    call: Call
    signature: bytes

    @staticmethod
    def signing_payload(chain_id: bytes, signer: bytes, nonce: int, tip: int, call: Call) -> bytes:
        return encode([b"vcoin-tx", chain_id, signer, nonce, tip, call.to_wire()])

    @classmethod
    def sign(cls, key: Keypair, chain_id: bytes, nonce: int, call: Call, tip: int = 0) -> "Extrinsic":
        payload = cls.signing_payload(chain_id, key.public, nonce, tip, call)
        return cls(key.public, nonce, tip, call, key.sign(payload))

    def encode(self) -> bytes:
        return encode([self.signer, self.nonce, self.tip, self.call.to_wire(), self.signature])

    @classmethod
    def decode(cls, data: bytes) -> "Extrinsic":
        wire = decode(data, max_len=MAX_EXTRINSIC_BYTES)
        _expect(type(wire) is list and len(wire) == 5, "extrinsic is a 5-item list")
        signer, nonce, tip, call, signature = wire
        _expect(type(signer) is bytes and len(signer) == ACCOUNT_BYTES, "bad signer")
        _expect(type(nonce) is int and nonce >= 0, "bad nonce")
        _expect(type(tip) is int and tip >= 0, "bad tip")
        _expect(type(signature) is bytes and len(signature) == SIGNATURE_BYTES, "bad signature")
        return cls(signer, nonce, tip, Call.from_wire(call), signature)


def extrinsic_hash(raw: bytes) -> bytes:
    return blake2b_256(raw)


def extrinsics_root(raws: tuple[bytes, ...] | list[bytes]) -> bytes:
    return merkle_root([extrinsic_hash(raw) for raw in raws])


@dataclass(frozen=True)
class Header:
    parent_hash: bytes
    number: int
    state_root: bytes
    extrinsics_root: bytes
    slot: int
    author: bytes

    def to_wire(self) -> list[Any]:
        return [
            self.parent_hash,
            self.number,
            self.state_root,
            self.extrinsics_root,
            self.slot,
            self.author,
        ]

    @classmethod
    def from_wire(cls, wire: Any) -> "Header":
        _expect(type(wire) is list and len(wire) == 6, "header is a 6-item list")
        parent, number, state_root, ext_root, slot, author = wire
        for value in (parent, state_root, ext_root, author):
            _expect(type(value) is bytes and len(value) == 32, "bad 32-byte header field")
        _expect(type(number) is int and number >= 0, "bad block number")
        _expect(type(slot) is int and slot >= 0, "bad slot")
        return cls(parent, number, state_root, ext_root, slot, author)

    def encode(self) -> bytes:
        return encode(self.to_wire())

    @property
    def hash(self) -> bytes:
        return blake2b_256(self.encode())


@dataclass(frozen=True)
class Block:
    """A header, its extrinsics as raw bytes, and the author's seal (a
    signature over the header hash; empty until the node signs it)."""

    header: Header
    extrinsics: tuple[bytes, ...]
    seal: bytes = b""

    @property
    def hash(self) -> bytes:
        return self.header.hash

    def encode(self) -> bytes:
        return encode([self.header.to_wire(), list(self.extrinsics), self.seal])

    @classmethod
    def decode(cls, data: bytes, max_len: int = 8 * 1024 * 1024) -> "Block":
        wire = decode(data, max_len=max_len)
        _expect(type(wire) is list and len(wire) == 3, "block is a 3-item list")
        header, extrinsics, seal = wire
        _expect(type(extrinsics) is list, "extrinsics must be a list")
        _expect(all(type(x) is bytes for x in extrinsics), "extrinsics must be bytes")
        _expect(type(seal) is bytes and len(seal) in (0, SIGNATURE_BYTES), "bad seal")
        return cls(Header.from_wire(header), tuple(extrinsics), seal)


class PalletEnum(StrEnum):
    """Names a pallet declares in one place, each member valued by its own
    name (`Transfer = auto()` is "Transfer"), the class bound to its pallet:
    `class Event(PalletEvent, pallet="balances")`."""

    pallet: ClassVar[str]

    @staticmethod
    def _generate_next_value_(name: str, start: int, count: int, last_values: list[Any]) -> str:
        return name

    def __init_subclass__(cls, pallet: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if pallet:
            cls.pallet = pallet


class PalletEvent(PalletEnum):
    """A pallet's events (FRAME's `#[pallet::event]`): `ctx.emit(Event.Transfer, ...)`."""


@dataclass(frozen=True)
class Event:
    """What happened, for clients: `pallet.name` with data, and the index of
    the extrinsic that caused it (None for block hooks)."""

    pallet: str
    name: str
    data: Mapping[str, Any]
    extrinsic_index: int | None = None

    def to_wire(self) -> list[Any]:
        return [self.pallet, self.name, dict(self.data), self.extrinsic_index]


def cheque_payload(chain_id: bytes, session: int, seq: int, units: int, request_hash: bytes) -> bytes:
    """What a session's key signs for each request (see `runtime.pallets.sessions`):
    the session, the request's sequence number, the cumulative work units so far
    and the request's hash, bound to the chain."""
    return b"vcoin-cheque" + encode([chain_id, session, seq, units, request_hash])


def vote_payload(chain_id: bytes, source: tuple[int, bytes], target: tuple[int, bytes]) -> bytes:
    """What a validator signs for a finality vote (a source -> target link)."""
    return b"vcoin-vote" + encode([chain_id, source[0], source[1], target[0], target[1]])


@dataclass(frozen=True, order=True)
class Checkpoint:
    """A block as finality votes name it: its number and hash."""

    number: int
    hash: bytes

    def as_pair(self) -> tuple[int, bytes]:
        return (self.number, self.hash)


@dataclass(frozen=True)
class Vote:
    """A validator's signed finality link `source -> target` (see
    `consensus.finality`). Its wire form, the one place it is parsed (the
    finality gadget reads votes, the slashing pallet their evidence):
    `[source number, source hash, target number, target hash, voter, signature]`."""

    source: Checkpoint
    target: Checkpoint
    voter: bytes
    signature: bytes

    @classmethod
    def sign(cls, key: Keypair, chain_id: bytes, source: Checkpoint, target: Checkpoint) -> "Vote":
        signature = key.sign(vote_payload(chain_id, source.as_pair(), target.as_pair()))
        return cls(source, target, key.public, signature)

    def verify(self, chain_id: bytes) -> bool:
        payload = vote_payload(chain_id, self.source.as_pair(), self.target.as_pair())
        return verify(self.voter, payload, self.signature)

    @property
    def link(self) -> "VoteLink":
        return (self.source.number, self.target.number)

    def to_wire(self) -> list[Any]:
        s, t = self.source, self.target
        return [s.number, s.hash, t.number, t.hash, self.voter, self.signature]

    @classmethod
    def from_wire(cls, wire: Any) -> "Vote":
        _expect(type(wire) is list and len(wire) == 6, "a vote is a 6-item list")
        s_num, s_hash, t_num, t_hash, voter, signature = wire
        for number in (s_num, t_num):
            _expect(type(number) is int and 0 <= number < 2**63, "bad vote height")
        for value, size in ((s_hash, 32), (t_hash, 32), (voter, ACCOUNT_BYTES), (signature, SIGNATURE_BYTES)):
            _expect(type(value) is bytes and len(value) == size, "bad vote field")
        _expect(t_num > s_num, "a vote's target must be above its source")
        return cls(Checkpoint(s_num, s_hash), Checkpoint(t_num, t_hash), voter, signature)

    def encode(self) -> bytes:
        return encode(self.to_wire())

    @classmethod
    def decode(cls, data: bytes) -> "Vote":
        return cls.from_wire(decode(data, max_len=MAX_VOTE_BYTES))


VoteLink = tuple[int, int]  # (source height, target height)


def votes_conflict(a: VoteLink, b: VoteLink, same_link: bool) -> str | None:
    """Why two finality votes by one validator are slashable, or None: they
    share a target height (double vote) or one surrounds the other."""
    if same_link:
        return None
    if a[1] == b[1]:
        return "double vote"
    outer, inner = (a, b) if a[1] > b[1] else (b, a)
    return "surround vote" if outer[0] < inner[0] else None


def slashable(a: Vote, b: Vote) -> str | None:
    """Why two votes by one validator are an offence, or None (votes by two
    validators never are; the same link twice is no offence, whatever the
    signature bytes)."""
    if a.voter != b.voter:
        return None
    return votes_conflict(a.link, b.link, a.source == b.source and a.target == b.target)


def seal_payload(header_hash: bytes) -> bytes:
    """What a block author signs: domain-separated from transaction payloads."""
    return b"vcoin-seal" + header_hash
