"""The `system_` RPC namespace: the node's health, identity and addresses."""

from typing import Any

from node.abc import SystemHost
from node.jsonfmt import parse_account
from node.rpc import params_between
from node.rpc_namespace import Namespace, rpc

VERSION = "0.1.0"


class SystemRpc(Namespace):
    prefix = "system"

    def __init__(self, node: SystemHost) -> None:
        self.node = node

    @rpc("system_health")
    def health(self, params: list[Any]) -> Any:
        params_between(params, 0, 0)
        chain = self.node.chain
        finalized = chain.store.header(chain.finalized_hash)
        return {
            "peers": self.node.peer_count(),
            "isSyncing": self.node.is_syncing(),
            "shouldHavePeers": self.node.should_have_peers(),
            "bestNumber": chain.best.number,
            "finalizedNumber": finalized.number if finalized else 0,
        }

    @rpc("system_name")
    def name(self, params: list[Any]) -> Any:
        return "vcoin-node"

    @rpc("system_version")
    def version(self, params: list[Any]) -> Any:
        return VERSION

    @rpc("system_chain")
    def chain_name(self, params: list[Any]) -> Any:
        return self.node.chain.spec.name

    @rpc("system_properties")
    def properties(self, params: list[Any]) -> Any:
        return {"tokenSymbol": "VC", "tokenDecimals": 9, "addressPrefix": "vc1"}

    @rpc("system_localPeerId")
    def local_peer_id(self, params: list[Any]) -> Any:
        return self.node.local_peer_id()

    @rpc("system_localListenAddresses")
    def local_listen_addresses(self, params: list[Any]) -> Any:
        return self.node.listen_addresses()

    @rpc("system_accountNextIndex")
    def account_next_index(self, params: list[Any]) -> Any:
        (who,) = params_between(params, 1, 1)
        return self.node.pool.next_nonce(self.node.chain.state, parse_account(who))
