"""The RPC method table of one running node, namespace by namespace:

| namespace | module | reads of the node (`node.abc`) |
|---|---|---|
| `system_` | `node.rpc_system` | `SystemHost`: chain, pool, peers, sync state, addresses |
| `chain_`, `state_` | `node.rpc_chain` | `ChainReader`: the chain |
| `author_` | `node.rpc_author` | `AuthorHost`: the pool, and submitting to it |
| `vcoin_` (ledger) | `node.rpc_vcoin` | `LedgerHost`: chain and pool |
| `vcoin_` (market) | `node.rpc_market` | `MarketHost`: chain and blobs |
| `vcoin_` (history) | `node.rpc_history` | `HistoryHost`: chain and history index |
| `vcoin_` (explorer) | `node.rpc_explorer`, `node.rpc_summary` | `ExplorerHost`: all of the above |
| `chain_(un)subscribe*` | `node.rpc_subscriptions` | over WebSocket only (`node.rpc_ws`) |
| `rpc_methods` | here | Substrate's `{"methods": [names]}` |
"""

from typing import Any

from node.abc import RpcHost
from node.rpc import Method
from node.rpc_author import AuthorRpc
from node.rpc_chain import ChainRpc, StateRpc
from node.rpc_explorer import ExplorerRpc
from node.rpc_history import HistoryRpc
from node.rpc_market import MarketRpc
from node.rpc_namespace import methods_of
from node.rpc_subscriptions import http_stubs
from node.rpc_summary import SummaryRpc
from node.rpc_system import SystemRpc
from node.rpc_vcoin import VcoinRpc


def build_methods(node: RpcHost) -> dict[str, Method]:
    """Every RPC method of the contract over `node`, by name."""
    table = methods_of(
        SystemRpc(node), ChainRpc(node), StateRpc(node), AuthorRpc(node), VcoinRpc(node), MarketRpc(node),
        HistoryRpc(node), ExplorerRpc(node), SummaryRpc(node),
    )  # fmt: skip
    table.update(http_stubs())  # answered over WebSocket; over HTTP they say so

    def methods(params: list[Any]) -> Any:
        return {"methods": sorted(table)}

    table["rpc_methods"] = methods
    return table
