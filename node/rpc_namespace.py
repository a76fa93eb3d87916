"""RPC namespaces: one small class per method prefix (`system_`, `chain_`,
`state_`, `author_`, `vcoin_`), each over the protocol of `node.abc` that
says what it reads of the node. A method is marked with the name clients
call it by:

    class SystemRpc(Namespace):
        prefix = "system"

        @rpc("system_health")
        def health(self, params: list[Any]) -> Any: ...

and `SystemRpc(node).methods()` is its part of the RPC method table.
"""

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from node.chain import Chain
from node.jsonfmt import parse_hex
from node.rpc import Method, RpcError
from node.state_pruning import StatePruned
from runtime.state import State
from runtime.types import Header

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "_rpc_name"
UNKNOWN_BLOCK = 4003


def rpc(name: str) -> Callable[[F], F]:
    """Mark a method of a `Namespace` as the RPC method `name`."""

    def mark(function: F) -> F:
        setattr(function, _MARK, name)
        return function

    return mark


class Namespace:
    prefix: ClassVar[str]

    def methods(self) -> dict[str, Method]:
        """The marked methods, bound to this namespace, by RPC name."""
        table: dict[str, Method] = {}
        for cls in reversed(type(self).__mro__):
            for attr, value in vars(cls).items():
                name = getattr(value, _MARK, None)
                if name is None:
                    continue
                if not name.startswith(f"{self.prefix}_"):
                    raise TypeError(f"{name} does not belong in the {self.prefix}_ namespace")
                table[name] = getattr(self, attr)
        return table


def methods_of(*namespaces: Namespace) -> dict[str, Method]:
    """The method table of several namespaces; a name given twice is a bug."""
    table: dict[str, Method] = {}
    for namespace in namespaces:
        for name, method in namespace.methods().items():
            if name in table:
                raise TypeError(f"RPC method {name} defined twice")
            table[name] = method
    return table


def header_at(chain: Chain, value: Any) -> Header:
    """The header of block `value` (0x hash), the best one when None."""
    if value is None:
        return chain.best
    header = chain.store.header(parse_hex(value, 32))
    if header is None:
        raise RpcError(UNKNOWN_BLOCK, "Unknown block")
    return header


def state_at(chain: Chain, value: Any) -> State:
    """The state after block `value` (0x hash), the best state when None."""
    if value is None:
        return chain.state
    try:
        state = chain.state_at(parse_hex(value, 32))
    except StatePruned as exc:
        raise RpcError(UNKNOWN_BLOCK, str(exc)) from None
    if state is None:
        raise RpcError(UNKNOWN_BLOCK, "Unknown block")
    return state
