"""A real `vcoin node --dev` process driven only through the CLI and RPC."""

import subprocess
from pathlib import Path

import pytest

from runtime.constants import UNIT
from runtime.crypto import dev_keypair
from runtime.types import Call, Extrinsic
from tests.nodeproc import NodeProcess, fast_dev_spec, vcoin
from tools.client import RpcFailure

pytestmark = pytest.mark.slow
BOB = dev_keypair("bob").address


def test_transfers_between_dev_accounts(dev_node: NodeProcess) -> None:
    before = dev_node.cli_json("query", "account", "//bob")
    result = dev_node.cli_json("tx", "transfer", "--from", "//alice", "--to", "//bob", "--amount", "12.5")
    assert result["success"] and result["status"] in ("inBlock", "finalized")
    result = dev_node.cli_json(
        "tx", "transfer", "--from", "//charlie", "--to", BOB, "--amount", "0.000000001"
    )
    assert result["success"]
    after = dev_node.cli_json("query", "account", "//bob")
    assert after["free"] == before["free"] + 12_500_000_000 + 1
    supply = dev_node.cli_json("query", "supply")
    assert supply["minted"] <= supply["cap"]


def test_overdraft_and_bad_amounts_are_refused_with_one_clear_line(dev_node: NodeProcess) -> None:
    out = dev_node.cli("tx", "transfer", "--from", "//eve", "--to", "//bob", "--amount", "5000000")
    assert out.returncode == 1 and out.stderr.strip().startswith("error: insufficient balance")
    assert len(out.stderr.strip().splitlines()) == 1
    out = dev_node.cli("tx", "transfer", "--from", "//eve", "--to", "//bob", "--amount", "1.0000000001")
    assert out.returncode == 1 and "invalid amount" in out.stderr
    out = dev_node.cli("tx", "transfer", "--from", "ghost", "--to", "//bob", "--amount", "1")
    assert out.returncode == 1 and "unknown account" in out.stderr
    out = dev_node.cli("tx", "transfer", "--from", "//eve", "--to", "vc1nothing", "--amount", "1")
    assert out.returncode == 1 and "invalid address" in out.stderr
    # an overdraft that reaches the chain pays its fee and fails with the runtime's reason
    client = dev_node.client
    eve = dev_keypair("eve")
    tx_hash = client.submit_call(
        eve, "balances", "transfer", {"to": dev_keypair("bob").public, "amount": 10**17}
    )
    status = client.wait(tx_hash)
    assert not status["success"] and status["error"] == "balances.InsufficientBalance"


def test_wrong_nonce_and_bad_signature_are_rejected_by_rpc(dev_node: NodeProcess) -> None:
    client = dev_node.client
    alice = dev_keypair("alice")
    client.wait(client.submit_call(alice, "balances", "transfer", {"to": alice.public, "amount": 1}))
    stale = Extrinsic.sign(
        alice, client.chain_id(), 0, Call("balances", "transfer", {"to": alice.public, "amount": 1})
    )
    with pytest.raises(RpcFailure) as err:
        client.submit(stale.encode())
    assert err.value.code == 1010 and "Stale" in err.value.message
    forged = Extrinsic(alice.public, client.next_nonce(alice.public), 0, stale.call, bytes(64))
    with pytest.raises(RpcFailure, match="BadSignature"):
        client.submit(forged.encode())
    raw = client.sign(alice, "balances", "transfer", {"to": alice.public, "amount": 2})
    client.submit(raw)
    with pytest.raises(RpcFailure) as err:
        client.submit(raw)
    assert err.value.code in (1010, 1013)


