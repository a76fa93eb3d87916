"""The call table: `pallet.name` -> function and the types of its arguments.

Pallets register their calls with `@call(...)`; arguments are validated
against their declared types before the function runs, so pallet code only
ever sees well-typed values.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from runtime.constants import MAX_U64
from runtime.context import Ctx
from runtime.crypto import ACCOUNT_BYTES
from runtime.errors import DispatchError

Checker = Callable[[Any], bool]


def account(value: Any) -> bool:
    return type(value) is bytes and len(value) == ACCOUNT_BYTES


def amount(value: Any) -> bool:
    return type(value) is int and 0 <= value <= MAX_U64


def u32(value: Any) -> bool:
    return type(value) is int and 0 <= value < 1 << 32


def boolean(value: Any) -> bool:
    return type(value) is bool


def hash32(value: Any) -> bool:
    return type(value) is bytes and len(value) == 32


def blob(max_len: int) -> Checker:
    return lambda value: type(value) is bytes and len(value) <= max_len


def text(max_len: int) -> Checker:
    return lambda value: type(value) is str and 0 < len(value) <= max_len


def one_of(*choices: str) -> Checker:
    return lambda value: value in choices


def mapping(value: Any) -> bool:
    return type(value) is dict


def hash_list(max_items: int) -> Checker:
    return lambda value: (
        type(value) is list and 0 < len(value) <= max_items and all(hash32(v) for v in value)
        and len(set(value)) == len(value)
    )  # fmt: skip


@dataclass(frozen=True)
class CallSpec:
    fn: Callable[..., None]
    params: Mapping[str, Checker]


CALLS: dict[tuple[str, str], CallSpec] = {}


def call(pallet: str, name: str, **params: Checker) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def register(fn: Callable[..., None]) -> Callable[..., None]:
        CALLS[(pallet, name)] = CallSpec(fn, params)
        return fn

    return register


def dispatch(ctx: Ctx, origin: bytes, pallet: str, name: str, args: Mapping[str, Any]) -> None:
    spec = CALLS.get((pallet, name))
    if spec is None:
        raise DispatchError("system", "UnknownCall", f"{pallet}.{name}")
    if set(args) != set(spec.params):
        raise DispatchError("system", "BadArguments", f"expected {sorted(spec.params)}")
    for arg, check in spec.params.items():
        if not check(args[arg]):
            raise DispatchError("system", "BadArguments", f"invalid {arg}")
    spec.fn(ctx, origin, **args)
