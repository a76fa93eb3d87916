"""Canonical encoding (msgpack, sorted map keys, no floats) and hashing."""

from collections.abc import Mapping, Sequence
from enum import StrEnum
from hashlib import blake2b
from typing import Any

import msgpack

HASH_BYTES = 32
ZERO_HASH = bytes(HASH_BYTES)
_MIN_INT = -(1 << 63)
_MAX_INT = (1 << 64) - 1
_MAX_DEPTH = 32


class CodecError(ValueError):
    """Raised for anything that has no canonical encoding."""


def blake2b_256(data: bytes) -> bytes:
    return blake2b(data, digest_size=HASH_BYTES).digest()


def _canonical(obj: Any, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise CodecError("nesting too deep")
    kind = type(obj)
    if kind is bool or kind is bytes or kind is str or obj is None:
        return obj
    if kind is int:
        if not _MIN_INT <= obj <= _MAX_INT:
            raise CodecError("integer out of 64-bit range")
        return obj
    if kind is list or kind is tuple:
        # Leaves inline: most values are bytes or small ints, and a call per
        # leaf was most of the codec's time.
        out = []
        for item in obj:
            leaf = type(item)
            if (
                leaf is bytes
                or leaf is str
                or leaf is bool
                or item is None
                or (leaf is int and _MIN_INT <= item <= _MAX_INT)
            ):
                out.append(item)
            else:
                out.append(_canonical(item, depth + 1))
        return out
    if isinstance(obj, Mapping):
        keys = list(obj)
        for key in keys:
            if type(key) not in (str, bytes, int):
                raise CodecError(f"map key of type {type(key).__name__}")
        try:
            keys.sort()
        except TypeError as exc:
            raise CodecError("map keys of mixed types") from exc
        return {key: _canonical(obj[key], depth + 1) for key in keys}
    if isinstance(obj, bytearray | memoryview):
        return bytes(obj)
    if isinstance(obj, StrEnum):  # a declared name (a status, a kind): encoded as its string
        return obj.value
    raise CodecError(f"no canonical encoding for {kind.__name__}")


def encode(obj: Any) -> bytes:
    """Canonical bytes of `obj`: the same value gives the same bytes everywhere."""
    return msgpack.packb(_canonical(obj, 0), use_bin_type=True)  # type: ignore[no-any-return]


def decode(data: bytes, max_len: int = 16 * 1024 * 1024) -> Any:
    """Decode bytes, refusing floats, trailing bytes and non-canonical forms."""
    if len(data) > max_len:
        raise CodecError("input too large")
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=False,
            use_list=True,
            max_bin_len=max_len,
            max_str_len=max_len,
            max_array_len=max_len,
            max_map_len=max_len,
        )
    except CodecError:
        raise
    except Exception as exc:  # msgpack raises a zoo of types on garbage
        raise CodecError(f"undecodable: {exc.__class__.__name__}") from exc
    try:
        canonical = encode(obj)
    except Exception as exc:  # e.g. map keys of mixed types cannot be sorted
        raise CodecError(f"not canonical: {exc.__class__.__name__}") from exc
    if canonical != data:
        raise CodecError("non-canonical encoding")
    return obj


def hash_of(obj: Any) -> bytes:
    return blake2b_256(encode(obj))


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Binary Merkle root of a list of 32-byte hashes (odd nodes promoted)."""
    if not leaves:
        return ZERO_HASH
    level = [blake2b_256(b"\x00" + leaf) for leaf in leaves]
    while len(level) > 1:
        nxt = [blake2b_256(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]