def test_bond_unbond_withdraw_through_the_unbonding_period(dev_node: NodeProcess) -> None:
    assert dev_node.cli_json("tx", "bond", "--from", "//dave", "--amount", "2000")["success"]
    assert dev_node.cli_json("query", "staking", "//dave")["bonded"] == 2000 * UNIT
    result = dev_node.cli_json("tx", "unbond", "--from", "//dave", "--amount", "500")
    staking = dev_node.cli_json("query", "staking", "//dave")
    assert staking["bonded"] == 1500 * UNIT and staking["unbonding"] == 500 * UNIT
    unlock_at = staking["unbondingChunks"][0]["unlocksAt"]
    assert unlock_at > result["blockNumber"]
    reserved = dev_node.cli_json("query", "account", "//dave")["reserved"]
    early = dev_node.cli("tx", "withdraw", "--from", "//dave", "--json")
    if dev_node.best() < unlock_at:  # on a loaded machine the CLI may take longer than the period
        assert early.returncode == 1 and "NothingToWithdraw" in early.stderr
    if early.returncode != 0:
        dev_node.wait_for_block(unlock_at)
        assert dev_node.cli_json("tx", "withdraw", "--from", "//dave")["success"]
    assert dev_node.cli_json("query", "account", "//dave")["reserved"] == reserved - 500 * UNIT


def test_governance_proposal_is_passed_and_enacted(dev_node: NodeProcess) -> None:
    proposed = dev_node.cli_json(
        "gov", "propose", "--from", "//bob", "--param", "burn_rate_ppm", "--value", "180000"
    )
    pid = next(e["data"]["id"] for e in proposed["events"] if e["name"] == "Proposed")
    assert dev_node.cli_json("gov", "vote", "--from", "//alice", "--id", str(pid), "--aye")["success"]
    proposal = next(p for p in dev_node.cli_json("gov", "list") if p["id"] == pid)
    dev_node.wait_for_block(proposal["end"] + 1)
    proposal = dev_node.rpc("vcoin_proposal", pid)
    assert proposal["status"] in ("passed", "enacted")  # on a loaded machine it may be enacted by now
    dev_node.wait_for_block(proposal["enactAt"] + 1)
    assert dev_node.rpc("vcoin_proposal", pid)["status"] == "enacted"
    out_of_bounds = dev_node.cli(
        "gov", "propose", "--from", "//bob", "--param", "burn_rate_ppm", "--value", "900000"
    )
    assert out_of_bounds.returncode == 1 and "OutOfBounds" in out_of_bounds.stderr


def node_once(spec: Path, base_path: Path) -> subprocess.CompletedProcess[str]:
    """`vcoin node` on `base_path`, expected to refuse to start."""
    args = ["node", "--dev", "--chain", str(spec), "--base-path", str(base_path), "--rpc-port", "0"]
    return vcoin(*args, "--no-prometheus", timeout=30)


def test_restart_continues_from_the_stored_head_and_second_process_is_refused(tmp_path: Path) -> None:
    spec = fast_dev_spec(tmp_path / "spec.json")
    node = NodeProcess(tmp_path / "node", spec).start()
    try:
        node.wait_for_block(3)
        second = node_once(spec, tmp_path / "node")
        assert second.returncode == 1 and "already in use" in second.stderr
    finally:
        assert node.stop() == 0
    best = node.client  # unreachable now; read the head after restart instead
    restarted = NodeProcess(tmp_path / "node", spec)
    restarted.start()
    try:
        header = restarted.rpc("chain_getHeader")
        assert header["number"] >= 3
        old = restarted.rpc("chain_getHeader", restarted.rpc("chain_getBlockHash", 3))
        assert old["number"] == 3
        restarted.wait_for_block(header["number"] + 1)
    finally:
        restarted.stop()
    del best


def test_node_refuses_a_base_path_of_another_chain(tmp_path: Path) -> None:
    spec = fast_dev_spec(tmp_path / "spec.json")
    node = NodeProcess(tmp_path / "node", spec).start()
    node.wait_for_block(1)
    node.stop()
    other = fast_dev_spec(tmp_path / "other.json", era_length=7)
    out = node_once(other, tmp_path / "node")
    assert out.returncode == 1 and "another chain" in out.stderr
