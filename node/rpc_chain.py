"""The `chain_` and `state_` RPC namespaces: blocks, headers, events and
storage, by hash (the best block when none is given)."""

from typing import Any

from node.abc import ChainReader
from node.jsonfmt import block_json, event_json, header_json, hex0x, parse_hex
from node.rpc import RpcError, params_between
from node.rpc_bodies import body_of
from node.rpc_namespace import UNKNOWN_BLOCK, Namespace, header_at, rpc, state_at


class ChainRpc(Namespace):
    prefix = "chain"

    def __init__(self, node: ChainReader) -> None:
        self.node = node

    @rpc("chain_getBlockHash")
    def get_block_hash(self, params: list[Any]) -> Any:
        (number,) = params_between(params, 0, 1)
        chain = self.node.chain
        if number is None:
            return hex0x(chain.best.hash)
        if type(number) is not int or number < 0:
            raise ValueError("block number must be a non-negative integer")
        found = chain.store.hash_at(number)
        return None if found is None else hex0x(found)

    @rpc("chain_getHeader")
    def get_header(self, params: list[Any]) -> Any:
        (at,) = params_between(params, 0, 1)
        return header_json(header_at(self.node.chain, at))

    @rpc("chain_getBlock")
    def get_block(self, params: list[Any]) -> Any:
        (at,) = params_between(params, 0, 1)
        chain = self.node.chain
        return block_json(body_of(chain, header_at(chain, at)))

    @rpc("chain_getFinalizedHead")
    def get_finalized_head(self, params: list[Any]) -> Any:
        params_between(params, 0, 0)
        return hex0x(self.node.chain.finalized_hash)

    @rpc("chain_getEvents")
    def get_events(self, params: list[Any]) -> Any:
        (at,) = params_between(params, 0, 1)
        chain = self.node.chain
        header = header_at(chain, at)
        if not chain.pruner.events_kept(header.number):
            raise RpcError(UNKNOWN_BLOCK, f"the events of block #{header.number} are pruned with its state")
        return [event_json(e) for e in chain.store.events(header.hash)]


class StateRpc(Namespace):
    prefix = "state"

    def __init__(self, node: ChainReader) -> None:
        self.node = node

    @rpc("state_getStorage")
    def get_storage(self, params: list[Any]) -> Any:
        key, at = params_between(params, 1, 2)
        value = state_at(self.node.chain, at).get(parse_hex(key))
        return None if value is None else hex0x(value)
