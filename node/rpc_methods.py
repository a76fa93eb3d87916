"""The RPC method table of one running node, namespace by namespace:

| namespace | module | reads of the node (`node.abc`) |
|---|---|---|
| `system_` | `node.rpc_system` | `SystemHost`: chain, pool, peers, sync state, addresses |
| `chain_`, `state_` | `node.rpc_chain` | `ChainReader`: the chain |
| `author_` | `node.rpc_author` | `AuthorHost`: the pool, and submitting to it |
| `vcoin_` (ledger) | `node.rpc_vcoin` | `LedgerHost`: chain and pool |
| `vcoin_` (market) | `node.rpc_market` | `MarketHost`: chain and blobs |
"""

from node.abc import RpcHost
from node.rpc import Method
from node.rpc_author import AuthorRpc
from node.rpc_chain import ChainRpc, StateRpc
from node.rpc_market import MarketRpc
from node.rpc_namespace import methods_of
from node.rpc_system import SystemRpc
from node.rpc_vcoin import VcoinRpc


def build_methods(node: RpcHost) -> dict[str, Method]:
    """Every RPC method of the contract over `node`, by name."""
    return methods_of(
        SystemRpc(node), ChainRpc(node), StateRpc(node), AuthorRpc(node), VcoinRpc(node), MarketRpc(node)
    )
