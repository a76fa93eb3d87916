"""Typed storage items over the state's byte keys.

A key is `pallet/item` followed by the canonical encoding of the map key, so
items never collide. Writing an item's default deletes the key: absent and
default are the same state, which keeps roots canonical.
"""

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgpack

from runtime.codec import encode
from runtime.state import State

T = TypeVar("T")


def _identity(value: Any) -> Any:
    return value


def _load(raw: bytes) -> Any:
    # State bytes were written by this runtime, so no canonical re-check.
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


class StorageValue(Generic[T]):
    def __init__(
        self,
        pallet: str,
        name: str,
        default: T,
        to_wire: Callable[[T], Any] = _identity,
        from_wire: Callable[[Any], T] = _identity,
    ) -> None:
        self.key = f"{pallet}/{name}".encode()
        self.default = default
        self._to_wire = to_wire
        self._from_wire = from_wire

    def get(self, state: State) -> T:
        raw = state.get(self.key)
        return self.default if raw is None else self._from_wire(_load(raw))

    def put(self, state: State, value: T) -> None:
        if value == self.default:
            state.delete(self.key)
        else:
            state.set(self.key, encode(self._to_wire(value)))


class StorageMap(Generic[T]):
    def __init__(
        self,
        pallet: str,
        name: str,
        default: T,
        to_wire: Callable[[T], Any] = _identity,
        from_wire: Callable[[Any], T] = _identity,
    ) -> None:
        self.prefix = f"{pallet}/{name}/".encode()
        self.default = default
        self._to_wire = to_wire
        self._from_wire = from_wire

    def key(self, map_key: Any) -> bytes:
        if type(map_key) is bytes:
            return self.prefix + map_key
        return self.prefix + encode(map_key)

    def get(self, state: State, map_key: Any) -> T:
        raw = state.get(self.key(map_key))
        return self.default if raw is None else self._from_wire(_load(raw))

    def contains(self, state: State, map_key: Any) -> bool:
        return state.get(self.key(map_key)) is not None

    def put(self, state: State, map_key: Any, value: T) -> None:
        if value == self.default:
            state.delete(self.key(map_key))
        else:
            state.set(self.key(map_key), encode(self._to_wire(value)))

    def remove(self, state: State, map_key: Any) -> None:
        state.delete(self.key(map_key))


def sorted_insert(items: tuple[bytes, ...], item: bytes) -> tuple[bytes, ...]:
    """A sorted set kept as a tuple: the index a pallet iterates in order."""
    return items if item in items else tuple(sorted((*items, item)))


def sorted_remove(items: tuple[bytes, ...], item: bytes) -> tuple[bytes, ...]:
    return tuple(x for x in items if x != item)


def insert_id(run: bytes, item: int) -> bytes:
    """A sorted run of 8-byte big-endian ids with `item` in it (once): a
    bisect over the raw records, so a long run is never decoded."""
    key = item.to_bytes(8, "big")
    lo, hi = 0, len(run) // 8
    while lo < hi:
        mid = (lo + hi) // 2
        if run[mid * 8 : mid * 8 + 8] < key:
            lo = mid + 1
        else:
            hi = mid
    return run if run[lo * 8 : lo * 8 + 8] == key else run[: lo * 8] + key + run[lo * 8 :]


def bytes_tuple(wire: Any) -> tuple[bytes, ...]:
    return tuple(wire)
