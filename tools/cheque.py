"""Cheques for sessions, signed off chain by a session's key.

A user (or a session key it delegated in `sessions.open`) signs one cheque
per request: the session, the request's sequence number (from 1), the
cumulative work units so far (this request included) and the request's
hash, bound to the chain (`runtime.types.cheque_payload`). The provider
keeps the latest and settles it with `sessions.settle{..., cheque}`: the
dict `sign_cheque` returns is that argument as it is.

    book = ChequeBook(key, chain_id, session_id)
    cheque = book.next(units_so_far=3, request_hash=request_hash(b"..."))
"""

from dataclasses import dataclass
from typing import Any

from runtime.codec import blake2b_256
from runtime.crypto import Keypair, verify
from runtime.types import cheque_payload


def request_hash(request: bytes) -> bytes:
    """The 32-byte hash a cheque names a request by."""
    return blake2b_256(request)


def sign_cheque(
    key: Keypair, chain_id: bytes, session: int, seq: int, units: int, request: bytes
) -> dict[str, Any]:
    """The cheque `{seq, units, request_hash, signature}` for `sessions.settle`;
    `request` is the request's 32-byte hash."""
    if seq < 1:
        raise ValueError("a cheque's sequence number counts from 1")
    if units < 0:
        raise ValueError("a cheque's units are cumulative and never negative")
    if len(request) != 32:
        raise ValueError("a cheque names its request by a 32-byte hash")
    signature = key.sign(cheque_payload(chain_id, session, seq, units, request))
    return {"seq": seq, "units": units, "request_hash": request, "signature": signature}


def cheque_is_valid(cheque: dict[str, Any], chain_id: bytes, session: int, key: bytes) -> bool:
    """Whether `cheque` is signed by `key` for this session (a provider's check)."""
    payload = cheque_payload(chain_id, session, cheque["seq"], cheque["units"], cheque["request_hash"])
    return verify(key, payload, cheque["signature"])


def cheque_json(cheque: dict[str, Any]) -> dict[str, Any]:
    """A cheque with its bytes as 0x-hex, to hand over as JSON."""
    return {**cheque, "request_hash": "0x" + cheque["request_hash"].hex(),
            "signature": "0x" + cheque["signature"].hex()}  # fmt: skip


def cheque_from_json(data: dict[str, Any]) -> dict[str, Any]:
    return {"seq": int(data["seq"]), "units": int(data["units"]),
            "request_hash": bytes.fromhex(str(data["request_hash"]).removeprefix("0x")),
            "signature": bytes.fromhex(str(data["signature"]).removeprefix("0x"))}  # fmt: skip


@dataclass
class ChequeBook:
    """The user's side of a session: each `next` signs the following seq; the
    units are cumulative and may not go down."""

    key: Keypair
    chain_id: bytes
    session: int
    seq: int = 0
    units: int = 0

    def next(self, units_so_far: int, request: bytes) -> dict[str, Any]:
        if units_so_far < self.units:
            raise ValueError(f"units are cumulative: {units_so_far} is below the {self.units} signed already")
        cheque = sign_cheque(self.key, self.chain_id, self.session, self.seq + 1, units_so_far, request)
        self.seq, self.units = cheque["seq"], units_so_far
        return cheque
