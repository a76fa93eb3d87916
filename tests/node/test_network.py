"""Multi-validator nets of real `vcoin node` processes on 127.0.0.1."""

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from genesis.spec import DEV_VALIDATOR_BOND
from runtime.crypto import dev_keypair, to_address
from tests.nodeproc import NodeProcess, ValidatorProcess, wait_until
from tests.plugins import misbehave
from tools.testnet import Plan, plan_testnet

pytestmark = pytest.mark.slow


class Net:
    def __init__(self, tmp: Path, validators: int = 4, **params: int) -> None:
        self.plan: Plan = plan_testnet(tmp / "net", validators, slot_seconds=1, **params)
        self.nodes = [ValidatorProcess(self.plan, i) for i in range(validators)]
        self.seen: dict[int, str] = {}  # every finalized (height, hash) any node ever reported

    def start(self) -> "Net":
        for node in self.nodes:
            node.start(wait=False)
        for node in self.nodes:
            node.wait_ready()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def running(self) -> list[ValidatorProcess]:
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def record_finality(self) -> list[int]:
        """Finalized heights of the running nodes; fails on any conflict."""
        heights = []
        for node in self.running():
            number, block_hash = node.finalized()
            assert self.seen.setdefault(number, block_hash) == block_hash, (
                f"conflicting finality at #{number}"
            )
            heights.append(number)
        return heights

    def wait_finalized(self, number: int, timeout: float = 60) -> None:
        wait_until(lambda: min(self.record_finality()) >= number, timeout, f"finality of #{number}")


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    network = Net(tmp_path)
    try:
        yield network.start()
    finally:
        network.stop()


def test_four_validators_finalize_the_same_blocks_close_behind_the_head(net: Net) -> None:
    net.wait_finalized(3)
    lags = []
    for _ in range(24):
        health = net.nodes[0].rpc("system_health")
        lags.append(health["bestNumber"] - health["finalizedNumber"])
        net.record_finality()
        time.sleep(0.5)
    assert statistics.median(lags) <= 2, lags
    target = min(net.record_finality())
    hashes = {node.rpc("chain_getBlockHash", target) for node in net.nodes}
    assert len(hashes) == 1
    assert all(node.rpc("system_health")["peers"] == 3 for node in net.nodes)


def test_a_crashed_validator_restarts_and_rejoins_and_a_new_node_syncs(net: Net, tmp_path: Path) -> None:
    net.wait_finalized(2)
    victim = net.nodes[3]
    victim.kill()
    before = min(net.record_finality())
    net.wait_finalized(before + 4, timeout=40)  # 3 of 4 hold 75% of the stake
    victim.start()
    wait_until(lambda: victim.best() >= net.nodes[0].best() - 1, 40, "the restarted node to catch up")
    after = min(net.record_finality())
    net.wait_finalized(after + 3, timeout=40)

    follower = NodeProcess(tmp_path / "follower", spec_file=net.plan.spec_path, dev=False,
                           extra=["--bootnodes", net.plan.nodes[0].multiaddr])  # fmt: skip
    try:
        follower.start()
        wait_until(lambda: follower.best() >= net.nodes[0].best() - 1, 60, "the follower to sync")
        wait_until(lambda: follower.rpc("system_health")["finalizedNumber"] >= after, 30, "follower finality")
        number = follower.rpc("system_health")["finalizedNumber"]
        assert follower.rpc("chain_getBlockHash", number) == net.nodes[0].rpc("chain_getBlockHash", number)
    finally:
        follower.stop()


def test_two_of_four_down_stalls_finality_without_conflicts_then_it_resumes(net: Net) -> None:
    net.wait_finalized(2)
    for node in net.nodes[2:]:
        node.stop()
    time.sleep(2)
    stalled = max(net.record_finality())
    best_then = net.nodes[0].best()
    wait_until(lambda: net.nodes[0].best() >= best_then + 3, 30, "blocks without finality")
    assert max(net.record_finality()) <= stalled + 1  # 50% of the stake cannot finalize
    for node in net.nodes[2:]:
        node.start()
    net.wait_finalized(stalled + 3, timeout=60)
    top = min(net.record_finality())
    chains = [node.canonical(top) for node in net.nodes]
    assert all(chain == chains[0] for chain in chains)


def test_an_equivocating_validator_is_slashed_half_and_leaves_the_set(tmp_path: Path) -> None:
    net = Net(tmp_path, era_length=12)
    bob = net.nodes[1]
    bob.env = misbehave.env("equivocate")  # a test plugin: the node has no such switch
    bob_address = to_address(dev_keypair("//bob").public)
    alice = net.nodes[0]
    try:
        net.start()
        wait_until(
            lambda: alice.rpc("vcoin_staking", bob_address)["bonded"] < DEV_VALIDATOR_BOND, 40, "a slash"
        )
        staked = alice.rpc("vcoin_staking", bob_address)
        assert staked["bonded"] == DEV_VALIDATOR_BOND // 2 and staked["role"] == "none"
        assert bob_address in alice.rpc("vcoin_validators")  # until the era ends
        wait_until(lambda: bob_address not in alice.rpc("vcoin_validators"), 40, "the era boundary")
        assert alice.rpc("vcoin_staking", bob_address)["bonded"] == DEV_VALIDATOR_BOND // 2  # punished once
        handover = min(net.record_finality())
        net.wait_finalized(handover + 3, timeout=40)  # the three left finalize across the hand-over
    finally:
        net.stop()
