"""Slot authoring: which validator may author a block in which slot.

A slot is `unix_time // slot_seconds`. The author of slot s is the active
validator at index `s mod n` of the (sorted) active set: round-robin, so every
validator authors equally often whatever its stake; stake weighs in the
election of the set and in finality votes.
"""

from runtime.crypto import Keypair, verify
from runtime.types import Header, seal_payload


def slot_at(unix_seconds: float, slot_seconds: int) -> int:
    return int(unix_seconds // slot_seconds)


def slot_start(slot: int, slot_seconds: int) -> float:
    return float(slot * slot_seconds)


def expected_author(slot: int, validators: tuple[bytes, ...]) -> bytes | None:
    if not validators:
        return None
    return validators[slot % len(validators)]


def seal(key: Keypair, header: Header) -> bytes:
    return key.sign(seal_payload(header.hash))


def verify_seal(header: Header, seal_bytes: bytes) -> bool:
    return verify(header.author, seal_payload(header.hash), seal_bytes)
