"""Byte-level and structure-level mutations of valid inputs, the way
coverage-less fuzzers (radamsa, zzuf) make attack traffic: most cases are
close to valid, so they reach past the first length check."""

import random
from typing import Any

import msgpack

INTERESTING = [0, 1, -1, 2**31 - 1, 2**32, 2**63 - 1, 2**64 - 1, -(2**63), 10**30]


def random_value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return rng.choice(INTERESTING) if rng.random() < 0.5 else rng.randrange(-1000, 1000)
    if choice == 1:
        return rng.randbytes(rng.choice([0, 1, 31, 32, 33, 64, 65, rng.randrange(300)]))
    if choice == 2:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(12)))
    if choice == 3:
        return rng.choice([None, True, False])
    if choice == 4:
        return rng.random() * 1e6  # floats are never canonical
    if choice == 5:
        return []
    if choice == 6:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(6))]
    if choice == 7:
        return {str(rng.randrange(5)): random_value(rng, depth + 1) for _ in range(rng.randrange(4))}
    return {rng.randrange(5): random_value(rng, depth + 1)}


def packed(value: Any) -> bytes:
    try:
        return bytes(msgpack.packb(value, use_bin_type=True))
    except (TypeError, ValueError, OverflowError):
        return b"\xc1"


def mutate_value(rng: random.Random, value: Any) -> Any:
    """Replace, drop or add one element somewhere inside a decoded structure."""
    if isinstance(value, list) and value and rng.random() < 0.7:
        copy = list(value)
        index = rng.randrange(len(copy))
        action = rng.randrange(3)
        if action == 0:
            copy[index] = mutate_value(rng, copy[index])
        elif action == 1:
            del copy[index]
        else:
            copy.insert(index, random_value(rng))
        return copy
    return random_value(rng)


def mutate_bytes(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4, 8])):
        action = rng.randrange(7)
        if action == 0 and buf:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif action == 1 and buf:
            buf[rng.randrange(len(buf))] = rng.choice([0x00, 0xFF, 0x7F, 0x80, 0xC1, 0xDC, 0xDD, 0xDE, 0xDF])
        elif action == 2:
            at = rng.randrange(len(buf) + 1)
            buf[at:at] = rng.randbytes(rng.randrange(1, 9))
        elif action == 3 and buf:
            at = rng.randrange(len(buf))
            del buf[at : at + rng.randrange(1, 17)]
        elif action == 4:
            del buf[rng.randrange(len(buf) + 1) :]  # truncation
        elif action == 5 and buf:
            at = rng.randrange(len(buf))
            buf[at:at] = buf[at : at + rng.randrange(1, 64)] * rng.randrange(1, 4)
        elif others:
            other = rng.choice(others)
            cut = rng.randrange(len(other) + 1)
            buf = buf[: rng.randrange(len(buf) + 1)] + bytearray(other[cut:])
    return bytes(buf)


def case(rng: random.Random, seeds: list[bytes]) -> bytes:
    """One fuzz case from the seeds: a byte mutation, a structural one, or random bytes."""
    seed = rng.choice(seeds)
    roll = rng.random()
    if roll < 0.55:
        return mutate_bytes(rng, seed, seeds)
    if roll < 0.9:
        try:
            value = msgpack.unpackb(seed, raw=False, strict_map_key=False)
        except Exception:
            value = None
        return packed(mutate_value(rng, value))
    return rng.randbytes(rng.randrange(200))
