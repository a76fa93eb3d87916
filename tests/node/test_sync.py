"""A fresh non-validator node syncs from genesis over py-libp2p and follows the head."""

from pathlib import Path

import pytest

from tests.nodeproc import NodeProcess, fast_dev_spec

pytestmark = pytest.mark.slow


def test_fresh_node_syncs_from_genesis_and_follows(tmp_path: Path) -> None:
    spec = fast_dev_spec(tmp_path / "spec.json")
    validator = NodeProcess(tmp_path / "validator", spec).start()
    follower = None
    try:
        validator.wait_for_block(6)
        address = validator.rpc("system_localListenAddresses")[0]
        assert address.startswith("/ip4/127.0.0.1/tcp/") and validator.rpc("system_localPeerId") in address
        # no --dev: a plain full node without a key
        follower = NodeProcess(tmp_path / "follower", spec, extra=["--bootnodes", address], dev=False)
        follower.start()
        target = validator.best() + 2
        follower.wait_for_block(target, timeout=60)
        for number in (1, target // 2, target):
            assert follower.rpc("chain_getBlockHash", number) == validator.rpc("chain_getBlockHash", number)
        assert follower.rpc("system_health")["peers"] >= 1
        peer_id = follower.rpc("system_localPeerId")
    finally:
        if follower is not None:
            follower.stop()
        validator.stop()
    # the node key persists: same peer id after a restart
    again = NodeProcess(tmp_path / "follower", spec, dev=False).start()
    try:
        assert again.rpc("system_localPeerId") == peer_id
    finally:
        again.stop()
