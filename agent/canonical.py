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


_SCALARS = frozenset({int, str, bytes, bool, type(None)})


def _canonical(value: Any) -> Any:
    """A copy with sorted maps; TypeError on floats or non-string keys."""
    kind = type(value)
    if kind is list or kind is tuple:
        if _SCALARS.issuperset(map(type, value)):  # flat lists of scalars (vectors): one C-speed pass
            return list(value)
        return [_canonical(v) for v in value]
    if kind is dict:
        if not all(type(k) is str for k in value):
            raise TypeError("map keys are strings")
        return {k: _canonical(value[k]) for k in sorted(value)}
    if kind is float:
        raise TypeError("floats are not canonical: convert with to_fixed")
    return value


def encode(value: Any) -> bytes:
    packed: bytes = msgpack.packb(_canonical(value), use_bin_type=True)
    return packed


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
