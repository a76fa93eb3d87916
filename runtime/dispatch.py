"""Calls: what a signed extrinsic may ask a pallet to do, and the types of
its arguments.

A pallet module declares its calls in its own table (FRAME's
`#[pallet::call]`):

    calls = Calls(PALLET)

    @calls.add("transfer", to=account, amount=amount)
    def transfer(ctx: Ctx, origin: bytes, to: bytes, amount: int) -> None: ...

The table is the module's; only the runtime's manifest (`runtime.manifest`)
puts it in the call table the executive dispatches from, so importing a
module never changes what the runtime accepts. Arguments are validated
against their declared types before the function runs, so pallet code only
ever sees well-typed values.
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from runtime.constants import MAX_U64
from runtime.context import Ctx
from runtime.crypto import ACCOUNT_BYTES
from runtime.pallets import system

Checker = Callable[[Any], bool]
CallFn = TypeVar("CallFn", bound=Callable[..., None])


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
    pallet: str
    name: str
    fn: Callable[..., None]
    params: Mapping[str, Checker]


class Calls:
    """One module's calls of a pallet, in the order they are declared."""

    def __init__(self, pallet: str) -> None:
        self.pallet = pallet
        self._specs: list[CallSpec] = []

    def add(self, name: str, **params: Checker) -> Callable[[CallFn], CallFn]:
        """Declare the decorated function as the call `pallet.name`; it stays a plain function."""

        def declare(fn: CallFn) -> CallFn:
            if any(spec.name == name for spec in self._specs):
                raise ValueError(f"{self.pallet}.{name} is declared twice")
            self._specs.append(CallSpec(self.pallet, name, fn, params))
            return fn

        return declare

    def __iter__(self) -> Iterator[CallSpec]:
        return iter(tuple(self._specs))


CallTable = Mapping[tuple[str, str], CallSpec]


def dispatch(
    calls: CallTable, ctx: Ctx, origin: bytes, pallet: str, name: str, args: Mapping[str, Any]
) -> None:
    spec = calls.get((pallet, name))
    if spec is None:
        raise system.Error.UnknownCall(f"{pallet}.{name}")
    if set(args) != set(spec.params):
        raise system.Error.BadArguments(f"expected {sorted(spec.params)}")
    for arg, check in spec.params.items():
        if not check(args[arg]):
            raise system.Error.BadArguments(f"invalid {arg}")
    spec.fn(ctx, origin, **args)
