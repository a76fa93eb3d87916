"""Canonical encoding of results: the same outputs give the same bytes, and
so the same hash, on any machine.

Results are msgpack with sorted map keys and no floats: real numbers are
fixed-point integers (`to_fixed`, 1e-6 steps), so no platform's float
formatting can change a hash. The chain's codec follows the same rules; the
agent keeps its own copy because it must not depend on the chain.
"""

import hashlib
from typing import Any

import msgpack

FIXED_SCALE = 1_000_000


def _check(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("floats are not canonical: convert with to_fixed")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("map keys are strings")
            _check(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check(item)


def encode(value: Any) -> bytes:
    _check(value)
    packed: bytes = msgpack.packb(_sorted(value), use_bin_type=True)
    return packed


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list | tuple):
        return [_sorted(v) for v in value]
    return value


def decode(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def to_fixed(values: Any) -> Any:
    """Floats (nested lists of them) -> integers in 1e-6 steps, rounded half to even."""
    if isinstance(values, list | tuple):
        return [to_fixed(v) for v in values]
    return int(round(float(values) * FIXED_SCALE))


def from_fixed(values: Any) -> Any:
    if isinstance(values, list | tuple):
        return [from_fixed(v) for v in values]
    return values / FIXED_SCALE
