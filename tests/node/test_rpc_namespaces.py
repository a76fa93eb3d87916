"""The RPC method table is built from one small class per namespace, each
over the protocol of `node.abc` it needs (issue 14); the names clients call
are those of the contract, each defined once."""

from types import SimpleNamespace
from typing import Any, cast

import pytest

from node.rpc_methods import build_methods
from node.rpc_namespace import Namespace, methods_of, rpc
from node.rpc_system import SystemRpc

CONTRACT = {
    "system_health", "system_name", "system_version", "system_chain", "system_properties",
    "system_localPeerId", "system_localListenAddresses", "system_accountNextIndex",
    "chain_getBlockHash", "chain_getHeader", "chain_getBlock", "chain_getFinalizedHead", "chain_getEvents",
    "author_submitExtrinsic", "author_pendingExtrinsics", "state_getStorage",
    "vcoin_chainInfo", "vcoin_account", "vcoin_supply", "vcoin_staking", "vcoin_validators",
    "vcoin_proposal", "vcoin_proposals", "vcoin_extrinsic",
    "vcoin_models", "vcoin_model", "vcoin_provider", "vcoin_job", "vcoin_jobs", "vcoin_jobsPage",
    "vcoin_jobResult", "vcoin_putBlob", "vcoin_getBlob", "vcoin_session", "vcoin_sessions",
    "vcoin_history", "vcoin_providerHistory", "vcoin_blockDetail", "vcoin_accountView", "vcoin_summary",
    "vcoin_validatorSet", "vcoin_providerSet", "vcoin_jobTimeline", "rpc_methods",
    # over WebSocket (node.rpc_ws); over HTTP they answer that they need one
    "chain_subscribeNewHeads", "chain_subscribeNewHead", "subscribe_newHead", "chain_subscribeFinalizedHeads",
    "chain_subscribeFinalisedHeads", "chain_subscribeAllHeads", "chain_unsubscribeNewHeads",
    "chain_unsubscribeNewHead", "unsubscribe_newHead", "chain_unsubscribeFinalizedHeads",
    "chain_unsubscribeFinalisedHeads", "chain_unsubscribeAllHeads",
}  # fmt: skip


def test_the_table_holds_the_contracts_names_and_reads_the_node_lazily() -> None:
    methods = build_methods(cast(Any, SimpleNamespace()))  # nothing is read before a call
    assert set(methods) == CONTRACT


def test_a_namespace_needs_only_what_its_protocol_names() -> None:
    header = SimpleNamespace(number=7)
    chain = SimpleNamespace(best=header, finalized_hash=b"f", store=SimpleNamespace(header=lambda h: None))
    host = SimpleNamespace(chain=chain, peer_count=lambda: 2, is_syncing=lambda: False,
                           should_have_peers=lambda: True)  # fmt: skip
    health = SystemRpc(cast(Any, host)).methods()["system_health"]
    assert health([]) == {"peers": 2, "isSyncing": False, "shouldHavePeers": True, "bestNumber": 7,
                          "finalizedNumber": 0}  # fmt: skip


def test_a_method_outside_its_namespace_or_defined_twice_is_refused() -> None:
    class Stray(Namespace):
        prefix = "system"

        @rpc("chain_getSomething")
        def something(self, params: list[Any]) -> Any:
            return None

    with pytest.raises(TypeError, match="system_ namespace"):
        Stray().methods()

    class Twice(Namespace):
        prefix = "system"

        @rpc("system_name")
        def name(self, params: list[Any]) -> Any:
            return "other"

    with pytest.raises(TypeError, match="defined twice"):
        methods_of(SystemRpc(cast(Any, None)), Twice())
