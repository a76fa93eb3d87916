"""One storage codec for the runtime's records, driven by their dataclass
fields: a record is stored as the list of its fields in declaration order
(nested records and tuples as lists), and read back by the field types.

Positional, like the hand-written pairs it replaced, so the bytes of every
stored record are what they were (tests/runtime/test_record.py opens a
chain written before this module). A change of a record's fields is a
change of its pallet's storage version, with a migration (runtime.migrations).
"""

import dataclasses
import types
import typing
from enum import Enum
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin

R = TypeVar("R")


def to_wire(value: Any) -> Any:
    """A record as plain msgpack values (enums as their values)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [to_wire(getattr(value, field.name)) for field in dataclasses.fields(value)]
    if isinstance(value, tuple | list):
        return [to_wire(item) for item in value]
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    if isinstance(value, Enum):
        return value.value
    return value


def from_wire(kind: type[R], wire: Any) -> R:
    """The record of type `kind` that `to_wire` gave `wire` for."""
    return typing.cast(R, _read(kind, wire))


@cache
def _hints(kind: type) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(kind)
    return tuple((field.name, hints[field.name]) for field in dataclasses.fields(kind))


def _read(kind: Any, wire: Any) -> Any:
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):  # `X | None`
        options = [arg for arg in get_args(kind) if arg is not type(None)]
        return None if wire is None else _read(options[0], wire)
    if origin is tuple:
        args = get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_read(args[0], item) for item in wire)
        return tuple(_read(arg, item) for arg, item in zip(args, wire, strict=True))
    if origin is dict:
        key_type, value_type = get_args(kind)
        return {_read(key_type, key): _read(value_type, item) for key, item in wire.items()}
    if origin is list:
        return [_read(get_args(kind)[0], item) for item in wire]
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        fields = _hints(kind)
        if len(wire) != len(fields):
            raise ValueError(f"a stored {kind.__name__} has {len(wire)} fields, the code {len(fields)}")
        return kind(*(_read(hint, item) for (_, hint), item in zip(fields, wire, strict=True)))
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(wire)
    return wire


def codec(kind: Any) -> tuple[typing.Callable[[Any], Any], typing.Callable[[Any], Any]]:
    """(to_wire, from_wire) of a storage item holding `kind` (`Job | None`, say)."""
    return to_wire, lambda wire: _read(kind, wire)
